/**
 * vfs, btrfs and the first overlay driver on hand-made stores: a whole-tree layer read as the engine's naive
 * diff against its parent's tree (what moby's ChangesDirs + ExportChanges would put in the layer tar), and bad
 * input (a lower-id naming a missing or hostile id, a layer that is itself, a non-root layer; a layer dir that is a
 * symlink; a missing parent tree): a problem naming the file, the rest read, nothing followed or written.
 * The engine-backed proof is drivers.engine.test.ts.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { openSource } from '../../src/core/sources/open.js';
import type { Source } from '../../src/core/model/source.js';
import type { LayerTable } from '../../src/core/model/layer-table.js';
import { readTreeDiff } from '../../src/core/sources/walk/tree-diff.js';
import { attributePath } from '../../src/core/verify/attribute.js';
import { PathTable } from '../../src/core/model/paths.js';
import { chainIds } from '../../src/core/analysis/chain.js';
import { classicRoot, docker20Containerd, hex, writeTree } from '../support/roots.js';
import { hashTree } from '../support/engine.js';

const tmps: string[] = [];
test.after(() => {
  for (const d of tmps) fs.rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-drivers-'));
  tmps.push(d);
  return d;
}

const T0 = new Date('2024-01-01T00:00:00Z');

/** Row summaries of a table: `<type> <path>[ -> link]`, in walk order. */
function rows(t: LayerTable): string[] {
  return t.entries.map((e) => (e.kind === 'whiteout' ? `whiteout ${e.path}` : `${e.attrs.type} ${e.path}${e.attrs.type === 'hardlink' ? ' -> ' + e.attrs.linkname : ''}`));
}

/** A base tree, and a copy of it (times kept, as vfs copies) changed the ways a layer can change it. */
function twoTrees(): { base: string; next: string } {
  const d = tmp();
  const base = writeTree(path.join(d, 'base'), { 'a/keep': 'k', 'a/mod': 'm', 'a/gone': 'g', 'd/x': 'x', 'd/y/z': 'z', 'same/f': 's', 'chmod/f': 'c', 'e/f': 'f' });
  fs.symlinkSync('../a/keep', path.join(base, 'e/link'));
  for (const p of ['a/keep', 'a/mod', 'a/gone', 'd/x', 'd/y/z', 'same/f', 'chmod/f', 'e/f', 'a', 'd/y', 'd', 'same', 'chmod', 'e']) fs.utimesSync(path.join(base, p), T0, T0);
  const next = path.join(d, 'next');
  copyTree(base, next);
  fs.writeFileSync(path.join(next, 'a/mod'), 'modified');
  fs.rmSync(path.join(next, 'a/gone'));
  fs.rmSync(path.join(next, 'd'), { recursive: true });
  fs.chmodSync(path.join(next, 'chmod/f'), 0o600);
  fs.mkdirSync(path.join(next, 'new'));
  fs.writeFileSync(path.join(next, 'new/f'), 'new');
  fs.linkSync(path.join(next, 'new/f'), path.join(next, 'new/h'));
  // A file that replaced a dir: the dir's old children are not listed (the engine lists none).
  fs.rmSync(path.join(next, 'e'), { recursive: true });
  fs.writeFileSync(path.join(next, 'e'), 'now a file');
  return { base, next };
}

test('tree diff: the changes the engine would put in the layer tar', async () => {
  const { base, next } = twoTrees();
  const t = await readTreeDiff(next, base, new PathTable());
  assert.deepEqual(t.problems, []);
  assert.deepEqual(rows(t), [
    'dir a',
    'whiteout a/gone',
    'file a/mod',
    'dir chmod',
    'file chmod/f',
    'whiteout d',
    'file e',
    'dir new',
    'file new/f',
    'hardlink new/h -> new/f',
  ]);
  // No parent: the whole tree, as it is.
  const whole = await readTreeDiff(base, null, new PathTable());
  assert.equal(rows(whole).length, 15);
});

test('tree diff: the same inode in both trees is unchanged (overlay hard-links unchanged files)', async () => {
  const d = tmp();
  const base = writeTree(path.join(d, 'base'), { 'f': 'x', 'g': 'y' });
  const next = path.join(d, 'next');
  fs.mkdirSync(next);
  fs.linkSync(path.join(base, 'f'), path.join(next, 'f'));
  fs.linkSync(path.join(base, 'g'), path.join(next, 'g'));
  fs.utimesSync(next, fs.statSync(base).atime, fs.statSync(base).mtime);
  assert.deepEqual(rows(await readTreeDiff(next, base, new PathTable())), []);
});

test('tree diff: a symlinked layer dir is not followed; a tree that cannot be listed is a problem, no made-up changes', async () => {
  const { base, next } = twoTrees();
  const link = path.join(path.dirname(next), 'link');
  fs.symlinkSync(next, link);
  const t = await readTreeDiff(link, base, new PathTable());
  assert.ok(t.problems.some((p) => /symlink; not followed/.test(p.message)), JSON.stringify(t.problems));
  assert.ok(t.problems.some((p) => p.code === 'layer.tree-diff.unreadable' && /the layer's tree could not be read/.test(p.message)), JSON.stringify(t.problems));
  // Nothing of the symlink's target was read, and nothing is made up from the parent alone.
  assert.deepEqual(rows(t), []);
  const noParent = await readTreeDiff(next, path.join(path.dirname(next), 'nowhere'), new PathTable());
  assert.deepEqual(rows(noParent), []);
  assert.ok(noParent.problems.some((p) => /the parent's tree could not be read/.test(p.message)), JSON.stringify(noParent.problems));
});

/** A copy as the engine's copy makes it (GNU cp -a: times to the nanosecond, owners, modes, hard links kept). */
function copyTree(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  execFileSync('cp', ['-a', '--', from, to]);
}

// ------------------------------------------------------------------------------------------------------------
// Stores
// ------------------------------------------------------------------------------------------------------------

interface Layer {
  cacheId: string;
  diffId: string;
}

/** image/<driver>/ metadata for one image of `layers` (base first), tagged app:1; returns the files to write. */
function imageMeta(driver: string, layers: Layer[]): { files: Record<string, string>; imageId: string } {
  const diffIds = layers.map((l) => l.diffId);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, history: [] });
  const idHex = createHash('sha256').update(config).digest('hex');
  const files: Record<string, string> = {
    [`image/${driver}/imagedb/content/sha256/${idHex}`]: config,
    [`image/${driver}/repositories.json`]: JSON.stringify({ Repositories: { app: { 'app:1': 'sha256:' + idHex } } }),
  };
  const chains = chainIds(diffIds);
  layers.forEach((l, i) => {
    const at = `image/${driver}/layerdb/sha256/${chains[i]!.slice(7)}`;
    files[`${at}/diff`] = l.diffId;
    files[`${at}/cache-id`] = l.cacheId;
    if (i > 0) files[`${at}/parent`] = chains[i - 1]!;
  });
  return { files, imageId: 'sha256:' + idHex };
}

function containerMeta(driver: string, id: string, imageId: string, parentChain: string, mountId: string): Record<string, string> {
  return {
    [`containers/${id}/hostconfig.json`]: '{}',
    [`containers/${id}/config.v2.json`]: JSON.stringify({ ID: id, Name: '/box', Image: imageId, Created: '2024-01-01T00:00:00Z', Config: { Image: 'app:1' }, State: {}, Driver: driver }),
    [`image/${driver}/layerdb/mounts/${id}/mount-id`]: mountId,
    [`image/${driver}/layerdb/mounts/${id}/init-id`]: mountId + '-init',
    [`image/${driver}/layerdb/mounts/${id}/parent`]: parentChain,
  };
}

async function withSource<T>(root: string, fn: (s: Source) => Promise<T>): Promise<T> {
  const s = await openSource(root);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

const L1 = { cacheId: hex('1'), diffId: 'sha256:' + hex('a') };
const L2 = { cacheId: hex('2'), diffId: 'sha256:' + hex('b') };

/** A vfs store: two layers (the trees of twoTrees), a container whose RW tree adds a file to the image's. */
function vfsStore(driver: 'vfs' | 'btrfs' = 'vfs'): { root: string; layerDir: (id: string) => string } {
  const root = tmp();
  const meta = imageMeta(driver, [L1, L2]);
  const below = driver === 'vfs' ? 'dir' : 'subvolumes';
  writeTree(root, { ...classicRoot(driver), ...docker20Containerd(), ...meta.files, ...containerMeta(driver, hex('c'), meta.imageId, chainIds([L1.diffId, L2.diffId])[1]!, hex('5')) });
  const layerDir = (id: string) => path.join(root, driver, below, id);
  const { base, next } = twoTrees();
  fs.mkdirSync(path.join(root, driver, below), { recursive: true });
  copyTree(base, layerDir(L1.cacheId));
  copyTree(next, layerDir(L2.cacheId));
  copyTree(next, layerDir(hex('5') + '-init'));
  copyTree(next, layerDir(hex('5')));
  fs.writeFileSync(path.join(layerDir(hex('5')), 'written-by-the-container'), 'x');
  return { root, layerDir };
}

for (const driver of ['vfs', 'btrfs'] as const) {
  test(`${driver} store: image layers and the container layer are their trees' changes`, async () => {
    const { root } = vfsStore(driver);
    const before = await hashTree(root);
    await withSource(root, async (s) => {
      assert.deepEqual(s.problems.filter((p) => p.severity === 'error'), []);
      const img = s.images[0]!;
      assert.deepEqual(img.layers.map((l) => l.layout), ['full', 'full']);
      assert.equal(rows(await s.readLayer(img, 0)).length, 15);
      assert.ok(rows(await s.readLayer(img, 1)).includes('hardlink new/h -> new/f'));
      const c = s.containers[0]!;
      assert.deepEqual(rows(await s.readContainerLayer(c, 'init')), []);
      assert.deepEqual(rows(await s.readContainerLayer(c, 'rw')), ['file written-by-the-container']);
    });
    assert.equal(await hashTree(root), before, 'nothing written');
  });
}

test('vfs store: a layer dir that is a symlink is refused, not followed; the rest is read', async () => {
  const { root, layerDir } = vfsStore();
  const elsewhere = path.join(tmp(), 'elsewhere');
  fs.renameSync(layerDir(L2.cacheId), elsewhere);
  fs.symlinkSync(elsewhere, layerDir(L2.cacheId));
  await withSource(root, async (s) => {
    const p = s.problems.find((x) => x.code === 'vfs.dir.missing');
    assert.ok(p, JSON.stringify(s.problems));
    assert.match(p.message, /symlink \(never followed\)/);
    assert.equal(p.path, layerDir(L2.cacheId));
    const img = s.images[0]!;
    assert.equal(img.layers[1]!.location, null);
    assert.equal(rows(await s.readLayer(img, 0)).length, 15);
    const t = await s.readLayer(img, 1);
    assert.equal(t.n, 0);
    assert.ok(t.problems.some((x) => /no layer directory/.test(x.message)), JSON.stringify(t.problems));
  });
});

test('vfs store: a layer whose parent tree is missing cannot say what it changed: a problem, not the whole tree', async () => {
  const { root, layerDir } = vfsStore();
  fs.rmSync(layerDir(L1.cacheId), { recursive: true });
  await withSource(root, async (s) => {
    assert.ok(s.problems.some((x) => x.code === 'vfs.dir.missing'));
    const t = await s.readLayer(s.images[0]!, 1);
    assert.equal(t.n, 0);
    const p = t.problems.find((x) => x.code === 'vfs.parent.missing');
    assert.ok(p, JSON.stringify(t.problems));
    assert.equal(p.path, layerDir(L2.cacheId));
  });
});

// ------------------------------------------------------------------------------------------------------------
// The first overlay driver
// ------------------------------------------------------------------------------------------------------------

const MOUNT = hex('7');

/** An overlay store: two image layers (root/ each; the second has lower-id), a container (init + RW uppers). */
function overlayStore(): string {
  const root = tmp();
  const meta = imageMeta('overlay', [L1, L2]);
  writeTree(root, {
    ...classicRoot('overlay'),
    ...docker20Containerd(),
    ...meta.files,
    ...containerMeta('overlay', hex('c'), meta.imageId, chainIds([L1.diffId, L2.diffId])[1]!, MOUNT),
    [`overlay/${L2.cacheId}/lower-id`]: L1.cacheId,
    [`overlay/${L2.cacheId}/upper`]: null,
    [`overlay/${MOUNT}-init/lower-id`]: L2.cacheId,
    [`overlay/${MOUNT}-init/upper/.dockerenv`]: '',
    [`overlay/${MOUNT}/lower-id`]: L2.cacheId,
    [`overlay/${MOUNT}/upper/.dockerenv`]: '',
    [`overlay/${MOUNT}/upper/a/added`]: 'by the container',
  });
  const { base, next } = twoTrees();
  copyTree(base, path.join(root, 'overlay', L1.cacheId, 'root'));
  copyTree(next, path.join(root, 'overlay', L2.cacheId, 'root'));
  // The RW upper began as a copy of the init upper (times kept); the container's parent dir copied up as is.
  for (const d of [MOUNT + '-init', MOUNT]) fs.utimesSync(path.join(root, 'overlay', d, 'upper', '.dockerenv'), T0, T0);
  const a = fs.statSync(path.join(root, 'overlay', L2.cacheId, 'root', 'a'));
  fs.utimesSync(path.join(root, 'overlay', MOUNT, 'upper', 'a'), a.atime, a.mtime);
  return root;
}

test('overlay store: image layers from their roots, the container as its upper over the image top', async () => {
  const root = overlayStore();
  const before = await hashTree(root);
  await withSource(root, async (s) => {
    assert.deepEqual(s.problems.filter((p) => p.severity === 'error'), []);
    const img = s.images[0]!;
    assert.deepEqual(img.layers.map((l) => l.layout), ['full', 'full']);
    assert.ok(rows(await s.readLayer(img, 1)).includes('whiteout d'));
    const c = s.containers[0]!;
    assert.deepEqual(rows(await s.readContainerLayer(c, 'init')), ['file .dockerenv']);
    assert.deepEqual(rows(await s.readContainerLayer(c, 'rw')), ['dir a', 'file a/added']);
  });
  assert.equal(await hashTree(root), before, 'nothing written');
});

for (const [what, value, code] of [
  ['a missing layer', hex('9'), 'overlay.lower-id.dangling'],
  ['a path', '../../../../etc', 'overlay.lower-id.invalid'],
  ['a layer without root (the init layer)', MOUNT + '-init', 'overlay.lower-id.invalid'],
  ['a layer without root (an id)', hex('8'), 'overlay.lower-id.not-root'],
  ['itself', MOUNT, 'overlay.lower-id.self'],
] as const) {
  test(`overlay store: a container's lower-id naming ${what} is a problem naming the file; the rest is read`, async () => {
    const root = overlayStore();
    if (value === hex('8')) fs.mkdirSync(path.join(root, 'overlay', hex('8'), 'upper'), { recursive: true });
    fs.writeFileSync(path.join(root, 'overlay', MOUNT, 'lower-id'), value);
    const before = await hashTree(root);
    await withSource(root, async (s) => {
      const p = s.problems.find((x) => x.code === code);
      assert.ok(p, `${code} in ${JSON.stringify(s.problems)}`);
      assert.equal(p.path, path.join(root, 'overlay', MOUNT, 'lower-id'));
      const img = s.images[0]!;
      assert.ok(rows(await s.readLayer(img, 1)).includes('whiteout d'), 'the image is still read');
      const rw = await s.readContainerLayer(s.containers[0]!, 'rw');
      assert.ok(rw.problems.some((x) => x.code === 'overlay.lower.unusable' && x.path === path.join(root, 'overlay', MOUNT, 'upper')), JSON.stringify(rw.problems));
      assert.equal(rw.n, 0);
    });
    assert.equal(await hashTree(root), before, 'nothing written');
  });
}

test("overlay store: an image layer's lower-id that is not its parent's id is a problem", async () => {
  const root = overlayStore();
  fs.writeFileSync(path.join(root, 'overlay', L2.cacheId, 'lower-id'), L2.cacheId);
  await withSource(root, async (s) => {
    const p = s.problems.find((x) => x.code === 'overlay.lower-id.mismatch');
    assert.ok(p, JSON.stringify(s.problems));
    assert.equal(p.path, path.join(root, 'overlay', L2.cacheId, 'lower-id'));
  });
});

test('vfs store: a host path in a whole-tree layer belongs to the layer that last wrote it', async () => {
  const { root, layerDir } = vfsStore();
  await withSource(root, async (s) => {
    const [l0, l1] = s.images[0]!.layers;
    const kept = await attributePath(s, path.join(layerDir(L2.cacheId), 'a/keep'));
    assert.equal(kept.layer?.chainId, l0!.chainId, JSON.stringify(kept));
    assert.match(kept.notes.join('\n'), /whole file system as of layer 1.*layer 0's version/);
    const mod = await attributePath(s, path.join(layerDir(L2.cacheId), 'a/mod'));
    assert.equal(mod.layer?.chainId, l1!.chainId, JSON.stringify(mod));
  });
});
