import type { ImageAnalysis } from '../../core/analysis/analyze.js';
import type { ContainerAnalysis } from '../../core/analysis/container.js';
import type { ContainerInfo, ImageInfo, Problem } from '../../core/model/types.js';
import { NO_COLLAPSE, type CollapseState, type SortOrder, type TreeMode } from '../file-tree.js';
import type { SearchResult } from '../search.js';
import { INITIAL_TABS, type ContainerTab, type ContainerTabsState, type LogsView, type MountInfo } from '../container-tabs.js';
import type { ViewerContent, ViewerSearch } from '../viewer.js';

/**
 * The whole UI state and the actions that change it. The one pure reducer is in reduce.ts; derived data (flat
 * trees, visible rows) is computed from the state by memoised pure functions (file-tree.ts), never stored twice.
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

export interface PathFilterState {
  /** Typing the expression in the prompt. */
  editing: boolean;
  query: string;
  /** The expression did not compile (the tree is then not filtered). */
  error: string | null;
}

/** The entry the file viewer or extract works on: a path as the tree shows it at a layer. */
export interface EntryRef {
  /** The analysis the tree belongs to (an image, a container's stack, a mount's tree). */
  analysis: ImageAnalysis;
  /** Layer path. */
  path: string;
  /** The layer whose merged view holds the version wanted. */
  layer: number;
  isDir: boolean;
  /** Why `layer` is not the selected one (a deleted entry: the version before its deletion). */
  note: string | null;
}

/** The file viewer (o, or Enter on a file): one version of one file, a bounded window of its bytes. */
export interface ViewerState {
  /** Matches the driver's answers to the request (a closed or replaced viewer ignores late ones). */
  seq: number;
  entry: EntryRef;
  status: 'loading' | 'ready' | 'error';
  message: string | null;
  /** The layer that wrote the version (its bytes are stored there), once known. */
  from: number | null;
  /** Size the layer records. */
  recorded: number | null;
  content: ViewerContent | null;
  /** Read through and hashed: its sha256 and size (null while hashing, or when reading failed). */
  sha256: string | null;
  size: number | null;
  /** Bytes hashed so far, while hashing. */
  hashed: number;
  hex: boolean;
  scroll: number;
  hscroll: number;
  search: ViewerSearch | null;
}

/** Extract from the TUI (x): the output directory typed in a prompt, then what was written. */
export interface ExtractState {
  seq: number;
  entry: EntryRef;
  status: 'prompt' | 'running' | 'done' | 'error';
  /** The directory as typed. */
  dir: string;
  /** What happened (already safe to print). */
  lines: string[];
}

/** Verify in place (V): the overlay mount check of the stack shown and the integrity of the layer shown. */
export interface VerifyState {
  seq: number;
  /** The tree it concerns (marks are shown on it only). */
  analysis: ImageAnalysis;
  layer: number;
  status: 'running' | 'done' | 'error';
  /** What runs now. */
  progress: string;
  /** The verdict and what differs (already safe to print). */
  lines: string[];
  ok: boolean;
  /** Layer path -> what differs there (the tree's ! mark). */
  marks: ReadonlyMap<string, string>;
  /** The popup is shown (Esc hides it; the marks stay). */
  open: boolean;
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
  want: Want | null;
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
  /** The image's config and its whole history (every step, full commands), over the screen. */
  config: boolean;
  configScroll: number;
  /** The layer list shows the history steps that made no layer (ENV, CMD...), greyed between the layers. */
  emptySteps: boolean;
  /** dive's ctrl+f: the tree keeps the paths matching a regular expression (and their dirs). */
  pathFilter: PathFilterState | null;
  /** How an image opens (the user's config file may change it): which layer, which tree, what is collapsed. */
  start: { layer: 'top' | 'base'; mode: TreeMode; collapse: CollapseState };
  /** Problems found in the evidence (source, then the open image or container): listed on demand. */
  sourceProblems: Problem[];
  showProblems: boolean;
  problemsScroll: number;
  viewer: ViewerState | null;
  extract: ExtractState | null;
  verify: VerifyState | null;
  /** Last request number given to the viewer or extract. */
  seq: number;
  quit: boolean;
  /** Exit code to return when quitting. */
  exitCode: number;
}

/**
 * What the reducer asks the driver for: analyse an image or a container, read a container's logs, size its
 * mounts, read one mount's tree (`index`: its row in the mounts tab).
 */
export type Want =
  | { kind: 'image' | 'container' | 'logs' | 'mounts'; id: string }
  | { kind: 'mountTree'; id: string; index: number }
  /** Read a file for the viewer; `viewStop`: stop reading (the viewer was closed). */
  | { kind: 'view'; seq: number; entry: EntryRef }
  | { kind: 'viewStop'; seq: number }
  /** Copy an entry out into a directory. */
  | { kind: 'extract'; seq: number; entry: EntryRef; dir: string }
  /** Verify the stack shown in place (a container's stack when `containerId`). */
  | { kind: 'verify'; seq: number; analysis: ImageAnalysis; layer: number; containerId: string | null };

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
  | { type: 'config'; open?: boolean }
  | { type: 'toggleEmptySteps' }
  | { type: 'setMode'; mode: TreeMode }
  | { type: 'filterOpen' }
  | { type: 'filterInput'; text: string }
  | { type: 'filterBackspace' }
  | { type: 'filterRun' }
  | { type: 'filterClear' }
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
  | { type: 'hscroll'; delta: number }
  | { type: 'mountsLoaded'; id: string; info: MountInfo[] }
  | { type: 'mountTreeReady'; id: string; index: number; analysis: ImageAnalysis }
  | { type: 'mountTreeFailed'; id: string; index: number; message: string }
  | { type: 'browseClose' }
  | { type: 'viewOpen' }
  | { type: 'viewerLoaded'; seq: number; from: number; recorded: number; content: ViewerContent }
  | { type: 'viewerHashed'; seq: number; hashed: number; sha256?: string; size?: number }
  | { type: 'viewerFailed'; seq: number; message: string }
  | { type: 'viewerToggleHex' }
  | { type: 'viewerSearchStep'; delta: number }
  | { type: 'viewerClose' }
  | { type: 'extractOpen' }
  | { type: 'extractInput'; text: string }
  | { type: 'extractBackspace' }
  | { type: 'extractRun' }
  | { type: 'extractDone'; seq: number; ok: boolean; lines: string[] }
  | { type: 'extractClose' }
  | { type: 'verifyRun' }
  | { type: 'verifyProgress'; seq: number; what: string }
  | { type: 'verifyDone'; seq: number; ok: boolean; lines: string[]; marks: ReadonlyMap<string, string>; failed?: boolean }
  | { type: 'verifyClose' };

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
    config: false,
    configScroll: 0,
    emptySteps: true,
    pathFilter: null,
    start: { layer: 'top', mode: 'aggregated', collapse: NO_COLLAPSE },
    sourceProblems: [],
    showProblems: false,
    problemsScroll: 0,
    viewer: null,
    extract: null,
    verify: null,
    seq: 0,
    quit: false,
    exitCode: 0,
  };
}


/** The screen shows the image view (layers, files, summary): an image, or a container's changes tab. */
export function onTree(s: Pick<State, 'screen' | 'tabs'>): boolean {
  return s.screen === 'image' || (s.screen === 'container' && (s.tabs.tab === 'changes' || (s.tabs.tab === 'mounts' && s.tabs.browse !== null)));
}

/** A mount's tree on the mounts tab: one plain directory, no layers (the files pane alone, without marks). */
export function browsing(s: Pick<State, 'screen' | 'tabs'>): boolean {
  return s.screen === 'container' && s.tabs.tab === 'mounts' && s.tabs.browse !== null;
}
