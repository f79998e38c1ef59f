/** The flat tree index, the reducer and the key table, without Ink. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ALL_KINDS,
  DELETED,
  findIndex,
  flatTree,
  isCollapsed,
  NO_COLLAPSE,
  pathOf,
  revealPath,
  toggleCollapse,
  visibleView,
} from '../../src/tui/file-tree.js';
import { actionForKey, BINDINGS, charKey, contextsOf, helpLines, normalizeKey, splitChunk } from '../../src/tui/keys.js';
import { cursorPath, imageState, initialState, layout, reduce, type Action, type State } from '../../src/tui/state/index.js';
import { NO_COLLAPSE } from '../../src/tui/file-tree.js';

/** The tests of features start where they were written: layer 0's own changes (the app opens on the whole image). */
const LAYER0 = { layer: 'base', mode: 'changes', collapse: NO_COLLAPSE } as const;
import { bloatImage, syntheticImage } from './fixture.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('flat tree: depth-first, parents as context, subtree ends, dir sums', () => {
  const a = bloatImage();
  const t = flatTree(a, 3, 'changes', 'name');
  assert.deepEqual(
    Array.from({ length: t.n }, (_, i) => `${'  '.repeat(t.depth[i]!)}${pathOf(t, i)} end=${t.end[i]} size=${t.size[i]} change=${t.change[i]}`),
    ['data end=2 size=3145728 change=2', '  data/big.bin end=2 size=3145728 change=3', 'opq end=4 size=2 change=2', '  opq/c end=4 size=2 change=1'],
  );
  assert.equal(findIndex(t, 'opq/c'), 3);
  assert.equal(findIndex(t, 'opq/zz'), -1);
  assert.equal(t.change[findIndex(t, 'data/big.bin')], DELETED);
  // Cached: the same object on every call (never rebuilt or copied per keypress).
  assert.equal(flatTree(a, 3, 'changes', 'name'), t);
  // A layer's context dirs it did not write itself are unmodified rows.
  const t4 = flatTree(a, 4, 'changes', 'name');
  assert.deepEqual(Array.from({ length: t4.n }, (_, i) => pathOf(t4, i)).slice(0, 2), ['links', 'links/rel']);
});

test('flat tree sorted by size keeps subtrees together', () => {
  const a = bloatImage();
  const t = flatTree(a, 2, 'aggregated', 'size');
  const top = Array.from({ length: t.n }, (_, i) => i).filter((i) => t.depth[i] === 0).map((i) => `${pathOf(t, i)}:${t.size[i]}`);
  assert.deepEqual(top, ['data:3145747', 'bin:1000000', 'opq:5000', 'etc:100', 'tmp:0']);
  for (let i = 0; i < t.n; i++) for (let j = i + 1; j < t.end[i]!; j++) assert.ok(pathOf(t, j).startsWith(pathOf(t, i) + '/'));
});

test('visible view: collapse set beside the tree, filters keep dirs as context', () => {
  const a = bloatImage();
  const t = flatTree(a, 2, 'aggregated', 'name');
  const paths = (c = NO_COLLAPSE, show = ALL_KINDS) => Array.from(visibleView(t, c, show).rows, (i) => pathOf(t, i));
  assert.equal(paths().length, t.n);
  const c = toggleCollapse(NO_COLLAPSE, 'opq');
  assert.ok(isCollapsed(c, 'opq'));
  assert.ok(!paths(c).some((p) => p.startsWith('opq/')));
  assert.ok(paths(c).includes('opq'));
  // Collapse all, then expand one: the set holds the exceptions.
  const all = toggleCollapse({ all: true, paths: new Set() }, 'data');
  assert.deepEqual(paths(all), ['bin', 'data', 'data/big.bin', 'data/f', 'data/keep.txt', 'etc', 'opq', 'tmp']);
  // Only modified entries: their parent dirs stay as context.
  assert.deepEqual(paths(NO_COLLAPSE, 1 << 2), ['data', 'data/f', 'data/keep.txt']);
  assert.deepEqual([...revealPath(toggleCollapse(NO_COLLAPSE, 'opq'), 'opq/a/file').paths], []);
  // The model is untouched.
  assert.equal(a.view.nodes.every((n) => !('collapsed' in n)), true);
});

test('reducer: layer moves keep the file cursor on the same path when it exists', () => {
  let s = imageState(bloatImage(), 100, 30, '', LAYER0);
  const run = (...as: Action[]) => as.reduce((x, a) => reduce(x, a), s);
  s = run({ type: 'layerStep', delta: 2 }, { type: 'toggleMode' }, { type: 'focusPane', pane: 'files' });
  // Move to data/keep.txt in "everything up to L2".
  while (cursorPath(s) !== 'data/keep.txt') s = reduce(s, { type: 'move', delta: 1 });
  s = reduce(s, { type: 'layerStep', delta: 1 });
  assert.equal(s.layer, 3);
  assert.equal(cursorPath(s), 'data/keep.txt');
  // On a layer that does not have it, the nearest ancestor.
  s = reduce(s, { type: 'toggleMode' });
  assert.equal(cursorPath(s), 'data');
});

test('reducer: clamps, pages, edges; help and search state', () => {
  let s = imageState(syntheticImage(500, 100), 80, 24, '', LAYER0);
  s = reduce(s, { type: 'focusPane', pane: 'files' });
  s = reduce(s, { type: 'move', delta: -5 });
  assert.equal(s.fileCursor, 0);
  s = reduce(s, { type: 'edge', to: 'end' });
  assert.equal(s.fileCursor, 504);
  assert.ok(s.fileScroll <= s.fileCursor && s.fileCursor < s.fileScroll + layout(s).filesRows - 1);
  s = reduce(s, { type: 'page', delta: -1 });
  assert.equal(s.fileCursor, 504 - (layout(s).filesRows - 2));
  s = reduce(s, { type: 'help' });
  assert.equal(s.help, true);
  s = reduce(s, { type: 'select' });
  assert.equal(s.help, false);
  s = reduce(s, { type: 'searchOpen' });
  for (const ch of 'f00001') s = reduce(s, { type: 'searchInput', text: ch });
  s = reduce(s, { type: 'searchRun' });
  assert.deepEqual(s.search!.result!.hits.map((h) => h.path).slice(0, 2), ['d00000/f00001', 'd00001/f00001']);
  s = reduce(s, { type: 'select' });
  assert.equal(s.layer, 1, 'd00000/f00001 died in L1');
  assert.equal(cursorPath(s), 'd00000/f00001');
  assert.equal(s.search, null);
});

test('keys: normalisation of what Ink passes', () => {
  assert.equal(normalizeKey('j', {}), 'j');
  assert.equal(normalizeKey('G', { shift: true }), 'G');
  assert.equal(normalizeKey('', { upArrow: true }), 'up');
  assert.equal(normalizeKey('', { pageDown: true }), 'pgdn');
  assert.equal(normalizeKey('', { tab: true, shift: true }), 'shift+tab');
  assert.equal(normalizeKey('a', { ctrl: true }), 'ctrl+a');
  assert.equal(normalizeKey('`', { ctrl: true }), 'ctrl+space');
  assert.equal(normalizeKey(' ', {}), 'space');
  assert.equal(normalizeKey('', { escape: true, meta: true }), 'esc');
  assert.equal(normalizeKey('[<64;3;4M', {}), 'wheelup');
  assert.equal(normalizeKey('[<65;3;4M', {}), 'wheeldown');
  assert.equal(normalizeKey('[<0;3;4M', {}), '');
  assert.deepEqual(splitChunk('big\r', {}), ['b', 'i', 'g', 'enter']);
  assert.equal(splitChunk('[<65;3;4M', {}), null);
  assert.equal(splitChunk('[15~', {}), null);
  assert.equal(charKey('\x0f'), 'ctrl+o');
});

test('key table: every binding is reachable in its context, and the help lists every one', () => {
  const help = helpLines().join('\n');
  for (const b of BINDINGS) {
    assert.ok(help.includes(b.description), `help lacks "${b.description}"`);
    assert.ok(help.includes(b.keys.join(', ')), `help lacks keys ${b.keys.join(', ')}`);
  }
  const s: State = imageState(bloatImage(), 100, 30);
  assert.deepEqual(contextsOf(s), ['layers', 'image', 'global']);
  assert.deepEqual(actionForKey(s, 'ctrl+o'), { type: 'toggleSort' });
  assert.deepEqual(actionForKey(reduce(s, { type: 'focusPane', pane: 'files' }), 'space'), { type: 'toggleCollapse' });
  const typing = reduce(s, { type: 'searchOpen' });
  assert.deepEqual(actionForKey(typing, 'q'), { type: 'searchInput', text: 'q' });
  assert.deepEqual(actionForKey(typing, 'ctrl+c'), { type: 'quit' });
  assert.deepEqual(actionForKey(s, 'q'), { type: 'quit' });
});

test('layering: src/tui imports only core, report and itself; no process.exit; core never imports tui', () => {
  const files = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [path.join(dir, e.name)] : []));
  for (const f of files(path.join(ROOT, 'src/tui'))) {
    const src = fs.readFileSync(f, 'utf8');
    assert.doesNotMatch(src, /process\.exit\(/, `${f} calls process.exit`);
    for (const m of src.matchAll(/from '(\.[^']+)'/g)) {
      const target = path.resolve(path.dirname(f), m[1]!);
      assert.ok(/\/src\/(core|report|tui)\//.test(target + '/'), `${path.relative(ROOT, f)} imports ${m[1]}`);
    }
  }
  for (const f of files(path.join(ROOT, 'src/core'))) assert.doesNotMatch(fs.readFileSync(f, 'utf8'), /from '[^']*\/tui\//, `${f} imports the TUI`);
});

test('big trees are built after a frame, and not for layers passed through', async () => {
  const { hasFlatTree } = await import('../../src/tui/file-tree.js');
  const a = syntheticImage(60_000, 1000);
  let s = imageState(a, 100, 30, '', LAYER0);
  assert.equal(s.filesPending, true, 'first frame before the 60k-entry index');
  assert.equal(hasFlatTree(a, 0, 'changes', 'name'), false);
  s = reduce(s, { type: 'filesReady' });
  assert.equal(s.filesPending, false);
  assert.ok(hasFlatTree(a, 0, 'changes', 'name'));
  s = reduce(s, { type: 'toggleMode' });
  assert.equal(s.filesPending, true);
  s = reduce(s, { type: 'layerStep', delta: 1 });
  s = reduce(s, { type: 'layerStep', delta: 1 });
  assert.equal(s.layer, 2);
  s = reduce(s, { type: 'filesReady' });
  assert.ok(hasFlatTree(a, 2, 'aggregated', 'name'));
  assert.equal(hasFlatTree(a, 0, 'aggregated', 'name'), false, 'layer 0 aggregated was never built');
  assert.equal(hasFlatTree(a, 1, 'aggregated', 'name'), false, 'layer 1 aggregated was never built');
  // A key that needs the tree builds a pending one at once.
  s = reduce(reduce(s, { type: 'layerStep', delta: -1 }), { type: 'focusPane', pane: 'files' });
  assert.equal(s.filesPending, true);
  s = reduce(s, { type: 'move', delta: 1 });
  assert.equal(s.filesPending, false);
  assert.equal(s.fileCursor, 1);
});

test('picker: tagged images first, intermediate images only on request', async () => {
  const { pickerImages } = await import('../../src/tui/state/index.js');
  const { image } = await import('./fixture.js');
  const app = image('app:1', ['a', 'b', 'c'], 'sha256:' + '1'.repeat(64));
  const parent = { ...image('', ['a', 'b'], 'sha256:' + '2'.repeat(64)), tags: [] };
  const dangling = { ...image('', ['x'], 'sha256:' + '3'.repeat(64)), tags: [] };
  dangling.layers[0]!.chainId = 'sha256:' + 'f'.repeat(64);
  const base = image('base:1', ['a'], 'sha256:' + '4'.repeat(64));
  const images = [parent, dangling, app, base];
  assert.deepEqual(pickerImages({ images, showAllImages: false }).map((i) => i.id[7]), ['1', '4', '3']);
  assert.deepEqual(pickerImages({ images, showAllImages: true }).map((i) => i.id[7]), ['1', '4', '2', '3']);
  let s = reduce({ ...initialState(100, 30), screen: 'picker' }, { type: 'sourceOpened', location: '/x', images, containers: [] });
  assert.match(s.screen, /picker/);
  s = reduce(reduce(s, { type: 'move', delta: 2 }), { type: 'toggleAllImages' });
  assert.equal(pickerImages(s)[s.pickerCursor]!.id[7], '3', 'the cursor stays on the same image');
});
