import type { CiResult, RuleResult } from '../core/analysis/ci-rules.js';
import type { ImageAnalysis } from '../core/analysis/analyze.js';
import type { Problem } from '../core/model/types.js';
import { formatBytes, jsonPath, safeText, shortId, showPath, safeMessage } from './format.js';

export const CI_SCHEMA = 'layerscope.ci/v1';

export interface CiReportInput {
  source: { kind: string; location: string };
  /** Where the rules came from (flags, file paths). */
  origin: string[];
  results: { result: CiResult; analysis: ImageAnalysis }[];
  problems: Problem[];
}

function imageName(r: CiResult): string {
  return safeText(r.image.tags[0] ?? shortId(r.image.id));
}

function ruleValue(r: RuleResult, v: number | null): string {
  if (v === null) return r.status === 'disabled' ? '-' : 'n/a';
  return r.name === 'highestWastedBytes' ? `${formatBytes(v)} (${v} B)` : `${(v * 100).toFixed(2)}%`;
}

/** The text report: per image the figures, the base, each rule, the largest hidden paths. */
export function ciText(input: CiReportInput, opts: { top?: number } = {}): string {
  const top = opts.top ?? 10;
  const out: string[] = [];
  out.push(`rules from: ${input.origin.map(safeText).join(', ') || '(none: every rule disabled)'}`);
  for (const { result: r, analysis: a } of input.results) {
    const m = r.metrics;
    out.push('');
    out.push(`image ${imageName(r)} (${shortId(r.image.id)}), ${r.image.layers.length} layers`);
    out.push(`  base: ${m.baseLayers} layer(s): ${safeText(r.base.note)}`);
    out.push(`  total ${formatBytes(m.bytes)}, visible ${formatBytes(m.visibleBytes)}, hidden ${formatBytes(m.hiddenBytes)}, efficiency ${(m.efficiency * 100).toFixed(2)}%`);
    out.push(`  user layers: ship ${formatBytes(m.userBytes)}, hid ${formatBytes(m.userHiddenBytes)}${m.userWastedPercent === null ? '' : ` (${(m.userWastedPercent * 100).toFixed(2)}%)`}`);
    const by = hiddenByLayer(a);
    if (by.length) {
      out.push('  hidden by layer (the step to fix):');
      for (const h of by.slice(0, top)) out.push(`    ${formatBytes(h.bytes).padStart(9)}  L${h.layer}${h.layer >= r.base.count ? '' : ' (base)'}  ${safeText(h.createdBy ?? '').slice(0, 100)}`);
    }
    if (a.hidden.length) {
      out.push(`  largest hidden (of ${a.hidden.length}):`);
      for (const h of a.hidden.slice(0, top)) {
        out.push(`    ${formatBytes(h.bytes).padStart(9)}  L${h.layer} ${h.reason} by L${h.by}  ${showPath(h.path)}`);
      }
    }
    for (const rule of r.rules) {
      const tag = rule.status === 'pass' ? 'PASS' : rule.status === 'fail' ? 'FAIL' : 'SKIP';
      out.push(`  ${tag}  ${rule.name}: ${rule.status === 'disabled' ? 'disabled' : `${safeMessage(rule.message)} (limit ${ruleValue(rule, rule.limit)})`}`);
    }
    out.push(`  result: ${r.pass ? 'PASS' : 'FAIL'}`);
  }
  const errors = input.problems.filter((p) => p.severity === 'error');
  if (input.problems.length) {
    out.push('');
    out.push(`problems (${input.problems.length}, ${errors.length} errors):`);
    for (const p of input.problems.slice(0, 50)) out.push(`  ${p.severity}: ${safeText(p.code)}: ${safeMessage(p.message)}${p.path ? ` (${safeMessage(p.path)})` : ''}`);
  }
  out.push('');
  const pass = input.results.every((x) => x.result.pass);
  out.push(pass ? (errors.length ? 'CI: PASS, but the evidence has errors (figures may be incomplete)' : 'CI: PASS') : 'CI: FAIL');
  return out.join('\n') + '\n';
}

export function ciJson(input: CiReportInput): Record<string, unknown> {
  return {
    schema: CI_SCHEMA,
    source: input.source,
    origin: input.origin,
    pass: input.results.every((x) => x.result.pass),
    images: input.results.map(({ result: r, analysis: a }) => ({
      id: r.image.id,
      tags: r.image.tags,
      layers: r.image.layers.length,
      base: { layers: r.base.count, method: r.base.method, image: r.base.image?.id ?? null, note: r.base.note },
      metrics: r.metrics,
      rules: r.rules,
      pass: r.pass,
      hiddenBy: hiddenByLayer(a),
      hidden: a.hidden.slice(0, 100).map((h) => ({ ...jsonPath(h.path), layer: h.layer, bytes: h.bytes, by: h.by, reason: h.reason })),
    })),
    problems: input.problems,
  };
}

/** Hidden bytes per layer that hid them (the Dockerfile step that deleted, overwrote or masked them), largest first. */
export function hiddenByLayer(a: ImageAnalysis): { layer: number; createdBy: string | null; bytes: number; paths: number }[] {
  const m = new Map<number, { bytes: number; paths: number }>();
  for (const h of a.hidden) {
    const e = m.get(h.by) ?? { bytes: 0, paths: 0 };
    e.bytes += h.bytes;
    e.paths++;
    m.set(h.by, e);
  }
  return [...m].map(([layer, e]) => ({ layer, createdBy: a.image.layers[layer]?.createdBy ?? null, ...e })).sort((x, y) => y.bytes - x.bytes || x.layer - y.layer);
}
