/**
 * ATTACK (rootless containers/storage store): the host's root plants a file, owned by host uid 0, in a rootless
 * container's RW layer (overlay/<id>/diff, the upper dir).
 *
 * Observed: host id 0 is in none of the user's ranges, so the id map shows it as 65534 (the kernel's overflow
 * id), exactly like a file the container's own `nobody` wrote (container 65534 = host subuid start + 65533):
 * `files --container` / `changes --container` show `65534:65534`, and no problem says that the file's owner is
 * an id the rootless engine could never have written (exit 0). The planting host user is hidden by the mapping.
 * Expected (tampering never passes silently): a file whose host owner no range maps is a problem naming it (the
 * engine's user namespace cannot create such a file), and its host ids are kept in the output (JSON).
 * Suggested fix: LayerTable.withIds counts rows whose uid/gid the map does not cover and returns a warning
 * `rootless.id.unmapped` naming the layer dir and the first such path (host ids said); views may keep 65534.
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
import { changesCommand } from '../../src/cli/commands/analysis.js';

test('rootless containers/storage: a file owned by a host id outside the user namespace is said', { timeout: 300_000 }, async (t: TestContext) => {
  const store = await podmanStore(t, 'rootless');
  if (!store) return;
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-unm-'));
  try {
    const root = path.join(copy, 'storage');
    await copyTree(store.storage, root);
    const s = await openSource(root);
    const c = s.containers.find((x) => x.name === PODMAN.exited)!;
    await s.close();
    assert.ok(c.rwDir, 'the container has an RW dir');
    const planted = path.join(c.rwDir, 'planted-by-host-root');
    fs.writeFileSync(planted, 'x');
    fs.lchownSync(planted, 0, 0);
    const r = await runCmd(changesCommand, [root, '--container', PODMAN.exited, '--format', 'json']);
    const doc = JSON.parse(r.stdout);
    const said = (doc.problems as { code: string; path: string | null; message: string }[]).filter((p) => (p.path ?? '').includes('planted-by-host-root') || p.message.includes('planted-by-host-root'));
    assert.ok(said.length > 0, `a problem names the file owned by host root; got ${JSON.stringify(doc.problems.map((p: { code: string }) => p.code))}`);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
    await store.remove();
  }
});
