/**
 * `whose PATH` without --root finds the data root from the PATH's own layout, for every part of a data root a
 * scanner may hit (not only overlay2/<id>/): containers/<id>/, volumes/, image/<driver>/, other drivers' layer
 * dirs, containerd stores; the root is opened (never /var/lib/docker instead), and the answer is the one
 * --root ROOT gives.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dataRootOf } from '../../src/core/verify/attribute.js';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { dataRoot } from '../attack2/roots.js';

before(assertBuilt);

const ID = 'a'.repeat(64);
const R = '/mnt/evidence/var/lib/docker';

test('dataRootOf: the root above each layout a data root has', () => {
  for (const [p, root] of [
    [`${R}/containers/${ID}/config.v2.json`, R],
    [`${R}/containers/${ID}/mounts/secrets/x`, R],
    [`${R}/volumes/pgdata/_data/base/1/1259`, R],
    [`${R}/volumes/metadata.db`, R],
    [`${R}/image/overlay2/layerdb/sha256/${ID}/diff`, R],
    [`${R}/image/overlay2/imagedb/content/sha256/${ID}`, R],
    [`${R}/image/vfs/repositories.json`, R],
    [`${R}/overlay2/${ID}/diff/usr/bin/x`, R],
    [`${R}/overlay2/${ID}-init/diff/etc/hosts`, R],
    [`${R}/overlay2/l/ABCDEFGHIJKLMNOPQRSTUVWXYZ/bin/sh`, R],
    [`${R}/vfs/dir/${ID}/etc/passwd`, R],
    [`${R}/aufs/diff/${ID}/etc/passwd`, R],
    [`${R}/fuse-overlayfs/${ID}/diff/x`, R],
    [`${R}/containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs/x`, R],
    ['/mnt/c/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/3/fs/etc/passwd', '/mnt/c/var/lib/containerd'],
    // A data root inside a layer (docker in docker) is content of the outer root.
    [`${R}/overlay2/${ID}/diff/var/lib/docker/overlay2/${ID}/diff/x`, R],
    // Relative paths are resolved first.
    [`data/root/containers/${ID}/hostname`, join(process.cwd(), 'data/root')],
  ] as const)
    assert.equal(dataRootOf(p), root, p);
  // Nothing that is a data root's layout: null (the caller says what it reads instead).
  for (const p of ['/etc/passwd', `/containers/${ID}/x`, `${R}/volumes/pgdata`, `${R}/overlay2/notanid/diff`, `${R}/image/overlay2`, `${R}/containers/short/x`, `/home/u/overlay2/l/lower`])
    assert.equal(dataRootOf(p), null, p);
});

test('whose without --root: the root the path names is opened, with the answer --root gives', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const r = dataRoot(dir, [{ base: 'x\n' }]);
  for (const hit of [join(r.layerdb[0]!, 'diff'), join(r.root, 'containers', ID, 'config.v2.json'), join(r.root, 'volumes', 'pg', '_data', 'x')]) {
    const withRoot = await runCli(['whose', hit, '--root', r.root, '--format', 'json']);
    assertNoCrash(withRoot);
    const inferred = await runCli(['whose', hit, '--format', 'json']);
    assertNoCrash(inferred);
    assert.equal(inferred.code, withRoot.code, `${hit}: ${inferred.stderr}`);
    assert.notEqual(inferred.code, 3, `${hit}: ${inferred.stderr}`);
    assert.equal(inferred.stdout, withRoot.stdout, hit);
    const res = JSON.parse(inferred.stdout).results[0];
    assert.equal(res.root, r.root);
    assert.notEqual(res.where, 'outside');
  }
  // No layout in the path: /var/lib/docker, said.
  const guess = await runCli(['whose', join(dir, 'nothing', 'here'), '--format', 'json']);
  assertNoCrash(guess);
  assert.match(guess.stderr, /shows no data root layout .*: reading \/var\/lib\/docker \(--root names another\)/);
});
