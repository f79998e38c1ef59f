/**
 * The classic data root, checked against the engine that wrote it (Docker 20.10, overlay2): image IDs,
 * chainIDs and cache-ids against `docker image inspect`; every layer's changeset against the layer tars of
 * `docker save`; the merged view against `docker export`; container changes against `docker diff`;
 * hidden bytes against what the fixture Dockerfile did. The data root is hashed before and after.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { getEngine, hashTree, copyTree, type Engine } from '../support/engine.js';
import { IMAGES, CONTAINERS, PLANTED, BLOAT, DEEP, VOLUME_CONTAINERS, MOUNT_CONTAINERS, LOG_CONTAINERS } from '../support/fixtures-manifest.mjs';
import { openDockerRoot } from '../../src/core/sources/docker-root/index.js';
import { analyzeImage } from '../../src/core/analysis/analyze.js';
import { analyzeContainer } from '../../src/core/analysis/container.js';
import { findContainer, findImage } from '../../src/core/analysis/select.js';
import { chainIds } from '../../src/core/analysis/chain.js';
import { stackTables } from '../../src/core/analysis/analyze.js';
import { mergedRows } from '../../src/core/analysis/views.js';
import { TarFileReader, readLayerFromFile } from '../../src/core/sources/tar/index.js';
import { cleanLayerPath } from '../../src/core/model/path.js';
import type { LayerChanges, LayerEntry, Source } from '../../src/core/model/index.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/layerscope.js');
let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-root-test-'));
});

async function open(t: import('node:test').TestContext): Promise<{ engine: Engine; source: Source } | null> {
  const engine = getEngine(t, 'docker20');
  if (!engine) return null;
  const source = await openDockerRoot(engine.dataRoot);
  return { engine, source };
}

async function inspect(engine: Engine, ref: string): Promise<any> {
  return JSON.parse((await engine.docker(['image', 'inspect', ref])).stdout)[0];
}

/** Comparable form of an entry: what both a diff dir and a layer tar record. */
function norm(e: LayerEntry): string {
  if (e.kind === 'whiteout') return `W ${JSON.stringify(e.path)}`;
  const a = e.attrs;
  const size = a.type === 'dir' ? '' : String(a.size);
  const dev = a.type === 'char' || a.type === 'block' ? `${a.devMajor}:${a.devMinor}` : '';
  const xattrs = a.xattrs ? JSON.stringify(Object.entries(a.xattrs).sort()) : '';
  return `P ${JSON.stringify(e.path)} ${a.type} ${a.mode.toString(8)} ${a.uid}:${a.gid} ${size} ${a.mtime} ${JSON.stringify(a.linkname ?? '')} ${dev} ${e.opaque ? 'opaque' : ''} ${xattrs}`;
}

function normAll(c: LayerChanges): string[] {
  return c.entries.map(norm).sort();
}

test('image IDs, diffIDs, chainIDs and cache-ids agree with docker image inspect', async (t) => {
  const o = await open(t);
  if (!o) return;
  for (const ref of [IMAGES.base, IMAGES.bloat, IMAGES.deep]) {
    const img = findImage(o.source, ref);
    const info = await inspect(o.engine, ref);
    assert.equal(img.id, info.Id, `${ref}: image ID`);
    assert.deepEqual(img.layers.map((l) => l.diffId), info.RootFS.Layers, `${ref}: diffIDs`);
    assert.deepEqual(img.layers.map((l) => l.chainId), chainIds(info.RootFS.Layers));
    const top = img.layers[img.layers.length - 1]!;
    assert.equal(info.GraphDriver.Data.UpperDir, path.join(o.engine.dataRoot, 'overlay2', top.cacheId!, 'diff'), `${ref}: top cache-id`);
    const lowers = (info.GraphDriver.Data.LowerDir ?? '').split(':').filter(Boolean);
    assert.deepEqual(lowers, img.layers.slice(0, -1).reverse().map((l) => l.location), `${ref}: lower dirs`);
    for (const l of img.layers) assert.ok(fs.existsSync(path.join(o.engine.dataRoot, 'image/overlay2/layerdb', l.chainId.replace(':', '/'))), `layerdb has ${l.chainId}`);
  }
  assert.equal(findImage(o.source, IMAGES.deep).layers.length, DEEP.layers);
  assert.deepEqual(o.source.problems.filter((p) => p.severity === 'error'), []);
});

test('every layer of every fixture image equals its layer tar from docker save', async (t) => {
  const o = await open(t);
  if (!o) return;
  const dir = fs.mkdtempSync(path.join(tmp, 'save-'));
  const tarPath = path.join(dir, 'save.tar');
  await execa('sh', ['-c', `docker save ${IMAGES.bloat} ${IMAGES.deep} > ${tarPath}`], { env: o.engine.env });
  await execa('tar', ['-xf', tarPath, '-C', dir]);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { RepoTags: string[]; Layers: string[] }[];
  let compared = 0;
  for (const m of manifest) {
    const img = findImage(o.source, m.RepoTags[0]!);
    for (let i = 0; i < m.Layers.length; i++) {
      const file = path.join(dir, m.Layers[i]!);
      const fd = fs.openSync(file, 'r');
      let fromTar: LayerChanges;
      try {
        fromTar = readLayerFromFile(fd, 0, fs.fstatSync(fd).size, file);
      } finally {
        fs.closeSync(fd);
      }
      const fromDisk = await o.source.readLayer(img, i);
      assert.deepEqual(normAll(fromDisk), normAll(fromTar), `${m.RepoTags[0]} layer ${i}`);
      compared++;
    }
  }
  assert.equal(compared, BLOAT.layers + DEEP.layers);
});

test('the merged view of image + init layer equals docker export of a created container', async (t) => {
  const o = await open(t);
  if (!o) return;
  const c = findContainer(o.source, CONTAINERS.created);
  const img = findImage(o.source, c.image);
  const tables = [];
  for (let i = 0; i < img.layers.length; i++) tables.push(await o.source.readLayer(img, i));
  tables.push(await o.source.readContainerLayer(c, 'init'));
  const stack = stackTables(tables);
  const ours = mergedRows(stack).map((r) => `${JSON.stringify(r.path)} ${r.attrs.type === 'hardlink' ? 'file' : r.attrs.type} ${r.attrs.mode.toString(8)} ${r.attrs.uid}:${r.attrs.gid} ${r.attrs.type === 'dir' ? '' : r.attrs.size} ${JSON.stringify(r.attrs.type === 'symlink' ? r.attrs.linkname : '')}`);

  const file = path.join(tmp, 'export.tar');
  await execa('sh', ['-c', `docker export ${CONTAINERS.created} > ${file}`], { env: o.engine.env });
  const fd = fs.openSync(file, 'r');
  const theirs: string[] = [];
  try {
    const byName = new Map<string, number>();
    for (const e of new TarFileReader(fd, { end: fs.fstatSync(fd).size, label: file }).entries()) {
      const p = cleanLayerPath(e.name);
      if (p === '') continue;
      // Hardlinks in an export are names of one inode: compare as the file they link to.
      const size = e.type === 'hardlink' ? byName.get(cleanLayerPath(e.linkname)) ?? 0 : e.size;
      if (e.type === 'file') byName.set(p, e.size);
      const type = e.type === 'hardlink' ? 'file' : e.type;
      theirs.push(`${JSON.stringify(p)} ${type} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${type === 'dir' ? '' : type === 'symlink' ? e.linkname.length : size} ${JSON.stringify(type === 'symlink' ? e.linkname : '')}`);
    }
  } finally {
    fs.closeSync(fd);
  }
  assert.deepEqual(ours.sort(), theirs.sort());
});

for (const which of ['docker20', 'docker26'] as const) {
  test(`container changes are exactly what docker diff says (${which})`, async (t) => {
    const engine = getEngine(t, which);
    if (!engine) return;
    const source = await openDockerRoot(engine.dataRoot);
    for (const name of [CONTAINERS.stopped, CONTAINERS.running, CONTAINERS.created]) {
      const r = await engine.docker(['diff', name]);
      const theirs = r.stdoutBuffer.toString('latin1').split('\n').filter(Boolean).sort();
      const a = await analyzeContainer(source, findContainer(source, name));
      const ours = a.changes.map((c) => `${c.kind} ${c.path}`).sort();
      assert.deepEqual(ours, theirs, `docker diff ${name}`);
    }
  });
}

test('hidden bytes of ls-bloat:1: what later layers deleted, overwrote or hid, each with the layer that did it', async (t) => {
  const o = await open(t);
  if (!o) return;
  const a = await analyzeImage(o.source, findImage(o.source, IMAGES.bloat));
  const by = (p: string) => a.hidden.filter((h) => h.path === p);
  assert.deepEqual(by(BLOAT.bigFile.path).map((h) => [h.layer, h.by, h.reason, h.bytes]), [[BLOAT.bigFile.addedIn, BLOAT.bigFile.deletedIn, 'deleted', BLOAT.bigFile.size]]);
  assert.equal(a.hidden[0]!.path, BLOAT.bigFile.path, 'largest first');
  assert.deepEqual(by(BLOAT.overwritten.path).map((h) => [h.layer, h.by, h.reason]), [[2, 4, 'overwritten']]);
  assert.deepEqual(by(BLOAT.chmodOnly.path).map((h) => [h.layer, h.by, h.reason, h.bytes]), [[2, 4, 'overwritten', BLOAT.chmodOnly.content.length]]);
  for (const p of BLOAT.opaque.hidden.filter((x: string) => x.endsWith('file') || x.endsWith('.txt'))) {
    assert.deepEqual(by(p).map((h) => [h.by, h.reason]), [[BLOAT.opaque.layer, 'opaque']], p);
  }
  for (const p of ['gone/y', 'gone/sub/x', 'gone/sub/deeper/z']) assert.deepEqual(by(p).map((h) => [h.by, h.reason]), [[BLOAT.deletedTree.layer, 'deleted']], p);
  // One of two hardlinked names was deleted: the inode stays visible through the other, so no bytes are hidden.
  assert.deepEqual(by(BLOAT.hardlink.path), []);
  assert.deepEqual(by(BLOAT.hardlink.link), []);
  assert.equal(a.hiddenBytes, a.hidden.reduce((s, h) => s + h.bytes, 0));
  assert.equal(a.visibleBytes + a.hiddenBytes, a.bytes);
  // Visible bytes = the regular files of the final merged view, each inode once.
  const rows = mergedRows(a.view);
  assert.equal(a.visibleBytes, rows.filter((r) => r.attrs.type === 'file').reduce((s, r) => s + r.attrs.size, 0));
  const opq = a.layers[BLOAT.opaque.layer]!;
  assert.equal(opq.opaqueDirs, 1);
  assert.equal(a.layers[BLOAT.bigFile.deletedIn]!.deleted, 2);
  assert.equal(a.layers.length, BLOAT.layers);
  // History lines up with layers despite the steps that made none (ENV, CMD, a RUN that changed nothing).
  assert.equal(a.image.emptyHistory, BLOAT.history.emptyLayer);
  assert.match(a.image.layers[BLOAT.bigFile.deletedIn]!.createdBy ?? '', /rm/);
  for (const l of a.layers) assert.equal(l.added + l.modified, l.entries);
});

test('report CLI: JSON schema v1, same answers, and the data root is not touched', async (t) => {
  const engine = getEngine(t, 'docker20');
  if (!engine) return;
  // Ask the engine first: docker diff mounts the container, which writes into the data root.
  const theirs = (await engine.docker(['diff', CONTAINERS.stopped])).stdout.split('\n').filter(Boolean).sort();
  const before = await hashTree(engine.dataRoot);
  const r = await execa('node', [BIN, 'report', engine.dataRoot, '--format', 'json'], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.schema, 'layerscope.report/v1');
  const bloat = rep.images.find((i: any) => i.tags.includes(IMAGES.bloat));
  assert.ok(bloat, 'ls-bloat:1 in the report');
  assert.equal(bloat.layers.length, BLOAT.layers);
  assert.equal(bloat.hidden[0].path, '/' + BLOAT.bigFile.path);
  assert.equal(bloat.efficiency, bloat.visibleBytes / bloat.bytes);
  for (const l of bloat.layers) assert.ok(/^sha256:[0-9a-f]{64}$/.test(l.chainId) && /^[0-9a-f]{64}$/.test(l.cacheId));
  const names = rep.containers.map((c: any) => c.name).sort();
  assert.deepEqual(names, [...Object.values(CONTAINERS), ...Object.keys(PLANTED), ...VOLUME_CONTAINERS, ...MOUNT_CONTAINERS, ...Object.keys(LOG_CONTAINERS)].sort());
  const d = await execa('node', [BIN, 'changes', engine.dataRoot, '--container', CONTAINERS.stopped], { reject: false });
  assert.equal(d.exitCode, 0, d.stderr);
  assert.deepEqual(d.stdout.split('\n').filter(Boolean).sort(), theirs);
  assert.equal(await hashTree(engine.dataRoot), before, 'data root changed while we read it');
});

test('hostile data root: a cache-id that climbs out, a symlinked layer dir, a bad config: problems, not crashes', async (t) => {
  const engine = getEngine(t, 'docker20');
  if (!engine) return;
  const copy = path.join(tmp, 'hostile-root');
  await copyTree(engine.dataRoot, copy);
  const base = await openDockerRoot(copy);
  const bloat = findImage(base, IMAGES.bloat);
  const deep = findImage(base, IMAGES.deep);
  const layerdb = (chain: string) => path.join(copy, 'image/overlay2/layerdb/sha256', chain.slice(7));
  // 1. cache-id "../../etc" on one bloat layer.
  fs.writeFileSync(path.join(layerdb(bloat.layers[3]!.chainId), 'cache-id'), '../../../../etc');
  // 2. a deep layer's layerdb dir replaced by a symlink to /etc.
  const victim = layerdb(deep.layers[40]!.chainId);
  fs.rmSync(victim, { recursive: true });
  fs.symlinkSync('/etc', victim);
  // 3. an image config that is not JSON (its ID no longer matches either).
  const cfg = path.join(copy, 'image/overlay2/imagedb/content/sha256', findImage(base, IMAGES.base).id.slice(7));
  fs.writeFileSync(cfg, '{not json');
  // 4. a lower file that skips a layer, an l/ link that points at another layer, a missing diff dir.
  const dirOf = (i: number) => path.join(copy, 'overlay2', bloat.layers[i]!.cacheId!);
  const lower = fs.readFileSync(path.join(dirOf(8), 'lower'), 'utf8').split(':');
  fs.writeFileSync(path.join(dirOf(8), 'lower'), lower.slice(1).join(':'));
  const link = fs.readFileSync(path.join(dirOf(9), 'link'), 'utf8').trim();
  fs.rmSync(path.join(copy, 'overlay2/l', link));
  fs.symlinkSync(`../${bloat.layers[1]!.cacheId}/diff`, path.join(copy, 'overlay2/l', link));
  fs.renameSync(path.join(dirOf(10), 'diff'), path.join(dirOf(10), 'diff.moved'));
  const r = await execa('node', [BIN, 'report', copy, '--format', 'json'], { reject: false });
  assert.equal(r.exitCode, 4, `exit code 4 (evidence problems); stderr: ${r.stderr}`);
  const rep = JSON.parse(r.stdout);
  const codes = new Set(rep.problems.map((p: any) => p.code));
  for (const c of ['layerdb.cache-id.invalid', 'evidence.symlink', 'config.invalid-json', 'imagedb.id-mismatch', 'overlay2.lower.mismatch', 'overlay2.l.mismatch', 'overlay2.diff.missing']) {
    assert.ok(codes.has(c), `problem ${c} reported: ${[...codes].join(', ')}`);
  }
  assert.ok(rep.problems.find((p: any) => p.code === 'overlay2.lower.mismatch').path.startsWith(dirOf(8)));
  const bad = rep.problems.find((p: any) => p.code === 'layerdb.cache-id.invalid');
  assert.match(bad.path, /cache-id$/);
  // The rest of the analysis goes on: the other images are still reported.
  assert.ok(rep.images.some((i: any) => i.tags.includes(IMAGES.bloat)));
  assert.ok(rep.images.some((i: any) => i.tags.includes(IMAGES.deep)));
});

test('host-level bloat: unreferenced overlay2 dirs, and what each image shares or holds alone', async (t) => {
  const engine = getEngine(t, 'docker20');
  if (!engine) return;
  const copy = path.join(tmp, 'orphan-root');
  await copyTree(engine.dataRoot, copy);
  const orphan = path.join(copy, 'overlay2', 'ab'.repeat(32));
  fs.mkdirSync(path.join(orphan, 'diff'), { recursive: true });
  fs.writeFileSync(path.join(orphan, 'diff', 'left-behind.bin'), Buffer.alloc(1234, 7));
  const r = await execa('node', [BIN, 'report', copy, '--format', 'json'], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.deepEqual(rep.storage.orphanDirs.map((d: any) => [path.basename(d.path), d.bytes]), [['ab'.repeat(32), 1234]]);
  const img = (tag: string) => rep.images.find((i: any) => i.tags.includes(tag));
  const base = img(IMAGES.base);
  const bloat = img(IMAGES.bloat);
  // The base layer is used by every fixture image: shared; the rest of ls-bloat:1 is its own.
  assert.equal(base.sharedBytes, base.bytes);
  assert.equal(bloat.sharedBytes, base.bytes);
  assert.equal(bloat.uniqueBytes, bloat.bytes - base.bytes);
});

test('unreferenced entries planted as symlinks are never walked: overlay2/<id> -> /, and links to /proc inside one', async (t) => {
  const engine = getEngine(t, 'docker20');
  if (!engine) return;
  const copy = path.join(tmp, 'orphan-links');
  await copyTree(engine.dataRoot, copy);
  const toRoot = 'cd'.repeat(32);
  const withLinks = 'ef'.repeat(32);
  fs.symlinkSync('/', path.join(copy, 'overlay2', toRoot));
  fs.mkdirSync(path.join(copy, 'overlay2', withLinks, 'diff'), { recursive: true });
  fs.writeFileSync(path.join(copy, 'overlay2', withLinks, 'diff', 'real'), Buffer.alloc(100));
  fs.symlinkSync('/proc', path.join(copy, 'overlay2', withLinks, 'diff', 'proc'));
  fs.symlinkSync('/', path.join(copy, 'overlay2', withLinks, 'root'));
  const before = await hashTree(copy);
  const r = await execa('node', [BIN, 'report', copy, '--format', 'json'], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  // Sizes count what is really there: nothing behind a link (the host's / and /proc would be gigabytes).
  assert.deepEqual(rep.storage.orphanDirs.map((d: any) => [path.basename(d.path), d.bytes]).sort(), [[toRoot, 0], [withLinks, 100]].sort());
  const planted = rep.problems.filter((p: any) => p.code === 'evidence.symlink');
  assert.deepEqual(planted.map((p: any) => [p.severity, path.basename(p.path)]), [['warning', toRoot]]);
  assert.equal(await hashTree(copy), before, 'nothing written');
});

test('no command writes to the data root: report, changes, files, in every format', async (t) => {
  const engine = getEngine(t, 'docker20');
  if (!engine) return;
  const before = await hashTree(engine.dataRoot);
  const runs = [
    ['report', engine.dataRoot],
    ['report', engine.dataRoot, '--all', '--format', 'json'],
    ['changes', engine.dataRoot, '--image', IMAGES.bloat, '--layer', String(BLOAT.opaque.layer)],
    ['changes', engine.dataRoot, '--image', IMAGES.bloat, '--layer', String(BLOAT.bigFile.deletedIn), '--format', 'json'],
    ['changes', engine.dataRoot, '--container', CONTAINERS.running, '--format', 'json'],
    ['files', engine.dataRoot, '--image', IMAGES.deep, '--format', 'json'],
    ['files', engine.dataRoot, '--image', IMAGES.bloat, '--layer', '3'],
  ];
  for (const args of runs) {
    const r = await execa('node', [BIN, ...args], { reject: false });
    assert.equal(r.exitCode, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const del = JSON.parse((await execa('node', [BIN, ...runs[3]!])).stdout);
  const big = del.changes.find((c: any) => c.path === '/' + BLOAT.bigFile.path);
  assert.deepEqual([big.change, big.deleted.type, big.deleted.layer, big.deleted.bytes], ['deleted', 'file', BLOAT.bigFile.addedIn, BLOAT.bigFile.size]);
  assert.equal(await hashTree(engine.dataRoot), before, 'the data root changed');
});
