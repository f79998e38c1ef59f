import type { ImageAnalysis } from '../core/analysis/analyze.js';
import type { PathNode, Version } from '../core/analysis/stack.js';
import { isWithin } from '../core/model/path.js';

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
  /** Component names (byte strings), shared with the model's nodes. */
  names: string[];
  depth: Uint16Array;
  /** Index one past the entry's subtree. */
  end: Int32Array;
  change: Uint8Array;
  isDir: Uint8Array;
  /** Size column: a file's bytes; a deleted entry's hidden bytes; a dir's sum of everything below it. */
  size: Float64Array;
  /** Bit (1 << change) of the entry and every entry below it. */
  subMask: Uint8Array;
  /** The model node of each entry (for its versions and path). */
  node: PathNode[];
  /**
   * The version behind each entry: changes mode, the put or whiteout layer N wrote (for context dirs, the
   * version in effect); aggregated mode, the version visible at N, or for removed entries the one N ended.
   */
  ver: (Version | null)[];
  /** One-entry cache of the last derived view (see visibleView). */
  lastView?: { collapse: CollapseState; show: number; view: VisibleView };
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

/** Growable parallel arrays (typed where the data are numbers), filled in depth-first order. */
class Builder {
  n = 0;
  cap: number;
  names: string[] = [];
  node: PathNode[] = [];
  ver: (Version | null)[] = [];
  depth: Uint16Array;
  end: Int32Array;
  change: Uint8Array;
  isDir: Uint8Array;
  size: Float64Array;
  constructor(capacity: number) {
    this.cap = Math.max(16, capacity);
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
    this.depth = g(this.depth);
    this.end = g(this.end);
    this.change = g(this.change);
    this.isDir = g(this.isDir);
    this.size = g(this.size);
  }
  push(node: PathNode, depth: number, change: number, dir: boolean, size: number, ver: Version | null): number {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.names.push(node.name);
    this.node.push(node);
    this.ver.push(ver);
    this.depth[i] = depth;
    this.end[i] = i + 1;
    this.change[i] = change;
    this.isDir[i] = dir ? 1 : 0;
    this.size[i] = size;
    return i;
  }
  finish(layer: number, mode: TreeMode): FlatTree {
    const n = this.n;
    const t: FlatTree = {
      layer,
      mode,
      sort: 'name',
      n,
      names: this.names,
      depth: this.depth.slice(0, n),
      end: this.end.slice(0, n),
      change: this.change.slice(0, n),
      isDir: this.isDir.slice(0, n),
      size: this.size.slice(0, n),
      subMask: new Uint8Array(n),
      node: this.node,
      ver: this.ver,
    };
    // Children come after their parent: one backward pass adds each entry into its parent (dir sums, masks).
    const parent = new Int32Array(n).fill(-1);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < t.end[i]!; j = t.end[j]!) parent[j] = i;
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

/** The version layer N wrote for this node, of the given kind (a layer may whiteout and re-create a path). */
function versionOf(node: PathNode, layer: number, whiteout: boolean): Version | null {
  for (let i = node.versions.length - 1; i >= 0; i--) {
    const v = node.versions[i]!;
    if (v.layer < layer) break;
    if (v.layer === layer && (v.kind === 'whiteout') === whiteout) return v;
  }
  return null;
}

function changeCode(v: Version): number {
  return v.kind === 'whiteout' ? DELETED : v.change === 'modified' ? MODIFIED : ADDED;
}

/** The changes layer N made, as a tree (parents it did not change are shown as context, unmodified). */
export function buildChangesTree(a: ImageAnalysis, layer: number): FlatTree {
  const entries = a.changes[layer]?.entries ?? [];
  const b = new Builder(entries.length + 64);
  // Entries come in walk order (parents before children, siblings by name bytes): one stack of open dirs.
  const open: { path: string; node: PathNode; index: number }[] = [];
  const whiteouts = new Map<string, number>();
  for (const e of entries) {
    while (open.length && !isWithin(e.path, open[open.length - 1]!.path)) {
      const o = open.pop()!;
      b.end[o.index] = b.n;
    }
    const top = open[open.length - 1];
    let base = top ? top.path : '';
    let node: PathNode | undefined = top ? top.node : a.stack.root;
    const slash = e.path.lastIndexOf('/');
    const parent = slash < 0 ? '' : e.path.slice(0, slash);
    if (parent !== base) {
      // Parent dirs this layer did not change: context rows.
      for (const comp of parent.slice(base === '' ? 0 : base.length + 1).split('/')) {
        node = node?.child(comp);
        if (!node) break;
        base = base === '' ? comp : base + '/' + comp;
        const i = b.push(node, open.length, UNMODIFIED, true, 0, node.versionAt(layer));
        open.push({ path: base, node, index: i });
      }
    }
    node = node?.child(slash < 0 ? e.path : e.path.slice(slash + 1));
    if (!node) continue;
    const v = versionOf(node, layer, e.kind === 'whiteout');
    if (!v) continue;
    if (v.kind === 'whiteout') {
      const dir = v.deleted?.attrs?.type === 'dir';
      whiteouts.set(e.path, b.push(node, open.length, DELETED, dir, 0, v));
      continue;
    }
    const dir = v.attrs!.type === 'dir';
    const i = b.push(node, open.length, changeCode(v), dir, v.attrs!.type === 'file' && !v.metacopy ? v.attrs!.size : 0, v);
    if (dir) open.push({ path: e.path, node, index: i });
  }
  while (open.length) b.end[open.pop()!.index] = b.n;
  // A whiteout's size: the bytes it hid (files of lower layers under it that no other name keeps alive).
  if (whiteouts.size) {
    for (const h of a.stack.hidden) {
      if (h.by !== layer || h.reason !== 'deleted') continue;
      for (let p = h.path; ; ) {
        const i = whiteouts.get(p);
        if (i !== undefined) {
          b.size[i] += h.bytes;
          break;
        }
        const s = p.lastIndexOf('/');
        if (s < 0) break;
        p = p.slice(0, s);
      }
    }
  }
  return b.finish(layer, 'changes');
}

/** The put this node had just below layer N that layer N ended (deleted, replaced, hidden by opaque). */
export function removedAt(node: PathNode, layer: number): Version | null {
  for (let i = node.versions.length - 1; i >= 0; i--) {
    const v = node.versions[i]!;
    if (v.layer >= layer) continue;
    return v.kind === 'put' && v.until === layer ? v : null;
  }
  return null;
}

/**
 * Everything visible after layer N, marked with what layer N did to it; plus, marked deleted, what layer N
 * removed (with its subtree), so that a deletion is seen where it happens.
 */
export function buildAggregatedTree(a: ImageAnalysis, layer: number): FlatTree {
  const b = new Builder(1024);
  const walk = (parent: PathNode, depth: number, removing: boolean): void => {
    if (!parent.children) return;
    const names = [...parent.children.keys()].sort();
    for (const name of names) {
      const child = parent.children.get(name)!;
      const v = removing ? null : child.versionAt(layer);
      if (v) {
        const change = v.layer === layer ? (v.change === 'modified' ? MODIFIED : ADDED) : UNMODIFIED;
        const dir = v.attrs!.type === 'dir';
        const i = b.push(child, depth, change, dir, v.attrs!.type === 'file' && !v.metacopy ? v.attrs!.size : 0, v);
        if (dir) {
          walk(child, depth + 1, false);
          b.end[i] = b.n;
        }
        continue;
      }
      const gone = removedAt(child, layer);
      if (!gone) continue;
      const dir = gone.attrs!.type === 'dir';
      const i = b.push(child, depth, DELETED, dir, gone.attrs!.type === 'file' && !gone.metacopy ? gone.attrs!.size : 0, gone);
      if (dir) {
        walk(child, depth + 1, true);
        b.end[i] = b.n;
      }
    }
  };
  walk(a.stack.root, 0, false);
  return b.finish(layer, 'aggregated');
}

/** Reorder siblings by size (largest first, then name), keeping subtrees contiguous. */
export function sortBySize(t: FlatTree): FlatTree {
  const n = t.n;
  const order = new Int32Array(n);
  let k = 0;
  const emit = (lo: number, hi: number): void => {
    const kids: number[] = [];
    for (let j = lo; j < hi; j = t.end[j]!) kids.push(j);
    kids.sort((x, y) => t.size[y]! - t.size[x]! || (t.names[x]! < t.names[y]! ? -1 : t.names[x]! > t.names[y]! ? 1 : 0));
    for (const j of kids) {
      order[k++] = j;
      if (t.end[j]! > j + 1) emit(j + 1, t.end[j]!);
    }
  };
  emit(0, n);
  const out: FlatTree = {
    layer: t.layer,
    mode: t.mode,
    sort: 'size',
    n,
    names: new Array(n),
    depth: new Uint16Array(n),
    end: new Int32Array(n),
    change: new Uint8Array(n),
    isDir: new Uint8Array(n),
    size: new Float64Array(n),
    subMask: new Uint8Array(n),
    node: new Array(n),
    ver: new Array(n),
  };
  for (let i = 0; i < n; i++) {
    const j = order[i]!;
    out.names[i] = t.names[j]!;
    out.depth[i] = t.depth[j]!;
    // A subtree keeps its length: its end moves with its start.
    out.end[i] = i + (t.end[j]! - j);
    out.change[i] = t.change[j]!;
    out.isDir[i] = t.isDir[j]!;
    out.size[i] = t.size[j]!;
    out.subMask[i] = t.subMask[j]!;
    out.node[i] = t.node[j]!;
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
  for (let p = 0; p < parts.length; p++) {
    let j = lo;
    while (j < hi && t.names[j] !== parts[p]) j = t.end[j]!;
    if (j >= hi) return -1;
    if (p === parts.length - 1) return j;
    lo = j + 1;
    hi = t.end[j]!;
  }
  return -1;
}

export function pathOf(t: FlatTree, i: number): string {
  return t.node[i]!.path;
}

/** Bits of the change kinds to show. */
export function showMask(f: { added: boolean; removed: boolean; modified: boolean; unmodified: boolean }): number {
  return (f.unmodified ? 1 << UNMODIFIED : 0) | (f.added ? 1 << ADDED : 0) | (f.modified ? 1 << MODIFIED : 0) | (f.removed ? 1 << DELETED : 0);
}

/**
 * The rows to display: entries whose subtree holds a shown kind (a dir stays as context for what it holds),
 * without the insides of collapsed dirs. Memoised on the tree for the last (collapse, show) pair.
 */
export function visibleView(t: FlatTree, collapse: CollapseState, show: number): VisibleView {
  const last = t.lastView;
  if (last && last.collapse === collapse && last.show === show) return last.view;
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
    if ((t.subMask[i]! & show) === 0) {
      i = t.end[i]!;
      continue;
    }
    out[k++] = i;
    i = collapsed[i] ? t.end[i]! : i + 1;
  }
  const view = { rows: out.subarray(0, k), collapsed };
  t.lastView = { collapse, show, view };
  return view;
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
