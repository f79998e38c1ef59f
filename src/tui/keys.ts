import { browsing, onTree, type Action, type State } from './state/index.js';
import { CONTAINER_TABS } from './container-tabs.js';

/**
 * Key bindings are data: each row names its keys, says what it does, and maps the state to an action. The same
 * table dispatches keys (`actionForKey`) and generates the help screen (`helpLines`).
 */

/** Where a binding applies. Earlier contexts in `contextsOf` win. */
export type Context = 'search-input' | 'filter-input' | 'config' | 'extract-input' | 'extract' | 'verify' | 'viewer' | 'help' | 'problems' | 'search-results' | 'global' | 'picker' | 'image' | 'layers' | 'files' | 'summary' | 'container' | 'inspect' | 'mounts' | 'browse' | 'logs' | 'error';

export interface Binding {
  /** For the user's config file (`keybindings: {id: key}`) and dive's `keybinding:` names (see config.ts). */
  id?: string;
  keys: string[];
  description: string;
  context: Context;
  handler: (s: State) => Action | null;
}

/** Key names as `normalizeKey` produces them. */
const TAB_HELP: Record<(typeof CONTAINER_TABS)[number]['tab'], string> = {
  changes: "changes (the image view of the container's stack, on its RW layer)",
  diff: 'docker diff (exactly what the engine reports)',
  inspect: 'inspect and risk findings',
  mounts: 'mounts and volumes',
  logs: 'logs (what the container printed)',
};

export const B: Binding[] = [
  // Typing a search.
  { keys: ['enter'], context: 'search-input', description: 'run the search (across all layers)', handler: () => ({ type: 'searchRun' }) },
  { keys: ['esc'], context: 'search-input', description: 'cancel the search', handler: () => ({ type: 'searchClose' }) },
  { keys: ['backspace'], context: 'search-input', description: 'delete a character', handler: () => ({ type: 'searchBackspace' }) },
  { keys: ['ctrl+t', 'tab'], context: 'search-input', description: 'switch between substring and regular expression', handler: () => ({ type: 'searchToggleRegex' }) },
  { keys: ['ctrl+c'], context: 'search-input', description: 'quit', handler: () => ({ type: 'quit' }) },

  // Typing a path filter (dive's ctrl+f).
  { keys: ['enter'], context: 'filter-input', description: 'keep the paths matching the regular expression (and their dirs)', handler: () => ({ type: 'filterRun' }) },
  { keys: ['esc'], context: 'filter-input', description: 'drop the filter', handler: () => ({ type: 'filterClear' }) },
  { keys: ['backspace'], context: 'filter-input', description: 'delete a character', handler: () => ({ type: 'filterBackspace' }) },
  { keys: ['ctrl+c'], context: 'filter-input', description: 'quit', handler: () => ({ type: 'quit' }) },

  { keys: ['esc', 'c', 'q', 'enter'], context: 'config', description: 'close the config and history', handler: () => ({ type: 'config', open: false }) },
  // Typing the directory to extract into.
  { keys: ['enter'], context: 'extract-input', description: 'extract into this directory (created if missing; nothing in it is overwritten)', handler: () => ({ type: 'extractRun' }) },
  { keys: ['esc'], context: 'extract-input', description: 'cancel', handler: () => ({ type: 'extractClose' }) },
  { keys: ['backspace'], context: 'extract-input', description: 'delete a character', handler: () => ({ type: 'extractBackspace' }) },
  { keys: ['ctrl+c'], context: 'extract-input', description: 'quit', handler: () => ({ type: 'quit' }) },
  { keys: ['esc', 'q', 'enter'], context: 'extract', description: 'close what extract says (once it is done)', handler: () => ({ type: 'extractClose' }) },

  { keys: ['esc', 'enter', 'V'], context: 'verify', description: 'hide the verdict (the ! marks stay in the tree; a check still running goes on)', handler: () => ({ type: 'verifyClose' }) },

  { keys: ['esc', 'q'], context: 'viewer', description: 'close the viewer', handler: () => ({ type: 'viewerClose' }) },
  { keys: ['H'], context: 'viewer', description: 'hex dump / text', handler: () => ({ type: 'viewerToggleHex' }) },
  { keys: ['/'], context: 'viewer', description: 'search the bytes shown (text; in hex: bytes, or hex digits like 7f454c46)', handler: () => ({ type: 'searchOpen' }) },
  { keys: ['n'], context: 'viewer', description: 'next match', handler: () => ({ type: 'viewerSearchStep', delta: 1 }) },
  { keys: ['N'], context: 'viewer', description: 'previous match', handler: () => ({ type: 'viewerSearchStep', delta: -1 }) },
  { keys: ['right', 'l'], context: 'viewer', description: 'scroll right (long lines)', handler: () => ({ type: 'hscroll', delta: 20 }) },
  { keys: ['left', 'h'], context: 'viewer', description: 'scroll left', handler: () => ({ type: 'hscroll', delta: -20 }) },
  { keys: ['x', 'ctrl+e'], context: 'viewer', description: 'extract this file (this version) into a directory', handler: () => ({ type: 'extractOpen' }) },

  { keys: ['esc', '?', 'q', 'enter'], context: 'help', description: 'close the help', handler: () => ({ type: 'help', open: false }) },
  { keys: ['esc', 'p', 'q', 'enter'], context: 'problems', description: 'close the problem list', handler: () => ({ type: 'problems', open: false }) },

  { keys: ['enter'], context: 'search-results', description: 'show the path in the layer where it last changed or died', handler: () => ({ type: 'select' }) },
  { keys: ['esc'], context: 'search-results', description: 'close the search results', handler: () => ({ type: 'searchClose' }) },
  { keys: ['/'], context: 'search-results', description: 'new search', handler: () => ({ type: 'searchOpen' }) },

  { id: 'up', keys: ['up', 'k'], context: 'global', description: 'move up', handler: () => ({ type: 'move', delta: -1 }) },
  { id: 'down', keys: ['down', 'j'], context: 'global', description: 'move down', handler: () => ({ type: 'move', delta: 1 }) },
  { id: 'page-up', keys: ['pgup'], context: 'global', description: 'page up', handler: () => ({ type: 'page', delta: -1 }) },
  { id: 'page-down', keys: ['pgdn'], context: 'global', description: 'page down', handler: () => ({ type: 'page', delta: 1 }) },
  { id: 'first', keys: ['home', 'g'], context: 'global', description: 'first row', handler: () => ({ type: 'edge', to: 'start' }) },
  { id: 'last', keys: ['end', 'G'], context: 'global', description: 'last row', handler: () => ({ type: 'edge', to: 'end' }) },
  { keys: ['wheelup'], context: 'global', description: 'mouse wheel: scroll up', handler: () => ({ type: 'move', delta: -3 }) },
  { keys: ['wheeldown'], context: 'global', description: 'mouse wheel: scroll down', handler: () => ({ type: 'move', delta: 3 }) },
  { id: 'help', keys: ['?'], context: 'global', description: 'this help (generated from the key table)', handler: () => ({ type: 'help' }) },
  { id: 'problems', keys: ['p'], context: 'global', description: 'problems found in the evidence (unreadable files, odd markers...)', handler: () => ({ type: 'problems' }) },
  { id: 'quit', keys: ['q', 'ctrl+c'], context: 'global', description: 'quit', handler: () => ({ type: 'quit' }) },

  { keys: ['enter', 'space'], context: 'picker', description: 'open the image or container', handler: () => ({ type: 'select' }) },
  { keys: ['a'], context: 'picker', description: 'list intermediate images too (docker images -a)', handler: () => ({ type: 'toggleAllImages' }) },

  { id: 'pane-next', keys: ['tab'], context: 'image', description: 'next pane (layers, files, summary)', handler: () => ({ type: 'focus', delta: 1 }) },
  { id: 'pane-previous', keys: ['shift+tab'], context: 'image', description: 'previous pane', handler: () => ({ type: 'focus', delta: -1 }) },
  { id: 'mode-toggle', keys: ['v'], context: 'image', description: "file tree: this layer's changes / everything up to this layer", handler: () => ({ type: 'toggleMode' }) },
  { id: 'layer-previous', keys: ['[', 'ctrl+p'], context: 'image', description: 'previous layer (from any pane)', handler: () => ({ type: 'layerStep', delta: -1 }) },
  { id: 'layer-next', keys: [']', 'ctrl+n'], context: 'image', description: 'next layer (from any pane)', handler: () => ({ type: 'layerStep', delta: 1 }) },
  { id: 'search', keys: ['/'], context: 'image', description: 'search a path across all layers (substring or regex)', handler: () => ({ type: 'searchOpen' }) },
  { id: 'filter', keys: ['ctrl+f'], context: 'image', description: "filter the tree by a regular expression on paths (dive's ctrl+f; Esc drops it)", handler: () => ({ type: 'filterOpen' }) },
  { id: 'config', keys: ['c'], context: 'image', description: "the image's config (Env, Cmd, User, ports, labels, platform) and every history step in full", handler: () => ({ type: 'config' }) },
  { id: 'empty-steps', keys: ['E'], context: 'image', description: 'show/hide the history steps that made no layer (ENV, CMD...) in the layer list', handler: () => ({ type: 'toggleEmptySteps' }) },
  { id: 'attrs', keys: ['ctrl+b'], context: 'image', description: 'attribute columns (mode, owner, size) on/off', handler: () => ({ type: 'toggleAttrs' }) },
  { id: 'sort', keys: ['ctrl+o'], context: 'image', description: 'sort the tree by name / by size', handler: () => ({ type: 'toggleSort' }) },
  { id: 'show-added', keys: ['ctrl+a', 'A'], context: 'image', description: 'show/hide added entries', handler: () => ({ type: 'toggleFilter', kind: 'added' }) },
  { id: 'show-removed', keys: ['ctrl+r', 'R'], context: 'image', description: 'show/hide removed entries', handler: () => ({ type: 'toggleFilter', kind: 'removed' }) },
  // Ctrl-M is the same byte as Enter in a terminal: M is the modified filter's key (dive's ctrl+m cannot work).
  { id: 'show-modified', keys: ['M'], context: 'image', description: 'show/hide modified entries (ctrl+m is Enter in terminals)', handler: () => ({ type: 'toggleFilter', kind: 'modified' }) },
  { id: 'show-unmodified', keys: ['ctrl+u', 'U'], context: 'image', description: 'show/hide unmodified entries', handler: () => ({ type: 'toggleFilter', kind: 'unmodified' }) },
  { id: 'verify', keys: ['V'], context: 'image', description: "verify in place: mount this stack read-only and compare the kernel's view with ours (root), check this layer's tar-split (data roots); ! marks what differs", handler: () => ({ type: 'verifyRun' }) },
  { keys: ['esc'], context: 'image', description: 'drop the path filter; else back to the list', handler: (s) => (s.pathFilter ? { type: 'filterClear' } : s.images.length + s.containers.length > 1 ? { type: 'picker' } : null) },
  { keys: ['i'], context: 'image', description: 'back to the image and container list (when the source holds more than one)', handler: (s) => (s.images.length + s.containers.length > 1 ? { type: 'picker' } : null) },

  { keys: ['enter', 'right', 'l'], context: 'layers', description: 'go to the layer\'s files', handler: () => ({ type: 'focusPane', pane: 'files' }) },
  { id: 'mode-changes', keys: ['ctrl+l'], context: 'layers', description: "file tree: this layer's changes (dive's compare-layer)", handler: () => ({ type: 'setMode', mode: 'changes' }) },
  { id: 'mode-aggregated', keys: ['ctrl+a'], context: 'layers', description: "file tree: everything up to this layer (dive's compare-all)", handler: () => ({ type: 'setMode', mode: 'aggregated' }) },

  { id: 'fold', keys: ['space'], context: 'files', description: 'collapse / expand the directory', handler: () => ({ type: 'toggleCollapse' }) },
  { keys: ['enter'], context: 'files', description: 'collapse / expand the directory; on a file, view it', handler: () => ({ type: 'select' }) },
  { id: 'view', keys: ['o'], context: 'files', description: 'view the file as it is at this layer (a D row: the version it deleted); text or hex', handler: () => ({ type: 'viewOpen' }) },
  { id: 'extract', keys: ['x', 'ctrl+e'], context: 'files', description: 'extract the file or directory, as it is at this layer, into a directory you type', handler: () => ({ type: 'extractOpen' }) },
  { keys: ['right', 'l'], context: 'files', description: 'expand the directory', handler: () => ({ type: 'collapseHere', collapsed: false }) },
  { keys: ['left', 'h'], context: 'files', description: 'collapse the directory (again: go to its parent)', handler: () => ({ type: 'collapseHere', collapsed: true }) },
  { id: 'fold-all', keys: ['ctrl+space', 'z'], context: 'files', description: 'collapse all / expand all', handler: () => ({ type: 'collapseAll' }) },

  { keys: ['enter'], context: 'summary', description: 'show the hidden file in the layer that holds it', handler: () => ({ type: 'select' }) },

  ...CONTAINER_TABS.map((t): Binding => ({ keys: [t.key], context: 'container', description: `tab: ${TAB_HELP[t.tab]}`, handler: () => ({ type: 'containerTab', tab: t.tab }) })),
  { id: 'tab-next', keys: ['t'], context: 'container', description: 'next tab', handler: () => ({ type: 'containerTab', delta: 1 }) },
  { id: 'tab-previous', keys: ['T'], context: 'container', description: 'previous tab', handler: () => ({ type: 'containerTab', delta: -1 }) },
  { keys: ['i', 'esc'], context: 'container', description: 'back to the image and container list', handler: () => ({ type: 'picker' }) },

  { keys: ['right', 'l'], context: 'inspect', description: 'scroll right (long values)', handler: () => ({ type: 'hscroll', delta: 20 }) },
  { keys: ['left', 'h'], context: 'inspect', description: 'scroll left', handler: () => ({ type: 'hscroll', delta: -20 }) },
  { keys: ['enter'], context: 'mounts', description: "browse the volume's (or the bind source's) files, read-only", handler: () => ({ type: 'select' }) },
  { keys: ['right', 'l'], context: 'mounts', description: 'scroll right (long sources)', handler: () => ({ type: 'hscroll', delta: 20 }) },
  { keys: ['esc', 'i', 'backspace'], context: 'browse', description: 'back to the list of mounts', handler: () => ({ type: 'browseClose' }) },
  { keys: ['/'], context: 'browse', description: 'search a path in the mount', handler: () => ({ type: 'searchOpen' }) },
  { keys: ['ctrl+f'], context: 'browse', description: 'filter the tree by a regular expression on paths', handler: () => ({ type: 'filterOpen' }) },
  { keys: ['ctrl+b'], context: 'browse', description: 'attribute columns (mode, owner, size) on/off', handler: () => ({ type: 'toggleAttrs' }) },
  { keys: ['ctrl+o'], context: 'browse', description: 'sort by name / by size', handler: () => ({ type: 'toggleSort' }) },
  { keys: ['left', 'h'], context: 'mounts', description: 'scroll left', handler: () => ({ type: 'hscroll', delta: -20 }) },
  { keys: ['/'], context: 'logs', description: 'search the log lines (substring or regex)', handler: () => ({ type: 'searchOpen' }) },
  { keys: ['n'], context: 'logs', description: 'next matching line', handler: () => ({ type: 'logSearchStep', delta: 1 }) },
  { keys: ['N'], context: 'logs', description: 'previous matching line', handler: () => ({ type: 'logSearchStep', delta: -1 }) },
  { keys: ['right', 'l'], context: 'logs', description: 'scroll right (long lines)', handler: () => ({ type: 'hscroll', delta: 20 }) },
  { keys: ['left', 'h'], context: 'logs', description: 'scroll left', handler: () => ({ type: 'hscroll', delta: -20 }) },
  { keys: ['q', 'ctrl+c', 'esc', 'enter'], context: 'error', description: 'quit', handler: () => ({ type: 'quit' }) },
];

export const BINDINGS: readonly Binding[] = B;

/** The table in use: the built-in one, with the keys of the user's config file (useKeyConfig) in it. */
let current: readonly Binding[] = B;

/**
 * Rebind keys by binding id (the user's config file): the binding's keys are replaced in every context that has
 * that id. Returns the ids that name no binding (said to the user). Help shows the keys in use.
 */
export function useKeyConfig(keys: ReadonlyMap<string, string[]>, extra: ReadonlyMap<string, string[]> = new Map()): string[] {
  const known = new Set(B.map((b) => b.id).filter(Boolean));
  const warnings = [...keys.keys(), ...extra.keys()].filter((id) => !known.has(id)).map((id) => `keybindings.${id}: no binding has this id (the help lists them in [brackets])`);
  current = B.map((b) => {
    if (!b.id || (!keys.has(b.id) && !extra.has(b.id))) return b;
    let k = [...new Set([...(keys.get(b.id) ?? b.keys), ...(extra.get(b.id) ?? [])])];
    // ctrl+c always quits: a config can add keys to quit, never take that one away.
    if (b.id === 'quit' && !k.includes('ctrl+c')) k = [...k, 'ctrl+c'];
    return { ...b, keys: k };
  });
  // A key another binding of the same context already answers: the first one in the table wins; said.
  for (const b of current) {
    if (!b.id || (!keys.has(b.id) && !extra.has(b.id))) continue;
    for (const k of b.keys) {
      const first = current.find((x) => x.context === b.context && x.keys.includes(k));
      if (first && first !== b) warnings.push(`keybindings.${b.id}: ${k} is already "${first.description}" there, which keeps it`);
    }
  }
  return warnings;
}

/** The key table in use (the built-in one unless the user's config rebinds keys). */
export function bindings(): readonly Binding[] {
  return current;
}

/** The contexts active in a state, most specific first. */
export function contextsOf(s: State): Context[] {
  if (s.search?.editing) return ['search-input'];
  if (s.pathFilter?.editing) return ['filter-input'];
  if (s.help) return ['help', 'global'];
  if (s.config) return ['config', 'global'];
  if (s.showProblems) return ['problems', 'global'];
  if (s.extract) return s.extract.status === 'prompt' ? ['extract-input'] : ['extract', 'global'];
  if (s.viewer) return ['viewer', 'global'];
  if (s.verify?.open) return ['verify', 'global'];
  if (s.screen === 'error') return ['error'];
  const out: Context[] = [];
  if (s.search?.result) out.push('search-results');
  if (s.screen === 'picker') out.push('picker');
  if (browsing(s)) {
    if (!s.search?.result) out.push('files');
    out.push('browse');
  } else if (onTree(s)) {
    if (!s.search?.result) out.push(s.focus);
    out.push('image');
  } else if (s.screen === 'container' && s.tabs.tab !== 'diff') out.push(s.tabs.tab as 'inspect' | 'mounts' | 'logs');
  if (s.screen === 'container') out.push('container');
  out.push('global');
  return out;
}

export function actionForKey(s: State, key: string): Action | null {
  const ctxs = contextsOf(s);
  if (ctxs[0] === 'filter-input' && key.length > 0 && !/^(ctrl\+|shift\+tab$|tab$|enter$|esc$|backspace$|up$|down$|left$|right$|pg|home$|end$|wheel)/.test(key)) {
    return { type: 'filterInput', text: key === 'space' ? ' ' : key };
  }
  if ((ctxs[0] === 'search-input' || ctxs[0] === 'extract-input') && key.length > 0 && !/^(ctrl\+|shift\+tab$|tab$|enter$|esc$|backspace$|up$|down$|left$|right$|pg|home$|end$|wheel)/.test(key)) {
    const text = key === 'space' ? ' ' : key;
    return ctxs[0] === 'search-input' ? { type: 'searchInput', text } : { type: 'extractInput', text };
  }
  for (const c of ctxs) {
    for (const b of current) {
      if (b.context === c && b.keys.includes(key)) return b.handler(s);
    }
  }
  return null;
}

/** The subset of Ink's Key we read. */
export interface KeyFlags {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  ctrl?: boolean;
  shift?: boolean;
  tab?: boolean;
  backspace?: boolean;
  delete?: boolean;
  meta?: boolean;
}

/** SGR mouse report as Ink passes it to useInput (the leading ESC stripped). */
const SGR_MOUSE = /^\x1b?\[<(\d+);(\d+);(\d+)([Mm])$/;

/** Pointer position (1-based column and row) of an SGR mouse report, or null. */
export function mouseAt(input: string): { x: number; y: number } | null {
  const m = SGR_MOUSE.exec(input);
  return m ? { x: Number(m[2]), y: Number(m[3]) } : null;
}

/** Turn Ink's (input, key) into one key name: `j`, `G`, `up`, `ctrl+a`, `space`, `wheeldown`... or '' to ignore. */
export function normalizeKey(input: string, key: KeyFlags): string {
  const m = SGR_MOUSE.exec(input);
  if (m) {
    const button = Number(m[1]);
    if (m[4] === 'M' && (button & 0x43) === 0x40) return 'wheelup';
    if (m[4] === 'M' && (button & 0x43) === 0x41) return 'wheeldown';
    return '';
  }
  if (key.upArrow) return 'up';
  if (key.downArrow) return 'down';
  if (key.leftArrow) return 'left';
  if (key.rightArrow) return 'right';
  if (key.pageUp) return 'pgup';
  if (key.pageDown) return 'pgdn';
  if (key.home) return 'home';
  if (key.end) return 'end';
  if (key.return) return 'enter';
  if (key.tab) return key.shift ? 'shift+tab' : 'tab';
  if (key.backspace || key.delete) return 'backspace';
  if (key.escape && (input === '' || input === '\x1b')) return 'esc';
  if (key.ctrl) {
    if (input === '`' || input === ' ' || input === '@') return 'ctrl+space';
    return input ? 'ctrl+' + input : '';
  }
  if (input === ' ') return 'space';
  if (input === '\x00') return 'ctrl+space';
  // Anything else unprintable (unknown escape sequences) is ignored rather than typed.
  if (/[\x00-\x1f\x7f]/.test(input)) return '';
  return input;
}

/** The key name of one raw character (for chunks holding several keys). */
export function charKey(c: string): string {
  const x = c.codePointAt(0)!;
  if (c === '\r' || c === '\n') return 'enter';
  if (c === '\t') return 'tab';
  if (c === '\x7f' || c === '\b') return 'backspace';
  if (c === ' ') return 'space';
  if (x === 0) return 'ctrl+space';
  if (x >= 1 && x <= 26) return 'ctrl+' + String.fromCharCode(x + 96);
  if (x < 0x20) return '';
  return c;
}

/**
 * Several keys in one chunk (typed fast, pasted, sent by tmux send-keys): Ink splits input only at ESC, so
 * "big\r" arrives as one string. Returns the key names, or null when the chunk is one key (including the
 * escape sequences Ink does not know, whose ESC it strips: mouse reports, function keys).
 */
export function splitChunk(input: string, key: KeyFlags): string[] | null {
  if ([...input].length <= 1 || key.meta) return null;
  if (/^(\[[\d;<?>]*[A-Za-z~]|O[A-Za-z])$/.test(input)) return null;
  return [...input].map(charKey);
}

const CONTEXT_TITLES: Record<Context, string> = {
  global: 'Everywhere',
  image: 'Image view',
  layers: 'Layers pane',
  files: 'Files pane',
  summary: 'Summary pane',
  picker: 'Image and container list',
  container: 'Container screen (every tab)',
  inspect: 'Container: inspect tab',
  mounts: 'Container: mounts tab',
  browse: "Container: a mount's files",
  logs: 'Container: logs tab',
  'search-input': 'Search prompt',
  'filter-input': 'Path filter prompt (ctrl+f)',
  config: 'Image config and history (c)',
  viewer: 'File viewer (o on a file)',
  'extract-input': 'Extract prompt (x on a file or directory)',
  extract: 'Extract result',
  verify: 'Verify in place (V)',
  'search-results': 'Search results',
  help: 'Help',
  problems: 'Problem list',
  error: 'Error screen',
};

const HELP_ORDER: Context[] = ['global', 'image', 'layers', 'files', 'summary', 'viewer', 'extract-input', 'extract', 'verify', 'search-input', 'filter-input', 'config', 'search-results', 'picker', 'container', 'inspect', 'mounts', 'browse', 'logs', 'help', 'problems', 'error'];

/** The help screen, generated from the binding table. */
export function helpLines(table: readonly Binding[] = current): string[] {
  const out: string[] = ['layerscope keys (generated from the key table)', ''];
  for (const c of HELP_ORDER) {
    const rows = table.filter((b) => b.context === c);
    if (!rows.length) continue;
    out.push(CONTEXT_TITLES[c]);
    // The id is what the config file rebinds (keybindings: {id: key}).
    for (const b of rows) out.push(`  ${b.keys.join(', ').padEnd(22)} ${b.description}${b.id ? `  [${b.id}]` : ''}`);
    out.push('');
  }
  out.push('Marks: A added  M modified  D deleted (size = bytes it hid)  O opaque dir  (blank) unchanged');
  out.push('"hidden by Ln": a later layer n deleted, overwrote or hid this version; its bytes still ship.');
  out.push("! (after V): the kernel's view of the mounted stack, or the layer as built (tar-split), differs here.");
  out.push('[id]: rebind it in $XDG_CONFIG_HOME/layerscope/config.yaml (keybindings: {id: key}); dive\'s keybinding: section is read too.');
  return out;
}
