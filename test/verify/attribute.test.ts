/**
 * `whose`: attribution of a host path under a data root (a scanner's hit) to its layer, images and containers,
 * with visibility in each final view. Engine-backed (read-only on the engine's own data root: nothing is mounted
 * or written), plus a unit test of the path handling that needs no engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { getEngine } from '../support/engine.js';
import { IMAGES, CONTAINERS, BLOAT } from '../support/fixtures-manifest.mjs';
import { openSource } from '../../src/core/sources/open.js';
import { findImage, findContainer } from '../../src/core/analysis/select.js';
import { attributePath } from '../../src/core/verify/attribute.js';
import { whoseCommand } from '../../src/cli/commands/whose.js';
import { parseArgs } from '../../src/cli/args.js';
import { EXIT } from '../../src/cli/command.js';
import type { Source } from '../../src/core/model/source.js';

async function withRoot<T>(t: Parameters<typeof getEngine>[0], fn: (src: Source, root: string) => Promise<T>): Promise<T | undefined> {
  const e = getEngine(t);
  if (!e) return undefined;
  const src = await openSource(e.dataRoot);
  try {
    return await fn(src, e.dataRoot);
  } finally {
    await src.close();
  }
}

const img = (a: Awaited<ReturnType<typeof attributePath>>, tag: string) => a.images.find((i) => i.tags.includes(tag));
const ctr = (a: Awaited<ReturnType<typeof attributePath>>, name: string) => a.containers.find((c) => c.name === name);

test('a file in a lower layer: its layer, every image and container using it, and who hides it', async (t) => {
  await withRoot(t, async (src, root) => {
    const bloat = findImage(src, IMAGES.bloat);
    const L = (i: number) => bloat.layers[i]!;
    // data/big.bin in L3, deleted by L5's whiteout.
    let a = await attributePath(src, path.join(L(3).location!, BLOAT.bigFile.path));
    assert.equal(a.where, 'layer');
    assert.equal(a.layerPath, BLOAT.bigFile.path);
    assert.deepEqual(a.layer, { chainId: L(3).chainId, diffId: L(3).diffId, cacheId: L(3).cacheId });
    assert.equal(img(a, IMAGES.bloat)!.index, 3);
    assert.deepEqual(img(a, IMAGES.bloat)!.visibility, { state: 'hidden', hiddenBy: { layer: 5, reason: 'deleted', what: img(a, IMAGES.bloat)!.visibility!.hiddenBy!.what } });
    assert.match(img(a, IMAGES.bloat)!.visibility!.hiddenBy!.what, /^layer 5: /);
    for (const c of Object.values(CONTAINERS)) {
      assert.equal(ctr(a, c)!.role, 'image-layer');
      assert.equal(ctr(a, c)!.index, 3);
      assert.equal(ctr(a, c)!.visibility!.state, 'hidden');
    }
    // opq/a/file in L2, hidden by L6's opaque dir.
    a = await attributePath(src, path.join(L(2).location!, 'opq/a/file'));
    assert.deepEqual([img(a, IMAGES.bloat)!.visibility!.state, img(a, IMAGES.bloat)!.visibility!.hiddenBy!.layer, img(a, IMAGES.bloat)!.visibility!.hiddenBy!.reason], ['hidden', 6, 'opaque']);
    // Hardlinks: data/f-link deleted in L7, data/f (same inode) still visible.
    a = await attributePath(src, path.join(L(2).location!, BLOAT.hardlink.link));
    assert.equal(img(a, IMAGES.bloat)!.visibility!.hiddenBy!.layer, 7);
    a = await attributePath(src, path.join(L(2).location!, BLOAT.hardlink.path));
    assert.equal(img(a, IMAGES.bloat)!.visibility!.state, 'visible');
    // app/payload.txt in L1: visible in the image, deleted by ls-running's RW layer.
    a = await attributePath(src, path.join(L(1).location!, 'app/payload.txt'));
    assert.equal(img(a, IMAGES.bloat)!.visibility!.state, 'visible');
    assert.deepEqual(ctr(a, CONTAINERS.running)!.visibility!.state, 'hidden');
    assert.equal(ctr(a, CONTAINERS.running)!.visibility!.hiddenBy!.reason, 'deleted');
    assert.match(ctr(a, CONTAINERS.running)!.visibility!.hiddenBy!.what, /RW layer/);
    assert.equal(ctr(a, CONTAINERS.stopped)!.visibility!.state, 'visible');
    // The whiteout marker itself (L5's char 0:0 for data/big.bin).
    a = await attributePath(src, path.join(L(5).location!, BLOAT.bigFile.path));
    assert.equal(img(a, IMAGES.bloat)!.visibility!.state, 'whiteout');
    // The base layer is used by every fixture image.
    a = await attributePath(src, path.join(findImage(src, IMAGES.base).layers[0]!.location!, 'bin/busybox'));
    for (const tag of Object.values(IMAGES)) assert.equal(img(a, tag)!.index, 0, tag);
    assert.equal(img(a, IMAGES.bloat)!.visibility!.state, 'visible');
  });
});

test('container RW and init layers, the live merged mount, l/<link> short names, layerdb records', async (t) => {
  await withRoot(t, async (src, root) => {
    const running = findContainer(src, CONTAINERS.running);
    let a = await attributePath(src, path.join(running.rwDir!, 'tmp/dropper.sh'));
    assert.equal(a.where, 'container-rw');
    assert.deepEqual(a.containers.map((c) => [c.name, c.role, c.visibility?.state]), [[CONTAINERS.running, 'rw', 'visible']]);
    assert.deepEqual(a.images, []);
    a = await attributePath(src, path.join(running.initDir!, '.dockerenv'));
    assert.equal(a.where, 'container-init');
    assert.deepEqual(a.containers.map((c) => [c.name, c.role, c.visibility?.state]), [[CONTAINERS.running, 'init', 'visible']]);
    // The running container's merged mount (a scanner walking /var/lib/docker meets it).
    a = await attributePath(src, path.join(root, 'overlay2', running.mountId!, 'merged', 'etc/passwd'));
    assert.equal(a.where, 'container-merged');
    assert.equal(a.containers[0]!.name, CONTAINERS.running);
    // Through the short name l/<link>, checked against overlay2/<id>/diff.
    const bloat = findImage(src, IMAGES.bloat);
    const l2 = bloat.layers[2]!;
    const link = fs.readFileSync(path.join(root, 'overlay2', l2.cacheId!, 'link'), 'utf8').trim();
    a = await attributePath(src, path.join(root, 'overlay2', 'l', link, 'data/f'));
    assert.equal(a.where, 'layer');
    assert.equal(a.layer!.chainId, l2.chainId);
    assert.equal(a.layerPath, 'data/f');
    assert.ok(a.notes.some((n) => n.includes(`overlay2/l/${link}`)));
    // A layerdb record names its layer.
    a = await attributePath(src, path.join(root, 'image/overlay2/layerdb/sha256', l2.chainId.slice(7), 'tar-split.json.gz'));
    assert.equal(a.where, 'layerdb');
    assert.equal(img(a, IMAGES.bloat)!.index, 2);
    assert.equal(a.layerPath, null);
    // Outside the root, and driver bookkeeping.
    a = await attributePath(src, '/etc/passwd');
    assert.equal(a.where, 'outside');
    assert.match(a.notes[0]!, /not under the data root/);
    a = await attributePath(src, path.join(root, 'overlay2', l2.cacheId!, 'link'));
    assert.equal(a.layerPath, null);
    assert.equal(a.layer!.chainId, l2.chainId);
  });
});

test('whose command: text and JSON', async (t) => {
  await withRoot(t, async (src, root) => {
    const bloat = findImage(src, IMAGES.bloat);
    const p = path.join(bloat.layers[3]!.location!, BLOAT.bigFile.path);
    let out = '';
    const io = { stdout: new Writable({ write(c, _e, cb) { out += String(c); cb(); } }), stderr: process.stderr, isTTY: false, env: {} };
    assert.equal(await whoseCommand.run(parseArgs([p, '--root', root], whoseCommand), io), EXIT.ok);
    assert.match(out, /where: layer/);
    assert.match(out, new RegExp(`image ${IMAGES.bloat.replace('.', '\\.')}: layer 3; hidden by layer 5: .* \\(deleted\\)`));
    assert.match(out, new RegExp(`container ${CONTAINERS.running} \\(running\\): image layer under it`));
    out = '';
    assert.equal(await whoseCommand.run(parseArgs([p, '--root', root, '--format', 'json'], whoseCommand), io), EXIT.ok);
    const j = JSON.parse(out);
    assert.equal(j.schema, 'layerscope.whose/v1');
    assert.equal(j.results[0].layerPath.path, '/' + BLOAT.bigFile.path);
    assert.equal(j.results[0].layer.chainId, bloat.layers[3]!.chainId);
    // A path outside the data root is bad input.
    out = '';
    assert.equal(await whoseCommand.run(parseArgs(['/etc/passwd', '--root', root], whoseCommand), io), EXIT.sourceError);
    assert.match(out, /not under the data root/);
  });
});

test('containerd image store (Docker 26): a path in a snapshot dir is attributed the same way', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const src = await openSource(e.dataRoot);
  try {
    assert.equal(src.kind, 'containerd-root');
    const bloat = findImage(src, IMAGES.bloat);
    const l3 = bloat.layers[3]!;
    assert.match(l3.location!, /snapshots\/\d+\/fs$/);
    let a = await attributePath(src, path.join(l3.location!, BLOAT.bigFile.path));
    assert.equal(a.where, 'layer');
    assert.equal(a.layer!.chainId, l3.chainId);
    assert.equal(img(a, IMAGES.bloat)!.index, 3);
    assert.deepEqual([img(a, IMAGES.bloat)!.visibility!.state, img(a, IMAGES.bloat)!.visibility!.hiddenBy!.layer], ['hidden', 5]);
    const running = findContainer(src, CONTAINERS.running);
    a = await attributePath(src, path.join(running.rwDir!, 'tmp/dropper.sh'));
    assert.equal(a.where, 'container-rw');
    assert.deepEqual(a.containers.map((c) => [c.name, c.role, c.visibility?.state]), [[CONTAINERS.running, 'rw', 'visible']]);
  } finally {
    await src.close();
  }
});
