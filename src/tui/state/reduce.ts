import { userRegExp } from '../regex.js';
import type { ImageAnalysis } from '../../core/analysis/analyze.js';
import { containerStackAnalysis } from '../../core/analysis/container.js';
import { isCollapsed, NO_COLLAPSE, pathOf, toggleCollapse, type CollapseState } from '../file-tree.js';
import { hitLayer, searchPaths } from '../search.js';
import { activeList, clamp, currentView, getCursor, listLength, listRows, scrollFor, setCursor } from './lists.js';
import { cursorPath, placeFileCursor, refreshFiles, reveal, showFiles, withLayer } from './files.js';
import { browseMount, containerAction, openContainer, runLogSearch } from './container.js';
import { pickerImages } from './picker.js';
import { configLineOfLayer } from './lists.js';
import { runViewerSearch, viewerAction } from './viewer.js';
import { initialState, onTree, PANES, type Action, type State } from './types.js';

/** The one pure reducer: every change of the UI state is an action applied here. */

/** A state showing one analysed image (tests, and the driver once analysis is done). */
export function imageState(a: ImageAnalysis, width = 80, height = 24, location = '', start?: State['start']): State {
  const s0 = initialState(width, height, location);
  return reduce({ ...s0, images: [a.image], start: start ?? s0.start }, { type: 'imageReady', analysis: a });
}

/** Actions that need the file tree itself: a pending tree is built first. */
const NEEDS_FILES = new Set<Action['type']>(['toggleCollapse', 'collapseHere', 'collapseAll', 'toggleFilter', 'move', 'page', 'edge', 'select', 'searchOpen', 'filterRun', 'filterClear', 'viewOpen', 'extractOpen']);

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
        // As dive opens: the whole image (everything up to the top layer), unless the user's config says otherwise.
        layer: s.start.layer === 'top' ? Math.max(0, a.analysis.layers.length - 1) : 0,
        mode: s.start.mode,
        layerScroll: 0,
        fileCursor: 0,
        fileScroll: 0,
        summaryCursor: 0,
        summaryScroll: 0,
        collapse: s.start.collapse,
        search: null,
        pathFilter: null,
        focus: 'layers',
      };
      return showFiles({ ...next, layerScroll: scrollFor(next.layer, 0, listRows(next, 'layers')) }, null, 0);
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
    case 'config': {
      if (!onTree(s) || !s.analysis) return s;
      const open = a.open ?? !s.config;
      // Opened on the selected layer's step: its full command is what the user came for.
      return { ...s, config: open, configScroll: open ? Math.max(0, configLineOfLayer(s) - 3) : 0 };
    }
    case 'toggleEmptySteps':
      return { ...s, emptySteps: !s.emptySteps };
    case 'setMode':
      if (!onTree(s) || s.mode === a.mode) return s;
      return showFiles({ ...s, mode: a.mode }, cursorPath(s));
    case 'filterOpen':
      if (!onTree(s)) return s;
      return { ...s, pathFilter: { editing: true, query: s.pathFilter?.query ?? '', error: null } };
    case 'filterInput':
      return s.pathFilter?.editing ? { ...s, pathFilter: { ...s.pathFilter, query: s.pathFilter.query + a.text } } : s;
    case 'filterBackspace':
      return s.pathFilter?.editing ? { ...s, pathFilter: { ...s.pathFilter, query: [...s.pathFilter.query].slice(0, -1).join('') } } : s;
    case 'filterRun': {
      if (!s.pathFilter) return s;
      const path = cursorPath(s);
      if (s.pathFilter.query === '') return refreshFiles({ ...s, pathFilter: null }, path);
      let error: string | null = null;
      try {
        userRegExp(s.pathFilter.query);
      } catch (err) {
        error = (err as Error).message;
      }
      return refreshFiles({ ...s, pathFilter: { editing: false, query: s.pathFilter.query, error } }, path);
    }
    case 'filterClear':
      return s.pathFilter ? refreshFiles({ ...s, pathFilter: null }, cursorPath(s)) : s;
    case 'problems':
      return { ...s, showProblems: a.open ?? !s.showProblems, problemsScroll: 0 };
    case 'searchOpen':
      if (s.viewer) return s.viewer.content ? { ...s, search: { editing: true, query: s.search?.query ?? '', regex: s.search?.regex ?? false, result: null, cursor: 0 } } : s;
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
      if (s.viewer) return runViewerSearch(s, s.search.query, s.search.regex);
      if (!onTree(s)) return runLogSearch(s, s.search.query, s.search.regex);
      if (!s.analysis) return s;
      const result = searchPaths(s.analysis, s.search.query, s.search.regex);
      return { ...s, search: { ...s.search, editing: false, result, cursor: 0 } };
    }
    case 'searchClose':
      return { ...s, search: null };
    case 'reveal':
      return reveal(s, a.layer, a.path, a.mode ?? s.mode);
    case 'hscroll':
      if (s.viewer) return { ...s, viewer: { ...s.viewer, hscroll: Math.max(0, s.viewer.hscroll + a.delta) } };
      return containerAction(s, a);
    case 'viewOpen':
    case 'viewerLoaded':
    case 'viewerHashed':
    case 'viewerFailed':
    case 'viewerToggleHex':
    case 'viewerSearchStep':
    case 'viewerClose':
    case 'extractOpen':
    case 'extractInput':
    case 'extractBackspace':
    case 'extractRun':
    case 'extractDone':
    case 'extractClose':
    case 'verifyRun':
    case 'verifyProgress':
    case 'verifyDone':
    case 'verifyClose':
      return viewerAction(s, a);
    case 'containerTab':
    case 'logsLoaded':
    case 'logSearchStep':
    case 'mountsLoaded':
    case 'mountTreeReady':
    case 'mountTreeFailed':
    case 'browseClose':
      return containerAction(s, a);
  }
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
      if (s.screen === 'container' && s.tabs.tab === 'mounts' && !s.tabs.browse) return browseMount(s);
      if (!onTree(s)) return s;
      if (s.focus === 'layers') return { ...s, focus: 'files' };
      if (s.focus === 'files') {
        // Enter folds a directory and opens a file in the viewer.
        const cv = currentView(s);
        const i = cv?.view.rows[s.fileCursor];
        if (cv && i !== undefined && cv.tree.isDir[i] !== 1) return reduce(s, { type: 'viewOpen' });
        return reduce(s, { type: 'toggleCollapse' });
      }
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

