import type { Command, CommandIO, ParsedArgs } from '../command.js';
import { flagBool, flagList, flagString, flagChoice } from '../command.js';
import { openSource } from '../../core/sources/open.js';
import { analyzeSource, analyzeSourceStream, dedupe } from '../../core/analysis/host.js';
import { modelOf } from '../../core/analysis/model.js';
import { analyzeImage } from '../../core/analysis/analyze.js';
import { analyzeContainer, containerStackAnalysis, type ContainerAnalysis } from '../../core/analysis/container.js';
import { contentPath, contentReader, hashRwFiles } from '../../core/export/content.js';
import { findContainer, findImage } from '../../core/analysis/select.js';
import { layerChanges, walkMerged, type MergedRow } from '../../core/analysis/views.js';
import { UsageError } from '../../core/model/errors.js';
import { problem, type Problem } from '../../core/model/types.js';
import type { Source } from '../../core/model/source.js';
import { writeReportJson, writeReportJsonl } from '../../report/json.js';
import { changeRowsLines, dockerChangesText, mergedRowsLines, reportText } from '../../report/text.js';
import { jsonPath, safeText } from '../../report/format.js';
import { problemsExit, progressLine, reportProblems, sinkOf } from '../output.js';
import type { ArchiveOptions } from '../../core/sources/archive/open.js';
import { namedTree, namesTree } from './volumes.js';
import { openTarget, TARGET_FLAGS } from './target.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG, sourceLocation } from '../source.js';

export const DEFAULT_SOURCE = '/var/lib/docker';

const formatFlag = { format: { value: true, help: 'text (default) or json' } };
const verifyFlag = {
  verify: { value: false, help: 'archives: read and hash every layer, against its DiffID and the manifest digest (a mismatch is an error: exit 4); data roots: use layerscope verify' },
};

function format(args: ParsedArgs): 'text' | 'json' {
  return flagChoice(args, 'format', ['text', 'json']);
}

/** Open the source named on the command line, run `fn`, always close it. */
export async function withSource<T>(args: ParsedArgs, io: CommandIO, fn: (source: Source) => Promise<T>, fallback = DEFAULT_SOURCE): Promise<T> {
  if (args.positional.length > 1) throw new UsageError(`one SOURCE expected, got ${args.positional.length}: ${args.positional.join(' ')}`);
  // --verify: archives hash every layer (uncompressed ones are otherwise listed by seeking, never read).
  const opts: ArchiveOptions = { platform: flagString(args, 'platform'), verify: args.flags.verify === true };
  const source = await openSource(await sourceLocation(args.positional[0] ?? fallback, args, io), opts);
  if (opts.verify && !source.kind.includes('archive') && source.kind !== 'oci-dir')
    // Not silence: a responder asking for hashing must learn that nothing was hashed here, and where it is.
    source.problems.push(problem('info', 'verify.not-here', `--verify hashes the layers of archives; the layers of a ${source.kind} are checked against their diffIDs by \`layerscope verify\``, null));
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

/** Write lines in batches (a million-row listing is not one string, nor a million writes). */
async function writeLines(io: CommandIO, lines: Iterable<string>): Promise<void> {
  const write = sinkOf(io.stdout);
  let batch: string[] = [];
  for (const l of lines) {
    batch.push(l);
    if (batch.length >= 2048) {
      await write(batch.join('\n') + '\n');
      batch = [];
    }
  }
  if (batch.length) await write(batch.join('\n') + '\n');
}

/** A JSON document whose one big array is written element by element (same bytes as JSON.stringify(doc, null, 2)). */
async function writeJsonWithArray(io: CommandIO, head: Record<string, unknown>, key: string, items: Iterable<unknown>, tail: Record<string, unknown> = {}): Promise<void> {
  const write = sinkOf(io.stdout);
  const headText = Object.keys(head).length ? JSON.stringify(head, null, 2).slice(0, -2) + ',\n' : '{\n';
  await write(headText + `  ${JSON.stringify(key)}: [`);
  let n = 0;
  let batch = '';
  for (const item of items) {
    batch += `${n++ ? ',' : ''}\n    ${JSON.stringify(item, null, 2).replace(/\n/g, '\n    ')}`;
    if (batch.length > 1 << 16) {
      await write(batch);
      batch = '';
    }
  }
  const rest = Object.entries(tail).map(([k, v]) => `,\n  ${JSON.stringify(k)}: ${JSON.stringify(v, null, 2).replace(/\n/g, '\n  ')}`).join('');
  await write(batch + (n ? '\n  ]' : ']') + rest + '\n}\n');
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'every image and container of a source: layers, changes, hidden bytes, problems',
  usage: [
    'layerscope report [SOURCE] [--image REF]... [--all] [--verify] [--format text|json|jsonl] [--platform OS/ARCH]',
    'json is written as it is produced; jsonl gives one object per line (image, layer, hidden file, container, problem) for pipelines. With stderr on a terminal, progress is shown there.',
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    all: { value: false, help: 'also list intermediate images (untagged legacy-builder steps), as docker images -a' },
    image: { value: true, repeat: true, help: 'restrict to this image (tag, ID or ID prefix)' },
    platform: { value: true, help: 'platform for multi-platform archives' },
    ...verifyFlag,
    format: { value: true, help: 'text (default), json or jsonl' },
  },
  async run(args, io) {
    const fmt = flagChoice(args, 'format', ['text', 'json', 'jsonl']);
    return withSource(args, io, async (source) => {
      const progress = progressLine(io, () => modelOf(source).progress);
      const opts = { images: flagList(args, 'image'), all: args.flags.all === true };
      try {
        if (fmt === 'text') {
          const a = await analyzeSource(source, opts);
          progress.done();
          await sinkOf(io.stdout)(reportText(a));
          return problemsExit(a.problems);
        }
        const writer = fmt === 'json' ? writeReportJson : writeReportJsonl;
        const out = sinkOf(io.stdout);
        const problems = await writer(source, analyzeSourceStream(source, opts), (t) => {
          progress.pause();
          return out(t);
        });
        return problemsExit(problems);
      } finally {
        progress.done();
      }
    });
  },
};

export const changesCommand: Command = {
  name: 'changes',
  summary: "a container's changes (the same as docker diff), or one image layer's changes",
  usage: [
    'layerscope changes SOURCE (--container ID|NAME | --all) [--hash] [--format text|json]',
    'layerscope changes SOURCE [--image REF] [--layer N] [--verify] [--format text|json]',
    '--all: every container, each under a `container NAME ID` line; --hash: the sha256 of every added or changed',
    'regular file after its line (read as extract reads: never followed, never written).',
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    container: { value: true, help: 'container name or ID' },
    all: { value: false, help: "every container's changes, in one run" },
    hash: { value: false, help: 'sha256 of every added or changed regular file' }, image: { value: true, help: 'image tag, ID or ID prefix (default: the only image of the source)' }, layer: { value: true, help: 'layer index (0 = base, -1 = top; default: the top layer)' }, platform: { value: true, help: 'platform for multi-platform archives' }, ...verifyFlag, ...formatFlag },
  async run(args, io) {
    const fmt = format(args);
    const containerRef = flagString(args, 'container');
    const imageRef = flagString(args, 'image');
    const all = flagBool(args, 'all');
    if ([containerRef, imageRef, all || undefined].filter((x) => x !== undefined).length > 1) throw new UsageError('changes takes one of --container, --all or --image');
    if (flagBool(args, 'hash') && !containerRef && !all) throw new UsageError("--hash is for containers' changes (--container or --all)");
    return withSource(args, io, async (source) => {
      if (containerRef || all) {
        if (all && !source.containers.length) throw new UsageError('this source holds no containers');
        const which = all ? source.containers : [findContainer(source, containerRef!)];
        const problems: Problem[] = [...source.problems];
        const json: Record<string, unknown>[] = [];
        const write = sinkOf(io.stdout);
        for (const ct of which) {
          const c = await analyzeContainer(source, ct);
          const image = c.image ? await analyzeImage(source, c.image) : null;
          problems.push(...(image?.problems ?? []), ...c.problems);
          const digests = flagBool(args, 'hash') ? await changedFileDigests(source, c, problems) : undefined;
          const rows = c.changes.map((x) => ({ kind: x.kind, ...jsonPath(x.path.slice(1)), ...(digests?.has(x.path) ? { sha256: digests.get(x.path) } : {}) }));
          if (fmt === 'json') json.push({ container: c.container.id, name: c.container.name, changes: rows });
          else await write((all ? `container ${safeText(c.container.name)} ${c.container.id}\n` : '') + dockerChangesText(c.changes, digests));
        }
        const seen = dedupe(problems);
        if (fmt === 'json') {
          if (all) await write(JSON.stringify({ schema: 'layerscope.changes/v1', containers: json, problems: seen }, null, 2) + '\n');
          else await writeJsonWithArray(io, { container: json[0]!.container, name: json[0]!.name }, 'changes', json[0]!.changes as unknown[], { problems: seen });
          return problemsExit(seen);
        }
        return reportProblems(io, 'changes', seen);
      }
      const image = imageRef ? findImage(source, imageRef) : onlyImage(source);
      const n = layerIndex(args, image.layers.length);
      const a = await analyzeImage(source, image);
      // The problems of what was read: the source, and every layer stacked to classify this one's changes.
      const problems = dedupe([...source.problems, ...a.problems]);
      if (fmt === 'json') {
        const l = image.layers[n]!;
        const rows = (function* () {
          for (const r of layerChanges(a, n))
            yield {
              ...jsonPath(r.path),
              change: r.change,
              ...(r.attrs ? { type: r.attrs.type, size: r.attrs.size, mode: r.attrs.mode, uid: r.attrs.uid, gid: r.attrs.gid, mtime: r.attrs.mtime, linkname: r.attrs.linkname === undefined ? null : r.attrs.type === 'hardlink' ? jsonPath(r.attrs.linkname).path : Buffer.from(r.attrs.linkname, 'latin1').toString('utf8') } : {}),
              ...(r.opaque ? { opaque: true } : {}),
              ...(r.change === 'deleted' ? { deleted: r.deletedAttrs ? { type: r.deletedAttrs.type, layer: r.deletedLayer, bytes: r.deletedBytes } : null } : {}),
              ...(r.hiddenBy !== null ? { hiddenBy: r.hiddenBy, hiddenReason: r.hiddenReason } : {}),
            };
        })();
        await writeJsonWithArray(io, { image: image.id, layer: { index: n, diffId: l.diffId, chainId: l.chainId, createdBy: l.createdBy } }, 'changes', rows, { problems });
        return problemsExit(problems);
      }
      await writeLines(io, changeRowsLines(() => layerChanges(a, n)));
      return reportProblems(io, 'changes', problems);
    });
  },
};

export const filesCommand: Command = {
  name: 'files',
  summary: 'the merged filesystem of an image at a layer (default: the top), or the files of a volume or bind mount',
  usage: [
    'layerscope files SOURCE [--image REF | --container X] [--layer N] [--verify] [--format text|json]',
    'layerscope files SOURCE --volume NAME | --bind CONTAINER:DESTINATION [--format text|json]',
    'A volume (or a bind source inside the evidence) is listed as a plain directory: no whiteouts, LAYER is 0.',
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    ...TARGET_FLAGS,
    layer: { value: true, help: 'layer index (0 = base, -1 = top; default: the top layer)' },
    volume: { value: true, help: "a volume's files (Docker data roots), read-only" },
    bind: { value: true, help: 'the files of a bind mount (CONTAINER:DESTINATION) whose source lies inside the evidence' },
    platform: { value: true, help: 'platform for multi-platform archives' },
    ...verifyFlag,
    ...formatFlag,
  },
  async run(args, io) {
    const fmt = format(args);
    return withSource(args, io, async (source) => {
      if (namesTree(args)) {
        const t = await namedTree(source, args);
        const problems = dedupe([...source.problems, ...t.problems]);
        const table = t.tree.table;
        const rows = function* (): Generator<MergedRow> {
          for (let i = 0; i < table.n; i++) yield { path: table.path(i), attrs: table.attrs(i), layer: 0 };
        };
        if (fmt === 'json') {
          const files = (function* () {
            for (const r of rows()) yield { ...jsonPath(r.path), type: r.attrs.type, size: r.attrs.size, mode: r.attrs.mode, uid: r.attrs.uid, gid: r.attrs.gid, layer: r.layer, ...(r.attrs.linkname !== undefined ? { linkname: r.attrs.type === 'hardlink' ? jsonPath(r.attrs.linkname).path : Buffer.from(r.attrs.linkname, 'latin1').toString('utf8') } : {}) };
          })();
          await writeJsonWithArray(io, t.head, 'files', files, { problems });
          return problemsExit(problems);
        }
        await writeLines(io, mergedRowsLines(rows));
        return reportProblems(io, 'files', problems);
      }
      const t = await openTarget(source, args);
      const image = t.image;
      const a = t.analysis;
      const layer = layerIndex(args, image.layers.length);
      const problems = dedupe([...source.problems, ...a.problems]);
      const rows = function* (): Generator<MergedRow> {
        for (const e of walkMerged(a.view, layer)) yield { path: e.path, attrs: a.view.store.attrs(e.version), layer: a.view.layerOf(e.version) };
      };
      if (fmt === 'json') {
        const files = (function* () {
          for (const r of rows()) yield { ...jsonPath(r.path), type: r.attrs.type, size: r.attrs.size, mode: r.attrs.mode, uid: r.attrs.uid, gid: r.attrs.gid, layer: r.layer };
        })();
        await writeJsonWithArray(io, t.container ? { container: t.container.container.id } : { image: image.id }, 'files', files, { problems });
        return problemsExit(problems);
      }
      await writeLines(io, mergedRowsLines(rows));
      return reportProblems(io, 'files', problems);
    });
  },
};

export function onlyImage(source: Source) {
  if (source.images.length === 1) return source.images[0]!;
  throw new UsageError(`this source holds ${source.images.length} images: name one with --image`);
}


/** sha256 of every regular file a container added or changed (docker diff's A and C lines), by absolute path. */
async function changedFileDigests(source: Source, c: ContainerAnalysis, problems: Problem[]): Promise<Map<string, string>> {
  const stack = containerStackAnalysis(c);
  const reader = contentReader(source, stack.image);
  if (!reader) {
    problems.push({ severity: 'error', code: 'changes.hash', message: `container ${c.container.name}: its layers cannot be read again for their contents`, path: null });
    return new Map();
  }
  try {
    const view = stack.view;
    // Absolute path (as docker diff prints it) -> the name whose bytes it is (a hardlink entry shares another's).
    const files = new Map<string, string>();
    for (const x of c.changes) {
      if (x.kind === 'D') continue;
      const id = view.lookup(x.path.slice(1));
      const v = id < 0 ? -1 : view.versionAt(id, view.top);
      if (v < 0 || view.layerOf(v) !== view.top) continue;
      const a = view.store.attrs(v);
      if (a.type === 'file' || a.type === 'hardlink') files.set(x.path, contentPath(x.path.slice(1), a));
    }
    const { digests, errors } = await hashRwFiles(reader, stack.image, new Set(files.values()), 'sha256');
    for (const e of errors) problems.push({ severity: 'error', code: 'changes.hash', message: e.message, path: null });
    const out = new Map<string, string>();
    for (const [abs, stored] of files) {
      const d = digests.get(stored);
      if (d) out.set(abs, d);
    }
    return out;
  } finally {
    reader.close?.();
  }
}
