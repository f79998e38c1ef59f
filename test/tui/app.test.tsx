/**
 * Component tests: the App on hand-made images, driven with keys; frames compared with snapshots/tui/*.txt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageState, initialState } from '../../src/tui/state/index.js';
import { NO_COLLAPSE } from '../../src/tui/file-tree.js';
import { helpLines } from '../../src/tui/keys.js';

/** The tests of features start where they were written: layer 0's own changes (the app opens on the whole image). */
const LAYER0 = { layer: 'base', mode: 'changes', collapse: NO_COLLAPSE } as const;
import { Session } from '../../src/tui/session.js';
import { assertNoControlChars, assertNotUpdatingInCI, drive, K, matchGolden, wait } from './harness.js';
import { bloatImage, bloatParts, changes, container, dir, fakeSource, file, image, whiteout } from './fixture.js';
import { analyzeChanges } from '../../src/core/analysis/analyze.js';

test('snapshot updating is refused under CI', () => {
  assertNotUpdatingInCI();
});

test('first frame, 80x24: layers, details, summary, layer 0 changes', async () => {
  const d = await drive(imageState(bloatImage(), 80, 24, 'bloat.tar'));
  matchGolden('bloat-80x24-start', d.frame());
  assertNoControlChars(d.frame());
  d.unmount();
});

test('wide terminal, 140x40', async () => {
  const d = await drive(imageState(bloatImage(), 140, 40, 'bloat.tar'));
  matchGolden('bloat-140x40-start', d.frame());
  d.unmount();
});

test('the layer that deleted the big file: marked D with the bytes it hid', async () => {
  const d = await drive(imageState(bloatImage(), 140, 30, 'bloat.tar', LAYER0));
  await d.press(K.down, K.down, K.down);
  assert.equal(d.state().layer, 3);
  const f = d.frame();
  assert.match(f, /D -rw-r--r-- +0:0 +3\.15 MB +big\.bin +\[deleted: hid 3\.15 MB from L1\]/);
  assert.match(f, /O drwxr-xr-x .* opq\/ +\[opaque: hides lower contents\]/);
  matchGolden('bloat-140x30-layer3', f);
  d.unmount();
});

test('v toggles "everything up to this layer"; removed entries show where they die', async () => {
  const d = await drive(imageState(bloatImage(), 140, 30, '', LAYER0));
  await d.press(']', ']', ']', 'v');
  assert.equal(d.state().mode, 'aggregated');
  const f = d.frame();
  assert.match(f, /Files: everything up to L3/);
  assert.match(f, / +passwd/); // unchanged files of lower layers are there
  assert.match(f, /D drwxr-xr-x .*a\/ +\[opaque dir here, from L2\]/);
  matchGolden('bloat-140x30-layer3-aggregated', f);
  // Back on L1, the big file is shown alive, with the layer that will hide it.
  await d.press('[', '[');
  assert.match(d.frame(), /big\.bin +\[hidden by L3 \(deleted\)\]/);
  d.unmount();
});

test('collapse and expand (space, left/right, ctrl+space), state beside the tree', async () => {
  const a = bloatImage();
  const d = await drive(imageState(a, 100, 30, '', LAYER0));
  await d.press(K.tab);
  assert.equal(d.state().focus, 'files');
  await d.press(K.space);
  assert.ok(d.state().collapse.paths.has('bin'));
  assert.match(d.frame(), /▸ bin\//);
  assert.doesNotMatch(d.frame(), /busybox/);
  await d.press(K.right);
  assert.match(d.frame(), /busybox/);
  await d.press(K.ctrlSpace);
  const f = d.frame();
  assert.match(f, /▸ bin\//);
  assert.match(f, /▸ etc\//);
  assert.doesNotMatch(f, /passwd/);
  matchGolden('bloat-100x30-collapsed-all', f);
  await d.press('z');
  assert.match(d.frame(), /passwd/);
  // Collapse state lives beside the tree: the model's nodes hold nothing but evidence.
  assert.equal(a.view.nodes.every((n) => !('collapsed' in n)), true);
  d.unmount();
});

test('filters: ctrl+a hides added, ctrl+r removed, M modified, ctrl+u unmodified', async () => {
  const d = await drive(imageState(bloatImage(), 100, 30, '', LAYER0));
  await d.press(']', ']', ']', K.tab);
  await d.press(K.ctrl('a'));
  let f = d.frame();
  assert.match(f, /hiding A/);
  assert.doesNotMatch(f, / A -rw/);
  assert.match(f, /big\.bin/);
  await d.press(K.ctrl('r'));
  f = d.frame();
  assert.doesNotMatch(f, /D .*big\.bin/);
  matchGolden('bloat-100x30-layer3-hide-added-removed', f);
  await d.press(K.ctrl('a'), K.ctrl('r'), 'M', K.ctrl('u'));
  assert.match(d.frame(), /hiding MU/);
  d.unmount();
});

test('ctrl+o sorts by size; ctrl+b hides the attribute columns', async () => {
  const d = await drive(imageState(bloatImage(), 100, 30, '', LAYER0));
  await d.press(']', 'v', K.ctrl('o'));
  let f = d.frame();
  assert.match(f, /by size/);
  // data (3 MB) before bin (1 MB) before etc (100 B)
  assert.ok(f.indexOf('data/') < f.indexOf('bin/') && f.indexOf('bin/') < f.indexOf('etc/'));
  await d.press(K.ctrl('b'));
  f = d.frame();
  assert.doesNotMatch(f, /drwxr-xr-x/);
  matchGolden('bloat-100x30-by-size-no-attrs', f);
  d.unmount();
});

test('search across all layers: where a path appears and where it died; Enter shows it', async () => {
  const d = await drive(imageState(bloatImage(), 100, 30, '', LAYER0));
  await d.press('/');
  await d.type('big');
  assert.match(d.frame(), /\/big█/);
  await d.press(K.enter);
  let f = d.frame();
  assert.match(f, /Search substring "big": 1 paths/);
  assert.match(f, /▶\/data\/big\.bin  L1 A 3\.15 MB \(deleted L3\), L3 D/);
  matchGolden('bloat-100x30-search-big', f);
  await d.press(K.enter);
  assert.equal(d.state().layer, 3);
  f = d.frame();
  assert.match(f, /▶D .*big\.bin/);
  // Regex search over escaped names.
  await d.press('/');
  await d.press(K.ctrl('u')); // not a text key: ignored in the prompt
  for (let i = 0; i < 3; i++) await d.press(K.backspace);
  await d.press(K.tab);
  await d.type('PWNED.*txt$');
  await d.press(K.enter);
  f = d.frame();
  assert.match(f, /regex/);
  assert.match(f, /\/names\/title-\\e\]0;PWNED\\x07\.txt +L4 A 10 B \(deleted L5\)/);
  assertNoControlChars(f);
  await d.press(K.esc);
  assert.equal(d.state().search, null);
  d.unmount();
});

test('a bad regex says so', async () => {
  const d = await drive(imageState(bloatImage(), 100, 30, '', LAYER0));
  await d.press('/', K.tab);
  await d.type('(');
  await d.press(K.enter);
  assert.match(d.frame(), /invalid regular expression/);
  d.unmount();
});

test('summary: Enter on a hidden file selects its layer and path', async () => {
  const d = await drive(imageState(bloatImage(), 140, 30, '', LAYER0));
  await d.press(K.tab, K.tab);
  assert.equal(d.state().focus, 'summary');
  await d.press(K.down, K.enter);
  const s = d.state();
  assert.equal(s.layer, 2);
  assert.equal(s.focus, 'files');
  assert.match(d.frame(), /▶A -rw-r--r-- .*file +\[hidden by L3 \(opaque dir\)\]/);
  assert.equal(d.state().fileCursor, 7);
  matchGolden('bloat-140x30-summary-jump', d.frame());
  d.unmount();
});

test('hostile names are escaped, never sent raw', async () => {
  const d = await drive(imageState(bloatImage(), 140, 30, '', LAYER0));
  await d.press(']', ']', ']', ']');
  const f = d.frame();
  assert.match(f, /title-\\e\]0;PWNED\\x07\.txt/);
  assert.match(f, /red-\\e\[31mtext\\e\[0m\.txt/);
  assert.match(f, /bad-\\xff\\xfe-utf8\.txt/);
  assertNoControlChars(f);
  matchGolden('bloat-140x30-hostile-names', f);
  for (const fr of d.frames) assert.ok(!fr.includes('\x07') && !fr.includes('\x1b]0;PWNED'), 'a frame holds the raw title sequence');
  d.unmount();
});

test('help is generated from the key table, and q quits with code 0', async () => {
  const d = await drive(imageState(bloatImage(), 100, 30, '', LAYER0));
  await d.press('?');
  const f = d.frame();
  assert.match(f, /generated from the key table/);
  assert.match(helpLines().join('\n'), /ctrl\+o +sort the tree by name \/ by size/);
  matchGolden('bloat-100x30-help', f);
  await d.press(K.esc);
  assert.equal(d.state().help, false);
  await d.press('q');
  assert.equal(d.state().quit, true);
  assert.equal(d.exitCode, 0);
  d.unmount();
});

test('ctrl+c quits too', async () => {
  const d = await drive(imageState(bloatImage(), 80, 24, '', LAYER0));
  await d.press(K.ctrl('c'));
  assert.equal(d.exitCode, 0);
  d.unmount();
});

test('paging, Home/End, mouse wheel', async () => {
  const big = image('many:1', ['/bin/sh -c #(nop) ADD many']);
  const entries = [dir('d'), ...Array.from({ length: 200 }, (_, i) => file(`d/f${String(i).padStart(3, '0')}`, i))];
  const a = analyzeChanges(big, [changes(entries)]);
  const d = await drive(imageState(a, 80, 24, '', LAYER0));
  await d.press(K.tab, K.pgdn);
  assert.equal(d.state().fileCursor, 18);
  await d.press(K.end);
  assert.equal(d.state().fileCursor, 200);
  assert.match(d.frame(), /▶A .*f199/);
  await d.press(K.home);
  assert.equal(d.state().fileCursor, 0);
  await d.press(K.wheelDown, K.wheelDown);
  assert.equal(d.state().fileCursor, 6);
  await d.press(K.wheelUp);
  assert.equal(d.state().fileCursor, 3);
  await d.press('j', 'j', 'k');
  assert.equal(d.state().fileCursor, 4);
  matchGolden('many-80x24-scrolled', d.frame());
  // The wheel scrolls the pane under the pointer: row 3, column 5 is in the layer list.
  await d.press('\u001B[<65;5;3M');
  assert.equal(d.state().focus, 'layers');
  d.unmount();
});

test('picker: images with sizes and hidden bytes, containers with their docker diff counts; container view', async () => {
  const bloat = bloatParts();
  const other = image('other:2', ['/bin/sh -c #(nop) ADD x'], 'sha256:' + 'e'.repeat(64));
  const src = fakeSource(
    [bloat, { info: other, changes: [changes([dir('x'), file('x/y', 1234)])] }],
    [
      {
        info: container('web-1', bloat.info.id),
        rw: changes([dir('data'), file('data/added.txt', 42, { mtime: 1704153600 }), whiteout('data/f'), dir('tmp', { mode: 0o1777 }), file('tmp/dropper.sh', 99, { mode: 0o755 })]),
      },
    ],
  );
  const session = new Session({ location: '/fake', open: async () => src, progressEveryMs: 0 });
  const d = await drive(initialState(100, 30), { driver: session });
  await d.until((s) => s.screen === 'picker' && Object.keys(s.containerStats).length === 1 && Object.keys(s.imageStats).length === 2);
  const f = d.frame();
  assert.match(f, /▶bloat:1 +ffffffffffff +4\.15 MB +3\.15 MB +6/);
  assert.match(f, / other:2 +eeeeeeeeeeee +1\.23 kB +0 B +1/);
  assert.match(f, / web-1 +bloat:1 +exited\(0\) +A 2  C 2  D 1/);
  matchGolden('picker-100x30', f);
  await d.press(K.down, K.down, K.enter);
  await d.until((s) => s.screen === 'container');
  // The changes tab: the image view of the container's stack, on its RW layer.
  const tree = d.frame();
  assert.equal(d.state().layer, 6, 'the RW layer (on the six image layers) is selected');
  assert.match(tree, /\[1 Changes\] 2 Diff 3 Inspect 4 Mounts 5 Logs/);
  assert.match(tree, /▶ +6 .* container RW/);
  assert.match(tree, /A -rw-r--r-- .*42 B +added\.txt/);
  assert.match(tree, /D .* f +\[deleted: hid/);
  matchGolden('container-100x30-changes', tree);
  await d.press('2');
  const c = d.frame();
  assert.match(c, /A -rw-r--r-- +42 B 2024-01-02 00:00:00 \/data\/added\.txt/);
  assert.match(c, /D +\/data\/f/);
  matchGolden('container-100x30', c);
  await d.press('t');
  assert.equal(d.state().tabs.tab, 'inspect');
  await d.press('t');
  assert.match(d.frame(), /\(no mounts: the container saw only its own filesystem\)/);
  await d.press('1');
  assert.equal(d.state().layer, 6, 'back on the changes tab as it was left');
  await d.press(K.esc);
  assert.equal(d.state().screen, 'picker');
  await d.press(K.up, K.up, K.enter);
  await d.until((s) => s.screen === 'image');
  assert.match(d.frame(), /bloat:1 ffffffffffff │ \/fake/);
  await d.press('i');
  assert.equal(d.state().screen, 'picker');
  d.unmount();
});

test('progress is shown while a slow source loads', async () => {
  const src = fakeSource([bloatParts()], [], 200);
  const session = new Session({ location: '/slow', open: async () => src, progressEveryMs: 0 });
  const d = await drive(initialState(80, 24), { driver: session });
  // The image's six layers are read at once (each read takes 200 ms here): look while they are.
  await wait(60);
  assert.match(d.frame(), /reading layers/);
  assert.match(d.frame(), /\[#*\.+\] \d\/6/);
  await d.until((s) => s.screen === 'image');
  d.unmount();
});

test('an unreadable source: error screen, q quits with code 3', async () => {
  const session = new Session({ location: '/nope', open: async () => Promise.reject(new Error('cannot open \x1b]0;PWNED\x07: denied')) });
  const d = await drive(initialState(80, 24), { driver: session });
  await d.until((s) => s.screen === 'error');
  const f = d.frame();
  assert.match(f, /cannot open \\e\]0;PWNED\\x07: denied/);
  assertNoControlChars(f);
  await d.press('q');
  assert.equal(d.exitCode, 3);
  d.unmount();
});

test('p lists the problems found in the evidence, escaped', async () => {
  const base = bloatParts();
  const changes = base.changes.map((c, i) =>
    i === 2 ? { ...c, problems: [{ severity: 'error' as const, code: 'layer.file.unreadable', message: 'cannot read \x1b]0;PWNED\x07', path: 'overlay2/abc/diff/x' }] } : c,
  );
  const a = analyzeChanges(base.info, changes);
  const d = await drive(imageState(a, 100, 30, 'x.tar', LAYER0));
  assert.match(d.frame(), /1 problem \(p\)/);
  await d.press('p');
  const f = d.frame();
  assert.match(f, /error   layer\.file\.unreadable: cannot read \\e\]0;PWNED\\x07  \(overlay2\/abc\/diff\/x\)/);
  assertNoControlChars(f);
  matchGolden('problems-100x30', f);
  await d.press(K.esc);
  assert.equal(d.state().showProblems, false);
  d.unmount();
});

test('resize: the layout follows the terminal', async () => {
  const d = await drive(imageState(bloatImage(), 80, 24, '', LAYER0));
  assert.equal(d.frame().split('\n')[1]!.length, 80);
  d.unmount();
  const { reduce } = await import('../../src/tui/state/index.js');
  const s = reduce(imageState(bloatImage(), 80, 24, '', LAYER0), { type: 'resize', width: 160, height: 50 });
  const w = await drive(s);
  assert.equal(w.frame().split('\n')[1]!.length, 160);
  assert.equal(w.frame().split('\n').length, 50);
  w.unmount();
});

test('80x24: picker, help and container screens fit', async () => {
  const { reduce } = await import('../../src/tui/state/index.js');
  const { analyzeContainer } = await import('../../src/core/analysis/container.js');
  const bloat = bloatParts();
  const ct = container('db-\x1b]0;PWNED\x07', bloat.info.id, { state: 'running', pid: 4242, exitCode: null });
  const src = fakeSource([bloat], [{ info: ct, rw: changes([dir('etc'), file('etc/passwd', 120), dir('root', { mode: 0o700 }), dir('root/.ssh'), file('root/.ssh/authorized_keys', 400, { mode: 0o600 })]) }]);
  let s = reduce(initialState(80, 24), { type: 'sourceOpened', location: '/var/lib/docker', images: src.images, containers: src.containers });
  s = reduce(s, { type: 'imageStats', id: bloat.info.id, stats: { bytes: 4150000, hiddenBytes: 3150000, layers: 6 } });
  s = reduce(s, { type: 'containerStats', id: ct.id, stats: { added: 3, changed: 2, deleted: 0 } });
  const d = await drive(s);
  matchGolden('picker-80x24', d.frame());
  assertNoControlChars(d.frame());
  await d.press('?');
  matchGolden('help-80x24', d.frame());
  await d.press('G');
  assert.match(d.frame(), /"hidden by Ln"/, 'End shows the end of the help, no further');
  d.unmount();
  const c = reduce(s, { type: 'containerReady', analysis: await analyzeContainer(src, ct) });
  const e = await drive(c);
  matchGolden('container-80x24-changes', e.frame());
  assert.match(e.frame(), /\? help · q quit *$/m, 'the footer keeps help and quit at 80 columns');
  await e.press('2');
  const f = e.frame();
  assert.match(f, /A -rw------- +400 B 2024-01-01 00:00:00 \/root\/\.ssh\/authorized_keys/);
  assert.match(f, /db-\\e\]0;PWNED\\x07/);
  assertNoControlChars(f);
  matchGolden('container-80x24', f);
  e.unmount();
});

test('a big layer: the first frame says "indexing", the tree follows', async () => {
  const { syntheticImage } = await import('./fixture.js');
  const d = await drive(imageState(syntheticImage(60_000, 1000), 100, 30, '', LAYER0));
  assert.match(d.frames[0]!, /indexing 60,060 entries of L0…/);
  await d.until((s) => !s.filesPending);
  assert.match(d.frame(), /▾ d00000\//);
  d.unmount();
});
