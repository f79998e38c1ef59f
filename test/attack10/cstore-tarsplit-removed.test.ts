/**
 * ATTACK (containers/storage, verify): a layer is altered and its tar-split removed (or replaced by a symlink).
 *
 * Observed: `verify` says "OK ... integrity skipped, the store keeps no tar-split for this layer", exit 0. The
 * store's tarSplitOf() returns null when `overlay-layers/<id>.tar-split.gz` is missing or is not a regular file,
 * and verify takes a null tar-split for a store that never keeps one. The mount check cannot see it either (the
 * kernel and we read the same altered files). So: change a byte in a layer, `rm overlay-layers/<id>.tar-split.gz`,
 * and the tampering passes as OK.
 * Expected: containers/storage writes a tar-split for every layer it applies a diff to (every image layer: pulled,
 * loaded or committed); a missing or symlinked one is itself evidence of tampering: verify is not OK, exit
 * non-zero, and names the file (as on a Docker data root, whose layerdb tar-split path is always given).
 * Suggested fix (src/core/sources/containers-storage/index.ts tarSplitOf): give the path of an image layer's
 * tar-split whatever is there (verify then fails to open a missing or symlinked one, O_NOFOLLOW), or push an
 * error problem `layers.tar-split.missing` naming the file.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { copyTree } from '../support/engine.js';
import { PODMAN, podmanStore } from '../support/podman.js';
import { runCmd } from '../workflows/helpers.js';
import { openSource } from '../../src/core/sources/open.js';
import { EXIT } from '../../src/cli/command.js';
import { verifyCommand } from '../../src/cli/commands/verify.js';

test('containers/storage verify: an altered layer whose tar-split was removed or symlinked is not OK', { timeout: 300_000 }, async (t: TestContext) => {
  const store = await podmanStore(t, 'rootful');
  if (!store) return;
  try {
    const s = await openSource(store.storage);
    const app = s.images.find((i) => i.tags.includes(PODMAN.app))!;
    await s.close();
    const layer = app.layers[app.layers.length - 1]!.cacheId!;
    for (const how of ['removed', 'symlinked'] as const) {
      await t.test(`tar-split ${how}`, async () => {
        const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-ts-'));
        try {
          const root = path.join(copy, 'storage');
          await copyTree(store.storage, root);
          // Alter one file of the layer (same length), then take away what would show it.
          const diff = path.join(root, 'overlay', layer, 'diff');
          const victim = findFile(diff);
          assert.ok(victim, 'a regular file in the layer');
          const st = fs.statSync(victim);
          fs.writeFileSync(victim, Buffer.alloc(st.size || 1, 0x58));
          const ts = path.join(root, 'overlay-layers', `${layer}.tar-split.gz`);
          if (how === 'removed') fs.rmSync(ts);
          else {
            fs.renameSync(ts, path.join(copy, 'elsewhere.tar-split.gz'));
            fs.symlinkSync(path.join(copy, 'elsewhere.tar-split.gz'), ts);
          }
          const v = await runCmd(verifyCommand, [root, '--format', 'json']);
          const d = JSON.parse(v.stdout);
          const hit = d.layers.find((l: { cacheId: string }) => l.cacheId === layer);
          assert.ok(hit, 'the layer is verified');
          assert.notEqual(hit.integrity.status, 'skipped', `the altered layer with its tar-split ${how} must not be "skipped": ${JSON.stringify(hit.integrity)}`);
          assert.equal(d.ok, false, 'verify is not OK');
          assert.notEqual(v.code, EXIT.ok, 'exit non-zero');
        } finally {
          fs.rmSync(copy, { recursive: true, force: true });
        }
      });
    }
  } finally {
    await store.remove();
  }
});

function findFile(dir: string): string | null {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isFile() && !e.name.startsWith('.wh.')) return p;
    if (e.isDirectory()) {
      const f = findFile(p);
      if (f) return f;
    }
  }
  return null;
}
