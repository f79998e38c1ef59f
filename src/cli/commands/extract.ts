import { problemsExit, reportProblems } from '../output.js';
import { dedupe } from '../../core/analysis/host.js';
import { flagBool, flagString, type Command, flagChoice } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import type { Source } from '../../core/model/source.js';
import type { ImageInfo } from '../../core/model/types.js';
import { cleanLayerPath, textToPath } from '../../core/model/path.js';
import { openSource } from '../../core/sources/open.js';
import { contentReader, type ContentReader } from '../../core/export/content.js';
import { extractItems, extractTo, planExtract, planTreeExtract, type ExtractResult } from '../../core/export/extract.js';
import { treeBodies } from '../../core/export/content.js';
import type { CommandIO, ParsedArgs } from '../command.js';
import { namedTree, namesTree } from './volumes.js';
import { OutputDir, evidenceLocations } from '../../core/output/index.js';
import { safeText, showPath } from '../../report/format.js';
import { openTarget, TARGET_FLAGS } from './target.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG, sourceLocation } from '../source.js';
import * as fs from 'node:fs';
import { sniffCompression, type Compression } from '../../core/sources/tar/decompress.js';

/** --layer N (0-based; negative counts from the top: -1 = top). */
export function parseLayer(text: string | undefined, image: ImageInfo): number {
  const top = image.layers.length - 1;
  if (text === undefined) return top;
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--layer ${text}: expected a layer index (0 = base, -1 = top)`);
  const n = Number(text);
  const i = n < 0 ? top + 1 + n : n;
  if (i < 0 || i > top) throw new UsageError(`--layer ${text}: the image has layers 0..${top}`);
  return i;
}

export function requireReader(source: Source, image: ImageInfo, what: string): ContentReader {
  const r = contentReader(source, image);
  if (!r) {
    throw new UsageError(
      `${what} needs file contents; they are read from data roots (layer diff dirs), image archive files that are not ` +
        `compressed as a whole, and OCI layout directories. This ${source.kind} source (${safeText(source.location)}) cannot be read again: ${howToReread(source.location)}.`,
    );
  }
  return r;
}

/** What to do with a source read once so that its files can be read: the fix for that kind of source. */
export function howToReread(location: string): string {
  const engine = /^(docker|podman):(.+)$/.exec(location);
  if (engine) return `it is ${engine[1]}'s save stream; save it to a file first (${engine[1]} save -o app.tar ${safeText(engine[2]!)}) and name the file`;
  if (location === '-') return 'it is stdin; save the archive to a file first (docker save -o app.tar app:1) and name the file';
  const compression = wholeFileCompression(location);
  if (compression && compression !== 'none') {
    const name = location;
    const plain = name.replace(/\.(t?gz|zst|zstd|xz|bz2)$/i, (m) => (/^\.t/i.test(m) ? '.tar' : ''));
    const tool = { gzip: 'gunzip -k', zstd: 'zstd -d -k', xz: 'unxz -k', bzip2: 'bunzip2 -k' }[compression];
    const out = plain !== name ? plain : `${name}.tar`;
    const cmd = compression === 'gzip' && plain === name ? `gunzip -c ${safeText(name)} > ${safeText(out)}` : `${tool} ${safeText(name)}`;
    return `the archive is compressed as a whole (${compression}), which can only be read in one pass; decompress it, keeping the original: ${cmd}, then name ${safeText(out)} (or save it uncompressed: docker save app:1 -o app.tar)`;
  }
  return 'save it to a file first (docker save -o app.tar app:1)';
}

/** The compression of a regular file's first bytes (the user's SOURCE, not evidence inside it), or null. */
function wholeFileCompression(location: string): Compression | null {
  let fd: number | null = null;
  try {
    // Non-blocking: a FIFO named as SOURCE was read already, and must not be waited on now.
    fd = fs.openSync(location, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    if (!fs.fstatSync(fd).isFile()) return null;
    const head = Buffer.alloc(6);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return sniffCompression(head.subarray(0, n));
  } catch {
    return null;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

export const extractCommand: Command = {
  name: 'extract',
  summary: 'copy files out of an image or a container as they are at a layer, including files deleted later (forensic recovery)',
  usage: [
    'layerscope extract SOURCE [--image REF | --container X] [--layer N] PATH... -o DIR',
    'layerscope extract SOURCE [--image REF] --layer N --layer-only PATH... -o DIR',
    'layerscope extract SOURCE --volume NAME | --bind CONTAINER:DESTINATION [PATH...] -o DIR   (default PATH: all of it)',
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    ...TARGET_FLAGS,
    volume: { value: true, help: "copy out of a volume (Docker data roots); PATHs are inside the volume (/ = all)" },
    bind: { value: true, help: 'copy out of a bind mount (CONTAINER:DESTINATION) whose source lies inside the evidence' },
    layer: { value: true, help: 'merged view after this layer (0 = base, -1 = top; default top): files deleted later are there' },
    'layer-only': { value: false, help: "only layer N's own entries, not the merged view" },
    output: { value: true, help: 'output directory (-o); files land at DIR/<path>; nothing outside it, nothing overwritten' },
    'no-owner': { value: false, help: 'do not restore owners (default: restored when run as root)' },
    format: { value: true, help: 'text (default) or json summary' },
    platform: { value: true, help: 'os/arch[/variant] for multi-platform archives' },
  },
  async run(args, io) {
    const [src, ...given] = args.positional;
    const out = flagString(args, 'output');
    const tree = namesTree(args);
    // A volume is copied whole unless paths are named.
    const paths = tree && !given.length ? ['/'] : given;
    if (!src || !paths.length) throw new UsageError('expected SOURCE and at least one PATH');
    if (!out) throw new UsageError('-o DIR is required');
    const format = flagChoice(args, 'format', ['text', 'json']);
    if (flagBool(args, 'layer-only') && flagString(args, 'layer') === undefined) throw new UsageError('--layer-only needs --layer N');
    const layerPaths = paths.map((p) => {
      if (!p.startsWith('/')) throw new UsageError(`${JSON.stringify(p)}: give paths as absolute paths in the image (/etc/passwd)`);
      try {
        return p === '/' && tree ? '' : cleanLayerPath(textToPath(p));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    });
    if (out === '-') throw new UsageError('extract writes a directory: -o - (stdout) is not possible; use export -o - for a tar');
    const platform = flagString(args, 'platform');
    const source = await openSource(await sourceLocation(src, args, io), platform ? { platform } : {});
    let reader: ContentReader | null = null;
    let dir: OutputDir | null = null;
    try {
      // Checked before anything is read or created: a refused output costs nothing and leaves nothing behind.
      dir = OutputDir.prepare(out, { evidence: evidenceLocations(source.location), owners: !flagBool(args, 'no-owner') && process.getuid?.() === 0 });
      if (tree) return await extractTree(source, args, layerPaths, dir, out, format, io);
      const t = await openTarget(source, args, { content: true });
      const image = t.image;
      reader = requireReader(source, image, 'extract');
      const layer = parseLayer(flagString(args, 'layer'), image);
      const a = t.analysis;
      const plan = planExtract(a, layerPaths, { layer, layerOnly: flagBool(args, 'layer-only') });
      let res;
      try {
        res = await extractTo(a, plan, reader, dir);
      } finally {
        await dir.close();
      }
      for (const w of dir.warnings) res.problems.push({ severity: 'warning', code: 'extract.output', message: w, path: null });
      if (format === 'json') {
        io.stdout.write(JSON.stringify({ schema: 'layerscope.extract/v1', ...(t.container ? { container: t.container.container.id } : { image: image.id }), layer, output: out, ...res, skipped: res.skipped.map((s) => ({ path: showPath(s.path), reason: s.reason })) }, null, 2) + '\n');
        return problemsExit(dedupe([...source.problems, ...a.problems, ...res.problems]));
      } else {
        io.stdout.write(`extracted from ${t.label} at layer ${layer}${flagBool(args, 'layer-only') ? ' (its own entries only)' : ' (merged view)'} into ${safeText(out)}:\n`);
        io.stdout.write(`  ${res.files} files (${res.bytes} bytes), ${res.dirs} dirs, ${res.symlinks} symlinks, ${res.hardlinks} hardlinks\n`);
        if (res.existingDirs) io.stdout.write(`  ${res.existingDirs} dir${res.existingDirs === 1 ? '' : 's'} existed already: used as ${res.existingDirs === 1 ? 'it was' : 'they were'} (mode, owner and times not changed)\n`);
        for (const s of res.skipped) io.stdout.write(`  skipped ${showPath(s.path)}: ${s.reason}\n`);
      }
      // What was read (the source, every layer of the stack) and what extracting met: all said (on stderr).
      return reportProblems(io, 'extract', dedupe([...source.problems, ...a.problems, ...res.problems]));
    } finally {
      dir?.close();
      reader?.close?.();
      await source.close();
    }
  },
};

/** Copy out of a volume or a bind source inside the evidence (a plain directory: one table, layer 0). */
async function extractTree(source: Source, args: ParsedArgs, paths: string[], dir: OutputDir, out: string, format: 'text' | 'json', io: CommandIO): Promise<number> {
  const t = await namedTree(source, args);
  const plan = planTreeExtract(t.tree.table, paths, t.what);
  let res: ExtractResult;
  try {
    res = await extractItems(plan, treeBodies(t.tree.dir), dir);
  } finally {
    await dir.close();
  }
  for (const w of dir.warnings) res.problems.push({ severity: 'warning', code: 'extract.output', message: w, path: null });
  const problems = dedupe([...source.problems, ...t.problems, ...res.problems]);
  if (format === 'json') {
    io.stdout.write(JSON.stringify({ schema: 'layerscope.extract/v1', ...t.head, output: out, ...res, skipped: res.skipped.map((s) => ({ path: showPath(s.path), reason: s.reason })) }, null, 2) + '\n');
    return problemsExit(problems);
  }
  io.stdout.write(`extracted from ${safeText(t.what)} into ${safeText(out)}:\n`);
  io.stdout.write(`  ${res.files} files (${res.bytes} bytes), ${res.dirs} dirs, ${res.symlinks} symlinks, ${res.hardlinks} hardlinks\n`);
  if (res.existingDirs) io.stdout.write(`  ${res.existingDirs} dir${res.existingDirs === 1 ? '' : 's'} existed already: used as ${res.existingDirs === 1 ? 'it was' : 'they were'} (mode, owner and times not changed)\n`);
  for (const s of res.skipped) io.stdout.write(`  skipped ${showPath(s.path)}: ${s.reason}\n`);
  return reportProblems(io, 'extract', problems);
}
