/**
 * Unreferenced storage in a containers/storage store, on hand-made stores (the podman-made one is in
 * test/attack10/cstore-no-orphan-scan.test.ts): layers no image chain and no container reaches, overlay/<dir>s that
 * layers.json does not list, the driver's bookkeeping left out, and a store whose records list nothing while its
 * layers are still there, which is not "empty".
 */
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSource } from '../../../src/core/sources/open.js';
import { reachedLayers } from '../../../src/core/sources/containers-storage/storage.js';
import type { CsLayer } from '../../../src/core/sources/containers-storage/store.js';
import { walkPool } from '../../../src/core/sources/walk/pool.js';

// The walk workers are stopped before the process exits (one still loading when it exits can abort node).
after(() => walkPool().close());

const id = (c: string) => c.repeat(64);
const digest = (c: string) => 'sha256:' + c.repeat(64);

interface Rec { id: string; parent?: string; 'diff-digest'?: string; 'diff-size'?: number }

function makeStore(layers: Rec[], images: { id: string; layer: string }[], containers: { id: string; layer: string }[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-cs-orph-'));
  for (const d of ['overlay/l', 'overlay-layers', 'overlay-images', 'overlay-containers']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.writeFileSync(path.join(root, 'overlay-layers', 'layers.json'), JSON.stringify(layers));
  fs.writeFileSync(path.join(root, 'overlay-images', 'images.json'), JSON.stringify(images));
  fs.writeFileSync(path.join(root, 'overlay-containers', 'containers.json'), JSON.stringify(containers));
  for (const l of layers) {
    fs.mkdirSync(path.join(root, 'overlay', l.id, 'diff'), { recursive: true });
    fs.writeFileSync(path.join(root, 'overlay', l.id, 'diff', 'f'), 'x'.repeat(10));
  }
  fs.writeFileSync(path.join(root, 'overlay', '.has-mount-program'), 'false');
  return root;
}

test('reached layers: every chain from an image top or a container layer; a cycle and a missing parent stop it', () => {
  const layer = (i: string, parent: string | null): CsLayer => ({ id: id(i), parent: parent && id(parent), names: [], created: null, diffDigest: null, diffSize: null, compressedDigest: null, uidmap: [], gidmap: [], volatile: false, where: 'layers.json' });
  const m = new Map([layer('a', null), layer('b', 'a'), layer('c', 'b'), layer('d', 'a'), layer('e', 'f'), layer('f', 'e'), layer('9', '8')].map((l) => [l.id, l]));
  assert.deepEqual([...reachedLayers(m, [id('b'), null])].sort(), [id('a'), id('b')]);
  assert.deepEqual([...reachedLayers(m, [id('c'), id('e'), id('9')])].sort(), [id('9'), id('8'), id('a'), id('b'), id('c'), id('e'), id('f')].sort());
});

test('containers/storage: layers no image or container reaches and overlay dirs layers.json does not list are unreferenced storage', async () => {
  // Image "b" (its config is gone: its record still holds a, b), container layer c on b, layer d (on a) nobody uses,
  // container layer e (no diff-digest, no size) whose container record was removed.
  const root = makeStore(
    [
      { id: id('a'), 'diff-digest': digest('1'), 'diff-size': 100 },
      { id: id('b'), parent: id('a'), 'diff-digest': digest('2'), 'diff-size': 200 },
      { id: id('c'), parent: id('b') },
      { id: id('d'), parent: id('a'), 'diff-digest': digest('3'), 'diff-size': 300 },
      { id: id('e'), parent: id('b') },
    ],
    [{ id: id('9'), layer: id('b') }],
    [{ id: id('8'), layer: id('c') }],
  );
  try {
    // Left by nobody's record: a dir, and one that is a symlink to / (sized as a symlink, never walked).
    fs.mkdirSync(path.join(root, 'overlay', 'stray', 'diff'), { recursive: true });
    fs.writeFileSync(path.join(root, 'overlay', 'stray', 'diff', 'payload'), 'y'.repeat(1234));
    fs.symlinkSync('/', path.join(root, 'overlay', 'link-to-root'));
    fs.mkdirSync(path.join(root, 'overlay', 'staging')); // the driver's work dir, empty: bookkeeping
    const s = await openSource(root);
    try {
      assert.equal(s.kind, 'containers-storage');
      assert.ok(s.readStorage, 'a containers/storage source scans for unreferenced storage');
      const st = await s.readStorage!();
      const layers = st.orphanLayers.map((l) => [l.cacheId, l.bytes]);
      // d: its chain ID from the diff-digests of a and d; e: no diff-digest, sized from its dir (10 bytes).
      assert.deepEqual(layers, [[id('d'), 300], [id('e'), 10]]);
      assert.match(st.orphanLayers[0]!.chainId, /^sha256:[0-9a-f]{64}$/);
      assert.notEqual(st.orphanLayers[0]!.chainId, digest('3'));
      assert.equal(st.orphanLayers[1]!.chainId, id('e'));
      const dirs = st.orphanDirs.map((d) => [path.basename(d.path), d.bytes]);
      assert.deepEqual(dirs, [['link-to-root', 0], ['stray', 1234]]);
      assert.ok(s.problems.some((p) => p.code === 'evidence.symlink' && p.path!.endsWith('link-to-root')), 'the symlink is reported, not followed');
      assert.ok(!s.problems.some((p) => p.code === 'source.empty' || p.code === 'storage.unreferenced-layers'));
    } finally {
      await s.close();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('containers/storage: a store whose records list nothing but whose layers.json lists layers is not "empty"', async () => {
  const root = makeStore([{ id: id('a'), 'diff-digest': digest('1'), 'diff-size': 100 }], [], []);
  try {
    const s = await openSource(root);
    try {
      const codes = s.problems.map((p) => p.code);
      assert.ok(!codes.includes('source.empty'), `not called empty: ${codes.join(', ')}`);
      const w = s.problems.find((p) => p.code === 'storage.unreferenced-layers');
      assert.ok(w && w.severity === 'warning' && w.path!.endsWith('layers.json') && /1 layer/.test(w.message), JSON.stringify(w));
      assert.deepEqual((await s.readStorage!()).orphanLayers.map((l) => l.cacheId), [id('a')]);
    } finally {
      await s.close();
    }
    // Nothing listed and nothing on disk: empty it is.
    fs.writeFileSync(path.join(root, 'overlay-layers', 'layers.json'), '[]');
    fs.rmSync(path.join(root, 'overlay', id('a')), { recursive: true });
    const e = await openSource(root);
    try {
      assert.ok(e.problems.some((p) => p.code === 'source.empty'));
      const st = await e.readStorage!();
      assert.deepEqual([st.orphanDirs, st.orphanLayers], [[], []]);
    } finally {
      await e.close();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
