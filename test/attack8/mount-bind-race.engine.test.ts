/**
 * ATTACK: `mount --volumes` of a container whose tree changes between the check of a bind's destination and the
 * bind itself (a live host: a running container writes its RW dir, which is the mount's top lower dir).
 *
 * bindTarget() lstat's every component of `<DIR>/data` inside the overlay (a real directory), then
 * `mount --bind <staging> <DIR>/data` runs. If `/data` has meanwhile become a symlink to a host path (here a
 * decoy dir; it could be `/etc`) and the dentry was dropped from the cache (memory pressure; here
 * `echo 2 > /proc/sys/vm/drop_caches`), mount(8) follows the symlink: the evidence's volume is bind-mounted over
 * the host's directory.
 *
 * Observed: mountStacks fails with "the bind at <DIR>/data is not where it was meant to be, or not read-only;
 * undone" — but nothing was undone: the bind stays mounted over the decoy host dir (it is not at <DIR>/data,
 * so `if (top)` skips the unmount), and the rollback only undoes mounts below DIR and the workspace. With `/etc`
 * as the target, the host's /etc stays shadowed by the volume's files until someone notices.
 *
 * Expected: a bind can never land outside DIR (bind to a file descriptor of the checked destination, e.g.
 * `mount --bind` through /proc/self/fd of an O_PATH|O_NOFOLLOW fd, or mount(8)'s --no-canonicalize with a
 * path re-checked after the mount by mount id), and whatever lands somewhere else is unmounted before the error.
 *
 * Code at fault: src/core/verify/mount/persistent.ts bindTarget()/bindOne().
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { copyTree, getEngine, waitIdle } from '../support/engine.js';
import { openSource } from '../../src/core/sources/open.js';
import { findContainer } from '../../src/core/analysis/select.js';
import { containerStack, execaRunner, mountStacks, type Runner } from '../../src/core/verify/mount/index.js';
import { forceUnmountUnder, rawMountsUnder } from './lib.js';

const CONTAINER = 'ls-mount-volumes';
let work = '';

/** Where a `mount --bind` argv binds onto: its last argument, or the dir an fd in /proc names. */
function bindTarget(argv: string[]): string {
  const last = argv[argv.length - 1]!;
  return /^\/proc\/\d+\/fd\/\d+$/.test(last) ? fs.readlinkSync(last) : last;
}
after(async () => {
  if (!work) return;
  await forceUnmountUnder(work);
  fs.rmSync(work, { recursive: true, force: true });
});

test('a bind destination swapped for a symlink after the check never puts a bind outside DIR', { timeout: 300_000 }, async (t) => {
  const e = getEngine(t, 'docker20');
  if (!e) return;
  await waitIdle(e);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a8-race-'));
  const root = path.join(work, 'root');
  await copyTree(e.dataRoot, root);
  const upper = (await e.docker(['inspect', CONTAINER, '--format', '{{.GraphDriver.Data.UpperDir}}'])).stdout.trim();
  const rwData = path.join(root, path.relative(e.dataRoot, upper), 'data');
  assert.ok(fs.lstatSync(rwData).isDirectory(), `${rwData}: the engine made the mount point in the RW dir`);
  const decoy = path.join(work, 'host-etc');
  fs.mkdirSync(decoy);
  fs.writeFileSync(path.join(decoy, 'passwd'), 'the host file\n');
  const at = path.join(work, 'mnt');
  const tmpDir = fs.mkdtempSync(path.join(work, 'tmp-'));
  const stateDir = path.join(work, 'state');

  let swapped = false;
  const runner: Runner = {
    async run(argv, opts) {
      // Just before the bind onto <DIR>/data: the container's /data becomes a symlink to a host path.
      // (The bind's target is an fd of the checked dir, /proc/<pid>/fd/<n>: which dir it is, the link says.)
      if (!swapped && argv[0] === 'mount' && argv.includes('--bind') && bindTarget(argv) === `${at}/data`) {
        swapped = true;
        fs.rmdirSync(rwData);
        fs.symlinkSync(decoy, rwData);
        fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
      }
      return execaRunner.run(argv, opts);
    },
  };
  const src = await openSource(root);
  let error: Error | null = null;
  try {
    await mountStacks(src, [{ spec: containerStack(src, findContainer(src, CONTAINER)), at }], { volumes: true, runner, tmpDir, stateDir });
  } catch (err) {
    error = err as Error;
  } finally {
    await src.close();
  }
  assert.ok(swapped, 'the bind of /data was attempted');
  const onDecoy = rawMountsUnder(decoy);
  assert.deepEqual(onDecoy, [], `a bind of the evidence was left over the host dir ${decoy} (mount ${error ? `failed: ${error.message}` : 'succeeded'})`);
  assert.deepEqual(fs.readdirSync(decoy), ['passwd'], 'the host dir shows its own files');
});
