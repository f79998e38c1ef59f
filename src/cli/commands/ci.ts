import { dedupe } from '../../core/analysis/host.js';
import * as path from 'node:path';
import { EXIT, flagList, flagString, type Command, flagChoice } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import type { Source } from '../../core/model/source.js';
import type { ImageInfo } from '../../core/model/types.js';
import { openSource } from '../../core/sources/open.js';
import type { ArchiveOptions } from '../../core/sources/archive/open.js';
import { analyzeImage } from '../../core/analysis/analyze.js';
import { findImage } from '../../core/analysis/select.js';
import { evaluateCi, parseCiConfig, resolveBase, setRule, type CiConfig, type RuleName } from '../../core/analysis/ci-rules.js';
import { ciJson, ciText, type CiReportInput } from '../../report/ci.js';
import { safeText } from '../../report/format.js';
import { ciJunit } from '../../report/junit.js';
import { InputFileError, OutputFile, evidenceLocations, readInputFile } from '../../core/output/index.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG, sourceLocation } from '../source.js';

/** Largest rules file read (a .dive-ci or YAML config is a few hundred bytes). */
export const CI_CONFIG_MAX = 1 << 20;

/** dive's defaults when it finds no .dive-ci and gets no rule flags; we use the same. */
export const DEFAULT_RULES = { lowestEfficiency: 0.9, highestUserWastedPercent: 0.1 } as const;

const RULE_FLAGS: Record<string, RuleName> = {
  'lowest-efficiency': 'lowestEfficiency',
  'highest-wasted-bytes': 'highestWastedBytes',
  'highest-user-wasted-percent': 'highestUserWastedPercent',
};

/** The images a command works on: the ones named, or the only one the source holds. */
export function selectImages(source: Source, refs: string[]): ImageInfo[] {
  if (refs.length) return refs.map((r) => findImage(source, r));
  if (source.images.length === 1) return [source.images[0]!];
  const known = source.images.flatMap((i) => (i.tags.length ? i.tags : [i.id.slice(7, 19)])).slice(0, 12);
  throw new UsageError(source.images.length === 0 ? 'the source holds no images' : `the source holds ${source.images.length} images; name one with --image (${known.join(', ')})`);
}

/** Rules: config file (explicit, or .layerscope-ci.yaml / .dive-ci in the working dir), then flags on top. */
export function loadCiConfig(flags: Record<string, string | undefined>, cwd: string): CiConfig {
  let cfg: CiConfig = { rules: {}, origin: [] };
  const explicit = flags.config;
  const candidates = explicit ? [explicit] : [path.join(cwd, '.layerscope-ci.yaml'), path.join(cwd, '.layerscope-ci.yml'), path.join(cwd, '.dive-ci')];
  for (const file of candidates) {
    let text: string;
    try {
      // A rules file is small: a FIFO, a device (/dev/zero), a directory or a huge file is refused, not read.
      text = readInputFile(file, { max: CI_CONFIG_MAX, label: explicit ? '--config' : 'rules file' }).toString('utf8');
    } catch (err) {
      // Only a file that is not there is skipped; one that is there but cannot be read is an error (a gate
      // silently falling back to the defaults would pass what the file meant to fail).
      if (!explicit && err instanceof InputFileError && err.reason === 'input.missing') continue;
      throw err;
    }
    cfg = parseCiConfig(text, file);
    break;
  }
  let fromFlags = false;
  for (const [flag, rule] of Object.entries(RULE_FLAGS)) {
    const v = flags[flag];
    if (v === undefined) continue;
    setRule(cfg.rules, rule, v);
    fromFlags = true;
  }
  if (fromFlags) cfg.origin.push('flags');
  if (cfg.origin.length === 0) {
    cfg.rules = { ...DEFAULT_RULES };
    cfg.origin.push("defaults (dive's: lowestEfficiency 0.9, highestUserWastedPercent 0.1)");
  }
  return cfg;
}

export const ciCommand: Command = {
  name: 'ci',
  summary: 'CI gate: fail when an image hides too many bytes (dive .dive-ci rules, our meaning)',
  usage: [
    'layerscope ci SOURCE [--image REF]... [--base REF | --base-layers N] [--config FILE] [--format text|json] [--junit FILE]',
    'layerscope ci SOURCE [--lowest-efficiency R] [--highest-wasted-bytes B] [--highest-user-wasted-percent R] ...',
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    image: { value: true, repeat: true, help: 'image to check (default: the only image of the source)' },
    base: { value: true, help: 'base image (in the same source): user layers are those above its common layer prefix' },
    'base-layers': { value: true, help: 'number of base layers, when the base image is not in the source' },
    config: { value: true, help: 'rules file; default ./.layerscope-ci.yaml, else ./.dive-ci; else dive\'s defaults (docs/ci.md)' },
    'lowest-efficiency': { value: true, help: 'minimum visible/total bytes, 0..1 or N% ("disabled" turns it off)' },
    'highest-wasted-bytes': { value: true, help: 'maximum hidden bytes (20MB, 512KiB, 1000; "disabled")' },
    'highest-user-wasted-percent': { value: true, help: 'maximum hidden-by-user-layers / user-layer bytes, 0..1 or N%' },
    format: { value: true, help: 'text (default) or json; exit 0 pass, 1 fail, 2 usage, 3 source error, 4 evidence errors' },
    junit: { value: true, help: 'also write JUnit XML to this file' },
    platform: { value: true, help: 'os/arch[/variant] for multi-platform archives' },
  },
  async run(args, io) {
    const format = flagChoice(args, 'format', ['text', 'json']);
    if (args.positional.length !== 1) throw new UsageError('expected exactly one SOURCE');
    const baseLayersText = flagString(args, 'base-layers');
    let baseLayers: number | undefined;
    if (baseLayersText !== undefined) {
      if (!/^\d+$/.test(baseLayersText)) throw new UsageError(`--base-layers ${baseLayersText}: expected a whole number`);
      baseLayers = Number(baseLayersText);
    }
    const flagVals: Record<string, string | undefined> = { config: flagString(args, 'config') };
    for (const f of Object.keys(RULE_FLAGS)) flagVals[f] = flagString(args, f);
    // Rules are read before the source is opened: a bad config is a usage error, whatever the source.
    const cfg = loadCiConfig(flagVals, process.cwd());
    const baseFlag = flagString(args, 'base');
    if (baseFlag !== undefined && baseLayers !== undefined) throw new UsageError('--base and --base-layers exclude each other');
    // A flag replaces the config file's base entirely; in the file, baseLayers wins over base.
    const baseOpts: { baseRef?: string; baseLayers?: number } =
      baseFlag !== undefined ? { baseRef: baseFlag } : baseLayers !== undefined ? { baseLayers } : cfg.baseLayers !== undefined ? { baseLayers: cfg.baseLayers } : cfg.base !== undefined ? { baseRef: cfg.base } : {};
    const platform = flagString(args, 'platform');
    const junit = flagString(args, 'junit');
    if (junit === '-') throw new UsageError('--junit -: stdout carries the report already; name a file for the JUnit XML');
    // A verdict on an archive is given on hashed layers only: every layer is read and checked against its
    // DiffID and manifest digest (a tampered layer is an error problem: exit 4, or 1 when a rule fails too).
    const openOpts: ArchiveOptions = { ...(platform ? { platform } : {}), verify: true };
    const source = await openSource(await sourceLocation(args.positional[0]!, args, io), openOpts);
    let junitFile: OutputFile | null = null;
    try {
      // Checked before the analysis: inside the evidence, an existing file or a symlink at FILE: refused.
      if (junit) junitFile = OutputFile.prepare(junit, { evidence: evidenceLocations(source.location) });
      const images = selectImages(source, flagList(args, 'image'));
      const input: CiReportInput = { source: { kind: source.kind, location: source.location }, origin: cfg.origin, results: [], problems: [...source.problems] };
      for (const img of images) {
        const analysis = await analyzeImage(source, img);
        const base = resolveBase(source, img, baseOpts);
        input.results.push({ result: evaluateCi(analysis, base, cfg.rules), analysis });
        input.problems.push(...analysis.problems);
      }
      // Each once, and a bounded number of one code (the images share layers, and so their problems).
      input.problems = dedupe(input.problems);
      if (junitFile) {
        await junitFile.writeAll(ciJunit(input));
        for (const w of junitFile.warnings) io.stderr.write(`warning: ${safeText(w)}\n`);
      }
      io.stdout.write(format === 'json' ? JSON.stringify(ciJson(input), null, 2) + '\n' : ciText(input));
      if (!input.results.every((r) => r.result.pass)) return EXIT.failed;
      return input.problems.some((p) => p.severity === 'error') ? EXIT.evidenceProblems : EXIT.ok;
    } finally {
      junitFile?.abort();
      await source.close();
    }
  },
};
