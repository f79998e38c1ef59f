/**
 * ATTACK: `layerscope mount` at a mount point whose path is not ASCII (`/tmp/x/évidence/web`: an investigator's
 * case folder named in French, or any UTF-8 name).
 *
 * Observed: `mount` succeeds; then `layerscope umount /tmp/x/évidence/web` says "nothing that layerscope mounted
 * is at or below ..." (exit 1), and `layerscope umount --all` says
 * `left /tmp/x/Ã©vidence/web: cannot unmount ...: umount: /tmp/x/Ã\x83Â©vidence/web: no mount point specified`
 * (exit 1): the mount can never be undone by layerscope. With a non-ASCII TMPDIR and --volumes, the staging
 * binds of the volumes (in the workspace) are never unmounted either, and `umount` then runs rm -rf over a
 * read-only bind of the evidence's volume (it fails with EBUSY, leaving the bind mounts behind; had the bind not
 * been made read-only yet — a SIGKILL between `mount --bind` and the remount — rm -rf would delete evidence).
 *
 * Expected: umount DIR and umount --all undo the mount (and remove what the run created), whatever bytes the
 * path holds.
 *
 * Code at fault: src/core/verify/mount/mountinfo.ts readMountInfo() decodes /proc/self/mountinfo as latin1,
 * while every path it is compared with (realpath, os.tmpdir(), the user's DIR) is a UTF-8 JS string; the
 * latin1 strings are also handed to `umount` (execa encodes them as UTF-8 again: other bytes).
 *
 * (umount --all is exercised through the API with a private temp and state dir and the mount table narrowed to
 * this run's mount: the real --all would touch the mounts of any other test run on the machine.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { requireRoot } from '../support/engine.js';
import { openSource } from '../../src/core/sources/open.js';
import { imageStacks, mountStacks, unmountAll } from '../../src/core/verify/mount/index.js';
import { readMountInfo } from '../../src/core/verify/mount/mountinfo.js';
import { DEMO, cleanRun, cli, forceUnmountUnder, rawMountsUnder, runIdOf } from './lib.js';

before(assertBuilt);

let work = '';
const runs: [string, string?, string?][] = [];
after(async () => {
  for (const [id, tmp, state] of runs) await cleanRun(id, tmp, state);
  if (!work) return;
  await forceUnmountUnder(work);
  fs.rmSync(work, { recursive: true, force: true });
});

test('a mount at a non-ASCII path is undone by umount DIR', { timeout: 300_000 }, async (t) => {
  if (!requireRoot(t)) return;
  work ||= fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a8-utf-'));
  const dir = path.join(work, 'évidence', 'web');
  const m = await cli(['mount', DEMO, dir]);
  assert.equal(m.exitCode, 0, `mount: ${m.stderr}`);
  const id = runIdOf(m.stdout);
  assert.ok(id, m.stdout);
  runs.push([id!]);
  assert.equal(rawMountsUnder(dir).length, 1, 'the mount is there');
  const u = await cli(['umount', dir]);
  assert.equal(u.exitCode, 0, `umount DIR: exit ${u.exitCode}: ${u.stderr}${u.stdout}`);
  assert.deepEqual(rawMountsUnder(dir), [], 'umount DIR left the mount');
});

test('a mount at a non-ASCII path is undone by umount --all', { timeout: 300_000 }, async (t) => {
  if (!requireRoot(t)) return;
  work ||= fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a8-utf-'));
  const tmpDir = fs.mkdtempSync(path.join(work, 'tmp-'));
  const stateDir = path.join(work, 'state');
  const dir = path.join(work, 'évidence', 'all');
  const src = await openSource(DEMO);
  let id: string;
  try {
    const stacks = imageStacks(src.images[0]!, true);
    const r = await mountStacks(src, [{ spec: stacks[stacks.length - 1]!, at: dir }], { tmpDir, stateDir });
    id = r.id;
    runs.push([id, tmpDir, stateDir]);
  } finally {
    await src.close();
  }
  assert.equal(rawMountsUnder(dir).length, 1, 'the mount is there');
  // Only this run's mount is visible to unmountAll (and only its temp and state dirs).
  const mine = () => readMountInfo().filter((e) => e.source === `layerscope-${id}`);
  const res = await unmountAll({ tmpDir, stateDir, mountInfo: mine });
  assert.deepEqual(res.left, [], 'umount --all left something');
  assert.deepEqual(rawMountsUnder(dir), [], 'umount --all left the mount');
});
