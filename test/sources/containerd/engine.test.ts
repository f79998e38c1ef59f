/**
 * The containerd source against a real engine: Docker 26 with the containerd image store (`docker26c` from
 * test/run.mjs). The engine is the oracle: its image list and RootFS.Layers (`docker image inspect`), the
 * snapshot keys containerd holds (`ctr snapshots ls`), the layer tars of `docker save`, its containers
 * (`docker ps`/`docker inspect`) and `docker diff`. Read-only behaviour and every corruption are checked on a
 * copy of the data root, never on the live engine's.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { getEngine, copyTree, hashTree, type Engine } from '../../support/engine.js';
import { IMAGES, IMAGES_FROM20 } from '../../support/fixtures-manifest.mjs';
import { openContainerdRoot, detectStores } from '../../../src/core/sources/containerd/index.js';
import { chainIds, sha256Digest } from '../../../src/core/analysis/chain.js';
import { dockerDiffOf } from '../../../src/core/analysis/docker-diff.js';
import { readLayerFromStream } from '../../../src/core/sources/tar/index.js';
import type { LayerChanges, LayerEntry } from '../../../src/core/model/types.js';
import type { Source } from '../../../src/core/model/source.js';
import { SourceError } from '../../../src/core/model/errors.js';
import { displayPath } from '../../../src/core/model/path.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-ctd-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const CTR = '/opt/layerscope/docker26/usr/bin/ctr';
const ctdRoot = (e: Engine) => path.join(e.dataRoot, 'containerd', 'daemon');

async function ctr(e: Engine, ns: string, args: string[], input?: Buffer): Promise<string> {
  const sock = path.join(e.execRoot ?? '', 'containerd', 'containerd.sock');
  const r = await execa(CTR, ['-a', sock, '-n', ns, ...args], { input, encoding: 'utf8' });
  return r.stdout;
}

async function inspect(e: Engine, what: 'image' | 'container', ids: string[]): Promise<any[]> {
  if (ids.length === 0) return [];
  return JSON.parse((await e.docker([what, 'inspect', ...ids])).stdout);
}

/** docker save of one image, unpacked: { config digest, layer blob paths }. */
async function save(e: Engine, ref: string): Promise<{ config: string; layers: string[] }> {
  const dir = fs.mkdtempSync(path.join(tmp, 'save-'));
  const tarFile = path.join(dir, 'image.tar');
  await e.docker(['save', '-o', tarFile, ref]);
  await execa('tar', ['-C', dir, '-xf', tarFile]);
  const [m] = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  return { config: 'sha256:' + path.basename(m.Config), layers: (m.Layers as string[]).map((l) => path.join(dir, l)) };
}

async function tarChanges(file: string): Promise<LayerChanges> {
  return (await readLayerFromStream(fs.createReadStream(file), file)).changes;
}

/** A comparable line per entry (all attributes but nanoseconds). */
function describe(e: LayerEntry): string {
  if (e.kind === 'whiteout') return `${displayPath(e.path)} whiteout`;
  const a = e.attrs;
  const parts = [displayPath(e.path), a.type, (a.mode & 0o7777).toString(8), `${a.uid}:${a.gid}`];
  if (a.type === 'file' || a.type === 'hardlink') parts.push(`size=${a.size}`);
  if (a.type !== 'dir') parts.push(`mtime=${a.mtime}`);
  if (a.linkname !== undefined) parts.push(`-> ${displayPath(a.linkname)}`);
  if (a.devMajor !== undefined) parts.push(`dev=${a.devMajor},${a.devMinor}`);
  if (e.opaque) parts.push('opaque');
  if (a.xattrs && Object.keys(a.xattrs).length) parts.push(`xattrs=${JSON.stringify(a.xattrs)}`);
  return parts.join(' ');
}

function diffLines(ours: string[], theirs: string[]): string {
  const a = new Set(ours);
  const b = new Set(theirs);
  const onlyOurs = ours.filter((l) => !b.has(l));
  const onlyTheirs = theirs.filter((l) => !a.has(l));
  return [...onlyOurs.map((l) => `+ ours   ${l}`), ...onlyTheirs.map((l) => `- engine ${l}`)].slice(0, 40).join('\n');
}

let opened: Source | null = null;
async function source(e: Engine): Promise<Source> {
  if (!opened) opened = await openContainerdRoot(e.dataRoot);
  return opened;
}
after(async () => {
  await opened?.close();
});

test('docker26c: detectStores says containerd, not classic', (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const d = detectStores(e.dataRoot);
  assert.equal(d.containerd, true, d.reasons.join('; '));
  assert.equal(d.classic, false, d.reasons.join('; '));
  assert.equal(d.engineWouldUse, 'containerd', d.reasons.join('; '));
  assert.ok(!fs.existsSync(path.join(e.dataRoot, 'image', 'overlay2')) && !fs.existsSync(path.join(e.dataRoot, 'overlay2')));
});

test('docker26c: image list, diffIDs and chainIDs are the engine\'s', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const src = await source(e);
  assert.equal(src.kind, 'containerd-root');
  const errors = src.problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], 'no error problems on a healthy engine');
  // Every image the engine lists (-a: dangling build steps too), by the ID it shows (the target digest).
  const listed = (await e.docker(['image', 'ls', '-a', '--no-trunc', '--format', '{{.ID}}'])).stdout.split('\n').filter(Boolean);
  const engineIds = [...new Set(listed)];
  const snapshotKeys = new Set((await ctr(e, 'moby', ['snapshots', '--snapshotter', 'overlayfs', 'ls'])).split('\n').slice(1).map((l) => l.split(/\s+/)[0]));
  const details = await inspect(e, 'image', engineIds);
  const seen = new Set<string>();
  for (const d of details) {
    const img = src.images.find((i) => i.digests.some((x) => x === d.Id || x.endsWith('@' + d.Id)));
    if (!img && Date.parse(d.Created) > Date.now() - 120_000) continue; // built meanwhile by another test file
    assert.ok(img, `engine image ${d.Id} (${(d.RepoTags ?? []).join(', ')}) is listed`);
    seen.add(img.id);
    assert.deepEqual(img.layers.map((l) => l.diffId), d.RootFS.Layers, `diffIDs of ${d.Id}`);
    assert.deepEqual(img.layers.map((l) => l.chainId), chainIds(d.RootFS.Layers));
    for (const tag of d.RepoTags ?? []) assert.ok(img.tags.includes(tag), `${img.id} has tag ${tag} (has ${img.tags.join(', ')})`);
    for (const l of img.layers) {
      assert.ok(snapshotKeys.has(l.chainId), `containerd has a snapshot keyed ${l.chainId}`);
      assert.ok(l.location && fs.statSync(l.location).isDirectory(), `layer ${l.index} of ${img.id} has its fs dir`);
      assert.match(l.cacheId ?? '', /^[0-9]+$/);
    }
    assert.equal(img.architecture, d.Architecture);
    assert.equal(img.os, d.Os);
  }
  // Every image we list is one the engine lists (images removed meanwhile by other test files aside).
  for (const img of src.images) if (!seen.has(img.id)) assert.ok((await e.docker(['image', 'inspect', img.id], { reject: false })).exitCode !== 0 || img.tags.length === 0, `engine knows ${img.id}`);
});

test('docker26c: image IDs are config digests (docker save agrees)', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const src = await source(e);
  for (const ref of [IMAGES.base, IMAGES.bloat]) {
    const saved = await save(e, ref);
    const img = src.images.find((i) => i.tags.includes(ref));
    assert.ok(img, ref);
    assert.equal(img.id, saved.config);
    const [d] = await inspect(e, 'image', [ref]);
    assert.ok(img.digests.includes(`${ref.split(':')[0]}@${d.Id}`), `digests keep the target digest ${d.Id}: ${img.digests.join(', ')}`);
  }
});

test('docker26c: each layer read from its snapshot matches the layer tar of docker save', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const src = await source(e);
  // Built here (layers committed from build containers), deep (many layers), and loaded from Docker 20.10's
  // legacy save (layers unpacked by containerd's applier instead).
  const refs = [IMAGES.base, IMAGES.bloat, IMAGES.deep, IMAGES_FROM20.bloat].filter((r) => src.images.some((i) => i.tags.includes(r)));
  assert.ok(refs.includes(IMAGES.bloat));
  t.diagnostic(`compared: ${refs.join(', ')}`);
  for (const ref of refs) {
    const img = src.images.find((i) => i.tags.includes(ref))!;
    const saved = await save(e, ref);
    assert.equal(saved.layers.length, img.layers.length);
    for (let i = 0; i < img.layers.length; i++) {
      const ours = await src.readLayer(img, i);
      const theirs = await tarChanges(saved.layers[i]!);
      assert.deepEqual(theirs.problems.filter((p) => p.severity === 'error'), []);
      assert.deepEqual(ours.problems.filter((p) => p.severity === 'error'), [], `${ref} L${i}`);
      const a = ours.entries.map(describe);
      const b = theirs.entries.map(describe);
      assert.deepEqual(a, b, `${ref} layer ${i} (snapshots/${img.layers[i]!.cacheId}) vs its tar:\n${diffLines(a, b)}`);
    }
  }
});

test('docker26c: containers and docker diff', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const src = await source(e);
  const ids = (await e.docker(['ps', '-a', '--no-trunc', '--format', '{{.ID}}'])).stdout.split('\n').filter(Boolean);
  assert.ok(ids.length > 0, 'the engine has containers');
  for (const d of await inspect(e, 'container', ids)) {
    const c = src.containers.find((x) => x.id === d.Id);
    if (!c) {
      // Created after we opened the source (another test file): not an error of ours.
      assert.ok(Date.parse(d.Created) > Date.now() - 60_000, `container ${d.Name} is listed`);
      continue;
    }
    assert.equal(c.name, d.Name.replace(/^\//, ''));
    assert.equal(c.driver, 'overlayfs');
    assert.equal(c.imageRef, d.Config.Image);
    const img = src.images.find((i) => i.id === c.image);
    assert.ok(img, `container ${c.name}: image ${c.image} resolved`);
    assert.ok(img.digests.some((x) => x === d.Image || x.endsWith('@' + d.Image)), `${c.name}: image ${img.id} holds the engine's ${d.Image}`);
    assert.equal(c.parentChainId, img.layers.at(-1)!.chainId);
    if (!d.State.Running && d.State.Status === 'created') assert.equal(c.state, 'created');
    else if (d.State.Running) assert.equal(c.state, d.State.Paused ? 'paused' : 'running');
    else assert.equal(c.state, d.State.Status === 'dead' ? 'dead' : 'exited');
    assert.equal(c.created, d.Created);
    assert.match(c.mountId ?? '', /^[0-9]+$/);
    assert.match(c.initId ?? '', /^[0-9]+$/);
    assert.ok(c.rwDir && c.initDir);
    // docker diff, offline: RW changes over the image layers and the init layer.
    const lowers = [];
    for (let i = 0; i < img.layers.length; i++) lowers.push(await src.readLayer(img, i));
    lowers.push(await src.readContainerLayer(c, 'init'));
    const rw = await src.readContainerLayer(c, 'rw');
    const ours = dockerDiffOf(rw, lowers).map((x) => `${x.kind} ${displayPath(x.path)}`).sort();
    const theirs = (await e.docker(['diff', c.id])).stdoutBuffer.toString('latin1').split('\n').filter(Boolean).map((l) => `${l[0]} ${displayPath(l.slice(2))}`).sort();
    assert.deepEqual(ours, theirs, `docker diff ${c.name}:\n${diffLines(ours, theirs)}`);
  }
});

// ---------------------------------------------------------------------------------------------------------
// On a copy of the data root: nothing written, every inconsistency a problem
// ---------------------------------------------------------------------------------------------------------

let copied: string | null = null;
async function copy(e: Engine): Promise<string> {
  // The live engine may remove a snapshot while we copy (another test file's rmi, containerd's GC): retry.
  for (let attempt = 1; !copied; attempt++) {
    const dst = path.join(tmp, `root-${attempt}`);
    try {
      await copyTree(e.dataRoot, dst);
      copied = dst;
    } catch (err) {
      if (attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  return copied;
}

async function readEverything(src: Source): Promise<void> {
  for (const img of src.images) for (let i = 0; i < img.layers.length; i++) await src.readLayer(img, i);
  for (const c of src.containers) {
    await src.readContainerLayer(c, 'rw');
    await src.readContainerLayer(c, 'init');
  }
}

test('docker26c copy: opening and reading everything writes nothing', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const root = await copy(e);
  const before = await hashTree(root, { strict: true });
  const src = await openContainerdRoot(root);
  assert.ok(src.images.length > 0);
  await readEverything(src);
  await src.close();
  detectStores(root);
  assert.equal(await hashTree(root, { strict: true }), before);
});

/** Run fn on a fresh copy of the containerd dirs that matter, damaged by `damage`. */
async function damaged(e: Engine, name: string, damage: (root: string) => void): Promise<string> {
  const base = await copy(e);
  const root = path.join(tmp, `damaged-${name}`);
  await execa('cp', ['-a', base, root]);
  damage(root);
  return root;
}

test('docker26c copy: damaged stores give problems naming the file, never a crash', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const base = await openContainerdRoot(await copy(e));
  const bloat = base.images.find((i) => i.tags.includes(IMAGES.bloat))!;
  const cfgHex = bloat.id.slice(7);
  await base.close();
  const C = (root: string) => path.join(root, 'containerd', 'daemon');

  // meta.db truncated below its meta page: the source cannot be opened at all; the error names the file.
  let root = await damaged(e, 'meta-trunc', (r) => fs.truncateSync(path.join(C(r), 'io.containerd.metadata.v1.bolt', 'meta.db'), 60));
  await assert.rejects(openContainerdRoot(root), (err: unknown) => err instanceof SourceError && err.message.includes('meta.db'));
  // Truncated after its meta pages: opened, with problems naming the file, and what cannot be read is missing.
  root = await damaged(e, 'meta-trunc2', (r) => fs.truncateSync(path.join(C(r), 'io.containerd.metadata.v1.bolt', 'meta.db'), 3 * 4096));
  let src = await openContainerdRoot(root);
  assert.ok(src.problems.some((p) => p.code === 'bolt.truncated' && p.path?.endsWith('meta.db')), JSON.stringify(src.problems));
  await src.close();

  // metadata.db garbage: images listed, a problem naming the file, layers read from their blobs instead.
  root = await damaged(e, 'snapdb', (r) => fs.writeFileSync(path.join(C(r), 'io.containerd.snapshotter.v1.overlayfs', 'metadata.db'), Buffer.alloc(8192, 7)));
  src = await openContainerdRoot(root);
  assert.ok(src.problems.some((p) => p.code === 'bolt.meta.invalid' && p.path?.endsWith('metadata.db')), JSON.stringify(src.problems));
  assert.ok(src.images.length > 0 && src.images.every((i) => i.layers.every((l) => l.cacheId === null && /\/blobs\/sha256\/[0-9a-f]{64}$/.test(l.location ?? ''))));
  const ch = await src.readLayer(src.images[0]!, 0);
  assert.deepEqual(ch.problems.filter((p) => p.severity === 'error'), []);
  assert.ok(ch.entries.length > 0);
  await src.close();
  // ... and with the blob gone too, the layer is missing, said so.
  root = await damaged(e, 'snapdb-blob', (r) => {
    fs.writeFileSync(path.join(C(r), 'io.containerd.snapshotter.v1.overlayfs', 'metadata.db'), Buffer.alloc(8192, 7));
    const blobs = path.join(C(r), 'io.containerd.content.v1.content', 'blobs', 'sha256');
    // Every blob that is not JSON (manifests, configs) is a layer (gzip, or a plain tar from docker load).
    for (const f of fs.readdirSync(blobs)) {
      try {
        JSON.parse(fs.readFileSync(path.join(blobs, f), 'utf8'));
      } catch {
        fs.rmSync(path.join(blobs, f));
      }
    }
  });
  src = await openContainerdRoot(root);
  assert.ok(src.images.length > 0 && src.images.every((i) => i.layers.every((l) => l.location === null)));
  assert.ok((await src.readLayer(src.images[0]!, 0)).problems.some((p) => p.code === 'layer.missing'));
  await src.close();

  // A layer's snapshot dir removed, another image's config blob removed, a container config broken.
  const base1 = (await openContainerdRoot(await copy(e))) as Source;
  const baseImg = base1.images.find((i) => i.tags.includes(IMAGES.base))!;
  const l1 = bloat.layers[1]!;
  const l1Before = (await base1.readLayer(base1.images.find((i) => i.id === bloat.id)!, 1)).entries.map(describe);
  await base1.close();
  root = await damaged(e, 'files', (r) => {
    fs.rmSync(path.join(C(r), 'io.containerd.snapshotter.v1.overlayfs', 'snapshots', l1.cacheId!), { recursive: true });
    fs.rmSync(path.join(C(r), 'io.containerd.content.v1.content', 'blobs', 'sha256', baseImg.id.slice(7)));
    const cdir = path.join(r, 'containers');
    const first = fs.readdirSync(cdir).sort()[0]!;
    fs.writeFileSync(path.join(cdir, first, 'config.v2.json'), '{"ID": "broken');
  });
  src = await openContainerdRoot(root);
  const codes = src.problems.map((p) => p.code);
  assert.ok(codes.includes('containerd.blob.missing'), codes.join(' '));
  assert.ok(codes.includes('containers.config.invalid-json'), codes.join(' '));
  assert.ok(codes.includes('containerd.snapshot.dir-missing'), codes.join(' '));
  assert.ok(!src.images.some((i) => i.id === baseImg.id), 'an image without its config is not listed');
  // The layer whose snapshot dir is gone is read from its content blob instead, with the same entries.
  const b2 = src.images.find((i) => i.id === bloat.id)!;
  assert.match(b2.layers[1]!.location ?? '', /io\.containerd\.content\.v1\.content\/blobs\/sha256\/[0-9a-f]{64}$/);
  assert.ok(codes.includes('containerd.layer.from-blob'));
  const fromBlob = await src.readLayer(b2, 1);
  assert.deepEqual(fromBlob.problems.filter((p) => p.severity === 'error'), []);
  assert.deepEqual(fromBlob.entries.map(describe), l1Before);
  for (const p of src.problems) assert.ok(p.path === null || p.path.startsWith(root), `problem path ${p.path} is inside the copy`);
  await src.close();

  // A symlink planted for a blob is refused, not followed.
  root = await damaged(e, 'symlink', (r) => {
    const blob = path.join(C(r), 'io.containerd.content.v1.content', 'blobs', 'sha256', cfgHex);
    fs.rmSync(blob);
    fs.symlinkSync('/etc/passwd', blob);
  });
  src = await openContainerdRoot(root);
  assert.ok(src.problems.some((p) => p.code === 'evidence.symlink'), src.problems.map((p) => p.code).join(' '));
  await src.close();

  // Not a containerd store at all.
  await assert.rejects(openContainerdRoot(tmp), (err: unknown) => err instanceof SourceError && err.code === 'source.no-containerd-store');
});

// ---------------------------------------------------------------------------------------------------------
// A containerd root with another namespace (the /var/lib/containerd layout of a Kubernetes node)
// ---------------------------------------------------------------------------------------------------------

test('docker26c containerd root: namespace k8s.io, a multi-platform index with absent platforms', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const ns = `ls-test-${process.pid}`;
  const ns2 = `ls-test-packed-${process.pid}`;
  // An OCI layout whose index names an index: linux/amd64 (present), linux/arm64 (absent), an attestation.
  const saveDir = fs.mkdtempSync(path.join(tmp, 'multi-'));
  await e.docker(['save', '-o', path.join(saveDir, 'in.tar'), IMAGES.base]);
  await execa('tar', ['-C', saveDir, '-xf', path.join(saveDir, 'in.tar')]);
  fs.rmSync(path.join(saveDir, 'in.tar'));
  fs.rmSync(path.join(saveDir, 'manifest.json'), { force: true });
  const outer = JSON.parse(fs.readFileSync(path.join(saveDir, 'index.json'), 'utf8'));
  const amd = outer.manifests[0];
  const fake = (s: string) => sha256Digest(Buffer.from(s));
  const multi = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: amd.mediaType, digest: fake('arm64'), size: 100, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: amd.mediaType, digest: amd.digest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: amd.mediaType, digest: fake('att'), size: 100, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd.digest } },
    ],
  };
  const multiBytes = Buffer.from(JSON.stringify(multi));
  const multiDigest = sha256Digest(multiBytes);
  fs.writeFileSync(path.join(saveDir, 'blobs', 'sha256', multiDigest.slice(7)), multiBytes);
  fs.writeFileSync(
    path.join(saveDir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: multi.mediaType, digest: multiDigest, size: multiBytes.length, annotations: { 'io.containerd.image.name': 'example.com/multi:1', 'org.opencontainers.image.ref.name': '1' } }],
    }),
  );
  const tarFile = path.join(tmp, 'multi.tar');
  await execa('tar', ['-C', saveDir, '-cf', tarFile, '.']);
  try {
    await ctr(e, ns, ['images', 'import', '--platform', 'linux/amd64', '--snapshotter', 'overlayfs', tarFile]);
    const listed = await ctr(e, ns, ['images', 'ls', '-q']);
    assert.ok(listed.split('\n').includes('example.com/multi:1'), listed);

    // A containerd container (no task: containerd keeps no state on disk) with its active snapshot.
    await ctr(e, ns, ['containers', 'create', '--snapshotter', 'overlayfs', '--label', 'io.kubernetes.pod.name=pod1', '--label', 'io.kubernetes.pod.namespace=default', '--label', 'io.kubernetes.container.name=app', 'example.com/multi:1', 'lsc1']);

    const src = await openContainerdRoot(ctdRoot(e), { namespace: ns });
    assert.equal(src.images.length, 1, JSON.stringify(src.problems));
    assert.equal(src.containers.length, 1);
    const c = src.containers[0]!;
    assert.equal(c.id, 'lsc1');
    assert.equal(c.name, 'default/pod1/app');
    assert.equal(c.imageRef, 'example.com/multi:1');
    assert.equal(c.image, src.images[0]!.id);
    assert.equal(c.state, 'created');
    assert.equal(c.parentChainId, src.images[0]!.layers.at(-1)!.chainId);
    assert.ok(c.rwDir && fs.statSync(c.rwDir).isDirectory() && c.initDir === null);
    assert.match(c.created ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.ok(Math.abs(Date.parse(c.created!) - Date.now()) < 600_000, c.created!);
    assert.ok(c.mounts.some((m) => m.destination === '/proc' && m.type === 'proc'), JSON.stringify(c.mounts));
    // What the "container" writes lands in its snapshot (fixture preparation, on the engine's test data).
    fs.writeFileSync(path.join(c.rwDir!, 'evil.sh'), 'echo owned\n');
    const rw = await src.readContainerLayer(c, 'rw');
    assert.deepEqual(rw.entries.map((x) => x.path), ['evil.sh']);
    const init = await src.readContainerLayer(c, 'init');
    assert.ok(init.entries.length === 0 && init.problems.some((p) => p.code === 'layer.missing'), 'containerd containers have no init layer');
    const img = src.images[0]!;
    assert.deepEqual(img.tags, ['example.com/multi:1']);
    assert.ok(img.digests.includes(`example.com/multi@${multiDigest}`));
    assert.ok(img.digests.includes(`example.com/multi@${amd.digest}`));
    assert.equal(img.architecture, 'amd64');
    assert.deepEqual(src.problems.filter((p) => p.severity !== 'info'), [], 'absent arm64 / attestation blobs are normal');
    const [d] = await inspect(e, 'image', [IMAGES.base]);
    assert.deepEqual(img.layers.map((l) => l.diffId), d.RootFS.Layers);
    const saved = await save(e, IMAGES.base);
    const ours = (await src.readLayer(img, 0)).entries.map(describe);
    const theirs = (await tarChanges(saved.layers[0]!)).entries.map(describe);
    assert.deepEqual(ours, theirs, diffLines(ours, theirs));
    await src.close();

    // Imported without unpacking: no snapshots at all, the layers are read from their blobs.
    await ctr(e, ns2, ['images', 'import', '--no-unpack', '--platform', 'linux/amd64', tarFile]);
    const packed = await openContainerdRoot(ctdRoot(e), { namespace: ns2 });
    assert.equal(packed.images.length, 1, JSON.stringify(packed.problems));
    const pimg = packed.images[0]!;
    assert.ok(pimg.layers.every((l) => l.cacheId === null && /\/blobs\/sha256\//.test(l.location ?? '')));
    assert.ok(packed.problems.every((p) => p.severity === 'info'), JSON.stringify(packed.problems));
    const fromBlob = await packed.readLayer(pimg, 0);
    assert.deepEqual(fromBlob.problems.filter((p) => p.severity !== 'info'), []);
    assert.deepEqual(fromBlob.entries.map(describe), theirs);
    await packed.close();

    // Asking for the absent platform: a warning, no image, no crash.
    const arm = await openContainerdRoot(ctdRoot(e), { namespace: ns, platform: 'linux/arm64' });
    assert.equal(arm.images.length, 0);
    assert.ok(arm.problems.some((p) => p.code === 'containerd.index.no-platform'));
    await arm.close();

    // No namespace filter on a containerd root: every namespace, references prefixed with theirs.
    const all = await openContainerdRoot(ctdRoot(e));
    assert.ok(all.images.some((i) => i.tags.includes(`${ns}:example.com/multi:1`)));
    assert.ok(all.images.some((i) => i.tags.includes(`${ns2}:example.com/multi:1`)));
    assert.ok(all.images.some((i) => i.tags.includes(`moby:${IMAGES.bloat}`)));
    await all.close();
  } finally {
    await ctr(e, ns, ['containers', 'rm', 'lsc1']).catch(() => undefined);
    await ctr(e, ns, ['images', 'rm', '--sync', 'example.com/multi:1']).catch(() => undefined);
    await ctr(e, ns2, ['images', 'rm', '--sync', 'example.com/multi:1']).catch(() => undefined);
    await ctr(e, 'default', ['namespaces', 'rm', ns]).catch(() => undefined);
    await ctr(e, 'default', ['namespaces', 'rm', ns2]).catch(() => undefined);
  }
});

// ---------------------------------------------------------------------------------------------------------
// What the engine does that formats.md does not say
// ---------------------------------------------------------------------------------------------------------

test('docker26c: a classic-builder layer sits on the build container\'s -init snapshot (reported, not hidden)', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const tag = `ls-ctd-probe-${process.pid}:1`;
  await e.docker(['build', '--network=none', '-q', '-t', tag, '-'], { input: `FROM ${IMAGES.base}\nRUN echo probe > /probe-${process.pid}\n` });
  try {
    const src = await openContainerdRoot(e.dataRoot);
    const img = src.images.find((i) => i.tags.includes(tag))!;
    assert.ok(img, tag);
    const top = img.layers.at(-1)!;
    // The engine's own view of the snapshot's parent.
    const rows = (await ctr(e, 'moby', ['snapshots', '--snapshotter', 'overlayfs', 'ls'])).split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    const parent = rows.find((r) => r[0] === top.chainId)?.[1];
    t.diagnostic(`parent of ${top.chainId}: ${parent}`);
    if (parent === img.layers.at(-2)!.chainId) {
      assert.ok(!src.problems.some((p) => p.code === 'containerd.snapshot.hidden-parent' && p.message.includes(top.chainId)));
    } else {
      assert.match(parent ?? '', /^[0-9a-f]{64}-init$/);
      const p = src.problems.find((x) => x.code === 'containerd.snapshot.hidden-parent' && x.message.includes(top.chainId));
      assert.ok(p && p.severity === 'info' && p.message.includes(parent!), JSON.stringify(src.problems));
    }
    // Either way the layer reads as exactly its own change.
    assert.deepEqual((await src.readLayer(img, img.layers.length - 1)).entries.map((x) => x.path), [`probe-${process.pid}`]);
    await src.close();
  } finally {
    await e.docker(['rmi', tag], { reject: false });
  }
});

for (const which of ['docker20', 'docker26'] as const) {
  test(`${which}: detectStores says classic (containerd/daemon/ alone is no sign of the containerd store)`, (t) => {
    const e = getEngine(t, which);
    if (!e) return;
    const d = detectStores(e.dataRoot);
    assert.equal(d.classic, true, d.reasons.join('; '));
    assert.equal(d.containerd, false, d.reasons.join('; '));
    assert.equal(d.engineWouldUse, 'classic', d.reasons.join('; '));
  });
}

// ---------------------------------------------------------------------------------------------------------
// BuildKit (the default builder of Docker 29, where the containerd store is the default too)
// ---------------------------------------------------------------------------------------------------------

/** The buildx CLI plugin: LAYERSCOPE_BUILDX, or where Debian's docker-buildx puts it (unpacked or installed). */
function findBuildx(): string | null {
  const candidates = [process.env.LAYERSCOPE_BUILDX, '/opt/layerscope/docker26/usr/libexec/docker/cli-plugins/docker-buildx', '/usr/libexec/docker/cli-plugins/docker-buildx'];
  return candidates.find((c): c is string => !!c && fs.existsSync(c)) ?? null;
}

test('docker26c: a BuildKit-built image (index with an attestation manifest) reads like its docker save', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const buildx = findBuildx();
  if (!buildx) {
    if (process.env.LAYERSCOPE_REQUIRE_ENGINE === '1') throw new Error('LAYERSCOPE_REQUIRE_ENGINE=1 and no docker-buildx plugin: test/setup.sh unpacks it from Debian trixie');
    process.stderr.write(`SKIPPED (no buildx): ${t.name}: set LAYERSCOPE_BUILDX to a docker-buildx plugin (Debian trixie docker-buildx, unpacked)\n`);
    t.skip('SKIPPED (no buildx): set LAYERSCOPE_BUILDX to a docker-buildx CLI plugin');
    return;
  }
  const cfg = fs.mkdtempSync(path.join(tmp, 'buildx-'));
  fs.mkdirSync(path.join(cfg, 'cli-plugins'));
  fs.symlinkSync(buildx, path.join(cfg, 'cli-plugins', 'docker-buildx'));
  const tag = `ls-ctd-bk-${process.pid}:1`;
  const dockerfile = `FROM ${IMAGES.base}\nRUN echo bk > /bk-${process.pid} && rm -f /etc/hostname\nRUN mkdir -p /q && echo 2 > /q/two\n`;
  await execa(e.client ?? 'docker', ['buildx', 'build', '--network=none', '--provenance=mode=min', '-t', tag, '-'], { env: { ...e.env, DOCKER_CONFIG: cfg }, input: dockerfile });
  try {
    const src = await openContainerdRoot(e.dataRoot);
    const img = src.images.find((i) => i.tags.includes(tag));
    assert.ok(img, `${tag} listed; problems: ${JSON.stringify(src.problems.filter((p) => p.severity !== 'info'))}`);
    const [d] = await inspect(e, 'image', [tag]);
    assert.deepEqual(img.layers.map((l) => l.diffId), d.RootFS.Layers);
    assert.ok(img.digests.includes(`${tag.split(':')[0]}@${d.Id}`));
    // BuildKit's target is an index (the image + an attestation manifest): both digests are kept.
    assert.equal(img.digests.length, 2, img.digests.join(', '));
    const saved = await save(e, tag);
    assert.equal(img.id, saved.config);
    for (let i = 0; i < img.layers.length; i++) {
      const ours = (await src.readLayer(img, i)).entries.map(describe);
      const theirs = (await tarChanges(saved.layers[i]!)).entries.map(describe);
      assert.deepEqual(ours, theirs, `${tag} layer ${i}:\n${diffLines(ours, theirs)}`);
    }
    assert.deepEqual(src.problems.filter((p) => p.severity !== 'info' && p.message.includes(tag.split(':')[0]!)), []);
    await src.close();
  } finally {
    await e.docker(['rmi', tag], { reject: false });
  }
});

test('docker26c: a live root read while the engine creates and removes containers: the settled containers are always whole', { timeout: 180_000 }, async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const settled = ['ls-stopped', 'ls-running', 'ls-created'];
  // Churn in the background: every create, export and remove commits to meta.db and metadata.db.
  let churning = true;
  const churn = (async () => {
    for (let i = 0; churning && i < 40; i++) {
      const name = `ls-churn-${process.pid}-${i}`;
      await e.docker(['create', '--network', 'none', '--name', name, IMAGES.bloat, 'true']);
      await e.docker(['export', name], { timeout: 60_000 });
      await e.docker(['cp', `${name}:/data/f`, '-'], { timeout: 60_000 });
      await e.docker(['rm', name]);
    }
  })();
  let reads = 0;
  const broken: string[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < 25_000) {
    const s = await openContainerdRoot(e.dataRoot);
    reads++;
    for (const name of settled) {
      const c = s.containers.find((x) => x.name === name);
      // Page-by-page reads of a database being committed once mixed transactions and lost whole buckets.
      if (!c?.rwDir || !c.initDir) broken.push(`read ${reads}: ${name} ${c ? 'without its snapshots' : 'missing'}`);
    }
    await s.close();
  }
  churning = false;
  await churn;
  assert.ok(reads > 10, `only ${reads} reads`);
  assert.deepEqual(broken.slice(0, 5), []);
});
