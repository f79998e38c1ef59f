import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unpackLayer } from '../../../src/core/verify/mount/unpack.js';
import { tableOf } from '../../support/tables.js';
import type { Attrs, LayerEntry } from '../../../src/core/model/types.js';
import { FakeRunner } from './fake-runner.js';

const put = (p: string, a: Partial<Attrs>): LayerEntry => ({ kind: 'put', path: p, attrs: { type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1700000000, mtimeNsec: 0, ...a } });

test('archive layout: sparse files of the right size, symlinks, hardlinks, modes; whiteouts and devices through mknod argv', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-unpack-'));
  // The fake mknod leaves a plain file where the node would be (the test need not be root).
  const runner = new FakeRunner((argv) => {
    if (argv[0] === 'mknod') fs.writeFileSync(argv[3]!, '');
  });
  const r = await unpackLayer(
    tableOf({
      entries: [
        put('bin', { type: 'dir', mode: 0o755 }),
        put('bin/big', { size: 5 << 20, mode: 0o4755 }),
        put('bin/link', { type: 'hardlink', linkname: 'bin/big', size: 5 << 20 }),
        put('bin/sh', { type: 'symlink', mode: 0o777, linkname: 'big', size: 3 }),
        put('dev/null', { type: 'char', devMajor: 1, devMinor: 3 }),
        { kind: 'whiteout', path: 'gone' },
        put('ro', { type: 'dir', mode: 0o555 }),
        put('ro/f', { size: 1 }),
      ],
      problems: [],
    }),
    path.join(dir, 'L0'),
    { runner, xattrNamespace: 'user', chown: false },
  );
  const L = path.join(dir, 'L0');
  const st = fs.statSync(path.join(L, 'bin/big'));
  assert.equal(st.size, 5 << 20);
  assert.ok(st.blocks * 512 < 1 << 20, 'sparse');
  assert.equal(st.mode & 0o7777, 0o4755);
  assert.equal(fs.statSync(path.join(L, 'bin/link')).ino, st.ino);
  assert.equal(fs.readlinkSync(path.join(L, 'bin/sh')), 'big');
  assert.equal(fs.statSync(path.join(L, 'ro')).mode & 0o777, 0o555);
  assert.deepEqual(runner.argvs(), [
    ['mknod', '-m', '600', `${L}/dev/null`, 'c', '1', '3'],
    ['mknod', '-m', '000', `${L}/gone`, 'c', '0', '0'],
  ]);
  assert.match(r.notes.join('\n'), /2 regular file\(s\) created sparse/);
  fs.chmodSync(path.join(L, 'ro'), 0o755);
  fs.rmSync(dir, { recursive: true });
});

test('archive layout never writes through a symlink: entries below a symlinked parent and hardlinks through it are refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-unpack-'));
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'victim'), 'host file');
  fs.chmodSync(path.join(outside, 'victim'), 0o600);
  const runner = new FakeRunner();
  const L = path.join(dir, 'L0');
  const r = await unpackLayer(
    tableOf({
      entries: [
        put('a', { type: 'symlink', mode: 0o777, linkname: outside, size: outside.length }),
        put('a/evil', { size: 3, mode: 0o4777 }),
        put('a/sub', { type: 'dir', mode: 0o777 }),
        put('h', { type: 'hardlink', linkname: 'a/victim', size: 9 }),
        { kind: 'whiteout', path: 'a/wh' },
        put('ok', { size: 1 }),
      ],
      problems: [],
    }),
    L,
    { runner, xattrNamespace: 'user', chown: false },
  );
  assert.deepEqual(fs.readdirSync(outside), ['victim']);
  assert.equal(fs.statSync(path.join(outside, 'victim')).mode & 0o7777, 0o600);
  assert.equal(fs.existsSync(path.join(L, 'h')), false);
  assert.equal(fs.existsSync(path.join(L, 'ok')), true);
  assert.deepEqual(runner.argvs(), []);
  assert.deepEqual(r.skipped.sort(), ['a/evil', 'a/sub', 'a/wh', 'h']);
  fs.rmSync(dir, { recursive: true });
});
