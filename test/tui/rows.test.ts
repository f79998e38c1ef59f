/** Pure row builders: model in, lines out, checked line by line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flatTree, NO_COLLAPSE, visibleView, ALL_KINDS } from '../../src/tui/file-tree.js';
import {
  detailLines,
  fitParts,
  wrapText,
  fileHeader,
  fileLines,
  filesTitle,
  layerLines,
  searchHitRow,
  shortCommand,
  summaryLines,
  versionText,
} from '../../src/tui/rows.js';
import { searchPaths } from '../../src/tui/search.js';
import { DEFAULT_FILTERS } from '../../src/tui/state/index.js';
import { bloatImage } from './fixture.js';

const texts = (ls: { text: string }[]) => ls.map((l) => l.text);

test('shortCommand: dive-style RUN/ADD, escaped', () => {
  assert.equal(shortCommand('/bin/sh -c #(nop) ADD file:abc in / '), 'ADD file:abc in /');
  assert.equal(shortCommand('/bin/sh -c echo hi'), 'RUN echo hi');
  assert.equal(shortCommand('RUN /bin/sh -c make # buildkit'), 'RUN /bin/sh -c make');
  assert.equal(shortCommand('/bin/sh -c printf "\x1b]0;PWNED\x07"'), 'RUN printf "\\e]0;PWNED\\x07"');
  assert.equal(shortCommand(null), '(no history entry)');
});

test('layer table', () => {
  const a = bloatImage();
  assert.deepEqual(texts(layerLines(a, 3, 0, 7)), [
    '   #     Size   Hidden  Command',
    '   0  1.00 MB        -  ADD file:abc in /',
    '   1  3.15 MB  3.15 MB  RUN dd if=/dev/zero of=/data/big.bin bs=1M count=3 && echo keep > /data/keep.txt',
    '   2  5.02 kB  5.00 kB  RUN echo again > /data/keep.txt && chmod 600 /data/f && mkdir -p /opq/a /opq/b',
    '▶  3      2 B        -  RUN rm /data/big.bin && rm -rf /opq && mkdir /opq && echo c > /opq/c',
    '   4     60 B     60 B  RUN mkdir /names && touch "/names/title-\\e]0;PWNED\\x07.txt"',
    '   5      0 B        -  RUN rm -rf /names',
  ]);
  // Windowed: only the rows asked for are built.
  assert.equal(layerLines(a, 5, 4, 3).length, 3);
});

test('layer details: the command first, figures, ids, cache-id and its dir', () => {
  const a = bloatImage();
  assert.deepEqual(texts(detailLines(a, 3)), [
    'Layer 3 of 6  created 2024-01-01 00:00:00Z',
    'RUN rm /data/big.bin && rm -rf /opq && mkdir /opq && echo c > /opq/c',
    'A 1  M 2  D 1  opaque 1',
    '2 B, 0 B hidden',
    `diffId  sha256:${'d'.repeat(63)}3`,
    `chainId sha256:${'c'.repeat(63)}3`,
    `cacheId 3${'a'.repeat(63)}`,
    `dir     /var/lib/docker/overlay2/3${'a'.repeat(63)}/diff`,
    'comment -',
  ]);
  // A narrow pane: the command wraps (at most two lines here, the rest in the config view), figures stay whole.
  const narrow = texts(detailLines(a, 3, 32, 2));
  assert.deepEqual(narrow.slice(0, 5), ['Layer 3 of 6', 'RUN rm /data/big.bin && rm -rf', '/opq && mkdir /opq & … (c: all)', 'A 1  M 2  D 1  opaque 1', '2 B, 0 B hidden']);
  for (const l of narrow.slice(0, 5)) assert.ok(l.length <= 32, l);
});

test('fitParts never cuts a figure; wrapText wraps at spaces and cuts only what cannot wrap', () => {
  assert.equal(fitParts(['Total 4.15 MB', 'hidden 3.15 MB', '8 files'], 30), 'Total 4.15 MB  hidden 3.15 MB');
  assert.equal(fitParts(['Efficiency 59.5%', 'visible 1.00 MB'], 20), 'Efficiency 59.5%');
  assert.deepEqual(wrapText('a bb ccc dddd', 8), ['a bb ccc', 'dddd']);
  assert.deepEqual(wrapText('x'.repeat(20), 8), ['xxxxxxxx', 'xxxxxxxx', 'xxxx']);
});

test('summary: totals, efficiency, largest hidden files (escaped)', () => {
  const a = bloatImage();
  assert.deepEqual(texts(summaryLines(a, 0, 0, 12, true)), [
    'Total 4.15 MB  hidden 3.15 MB  8 files',
    'Efficiency 24.1%  visible 1.00 MB',
    '    Size  Layer  Largest hidden files',
    '▶3.15 MB L1>L3  /data/big.bin (deleted)',
    ' 3.00 kB L2>L3  /opq/b/file (opaque)',
    ' 2.00 kB L2>L3  /opq/a/file (opaque)',
    '    30 B L4>L5  /names/bad-\\xff\\xfe-utf8.txt (deleted)',
    '    20 B L4>L5  /names/red-\\e[31mtext\\e[0m.txt (deleted)',
    '    13 B L1>L2  /data/f (overwritten, 2 copies)',
    '    10 B L4>L5  /names/title-\\e]0;PWNED\\x07.txt (deleted)',
    '     5 B L1>L2  /data/keep.txt (overwritten, 2 copies)',
  ]);
});

test("file rows: a layer's changes, with marks, modes, owners, sizes, what deletions hid", () => {
  const a = bloatImage();
  const t = flatTree(a, 3, 'changes', 'name');
  const v = visibleView(t, NO_COLLAPSE, ALL_KINDS);
  assert.deepEqual(texts([fileHeader(true), ...fileLines(t, v, 1, 0, 10, true)]), [
    '  Mode       Uid:Gid       Size Name',
    ' M drwxr-xr-x       0:0  3.15 MB ▾ data/',
    '▶D -rw-r--r--       0:0  3.15 MB     big.bin  [deleted: hid 3.15 MB from L1]',
    ' O drwxr-xr-x       0:0      2 B ▾ opq/  [opaque: hides lower contents]',
    ' A -rw-r--r--       0:0      2 B     c',
  ]);
});

test('file rows: everything up to a layer, unchanged context, removed entries, later hiders', () => {
  const a = bloatImage();
  const t = flatTree(a, 2, 'aggregated', 'name');
  const v = visibleView(t, NO_COLLAPSE, ALL_KINDS);
  assert.deepEqual(texts(fileLines(t, v, -1, 0, 40, true)), [
    '   drwxr-xr-x       0:0  1.00 MB ▾ bin/',
    '   -rwxr-xr-x       0:0  1.00 MB     busybox',
    '   lrwxrwxrwx       0:0              sh -> busybox',
    ' M drwxr-xr-x       0:0  3.15 MB ▾ data/',
    '   -rw-r--r--       0:0  3.15 MB     big.bin  [hidden by L3 (deleted)]',
    ' M -rw-------       0:0     13 B     f',
    ' M -rw-r--r--       0:0      6 B     keep.txt',
    '   drwxr-xr-x       0:0    100 B ▾ etc/',
    '   -rw-r--r--       0:0    100 B     passwd',
    ' A drwxr-xr-x       0:0  5.00 kB ▾ opq/',
    ' A drwxr-xr-x       0:0  2.00 kB   ▾ a/  [hidden by L3 (opaque dir)]',
    ' A -rw-r--r--       0:0  2.00 kB       file  [hidden by L3 (opaque dir)]',
    ' A drwxr-xr-x       0:0  3.00 kB   ▾ b/  [hidden by L3 (opaque dir)]',
    ' A -rw-r--r--       0:0  3.00 kB       file  [hidden by L3 (opaque dir)]',
    '   drwxrwxrwt       0:0          ▾ tmp/',
  ]);
  // L5 removes names/ (rm -rf): shown deleted with its subtree, where it dies.
  const t5 = flatTree(a, 5, 'aggregated', 'name');
  const v5 = visibleView(t5, NO_COLLAPSE, 1 << 3);
  assert.deepEqual(texts(fileLines(t5, v5, -1, 0, 40, false)), [
    ' D     60 B ▾ names/  [deleted here, from L4]',
    ' D     30 B     bad-\\xff\\xfe-utf8.txt  [deleted here, from L4]',
    ' D     20 B     red-\\e[31mtext\\e[0m.txt  [deleted here, from L4]',
    ' D     10 B     title-\\e]0;PWNED\\x07.txt  [deleted here, from L4]',
  ]);
});

test('attribute columns off, owner column off', () => {
  const a = bloatImage();
  const t = flatTree(a, 0, 'changes', 'name');
  const v = visibleView(t, NO_COLLAPSE, ALL_KINDS);
  assert.equal(fileLines(t, v, 0, 0, 1, false)[0]!.text, '▶A  1.00 MB ▾ bin/');
  assert.equal(fileLines(t, v, 0, 0, 1, true, false)[0]!.text, '▶A drwxr-xr-x  1.00 MB ▾ bin/');
  assert.equal(fileHeader(false).text, '      Size Name');
});

test('files title names the view, the order and the hidden kinds', () => {
  assert.equal(filesTitle({ layer: 3, mode: 'changes', sort: 'name', filters: DEFAULT_FILTERS }), 'Files: L3 changes');
  assert.equal(filesTitle({ layer: 3, mode: 'aggregated', sort: 'size', filters: { ...DEFAULT_FILTERS, added: false, unmodified: false } }), 'Files: everything up to L3, by size, hiding AU');
});

test('search hits: every version of a path, where it died', () => {
  const a = bloatImage();
  const r = searchPaths(a, 'keep', false);
  assert.deepEqual(r.hits.map((h) => searchHitRow(h, false).text), [' /data/keep.txt  L1 A 5 B (overwritten L2), L2 M 6 B']);
  const big = searchPaths(a, 'big.bin', false).hits[0]!;
  assert.deepEqual(big.versions.map(versionText), ['L1 A 3.15 MB (deleted L3)', 'L3 D']);
  assert.deepEqual(searchPaths(a, '^/opq/[ab]$', true).hits.map((h) => searchHitRow(h, false).text), [
    ' /opq/a  L2 A dir (opaque dir L3)',
    ' /opq/b  L2 A dir (opaque dir L3)',
  ]);
  // The raw bytes match too (a name typed as UTF-8 text), and the escaped rendering.
  assert.equal(searchPaths(a, '\\xff\\xfe', false).hits.length, 1);
  assert.equal(searchPaths(a, '\x1b]0;', false).hits.length, 1);
  assert.equal(searchPaths(a, '(', true).error !== null, true);
});

test('container rows: ids, names, refs and states from evidence are escaped', async () => {
  const { containerRow, containerInfoLines } = await import('../../src/tui/rows.js');
  const { container } = await import('./fixture.js');
  const c = container('x', 'sha256:\x1b]0;PWNED\x07', { id: '\x1b[2J\x1b]0;PWNED\x07abcdef', imageRef: null, state: 'weird\x1b[31m' as never });
  const row = containerRow(c, { added: 1, changed: 0, deleted: 0 }, false).text;
  assert.equal(row, ' x                      \\e]0;PWNED\\x07       weird\\e[31m  A 1  C 0  D 0');
  const info = containerInfoLines({ container: c, image: null, rw: { entries: [], problems: [] }, changes: [], counts: { added: 0, changed: 0, deleted: 0 }, problems: [] });
  for (const l of info) assert.doesNotMatch(l.text, /[\x00-\x1f\x7f]/);
});
