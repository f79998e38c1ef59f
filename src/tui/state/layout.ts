import { onTree, type Pane, type State } from './types.js';
import { stepsOf } from '../rows.js';

/** How many rows each pane shows (the components use the same numbers). */

export interface Layout {
  leftWidth: number;
  rightWidth: number;
  /** Content rows (inside the borders). */
  layersRows: number;
  detailsRows: number;
  summaryRows: number;
  filesRows: number;
  /** Full-width list screens (picker, container changes, help, search results). */
  bodyRows: number;
}

export function layout(s: Pick<State, 'width' | 'height' | 'analysis'> & Partial<Pick<State, 'emptySteps'>>): Layout {
  const width = Math.max(40, s.width);
  const height = Math.max(12, s.height);
  const leftWidth = Math.min(70, Math.max(34, Math.floor(width * 0.42)));
  const rightWidth = width - leftWidth;
  // Header and footer take one line each; each pane has 2 border lines.
  const body = height - 2;
  const filesRows = body - 2;
  // With the history's empty steps shown, the list has a row for each of them too.
  const steps = s.analysis && s.emptySteps ? stepsOf(s.analysis.image) : null;
  const layerCount = (s.analysis?.layers.length ?? 1) + (steps ? emptyCount(steps) : 0);
  const detailsRows = body >= 34 ? 8 : body >= 26 ? 7 : 6;
  const rest = body - 6 - detailsRows;
  const summaryMin = Math.max(SUMMARY_HEAD + 2, Math.floor(rest * 0.4));
  // Header line of the layer table counts as a row.
  const layersRows = Math.max(3, Math.min(layerCount + 1, rest - summaryMin));
  const summaryRows = rest - layersRows;
  return { leftWidth, rightWidth, layersRows, detailsRows, summaryRows, filesRows, bodyRows: body - 2 };
}

/** The focusable pane at a screen cell (0-based), for the mouse wheel: it scrolls what it points at. */
export function paneAt(s: State, x: number, y: number): Pane | null {
  if (!onTree(s) || s.help || s.showProblems || s.search) return null;
  const l = layout(s);
  if (x >= l.leftWidth) return 'files';
  const row = y - 1;
  if (row < 0) return null;
  if (row < l.layersRows + 2) return 'layers';
  if (row >= l.layersRows + 2 + l.detailsRows + 2) return 'summary';
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// the picker's image list
// ---------------------------------------------------------------------------------------------------------

/** Summary pane rows: fixed figures, then the largest hidden files (selectable). */
export const SUMMARY_HEAD = 3;

const empties = new WeakMap<object, number>();

/** How many steps made no layer (counted once per history: layout is asked at every key). */
function emptyCount(steps: readonly { layer: number | null }[]): number {
  let n = empties.get(steps);
  if (n === undefined) empties.set(steps, (n = steps.filter((x) => x.layer === null).length));
  return n;
}
