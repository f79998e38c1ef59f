import { EXIT, flagString, type Command, flagChoice } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import { openSource } from '../../core/sources/open.js';
import { attributePath, dataRootOf, type Attribution } from '../../core/verify/attribute.js';
import { safeText } from '../../report/format.js';
import { DEFAULT_SOURCE as DEFAULT_ROOT } from './analysis.js';
import { whoseJson, whoseText } from '../../report/verify.js';
import { reportProblems } from '../output.js';
import { dedupe } from '../../core/analysis/host.js';
import { modelOf } from '../../core/analysis/model.js';
import { cleanLayerPath, textToPath } from '../../core/model/path.js';
import type { CommandIO, ParsedArgs } from '../command.js';
import { pathHistoryJson, pathHistoryText, type PathHistory } from '../../report/verify.js';
import { openTarget, TARGET_FLAGS, type Target } from './target.js';
import { SOURCE_FLAG, sourceLocation } from '../source.js';

export const whoseCommand: Command = {
  name: 'whose',
  summary: 'which layer, images and containers a path under a data root belongs to, and whether it is visible',
  usage: [
    'layerscope whose PATH... [--root /var/lib/docker] [--format text|json]',
    'layerscope whose SOURCE (--image REF | --container X) PATH... [--format text|json]',
    '  (PATH is then a path in the image or container: every layer that wrote or deleted it, and which one shows)',
    'PATH is a host path under the data root, e.g. /var/lib/docker/overlay2/<id>/diff/usr/bin/x (a scanner hit).',
    "Says which layer holds it (chainID, diffID, index), which images and containers use that layer (or whose RW /",
    "init layer it is), and whether the file is visible in each one's final view or hidden (by which layer, how).",
  ],
  flags: {
    ...SOURCE_FLAG,
    ...TARGET_FLAGS,
    root: { value: true, help: 'the data root (default: the part of the first PATH before its data root layout: overlay2/<id>/, containers/<id>/, volumes/<name>/_data/, image/<driver>/, a containerd store...; else /var/lib/docker)' },
    format: { value: true, help: 'text (default) or json' },
  },
  async run(args, io) {
    const format = flagChoice(args, 'format', ['text', 'json']);
    if (args.positional.length === 0) throw new UsageError('expected at least one PATH');
    if (flagString(args, 'image') !== undefined || flagString(args, 'container') !== undefined) return inStack(args, io, format);
    if (args.flags.source !== undefined) throw new UsageError('--source says what SOURCE is: it goes with SOURCE --image|--container; host PATHs name their data root themselves (or --root)');
    const source = await openSource(flagString(args, 'root') ?? rootOf(args.positional[0]!, io));
    try {
      const out: Attribution[] = [];
      for (const p of args.positional) out.push(await attributePath(source, p));
      if (format === 'json') io.stdout.write(JSON.stringify(whoseJson(out), null, 2) + '\n');
      else io.stdout.write(out.map(whoseText).join('\n'));
      // A path that belongs to nothing we know is an answer, not a failure; a path outside the root is bad input.
      if (out.some((a) => a.where === 'outside')) return EXIT.sourceError;
      // The problems of the evidence read to answer (the root's metadata, the layers stacked) go to stderr.
      const model = modelOf(source);
      const read = model.store.nodes.flatMap((n) => n.table.problems);
      return reportProblems(io, 'whose', dedupe([...source.problems, ...read]));
    } finally {
      await source.close();
    }
  },
};

/**
 * The data root the first PATH names by its layout (overlay2 layer dirs and short links, containers/<id>,
 * volumes/, image/<driver>/, other drivers' layer dirs, containerd stores: dataRootOf), else /var/lib/docker,
 * said on stderr, since it is a guess.
 */
function rootOf(p: string, io: CommandIO): string {
  const root = dataRootOf(p);
  if (root) return root;
  io.stderr.write(`layerscope whose: ${safeText(p)} shows no data root layout (overlay2/<id>/, containers/<id>/, volumes/<name>/_data/, image/<driver>/...): reading ${DEFAULT_ROOT} (--root names another)\n`);
  return DEFAULT_ROOT;
}

/** `whose SOURCE --image|--container PATH...`: the history of in-image paths across the stack's layers. */
async function inStack(args: ParsedArgs, io: CommandIO, format: 'text' | 'json'): Promise<number> {
  if (flagString(args, 'root') !== undefined) throw new UsageError('--root names the data root of host paths; with --image or --container, give SOURCE first');
  const [src, ...paths] = args.positional;
  if (!paths.length) throw new UsageError('expected SOURCE, then at least one PATH in the image or container');
  const layerPaths = paths.map((p) => {
    if (!p.startsWith('/')) throw new UsageError(`${JSON.stringify(p)}: give paths as absolute paths in the image (/etc/passwd)`);
    try {
      return cleanLayerPath(textToPath(p));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
  const source = await openSource(await sourceLocation(src!, args, io));
  try {
    const t = await openTarget(source, args);
    const out = layerPaths.map((p) => pathHistory(t, p));
    io.stdout.write(format === 'json' ? JSON.stringify(pathHistoryJson(out), null, 2) + '\n' : out.map(pathHistoryText).join('\n'));
    return reportProblems(io, 'whose', dedupe([...source.problems, ...t.analysis.problems]));
  } finally {
    await source.close();
  }
}

function pathHistory(t: Target, path: string): PathHistory {
  const view = t.analysis.view;
  const id = view.lookup(path);
  const versions = id < 0 ? [] : view.versions(id).filter((v) => !view.store.isImplicit(v)).map((v) => view.info(v));
  const top = id < 0 ? -1 : view.versionAt(id, view.top);
  return {
    path: '/' + path,
    target: t.label,
    visible: top < 0 ? null : view.layerOf(top),
    versions: versions.map((v) => ({
      layer: v.layer,
      createdBy: t.image.layers[v.layer]?.createdBy ?? null,
      kind: v.kind,
      change: v.kind === 'whiteout' ? 'deleted' : v.change,
      type: v.attrs?.type ?? null,
      size: v.attrs ? v.attrs.size : null,
      until: v.until === Infinity ? null : v.until,
      endReason: v.endReason,
    })),
  };
}
