import type { ImageAnalysis } from '../core/analysis/analyze.js';
import { dedupe } from '../core/analysis/host.js';
import { containerStackAnalysis, type ContainerAnalysis } from '../core/analysis/container.js';
import type { ContainerInfo, ImageInfo, Problem } from '../core/model/types.js';
import {
  flatTree,
  findIndex,
  hasFlatTree,
  isCollapsed,
  NO_COLLAPSE,
  pathOf,
  revealPath,
  rowOfIndex,
  showMask,
  toggleCollapse,
  visibleView,
  type CollapseState,
  type FlatTree,
  type SortOrder,
  type TreeMode,
  type VisibleView,
} from './file-tree.js';
import { hitLayer, searchPaths, type SearchResult } from './search.js';
import { helpLines } from './keys.js';
import { containerInfoLines } from './rows.js';
import { INITIAL_TABS, searchLogs, stepTab, type ContainerTab, type ContainerTabsState, type LogsView } from './container-tabs.js';
import { inspectTabLines, mountRows } from './container-rows.js';

/**
 * The whole UI state, and the one pure reducer that changes it. Derived data (flat trees, visible rows) is
 * computed from the state by memoised pure functions (file-tree.ts), never stored twice.
 */

export type Screen = 'loading' | 'error' | 'picker' | 'image' | 'container';
export type Pane = 'layers' | 'files' | 'summary';
export const PANES: Pane[] = ['layers', 'files', 'summary'];

export interface Filters {
  added: boolean;
  removed: boolean;
  modified: boolean;
  unmodified: boolean;
}

export interface ImageStats {
  bytes: number;
  hiddenBytes: number;
  layers: number;
}

export interface ContainerStats {
  added: number;
  changed: number;
  deleted: number;
}

export interface LoadProgress {
  phase: string;
  done: number;
  total: number | null;
  detail?: string;
}

export interface SearchState {
  /** Typing the query in the prompt. */
  editing: boolean;
  query: string;
  regex: boolean;
  result: SearchResult | null;
  cursor: number;
}

export interface State {
  screen: Screen;
  width: number;
  height: number;
  /** What was opened (shown in the header). */
  location: string;
  note: string | null;
  progress: LoadProgress | null;
  error: string | null;
  /** What the source holds (picker). */
  images: ImageInfo[];
  containers: ContainerInfo[];
  imageStats: Record<string, ImageStats>;
  containerStats: Record<string, ContainerStats>;
  pickerCursor: number;
  /** Show intermediate images (untagged parents of tagged ones), as `docker images -a` does. */
  showAllImages: boolean;
  /**
   * A request for the driver (side effects live outside the reducer): analyse this image / container, read this
   * container's logs (the logs tab).
   */
  want: { kind: 'image' | 'container' | 'logs'; id: string } | null;
  analysis: ImageAnalysis | null;
  /**
   * The file pane waits one frame before building a large layer's index, so that the first frame (layers,
   * details, summary) appears at once; the App dispatches `filesReady` right after painting it.
   */
  filesPending: boolean;
  /** While pending: the path to put the file cursor on, and how long to wait (ms) before building. */
  pendingPath: string | null;
  pendingDelay: number;
  /**
   * The open container. On its screen, `analysis` is the container's stack seen as an image
   * (containerStackAnalysis), so that the changes tab is the image view.
   */
  container: ContainerAnalysis | null;
  /** The container screen's tab and what its other tabs keep. */
  tabs: ContainerTabsState;
  focus: Pane;
  layer: number;
  layerScroll: number;
  mode: TreeMode;
  sort: SortOrder;
  attrs: boolean;
  filters: Filters;
  collapse: CollapseState;
  fileCursor: number;
  fileScroll: number;
  summaryCursor: number;
  summaryScroll: number;
  containerCursor: number;
  containerScroll: number;
  search: SearchState | null;
  help: boolean;
  helpScroll: number;
  /** Problems found in the evidence (source, then the open image or container): listed on demand. */
  sourceProblems: Problem[];
  showProblems: boolean;
  problemsScroll: number;
  quit: boolean;
  /** Exit code to return when quitting. */
  exitCode: number;
}

export type Action =
  | { type: 'resize'; width: number; height: number }
  | { type: 'progress'; progress: LoadProgress | null }
  | { type: 'error'; message: string }
  | { type: 'sourceOpened'; location: string; images: ImageInfo[]; containers: ContainerInfo[]; note?: string | null; opening?: boolean; problems?: Problem[] }
  | { type: 'problems'; open?: boolean }
  | { type: 'toggleAllImages' }
  | { type: 'imageStats'; id: string; stats: ImageStats }
  | { type: 'containerStats'; id: string; stats: ContainerStats }
  | { type: 'imageReady'; analysis: ImageAnalysis }
  | { type: 'filesReady' }
  | { type: 'containerReady'; analysis: ContainerAnalysis }
  | { type: 'quit'; code?: number }
  | { type: 'move'; delta: number }
  | { type: 'page'; delta: number }
  | { type: 'edge'; to: 'start' | 'end' }
  | { type: 'focus'; delta: number }
  | { type: 'focusPane'; pane: Pane }
  | { type: 'layerStep'; delta: number }
  | { type: 'toggleMode' }
  | { type: 'toggleSort' }
  | { type: 'toggleAttrs' }
  | { type: 'toggleFilter'; kind: keyof Filters }
  | { type: 'toggleCollapse' }
  | { type: 'collapseAll' }
  | { type: 'collapseHere'; collapsed: boolean }
  | { type: 'select' }
  | { type: 'picker' }
  | { type: 'help'; open?: boolean }
  | { type: 'searchOpen' }
  | { type: 'searchInput'; text: string }
  | { type: 'searchBackspace' }
  | { type: 'searchToggleRegex' }
  | { type: 'searchRun' }
  | { type: 'searchClose' }
  | { type: 'reveal'; layer: number; path: string; mode?: TreeMode }
  | { type: 'containerTab'; tab?: ContainerTab; delta?: number }
  | { type: 'logsLoaded'; id: string; logs: LogsView }
  | { type: 'logSearchStep'; delta: number }
  | { type: 'hscroll'; delta: number };

/** Layers with more entries than this get their file index built after the first frame. */
export const DEFER_FILES_OVER = 50_000;

export const DEFAULT_FILTERS: Filters = Object.freeze({ added: true, removed: true, modified: true, unmodified: true });

export function initialState(width = 80, height = 24, location = ''): State {
  return {
    screen: 'loading',
    width,
    height,
    location,
    note: null,
    progress: null,
    error: null,
    images: [],
    containers: [],
    imageStats: {},
    containerStats: {},
    pickerCursor: 0,
    showAllImages: false,
    want: null,
    analysis: null,
    filesPending: false,
    pendingPath: null,
    pendingDelay: 0,
    container: null,
    tabs: INITIAL_TABS,
    focus: 'layers',
    layer: 0,
    layerScroll: 0,
    mode: 'changes',
    sort: 'name',
    attrs: true,
    filters: DEFAULT_FILTERS,
    collapse: NO_COLLAPSE,
    fileCursor: 0,
    fileScroll: 0,
    summaryCursor: 0,
    summaryScroll: 0,
    containerCursor: 0,
    containerScroll: 0,
    search: null,
    help: false,
    helpScroll: 0,
    sourceProblems: [],
    showProblems: false,
    problemsScroll: 0,
    quit: false,
    exitCode: 0,
  };
}

/** A state showing one analysed image (tests, and the driver once analysis is done). */
export function imageState(a: ImageAnalysis, width = 80, height = 24, location = ''): State {
  return reduce({ ...initialState(width, height, location), images: [a.image] }, { type: 'imageReady', analysis: a });
}

// ---------------------------------------------------------------------------------------------------------
// layout: how many rows each pane shows (the components use the same numbers)
// ---------------------------------------------------------------------------------------------------------

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

export function layout(s: Pick<State, 'width' | 'height' | 'analysis'>): Layout {
  const width = Math.max(40, s.width);
  const height = Math.max(12, s.height);
  const leftWidth = Math.min(70, Math.max(34, Math.floor(width * 0.42)));
  const rightWidth = width - leftWidth;
  // Header and footer take one line each; each pane has 2 border lines.
  const body = height - 2;
  const filesRows = body - 2;
  const layerCount = s.analysis?.layers.length ?? 1;
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

const pickerCache = new WeakMap<ImageInfo[], { all: ImageInfo[]; shown: ImageInfo[] }>();

/**
 * The images the picker lists: tagged ones first (by name), then untagged ones; without `showAllImages`,
 * untagged images whose top layer is a layer of a tagged image (the builder's intermediate images) are left
 * out, as `docker images` leaves them out without -a.
 */
export function pickerImages(s: Pick<State, 'images' | 'showAllImages'>): ImageInfo[] {
  let c = pickerCache.get(s.images);
  if (!c) {
    const name = (i: ImageInfo) => i.tags[0] ?? i.digests[0] ?? '';
    const all = [...s.images].sort((a, b) => Number(!a.tags.length) - Number(!b.tags.length) || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
    const underTagged = new Set<string>();
    for (const img of s.images) if (img.tags.length || img.digests.length) for (const l of img.layers) underTagged.add(l.chainId);
    const shown = all.filter((i) => i.tags.length || i.digests.length || i.layers.length === 0 || !underTagged.has(i.layers[i.layers.length - 1]!.chainId));
    c = { all, shown };
    pickerCache.set(s.images, c);
  }
  return s.showAllImages ? c.all : c.shown;
}

/** The screen shows the image view (layers, files, summary): an image, or a container's changes tab. */
export function onTree(s: Pick<State, 'screen' | 'tabs'>): boolean {
  return s.screen === 'image' || (s.screen === 'container' && s.tabs.tab === 'changes');
}

// ---------------------------------------------------------------------------------------------------------
// derived views
// ---------------------------------------------------------------------------------------------------------

export function currentTree(s: State): FlatTree | null {
  if (!s.analysis) return null;
  return flatTree(s.analysis, s.layer, s.mode, s.sort);
}

export function currentView(s: State): { tree: FlatTree; view: VisibleView } | null {
  const tree = currentTree(s);
  if (!tree) return null;
  return { tree, view: visibleView(tree, s.collapse, showMask(s.filters)) };
}

/** Summary pane rows: fixed figures, then the largest hidden files (selectable). */
export const SUMMARY_HEAD = 3;

function listLength(s: State, pane: ListName): number {
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
    case 'problems':
      return currentProblems(s).length;
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

function clamp(x: number, lo: number, hi: number): number {
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

type ListName = 'layers' | 'files' | 'summary' | 'picker' | 'container' | 'inspect' | 'mounts' | 'logs' | 'search' | 'help' | 'problems';

/** Which list the cursor keys move right now. */
export function activeList(s: State): ListName | null {
  if (s.help) return 'help';
  if (s.showProblems) return 'problems';
  if (s.search && !s.search.editing && s.search.result) return 'search';
  if (s.screen === 'picker') return 'picker';
  if (onTree(s)) return s.focus;
  if (s.screen === 'container') return s.tabs.tab === 'diff' ? 'container' : (s.tabs.tab as 'inspect' | 'mounts' | 'logs');
  return null;
}

function listRows(s: State, list: ListName): number {
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
    case 'problems':
      return l.bodyRows;
  }
}

function getCursor(s: State, list: ListName): [number, number] {
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
    case 'problems':
      return [s.problemsScroll, s.problemsScroll];
  }
}

function setCursor(s: State, list: ListName, cursor: number): State {
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
    case 'problems':
      return { ...s, problemsScroll: c };
  }
}

/** Select layer n, keeping the file cursor on the same path when the new tree has it. */
function withLayer(s: State, layer: number, keepPath = true): State {
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

function placeFileCursor(s: State, path: string | null): State {
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

function refreshFiles(s: State, path: string | null): State {
  return placeFileCursor(s, path);
}

/** Entries the tree of (layer, mode) will hold, roughly (to decide whether to build it after a frame). */
function treeEstimate(a: ImageAnalysis, layer: number, mode: TreeMode): number {
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
function showFiles(s: State, path: string | null, delay = 120): State {
  if (s.analysis && !hasFlatTree(s.analysis, s.layer, s.mode, s.sort) && treeEstimate(s.analysis, s.layer, s.mode) > DEFER_FILES_OVER) {
    return { ...s, filesPending: true, pendingPath: path, pendingDelay: delay, fileCursor: 0, fileScroll: 0 };
  }
  return placeFileCursor({ ...s, filesPending: false, pendingPath: null }, path);
}

/** Actions that need the file tree itself: a pending tree is built first. */
const NEEDS_FILES = new Set<Action['type']>(['toggleCollapse', 'collapseHere', 'collapseAll', 'toggleFilter', 'move', 'page', 'edge', 'select', 'searchOpen']);

export function reduce(s0: State, a: Action): State {
  let s = s0;
  if (s.filesPending && NEEDS_FILES.has(a.type) && (a.type !== 'move' && a.type !== 'page' && a.type !== 'edge' ? true : activeList(s) === 'files')) {
    s = placeFileCursor({ ...s, filesPending: false, pendingPath: null }, s.pendingPath);
  }
  switch (a.type) {
    case 'resize': {
      const next = { ...s, width: a.width, height: a.height };
      if (s.filesPending) return next;
      return refreshFiles(next, cursorPath(s));
    }
    case 'progress':
      return { ...s, progress: a.progress };
    case 'error':
      return { ...s, screen: 'error', error: a.message, progress: null, want: null, exitCode: 3 };
    case 'sourceOpened':
      return { ...s, sourceProblems: a.problems ?? s.sourceProblems, location: a.location, images: a.images, containers: a.containers, note: a.note ?? s.note, screen: s.screen === 'loading' && !a.opening ? 'picker' : s.screen, progress: a.opening ? s.progress : null };
    case 'imageStats':
      return { ...s, imageStats: { ...s.imageStats, [a.id]: a.stats } };
    case 'containerStats':
      return { ...s, containerStats: { ...s.containerStats, [a.id]: a.stats } };
    case 'imageReady': {
      const next: State = {
        ...s,
        screen: 'image',
        want: null,
        progress: null,
        analysis: a.analysis,
        filesPending: false,
        container: null,
        layer: 0,
        layerScroll: 0,
        fileCursor: 0,
        fileScroll: 0,
        summaryCursor: 0,
        summaryScroll: 0,
        collapse: NO_COLLAPSE,
        search: null,
        focus: 'layers',
      };
      return showFiles(next, null, 0);
    }
    case 'filesReady':
      return s.filesPending ? placeFileCursor({ ...s, filesPending: false, pendingPath: null }, s.pendingPath) : s;
    case 'containerReady':
      return openContainer(s, a.analysis);
    case 'quit':
      return { ...s, quit: true, exitCode: a.code ?? s.exitCode };
    case 'move':
    case 'page':
    case 'edge': {
      const list = activeList(s);
      if (!list) return s;
      const [cur] = getCursor(s, list);
      const rows = listRows(s, list);
      const n = listLength(s, list);
      const target = a.type === 'move' ? cur + a.delta : a.type === 'page' ? cur + a.delta * Math.max(1, rows - 1) : a.to === 'start' ? 0 : n - 1;
      return setCursor(s, list, target);
    }
    case 'focus': {
      if (!onTree(s) || s.help) return s;
      const i = PANES.indexOf(s.focus);
      return { ...s, focus: PANES[(i + a.delta + PANES.length) % PANES.length]! };
    }
    case 'focusPane':
      return onTree(s) ? { ...s, focus: a.pane } : s;
    case 'layerStep':
      if (!onTree(s) || !s.analysis) return s;
      return withLayer(s, clamp(s.layer + a.delta, 0, s.analysis.layers.length - 1));
    case 'toggleMode':
      if (!onTree(s)) return s;
      return showFiles({ ...s, mode: s.mode === 'changes' ? 'aggregated' : 'changes' }, cursorPath(s));
    case 'toggleSort':
      if (!onTree(s)) return s;
      return showFiles({ ...s, sort: s.sort === 'name' ? 'size' : 'name' }, cursorPath(s));
    case 'toggleAttrs':
      return { ...s, attrs: !s.attrs };
    case 'toggleFilter': {
      if (!onTree(s)) return s;
      return refreshFiles({ ...s, filters: { ...s.filters, [a.kind]: !s.filters[a.kind] } }, cursorPath(s));
    }
    case 'toggleCollapse':
    case 'collapseHere': {
      const cv = currentView(s);
      if (!cv || cv.view.rows.length === 0) return s;
      const i = cv.view.rows[s.fileCursor]!;
      let path = pathOf(cv.tree, i);
      if (!cv.tree.isDir[i]) {
        // On a file, "collapse" (left/h) closes its parent dir and moves there.
        if (a.type !== 'collapseHere' || a.collapsed === false) return s;
        const slash = path.lastIndexOf('/');
        if (slash < 0) return s;
        path = path.slice(0, slash);
      }
      const want = a.type === 'toggleCollapse' ? !isCollapsed(s.collapse, path) : a.collapsed;
      if (want === isCollapsed(s.collapse, path)) {
        // Already so: left on a collapsed dir goes to its parent.
        if (a.type === 'collapseHere' && want) {
          const slash = path.lastIndexOf('/');
          return slash < 0 ? s : refreshFiles(s, path.slice(0, slash));
        }
        return s;
      }
      return refreshFiles({ ...s, collapse: toggleCollapse(s.collapse, path) }, path);
    }
    case 'collapseAll': {
      if (!onTree(s)) return s;
      // Collapse all when anything is expanded, else expand all.
      const next: CollapseState = s.collapse.all && s.collapse.paths.size === 0 ? NO_COLLAPSE : { all: true, paths: new Set() };
      const path = cursorPath(s);
      return refreshFiles({ ...s, collapse: next }, path === null ? null : path.split('/')[0]!);
    }
    case 'select':
      return select(s);
    case 'toggleAllImages': {
      const cur = pickerImages(s)[s.pickerCursor];
      const next = { ...s, showAllImages: !s.showAllImages };
      const i = cur ? pickerImages(next).indexOf(cur) : -1;
      return { ...next, pickerCursor: i >= 0 ? i : 0 };
    }
    case 'picker':
      if (s.images.length + s.containers.length <= 1 || s.help) return s;
      return { ...s, screen: 'picker', search: null, want: null };
    case 'help':
      return { ...s, help: a.open ?? !s.help, helpScroll: 0 };
    case 'problems':
      return { ...s, showProblems: a.open ?? !s.showProblems, problemsScroll: 0 };
    case 'searchOpen':
      if (!onTree(s) && !(s.screen === 'container' && s.tabs.tab === 'logs' && s.tabs.logs?.status === 'ready')) return s;
      return { ...s, search: { editing: true, query: s.search?.query ?? '', regex: s.search?.regex ?? false, result: null, cursor: 0 } };
    case 'searchInput':
      return s.search?.editing ? { ...s, search: { ...s.search, query: s.search.query + a.text } } : s;
    case 'searchBackspace':
      return s.search?.editing ? { ...s, search: { ...s.search, query: [...s.search.query].slice(0, -1).join('') } } : s;
    case 'searchToggleRegex':
      return s.search?.editing ? { ...s, search: { ...s.search, regex: !s.search.regex } } : s;
    case 'searchRun': {
      if (!s.search) return s;
      if (s.search.query === '') return { ...s, search: null };
      if (!onTree(s)) return runLogSearch(s, s.search.query, s.search.regex);
      if (!s.analysis) return s;
      const result = searchPaths(s.analysis, s.search.query, s.search.regex);
      return { ...s, search: { ...s.search, editing: false, result, cursor: 0 } };
    }
    case 'searchClose':
      return { ...s, search: null };
    case 'reveal':
      return reveal(s, a.layer, a.path, a.mode ?? s.mode);
    case 'containerTab': {
      if (s.screen !== 'container' || !s.container || s.search?.editing) return s;
      const tab = a.tab ?? stepTab(s.tabs.tab, a.delta ?? 1);
      let next: State = { ...s, tabs: { ...s.tabs, tab, hscroll: 0 }, search: null };
      // The logs are read when their tab is first shown (a big log is not read for a look at the changes).
      if (tab === 'logs' && !s.tabs.logs) next = { ...next, tabs: { ...next.tabs, logs: LOGS_LOADING }, want: { kind: 'logs', id: s.container.container.id } };
      return next;
    }
    case 'logsLoaded': {
      if (s.container?.container.id !== a.id) return s;
      const next: State = { ...s, want: s.want?.kind === 'logs' ? null : s.want, tabs: { ...s.tabs, logs: a.logs } };
      // Newest last, as docker logs prints them: the tab opens at the end.
      return setCursor(next, 'logs', a.logs.lines.length);
    }
    case 'logSearchStep': {
      const q = s.tabs.logSearch;
      if (!q || !q.hits.length) return s;
      const hit = (q.hit + a.delta + q.hits.length) % q.hits.length;
      return showLogLine({ ...s, tabs: { ...s.tabs, logSearch: { ...q, hit } } }, q.hits[hit]!);
    }
    case 'hscroll':
      if (s.screen !== 'container' || onTree(s)) return s;
      return { ...s, tabs: { ...s.tabs, hscroll: Math.max(0, s.tabs.hscroll + a.delta) } };
  }
}

const LOGS_LOADING: LogsView = Object.freeze({ status: 'loading', driver: null, notes: [], lines: [], truncated: false, problems: [] }) as LogsView;

/** Lines above the log entries in the logs tab (its notes and problems, at most a few). */
export function logsHead(s: Pick<State, 'tabs'>): number {
  const l = s.tabs.logs;
  if (!l) return 1;
  return Math.min(l.notes.length, 3) + Math.min(l.problems.length, 2) + 1;
}

/** Search the logs tab and show the first hit. */
function runLogSearch(s: State, query: string, regex: boolean): State {
  const lines = s.tabs.logs?.lines ?? [];
  const q = searchLogs(lines, query, regex);
  const next: State = { ...s, search: null, tabs: { ...s.tabs, logSearch: q } };
  return q.hits.length ? showLogLine(next, q.hits[0]!) : next;
}

/** Scroll the logs tab so that line i is on screen (a third of the way down, for context above it). */
function showLogLine(s: State, i: number): State {
  const rows = listRows(s, 'logs');
  const top = s.tabs.scroll.logs;
  if (i >= top && i < top + rows) return s;
  return setCursor(s, 'logs', i - Math.floor(rows / 3));
}

/** Open a container's screen on its changes tab: the stack's RW layer, its changes, the files pane focused. */
function openContainer(s: State, ca: ContainerAnalysis): State {
  const stack = containerStackAnalysis(ca);
  const top = Math.max(0, stack.layers.length - 1);
  const base: State = {
    ...s,
    screen: 'container',
    want: null,
    progress: null,
    container: ca,
    tabs: INITIAL_TABS,
    containerCursor: 0,
    containerScroll: 0,
    search: null,
    analysis: stack,
    filesPending: false,
    mode: 'changes',
    collapse: NO_COLLAPSE,
    fileCursor: 0,
    fileScroll: 0,
    summaryCursor: 0,
    summaryScroll: 0,
    focus: 'files',
    layer: top,
  };
  const next = { ...base, layerScroll: scrollFor(top, 0, listRows(base, 'layers')) };
  return showFiles(next, null, 0);
}

/** Show `path` in layer `layer`: select the layer, expand its ancestors, put the file cursor on it. */
function reveal(s: State, layer: number, path: string, mode: TreeMode): State {
  if (!s.analysis) return s;
  const l = clamp(layer, 0, s.analysis.layers.length - 1);
  let next: State = { ...s, layer: l, layerScroll: scrollFor(l, s.layerScroll, listRows(s, 'layers')), mode, collapse: revealPath(s.collapse, path), focus: 'files' };
  // Make sure the entry is not filtered out.
  next = { ...next, filters: DEFAULT_FILTERS };
  return placeFileCursor(next, path);
}

function select(s: State): State {
  if (s.help) return { ...s, help: false };
  if (s.search && !s.search.editing && s.search.result) {
    const hit = s.search.result.hits[s.search.cursor];
    if (!hit) return s;
    return reveal({ ...s, search: null }, hitLayer(hit), hit.path, 'aggregated');
  }
  switch (s.screen) {
    case 'picker': {
      const c = s.pickerCursor;
      const images = pickerImages(s);
      if (c < images.length) {
        const img = images[c]!;
        if (s.analysis?.image.id === img.id) return { ...s, screen: 'image' };
        return { ...s, screen: 'loading', progress: null, want: { kind: 'image', id: img.id } };
      }
      const ct = s.containers[c - images.length];
      if (!ct) return s;
      if (s.container?.container.id === ct.id) {
        // Back to the container as it was left, unless an image was opened since (its view replaced the stack).
        if (s.analysis === containerStackAnalysis(s.container)) return { ...s, screen: 'container' };
        return { ...openContainer(s, s.container), tabs: s.tabs };
      }
      return { ...s, screen: 'loading', progress: null, want: { kind: 'container', id: ct.id } };
    }
    case 'image':
    case 'container':
      if (!onTree(s)) return s;
      if (s.focus === 'layers') return { ...s, focus: 'files' };
      if (s.focus === 'files') return reduce(s, { type: 'toggleCollapse' });
      if (s.focus === 'summary' && s.analysis) {
        const h = s.analysis.hidden[s.summaryCursor];
        if (!h) return s;
        return reveal(s, h.layer, h.path, 'changes');
      }
      return s;
    default:
      return s;
  }
}
