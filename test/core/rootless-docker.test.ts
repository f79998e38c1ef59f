/**
 * A rootless Docker data root (~/.local/share/docker of a user, as dockerd-rootless.sh makes it): files on disk
 * are owned by host ids (the user for container root, its /etc/subuid range for the rest) and overlayfs keeps its
 * whiteout and opaque marks in user.overlay.* xattrs. Read offline, every view must show what the engine shows:
 * `docker image inspect` (IDs, diffIDs), `docker diff`, `docker export` (owners as the container sees them) and
 * a verify that passes on the untouched store (tar-split headers hold container ids, the disk host ids).
 *
 * The engine is a real rootless Docker 20.10 (test/support/rootless-docker.ts) run by a test user; the suite
 * skips loudly without root or rootlesskit, and fails under LAYERSCOPE_REQUIRE_ENGINE=1.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REQUIRE_ENGINE, hashTree } from '../support/engine.js';
import { buildRootlessFixtures, rootlessUnavailable, startRootlessDocker } from '../support/rootless-docker.js';
import { openSource } from '../../src/core/sources/open.js';
import { rootlessIdMap } from '../../src/core/sources/rootless.js';
import { EXIT } from '../../src/cli/command.js';
import { changesCommand } from '../../src/cli/commands/analysis.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { verifyCommand } from '../../src/cli/commands/verify.js';
import { catCommand } from '../../src/cli/commands/cat.js';
import { runCmd } from '../workflows/helpers.js';
import { tarManifest } from '../workflows/engine-answers.js';
import { execa } from 'execa';

function skipOrFail(t: TestContext, reason: string): void {
  if (REQUIRE_ENGINE) throw new Error(`LAYERSCOPE_REQUIRE_ENGINE=1 and no rootless engine: ${reason}`);
  process.stderr.write(`SKIPPED (no rootless engine): ${t.name}: ${reason}\n`);
  t.skip(`SKIPPED (no rootless engine): ${reason}`);
}

for (const driver of ['overlay2', 'fuse-overlayfs'] as const)
test(`a rootless Docker data root on ${driver} reads as the engine shows it`, { timeout: 600_000 }, async (t) => {
  const why = rootlessUnavailable(driver);
  if (why) return skipOrFail(t, why);
  const d = await startRootlessDocker(driver);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-rootless-'));
  try {
    const fx = await buildRootlessFixtures(d);
    const root = d.dataRoot;
    const inspect = JSON.parse((await d.docker(['image', 'inspect', ...fx.images])).stdout) as { Id: string; RootFS: { Layers: string[] } }[];
    const diffs = new Map<string, string[]>();
    const exported = new Map<string, Awaited<ReturnType<typeof tarManifest>>>();
    for (const c of fx.containers) {
      diffs.set(c, (await d.docker(['diff', c])).stdout.split('\n').filter(Boolean).sort());
      exported.set(c, await tarManifest((await d.docker(['export', c])).stdoutBuffer));
    }
    await d.stop();
    const before = await hashTree(root, { strict: true });

    await t.test('the store is owned by the user: ids are mapped by its /etc/subuid range, and said', async () => {
      const s = await openSource(root);
      try {
        // Every layer and container layer carries the map: checks that lstat the store read host ids through it.
        const maps = [...s.images.flatMap((i) => i.layers.map((l) => l.idMap)), ...s.containers.map((c) => c.idMap)];
        assert.ok(maps.length > 0 && maps.every((m) => m && m === maps[0]), 'one id map on every layer');
        assert.equal(maps[0]!.uid(d.uid), 0, 'the user is root in its containers');
        const note = s.problems.find((p) => p.code === 'rootless.id-map');
        assert.ok(note, JSON.stringify(s.problems));
        assert.match(note!.message, new RegExp(`0:${d.uid}:1,1:\\d+:65536`));
      } finally {
        await s.close();
      }
    });

    await t.test('images and their layers = docker image inspect', async () => {
      const s = await openSource(root);
      try {
        for (const want of inspect) {
          const img = s.images.find((i) => i.id === want.Id);
          assert.ok(img, `image ${want.Id}`);
          assert.deepEqual(img!.layers.map((l) => l.diffId), want.RootFS.Layers);
        }
      } finally {
        await s.close();
      }
    });

    await t.test('changes --container = docker diff', async () => {
      for (const c of fx.containers) {
        const r = await runCmd(changesCommand, [root, '--container', c]);
        assert.equal(r.code, EXIT.ok, r.stderr);
        assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), diffs.get(c), c);
      }
    });

    await t.test('export --container = docker export, owners as the container sees them', async () => {
      for (const c of fx.containers) {
        const file = path.join(tmp, `${c}.tar`);
        const r = await runCmd(exportCommand, [root, '--container', c, '-o', file]);
        assert.equal(r.code, EXIT.ok, r.stderr);
        const ours = await tarManifest(fs.readFileSync(file));
        const theirs = exported.get(c)!;
        // The init layer's placeholders: docker export shows them as its own mount makes them.
        for (const p of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf', '.dockerenv', 'dev/pts', 'dev/shm', 'dev/console', 'etc/mtab', 'dev', 'proc', 'sys', 'etc']) {
          ours.delete(p);
          theirs.delete(p);
        }
        assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), `${c}: entries`);
        const bad: string[] = [];
        for (const [k, w] of theirs) if (JSON.stringify(ours.get(k)) !== JSON.stringify(w)) bad.push(`${k}: ours ${JSON.stringify(ours.get(k))} docker ${JSON.stringify(w)}`);
        assert.deepEqual(bad, [], c);
        // Owned by a subordinate id in the store (container 1000:2000), shown as the container sees it.
        assert.deepEqual([ours.get('data/owned')?.uid, ours.get('data/owned')?.gid], [1000, 2000], `${c}: data/owned`);
      }
    });

    await t.test('verify passes on the untouched store (integrity and the kernel mount)', async () => {
      const r = await runCmd(verifyCommand, [root]);
      assert.equal(r.code, EXIT.ok, r.stdout + r.stderr);
      assert.match(r.stdout, /OK: \d+ layer\(s\) and \d+ stack\(s\) verified/);
      // overlay2's dirs are mounted where they are; fuse-overlayfs's `.wh.` files are laid out from what we read.
      if (driver === 'fuse-overlayfs') assert.match(r.stdout + r.stderr, /laid out|unpacked|not mounted in place/);
    });

    await t.test('a layer file whose bytes changed is found by verify (a copy of the store)', async () => {
      const copy = path.join(tmp, 'copy');
      await execa('cp', ['-a', root, copy]);
      const s = await openSource(copy);
      const img = s.images.find((i) => i.tags.includes('rl-app:1'))!;
      const su = path.join(img.layers[2]!.location!, 'data', 'su');
      await s.close();
      const fd = fs.openSync(su, 'r+');
      fs.writeSync(fd, Buffer.from('X'), 0, 1, 100);
      fs.closeSync(fd);
      const r = await runCmd(verifyCommand, [copy, '--no-mount']);
      assert.notEqual(r.code, EXIT.ok, r.stdout);
      assert.match(r.stdout, /tampered|content/);
      fs.rmSync(copy, { recursive: true, force: true });
    });

    await t.test('a store named by a relative path is read again by its layer paths from anywhere (cat)', async () => {
      const cwd = process.cwd();
      process.chdir(path.dirname(root));
      try {
        const r = await runCmd(catCommand, [path.basename(root), '--container', 'rl-changed', '/data/new']);
        assert.equal(r.code, EXIT.ok, r.stderr);
        assert.equal(r.stdout, 'z\n');
      } finally {
        process.chdir(cwd);
      }
    });

    await t.test('nothing was written to the store', async () => {
      assert.equal(await hashTree(root, { strict: true }), before);
    });
  } finally {
    await d.stop().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('the id map comes from the etc/ of the system the store is on, never from a symlink', () => {
  const disk = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-idmap-'));
  try {
    const store = path.join(disk, 'home', 'alice', '.local', 'share', 'docker');
    fs.mkdirSync(store, { recursive: true });
    fs.mkdirSync(path.join(disk, 'etc'));
    fs.writeFileSync(path.join(disk, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nalice:x:1500:1500::/home/alice:/bin/sh\n');
    fs.writeFileSync(path.join(disk, 'etc', 'subuid'), 'bob:100000:65536\nalice:200000:1000\n1500:400000:10\n');
    fs.writeFileSync(path.join(disk, 'etc', 'subgid'), 'alice:300000:65536\n');
    const r = rootlessIdMap(store, { uid: 1500, gid: 1500 });
    assert.ok(r.map);
    // Container 0 is alice; 1..1000 her first range, 1001..1010 the line naming her by uid.
    assert.equal(r.map!.uid(1500), 0);
    assert.equal(r.map!.uid(200000), 1);
    assert.equal(r.map!.uid(200999), 1000);
    assert.equal(r.map!.uid(400000), 1001);
    assert.equal(r.map!.uid(100000), 65534, "bob's range is not hers: the overflow id");
    assert.equal(r.map!.gid(300032), 33);
    assert.match(r.problems[0]!.message, /0:1500:1,1:200000:1000,1001:400000:10/);

    // Without her ranges: owners stay host ids, and that is said.
    fs.writeFileSync(path.join(disk, 'etc', 'subuid'), 'bob:100000:65536\n');
    const none = rootlessIdMap(store, { uid: 1500, gid: 1500 });
    assert.equal(none.map, null);
    assert.equal(none.problems[0]!.code, 'rootless.id-map.none');

    // etc/subuid as a symlink (to the host's, say) is not read, and the search stops there: an error names it.
    fs.rmSync(path.join(disk, 'etc', 'subuid'));
    fs.symlinkSync('/etc/subuid', path.join(disk, 'etc', 'subuid'));
    const linked = rootlessIdMap(store, { uid: 1500, gid: 1500 });
    assert.equal(linked.map, null);
    assert.deepEqual(linked.problems.map((p) => [p.severity, p.code, p.path]), [['error', 'rootless.id-map.refused', path.join(disk, 'etc', 'subuid')]]);

    // Under --image-root the disk is the system: with no etc/subuid of its own, nothing above it is read.
    fs.rmSync(path.join(disk, 'etc', 'subuid'));
    const bounded = rootlessIdMap(store, { uid: 1500, gid: 1500 }, disk);
    assert.equal(bounded.map, null);
    assert.equal(bounded.problems[0]!.code, 'rootless.id-map.unknown');
    assert.match(bounded.problems[0]!.message, new RegExp(`within ${disk}`));
  } finally {
    fs.rmSync(disk, { recursive: true, force: true });
  }
});
