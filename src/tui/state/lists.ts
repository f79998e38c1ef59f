import { userRegExp } from '../regex.js';
import { dedupe } from '../../core/analysis/host.js';
import type { Problem } from '../../core/model/types.js';
import { flatTree, showMask, visibleView, type FlatTree, type PathFilter, type VisibleView } from '../file-tree.js';
import { helpLines } from '../keys.js';
import { containerInfoLines } from '../rows.js';
import { inspectTabLines, mountRows } from '../container-rows.js';
import { imageConfigLines } from '../rows.js';
import { layout, SUMMARY_HEAD } from './layout.js';
import { pickerImages } from './picker.js';
import { onTree, type State } from './types.js';
import { withLayer } from './files.js';
import { logsHead } from './container.js';
import { rowCount } from '../viewer.js';

/** Lines above the content in the viewer (its header: what the file is, its hash, what is shown). */
const VIEWER_HEAD = 3;

/**
 * The lists the cursor keys move (layers, files, summary, picker, the container tabs, search hits, help,
 * problems): which one is active, how long it is, how many rows it shows, and where its cursor is.
 */

export function currentTree(s: State): FlatTree | null {
  if (!s.analysis) return null;
  return flatTree(s.analysis, s.layer, s.mode, s.sort);
}

export function currentView(s: State): { tree: FlatTree; view: VisibleView } | null {
  const tree = currentTree(s);
  if (!tree) return null;
  return { tree, view: visibleView(tree, s.collapse, showMask(s.filters), pathFilterOf(s)) };
}

export function listLength(s: State, pane: ListName): number {
  switch (pane) {
    case 'layers':
      return s.analysis?.layers.length ?? 0;
    case 'files':
      return s.filesPending ? 0 : (currentView(s)?.view.rows.length ?? 0);
    case 'summary':
      return s.analysis?.hidden.length ?? 0;
    case 'picker':
      return pickerImages(s).length + s.containers.length;
    case 'container':
      return s.container?.changes.length ?? 0;
    case 'inspect':
      // Scroll positions: the last one shows the end.
      return s.container ? Math.max(1, inspectTabLines(s.container).length - listRows(s, 'inspect') + 1) : 0;
    case 'mounts':
      return s.container ? mountRows(s.container.container).length : 0;
    case 'logs':
      return Math.max(1, (s.tabs.logs?.lines.length ?? 0) - listRows(s, 'logs') + 1);
    case 'search':
      return s.search?.result?.hits.length ?? 0;
    case 'help':
      // Scroll positions: the last one shows the end of the help.
      return Math.max(1, helpLines().length - layout(s).bodyRows + 1);
    case 'config':
      return Math.max(1, configTabLines(s).length - layout(s).bodyRows + 1);
    case 'problems':
      return currentProblems(s).length;
    case 'viewer':
      // Scroll positions: the last one shows the end of the window.
      return s.viewer?.content ? Math.max(1, rowCount(s.viewer.content, s.viewer.hex) - listRows(s, 'viewer') + 1) : 0;
  }
}

/** Every problem that concerns what is on screen: the source's, then the open image's or container's. */
export function currentProblems(s: State): Problem[] {
  const own = s.screen === 'image' ? (s.analysis?.problems ?? []) : s.screen === 'container' ? (s.container?.problems ?? []) : [];
  // Each once and at most 1,000 of a code, as every command lists them; the same lists give the same answer, so
  // the last one is kept (asked for at every keypress on the problems screen).
  if (shown.source !== s.sourceProblems || shown.own !== own) shown = { source: s.sourceProblems, own, list: dedupe([...s.sourceProblems, ...own]) };
  return shown.list;
}
let shown: { source: readonly Problem[] | null; own: readonly Problem[] | null; list: Problem[] } = { source: null, own: null, list: [] };

export function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}

/** Keep `cursor` within [0, n) and the window [scroll, scroll + rows) around it. */
export function scrollFor(cursor: number, scroll: number, rows: number): number {
  if (rows <= 0) return 0;
  if (cursor < scroll) return cursor;
  if (cursor >= scroll + rows) return cursor - rows + 1;
  return scroll;
}

// ---------------------------------------------------------------------------------------------------------
// the reducer
// ---------------------------------------------------------------------------------------------------------

export type ListName = 'layers' | 'files' | 'summary' | 'picker' | 'container' | 'inspect' | 'mounts' | 'logs' | 'search' | 'help' | 'config' | 'problems' | 'viewer';

/** Which list the cursor keys move right now. */
export function activeList(s: State): ListName | null {
  if (s.help) return 'help';
  if (s.config) return 'config';
  if (s.showProblems) return 'problems';
  if (s.extract || s.verify?.open) return null;
  if (s.viewer) return 'viewer';
  if (s.search && !s.search.editing && s.search.result) return 'search';
  if (s.screen === 'picker') return 'picker';
  if (onTree(s)) return s.focus;
  if (s.screen === 'container') return s.tabs.tab === 'diff' ? 'container' : (s.tabs.tab as 'inspect' | 'mounts' | 'logs');
  return null;
}

export function listRows(s: State, list: ListName): number {
  const l = layout(s);
  switch (list) {
    case 'layers':
      return l.layersRows - 1;
    case 'files':
      return l.filesRows - 1;
    case 'summary':
      return Math.max(1, l.summaryRows - SUMMARY_HEAD);
    case 'picker':
      return l.bodyRows - 1;
    case 'container':
      // The info lines (name, state, risks...) and the column header sit above the changes.
      return Math.max(1, l.bodyRows - 1 - (s.container ? containerInfoLines(s.container).length : 0));
    case 'inspect':
      return l.bodyRows;
    case 'mounts':
      // The column header sits above the rows.
      return Math.max(1, l.bodyRows - 1);
    case 'logs':
      // The notes (driver, files, what was left out) sit above the entries.
      return Math.max(1, l.bodyRows - logsHead(s));
    case 'search':
      return l.filesRows - 1;
    case 'help':
    case 'config':
    case 'problems':
      return l.bodyRows;
    case 'viewer':
      return Math.max(1, l.bodyRows - VIEWER_HEAD);
  }
}

export function getCursor(s: State, list: ListName): [number, number] {
  switch (list) {
    case 'layers':
      return [s.layer, s.layerScroll];
    case 'files':
      return [s.fileCursor, s.fileScroll];
    case 'summary':
      return [s.summaryCursor, s.summaryScroll];
    case 'picker':
      return [s.pickerCursor, 0];
    case 'container':
      return [s.containerCursor, s.containerScroll];
    case 'inspect':
    case 'logs':
      return [s.tabs.scroll[list], s.tabs.scroll[list]];
    case 'mounts':
      return [s.tabs.mountsCursor, s.tabs.scroll.mounts];
    case 'search':
      return [s.search?.cursor ?? 0, 0];
    case 'help':
      return [s.helpScroll, s.helpScroll];
    case 'config':
      return [s.configScroll, s.configScroll];
    case 'problems':
      return [s.problemsScroll, s.problemsScroll];
    case 'viewer':
      return [s.viewer?.scroll ?? 0, s.viewer?.scroll ?? 0];
  }
}

export function setCursor(s: State, list: ListName, cursor: number): State {
  const n = listLength(s, list);
  const rows = listRows(s, list);
  const c = n === 0 ? 0 : clamp(cursor, 0, n - 1);
  switch (list) {
    case 'layers': {
      if (c === s.layer) return { ...s, layerScroll: scrollFor(c, s.layerScroll, rows) };
      return withLayer(s, c);
    }
    case 'files':
      return { ...s, fileCursor: c, fileScroll: scrollFor(c, s.fileScroll, rows) };
    case 'summary':
      return { ...s, summaryCursor: c, summaryScroll: scrollFor(c, s.summaryScroll, rows) };
    case 'picker':
      return { ...s, pickerCursor: c };
    case 'container':
      return { ...s, containerCursor: c, containerScroll: scrollFor(c, s.containerScroll, rows) };
    case 'inspect':
    case 'logs':
      return { ...s, tabs: { ...s.tabs, scroll: { ...s.tabs.scroll, [list]: c } } };
    case 'mounts':
      return { ...s, tabs: { ...s.tabs, mountsCursor: c, scroll: { ...s.tabs.scroll, mounts: scrollFor(c, s.tabs.scroll.mounts, rows) } } };
    case 'search':
      return s.search ? { ...s, search: { ...s.search, cursor: c } } : s;
    case 'help':
      return { ...s, helpScroll: c };
    case 'config':
      return { ...s, configScroll: c };
    case 'problems':
      return { ...s, problemsScroll: c };
    case 'viewer':
      return s.viewer ? { ...s, viewer: { ...s.viewer, scroll: c } } : s;
  }
}


/** The config overlay's lines for the open image (or container stack), at the screen's width. */
export function configTabLines(s: State): string[] {
  if (!s.analysis) return [];
  return imageConfigLines(s.analysis, s.layer, Math.max(40, s.width) - 4).map((l) => l.text);
}

/** Where the selected layer's step is in the config overlay (to open it there). */
export function configLineOfLayer(s: State): number {
  if (!s.analysis) return 0;
  const lines = imageConfigLines(s.analysis, s.layer, Math.max(40, s.width) - 4);
  const i = lines.findIndex((l) => l.selected);
  return i < 0 ? 0 : i;
}

const compiled = new Map<string, PathFilter | null>();

/** The applied path filter (none while it is typed, or when it does not compile), one compiled object per query. */
export function pathFilterOf(s: Pick<State, 'pathFilter'>): PathFilter | null {
  const f = s.pathFilter;
  if (!f || f.editing || f.query === '' || f.error) return null;
  if (!compiled.has(f.query)) {
    let re: RegExp | null = null;
    try {
      re = userRegExp(f.query);
    } catch {
      re = null;
    }
    if (compiled.size > 64) compiled.clear();
    compiled.set(f.query, re ? { key: f.query, test: (p) => re!.test(p) } : null);
  }
  return compiled.get(f.query) ?? null;
}
