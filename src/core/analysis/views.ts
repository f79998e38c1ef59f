import type { Attrs } from '../model/types.js';
import type { ImageAnalysis } from './analyze.js';
import type { ChangeKind, EndReason, LayerStack, PathNode, Version } from './stack.js';

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
export function layerChangeRows(a: ImageAnalysis, layer: number): ChangeRow[] {
  const rows: ChangeRow[] = [];
  const hiddenByDeletion = new Map<string, number>();
  for (const h of a.stack.hidden) {
    if (h.by !== layer || h.reason !== 'deleted') continue;
    hiddenByDeletion.set(h.path, (hiddenByDeletion.get(h.path) ?? 0) + h.bytes);
  }
  for (const e of a.changes[layer]?.entries ?? []) {
    const node = a.stack.lookup(e.path);
    if (!node) continue;
    for (const v of node.versions) {
      if (v.layer !== layer || (v.kind === 'whiteout') !== (e.kind === 'whiteout')) continue;
      rows.push(rowOf(e.path, v, v.kind === 'whiteout' ? subtreeSum(hiddenByDeletion, e.path) : 0));
    }
  }
  return rows;
}

function rowOf(path: string, v: Version, deletedBytes: number): ChangeRow {
  const row: ChangeRow = {
    path,
    change: v.change,
    attrs: v.attrs,
    opaque: v.opaque,
    deletedAttrs: v.deleted?.attrs ?? null,
    deletedLayer: v.deleted?.layer ?? null,
    deletedBytes,
    hiddenBy: v.until === Infinity ? null : v.until,
    hiddenReason: v.endReason,
  };
  if (v.redirect !== undefined) row.redirect = v.redirect;
  if (v.metacopy) row.metacopy = true;
  return row;
}

function subtreeSum(m: Map<string, number>, root: string): number {
  let sum = 0;
  for (const [p, b] of m) if (p === root || p.startsWith(root + '/')) sum += b;
  return sum;
}

/** One entry of the merged view at a layer (the `files` command, the TUI's aggregated tree). */
export interface MergedRow {
  path: string;
  attrs: Attrs;
  /** The layer whose version is visible. */
  layer: number;
}

/**
 * The merged filesystem after layer N (default: the top), in walk order: the whole image, or only what lies
 * below `under` (a layer path; its own row first) when given.
 */
export function mergedRows(stack: LayerStack, layer = stack.layerCount - 1, under = ''): MergedRow[] {
  const rows: MergedRow[] = [];
  const walk = (node: PathNode): void => {
    if (!node.children) return;
    for (const name of [...node.children.keys()].sort()) {
      const child = node.children.get(name)!;
      const v = child.versionAt(layer);
      if (!v) continue;
      rows.push({ path: child.path, attrs: v.attrs!, layer: v.layer });
      if (v.attrs!.type === 'dir') walk(child);
    }
  };
  if (under === '') {
    walk(stack.root);
    return rows;
  }
  const node = stack.lookup(under);
  const v = node?.versionAt(layer);
  if (!node || !v) return rows;
  rows.push({ path: under, attrs: v.attrs!, layer: v.layer });
  if (v.attrs!.type === 'dir') walk(node);
  return rows;
}
