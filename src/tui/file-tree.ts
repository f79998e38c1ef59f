import type { ImageAnalysis } from '../core/analysis/analyze.js';
import type { StackView } from '../core/analysis/stack.js';
import { ROOT_PATH } from '../core/model/paths.js';
import { T_DIR, T_FILE } from '../core/model/layer-table.js';
import { displayPath } from '../core/model/path.js';

/**
 * The file tree of one layer, flattened once per (layer, mode, sort) into parallel typed arrays in depth-first
 * order, and cached. Nothing here is ever copied per keypress: moving the cursor reads the arrays; collapsing,
 * filtering or sorting derives a new `VisibleView` (an Int32Array of indices) in O(n).
 *
 * UI state (what is collapsed, what is filtered) lives beside the tree, never in it nor in the model.
 */

export type TreeMode = 'changes' | 'aggregated';
export type SortOrder = 'name' | 'size';

/** Change kinds as stored in `FlatTree.change`; also bit positions in `subMask` and in filter masks. */
export const UNMODIFIED = 0;
export const ADDED = 1;
export const MODIFIED = 2;
export const DELETED = 3;
export const ALL_KINDS = 0b1111;

export interface FlatTree {
  layer: number;
  mode: TreeMode;
  sort: SortOrder;
  n: number;
  /** The image's stack: names, versions and attributes are read from it for the rows on screen. */
  view: StackView;
  /** Path id of each entry (see PathTable). */
  pathId: Int32Array;
  depth: Uint16Array;
  /** Index one past the entry's subtree. */
  end: Int32Array;
  change: Uint8Array;
  isDir: Uint8Array;
  /** Size column: a file's bytes; a deleted entry's hidden bytes; a dir's sum of everything below it. */
  size: Float64Array;
  /** Bit (1 << change) of the entry and every entry below it. */
  subMask: Uint8Array;
  /**
   * The version behind each entry (-1: none): changes mode, the put or whiteout layer N wrote (for context dirs,
   * the version in effect); aggregated mode, the version visible at N, or for removed entries the one N ended.
   */
  ver: Int32Array;
  /** One-entry cache of the last derived view (see visibleView). */
  lastView?: { collapse: CollapseState; show: number; filter: string | null; view: VisibleView };
  /** Two sets of view buffers used in turn, so a 1M-entry tree does not allocate 5 MB per fold. */
  viewBuffers?: { rows: Int32Array; collapsed: Uint8Array }[];
  nextBuffer?: number;
}

/**
 * Collapse state: a set of directory paths beside the tree. With `all` false the set lists collapsed dirs; with
 * `all` true (after "collapse all") it lists the dirs that are expanded.
 */
export interface CollapseState {
  readonly all: boolean;
  readonly paths: ReadonlySet<string>;
}

export const NO_COLLAPSE: CollapseState = Object.freeze({ all: false, paths: new Set<string>() });

export function isCollapsed(c: CollapseState, path: string): boolean {
  return c.all !== c.paths.has(path);
}

export function toggleCollapse(c: CollapseState, path: string): CollapseState {
  const paths = new Set(c.paths);
  if (paths.has(path)) paths.delete(path);
  else paths.add(path);
  return { all: c.all, paths };
}

export function setCollapsed(c: CollapseState, path: string, collapsed: boolean): CollapseState {
  return isCollapsed(c, path) === collapsed ? c : toggleCollapse(c, path);
}

/** Expand every ancestor of `path` (so that it can be shown). */
export function revealPath(c: CollapseState, path: string): CollapseState {
  let out = c;
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) out = setCollapsed(out, path.slice(0, i), false);
  return out;
}

export interface VisibleView {
  /** Indices into the FlatTree, in display order. */
  rows: Int32Array;
  collapsed: Uint8Array;
}

// ---------------------------------------------------------------------------------------------------------
// building
// ---------------------------------------------------------------------------------------------------------

/** Growable parallel arrays, filled in depth-first order. */
class Builder {
  n = 0;
  cap: number;
  pathId: Int32Array;
  ver: Int32Array;
  depth: Uint16Array;
  end: Int32Array;
  change: Uint8Array;
  isDir: Uint8Array;
  size: Float64Array;
  constructor(capacity: number) {
    this.cap = Math.max(16, capacity);
    this.pathId = new Int32Array(this.cap);
    this.ver = new Int32Array(this.cap);
    this.depth = new Uint16Array(this.cap);
    this.end = new Int32Array(this.cap);
    this.change = new Uint8Array(this.cap);
    this.isDir = new Uint8Array(this.cap);
    this.size = new Float64Array(this.cap);
  }
  private grow(): void {
    this.cap *= 2;
    const g = <T extends Uint16Array | Int32Array | Uint8Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(this.cap);
      b.set(a);
      return b;
    };
    this.pathId = g(this.pathId);
    this.ver = g(this.ver);
    this.depth = g(this.depth);
    this.end = g(this.end);
    this.change = g(this.change);
    this.isDir = g(this.isDir);
    this.size = g(this.size);
  }
  push(pathId: number, depth: number, change: number, dir: boolean, size: number, ver: number): number {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.pathId[i] = pathId;
    this.ver[i] = ver;
    // Deeper than 65535 levels (hostile evidence only) is shown at that depth.
    this.depth[i] = Math.min(depth, 0xffff);
    this.end[i] = i + 1;
    this.change[i] = change;
    this.isDir[i] = dir ? 1 : 0;
    this.size[i] = size;
    return i;
  }
  finish(view: StackView, layer: number, mode: TreeMode): FlatTree {
    const n = this.n;
    const t: FlatTree = {
      layer,
      mode,
      sort: 'name',
      n,
      view,
      pathId: this.pathId.slice(0, n),
      depth: this.depth.slice(0, n),
      end: this.end.slice(0, n),
      change: this.change.slice(0, n),
      isDir: this.isDir.slice(0, n),
      size: this.size.slice(0, n),
      subMask: new Uint8Array(n),
      ver: this.ver.slice(0, n),
    };
    // Children come after their parent: one pass with a stack of open entries finds each entry's parent; one
    // backward pass then adds each entry into its parent (dir sums, masks).
    const parent = new Int32Array(n).fill(-1);
    const open: number[] = [];
    for (let i = 0; i < n; i++) {
      while (open.length && t.end[open[open.length - 1]!]! <= i) open.pop();
      if (open.length) parent[i] = open[open.length - 1]!;
      if (t.end[i]! > i + 1) open.push(i);
    }
    for (let i = 0; i < n; i++) t.subMask[i] = 1 << t.change[i]!;
    // A dir's own size is replaced by the sum below it, except a deleted dir shown as a leaf (its hidden bytes).
    for (let i = 0; i < n; i++) if (t.isDir[i] && t.end[i]! > i + 1) t.size[i] = 0;
    for (let i = n - 1; i >= 0; i--) {
      const p = parent[i]!;
      if (p >= 0) {
        t.size[p] += t.size[i]!;
        t.subMask[p] |= t.subMask[i]!;
      }
    }
    return t;
  }
}

function changeCode(view: StackView, v: number): number {
  const s = view.store;
  return s.isWhiteout(v) ? DELETED : s.change(v) === 'modified' ? MODIFIED : ADDED;
}

/** Regular-file bytes a version shows in the size column. */
function fileSize(view: StackView, v: number): number {
  return view.store.typeOf(v) === T_FILE ? view.store.fileBytes(v) : 0;
}

/** The changes layer N made, as a tree (parents it did not change are shown as context, unmodified). */
export function buildChangesTree(a: ImageAnalysis, layer: number): FlatTree {
  const view = a.view;
  const paths = view.paths;
  const table = view.table(layer);
  const b = new Builder(table.n + 64);
  // Rows come in walk order (parents before children, siblings by name bytes): one stack of open dirs, where
  // open[k] is the open dir at depth k + 1.
  const open: { id: number; index: number }[] = [];
  const chain: number[] = [];
  const whiteouts = new Map<number, number>();
  for (let r = 0; r < table.n; r++) {
    const p = table.pathIds[r]!;
    chain.length = 0;
    for (let q = paths.parent(p); q !== ROOT_PATH && q >= 0; q = paths.parent(q)) chain.push(q);
    chain.reverse();
    let k = 0;
    while (k < open.length && k < chain.length && open[k]!.id === chain[k]) k++;
    while (open.length > k) b.end[open.pop()!.index] = b.n;
    // Parent dirs this layer did not change: context rows.
    for (let j = k; j < chain.length; j++) {
      const i = b.push(chain[j]!, open.length, UNMODIFIED, true, 0, view.versionAt(chain[j]!, layer));
      open.push({ id: chain[j]!, index: i });
    }
    const v = view.versionOfRow(layer, r);
    if (view.store.isWhiteout(v)) {
      const gone = view.store.deletedBy(v);
      whiteouts.set(p, b.push(p, open.length, DELETED, gone >= 0 && view.store.isDir(gone), 0, v));
      continue;
    }
    const dir = view.store.typeOf(v) === T_DIR;
    const i = b.push(p, open.length, changeCode(view, v), dir, fileSize(view, v), v);
    if (dir) open.push({ id: p, index: i });
  }
  while (open.length) b.end[open.pop()!.index] = b.n;
  // A whiteout's size: the bytes it hid (files of lower layers under it that no other name keeps alive).
  if (whiteouts.size) {
    for (const h of a.hidden) {
      if (h.by !== layer || h.reason !== 'deleted') continue;
      for (let p = view.lookup(h.path); p > ROOT_PATH; p = paths.parent(p)) {
        const i = whiteouts.get(p);
        if (i !== undefined) {
          b.size[i] += h.bytes;
          break;
        }
      }
    }
  }
  return b.finish(view, layer, 'changes');
}

/**
 * Everything visible after layer N, marked with what layer N did to it; plus, marked deleted, what layer N
 * removed (with its subtree), so that a deletion is seen where it happens. Depth-first without recursion.
 */
export function buildAggregatedTree(a: ImageAnalysis, layer: number): FlatTree {
  const view = a.view;
  const paths = view.paths;
  const b = new Builder(1024);
  // Frames: the next child to look at, the entry to close, and whether the dir is being removed.
  const stack: { next: number; index: number; removing: boolean }[] = [{ next: paths.firstChild(ROOT_PATH), index: -1, removing: false }];
  while (stack.length) {
    const f = stack[stack.length - 1]!;
    const child = f.next;
    if (child < 0) {
      stack.pop();
      if (f.index >= 0) b.end[f.index] = b.n;
      continue;
    }
    f.next = paths.nextSibling(child);
    const depth = stack.length - 1;
    const v = f.removing || layer < 0 ? -1 : view.versionAt(child, layer);
    if (v >= 0) {
      const change = view.layerOf(v) === layer ? (view.store.change(v) === 'modified' ? MODIFIED : ADDED) : UNMODIFIED;
      const dir = view.store.isDir(v);
      const i = b.push(child, depth, change, dir, fileSize(view, v), v);
      if (dir) stack.push({ next: paths.firstChild(child), index: i, removing: false });
      continue;
    }
    const gone = view.removedAt(child, layer);
    if (gone < 0) continue;
    const dir = view.store.isDir(gone);
    const i = b.push(child, depth, DELETED, dir, fileSize(view, gone), gone);
    if (dir) stack.push({ next: paths.firstChild(child), index: i, removing: true });
  }
  return b.finish(view, layer, 'aggregated');
}

/** Reorder siblings by size (largest first, then name), keeping subtrees contiguous. */
export function sortBySize(t: FlatTree): FlatTree {
  const n = t.n;
  const paths = t.view.paths;
  const order = new Int32Array(n);
  let k = 0;
  const siblings = (lo: number, hi: number): number[] => {
    const kids: number[] = [];
    for (let j = lo; j < hi; j = t.end[j]!) kids.push(j);
    kids.sort((x, y) => t.size[y]! - t.size[x]! || paths.compareNames(t.pathId[x]!, t.pathId[y]!));
    return kids;
  };
  // Depth-first without recursion: a stack of sibling lists still to emit.
  const stack: { kids: number[]; next: number }[] = [{ kids: siblings(0, n), next: 0 }];
  while (stack.length) {
    const f = stack[stack.length - 1]!;
    if (f.next >= f.kids.length) {
      stack.pop();
      continue;
    }
    const j = f.kids[f.next++]!;
    order[k++] = j;
    if (t.end[j]! > j + 1) stack.push({ kids: siblings(j + 1, t.end[j]!), next: 0 });
  }
  const out: FlatTree = {
    layer: t.layer,
    mode: t.mode,
    sort: 'size',
    n,
    view: t.view,
    pathId: new Int32Array(n),
    depth: new Uint16Array(n),
    end: new Int32Array(n),
    change: new Uint8Array(n),
    isDir: new Uint8Array(n),
    size: new Float64Array(n),
    subMask: new Uint8Array(n),
    ver: new Int32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const j = order[i]!;
    out.pathId[i] = t.pathId[j]!;
    out.depth[i] = t.depth[j]!;
    // A subtree keeps its length: its end moves with its start.
    out.end[i] = i + (t.end[j]! - j);
    out.change[i] = t.change[j]!;
    out.isDir[i] = t.isDir[j]!;
    out.size[i] = t.size[j]!;
    out.subMask[i] = t.subMask[j]!;
    out.ver[i] = t.ver[j]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// cache
// ---------------------------------------------------------------------------------------------------------

const cache = new WeakMap<ImageAnalysis, Map<string, FlatTree>>();

/** Entries kept across all cached trees of one analysis; the least recently used trees go first. */
export const CACHE_ENTRIES = 6_000_000;

export function hasFlatTree(a: ImageAnalysis, layer: number, mode: TreeMode, sort: SortOrder): boolean {
  return cache.get(a)?.has(`${layer}:${mode}:${sort}`) ?? false;
}

/** The flat tree of (layer, mode, sort), built on first use and cached (LRU, bounded by entry count). */
export function flatTree(a: ImageAnalysis, layer: number, mode: TreeMode, sort: SortOrder): FlatTree {
  let m = cache.get(a);
  if (!m) cache.set(a, (m = new Map()));
  const key = `${layer}:${mode}:${sort}`;
  let t = m.get(key);
  if (t) {
    // Most recently used last (Map keeps insertion order).
    m.delete(key);
    m.set(key, t);
    return t;
  }
  t = sort === 'size' ? sortBySize(flatTree(a, layer, mode, 'name')) : mode === 'changes' ? buildChangesTree(a, layer) : buildAggregatedTree(a, layer);
  m.set(key, t);
  let total = 0;
  for (const x of m.values()) total += x.n;
  for (const [k, x] of m) {
    if (total <= CACHE_ENTRIES || k === key) break;
    m.delete(k);
    total -= x.n;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------------------
// views
// ---------------------------------------------------------------------------------------------------------

/** Index of the entry at `path` (a layer path), or -1. Walks siblings level by level: O(path depth x fan-out). */
export function findIndex(t: FlatTree, path: string): number {
  if (path === '') return -1;
  let lo = 0;
  let hi = t.n;
  const parts = path.split('/');
  const paths = t.view.paths;
  for (let p = 0; p < parts.length; p++) {
    let j = lo;
    while (j < hi && !paths.hasName(t.pathId[j]!, parts[p]!)) j = t.end[j]!;
    if (j >= hi) return -1;
    if (p === parts.length - 1) return j;
    lo = j + 1;
    hi = t.end[j]!;
  }
  return -1;
}

export function pathOf(t: FlatTree, i: number): string {
  return t.view.paths.path(t.pathId[i]!);
}

/** The last component of entry i's path (byte string). */
export function nameOf(t: FlatTree, i: number): string {
  return t.view.paths.name(t.pathId[i]!);
}

/** Bits of the change kinds to show. */
export function showMask(f: { added: boolean; removed: boolean; modified: boolean; unmodified: boolean }): number {
  return (f.unmodified ? 1 << UNMODIFIED : 0) | (f.added ? 1 << ADDED : 0) | (f.modified ? 1 << MODIFIED : 0) | (f.removed ? 1 << DELETED : 0);
}

/**
 * The rows to display: entries whose subtree holds a shown kind (a dir stays as context for what it holds),
 * without the insides of collapsed dirs. Memoised on the tree for the last (collapse, show) pair.
 */
export function visibleView(t: FlatTree, collapse: CollapseState, show: number, filter: PathFilter | null = null): VisibleView {
  const last = t.lastView;
  if (last && last.collapse === collapse && last.show === show && last.filter === (filter?.key ?? null)) return last.view;
  const keep = filter ? filterMask(t, filter) : null;
  // The previous view stays valid (callers compare the old and the new); the one before it is reused.
  t.viewBuffers ??= [];
  const b = (t.nextBuffer ?? 0) & 1;
  t.nextBuffer = b + 1;
  const buf = (t.viewBuffers[b] ??= { rows: new Int32Array(t.n), collapsed: new Uint8Array(t.n) });
  const collapsed = buf.collapsed;
  if (collapse.all) collapsed.set(t.isDir);
  else collapsed.fill(0);
  for (const p of collapse.paths) {
    const i = findIndex(t, p);
    if (i >= 0 && t.isDir[i]) collapsed[i] = collapse.all ? 0 : 1;
  }
  const out = buf.rows;
  let k = 0;
  let i = 0;
  while (i < t.n) {
    if ((t.subMask[i]! & show) === 0 || (keep && !keep[i])) {
      i = t.end[i]!;
      continue;
    }
    out[k++] = i;
    i = collapsed[i] ? t.end[i]! : i + 1;
  }
  const view = { rows: out.subarray(0, k), collapsed };
  t.lastView = { collapse, show, filter: filter?.key ?? null, view };
  return view;
}

/** A path filter (dive's ctrl+f): entries whose path matches, with their parent dirs as context. */
export interface PathFilter {
  /** Identifies the filter (the query): views and masks are cached by it. */
  key: string;
  test: (shownPath: string) => boolean;
}

const masks = new WeakMap<FlatTree, { key: string; keep: Uint8Array }>();

/**
 * Which entries a filter keeps: an entry that matches (its path as shown, `/a/b`, escaped) or holds one that
 * does. One pass over the tree per filter (prefix counts of matches: a subtree keeps when it holds any).
 */
function filterMask(t: FlatTree, f: PathFilter): Uint8Array {
  const hit = masks.get(t);
  if (hit && hit.key === f.key) return hit.keep;
  const prefix = new Int32Array(t.n + 1);
  for (let i = 0; i < t.n; i++) prefix[i + 1] = prefix[i]! + (f.test('/' + displayPath(pathOf(t, i))) ? 1 : 0);
  const keep = new Uint8Array(t.n);
  for (let i = 0; i < t.n; i++) keep[i] = prefix[t.end[i]!]! - prefix[i]! > 0 ? 1 : 0;
  masks.set(t, { key: f.key, keep });
  return keep;
}

/** Position of tree index `i` in the view (or of the nearest row before it). */
export function rowOfIndex(v: VisibleView, i: number): number {
  let lo = 0;
  let hi = v.rows.length - 1;
  let best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (v.rows[mid]! <= i) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}
