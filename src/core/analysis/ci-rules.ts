import { parse as parseYaml } from 'yaml';
import type { ImageAnalysis } from './analyze.js';
import type { ImageInfo } from '../model/types.js';
import type { Source } from '../model/source.js';
import { UsageError } from '../model/errors.js';
import { findImage } from './select.js';

/**
 * The CI gate: thresholds on an image's hidden ("wasted") bytes, in dive's vocabulary but with our meaning.
 *
 * dive's `.dive-ci` rules, and what they mean here (docs/ci.md has the long form):
 * - lowestEfficiency: visibleBytes / bytes must be >= this (0..1). bytes = regular-file bytes all layers ship
 *   (each inode once); visible = those still visible in the final image.
 * - highestWastedBytes: hiddenBytes must be <= this. Hidden = shipped in some layer and not visible at the top
 *   (overwritten, deleted by a whiteout, hidden by an opaque dir, replaced). The copy you keep is never counted.
 * - highestUserWastedPercent: userHiddenBytes / userBytes must be <= this (0..1). "User" layers are those above
 *   the base image (the whole FROM image when it can be told, see {@link resolveBase}); userHiddenBytes are the
 *   hidden bytes that a user layer hid (whether the hidden copy lives in the base or in a user layer: both are
 *   the Dockerfile's doing); userBytes are the bytes the user layers ship.
 * Each rule may be absent or "disabled" (dive's spelling), which turns it off.
 */

export interface CiRules {
  lowestEfficiency?: number;
  highestWastedBytes?: number;
  highestUserWastedPercent?: number;
}

export const RULE_NAMES = ['lowestEfficiency', 'highestWastedBytes', 'highestUserWastedPercent'] as const;
export type RuleName = (typeof RULE_NAMES)[number];

export interface CiConfig {
  rules: CiRules;
  /** Base image reference from the config file (`base:`), if any. */
  base?: string;
  /** Explicit number of base layers from the config file (`baseLayers:`), if any. */
  baseLayers?: number;
  /** Where the rules came from, for the report ("flags", a file path...). */
  origin: string[];
}

/**
 * Byte counts as dive accepts them (go-humanize ParseBytes): a plain number, or a number with a unit. SI units
 * (kB, MB, GB... and K, M, G) are powers of 1000, IEC units (KiB, MiB...) powers of 1024; case-insensitive.
 */
export function parseByteCount(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new UsageError(`not a byte count: ${value}`);
    return Math.floor(value);
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(value.replace(/,/g, ''));
  if (!m) throw new UsageError(`not a byte count: ${JSON.stringify(value)} (examples: 20MB, 512KiB, 1000000)`);
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  const si: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, p: 1e15, pb: 1e15 };
  const iec: Record<string, number> = { ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4, pi: 1024 ** 5, pib: 1024 ** 5 };
  const mul = si[unit] ?? iec[unit];
  if (mul === undefined) throw new UsageError(`unknown byte unit ${JSON.stringify(m[2])} in ${JSON.stringify(value)}`);
  return Math.floor(n * mul);
}

/** A ratio: `0.9`, or `90%`. Must lie in 0..max (1 unless said otherwise). */
export function parseRatio(value: string | number, what: string, max = 1): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else {
    const s = value.trim();
    n = s.endsWith('%') ? Number(s.slice(0, -1)) / 100 : Number(s);
    if (s === '' || !Number.isFinite(n)) throw new UsageError(`${what}: not a ratio: ${JSON.stringify(value)} (examples: 0.9, 90%)`);
  }
  if (!(n >= 0 && n <= max)) throw new UsageError(`${what}: ${JSON.stringify(value)} is not between 0 and ${max} (use 0.9 or 90%)`);
  return n;
}

function isDisabled(v: unknown): boolean {
  return v === null || v === undefined || (typeof v === 'string' && /^\s*(disabled|off|none)\s*$/i.test(v)) || v === false;
}

/** Set one rule from a raw value (flag or config file); "disabled" removes it. */
export function setRule(rules: CiRules, name: RuleName, raw: unknown): void {
  if (isDisabled(raw)) {
    delete rules[name];
    return;
  }
  if (typeof raw !== 'string' && typeof raw !== 'number') throw new UsageError(`${name}: expected a number or a string, got ${JSON.stringify(raw)}`);
  if (name === 'highestWastedBytes') rules[name] = parseByteCount(raw);
  // User-hidden bytes can exceed the user layers' own bytes (a user layer that deletes a big base file), so this
  // ratio may pass 1.
  else if (name === 'highestUserWastedPercent') rules[name] = parseRatio(raw, name, Number.MAX_VALUE);
  else rules[name] = parseRatio(raw, name);
}

/**
 * Parse a `.layerscope-ci.yaml` or a `.dive-ci` file (both YAML, same `rules:` mapping; dive's file is accepted
 * as it is: dive reads it through viper, so keys are case-insensitive here too). Our file may also say
 * `base: REF` and `baseLayers: N`. Unknown rule names are errors (a typo must not silently disable a gate).
 */
export function parseCiConfig(text: string, origin: string): CiConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`${origin}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const cfg: CiConfig = { rules: {}, origin: [origin] };
  if (doc === null || doc === undefined) return cfg;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`${origin}: expected a mapping with a "rules:" key`);
  const top: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    const canon = ['rules', 'base', 'baseLayers'].find((k) => k.toLowerCase() === key.toLowerCase());
    if (!canon) throw new UsageError(`${origin}: unknown key ${JSON.stringify(key)} (known: rules, base, baseLayers)`);
    top[canon] = v;
  }
  const rules = top.rules;
  if (rules !== undefined && rules !== null) {
    if (typeof rules !== 'object' || Array.isArray(rules)) throw new UsageError(`${origin}: "rules" must be a mapping`);
    for (const [k, v] of Object.entries(rules as Record<string, unknown>)) {
      const name = RULE_NAMES.find((r) => r.toLowerCase() === k.toLowerCase());
      if (!name) throw new UsageError(`${origin}: unknown rule ${JSON.stringify(k)} (known: ${RULE_NAMES.join(', ')})`);
      try {
        setRule(cfg.rules, name, v);
      } catch (err) {
        throw new UsageError(`${origin}: ${(err as Error).message}`);
      }
    }
  }
  if (top.base !== undefined && top.base !== null) {
    if (typeof top.base !== 'string') throw new UsageError(`${origin}: "base" must be an image reference`);
    cfg.base = top.base;
  }
  if (top.baseLayers !== undefined && top.baseLayers !== null) {
    if (typeof top.baseLayers !== 'number' || !Number.isInteger(top.baseLayers) || top.baseLayers < 0) throw new UsageError(`${origin}: "baseLayers" must be a whole number >= 0`);
    cfg.baseLayers = top.baseLayers;
  }
  return cfg;
}

// ------------------------------------------------------------------------------------------------------------
// The base image
// ------------------------------------------------------------------------------------------------------------

export type BaseMethod = 'layers' | 'ref' | 'label' | 'ancestor' | 'layer0';

export interface BaseInfo {
  /** Number of layers that belong to the base (0..layers). User layers are those with index >= count. */
  count: number;
  method: BaseMethod;
  /** The base image, when one was identified. */
  image: ImageInfo | null;
  /** Human explanation (which label, which image, why a fallback). */
  note: string;
}

export const BASE_LABELS = ['org.opencontainers.image.base.digest', 'org.opencontainers.image.base.name'] as const;

/** Number of leading layers two images share (same diffIds in the same order, i.e. same chainIds). */
export function commonPrefix(a: ImageInfo, b: ImageInfo): number {
  const n = Math.min(a.layers.length, b.layers.length);
  let i = 0;
  while (i < n && a.layers[i]!.chainId === b.layers[i]!.chainId) i++;
  return i;
}

function labelsOf(image: ImageInfo): Record<string, unknown> {
  const c = image.config as { config?: { Labels?: unknown }; Config?: { Labels?: unknown } };
  const l = c.config?.Labels ?? c.Config?.Labels;
  return l && typeof l === 'object' ? (l as Record<string, unknown>) : {};
}

function tryFind(source: Pick<Source, 'images'>, ref: string): ImageInfo | null {
  try {
    return findImage(source, ref);
  } catch {
    return null;
  }
}

/**
 * Which leading layers are the base image, in this order of preference:
 * 1. `baseLayers` given: that many;
 * 2. `baseRef` given: the longest common layer prefix with that image (it must be in the same source);
 * 3. a label `org.opencontainers.image.base.digest` (image ID, or a `repo@digest` the source knows) or
 *    `org.opencontainers.image.base.name` that resolves to an image in the same source;
 * 4. the largest other *tagged* image of the source whose layers are all a proper prefix of this one's (its FROM
 *    image, or an ancestor of it; untagged images are skipped: the legacy builder leaves one per build step);
 * 5. layer 0 alone (dive's definition), said so in the note.
 */
export function resolveBase(source: Pick<Source, 'images'>, image: ImageInfo, opts: { baseRef?: string; baseLayers?: number } = {}): BaseInfo {
  const total = image.layers.length;
  if (opts.baseLayers !== undefined) {
    if (opts.baseLayers > total) throw new UsageError(`--base-layers ${opts.baseLayers}: the image has only ${total} layers`);
    return { count: opts.baseLayers, method: 'layers', image: null, note: `the first ${opts.baseLayers} layer(s), as given` };
  }
  if (opts.baseRef !== undefined) {
    const base = findImage(source, opts.baseRef);
    const count = commonPrefix(image, base);
    const whole = count === base.layers.length;
    return {
      count,
      method: 'ref',
      image: base,
      note: whole
        ? `${opts.baseRef}: its ${count} layer(s) are the first ${count} of this image`
        : `${opts.baseRef}: only the first ${count} of its ${base.layers.length} layers are shared with this image (not its FROM image?)`,
    };
  }
  const labels = labelsOf(image);
  for (const key of BASE_LABELS) {
    const v = labels[key];
    if (typeof v !== 'string' || v === '') continue;
    let base: ImageInfo | null = null;
    if (key.endsWith('.digest')) {
      base = source.images.find((i) => i.id === v || i.digests.some((d) => d.endsWith('@' + v))) ?? null;
    } else base = tryFind(source, v);
    if (base && base.id !== image.id) {
      const count = commonPrefix(image, base);
      return { count, method: 'label', image: base, note: `label ${key}=${v}: ${count} shared layer(s)` };
    }
  }
  let best: ImageInfo | null = null;
  for (const other of source.images) {
    // Untagged images are usually the legacy builder's intermediate steps (each one layer shorter): not a base.
    if (other.id === image.id || other.layers.length === 0 || other.layers.length >= total) continue;
    // (The containerd store names such steps `moby-dangling@<digest>`: a digest without a repository is no name.)
    if (other.tags.length === 0 && !other.digests.some((d) => d.includes('@'))) continue;
    if (commonPrefix(image, other) !== other.layers.length) continue;
    if (!best || other.layers.length > best.layers.length) best = other;
  }
  if (best) {
    const name = best.tags[0] ?? best.id.slice(7, 19);
    return { count: best.layers.length, method: 'ancestor', image: best, note: `${name}: the largest image in the source whose layers all begin this one` };
  }
  return { count: Math.min(1, total), method: 'layer0', image: null, note: 'the base image could not be told (no --base, no base label resolvable in this source): layer 0 only, as dive does' };
}

// ------------------------------------------------------------------------------------------------------------
// Evaluation
// ------------------------------------------------------------------------------------------------------------

export interface CiMetrics {
  bytes: number;
  visibleBytes: number;
  hiddenBytes: number;
  efficiency: number;
  baseLayers: number;
  /** Bytes the layers above the base ship. */
  userBytes: number;
  /** Hidden bytes that a layer above the base hid. */
  userHiddenBytes: number;
  /** userHiddenBytes / userBytes; null when user layers ship nothing but hide something (no finite ratio). */
  userWastedPercent: number | null;
}

export type RuleStatus = 'pass' | 'fail' | 'disabled';

export interface RuleResult {
  name: RuleName;
  status: RuleStatus;
  /** Threshold (ratio or bytes), null when disabled. */
  limit: number | null;
  /** Measured value (ratio or bytes); null when it has no finite value. */
  actual: number | null;
  message: string;
}

export interface CiResult {
  image: ImageInfo;
  base: BaseInfo;
  metrics: CiMetrics;
  rules: RuleResult[];
  pass: boolean;
}

export function ciMetrics(a: ImageAnalysis, base: BaseInfo): CiMetrics {
  let userBytes = 0;
  for (const l of a.layers) if (l.index >= base.count) userBytes += l.bytes;
  let userHiddenBytes = 0;
  for (const h of a.hidden) if (h.by >= base.count) userHiddenBytes += h.bytes;
  const userWastedPercent = userBytes > 0 ? userHiddenBytes / userBytes : userHiddenBytes === 0 ? 0 : null;
  return { bytes: a.bytes, visibleBytes: a.visibleBytes, hiddenBytes: a.hiddenBytes, efficiency: a.efficiency, baseLayers: base.count, userBytes, userHiddenBytes, userWastedPercent };
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** Evaluate the rules (pure). A rule not set is reported as disabled. */
export function evaluateCi(a: ImageAnalysis, base: BaseInfo, rules: CiRules): CiResult {
  const m = ciMetrics(a, base);
  const out: RuleResult[] = [];
  const off = (name: RuleName): RuleResult => ({ name, status: 'disabled', limit: null, actual: null, message: 'disabled' });

  if (rules.lowestEfficiency === undefined) out.push(off('lowestEfficiency'));
  else {
    const lim = rules.lowestEfficiency;
    const ok = m.efficiency >= lim;
    out.push({ name: 'lowestEfficiency', status: ok ? 'pass' : 'fail', limit: lim, actual: m.efficiency, message: `efficiency ${pct(m.efficiency)} ${ok ? '>=' : '<'} ${pct(lim)}` });
  }
  if (rules.highestWastedBytes === undefined) out.push(off('highestWastedBytes'));
  else {
    const lim = rules.highestWastedBytes;
    const ok = m.hiddenBytes <= lim;
    out.push({ name: 'highestWastedBytes', status: ok ? 'pass' : 'fail', limit: lim, actual: m.hiddenBytes, message: `hidden bytes ${m.hiddenBytes} ${ok ? '<=' : '>'} ${lim}` });
  }
  if (rules.highestUserWastedPercent === undefined) out.push(off('highestUserWastedPercent'));
  else {
    const lim = rules.highestUserWastedPercent;
    const v = m.userWastedPercent;
    const ok = v !== null && v <= lim;
    out.push({
      name: 'highestUserWastedPercent',
      status: ok ? 'pass' : 'fail',
      limit: lim,
      actual: v,
      message:
        v === null
          ? `layers above the base ship no bytes but hide ${m.userHiddenBytes}: no finite ratio`
          : `user-hidden ${m.userHiddenBytes} of ${m.userBytes} user bytes = ${pct(v)} ${ok ? '<=' : '>'} ${pct(lim)}`,
    });
  }
  return { image: a.image, base, metrics: m, rules: out, pass: out.every((r) => r.status !== 'fail') };
}
