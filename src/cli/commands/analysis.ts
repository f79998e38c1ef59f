import type { Command, CommandIO, ParsedArgs } from '../command.js';
import { EXIT, flagList, flagString, flagChoice } from '../command.js';
import { openSource } from '../../core/sources/open.js';
import { analyzeSource } from '../../core/analysis/host.js';
import { analyzeImage } from '../../core/analysis/analyze.js';
import { analyzeContainer } from '../../core/analysis/container.js';
import { findContainer, findImage } from '../../core/analysis/select.js';
import { layerChangeRows, mergedRows } from '../../core/analysis/views.js';
import { UsageError } from '../../core/model/errors.js';
import type { Source } from '../../core/model/source.js';
import { reportJson } from '../../report/json.js';
import { changeRowsText, dockerChangesText, mergedRowsText, reportText } from '../../report/text.js';
import { jsonPath, safeText } from '../../report/format.js';
import type { ArchiveOptions } from '../../core/sources/archive/open.js';
import type { Problem } from '../../core/model/types.js';

export const DEFAULT_SOURCE = '/var/lib/docker';

const formatFlag = { format: { value: true, help: 'text (default) or json' } };
const verifyFlag = {
  verify: { value: false, help: 'archives: read and hash every layer, against its DiffID and the manifest digest (a mismatch is an error: exit 4); data roots: use layerscope verify' },
};

/** With --verify, integrity errors of the image's layers go to stderr and make the exit code 4. */
function integrityErrors(args: ParsedArgs, io: CommandIO, problems: Problem[]): boolean {
  if (args.flags.verify !== true) return false;
  const bad = problems.filter((p) => p.severity === 'error' && (p.code === 'layer.diffid.mismatch' || p.code === 'blob.digest.mismatch' || p.code === 'compression.corrupt' || p.code === 'layer.unhashed'));
  for (const p of bad) io.stderr.write(`layerscope: ${p.code}: ${safeText(p.message)}${p.path ? ` (${safeText(p.path)})` : ''}\n`);
  return bad.length > 0;
}

function format(args: ParsedArgs): 'text' | 'json' {
  return flagChoice(args, 'format', ['text', 'json']);
}

/** Open the source named on the command line, run `fn`, always close it. */
export async function withSource<T>(args: ParsedArgs, fn: (source: Source) => Promise<T>, fallback = DEFAULT_SOURCE): Promise<T> {
  if (args.positional.length > 1) throw new UsageError(`one SOURCE expected, got ${args.positional.length}: ${args.positional.join(' ')}`);
  // --verify: archives hash every layer (uncompressed ones are otherwise listed by seeking, never read).
  const opts: ArchiveOptions = { platform: flagString(args, 'platform'), verify: args.flags.verify === true };
  const source = await openSource(args.positional[0] ?? fallback, opts);
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

function layerIndex(args: ParsedArgs, layers: number): number {
  const raw = flagString(args, 'layer');
  if (raw === undefined) return layers - 1;
  const n = Number(raw);
  const idx = n < 0 ? layers + n : n;
  if (!Number.isInteger(n) || idx < 0 || idx >= layers) throw new UsageError(`--layer takes a layer index from 0 to ${layers - 1} (or -1 for the top), not ${JSON.stringify(raw)}`);
  return idx;
}

function write(io: CommandIO, text: string): void {
  io.stdout.write(text);
}

function json(io: CommandIO, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'every image and container of a source: layers, changes, hidden bytes, problems',
  usage: ['layerscope report [SOURCE] [--image REF]... [--all] [--verify] [--format text|json] [--platform OS/ARCH]'],
  flags: { all: { value: false, help: 'also list intermediate images (untagged legacy-builder steps), as docker images -a' }, image: { value: true, repeat: true, help: 'restrict to this image (tag, ID or ID prefix); repeatable' }, platform: { value: true, help: 'platform for multi-platform archives' }, ...verifyFlag, ...formatFlag },
  async run(args, io) {
    const fmt = format(args);
    return withSource(args, async (source) => {
      const a = await analyzeSource(source, { images: flagList(args, 'image'), all: args.flags.all === true });
      if (fmt === 'json') json(io, reportJson(a));
      else write(io, reportText(a));
      return a.problems.some((p) => p.severity === 'error') ? EXIT.evidenceProblems : EXIT.ok;
    });
  },
};

export const changesCommand: Command = {
  name: 'changes',
  summary: "a container's changes (the same as docker diff), or one image layer's changes",
  usage: ['layerscope changes SOURCE --container ID|NAME [--format text|json]', 'layerscope changes SOURCE --image REF [--layer N] [--verify] [--format text|json]'],
  flags: { container: { value: true, help: 'container name or ID' }, image: { value: true, help: 'image tag, ID or ID prefix' }, layer: { value: true, help: 'layer index (0 = base; default: the top layer)' }, platform: { value: true, help: 'platform for multi-platform archives' }, ...verifyFlag, ...formatFlag },
  async run(args, io) {
    const fmt = format(args);
    const containerRef = flagString(args, 'container');
    const imageRef = flagString(args, 'image');
    if (!containerRef === !imageRef) throw new UsageError('changes needs exactly one of --container or --image');
    return withSource(args, async (source) => {
      if (containerRef) {
        const c = await analyzeContainer(source, findContainer(source, containerRef));
        if (fmt === 'json') json(io, { container: c.container.id, name: c.container.name, changes: c.changes.map((x) => ({ kind: x.kind, ...jsonPath(x.path.slice(1)) })), problems: c.problems });
        else write(io, dockerChangesText(c.changes));
        return c.problems.some((p) => p.severity === 'error') ? EXIT.evidenceProblems : EXIT.ok;
      }
      const image = findImage(source, imageRef!);
      const n = layerIndex(args, image.layers.length);
      const a = await analyzeImage(source, image);
      const rows = layerChangeRows(a, n);
      if (fmt === 'json') {
        json(io, {
          image: image.id,
          layer: { index: n, diffId: image.layers[n]!.diffId, chainId: image.layers[n]!.chainId, createdBy: image.layers[n]!.createdBy },
          changes: rows.map((r) => ({
            ...jsonPath(r.path),
            change: r.change,
            ...(r.attrs ? { type: r.attrs.type, size: r.attrs.size, mode: r.attrs.mode, uid: r.attrs.uid, gid: r.attrs.gid, mtime: r.attrs.mtime, linkname: r.attrs.linkname === undefined ? null : r.attrs.type === 'hardlink' ? jsonPath(r.attrs.linkname).path : Buffer.from(r.attrs.linkname, 'latin1').toString('utf8') } : {}),
            ...(r.opaque ? { opaque: true } : {}),
            ...(r.change === 'deleted' ? { deleted: r.deletedAttrs ? { type: r.deletedAttrs.type, layer: r.deletedLayer, bytes: r.deletedBytes } : null } : {}),
            ...(r.hiddenBy !== null ? { hiddenBy: r.hiddenBy, hiddenReason: r.hiddenReason } : {}),
          })),
          problems: a.changes[n]!.problems,
        });
      } else write(io, changeRowsText(rows));
      if (integrityErrors(args, io, a.problems)) return EXIT.evidenceProblems;
      return a.changes[n]!.problems.some((p) => p.severity === 'error') ? EXIT.evidenceProblems : EXIT.ok;
    });
  },
};

export const filesCommand: Command = {
  name: 'files',
  summary: 'the merged filesystem of an image at a layer (default: the top)',
  usage: ['layerscope files SOURCE --image REF [--layer N] [--verify] [--format text|json]'],
  flags: { image: { value: true, help: 'image tag, ID or ID prefix' }, layer: { value: true, help: 'layer index (0 = base; default: the top layer)' }, platform: { value: true, help: 'platform for multi-platform archives' }, ...verifyFlag, ...formatFlag },
  async run(args, io) {
    const fmt = format(args);
    const imageRef = flagString(args, 'image');
    return withSource(args, async (source) => {
      const image = imageRef ? findImage(source, imageRef) : onlyImage(source);
      const a = await analyzeImage(source, image);
      const rows = mergedRows(a.stack, layerIndex(args, image.layers.length));
      if (fmt === 'json') json(io, { image: image.id, files: rows.map((r) => ({ ...jsonPath(r.path), type: r.attrs.type, size: r.attrs.size, mode: r.attrs.mode, uid: r.attrs.uid, gid: r.attrs.gid, layer: r.layer })) });
      else write(io, mergedRowsText(rows));
      return integrityErrors(args, io, a.problems) ? EXIT.evidenceProblems : EXIT.ok;
    });
  },
};

export function onlyImage(source: Source) {
  if (source.images.length === 1) return source.images[0]!;
  throw new UsageError(`this source holds ${source.images.length} images: name one with --image`);
}

