import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MountSession, sweepLeftovers, MountError, InterruptedError } from '../../../src/core/verify/mount/session.js';
import { parseMountInfo, findLeftovers, pidOfMountDir, type MountInfoEntry } from '../../../src/core/verify/mount/mountinfo.js';
import { FIND_FORMAT } from '../../../src/core/verify/mount/walk.js';
import { FakeRunner } from './fake-runner.js';

/** A fake kernel: `mount` adds a mountinfo entry, `umount` removes it. */
function fakeKernel(opts: { failMount?: string; umountFailures?: number } = {}) {
  const table: MountInfoEntry[] = [];
  let umountFailures = opts.umountFailures ?? 0;
  const runner = new FakeRunner((argv) => {
    if (argv[0] === 'getconf') return { stdout: '4096\n' };
    if (argv[0] === 'mount') {
      if (opts.failMount) return { exitCode: 32, stderr: opts.failMount };
      table.push({ mountId: 1, parentId: 0, root: '/', mountPoint: argv[argv.length - 1]!, mountOptions: 'ro', fsType: 'overlay', source: 'overlay', superOptions: '' });
      return {};
    }
    if (argv[0] === 'umount') {
      const mp = argv[argv.length - 1]!;
      if (argv[1] !== '-l' && umountFailures > 0) {
        umountFailures--;
        return { exitCode: 32, stderr: 'target is busy' };
      }
      const i = table.findIndex((e) => e.mountPoint === mp);
      if (i < 0) return { exitCode: 32, stderr: 'not mounted' };
      table.splice(i, 1);
      return {};
    }
  });
  return { table, runner, mountInfo: () => [...table] };
}

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ls-session-test-'));
}

test('withMount: exact mount argv in the private dir, unmounted and cleaned afterwards, handlers only while mounted', async () => {
  const k = fakeKernel();
  const dir = tmp();
  const s = MountSession.create({ runner: k.runner, mode: 'root', tmpDir: dir, indexOff: true, mountInfo: k.mountInfo });
  assert.match(s.dir, new RegExp(`^${dir}/layerscope-mnt-${process.pid}-[A-Za-z0-9]{6}$`));
  assert.equal(fs.statSync(s.dir).mode & 0o777, 0o700);
  const mo = await s.options([{ dir: '/r/overlay2/b/diff', short: 'l/B' }, { dir: '/r/overlay2/a/diff', short: 'l/A' }], '/r/overlay2');
  const before = process.listenerCount('SIGTERM');
  let during = -1;
  await s.withMount(mo, async (mp) => {
    during = process.listenerCount('SIGTERM');
    assert.equal(mp, path.join(s.dir, 'merged'));
    assert.equal(k.table.length, 1);
  });
  assert.equal(during, before + 1);
  assert.equal(process.listenerCount('SIGTERM'), before);
  assert.deepEqual(k.runner.argvs('mount'), [['mount', '-t', 'overlay', '-o', 'ro,nosuid,nodev,noexec,index=off,lowerdir=/r/overlay2/b/diff:/r/overlay2/a/diff', 'overlay', s.mountPoint]]);
  assert.equal(k.runner.calls.find((c) => c.argv[0] === 'mount')!.opts.cwd, undefined);
  assert.deepEqual(k.runner.argvs('umount'), [['umount', s.mountPoint]]);
  assert.equal(k.table.length, 0);
  await s.close();
  assert.equal(fs.existsSync(s.dir), false);
  fs.rmSync(dir, { recursive: true });
});

test('withMount: unmounts when the work throws, and the error comes through', async () => {
  const k = fakeKernel();
  const dir = tmp();
  const s = MountSession.create({ runner: k.runner, mode: 'root', tmpDir: dir, indexOff: false, pageSize: 4096, mountInfo: k.mountInfo });
  const before = process.listenerCount('SIGINT');
  await assert.rejects(s.withMount(await s.options([{ dir: '/a', short: null }, { dir: '/b', short: null }], null), async () => {
    throw new Error('walk failed');
  }), /walk failed/);
  assert.equal(k.table.length, 0);
  assert.deepEqual(k.runner.argvs('umount'), [['umount', s.mountPoint]]);
  assert.equal(process.listenerCount('SIGINT'), before);
  await s.close();
  fs.rmSync(dir, { recursive: true });
});

test('a failed mount is a MountError (permission recognised), nothing to unmount, handlers removed', async () => {
  const k = fakeKernel({ failMount: 'mount: /x: permission denied.' });
  const dir = tmp();
  const s = MountSession.create({ runner: k.runner, mode: 'root', tmpDir: dir, indexOff: true, pageSize: 4096, mountInfo: k.mountInfo });
  const before = process.listenerCount('SIGTERM');
  await assert.rejects(s.withMount(await s.options([{ dir: '/a', short: null }, { dir: '/b', short: null }], null), async () => 1), (err: unknown) => err instanceof MountError && err.permission);
  assert.equal(k.runner.argvs('umount').length, 0);
  assert.equal(process.listenerCount('SIGTERM'), before);
  await s.close();
  fs.rmSync(dir, { recursive: true });
});

test('deep stack: short names, mount run with cwd = overlay2 home', async () => {
  const k = fakeKernel();
  const dir = tmp();
  const s = MountSession.create({ runner: k.runner, mode: 'root', tmpDir: dir, indexOff: true, mountInfo: k.mountInfo });
  const lowers = Array.from({ length: 81 }, (_, i) => ({ dir: `/var/lib/docker/overlay2/${'0'.repeat(58)}${String(i).padStart(6, '0')}/diff`, short: `l/${'A'.repeat(20)}${String(i).padStart(6, '0')}` }));
  const mo = await s.options(lowers, '/var/lib/docker/overlay2');
  assert.deepEqual(k.runner.argvs('getconf'), [['getconf', 'PAGESIZE']]);
  await s.withMount(mo, async () => {});
  const call = k.runner.calls.find((c) => c.argv[0] === 'mount')!;
  assert.equal(call.opts.cwd, '/var/lib/docker/overlay2');
  assert.deepEqual(call.argv, ['mount', '-t', 'overlay', '-o', 'ro,nosuid,nodev,noexec,index=off,lowerdir=' + lowers.map((l) => l.short).join(':'), 'overlay', s.mountPoint]);
  await s.close();
  fs.rmSync(dir, { recursive: true });
});

test('one-layer stack: an empty dir of ours is added below it (the kernel needs two lowers)', async () => {
  const k = fakeKernel();
  const dir = tmp();
  const s = MountSession.create({ runner: k.runner, mode: 'root', tmpDir: dir, indexOff: true, pageSize: 4096, mountInfo: k.mountInfo });
  const mo = await s.options([{ dir: '/r/overlay2/base/diff', short: 'l/B' }], '/r/overlay2');
  assert.equal(mo.data, `index=off,lowerdir=/r/overlay2/base/diff:${s.dir}/empty`);
  assert.deepEqual(fs.readdirSync(path.join(s.dir, 'empty')), []);
  await s.close();
  fs.rmSync(dir, { recursive: true });
});

test('busy unmount: retried, then detached lazily', async () => {
  const k = fakeKernel({ umountFailures: 10 });
  const dir = tmp();
  const s = MountSession.create({ runner: k.runner, mode: 'root', tmpDir: dir, indexOff: true, pageSize: 4096, mountInfo: k.mountInfo });
  await s.withMount(await s.options([{ dir: '/a', short: null }, { dir: '/b', short: null }], null), async () => {});
  const um = k.runner.argvs('umount');
  assert.deepEqual(um[um.length - 1], ['umount', '-l', s.mountPoint]);
  assert.equal(um.length, 5);
  assert.equal(k.table.length, 0);
  await s.close();
  fs.rmSync(dir, { recursive: true });
});

test('SIGTERM while mounted: unmount and remove the workspace (handlers then gone), the caller gets InterruptedError', async () => {
  const k = fakeKernel();
  const dir = tmp();
  const s = MountSession.create({ runner: k.runner, mode: 'root', tmpDir: dir, indexOff: true, pageSize: 4096, mountInfo: k.mountInfo });
  // Another listener keeps the re-raised signal from ending the test process.
  const keepAlive = () => {};
  process.on('SIGTERM', keepAlive);
  try {
    const mo = await s.options([{ dir: '/a', short: null }, { dir: '/b', short: null }], null);
    await assert.rejects(
      s.withMount(mo, async () => {
        process.emit('SIGTERM', 'SIGTERM');
        for (let i = 0; i < 50 && fs.existsSync(s.dir); i++) await new Promise((r) => setTimeout(r, 10));
        assert.equal(k.table.length, 0, 'unmounted by the handler');
        assert.equal(fs.existsSync(s.dir), false, 'workspace removed by the handler');
      }),
      (err: unknown) => err instanceof InterruptedError && err.signal === 'SIGTERM',
    );
    assert.deepEqual(k.runner.argvs('umount'), [['umount', s.mountPoint]]);
    await assert.rejects(s.mountAndList(mo), InterruptedError);
  } finally {
    process.removeListener('SIGTERM', keepAlive);
  }
  assert.equal(process.listenerCount('SIGTERM'), 0);
  fs.rmSync(dir, { recursive: true });
});

test('a signal landing while the mount command runs: the handler waits for it, then unmounts', async () => {
  const table: MountInfoEntry[] = [];
  let release: (() => void) | null = null;
  const runner = new FakeRunner((argv) => {
    if (argv[0] === 'mount') table.push({ mountId: 1, parentId: 0, root: '/', mountPoint: argv[argv.length - 1]!, mountOptions: 'ro', fsType: 'overlay', source: 'overlay', superOptions: '' });
    if (argv[0] === 'umount') table.splice(table.findIndex((e) => e.mountPoint === argv[argv.length - 1]), 1);
  });
  // Hold the mount command open after the kernel has mounted.
  const slow = { run: async (argv: readonly string[], o?: object) => { const r = await runner.run(argv, o); if (argv[0] === 'mount') await new Promise<void>((res) => (release = res)); return r; } };
  const dir = tmp();
  const s = MountSession.create({ runner: slow, mode: 'root', tmpDir: dir, indexOff: true, pageSize: 4096, mountInfo: () => [...table] });
  const keepAlive = () => {};
  process.on('SIGHUP', keepAlive);
  try {
    const p = s.withMount(await s.options([{ dir: '/a', short: null }, { dir: '/b', short: null }], null), async () => assert.fail('must not run after the signal'));
    while (!release) await new Promise((r) => setTimeout(r, 5));
    assert.equal(table.length, 1);
    process.emit('SIGHUP', 'SIGHUP');
    (release as () => void)();
    await assert.rejects(p, InterruptedError);
    assert.equal(table.length, 0);
    assert.equal(fs.existsSync(s.dir), false);
  } finally {
    process.removeListener('SIGHUP', keepAlive);
  }
  fs.rmSync(dir, { recursive: true });
});

test('user namespace: one unshare call that mounts and lists with find -printf, options passed as arguments', async () => {
  const out = ['f', '644', '0', '0', '5', '1', 'a.txt', '', 'l', '777', '0', '0', '3', '1', 'ln', 'a.t', 'd', '1777', '0', '0', '4096', '2', 'tmp', '', ''].join('\0');
  const runner = new FakeRunner((argv) => (argv[0] === 'unshare' ? { stdout: out } : {}));
  const dir = tmp();
  const s = MountSession.create({ runner, mode: 'userns', tmpDir: dir, indexOff: true, pageSize: 4096, mountInfo: () => [] });
  const mo = await s.options([{ dir: '/u/1', short: '1' }, { dir: '/u/0', short: '0' }], '/u');
  assert.equal(mo.options, 'ro,nosuid,nodev,noexec,index=off,userxattr,lowerdir=/u/1:/u/0');
  const r = await s.mountAndList(mo);
  const argv = runner.argvs('unshare')[0]!;
  assert.deepEqual(argv.slice(0, 6), ['unshare', '-Urm', '--propagation', 'private', 'sh', '-c']);
  assert.deepEqual(argv.slice(7), ['sh', mo.options, s.mountPoint, FIND_FORMAT]);
  assert.deepEqual(r.entries.map((e) => [e.path, e.type, e.mode, e.size, e.linkname]), [
    ['a.txt', 'file', 0o644, 5, undefined],
    ['ln', 'symlink', 0o777, 3, 'a.t'],
    ['tmp', 'dir', 0o1777, 4096, undefined],
  ]);
  await s.close();
  fs.rmSync(dir, { recursive: true });
});

test('mountinfo parsing, leftover detection and sweeping (dead pid: unmounted and removed; live pid: left alone)', async () => {
  const dir = tmp();
  const dead = path.join(dir, 'layerscope-mnt-999999-AbC123');
  const alive = path.join(dir, `layerscope-mnt-${process.ppid}-XyZ789`);
  const stale = path.join(dir, 'layerscope-mnt-999998-QQQQQQ');
  for (const d of [dead, alive, stale]) fs.mkdirSync(path.join(d, 'merged'), { recursive: true });
  const text = [
    '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    `95 22 0:60 / ${dead}/merged ro,nosuid,nodev,noexec,relatime shared:50 - overlay overlay ro,lowerdir=/x:/y,index=off`,
    `96 22 0:61 / ${alive.replace(/ /g, '\\040')}/merged ro,relatime - overlay overlay ro,lowerdir=/x:/y`,
    '97 22 0:62 / /tmp/other\\040dir rw - tmpfs tmpfs rw',
  ].join('\n');
  let table = parseMountInfo(text);
  assert.equal(table.length, 4);
  assert.equal(table[3]!.mountPoint, '/tmp/other dir');
  assert.equal(table[1]!.fsType, 'overlay');
  assert.equal(pidOfMountDir(dead), 999999);
  assert.equal(pidOfMountDir('/tmp/layerscope-mnt-x-abcdef'), null);
  const isAlive = (pid: number) => pid === process.ppid;
  const found = findLeftovers({ tmpDir: dir, mountInfo: table, alive: isAlive });
  assert.deepEqual(found.map((l) => [path.basename(l.dir), l.alive, l.mounts.length]), [
    ['layerscope-mnt-999998-QQQQQQ', false, 0],
    ['layerscope-mnt-999999-AbC123', false, 1],
    [path.basename(alive), true, 1],
  ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
  // Restricted to this temp dir, a leftover mounted under another TMPDIR is not ours to touch.
  const elsewhere = parseMountInfo(`98 22 0:63 / /var/tmp/layerscope-mnt-999997-ZZZZZZ/merged ro - overlay overlay ro`);
  assert.equal(findLeftovers({ tmpDir: dir, mountInfo: elsewhere, alive: () => false }).filter((l) => l.pid === 999997).length, 1);
  assert.equal(findLeftovers({ tmpDir: dir, mountInfo: elsewhere, alive: () => false, anywhere: false }).filter((l) => l.pid === 999997).length, 0);
  const runner = new FakeRunner((argv) => {
    if (argv[0] === 'umount') table = table.filter((e) => e.mountPoint !== argv[argv.length - 1]);
  });
  const swept = await sweepLeftovers(runner, { tmpDir: dir, mountInfo: () => table, alive: isAlive });
  assert.deepEqual(runner.argvs(), [['umount', `${dead}/merged`]]);
  assert.deepEqual(Object.fromEntries(swept.map((s) => [path.basename(s.dir), s.action])), {
    'layerscope-mnt-999999-AbC123': 'cleaned',
    'layerscope-mnt-999998-QQQQQQ': 'cleaned',
    [path.basename(alive)]: 'left-alone',
  });
  assert.equal(fs.existsSync(dead), false);
  assert.equal(fs.existsSync(stale), false);
  assert.equal(fs.existsSync(alive), true);
  fs.rmSync(dir, { recursive: true });
});

test('a leftover whose mount cannot be removed is reported, not deleted', async () => {
  const dir = tmp();
  const dead = path.join(dir, 'layerscope-mnt-999999-AbC123');
  fs.mkdirSync(path.join(dead, 'merged'), { recursive: true });
  const table = parseMountInfo(`95 22 0:60 / ${dead}/merged ro - overlay overlay ro`);
  const runner = new FakeRunner(() => ({ exitCode: 32, stderr: 'target is busy' }));
  const swept = await sweepLeftovers(runner, { tmpDir: dir, mountInfo: () => table, alive: () => false });
  assert.equal(swept[0]!.action, 'failed');
  assert.match(swept[0]!.error!, /busy/);
  assert.deepEqual(runner.argvs(), [['umount', `${dead}/merged`], ['umount', '-l', `${dead}/merged`]]);
  assert.equal(fs.existsSync(path.join(dead, 'merged')), true);
  fs.rmSync(dir, { recursive: true });
});
