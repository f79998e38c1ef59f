import type { ImageAnalysis } from '../core/analysis/analyze.js';
import type { PathNode, Version } from '../core/analysis/stack.js';
import { layerChangeRows, type ChangeRow } from '../core/analysis/views.js';
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
  /** changes mode: the layer's own change row (null for a parent dir shown only as context). */
  row: (ChangeRow | null)[];
  /** One-entry cache of the last derived view (see visibleView). */
  lastView?: { collapse: CollapseState; show: number; view: VisibleView };
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

class Builder {
  names: string[] = [];
  depth: number[] = [];
  end: number[] = [];
  change: number[] = [];
  isDir: number[] = [];
  size: number[] = [];
  node: PathNode[] = [];
  row: (ChangeRow | null)[] = [];
  push(node: PathNode, depth: number, change: number, dir: boolean, size: number, row: ChangeRow | null): number {
    const i = this.names.length;
    this.names.push(node.name);
    this.depth.push(depth);
    this.end.push(i + 1);
    this.change.push(change);
    this.isDir.push(dir ? 1 : 0);
    this.size.push(size);
    this.node.push(node);
    this.row.push(row);
    return i;
  }
  finish(layer: number, mode: TreeMode): FlatTree {
    const n = this.names.length;
    const t: FlatTree = {
      layer,
      mode,
      sort: 'name',
      n,
      names: this.names,
      depth: Uint16Array.from(this.depth),
      end: Int32Array.from(this.end),
      change: Uint8Array.from(this.change),
      isDir: Uint8Array.from(this.isDir),
      size: Float64Array.from(this.size),
      subMask: new Uint8Array(n),
      node: this.node,
      row: this.row,
    };
    // Post-order pass (children come after their parent: walk backwards): dir sums and kind masks.
    for (let i = n - 1; i >= 0; i--) {
      t.subMask[i] |= 1 << t.change[i]!;
      if (t.isDir[i]) {
        let sum = t.change[i] === DELETED && t.end[i] === i + 1 ? t.size[i]! : 0;
        for (let j = i + 1; j < t.end[i]!; j = t.end[j]!) {
          sum += t.size[j]!;
          t.subMask[i] |= t.subMask[j]!;
        }
        t.size[i] = sum;
      }
    }
    return t;
  }
}

function changeCode(c: ChangeRow['change']): number {
  return c === 'added' ? ADDED : c === 'modified' ? MODIFIED : DELETED;
}

/** The changes layer N made, as a tree (parents it did not change are shown as context, unmodified). */
export function buildChangesTree(a: ImageAnalysis, layer: number): FlatTree {
  const b = new Builder();
  const rows = layerChangeRows(a, layer);
  // Rows come in walk order (parents before children, siblings by name bytes): one stack of open dirs.
  const open: { path: string; index: number }[] = [];
  const closeTo = (path: string) => {
    while (open.length && !isWithin(path, open[open.length - 1]!.path)) {
      const o = open.pop()!;
      b.end[o.index] = b.names.length;
    }
  };
  for (const r of rows) {
    const node = a.stack.lookup(r.path);
    if (!node) continue;
    closeTo(r.path);
    // Missing ancestors between the innermost open dir and this entry.
    const top = open.length ? open[open.length - 1]!.path : '';
    const missing: PathNode[] = [];
    for (let p = node.parent; p && p.parent && p.path !== top; p = p.parent) missing.push(p);
    for (let k = missing.length - 1; k >= 0; k--) {
      const p = missing[k]!;
      const i = b.push(p, open.length, UNMODIFIED, true, 0, null);
      open.push({ path: p.path, index: i });
    }
    const dir = r.change === 'deleted' ? r.deletedAttrs?.type === 'dir' : r.attrs?.type === 'dir';
    const size = r.change === 'deleted' ? r.deletedBytes : r.attrs?.type === 'file' && !r.metacopy ? r.attrs.size : 0;
    const i = b.push(node, open.length, changeCode(r.change), dir, size, r);
    if (dir && r.change !== 'deleted') open.push({ path: r.path, index: i });
  }
  closeTo('\0');
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
  const b = new Builder();
  const walk = (parent: PathNode, depth: number, removing: boolean): void => {
    if (!parent.children) return;
    const names = [...parent.children.keys()].sort();
    for (const name of names) {
      const child = parent.children.get(name)!;
      const v = removing ? null : child.versionAt(layer);
      if (v) {
        const change = v.layer === layer ? (v.change === 'modified' ? MODIFIED : ADDED) : UNMODIFIED;
        const dir = v.attrs!.type === 'dir';
        const i = b.push(child, depth, change, dir, v.attrs!.type === 'file' && !v.metacopy ? v.attrs!.size : 0, null);
        if (dir) {
          walk(child, depth + 1, false);
          b.end[i] = b.names.length;
        }
        continue;
      }
      const gone = removedAt(child, layer);
      if (!gone) continue;
      const dir = gone.attrs!.type === 'dir';
      const i = b.push(child, depth, DELETED, dir, gone.attrs!.type === 'file' && !gone.metacopy ? gone.attrs!.size : 0, null);
      if (dir) {
        walk(child, depth + 1, true);
        b.end[i] = b.names.length;
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
    row: new Array(n),
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
    out.row[i] = t.row[j]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// cache
// ---------------------------------------------------------------------------------------------------------

const cache = new WeakMap<ImageAnalysis, Map<string, FlatTree>>();

/** The flat tree of (layer, mode, sort), built on first use and kept for the analysis' lifetime. */
export function flatTree(a: ImageAnalysis, layer: number, mode: TreeMode, sort: SortOrder): FlatTree {
  let m = cache.get(a);
  if (!m) cache.set(a, (m = new Map()));
  const key = `${layer}:${mode}:${sort}`;
  let t = m.get(key);
  if (!t) {
    if (sort === 'size') t = sortBySize(flatTree(a, layer, mode, 'name'));
    else t = mode === 'changes' ? buildChangesTree(a, layer) : buildAggregatedTree(a, layer);
    m.set(key, t);
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
  const collapsed = new Uint8Array(t.n);
  if (collapse.all) for (let i = 0; i < t.n; i++) collapsed[i] = t.isDir[i]!;
  for (const p of collapse.paths) {
    const i = findIndex(t, p);
    if (i >= 0 && t.isDir[i]) collapsed[i] = collapse.all ? 0 : 1;
  }
  const out = new Int32Array(t.n);
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
