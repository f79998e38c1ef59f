/**
 * The path table: one id per path whatever way it is interned (strings, bytes, whole paths), children kept in
 * byte order, names kept exactly (any byte), across growth of every array and rehashing of the index.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathTable, ROOT_PATH } from '../../src/core/model/paths.js';
import { compareWalkOrder } from '../../src/core/model/path.js';

test('ids are stable across growth and rehash; strings, bytes and whole paths agree; names keep every byte', () => {
  const t = new PathTable(16);
  const names: string[] = [];
  // Names of every length and byte, in an order that is not sorted (insertion lands mid-list).
  for (let i = 0; i < 5000; i++) names.push(`n${(i * 7919) % 5000}-` + String.fromCharCode(i % 256).repeat(i % 40));
  const ids = names.map((n, i) => (i % 2 ? t.intern(ROOT_PATH, n) : t.internBytes(ROOT_PATH, Buffer.from(n, 'latin1'), 0, n.length)));
  names.forEach((n, i) => {
    assert.equal(t.child(ROOT_PATH, n), ids[i], n);
    assert.equal(t.lookup(n.includes('/') ? '' : n), n.includes('/') ? ROOT_PATH : ids[i]);
    assert.equal(t.name(ids[i]!), n);
    assert.equal(t.intern(ROOT_PATH, n), ids[i], 'interning again gives the same id');
  });
  // Children in byte order.
  const kids = [...t.children(ROOT_PATH)].map((c) => t.name(c));
  assert.deepEqual(kids, [...new Set(names)].sort());
});

test('whole paths: shared prefixes, deep paths, walk order of a depth-first walk', () => {
  const t = new PathTable();
  const paths = ['a/b/c', 'a/b', 'a-b', 'a', 'a/b/c/d', 'a/b.c', 'z', 'a/b/c/e', 'y/' + 'd/'.repeat(3000) + 'leaf'];
  const ids = paths.map((p) => t.internPath(p));
  paths.forEach((p, i) => {
    assert.equal(t.path(ids[i]!), p);
    assert.equal(t.lookup(p), ids[i]);
  });
  assert.equal(t.depth(ids[8]!), 3002);
  // Depth-first over sorted children = walk order (compareWalkOrder).
  const walked: string[] = [];
  const stack: [number, string][] = [[ROOT_PATH, '']];
  while (stack.length) {
    const [id, p] = stack.pop()!;
    if (id !== ROOT_PATH) walked.push(p);
    const kids = [...t.children(id)].reverse();
    for (const k of kids) stack.push([k, p === '' ? t.name(k) : p + '/' + t.name(k)]);
  }
  assert.deepEqual(walked, [...walked].sort(compareWalkOrder));
  assert.equal(t.lookup('a/x'), -1);
  assert.equal(t.lookup('nope'), -1);
});
