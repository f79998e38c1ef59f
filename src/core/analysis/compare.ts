import type { Attrs, ImageInfo } from '../model/types.js';
import { compareWalkOrder } from '../model/path.js';
import type { ImageAnalysis } from './analyze.js';
import { walkMerged, type MergedEntry, type MergedRow } from './views.js';

/**
 * Two images compared: which layers they share (by diffId), then file by file what is added, removed or changed
 * between their merged views at the top layer. Pure, apart from the optional content comparer the caller gives
 * (which reads bytes through the sources).
 *
 * Content identity: two versions whose owning layers have the same diffId are the same bytes (the diffId is the
 * digest of the layer tar that holds them). Otherwise regular files of the same size and mtime are taken to be the
 * same, unless a content comparer is given, which then decides for every pair of the same size.
 */

export interface LayerShare {
  index: number;
  diffId: string;
  createdBy: string | null;
  bytes: number;
  /** Index of a layer with the same diffId in the other image, or null. */
  otherIndex: number | null;
}

export type FileChange = 'added' | 'removed' | 'changed';

/** What differs between two versions of a path. */
export type Difference = 'type' | 'mode' | 'owner' | 'size' | 'mtime' | 'content' | 'target' | 'device' | 'xattrs';

export interface FileDiffRow {
  path: string;
  change: FileChange;
  a: Attrs | null;
  b: Attrs | null;
  /** Owning layer of the version in A / in B. */
  aLayer: number | null;
  bLayer: number | null;
  /** For changed rows. */
  differences: Difference[];
  /**
   * How content was judged for a regular file present in both: 'layer' (same owning diffId), 'hash' (bytes
   * compared), 'size' (sizes differ), 'metadata' (same size and mtime: assumed equal), 'unknown' (same size,
   * other mtime, bytes not compared). null for other types.
   */
  content: 'layer' | 'hash' | 'size' | 'metadata' | 'unknown' | null;
}

export interface ImageComparison {
  a: ImageInfo;
  b: ImageInfo;
  /** Leading layers both images share (same chain). */
  commonPrefix: number;
  layersA: LayerShare[];
  layersB: LayerShare[];
  /**
   * The rows, walked again on each call and never held: a diff of two images of millions of files costs the
   * two merged views (already in memory) and one row at a time.
   */
  rows: () => AsyncGenerator<FileDiffRow>;
  counts: { added: number; removed: number; changed: number; addedBytes: number; removedBytes: number; sizeDelta: number };
}

/** Decide whether two regular files hold the same bytes; called only for same-size pairs of different layers. */
export type ContentComparer = (a: MergedRow, b: MergedRow) => Promise<boolean>;

function fileType(t: Attrs['type']): string {
  return t === 'hardlink' ? 'file' : t;
}

function sameTime(a: Attrs, b: Attrs): boolean {
  return a.mtime === b.mtime && (a.mtimeNsec === b.mtimeNsec || a.mtimeNsec === 0 || b.mtimeNsec === 0);
}

function sameXattrs(a: Attrs, b: Attrs): boolean {
  const ka = Object.keys(a.xattrs ?? {}).sort();
  const kb = Object.keys(b.xattrs ?? {}).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a.xattrs![k] === b.xattrs![k]);
}

/**
 * What makes two layers the same bytes: the diffId; a container's own layers (init, RW) have none and are the
 * same only as the same directory (two containers' RW layers are never taken for each other).
 */
function layerIdentity(l: ImageInfo['layers'][number]): string {
  if (l.diffId) return l.diffId;
  return l.location ? `dir:${l.location}` : `unnamed:${l.index}:${l.cacheId ?? ''}:${++unnamed}`;
}
let unnamed = 0;

/** Compare two images: layer sharing, and the counts of one pass over their rows (which `rows()` walks again). */
export interface CompareOptions {
  content?: ContentComparer;
  /** Compare A's (B's) tree after this layer instead of the top (a container against its image plus init layer). */
  layerA?: number;
  layerB?: number;
}

export async function compareImages(a: ImageAnalysis, b: ImageAnalysis, opts: CompareOptions = {}): Promise<ImageComparison> {
  const idxB = new Map<string, number>();
  b.image.layers.forEach((l, i) => idxB.has(layerIdentity(l)) || idxB.set(layerIdentity(l), i));
  const idxA = new Map<string, number>();
  a.image.layers.forEach((l, i) => idxA.has(layerIdentity(l)) || idxA.set(layerIdentity(l), i));
  const share = (x: ImageAnalysis, other: Map<string, number>): LayerShare[] =>
    x.image.layers.map((l, i) => ({ index: i, diffId: l.diffId, createdBy: l.createdBy, bytes: x.layers[i]?.bytes ?? 0, otherIndex: other.get(layerIdentity(l)) ?? null }));
  let prefix = 0;
  // Image layers by chainID; a container's own layers (no chainID) only as the same directory.
  const same = (x: ImageInfo['layers'][number], y: ImageInfo['layers'][number]) => (x.chainId || y.chainId ? x.chainId === y.chainId : layerIdentity(x) === layerIdentity(y));
  while (prefix < a.image.layers.length && prefix < b.image.layers.length && same(a.image.layers[prefix]!, b.image.layers[prefix]!)) prefix++;
  const counts = { added: 0, removed: 0, changed: 0, addedBytes: 0, removedBytes: 0, sizeDelta: b.visibleBytes - a.visibleBytes };
  const bytesOf = (x: Attrs | null) => (x?.type === 'file' ? x.size : 0);
  const partial = opts.layerA !== undefined || opts.layerB !== undefined;
  if (partial) counts.sizeDelta = 0;
  for await (const r of diffRows(a, b, opts)) {
    counts[r.change]++;
    if (r.change === 'added') counts.addedBytes += bytesOf(r.b);
    else if (r.change === 'removed') counts.removedBytes += bytesOf(r.a);
    // The visible bytes are the top's: below it, the delta is the rows' own.
    if (partial) counts.sizeDelta += bytesOf(r.b) - bytesOf(r.a);
  }
  return { a: a.image, b: b.image, commonPrefix: prefix, layersA: share(a, idxB), layersB: share(b, idxA), rows: () => diffRows(a, b, opts), counts };
}

/** The rows of what differs, in walk order: both merged views are walked side by side, a row built only where they differ. */
export async function* diffRows(a: ImageAnalysis, b: ImageAnalysis, opts: CompareOptions = {}): AsyncGenerator<FileDiffRow> {
  const content = opts.content;
  const ia = walkMerged(a.view, opts.layerA ?? a.view.top);
  const ib = walkMerged(b.view, opts.layerB ?? b.view.top);
  const row = (x: ImageAnalysis, e: MergedEntry): MergedRow => ({ path: e.path, attrs: x.view.store.attrs(e.version), layer: x.view.layerOf(e.version) });
  let ea = ia.next();
  let eb = ib.next();
  while (!ea.done || !eb.done) {
    const c = !ea.done && !eb.done ? compareWalkOrder(ea.value.path, eb.value.path) : !ea.done ? -1 : 1;
    if (c < 0) {
      const x = row(a, ea.value as MergedEntry);
      ea = ia.next();
      yield { path: x.path, change: 'removed', a: x.attrs, b: null, aLayer: x.layer, bLayer: null, differences: [], content: null };
    } else if (c > 0) {
      const y = row(b, eb.value as MergedEntry);
      eb = ib.next();
      yield { path: y.path, change: 'added', a: null, b: y.attrs, aLayer: null, bLayer: y.layer, differences: [], content: null };
    } else {
      const xa = ea.value as MergedEntry;
      const xb = eb.value as MergedEntry;
      ea = ia.next();
      eb = ib.next();
      // Same owning diffId: the same bytes (the diffId digests the layer tar that holds them).
      if (layerIdentity(a.image.layers[a.view.layerOf(xa.version)]!) === layerIdentity(b.image.layers[b.view.layerOf(xb.version)]!)) continue;
      const x = row(a, xa);
      const y = row(b, xb);
      const { differences, content: how } = await differencesOf(x, y, content);
      if (differences.length) yield { path: x.path, change: 'changed', a: x.attrs, b: y.attrs, aLayer: x.layer, bLayer: y.layer, differences, content: how };
    }
  }
}

async function differencesOf(x: MergedRow, y: MergedRow, content: ContentComparer | undefined): Promise<{ differences: Difference[]; content: FileDiffRow['content'] }> {
  const p = x.attrs;
  const q = y.attrs;
  const d: Difference[] = [];
  if (fileType(p.type) !== fileType(q.type)) return { differences: ['type'], content: null };
  if (p.mode !== q.mode) d.push('mode');
  if (p.uid !== q.uid || p.gid !== q.gid) d.push('owner');
  if (!sameXattrs(p, q)) d.push('xattrs');
  const t = fileType(p.type);
  let how: FileDiffRow['content'] = null;
  if (t === 'file') {
    if (p.size !== q.size) {
      d.push('size', 'content');
      how = 'size';
    } else if (content) {
      how = 'hash';
      if (!(await content(x, y))) d.push('content');
    } else how = sameTime(p, q) ? 'metadata' : 'unknown';
    if (!sameTime(p, q)) d.push('mtime');
  } else if (t === 'symlink') {
    if ((p.linkname ?? '') !== (q.linkname ?? '')) d.push('target');
    if (!sameTime(p, q)) d.push('mtime');
  } else if (t === 'char' || t === 'block') {
    if ((p.devMajor ?? 0) !== (q.devMajor ?? 0) || (p.devMinor ?? 0) !== (q.devMinor ?? 0)) d.push('device');
    if (!sameTime(p, q)) d.push('mtime');
  } else if (t !== 'dir') {
    if (!sameTime(p, q)) d.push('mtime');
  }
  // Directory mtimes are not compared: they move with every change inside, which the rows below already show.
  return { differences: d, content: how };
}
