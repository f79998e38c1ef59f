/**
 * The mount check on a real engine's data root (test/run.mjs starts the engine and builds the fixtures).
 *
 * Everything runs on a COPY of the data root (copyTree), whose manifest (strict: ctime and inode numbers too)
 * must be the same before and after: mounting and walking write nothing into the evidence.
 * 1. Every layer's top-of-stack of ls-bloat:1 (whiteouts, opaque dir, hardlinks, symlinks, awkward names) and of
 *    ls-deep:1 (81 layers: option data longer than a page, so the short l/<link> form from overlay2/), and each
 *    container (RW + init + image): the kernel's view agrees with ours, entry for entry.
 * 2. --hash: every file's bytes through the mount equal the bytes of the layer that holds it.
 * 3. An archive-like source (no diff dirs): layers are laid out in overlay form in our temp dir and mounted.
 * 4. A planted l/<link> (pointing at another layer's diff) is refused: only the stacks that need the short form fail,
 *    naming the link.
 * After each test: no mount of ours is left, and no workspace dir.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { copyTree, diffManifests, getEngine, hashTree, treeManifest } from '../../support/engine.js';
import { IMAGES, CONTAINERS, DEEP } from '../../support/fixtures-manifest.mjs';
import { openSource } from '../../../src/core/sources/open.js';
import { findImage, findContainer } from '../../../src/core/analysis/select.js';
import { checkStacks, imageStacks, containerStack } from '../../../src/core/verify/mount/index.js';
import { readMountInfo } from '../../../src/core/verify/mount/mountinfo.js';
import { verifySource } from '../../../src/core/verify/index.js';
import { verifyText } from '../../../src/report/verify.js';
import type { Source } from '../../../src/core/model/source.js';
import { execa } from 'execa';

let work: string | null = null;
let root = '';
/** Our own temp dir for workspaces, and no sweeping outside it (tests of other files may run in parallel). */
let tmpDir = '';
let manifestBefore: string[] = [];
let hashBefore = '';

function noMountsLeft(): void {
  const ours = readMountInfo().filter((e) => e.mountPoint.includes(`/layerscope-mnt-${process.pid}-`));
  assert.deepEqual(ours.map((e) => e.mountPoint), [], 'mounts left behind');
  const dirs = [...fs.readdirSync(os.tmpdir()), ...fs.readdirSync(tmpDir)].filter((n) => n.startsWith(`layerscope-mnt-${process.pid}-`));
  assert.deepEqual(dirs, [], 'workspace dirs left behind');
}

before(async () => {
  if (process.getuid?.() !== 0 || !process.env.LAYERSCOPE_TEST_ENGINES) return;
  const info = JSON.parse(process.env.LAYERSCOPE_TEST_ENGINES).docker20;
  if (!info) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-mount-engine-'));
  root = path.join(work, 'root');
  tmpDir = path.join(work, 'tmp');
  fs.mkdirSync(tmpDir);
  await copyTree(info.dataRoot, root);
  manifestBefore = await treeManifest(root, { strict: true });
  hashBefore = await hashTree(root, { strict: true });
});

after(async () => {
  if (!work) return;
  const manifestAfter = await treeManifest(root, { strict: true });
  const hashAfter = await hashTree(root, { strict: true });
  fs.rmSync(work, { recursive: true, force: true });
  assert.equal(diffManifests(manifestBefore, manifestAfter), '', 'the evidence copy changed');
  assert.equal(hashAfter, hashBefore);
});

async function withSource<T>(fn: (s: Source) => Promise<T>, at = root): Promise<T> {
  const s = await openSource(at);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

test('kernel view agrees for every layer of ls-bloat:1 and ls-deep:1 (deeper than a page) and for every container', async (t) => {
  if (!getEngine(t) || !work) return;
  await withSource(async (src) => {
    const bloat = findImage(src, IMAGES.bloat);
    const deep = findImage(src, IMAGES.deep);
    assert.equal(deep.layers.length, DEEP.layers);
    const specs = [...imageStacks(bloat, true), ...imageStacks(deep, true), ...Object.values(CONTAINERS).map((n) => containerStack(src, findContainer(src, n)))];
    const r = await checkStacks(src, specs, { tmpDir, sweepAnywhere: false });
    assert.equal(r.mode, 'root');
    assert.equal(r.skipped, null);
    const bad = r.stacks.filter((s) => s.status !== 'agree').map((s) => `${s.label}: ${s.status} ${s.message ?? ''} ${JSON.stringify(s.differences.slice(0, 3))}`);
    assert.deepEqual(bad, []);
    assert.equal(r.stacks.length, bloat.layers.length + DEEP.layers + 3);
    for (const s of r.stacks) {
      assert.equal(s.entries.kernel, s.entries.ours, s.label);
      // Also compared with the image as built (tar-split; init/RW layers of containers from disk): agrees.
      assert.deepEqual(s.asBuilt?.differences, [], s.label);
      assert.equal(s.asBuilt?.entries, s.entries.kernel, s.label);
    }
    assert.deepEqual(r.stacks.find((s) => s.kind === 'container')!.asBuilt!.fromDisk, ['init layer', 'rw layer']);
    // The deep image's top: 81 lowers, only mountable with the short form run from overlay2/.
    const top = r.stacks.find((s) => s.label === `${IMAGES.deep} layer ${DEEP.layers - 1}`)!;
    assert.equal(top.lowerCount, DEEP.layers);
    assert.equal(top.form, 'short');
    assert.equal(r.stacks.find((s) => s.label === `${IMAGES.deep} layer 10`)!.form, 'absolute');
    // A one-layer stack (the base) mounts too (with our empty filler lower).
    assert.equal(r.stacks.find((s) => s.label === `${IMAGES.bloat} layer 0`)!.status, 'agree');
    // Containers: RW + init + image layers.
    const running = r.stacks.find((s) => s.label === `container ${CONTAINERS.running}`)!;
    assert.equal(running.lowerCount, bloat.layers.length + 2);
    // The opaque dir and the whiteouts really were honoured: our view (and the kernel's) hides them.
    const bloatTop = r.stacks.find((s) => s.label === `${IMAGES.bloat} layer ${bloat.layers.length - 1}`)!;
    assert.ok(bloatTop.entries.kernel > 50);
  });
  noMountsLeft();
});

test('--hash: every file read through the mount has the bytes of the layer that holds it, and the CRC-64 tar-split recorded', async (t) => {
  if (!getEngine(t) || !work) return;
  await withSource(async (src) => {
    const bloat = findImage(src, IMAGES.bloat);
    const r = await checkStacks(src, [...imageStacks(bloat, false), containerStack(src, findContainer(src, CONTAINERS.running))], { hash: true, tmpDir, sweepAnywhere: false });
    assert.deepEqual(r.stacks.map((s) => [s.label, s.status, s.differences.length]), [
      [`${IMAGES.bloat} layer ${bloat.layers.length - 1}`, 'agree', 0],
      [`container ${CONTAINERS.running}`, 'agree', 0],
    ]);
  });
  noMountsLeft();
});

test('archive sources: layers laid out in overlay form (char 0:0 whiteouts, opaque xattr) in our temp dir, then mounted', async (t) => {
  if (!getEngine(t) || !work) return;
  await withSource(async (real) => {
    // An archive-like source: same images and changesets, but no diff dirs to mount.
    const images = real.images.map((i) => ({ ...i, layers: i.layers.map((l) => ({ ...l, cacheId: null, location: `blobs/sha256/${l.diffId.slice(7)}` })) }));
    const byId = new Map(images.map((i, n) => [i.id, real.images[n]!]));
    const archive: Source = {
      kind: 'docker-archive',
      location: 'fake-archive.tar',
      images,
      containers: [],
      problems: [],
      paths: real.paths,
      readLayer: (img, i) => real.readLayer(byId.get(img.id)!, i),
      readContainerLayer: () => Promise.reject(new Error('no containers in archives')),
      close: async () => {},
    };
    const bloat = findImage(archive, IMAGES.bloat);
    const deep = findImage(archive, IMAGES.deep);
    const r = await checkStacks(archive, [...imageStacks(bloat, true), ...imageStacks(deep, false)], { tmpDir, sweepAnywhere: false });
    const bad = r.stacks.filter((s) => s.status !== 'agree').map((s) => `${s.label}: ${s.status} ${s.message ?? ''} ${JSON.stringify(s.differences.slice(0, 3))}`);
    assert.deepEqual(bad, []);
    assert.equal(r.stacks.length, bloat.layers.length + 1);
    assert.ok(r.stacks.some((s) => s.notes.some((n) => /sparse/.test(n))), 'says that files were laid out sparse');
    assert.equal(r.stacks[r.stacks.length - 1]!.lowerCount, DEEP.layers);
  });
  noMountsLeft();
});

test('not root: an image archive is laid out and mounted inside an unprivileged user namespace, and agrees', async (t) => {
  const e = getEngine(t);
  if (!e || !work) return;
  // A world-readable dir for the archive; the verifier runs as nobody (setpriv), so the real mount is impossible.
  const dir = path.join(work, 'userns');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(work, 0o755);
  const tar = path.join(dir, 'bloat.tar');
  await e.docker(['save', '-o', tar, IMAGES.bloat]);
  fs.chmodSync(tar, 0o644);
  const entry = path.join(path.dirname(new URL(import.meta.url).pathname), 'cli-entry.ts');
  const r = await execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '--import', 'tsx', entry, 'verify', tar, '--image', IMAGES.bloat, '--format', 'json'], {
    cwd: path.resolve(path.dirname(entry), '../../..'),
    reject: false,
    env: { HOME: '/tmp', TMPDIR: '/tmp' },
  });
  if (r.exitCode !== 0 && /user namespaces are not available/.test(r.stdout)) {
    t.skip('unprivileged user namespaces are disabled on this kernel');
    return;
  }
  assert.equal(r.exitCode, 0, r.stderr + r.stdout.slice(0, 2000));
  const j = JSON.parse(r.stdout);
  assert.equal(j.mount.mode, 'userns');
  assert.match(j.mount.notes.join('\n'), /not root: mounting inside an unprivileged user namespace/);
  // Archives are hashed too (layer blobs against their DiffIDs): an untouched save verifies.
  assert.equal(j.integrity.ran, true);
  assert.equal(j.integrity.skipped, null);
  assert.ok(j.layers.length > 0 && j.layers.every((l: any) => l.integrity.status === 'ok'), JSON.stringify(j.layers.map((l: any) => l.integrity)));
  const bloat = j.stacks.filter((s: any) => s.kind === 'image');
  assert.ok(bloat.length >= 12);
  for (const s of bloat) {
    assert.equal(s.status, 'agree', `${s.label}: ${s.message} ${JSON.stringify(s.notes)}`);
    assert.equal(s.mode, 'userns');
  }
  // What could not be checked there is said: device nodes need CAP_MKNOD, owners are not comparable.
  const notes = bloat.flatMap((s: any) => s.notes).join('\n');
  assert.match(notes, /char special\/null-like: mknod failed/);
  assert.match(notes, /owners and device numbers were not compared/);
  assert.match(notes, /created sparse/);
  // The user-namespace mount died with its namespace; nothing is left in the host's mount table or in /tmp.
  assert.deepEqual(readMountInfo().filter((m) => m.mountPoint.includes('/layerscope-mnt-')).map((m) => m.mountPoint), []);
});

test('a planted l/<link> is refused: stacks that need the short form fail and name the link, the others agree', async (t) => {
  if (!getEngine(t) || !work) return;
  const copy = path.join(work, 'planted');
  await copyTree(root, copy);
  let link = '';
  await withSource(async (src) => {
    const deep = findImage(src, IMAGES.deep);
    const victim = deep.layers[40]!;
    const other = deep.layers[41]!;
    link = fs.readFileSync(path.join(copy, 'overlay2', victim.cacheId!, 'link'), 'utf8').trim();
    fs.unlinkSync(path.join(copy, 'overlay2', 'l', link));
    fs.symlinkSync(`../${other.cacheId}/diff`, path.join(copy, 'overlay2', 'l', link));
    const r = await checkStacks(src, imageStacks(deep, true), { tmpDir, sweepAnywhere: false });
    const failed = r.stacks.filter((s) => s.status !== 'agree');
    assert.ok(failed.length > 0);
    for (const s of failed) {
      assert.equal(s.status, 'error', s.label);
      assert.equal(s.form, null);
      assert.ok(s.top! >= 40, `${s.label} failed but does not include layer 40`);
      assert.ok(s.notes.some((n) => n.includes(`overlay2/l/${link}`) && n.includes('refused')), s.notes.join('; '));
      assert.match(s.message ?? '', /short name/);
    }
    for (const s of r.stacks.filter((x) => x.status === 'agree')) assert.ok(s.form === 'absolute' || s.top! < 40, s.label);
    // verify as a whole (a fresh open, which sees the planted link): fails, and lists the store's own complaint.
    const v = await withSource((fresh) => verifySource(fresh, { images: [IMAGES.deep], integrity: false, mountOptions: { tmpDir, sweepAnywhere: false } }), copy);
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => p.code === 'overlay2.l.mismatch' && p.path?.endsWith(`/l/${link}`)), JSON.stringify(v.problems));
    assert.match(verifyText(v), new RegExp(`error overlay2\\.l\\.mismatch: l/${link} points to`));
  }, copy);
  fs.rmSync(copy, { recursive: true, force: true });
  noMountsLeft();
});

test('containerd image store (Docker 26, containerd-snapshotter): snapshot dirs mounted where they are, relative names past a page', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-mount-ctd-'));
  try {
    await withSource(async (src) => {
      assert.equal(src.kind, 'containerd-root');
      const deep = findImage(src, IMAGES.deep);
      const bloat = findImage(src, IMAGES.bloat);
      const specs = [...imageStacks(bloat, true), ...imageStacks(deep, false), ...Object.values(CONTAINERS).map((n) => containerStack(src, findContainer(src, n)))];
      const r = await checkStacks(src, specs, { tmpDir: tmp, sweepAnywhere: false, hash: true });
      const bad = r.stacks.filter((s) => s.status !== 'agree').map((s) => `${s.label}: ${s.status} ${s.message ?? ''} ${JSON.stringify(s.differences.slice(0, 3))}`);
      assert.deepEqual(bad, []);
      // Not laid out from changesets: no sparse files, the real bytes were hashed through the mount.
      assert.ok(r.stacks.every((s) => !s.notes.some((n) => /sparse/.test(n))));
      const top = r.stacks.find((s) => s.label === `${IMAGES.deep} layer ${DEEP.layers - 1}`)!;
      assert.equal(top.form, 'short');
      assert.equal(top.lowerCount, DEEP.layers);
      assert.equal(r.stacks.find((s) => s.label === `container ${CONTAINERS.running}`)!.lowerCount, bloat.layers.length + 2);
    }, e.dataRoot);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  assert.deepEqual(readMountInfo().filter((m) => m.mountPoint.includes(`/layerscope-mnt-${process.pid}-`)).map((m) => m.mountPoint), []);
});
