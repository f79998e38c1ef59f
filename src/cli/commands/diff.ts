import * as fs from 'node:fs';
import { flagBool, flagString, type Command, flagChoice } from '../command.js';
import { EXIT } from '../command.js';
import { problemsExit, reportProblems, sinkOf } from '../output.js';
import { dedupe } from '../../core/analysis/host.js';
import { UsageError } from '../../core/model/errors.js';
import type { Source } from '../../core/model/source.js';
import { openSource } from '../../core/sources/open.js';
import { analyzeImage } from '../../core/analysis/analyze.js';
import { compareImages, diffRows, type ContentComparer } from '../../core/analysis/compare.js';
import { contentPath, contentReader, hashMany, type ContentReader } from '../../core/export/content.js';
import { safeMessage } from '../../report/format.js';
import { writeCompareJson, writeCompareText } from '../../report/compare.js';
import { selectImages } from './ci.js';
import { analyzeContainer, containerStackAnalysis } from '../../core/analysis/container.js';
import { findContainer } from '../../core/analysis/select.js';
import type { ImageInfo } from '../../core/model/types.js';
import type { ImageAnalysis } from '../../core/analysis/analyze.js';
import { SOURCE_FLAG, sourceLocation } from '../source.js';
import { howToReread } from './extract.js';
import { safeText } from '../../report/format.js';

/** One side of a diff: an image (by reference, or the only one), or a container's whole stack. */
async function diffSide(source: Source, imageRef: string | undefined, container: string | undefined): Promise<{ image: ImageInfo; analysis: ImageAnalysis; container: string | null }> {
  if (container !== undefined) {
    const analysis = containerStackAnalysis(await analyzeContainer(source, findContainer(source, container)));
    return { image: analysis.image, analysis, container };
  }
  const image = selectImages(source, imageRef ? [imageRef] : [])[0]!;
  return { image, analysis: await analyzeImage(source, image), container: null };
}

/** `SOURCE#REF` → [SOURCE, REF]; a path that itself exists with its '#' wins. */
export function splitSourceRef(arg: string): { source: string; ref: string | undefined } {
  const i = arg.lastIndexOf('#');
  if (i <= 0 || fs.existsSync(arg)) return { source: arg, ref: undefined };
  return { source: arg.slice(0, i), ref: arg.slice(i + 1) || undefined };
}

/**
 * How file contents were judged, said under the counts: --content hashes same-size files, but a file both sides
 * hold in a layer of the same diffID is equal by that diffID and never read; that the bytes on disk are still
 * the ones the diffID names is verify's check, which diff does not make.
 */
export function contentNote(hashed: boolean): string {
  const sameLayer = 'files in layers with equal diffIDs (shared layers) are taken as equal without reading them (for on-disk tampering of a layer: layerscope verify)';
  return hashed ? `content: same-size files compared by sha256, except: ${sameLayer}` : `content: files of the same size and mtime taken as equal (--content to compare bytes); ${sameLayer}`;
}

export const diffCommand: Command = {
  name: 'diff',
  summary: 'compare two images or containers (any sources): shared layers, then files added, removed, changed',
  usage: [
    'layerscope diff SOURCE --container X [--content]     (X against its image and init layer: what X did, file by file)',
    'layerscope diff SOURCE_A SOURCE_B --container-a X --container-b Y [--content]   (any mix with --image-a/-b)',
    'layerscope diff SOURCE_A[#REF] SOURCE_B[#REF] [--content] [--format text|json]',
    'layerscope diff SOURCE_A SOURCE_B --image-a REF --image-b REF [--content] [--format text|json]',
    'layerscope diff SOURCE --image-a REF --image-b REF [--content] [--format text|json]',
  ],
  flags: {
    ...SOURCE_FLAG,
    'image-a': { value: true, help: 'image in A (instead of A#REF)' },
    'image-b': { value: true, help: 'image in B (instead of B#REF)' },
    'container-a': { value: true, help: "container in A: its whole stack (image, init and RW layers)" },
    'container-b': { value: true, help: 'container in B' },
    container: { value: true, help: 'one container against its image plus init layer (one SOURCE)' },
    content: { value: false, help: 'hash same-size files (sha256) instead of trusting size+mtime (files in layers of equal diffIDs are equal without being read: layerscope verify checks those on disk); data roots, archive files, OCI dirs' },
    format: { value: true, help: 'text (default) or json' },
    platform: { value: true, help: 'os/arch[/variant] for multi-platform archives' },
  },
  async run(args, io) {
    const format = flagChoice(args, 'format', ['text', 'json']);
    const pos = args.positional;
    const one = flagString(args, 'container');
    if (one !== undefined && (flagString(args, 'container-a') || flagString(args, 'container-b') || flagString(args, 'image-a') || flagString(args, 'image-b'))) throw new UsageError('--container compares one container with its image: no --image-a/-b or --container-a/-b with it');
    if (one !== undefined && pos.length !== 1) throw new UsageError('--container takes exactly one SOURCE');
    const named = (x: string, y: string) => flagString(args, x) !== undefined || flagString(args, y) !== undefined;
    if (pos.length === 1 && (one !== undefined || (named('image-a', 'container-a') && named('image-b', 'container-b')))) pos.push(pos[0]!);
    if (pos.length !== 2) throw new UsageError('expected two sources: A B (SOURCE or SOURCE#REF)');
    const A = splitSourceRef(pos[0]!);
    const B = splitSourceRef(pos[1]!);
    const refA = flagString(args, 'image-a') ?? A.ref;
    const refB = flagString(args, 'image-b') ?? B.ref;
    for (const s of ['a', 'b']) if (flagString(args, `image-${s}`) && flagString(args, `container-${s}`)) throw new UsageError(`give --image-${s} or --container-${s}, not both`);
    const platform = flagString(args, 'platform');
    const opened = new Map<string, Source>();
    const readers: (ContentReader | null)[] = [];
    const open = async (loc: string) => {
      let s = opened.get(loc);
      if (!s) {
        s = await openSource(await sourceLocation(loc, args, io), platform ? { platform } : {});
        opened.set(loc, s);
      }
      return s;
    };
    try {
      const sa = await open(A.source);
      const sb = await open(B.source);
      const sideA = await diffSide(sa, refA, one ?? flagString(args, 'container-a'));
      const sideB = await diffSide(sb, refB, one ?? flagString(args, 'container-b'));
      const [ia, ib, ab] = [sideA.image, sideB.image, sideB.analysis];
      // One container against itself one layer down: what its RW layer did, the engine's placeholders left out.
      // Side A is the stack below the RW layer: its layer list stops there too (the tree is read at layerA).
      const below = Math.max(0, sideA.analysis.layers.length - 1);
      const aa = one !== undefined ? belowTop(sideA.analysis, below) : sideA.analysis;
      const layers = one !== undefined ? { layerA: below - 1 } : {};
      let comparer: ContentComparer | undefined;
      let contentErrors = 0;
      const useContent = flagBool(args, 'content');
      if (useContent) {
        const ra = contentReader(sa, ia);
        const rb = contentReader(sb, ib);
        readers.push(ra, rb);
        const missing = [ra ? null : A.source, rb ? null : B.source].filter(Boolean);
        if (missing.length) throw new UsageError(`--content needs file contents (data roots, archive files not compressed as a whole, OCI layout dirs); not available for ${missing.map((m) => `${safeText(m!)} (read once: ${howToReread(m!)})`).join('; ')}`);
        // Which bytes are needed: a first, pure pass records every same-size pair of different layers; then each
        // side's files are hashed layer by layer (one pass per layer for archives); then the real comparison.
        const need = { a: new Map<number, Set<string>>(), b: new Map<number, Set<string>>() };
        const want = (m: Map<number, Set<string>>, layer: number, p: string) => (m.get(layer) ?? m.set(layer, new Set()).get(layer)!).add(p);
        const record: ContentComparer = async (x, y) => {
          want(need.a, x.layer, contentPath(x.path, x.attrs));
          want(need.b, y.layer, contentPath(y.path, y.attrs));
          return true;
        };
        for await (const _ of diffRows(aa, ab, { content: record, ...layers }));
        const ha = await hashMany(ra!, ia, need.a);
        const hb = await hashMany(rb!, ib, need.b);
        for (const e of [...ha.errors, ...hb.errors]) io.stderr.write(`error: ${safeMessage(e.message)}\n`);
        contentErrors = ha.errors.length + hb.errors.length;
        comparer = async (x, y) => {
          const p = ha.hashes.get(`${x.layer}\0${contentPath(x.path, x.attrs)}`);
          const q = hb.hashes.get(`${y.layer}\0${contentPath(y.path, y.attrs)}`);
          // Unreadable bytes cannot be called equal.
          return p !== undefined && p === q;
        };
      }
      const c = await compareImages(aa, ab, { ...(comparer ? { content: comparer } : {}), ...layers });
      const labelA = one !== undefined ? `${A.source} container ${one}, before its RW layer (image and init layer)` : A.source + (sideA.container ? ` container ${sideA.container}` : refA ? `#${refA}` : '');
      const labelB = one !== undefined ? `${B.source} container ${one}` : B.source + (sideB.container ? ` container ${sideB.container}` : refB ? `#${refB}` : '');
      const write = sinkOf(io.stdout);
      if (format === 'json') await writeCompareJson(c, { labelA, labelB, content: useContent }, write);
      else await writeCompareText(c, { labelA, labelB, contentNote: contentNote(useContent) }, write);
      // The problems of what was read: both sources and both stacks.
      const problems = dedupe([...sa.problems, ...aa.problems, ...(sb === sa ? [] : sb.problems), ...ab.problems]);
      const code = format === 'json' ? problemsExit(problems) : reportProblems(io, 'diff', problems);
      return contentErrors ? EXIT.evidenceProblems : code;
    } finally {
      for (const r of readers) r?.close?.();
      for (const s of opened.values()) await s.close();
    }
  },
};

/** An analysis seen as its first `n` layers (its stack is shared; trees are read at layer n - 1 by the caller). */
function belowTop(a: ImageAnalysis, n: number): ImageAnalysis {
  return { ...a, image: { ...a.image, layers: a.image.layers.slice(0, n) }, layers: a.layers.slice(0, n), tables: a.tables.slice(0, n) };
}
