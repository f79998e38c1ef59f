import { containerStackAnalysis, type ContainerAnalysis } from '../../core/analysis/container.js';
import { NO_COLLAPSE } from '../file-tree.js';
import { INITIAL_TABS, searchLogs, stepTab, type LogsView } from '../container-tabs.js';
import { listRows, scrollFor, setCursor } from './lists.js';
import { showFiles } from './files.js';
import { DEFAULT_FILTERS, onTree, type Action, type State } from './types.js';
import { mountRows } from '../container-rows.js';
import { safeText } from '../../report/format.js';

/** The container screen: opening it on its changes tab, switching tabs, the logs tab's loading and search. */

type ContainerAction = Extract<Action, { type: 'containerTab' | 'logsLoaded' | 'logSearchStep' | 'hscroll' | 'mountsLoaded' | 'mountTreeReady' | 'mountTreeFailed' | 'browseClose' }>;

export function containerAction(s: State, a: ContainerAction): State {
  switch (a.type) {
    case 'containerTab': {
      if (s.screen !== 'container' || !s.container || s.search?.editing) return s;
      const tab = a.tab ?? stepTab(s.tabs.tab, a.delta ?? 1);
      // A mount's tree borrowed the tree state: the changes tab gets its own back.
      const from = s.tabs.browse ? closeBrowse(s) : s;
      let next: State = { ...from, tabs: { ...from.tabs, tab, hscroll: 0 }, search: null };
      const id = s.container.container.id;
      // The logs are read when their tab is first shown (a big log is not read for a look at the changes), and
      // mounts sized then too (sizing walks the volumes).
      if (tab === 'logs' && !s.tabs.logs) next = { ...next, tabs: { ...next.tabs, logs: LOGS_LOADING }, want: { kind: 'logs', id } };
      if (tab === 'mounts' && !s.tabs.mountInfo) next = { ...next, want: { kind: 'mounts', id } };
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
    case 'mountsLoaded':
      if (s.container?.container.id !== a.id) return s;
      return { ...s, want: s.want?.kind === 'mounts' ? null : s.want, tabs: { ...s.tabs, mountInfo: a.info } };
    case 'mountTreeReady': {
      if (s.container?.container.id !== a.id || s.tabs.tab !== 'mounts' || s.tabs.browse) return { ...s, want: null };
      const m = mountRows(s.container.container)[a.index];
      const label = m ? `${m.type === 'volume' ? `volume ${safeText(m.name ?? '')}` : `bind ${safeText(m.source)}`} at ${safeText(m.destination)}` : 'mount';
      const saved: SavedTree = { analysis: s.analysis, layer: s.layer, layerScroll: s.layerScroll, mode: s.mode, sort: s.sort, collapse: s.collapse, filters: s.filters, fileCursor: s.fileCursor, fileScroll: s.fileScroll, focus: s.focus };
      savedTrees.set(a.analysis, saved);
      const next: State = { ...s, want: null, analysis: a.analysis, layer: 0, layerScroll: 0, mode: 'aggregated', collapse: NO_COLLAPSE, filters: DEFAULT_FILTERS, fileCursor: 0, fileScroll: 0, focus: 'files', search: null, tabs: { ...s.tabs, browse: { index: a.index, label } } };
      return showFiles(next, null, 0);
    }
    case 'mountTreeFailed': {
      if (s.container?.container.id !== a.id || !s.tabs.mountInfo) return { ...s, want: null };
      const info = s.tabs.mountInfo.map((m, i) => (i === a.index ? { ...m, browsable: false, note: a.message } : m));
      return { ...s, want: null, tabs: { ...s.tabs, mountInfo: info } };
    }
    case 'browseClose':
      return s.tabs.browse ? closeBrowse(s) : s;
  }
}

/** The changes tab's tree state, kept while a mount's tree borrows the tree fields (keyed by the mount's tree). */
type SavedTree = Pick<State, 'analysis' | 'layer' | 'layerScroll' | 'mode' | 'sort' | 'collapse' | 'filters' | 'fileCursor' | 'fileScroll' | 'focus'>;
const savedTrees = new WeakMap<object, SavedTree>();

function closeBrowse(s: State): State {
  const saved = s.analysis ? savedTrees.get(s.analysis) : undefined;
  const back: State = { ...s, search: null, tabs: { ...s.tabs, browse: null } };
  if (saved) return { ...back, ...saved, filesPending: false };
  return s.container ? { ...openContainer(back, s.container), tabs: back.tabs } : back;
}

/** Ask the driver for the tree of the mount under the cursor (when it has one we can read). */
export function browseMount(s: State): State {
  if (s.screen !== 'container' || !s.container || s.tabs.tab !== 'mounts' || s.tabs.browse) return s;
  const i = s.tabs.mountsCursor;
  if (!s.tabs.mountInfo?.[i]?.browsable) return s;
  return { ...s, want: { kind: 'mountTree', id: s.container.container.id, index: i } };
}

const LOGS_LOADING: LogsView = Object.freeze({ status: 'loading', driver: null, notes: [], lines: [], truncated: false, problems: [] }) as LogsView;

/** Lines above the log entries in the logs tab (its notes and problems, at most a few). */
export function logsHead(s: Pick<State, 'tabs'>): number {
  const l = s.tabs.logs;
  if (!l) return 1;
  return Math.min(l.notes.length, 3) + Math.min(l.problems.length, 2) + 1;
}

/** Search the logs tab and show the first hit. */
export function runLogSearch(s: State, query: string, regex: boolean): State {
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
export function openContainer(s: State, ca: ContainerAnalysis): State {
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

