/**
 * Red team (attack11), hand-made first-overlay-driver stores (the engine-backed proofs are
 * drivers-lowerid.engine.test.ts and drivers-overlay-root.engine.test.ts):
 * - a container layer's lower-id naming a real layer with a root, but not its image's top (the engine mounts
 *   its upper over that tree): an error naming the lower-id;
 * - a `root/` in a container layer dir (moby's Get then returns that tree, no overlay): an error naming it.
 * Both were silent before attack11. Nothing is written.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { openSource } from '../../src/core/sources/open.js';
import { chainIds } from '../../src/core/analysis/chain.js';
import { classicRoot, docker20Containerd, hex, writeTree } from '../support/roots.js';
import { hashTree } from '../support/engine.js';

const L1 = { cacheId: hex('1'), diffId: 'sha256:' + hex('a') };
const L2 = { cacheId: hex('2'), diffId: 'sha256:' + hex('b') };
const MOUNT = hex('5');
const CID = hex('c');

function store(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a11o-'));
  const diffIds = [L1.diffId, L2.diffId];
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, history: [] });
  const idHex = createHash('sha256').update(config).digest('hex');
  const chains = chainIds(diffIds);
  const files: Record<string, string | null> = {
    ...classicRoot('overlay'),
    ...docker20Containerd(),
    [`image/overlay/imagedb/content/sha256/${idHex}`]: config,
    [`image/overlay/repositories.json`]: JSON.stringify({ Repositories: { app: { 'app:1': 'sha256:' + idHex } } }),
    [`containers/${CID}/hostconfig.json`]: '{}',
    [`containers/${CID}/config.v2.json`]: JSON.stringify({ ID: CID, Name: '/box', Image: 'sha256:' + idHex, Created: '2024-01-01T00:00:00Z', Config: { Image: 'app:1' }, State: {}, Driver: 'overlay' }),
    [`image/overlay/layerdb/mounts/${CID}/mount-id`]: MOUNT,
    [`image/overlay/layerdb/mounts/${CID}/init-id`]: MOUNT + '-init',
    [`image/overlay/layerdb/mounts/${CID}/parent`]: chains[1]!,
    [`overlay/${L1.cacheId}/root/etc/f`]: 'base',
    [`overlay/${L2.cacheId}/root/etc/f`]: 'base',
    [`overlay/${L2.cacheId}/root/etc/g`]: 'top',
    [`overlay/${L2.cacheId}/lower-id`]: L1.cacheId,
    [`overlay/${MOUNT}-init/lower-id`]: L2.cacheId,
    [`overlay/${MOUNT}-init/upper/.dockerenv`]: '',
    [`overlay/${MOUNT}/lower-id`]: L2.cacheId,
    [`overlay/${MOUNT}/upper/.dockerenv`]: '',
  };
  [L1, L2].forEach((l, i) => {
    const at = `image/overlay/layerdb/sha256/${chains[i]!.slice(7)}`;
    files[`${at}/diff`] = l.diffId;
    files[`${at}/cache-id`] = l.cacheId;
    if (i > 0) files[`${at}/parent`] = chains[i - 1]!;
  });
  writeTree(root, files);
  return root;
}

async function problemsOf(root: string) {
  const s = await openSource(root);
  try {
    assert.equal(s.containers.length, 1, 'the container is still read');
    return s.problems;
  } finally {
    await s.close();
  }
}

test('overlay store (hand-made): untouched, no error', async () => {
  const root = store();
  try {
    assert.deepEqual((await problemsOf(root)).filter((p) => p.severity === 'error'), []);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

for (const which of [MOUNT, MOUNT + '-init']) {
  test(`overlay store (hand-made): ${which.endsWith('-init') ? 'init' : 'RW'} layer's lower-id naming the image's base layer is an error naming it`, async () => {
    const root = store();
    try {
      fs.writeFileSync(path.join(root, 'overlay', which, 'lower-id'), L1.cacheId);
      const before = await hashTree(root);
      const p = (await problemsOf(root)).find((x) => x.code === 'overlay.lower-id.mismatch');
      assert.ok(p, 'overlay.lower-id.mismatch');
      assert.equal(p.path, path.join(root, 'overlay', which, 'lower-id'));
      assert.equal(p.severity, 'error');
      assert.equal(await hashTree(root), before, 'nothing written');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

for (const kind of ['dir', 'symlink'] as const) {
  test(`overlay store (hand-made): a root (${kind}) in the container's RW layer dir is an error naming it, not followed`, async () => {
    const root = store();
    try {
      const planted = path.join(root, 'overlay', MOUNT, 'root');
      if (kind === 'dir') fs.mkdirSync(planted);
      else fs.symlinkSync('/etc', planted);
      const before = await hashTree(root);
      const p = (await problemsOf(root)).find((x) => x.code === 'overlay.container.root');
      assert.ok(p, 'overlay.container.root');
      assert.equal(p.path, planted);
      assert.match(p.message, kind === 'symlink' ? /symlink/ : /directory/);
      assert.equal(await hashTree(root), before, 'nothing written');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}
