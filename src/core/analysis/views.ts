import type { Attrs } from '../model/types.js';
import { ROOT_PATH } from '../model/paths.js';
import type { ImageAnalysis } from './analyze.js';
import type { ChangeKind, EndReason, StackView } from './stack.js';

/** One row of a layer's own changes (the `changes` command, the TUI's "this layer" tree). */
export interface ChangeRow {
  path: string;
  change: ChangeKind;
  /** For puts. */
  attrs: Attrs | null;
  opaque: boolean;
  /** For deletions: what the whiteout deleted (null when nothing was there: a no-op whiteout). */
  deletedAttrs: Attrs | null;
  deletedLayer: number | null;
  /** Regular-file bytes that this deletion hid (the deleted path's whole subtree). */
  deletedBytes: number;
  /** When this version was later hidden: the layer that hid it, and how. */
  hiddenBy: number | null;
  hiddenReason: EndReason | null;
  redirect?: string;
  metacopy?: boolean;
}

/** The changes layer N made, in walk order. */
export function* layerChanges(a: Pick<ImageAnalysis, 'view' | 'hidden'>, layer: number): Generator<ChangeRow> {
  const view = a.view;
  const s = view.store;
  const table = view.table(layer);
  // Bytes each whiteout of this layer hid: every deletion-hidden file counts for each whiteout above it.
  const deletedBytes = new Map<number, number>();
  const whiteouts = new Set<number>();
  for (let i = 0; i < table.n; i++) if (table.isWhiteout(i)) whiteouts.add(table.pathIds[i]!);
  if (whiteouts.size) {
    for (const h of a.hidden) {
      if (h.by !== layer || h.reason !== 'deleted') continue;
      for (let p = view.lookup(h.path); p > ROOT_PATH; p = view.paths.parent(p)) if (whiteouts.has(p)) deletedBytes.set(p, (deletedBytes.get(p) ?? 0) + h.bytes);
    }
  }
  for (let i = 0; i < table.n; i++) {
    const v = view.versionOfRow(layer, i);
    const p = table.pathIds[i]!;
    const until = view.until(v);
    const row: ChangeRow = {
      path: view.paths.path(p),
      change: s.change(v),
      attrs: table.isWhiteout(i) ? null : table.attrs(i),
      opaque: table.isOpaque(i),
      deletedAttrs: null,
      deletedLayer: null,
      deletedBytes: 0,
      hiddenBy: until === Infinity ? null : until,
      hiddenReason: view.endReason(v),
    };
    if (table.isWhiteout(i)) {
      const d = s.deletedBy(v);
      if (d >= 0) {
        row.deletedAttrs = s.attrs(d);
        row.deletedLayer = s.layerOf(d);
      }
      row.deletedBytes = deletedBytes.get(p) ?? 0;
    }
    const r = table.redirect(i);
    if (r !== undefined) row.redirect = r;
    if (table.isMetacopy(i)) row.metacopy = true;
    yield row;
  }
}

/** layerChanges as an array. */
export function layerChangeRows(a: Pick<ImageAnalysis, 'view' | 'hidden'>, layer: number): ChangeRow[] {
  return [...layerChanges(a, layer)];
}

/** One entry of the merged view at a layer (the `files` command, the TUI's aggregated tree). */
export interface MergedRow {
  path: string;
  attrs: Attrs;
  /** The layer whose version is visible. */
  layer: number;
}

/** Directory depth down to which walkMerged keeps the paths of open directories. */
const PREFIX_DEPTH = 256;

/** An entry of the merged view, before its attributes are read: a path, its id and the visible version. */
export interface MergedEntry {
  pathId: number;
  path: string;
  version: number;
  /** Components below the walk's root (0 for its first level). */
  depth: number;
}

/**
 * The merged filesystem after layer N (default: the top), in walk order: the whole image, or only what lies
 * below `under` (a layer path; its own row first) when given. Depth-first without recursion: evidence may nest
 * paths thousands of components deep.
 */
export function* walkMerged(view: StackView, layer = view.top, under = ''): Generator<MergedEntry> {
  if (layer < 0) return;
  const paths = view.paths;
  let root = ROOT_PATH;
  if (under !== '') {
    root = paths.lookup(under);
    if (root < 0) return;
    const v = view.versionAt(root, layer);
    if (v < 0) return;
    yield { pathId: root, path: under, version: v, depth: 0 };
    if (!view.store.isDir(v)) return;
  }
  // Paths of the open directories, down to PREFIX_DEPTH: each entry's path is its parent's plus its name. Deeper
  // than that, a path is built from the table each time: holding every ancestor's path of a chain N levels deep
  // costs N^2/2 characters once consumers flatten them (16,000 levels: 256 MB).
  const prefix: string[] = [under];
  const next: number[] = [paths.firstChild(root)];
  while (next.length) {
    const k = next.length - 1;
    const c = next[k]!;
    if (c < 0) {
      next.pop();
      if (k < prefix.length) prefix.pop();
      continue;
    }
    next[k] = paths.nextSibling(c);
    const v = view.versionAt(c, layer);
    if (v < 0) continue;
    const path = k >= PREFIX_DEPTH ? paths.path(c) : prefix[k] === '' ? paths.name(c) : prefix[k] + '/' + paths.name(c);
    yield { pathId: c, path, version: v, depth: k + (under === '' ? 0 : 1) };
    if (view.store.isDir(v)) {
      const first = paths.firstChild(c);
      if (first >= 0) {
        next.push(first);
        if (k + 1 < PREFIX_DEPTH) prefix.push(path);
      }
    }
  }
}

/** walkMerged with each entry's attributes, one row at a time (nothing held: an export of any size). */
export function* eachMerged(view: StackView, layer = view.top, under = ''): Generator<MergedRow> {
  for (const e of walkMerged(view, layer, under)) yield { path: e.path, attrs: view.store.attrs(e.version), layer: view.layerOf(e.version) };
}

/** walkMerged with each entry's attributes, as an array (small stacks, tests). */
export function mergedRows(view: StackView, layer = view.top, under = ''): MergedRow[] {
  return [...eachMerged(view, layer, under)];
}
