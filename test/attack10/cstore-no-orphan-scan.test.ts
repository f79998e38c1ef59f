/**
 * ATTACK (containers/storage): an image's record removed from images.json (one edit) hides it completely.
 *
 * Observed: its layers stay in layers.json and on disk (overlay/<id>/diff, with every file of the image), yet
 * `report` lists the other images only, exit 0, and its JSON has `"storage": null`: the containers/storage source
 * has no readStorage (no orphan scan), while a Docker data root lists "UNREFERENCED STORAGE" (layers no image uses,
 * directories no layer or container uses). With every image and container record removed, the report even says
 * `source.empty` ("an engine that never pulled, built or ran anything here"), exit 0, over a store full of layers.
 * containers/storage deletes a layer when its last image or container goes (podman rmi, podman rm), so a layer
 * nothing uses, or an overlay/<id> dir layers.json does not list, is evidence of editing or of a crash: it must be
 * shown (README: "Every command works on it as on a Docker data root").
 * Suggested fix: a readStorage for containers-storage: orphanLayers = layers.json records that no image chain and
 * no container layer reaches (chainId from the diff-digests when their chain is complete, cacheId = the layer id,
 * bytes = diff-size); orphanDirs = overlay/<name> dirs (other than l/ and the bookkeeping files) that no record
 * lists, sized as docker-root sizes them (bounded, nothing followed).
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
import { reportCommand } from '../../src/cli/commands/analysis.js';

test('containers/storage: layers of an image whose record was removed from images.json are reported as unreferenced', { timeout: 300_000 }, async (t: TestContext) => {
  const store = await podmanStore(t, 'rootful');
  if (!store) return;
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-orph-'));
  try {
    const s = await openSource(store.storage);
    const bud = s.images.find((i) => i.tags.includes(PODMAN.bud))!;
    const used = new Set<string>();
    for (const i of s.images) if (i !== bud) for (const l of i.layers) used.add(l.cacheId!);
    await s.close();
    const only = bud.layers.map((l) => l.cacheId!).filter((id) => !used.has(id));
    assert.ok(only.length > 0, 'the buildah image has a layer of its own');
    const root = path.join(copy, 'storage');
    await copyTree(store.storage, root);
    const imagesFile = path.join(root, 'overlay-images', 'images.json');
    const records = JSON.parse(fs.readFileSync(imagesFile, 'utf8')) as { id: string }[];
    fs.writeFileSync(imagesFile, JSON.stringify(records.filter((r) => 'sha256:' + r.id !== bud.id)));
    // Its buildah working container still uses its base; the image's own top layer is used by nothing now.
    const r = await runCmd(reportCommand, [root, '--format', 'json']);
    const doc = JSON.parse(r.stdout);
    assert.ok(!doc.images.some((i: { id: string }) => i.id === bud.id), 'the image is gone from the list');
    assert.notEqual(doc.storage, null, 'the store is scanned for unreferenced layers (storage is not null)');
    const text = JSON.stringify(doc.storage);
    for (const id of only) assert.ok(text.includes(id), `layer ${id.slice(0, 12)} (used by no image or container now) is reported: ${text.slice(0, 300)}`);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
    await store.remove();
  }
});
