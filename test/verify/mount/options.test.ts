import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMountOptions, mountArgv, MountOptionsError } from '../../../src/core/verify/mount/options.js';

const lowers = (n: number, long = false) =>
  Array.from({ length: n }, (_, i) => ({
    dir: `/var/lib/docker/overlay2/${(long ? 'f'.repeat(58) : '') + String(i).padStart(6, '0')}/diff`,
    short: `l/${String.fromCharCode(65 + (i % 26)).repeat(20)}${String(i).padStart(6, '0')}`,
  }));

test('absolute form: read-only flags, index=off first, lowerdir nearest first, no upperdir/workdir', () => {
  const mo = buildMountOptions({ lowers: [{ dir: '/r/overlay2/top/diff', short: 'l/T' }, { dir: '/r/overlay2/base/diff', short: 'l/B' }], shortCwd: '/r/overlay2', indexOff: true, pageSize: 4096 });
  assert.equal(mo.form, 'absolute');
  assert.equal(mo.cwd, null);
  assert.equal(mo.options, 'ro,nosuid,nodev,noexec,index=off,lowerdir=/r/overlay2/top/diff:/r/overlay2/base/diff');
  assert.equal(mo.data, 'index=off,lowerdir=/r/overlay2/top/diff:/r/overlay2/base/diff');
  assert.doesNotMatch(mo.options, /upperdir|workdir/);
  assert.deepEqual(mountArgv(mo, '/tmp/layerscope-mnt-1-abcdef/merged'), ['mount', '-t', 'overlay', '-o', mo.options, 'overlay', '/tmp/layerscope-mnt-1-abcdef/merged']);
});

test('no index=off where the module has no index parameter', () => {
  const mo = buildMountOptions({ lowers: lowers(2), shortCwd: null, indexOff: false, pageSize: 4096 });
  assert.match(mo.options, /^ro,nosuid,nodev,noexec,lowerdir=/);
});

test('past a page: the short l/<link> form, run from the overlay2 home (as moby mountFrom)', () => {
  const ls = lowers(81, true);
  const mo = buildMountOptions({ lowers: ls, shortCwd: '/var/lib/docker/overlay2', indexOff: true, pageSize: 4096 });
  assert.equal(mo.form, 'short');
  assert.equal(mo.cwd, '/var/lib/docker/overlay2');
  assert.equal(mo.data, 'index=off,lowerdir=' + ls.map((l) => l.short).join(':'));
  assert.ok(mo.data.length < 4096);
});

test('the switch happens exactly at pagesize-1 bytes of data', () => {
  // Find a stack size whose absolute data is just over the limit with a small page.
  const ls = lowers(3);
  const abs = 'lowerdir=' + ls.map((l) => l.dir).join(':');
  assert.equal(buildMountOptions({ lowers: ls, shortCwd: '/x', indexOff: false, pageSize: abs.length + 1 }).form, 'absolute');
  assert.equal(buildMountOptions({ lowers: ls, shortCwd: '/x', indexOff: false, pageSize: abs.length }).form, 'short');
});

test('refusals: one lower, no short names when needed, names that would break the option string', () => {
  assert.throws(() => buildMountOptions({ lowers: lowers(1), shortCwd: null, indexOff: true, pageSize: 4096 }), MountOptionsError);
  const ls = lowers(81, true);
  ls[5]!.short = null;
  assert.throws(() => buildMountOptions({ lowers: ls, shortCwd: '/x', indexOff: true, pageSize: 4096 }), /no short name/);
  assert.throws(() => buildMountOptions({ lowers: [{ dir: '/a,upperdir=/etc', short: null }, { dir: '/b', short: null }], shortCwd: null, indexOff: true, pageSize: 4096 }), /cannot go into overlay mount options/);
  assert.throws(() => buildMountOptions({ lowers: [{ dir: '/a:/etc', short: null }, { dir: '/b', short: null }], shortCwd: null, indexOff: true, pageSize: 4096 }), MountOptionsError);
  const abs = lowers(81, true).map((l, i) => ({ ...l, short: i === 3 ? '/abs/path' : l.short }));
  assert.throws(() => buildMountOptions({ lowers: abs, shortCwd: '/x', indexOff: true, pageSize: 4096 }), /not a plain relative path/);
});
