import { DELETED, pathOf } from '../file-tree.js';
import { rowAt, rowCount, rowOffset, searchContent } from '../viewer.js';
import { clamp, currentView, listRows, setCursor } from './lists.js';
import { browsing, onTree, type Action, type EntryRef, type State, type ViewerState } from './types.js';

/**
 * The file viewer and extract, as state: which entry (the version at which layer), what the driver read, where
 * the viewer is scrolled and what it found. Reading and writing happen in the driver (session.ts).
 */

export type ViewerAction = Extract<
  Action,
  {
    type:
      | 'viewOpen'
      | 'viewerLoaded'
      | 'viewerHashed'
      | 'viewerFailed'
      | 'viewerToggleHex'
      | 'viewerSearchStep'
      | 'viewerClose'
      | 'extractOpen'
      | 'extractInput'
      | 'extractBackspace'
      | 'extractRun'
      | 'extractDone'
      | 'extractClose'
      | 'verifyRun'
      | 'verifyProgress'
      | 'verifyDone'
      | 'verifyClose';
  }
>;

/**
 * The entry under the file cursor, and the layer whose view holds the version to read: the selected layer, or,
 * for an entry this layer deletes (a D row), the layer before it: the version it hid, whose bytes still ship.
 */
export function entryAtCursor(s: State): EntryRef | null {
  if (!onTree(s) || s.filesPending || !s.analysis) return null;
  const cv = currentView(s);
  if (!cv || cv.view.rows.length === 0) return null;
  const i = cv.view.rows[clamp(s.fileCursor, 0, cv.view.rows.length - 1)]!;
  const path = pathOf(cv.tree, i);
  const isDir = cv.tree.isDir[i] === 1;
  if (cv.tree.change[i] === DELETED) {
    if (s.layer === 0) return null;
    return { analysis: s.analysis, path, layer: s.layer - 1, isDir, note: `deleted by L${s.layer}` };
  }
  return { analysis: s.analysis, path, layer: s.layer, isDir, note: null };
}

export function viewerAction(s: State, a: ViewerAction): State {
  switch (a.type) {
    case 'viewOpen': {
      const entry = entryAtCursor(s);
      if (!entry) return s;
      const seq = s.seq + 1;
      const v: ViewerState = { seq, entry, status: 'loading', message: null, from: null, recorded: null, content: null, sha256: null, size: null, hashed: 0, hex: false, scroll: 0, hscroll: 0, search: null };
      // A directory has no bytes to show: say what to do instead, without asking the driver.
      if (entry.isDir) return { ...s, seq, search: null, viewer: { ...v, status: 'error', message: 'a directory: x (or Ctrl-E) copies it out with everything below it' } };
      return { ...s, seq, search: null, viewer: v, want: { kind: 'view', seq, entry } };
    }
    case 'viewerLoaded':
      if (s.viewer?.seq !== a.seq) return s;
      return { ...s, want: null, viewer: { ...s.viewer, status: 'ready', from: a.from, recorded: a.recorded, content: a.content, hex: a.content.binary } };
    case 'viewerHashed':
      if (s.viewer?.seq !== a.seq) return s;
      return { ...s, viewer: { ...s.viewer, hashed: a.hashed, sha256: a.sha256 ?? s.viewer.sha256, size: a.size ?? s.viewer.size } };
    case 'viewerFailed':
      if (s.viewer?.seq !== a.seq) return s;
      // A failure after the window was shown (the file changed while it was hashed) is said above the bytes.
      return { ...s, want: null, viewer: { ...s.viewer, status: s.viewer.content ? 'ready' : 'error', message: a.message } };
    case 'viewerToggleHex': {
      const v = s.viewer;
      if (!v?.content) return s;
      const hex = !v.hex;
      // The same bytes stay at the top.
      const top = rowAt(v.content, hex, rowOffset(v.content, v.hex, Math.min(v.scroll, rowCount(v.content, v.hex) - 1)));
      return setCursor({ ...s, viewer: { ...v, hex, search: null, hscroll: 0 } }, 'viewer', top);
    }
    case 'viewerSearchStep': {
      const q = s.viewer?.search;
      if (!q || !q.hits.length) return s;
      const hit = (q.hit + a.delta + q.hits.length) % q.hits.length;
      return showRow({ ...s, viewer: { ...s.viewer!, search: { ...q, hit } } }, q.hits[hit]!);
    }
    case 'viewerClose':
      if (!s.viewer) return s;
      return { ...s, viewer: null, search: null, want: s.viewer.sha256 === null && s.viewer.status !== 'error' ? { kind: 'viewStop', seq: s.viewer.seq } : s.want };
    case 'extractOpen': {
      const entry = s.viewer?.entry ?? entryAtCursor(s);
      if (!entry) return s;
      const seq = s.seq + 1;
      return { ...s, seq, search: null, extract: { seq, entry, status: 'prompt', dir: '', lines: [] } };
    }
    case 'extractInput':
      return s.extract?.status === 'prompt' ? { ...s, extract: { ...s.extract, dir: s.extract.dir + a.text } } : s;
    case 'extractBackspace':
      return s.extract?.status === 'prompt' ? { ...s, extract: { ...s.extract, dir: [...s.extract.dir].slice(0, -1).join('') } } : s;
    case 'extractRun': {
      const x = s.extract;
      if (x?.status !== 'prompt' || x.dir.trim() === '') return s;
      return { ...s, extract: { ...x, status: 'running' }, want: { kind: 'extract', seq: x.seq, entry: x.entry, dir: x.dir } };
    }
    case 'extractDone':
      if (s.extract?.seq !== a.seq) return s;
      return { ...s, want: null, extract: { ...s.extract, status: a.ok ? 'done' : 'error', lines: a.lines } };
    case 'extractClose':
      // While it runs the popup stays: what was written is said when it is done.
      if (!s.extract || s.extract.status === 'running') return s;
      return { ...s, extract: null };
    case 'verifyRun': {
      if (!onTree(s) || browsing(s) || !s.analysis) return s;
      // While one runs, V shows it again; once done, V runs it again (on the stack now shown).
      if (s.verify?.status === 'running') return { ...s, verify: { ...s.verify, open: true } };
      const seq = s.seq + 1;
      const containerId = s.screen === 'container' ? (s.container?.container.id ?? null) : null;
      return {
        ...s,
        seq,
        search: null,
        verify: { seq, analysis: s.analysis, layer: s.layer, status: 'running', progress: 'starting', lines: [], ok: false, marks: new Map(), open: true },
        want: { kind: 'verify', seq, analysis: s.analysis, layer: s.layer, containerId },
      };
    }
    case 'verifyProgress':
      return s.verify?.seq === a.seq ? { ...s, verify: { ...s.verify, progress: a.what } } : s;
    case 'verifyDone':
      if (s.verify?.seq !== a.seq) return s;
      return { ...s, want: null, verify: { ...s.verify, status: a.failed ? 'error' : 'done', ok: a.ok, lines: a.lines, marks: a.marks } };
    case 'verifyClose':
      return s.verify?.open ? { ...s, verify: { ...s.verify, open: false } } : s;
  }
}

/** Search the viewer's window and show the first hit. */
export function runViewerSearch(s: State, query: string, regex: boolean): State {
  const v = s.viewer;
  if (!v?.content) return { ...s, search: null };
  const search = searchContent(v.content, v.hex, query, regex);
  const next: State = { ...s, search: null, viewer: { ...v, search } };
  return search.hits.length ? showRow(next, search.hits[0]!) : next;
}

/** Scroll so that row r is on screen, a third of the way down (context above it). */
function showRow(s: State, r: number): State {
  const rows = listRows(s, 'viewer');
  const top = s.viewer!.scroll;
  if (r >= top && r < top + rows) return s;
  return setCursor(s, 'viewer', r - Math.floor(rows / 3));
}
