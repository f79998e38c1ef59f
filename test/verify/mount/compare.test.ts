import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareViews } from '../../../src/core/verify/mount/compare.js';
import { walkTree, parseFindOutput, type KernelEntry } from '../../../src/core/verify/mount/walk.js';
import type { MergedRow } from '../../../src/core/analysis/views.js';
import type { Attrs } from '../../../src/core/model/types.js';

const attrs = (a: Partial<Attrs>): Attrs => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, mtimeNsec: 0, ...a });
const row = (p: string, a: Partial<Attrs>, layer = 0): MergedRow => ({ path: p, attrs: attrs(a), layer });
const k = (p: string, e: Partial<KernelEntry>): KernelEntry => ({ path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, nlink: 1, ...e });

test('identical views agree; hardlinks compare as regular files; dir sizes are not compared', () => {
  const ours = [row('d', { type: 'dir', mode: 0o755, size: 4096 }), row('d/f', { size: 5 }, 2), row('d/g', { type: 'hardlink', linkname: 'd/f', size: 5 }, 2), row('s', { type: 'symlink', mode: 0o777, linkname: 'd/f', size: 3 }), row('c', { type: 'char', devMajor: 1, devMinor: 3 })];
  const kernel = [k('d', { type: 'dir', mode: 0o755, size: 60 }), k('d/f', { size: 5, nlink: 2 }), k('d/g', { size: 5, nlink: 2 }), k('s', { type: 'symlink', mode: 0o777, linkname: 'd/f', size: 3 }), k('c', { type: 'char', devMajor: 1, devMinor: 3 })];
  assert.deepEqual(compareViews(ours, kernel), []);
});

test('content: sha256 or CRC-64, whichever both sides have; a symlink whose target differs is not also a size difference', () => {
  const ours = [row('f', { size: 3 }), row('g', { size: 3 }), row('s', { type: 'symlink', mode: 0o777, linkname: 'ab', size: 2 })];
  const kernel = [k('f', { size: 3, sha256: 'aa', crc64: '11' }), k('g', { size: 3, sha256: 'bb', crc64: '22' }), k('s', { type: 'symlink', mode: 0o777, linkname: 'abc', size: 3 })];
  const d = compareViews(ours, kernel, { expectedContent: (r) => (r.path === 'f' ? { crc64: '11' } : { crc64: '99' }) });
  assert.deepEqual(d.map((x) => [x.kind, x.path, x.expected, x.actual]), [
    ['content', 'g', 'crc64:99', 'crc64:22'],
    ['linkname', 's', 'ab', 'abc'],
  ]);
});

test('every kind of disagreement is reported with both sides and the layer', () => {
  const ours = [row('gone', { size: 1 }, 3), row('mode', { mode: 0o755 }, 1), row('own', { uid: 1000, gid: 1000 }), row('size', { size: 10 }), row('link', { type: 'symlink', mode: 0o777, linkname: '../a', size: 4 }), row('type', { type: 'dir', mode: 0o755 }), row('dev', { type: 'char', devMajor: 1, devMinor: 3 })];
  const kernel = [k('mode', { mode: 0o4755 }), k('own', { uid: 0, gid: 0 }), k('size', { size: 11 }), k('link', { type: 'symlink', mode: 0o777, linkname: '/etc', size: 4 }), k('type', { type: 'file' }), k('dev', { type: 'char', devMajor: 1, devMinor: 5 }), k('extra', {})];
  const d = compareViews(ours, kernel);
  assert.deepEqual(
    d.map((x) => [x.kind, x.path, x.expected, x.actual, x.layer]),
    [
      ['missing', 'gone', 'file', undefined, 3],
      ['mode', 'mode', '0755', '4755', 1],
      ['owner', 'own', '1000:1000', '0:0', 0],
      ['size', 'size', '10', '11', 0],
      ['linkname', 'link', '../a', '/etc', 0],
      ['type', 'type', 'dir', 'file', 0],
      ['device', 'dev', '1:3', '1:5', 0],
      ['extra', 'extra', undefined, 'file', null],
    ],
  );
  // In a user namespace owners and device numbers are not comparable.
  assert.deepEqual(compareViews(ours, kernel, { ignoreOwner: true, ignoreDevices: true }).map((x) => x.kind), ['missing', 'mode', 'size', 'linkname', 'type', 'extra']);
});

test('walkTree: lstat only (symlinks not followed), byte names, no contents unless hashing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-walk-'));
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'sub', 'f'), 'hello');
  fs.symlinkSync('/etc', path.join(dir, 'etc-link'));
  fs.writeFileSync(Buffer.from(dir + '/bad-\xff.txt', 'latin1'), 'x');
  const r = walkTree(dir);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.entries.map((e) => [e.path, e.type, e.linkname ?? null, e.sha256 ?? null]), [
    ['bad-\xff.txt', 'file', null, null],
    ['etc-link', 'symlink', '/etc', null],
    ['sub', 'dir', null, null],
    ['sub/f', 'file', null, null],
  ]);
  const h = walkTree(dir, { hash: true });
  assert.equal(h.entries.find((e) => e.path === 'sub/f')!.sha256, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  // CRC-64/ISO as tar-split stores it (check value of "123456789" is b90956c775a41001).
  fs.writeFileSync(path.join(dir, 'sub', 'f'), '123456789');
  assert.equal(walkTree(dir, { hash: true }).entries.find((e) => e.path === 'sub/f')!.crc64, 'b90956c775a41001');
  fs.rmSync(dir, { recursive: true });
});

test('parseFindOutput keeps any name byte for byte (NUL-separated)', () => {
  const out = ['f', '4755', '0', '0', '7', '1', 'new\nline \xff', '', 'c', '600', '0', '0', '0', '1', 'dev/null', '', ''].join('\0');
  const r = parseFindOutput(out);
  assert.deepEqual(r.entries.map((e) => [e.path, e.type, e.mode, e.size]), [
    ['dev/null', 'char', 0o600, 0],
    ['new\nline \xff', 'file', 0o4755, 7],
  ]);
});
