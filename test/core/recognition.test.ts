/**
 * How a directory SOURCE is recognised (by content, never by name), on hand-made roots, through the built CLI:
 * - nothing recognised is exit 3 naming the real cause, never "0 images, exit 0";
 * - a recognised store that is valid and empty is exit 0, said with an info problem (`source.empty`);
 * - a Docker data root on a graph driver we do not read is recognised as such (exit 3, naming the driver and
 *   what to do), never taken for a containerd root because of the containerd/daemon/ every engine leaves;
 * - the evidence is never written (tree hash before and after).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hashTree } from '../support/tree.js';
import { cli, classicRoot, docker20Containerd, hex, metaDb, writeTree, type Files } from '../support/roots.js';
import { buildBolt } from '../support/bolt-writer.js';
import { GRAPH_DRIVERS } from '../../src/core/sources/drivers.js';
import { DOCKER_DRIVERS } from '../../src/core/sources/docker-root/registry.js';
import { planSource } from '../../src/core/sources/open.js';
import { containerdInventory } from '../../src/core/sources/containerd/detect.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-recog-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const mk = (files: Files) => writeTree(path.join(tmp, `r${n++}`), files);

/** Run `report --format json` on a root; assert the evidence did not change. */
async function report(root: string) {
  const before = await hashTree(root);
  const r = await cli(['report', root, '--format', 'json']);
  assert.equal(await hashTree(root), before, `${root} changed while it was read`);
  return r;
}

async function expectSourceError(root: string, code: RegExp | string, message: RegExp) {
  const r = await report(root);
  assert.equal(r.code, 3, `exit 3 expected; stdout: ${r.stdout.slice(0, 300)} stderr: ${r.stderr}`);
  assert.equal(r.stdout, '', 'nothing is reported for a source that is not recognised');
  assert.match(r.stderr, message);
  assert.throws(() => planSource(root), (e: any) => (typeof code === 'string' ? e.code === code : code.test(e.code)));
}

test('nothing recognised: exit 3 with the real cause', async () => {
  await expectSourceError(mk({}), 'source.empty-dir', /: is an empty directory: there is nothing here to inspect/);
  await expectSourceError(mk({ 'notes.txt': 'x', src: null }), 'source.unrecognised', /neither a Docker data root \(image\/<driver>\/ or containerd\/daemon\/\), a containerd root .*, nor an OCI layout .*; it holds "notes\.txt", "src"/);
  // A source tree with overlay/ and zfs/ dirs of its own is not layer data of a Docker root.
  await expectSourceError(mk({ 'overlay/README': 'x', 'zfs/dir/file.c': 'x' }), 'source.unrecognised', /neither a Docker data root/);
  // Looks like a data root (containers/, network/, engine-id) but has no image store at all.
  await expectSourceError(mk({ containers: null, network: null, 'engine-id': 'x' }), 'source.no-image-store', /looks like a Docker data root \(containers\/, network\/, engine-id\) but holds no image store/);
  // Layer dirs in overlay2/ without image/overlay2/: the metadata is gone, and we say so.
  await expectSourceError(mk({ [`overlay2/${hex('a')}/diff/f`]: 'x', 'overlay2/l': null }), 'source.no-image-store', /overlay2\/ holds layer directories, but image\/overlay2\/ \(the image and layer metadata\) is missing/);
  // image/overlay2/ with nothing an engine writes in it, no layers, no containers.
  await expectSourceError(mk({ 'image/overlay2': null, 'overlay2/l': null, containers: null }), 'source.empty-store', /holds image\/overlay2\/ but nothing a Docker engine writes there \(no imagedb\/, layerdb\/ or repositories\.json\), no layer directories and no containers/);
  // A Docker 20.10 root with its image store removed: containerd/daemon/ alone is no image store.
  await expectSourceError(mk({ ...docker20Containerd(), containers: null }), 'source.no-image-store', /holds a Docker engine's containerd \(containerd\/daemon\/\) but no image store: no image\/<driver>\/, and containerd's namespace moby has no images/);
  // containerd roots: a meta.db that is no bbolt, one that is bbolt but not containerd's, one with no namespace.
  const notBolt = mk({ 'io.containerd.metadata.v1.bolt/meta.db': Buffer.alloc(8192, 1) });
  await expectSourceError(notBolt, 'source.containerd.meta-unreadable', new RegExp(`${notBolt}/io\\.containerd\\.metadata\\.v1\\.bolt/meta\\.db: .*bad magic`));
  await expectSourceError(mk({ 'io.containerd.metadata.v1.bolt/meta.db': buildBolt({ other: 'x' }) }), 'source.containerd.no-metadata', /meta\.db: is a bbolt database but holds no containerd metadata \(no v1 bucket\)/);
  await expectSourceError(mk({ 'io.containerd.metadata.v1.bolt/meta.db': metaDb() }), 'source.containerd.no-namespaces', /meta\.db: holds no namespace: .* Is this the root your containerd uses\?/);
  // A path that is not there.
  const r = await cli(['report', path.join(tmp, 'missing-dir')]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /missing-dir: cannot open: no such file or directory/);
});

test('a valid store with no image and no container: exit 0, said with an info problem', async () => {
  const cases: [string, Files, RegExp][] = [
    ['an overlay2 data root as an engine leaves it at start', classicRoot('overlay2', { 'overlay2/l': null }), /this data root's overlay2 store holds no images and no containers/],
    ['a data root on the containerd store that never stored an image', { ...docker20Containerd(), 'containerd/daemon/io.containerd.metadata.v1.bolt/meta.db': metaDb({ moby: { images: {} } }), containers: null }, /this data root's containerd image store holds no images and no containers/],
    ['a containerd root whose namespace holds nothing', { 'io.containerd.metadata.v1.bolt/meta.db': metaDb({ default: { images: {}, containers: {} } }) }, /this containerd root holds no images and no containers/],
    ['a containers/storage store as podman leaves it after `podman system reset`', { 'overlay-layers/layers.json': '[]', 'overlay-images/images.json': '[]', 'overlay-containers/containers.json': '[]', 'overlay/l': null }, /this containers\/storage store holds no images and no containers/],
  ];
  for (const [what, files, message] of cases) {
    const root = mk(files);
    const r = await report(root);
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    const rep = JSON.parse(r.stdout);
    assert.deepEqual([rep.images, rep.containers], [[], []], what);
    const empty = rep.problems.filter((p: any) => p.code === 'source.empty');
    assert.equal(empty.length, 1, `${what}: ${JSON.stringify(rep.problems)}`);
    assert.equal(empty[0].severity, 'info');
    assert.match(empty[0].message, message);
    const text = await cli(['report', root]);
    assert.match(text.stdout, /INFO\s+source\.empty/, `${what}: the text report says it too`);
  }
});

test('a Docker data root on every graph driver we do not read: recognised, exit 3 naming the driver', async () => {
  const unread = GRAPH_DRIVERS.filter((d) => !DOCKER_DRIVERS[d.name]);
  assert.deepEqual(unread.map((d) => d.name).sort(), ['devicemapper', 'windowsfilter', 'zfs'].sort());
  for (const { name: driver, layers } of unread) {
    // Where the driver keeps its layers: vfs/dir/<id>, aufs/diff/<id>, overlay/<id>...
    const at = layers ? `${driver}/${layers}/` : `${driver}/`;
    // As Docker 20.10 leaves it: the driver's store with one image, and containerd/daemon/ with runtime records.
    const root = mk(
      classicRoot(driver, {
        ...docker20Containerd(),
        [`image/${driver}/imagedb/content/sha256/${hex('1')}`]: '{}',
        [`image/${driver}/repositories.json`]: JSON.stringify({ Repositories: { app: { 'app:1': 'sha256:' + hex('1') } } }),
        [`${at}${hex('2')}/x`]: 'x',
        [`${at}not-a-layer`]: null,
      }),
    );
    await expectSourceError(root, 'source.driver-unsupported', new RegExp(`: is a Docker data root on the ${driver} graph driver \\(${driver}: 1 image config\\(s\\) in image/${driver}/imagedb/ and 1 layer dir\\(s\\) in ${at}\\), which layerscope cannot read: .*--storage-driver ${driver}\\)`));
    const r = await cli(['report', root]);
    assert.doesNotMatch(r.stderr + r.stdout, /containerd-root/);
    // The same driver's store, empty as an engine leaves it at start: still that driver, still exit 3.
    await expectSourceError(mk({ ...classicRoot(driver), ...docker20Containerd() }), 'source.driver-unsupported', new RegExp(`on the ${driver} graph driver`));
  }
});

test('a data root with an overlay2 store and a store we do not read: overlay2 is read, the other one named', async () => {
  const root = mk({ ...classicRoot('overlay2', { 'overlay2/l': null }), ...classicRoot('zfs', { [`image/zfs/imagedb/content/sha256/${hex('1')}`]: '{}', [`zfs/graph/${hex('3')}/y`]: 'y' }), ...docker20Containerd() });
  const r = await report(root);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.source.kind, 'docker-root');
  const w = rep.problems.find((p: any) => p.code === 'store.driver-unsupported');
  assert.ok(w, JSON.stringify(rep.problems));
  assert.equal(w.severity, 'warning');
  assert.equal(w.path, path.join(root, 'image/zfs'));
  assert.match(w.message, /a store on the zfs graph driver \(1 image config\(s\) in image\/zfs\/imagedb\/ and 1 layer dir\(s\) in zfs\/graph\/\), which is not read/);
});

test('a data root with an overlay2 store and a vfs store: overlay2 is read, the vfs store named as not read', async () => {
  const root = mk({ ...classicRoot('overlay2', { 'overlay2/l': null }), ...classicRoot('vfs', { [`image/vfs/imagedb/content/sha256/${hex('1')}`]: '{}', [`vfs/dir/${hex('3')}/y`]: 'y' }), ...docker20Containerd() });
  const r = await report(root);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  const w = rep.problems.find((p: any) => p.code === 'store.other-driver');
  assert.ok(w, JSON.stringify(rep.problems));
  assert.equal(w.path, path.join(root, 'image/vfs'));
  assert.match(w.message, /a store on the vfs graph driver \(1 image config\(s\) in image\/vfs\/imagedb\/ and 1 layer dir\(s\) in vfs\/dir\/\), which is not read: the overlay2 store is/);
});

test('recognition never follows a symlink below the root', async () => {
  const real = mk(classicRoot('overlay2', { 'overlay2/l': null }));
  // image -> a real data root's image/: not a store of this directory.
  const planted = mk({ 'notes.txt': 'x' });
  fs.symlinkSync(path.join(real, 'image'), path.join(planted, 'image'));
  await expectSourceError(planted, 'source.unrecognised', /neither a Docker data root/);
  const ctd = mk({ 'x.txt': 'x' });
  fs.mkdirSync(path.join(ctd, 'io.containerd.metadata.v1.bolt'));
  fs.symlinkSync(path.join(tmp, 'nowhere.db'), path.join(ctd, 'io.containerd.metadata.v1.bolt', 'meta.db'));
  await expectSourceError(ctd, 'source.unrecognised', /neither a Docker data root/);
});

test('damage below the namespace list does not stop recognition: the store is opened and the damage reported', async () => {
  // Pages: 3 root, 4 v1, 5 moby, 6 moby/images, 7 the image's bucket (the writer lays buckets out depth first).
  const db = metaDb({ moby: { images: { 'docker.io/library/app:1': { target: { digest: 'sha256:' + hex('d'), mediatype: 'application/vnd.oci.image.manifest.v1+json' } } } } });
  db.writeBigUInt64LE(99n, 6 * 4096); // page 6's header names another page: a damaged images bucket
  const root = mk({ 'containerd/daemon/io.containerd.metadata.v1.bolt/meta.db': db, containers: null, network: null });
  const inv = containerdInventory(path.join(root, 'containerd/daemon/io.containerd.metadata.v1.bolt/meta.db'));
  assert.deepEqual(inv.namespaces.map((n) => [n.name, n.images]), [['moby', null]], 'the damage is met: the images cannot be counted');
  assert.equal(planSource(root).open, 'containerd-store');
  const r = await report(root);
  assert.equal(r.code, 4, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.ok(rep.problems.some((p: any) => p.code === 'bolt.page.id' && p.path === path.join(root, 'containerd/daemon/io.containerd.metadata.v1.bolt/meta.db')), JSON.stringify(rep.problems));
});

test('a containers/storage store (podman, buildah, CRI-O) is recognised by its metadata files, whatever its name', async () => {
  // By content: <driver>-layers/layers.json or <driver>-images/images.json.
  assert.deepEqual(planSource(mk({ 'overlay-images/images.json': '[]' })), { open: 'containers-storage', driver: 'overlay' });
  assert.deepEqual(planSource(mk({ 'overlay-layers/layers.json': '[]', overlay: null })), { open: 'containers-storage', driver: 'overlay' });
  // A driver we do not read: recognised, exit 3 naming it.
  await expectSourceError(mk({ 'vfs-layers/layers.json': '[]', 'vfs-images/images.json': '[]', vfs: null }), 'source.driver-unsupported', /is a containers\/storage store \(podman, buildah, CRI-O\) on the vfs driver, which layerscope cannot read yet/);
  // A layers.json that is a symlink still makes one (opening says what is wrong), and is never followed.
  const outside = path.join(tmp, 'outside-layers.json');
  fs.writeFileSync(outside, '[]');
  const root = mk({ 'overlay-images/images.json': '[]' });
  fs.mkdirSync(path.join(root, 'overlay-layers'));
  fs.symlinkSync(outside, path.join(root, 'overlay-layers', 'layers.json'));
  const r = await report(root);
  assert.notEqual(r.code, 0);
  const doc = JSON.parse(r.stdout);
  assert.ok(doc.problems.some((p: any) => p.code === 'evidence.symlink' && p.path === path.join(root, 'overlay-layers', 'layers.json')), JSON.stringify(doc.problems));
});
