/**
 * ATTACK: `user.overlay.opaque=y` set on a directory of a layer's diff dir in a Docker (overlay2) data root.
 * layerscope reads `user.overlay.*` as if it were `trusted.overlay.*` (src/core/sources/walk/layer-dir.ts,
 * Assembler.interpret: `get(name)` falls back to `user.overlay.${name}`; marksXwhiteouts likewise), so the
 * directory becomes opaque and everything lower layers put in it disappears from `files`, `report`, `changes`
 * and `export` (counted as hidden by an opaque dir). The kernel reads `user.overlay.*` only on a mount with
 * the `userxattr` option, which a rootful dockerd or containerd never passes: for the engine these xattrs are
 * ordinary content and the directory is not opaque.
 *
 * Observed: layer 0 holds /etc/cron.d/evil, layer 1 holds /etc/motd and `setfattr -n user.overlay.opaque -v y
 * diff/etc`. `mount -t overlay -o ro,lowerdir=<1>:<0>` lists /etc/cron.d/evil; `layerscope files` lists /etc and
 * /etc/motd only, exit 0, no problem (`verify` catches it through its own mount: 3 failed, 12 findings). A root
 * attacker on the host hides a cron job from every report command by one xattr that the engine ignores. The
 * same holds for `user.overlay.whiteout` on an empty file (a whiteout for layerscope, an empty file for the kernel).
 *
 * Expected: user.overlay.* are not overlay metadata on a rootful data root (at most a problem saying what they
 * would mean under userxattr); /etc/cron.d/evil is listed, as the kernel shows it.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { dataRoot } from './roots.js';

before(assertBuilt);

test('user.overlay.opaque on a rootful data root does not hide what the kernel shows', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const r = dataRoot(dir, [{ 'etc/cron.d/evil': '* * * * * root evil\n', 'etc/hostname': 'box\n' }, { 'etc/motd': 'hi\n' }]);
  execFileSync('setfattr', ['-n', 'user.overlay.opaque', '-v', 'y', join(r.diffs[1]!, 'etc')]);
  const out = await runCli(['files', r.root, '--image', 'app:1', '--format', 'json']);
  assertNoCrash(out);
  const paths = (JSON.parse(out.stdout) as { files: { path: string }[] }).files.map((f) => f.path);
  assert.ok(paths.includes('/etc/cron.d/evil'), `files (exit ${out.code}) lists ${JSON.stringify(paths)}`);
});
