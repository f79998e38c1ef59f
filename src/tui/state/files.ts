import type { ImageAnalysis } from '../../core/analysis/analyze.js';
import { findIndex, hasFlatTree, pathOf, revealPath, rowOfIndex, type TreeMode } from '../file-tree.js';
import { currentView, listRows, scrollFor, clamp } from './lists.js';
import { DEFAULT_FILTERS, DEFER_FILES_OVER, type State } from './types.js';

/** The file pane: which tree is shown, where its cursor is, and building big trees after a frame. */

/** Select layer n, keeping the file cursor on the same path when the new tree has it. */
export function withLayer(s: State, layer: number, keepPath = true): State {
  const rows = listRows(s, 'layers');
  const path = keepPath ? cursorPath(s) : null;
  return showFiles({ ...s, layer, layerScroll: scrollFor(layer, s.layerScroll, rows) }, path);
}

/** The layer path under the file cursor, or null. */
export function cursorPath(s: State): string | null {
  if (s.filesPending) return s.pendingPath;
  const cv = currentView(s);
  if (!cv || cv.view.rows.length === 0) return null;
  const i = cv.view.rows[clamp(s.fileCursor, 0, cv.view.rows.length - 1)]!;
  return pathOf(cv.tree, i);
}

export function placeFileCursor(s: State, path: string | null): State {
  const cv = currentView(s);
  const n = cv?.view.rows.length ?? 0;
  let cursor = 0;
  if (cv && path !== null) {
    // The path itself, or its nearest ancestor present in this tree.
    for (let p = path; p !== ''; p = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '') {
      const i = findIndex(cv.tree, p);
      if (i >= 0) {
        cursor = rowOfIndex(cv.view, i);
        break;
      }
    }
  }
  cursor = n === 0 ? 0 : clamp(cursor, 0, n - 1);
  const rows = listRows(s, 'files');
  // Re-centre when the cursor jumped out of the window.
  let scroll = s.fileScroll;
  if (cursor < scroll || cursor >= scroll + rows) scroll = Math.max(0, cursor - Math.floor(rows / 2));
  scroll = clamp(scroll, 0, Math.max(0, n - rows));
  return { ...s, fileCursor: cursor, fileScroll: scroll };
}

export function refreshFiles(s: State, path: string | null): State {
  return placeFileCursor(s, path);
}

/** Entries the tree of (layer, mode) will hold, roughly (to decide whether to build it after a frame). */
export function treeEstimate(a: ImageAnalysis, layer: number, mode: TreeMode): number {
  if (mode === 'changes') return a.tables[layer]?.n ?? 0;
  let n = 0;
  for (let i = 0; i <= layer; i++) n += a.tables[i]?.n ?? 0;
  return n;
}

/**
 * Show the file tree of the state's (layer, mode, sort) with the cursor on `path`. A big tree not built yet is
 * left pending: the frame shows "indexing", and the App builds it a moment later (`filesReady`), unless another
 * layer is asked for first (holding a key in the layer list does not build every layer on the way).
 */
export function showFiles(s: State, path: string | null, delay = 120): State {
  if (s.analysis && !hasFlatTree(s.analysis, s.layer, s.mode, s.sort) && treeEstimate(s.analysis, s.layer, s.mode) > DEFER_FILES_OVER) {
    return { ...s, filesPending: true, pendingPath: path, pendingDelay: delay, fileCursor: 0, fileScroll: 0 };
  }
  return placeFileCursor({ ...s, filesPending: false, pendingPath: null }, path);
}


/** Show `path` in layer `layer`: select the layer, expand its ancestors, put the file cursor on it. */
export function reveal(s: State, layer: number, path: string, mode: TreeMode): State {
  if (!s.analysis) return s;
  const l = clamp(layer, 0, s.analysis.layers.length - 1);
  let next: State = { ...s, layer: l, layerScroll: scrollFor(l, s.layerScroll, listRows(s, 'layers')), mode, collapse: revealPath(s.collapse, path), focus: 'files' };
  // Make sure the entry is not filtered out.
  next = { ...next, filters: DEFAULT_FILTERS };
  return placeFileCursor(next, path);
}

