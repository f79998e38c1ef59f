/**
 * Whiteout semantics, hidden-byte attribution and added/modified classification on hand-made changesets.
 * Each case is one rule of image-spec layer.md (or a pitfall from formats.md §6); the engine-backed suites
 * check the same machinery against real layers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StackView } from '../../src/core/analysis/stack.js';
import { analyzeChanges, tablesOf } from '../../src/core/analysis/analyze.js';
import { mergedRows } from '../../src/core/analysis/views.js';
import { dockerDiffOf } from '../../src/core/analysis/docker-diff.js';
import type { Attrs, ImageInfo, LayerEntry } from '../../src/core/model/index.js';

const f = (path: string, size = 10, extra: Partial<Attrs> = {}): LayerEntry => ({ kind: 'put', path, attrs: { type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 1, mtimeNsec: 0, ...extra } });
const d = (path: string, opaque = false, extra: Partial<Attrs> = {}): LayerEntry => ({ kind: 'put', path, opaque, attrs: { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 4096, mtime: 1, mtimeNsec: 0, ...extra } });
const link = (path: string, target: string, size = 10): LayerEntry => ({ kind: 'put', path, attrs: { type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size, mtime: 1, mtimeNsec: 0, linkname: target } });
const w = (path: string): LayerEntry => ({ kind: 'whiteout', path });

function analyze(...layers: LayerEntry[][]) {
  const image = { id: 'sha256:' + '0'.repeat(64), tags: [], digests: [], created: null, os: null, architecture: null, layers: layers.map((_, i) => ({ index: i, diffId: '', chainId: '', cacheId: null, createdBy: null, created: null, comment: null, location: null, storedSize: null })), emptyHistory: 0, config: {} } satisfies ImageInfo;
  return analyzeChanges(image, layers.map((entries) => ({ entries, problems: [] })));
}

const visible = (s: StackView, layer?: number) => mergedRows(s, layer).map((r) => r.path);

test('a whiteout deletes the lower path and its whole subtree; the bytes are hidden by that layer', () => {
  const a = analyze([d('a'), f('a/x', 100), d('a/sub'), f('a/sub/y', 5), f('b', 1)], [w('a')]);
  assert.deepEqual(visible(a.view), ['b']);
  assert.deepEqual(a.hidden.map((h) => [h.path, h.layer, h.by, h.reason, h.bytes]), [['a/x', 0, 1, 'deleted', 100], ['a/sub/y', 0, 1, 'deleted', 5]]);
  assert.equal(a.hiddenBytes, 105);
  assert.equal(a.efficiency, 1 / 106);
  assert.deepEqual(visible(a.view, 0), ['a', 'a/sub', 'a/sub/y', 'a/x', 'b']);
});

test('a whiteout applies to lower layers only: a same-layer entry of that name survives, whatever the order', () => {
  // Tar form: `.wh.x` and `x` in one layer (order reversed on purpose).
  const a = analyze([f('x', 7)], [f('x', 3), w('x')]);
  assert.deepEqual(visible(a.view), ['x']);
  assert.equal(mergedRows(a.view)[0]!.layer, 1);
  assert.equal(a.layers[1]!.modified, 1, 'the path existed below: modified, not added');
  assert.equal(a.layers[1]!.deleted, 1);
  assert.deepEqual(a.hidden.map((h) => [h.path, h.by, h.reason]), [['x', 1, 'deleted']]);
});

test('an opaque dir hides every lower child but keeps its own entries, regardless of order', () => {
  const a = analyze([d('o'), f('o/a', 4), d('o/d'), f('o/d/b', 6)], [f('o/c', 1), d('o', true), f('o/a', 2)]);
  assert.deepEqual(visible(a.view), ['o', 'o/a', 'o/c']);
  assert.deepEqual(a.hidden.map((h) => [h.path, h.reason]).sort(), [['o/a', 'opaque'], ['o/d/b', 'opaque']]);
  assert.equal(a.layers[1]!.opaqueDirs, 1);
  assert.equal(a.layers[1]!.added, 1, 'o/c is new');
  assert.equal(a.layers[1]!.modified, 2, 'o and o/a existed below');
});

test('overwriting a file hides the old bytes; replacing a dir with a file hides its subtree as "replaced"', () => {
  const a = analyze([f('f', 50), d('d'), f('d/x', 9)], [f('f', 60), f('d', 1)]);
  assert.deepEqual(a.hidden.map((h) => [h.path, h.reason, h.bytes]).sort(), [['d/x', 'replaced', 9], ['f', 'overwritten', 50]]);
  assert.deepEqual(visible(a.view), ['d', 'f']);
});

test('hardlinks: bytes counted once per inode, and stay visible while any name does', () => {
  const a = analyze([d('data'), f('data/f', 1000), link('data/f-link', 'data/f', 1000)], [w('data/f-link')]);
  assert.equal(a.layers[0]!.bytes, 1000, 'one inode, counted once');
  assert.equal(a.hiddenBytes, 0, 'data/f still shows the bytes');
  const b = analyze([d('data'), f('data/f', 1000), link('data/f-link', 'data/f', 1000)], [w('data/f')], [w('data/f-link')]);
  assert.deepEqual(b.hidden.map((h) => [h.path, h.by, h.bytes, h.links]), [['data/f', 2, 1000, ['data/f-link']]]);
});

test('a tar layer without parent dir entries gets implicit dirs; a file in the way is replaced', () => {
  const a = analyze([f('p', 5)], [f('p/q/r', 1)]);
  assert.deepEqual(visible(a.view), ['p', 'p/q', 'p/q/r']);
  assert.deepEqual(a.hidden.map((h) => [h.path, h.reason]), [['p', 'replaced']]);
});

test('an empty image wastes nothing: efficiency 1, no division by zero', () => {
  const a = analyze([]);
  assert.equal(a.bytes, 0);
  assert.equal(a.efficiency, 1);
  const one = analyze([f('x', 0)]);
  assert.equal(one.efficiency, 1);
});

test('docker diff semantics: parent dirs of changes are C, a deleted dir is one D, unchanged copy-ups are not changes', () => {
  const base = { entries: [d('etc'), f('etc/passwd', 10), d('gone'), f('gone/x'), f('same', 3)], problems: [] };
  const init = { entries: [d('etc'), f('etc/hosts', 0)], problems: [] };
  const rw = { entries: [d('etc'), f('etc/passwd', 11), w('gone'), f('new', 1), f('same', 3)], problems: [] };
  const [tb, ti, trw] = tablesOf([base, init, rw]);
  const got = dockerDiffOf(trw!, [tb!, ti!]).map((c) => `${c.kind} ${c.path}`);
  assert.deepEqual(got, ['C /etc', 'C /etc/passwd', 'D /gone', 'A /new']);
});
