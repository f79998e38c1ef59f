/**
 * Docker's aufs graph driver, proven against the engine: no kernel here has aufs, so the aufs data root is made
 * from what Docker 20.10 wrote (test/support/aufs-root.ts: its `docker save` layer tars extracted as aufs's
 * ApplyDiff does, `.wh.` whiteouts kept; its containers' RW layers rewritten as aufs RW branches). Every view of
 * that root must equal the same images and containers read from the engine's own overlay2 root: images, each
 * layer's changes, hidden bytes, `files`, `export` byte for byte, `changes --container` against `docker diff`,
 * integrity against the tar-split (and tampering found), the mount check's clear skip. Bad input on copies:
 * parent lists naming a missing or hostile id, a cycle, a list disagreeing with layerdb, a `.wh.` dir, a symlinked
 * layer dir: a problem naming the file, the rest read, nothing written.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import type { TestContext } from 'node:test';
import { getEngine, hashTree, type Engine } from '../support/engine.js';
import { buildAufsRoot, type AufsRoot } from '../support/aufs-root.js';
import { IMAGES, CONTAINERS, BLOAT } from '../support/fixtures-manifest.mjs';
import { openDockerRoot } from '../../src/core/sources/docker-root/index.js';
import { openSource } from '../../src/core/sources/open.js';
import { analyzeImage } from '../../src/core/analysis/analyze.js';
import { analyzeContainer } from '../../src/core/analysis/container.js';
import { findContainer, findImage } from '../../src/core/analysis/select.js';
import { verifyInPlace } from '../../src/core/verify/in-place.js';
import type { LayerEntry, Source } from '../../src/core/model/index.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/layerscope.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-aufs-root-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ls-deep:1 (81 layers) adds ~20 s of tar extraction and nothing bloat lacks (file and dir whiteouts, opaque dirs, hard links).
const IMAGE_REFS = [IMAGES.base, IMAGES.bloat];
const CONTAINER_NAMES = [CONTAINERS.stopped, CONTAINERS.running, CONTAINERS.created];

interface Fixture {
  engine: Engine;
  aufs: AufsRoot;
  /** `docker diff` of each container, asked before anything else (it mounts the container). */
  dockerDiff: Map<string, string[]>;
  buildMs: number;
}
let fixture: Promise<Fixture> | null = null;

/** The aufs root, built once from docker20 (null: skipped loudly by getEngine). */
async function setup(t: TestContext): Promise<Fixture | null> {
  const engine = getEngine(t, 'docker20');
  if (!engine) return null;
  fixture ??= (async () => {
    const dockerDiff = new Map<string, string[]>();
    for (const c of CONTAINER_NAMES) dockerDiff.set(c, (await engine.docker(['diff', c])).stdout.split('\n').filter(Boolean).sort());
    const t0 = Date.now();
    const work = path.join(tmp, 'work');
    fs.mkdirSync(work);
    const aufs = await buildAufsRoot(engine, path.join(tmp, 'aufs-root'), IMAGE_REFS, CONTAINER_NAMES, work);
    return { engine, aufs, dockerDiff, buildMs: Date.now() - t0 };
  })();
  return fixture;
}

async function both(f: Fixture): Promise<{ ovl: Source; au: Source }> {
  return { ovl: await openDockerRoot(f.engine.dataRoot), au: await openSource(f.aufs.root) };
}

function norm(e: LayerEntry): string {
  if (e.kind === 'whiteout') return `W ${JSON.stringify(e.path)} ${e.uid}:${e.gid}`;
  const a = e.attrs;
  return JSON.stringify([e.path, a.type, a.mode, a.uid, a.gid, a.type === 'dir' ? 0 : a.size, a.mtime, a.mtimeNsec, a.linkname ?? '', a.devMajor ?? '', a.devMinor ?? '', e.opaque ?? false, Object.entries(a.xattrs ?? {}).sort()]);
}

async function cli(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const r = await execa('node', [BIN, ...args], { reject: false, encoding: 'buffer' });
  return { code: r.exitCode ?? -1, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr).toString() };
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

test('aufs root: images, tags, layers, diffIDs, cache-ids and containers equal the overlay2 root', async (t) => {
  const f = await setup(t);
  if (!f) return;
  t.diagnostic(`aufs root built from docker20 in ${f.buildMs} ms`);
  const { ovl, au } = await both(f);
  assert.equal(au.kind, 'docker-root');
  assert.deepEqual(au.problems.filter((p) => p.severity === 'error'), []);
  assert.equal(au.images.length, IMAGE_REFS.length);
  for (const ref of IMAGE_REFS) {
    const a = findImage(au, ref);
    const o = findImage(ovl, ref);
    assert.deepEqual([a.id, a.tags, a.created, a.config], [o.id, o.tags, o.created, o.config], ref);
    assert.deepEqual(
      a.layers.map((l) => [l.chainId, l.diffId, l.cacheId, l.storedSize, l.createdBy, l.layout]),
      o.layers.map((l) => [l.chainId, l.diffId, l.cacheId, l.storedSize, l.createdBy, 'aufs']),
      ref,
    );
    for (const l of a.layers) assert.equal(l.location, path.join(f.aufs.root, 'aufs/diff', l.cacheId!));
  }
  assert.deepEqual(au.containers.map((c) => c.name).sort(), [...CONTAINER_NAMES].sort());
  for (const name of CONTAINER_NAMES) {
    const a = findContainer(au, name);
    const o = findContainer(ovl, name);
    assert.deepEqual([a.id, a.image, a.mountId, a.initId, a.parentChainId, a.state, a.layout], [o.id, o.image, o.mountId, o.initId, o.parentChainId, o.state, 'aufs'], name);
    assert.equal(a.rwDir, path.join(f.aufs.root, 'aufs/diff', o.mountId!));
    assert.equal(a.initDir, path.join(f.aufs.root, 'aufs/diff', o.initId!));
  }
});

test('aufs root: every layer and container layer reads as the engine wrote it on overlay2, row for row', async (t) => {
  const f = await setup(t);
  if (!f) return;
  const { ovl, au } = await both(f);
  for (const ref of IMAGE_REFS) {
    const a = findImage(au, ref);
    const o = findImage(ovl, ref);
    for (let i = 0; i < a.layers.length; i++) {
      const ta = await au.readLayer(a, i);
      const to = await ovl.readLayer(o, i);
      assert.deepEqual(ta.entries.map(norm), to.entries.map(norm), `${ref} layer ${i}`);
      assert.deepEqual(ta.problems, [], `${ref} layer ${i}: image layers hold no aufs bookkeeping`);
    }
  }
  let whiteouts = 0;
  for (const name of CONTAINER_NAMES) {
    for (const which of ['rw', 'init'] as const) {
      const ta = await au.readContainerLayer(findContainer(au, name), which);
      const to = await ovl.readContainerLayer(findContainer(ovl, name), which);
      assert.deepEqual(ta.entries.map(norm), to.entries.map(norm), `${name} ${which}`);
      whiteouts += ta.entries.filter((e) => e.kind === 'whiteout').length;
      // A clean RW branch's bookkeeping (.wh..wh.aufs, .wh..wh.plnk/, .wh..wh.orph/) is no finding.
      assert.deepEqual(ta.problems, [], `${name} ${which}`);
      const dir = which === 'rw' ? findContainer(au, name).rwDir! : findContainer(au, name).initDir!;
      assert.ok(fs.lstatSync(path.join(dir, '.wh..wh.aufs')).isFile(), `${name} ${which}: the branch has its whiteout base`);
    }
  }
  assert.ok(whiteouts > 0, 'the containers delete files: their aufs branches hold .wh. whiteouts');
});

test('aufs root: hidden bytes and container figures equal the overlay2 root', async (t) => {
  const f = await setup(t);
  if (!f) return;
  const { ovl, au } = await both(f);
  for (const ref of IMAGE_REFS) {
    const a = await analyzeImage(au, findImage(au, ref));
    const o = await analyzeImage(ovl, findImage(ovl, ref));
    assert.deepEqual(a.hidden, o.hidden, ref);
    assert.deepEqual([a.bytes, a.visibleBytes, a.hiddenBytes], [o.bytes, o.visibleBytes, o.hiddenBytes], ref);
    assert.deepEqual(a.layers, o.layers, ref);
  }
  const bloat = await analyzeImage(au, findImage(au, IMAGES.bloat));
  assert.equal(bloat.hidden[0]!.path, BLOAT.bigFile.path);
  assert.equal(bloat.layers[BLOAT.opaque.layer]!.opaqueDirs, 1);
  for (const name of CONTAINER_NAMES) {
    const a = await analyzeContainer(au, findContainer(au, name));
    const o = await analyzeContainer(ovl, findContainer(ovl, name));
    assert.deepEqual(JSON.parse(JSON.stringify(a.changes)), JSON.parse(JSON.stringify(o.changes)), name);
  }
});

test('aufs root CLI: changes --container = docker diff; files and export byte for byte as on overlay2; nothing written', async (t) => {
  const f = await setup(t);
  if (!f) return;
  const before = await hashTree(f.aufs.root);
  const ovlRoot = f.engine.dataRoot;
  for (const name of CONTAINER_NAMES) {
    const r = await cli(['changes', f.aufs.root, '--container', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.toString().split('\n').filter(Boolean).sort(), f.dockerDiff.get(name), `${name}: changes = docker diff`);
  }
  for (const args of [['files', '--image', IMAGES.bloat, '--format', 'json'], ['files', '--image', IMAGES.bloat, '--layer', '3'], ['changes', '--image', IMAGES.bloat, '--layer', String(BLOAT.opaque.layer), '--format', 'json']]) {
    const [cmd, ...rest] = args;
    const a = await cli([cmd!, f.aufs.root, ...rest]);
    const o = await cli([cmd!, ovlRoot, ...rest]);
    assert.equal(a.code, o.code, `${args.join(' ')}: ${a.stderr}`);
    assert.equal(a.stdout.toString().split(f.aufs.root).join('ROOT'), o.stdout.toString().split(ovlRoot).join('ROOT'), args.join(' '));
  }
  for (const which of [['--image', IMAGES.bloat], ['--image', IMAGES.bloat, '--layer', String(BLOAT.bigFile.deletedIn)], ['--container', CONTAINERS.stopped], ['--container', CONTAINERS.running]]) {
    const outA = path.join(tmp, 'export-aufs.tar');
    const outO = path.join(tmp, 'export-ovl.tar');
    fs.rmSync(outA, { force: true });
    fs.rmSync(outO, { force: true });
    const a = await cli(['export', f.aufs.root, ...which, '-o', outA]);
    const o = await cli(['export', ovlRoot, ...which, '-o', outO]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(o.code, 0, o.stderr);
    assert.ok(fs.statSync(outA).size > 1024);
    assert.equal(sha(fs.readFileSync(outA)), sha(fs.readFileSync(outO)), `export ${which.join(' ')}: same tar, entry for entry and byte for byte`);
    // No aufs name leaks into what a container would see.
    const list = (await execa('tar', ['-tf', outA])).stdout;
    assert.ok(!/(^|\/)\.wh\./m.test(list), `export ${which.join(' ')} holds a .wh. name`);
  }
  const rep = await cli(['report', f.aufs.root, '--format', 'json']);
  assert.equal(rep.code, 0, rep.stderr);
  const bloat = JSON.parse(rep.stdout.toString()).images.find((i: any) => i.tags.includes(IMAGES.bloat));
  assert.equal(bloat.hidden[0].path, '/' + BLOAT.bigFile.path);
  assert.equal(await hashTree(f.aufs.root), before, 'a command wrote to the aufs root');
});

test('aufs root verify: the tar-split reassembles every layer from its aufs dir; a changed byte is found; the mount check is skipped with its reason', async (t) => {
  const f = await setup(t);
  if (!f) return;
  const ok = await cli(['verify', f.aufs.root, '--image', IMAGES.bloat, '--no-mount', '--format', 'json']);
  const rep = JSON.parse(ok.stdout.toString());
  assert.equal(ok.code, 0, ok.stderr + JSON.stringify(rep.findings.slice(0, 5)));
  assert.equal(rep.layers.length, BLOAT.layers);
  for (const l of rep.layers) assert.equal(l.integrity.status, 'ok', `${l.chainId}: ${l.integrity.message}`);

  const mount = await cli(['verify', f.aufs.root, '--image', IMAGES.bloat, '--container', CONTAINERS.stopped, '--no-integrity', '--top-only', '--format', 'json']);
  const m = JSON.parse(mount.stdout.toString());
  t.diagnostic(`mount check: exit ${mount.code}, ${m.mount.skipped ?? m.stacks.map((s: any) => `${s.label}: ${s.status}`).join('; ')}`);
  assert.equal(mount.code, 0, `a stack this kernel cannot stack is no failure of the evidence: ${mount.stderr}`);
  assert.ok(m.stacks.length >= 2);
  for (const s of m.stacks) {
    if (m.mount.skipped) break; // no overlay privilege here at all: said once, for every stack
    assert.equal(s.status, 'skipped', `${s.label}: ${s.message}`);
    assert.match(s.message, /aufs layers cannot be stacked by this kernel \(no aufs\)/);
  }

  // The TUI's verify in place (V): the layer shown checked against its tar-split; its stack's mount skipped.
  const au = await openSource(f.aufs.root);
  const ip = await verifyInPlace(au, { image: findImage(au, IMAGES.bloat), layer: BLOAT.opaque.layer, container: null });
  assert.equal(ip.integrity.status, 'ok', ip.integrity.message ?? '');
  assert.deepEqual(ip.marks, []);
  if (!ip.mount.skipped) assert.equal(ip.stack.result?.status, 'skipped');
  assert.ok(ip.ok);

  // Tampered: one byte of a file in layer 2, in a copy.
  const copy = path.join(tmp, 'tampered');
  await execa('cp', ['-a', f.aufs.root, copy]);
  const bloat = f.aufs.images.find((i) => i.tags.includes(IMAGES.bloat))!;
  const victim = path.join(copy, 'aufs/diff', bloat.cacheIds[2]!, BLOAT.overwritten.path);
  const bytes = fs.readFileSync(victim);
  bytes[0] ^= 1;
  fs.writeFileSync(victim, bytes);
  const bad = await cli(['verify', copy, '--image', IMAGES.bloat, '--no-mount', '--format', 'json']);
  assert.notEqual(bad.code, 0);
  const br = JSON.parse(bad.stdout.toString());
  assert.equal(br.layers[2].integrity.status, 'tampered');
  assert.ok(br.findings.some((x: any) => x.path.includes(BLOAT.overwritten.path)), JSON.stringify(br.findings.slice(0, 3)));
  for (const [i, l] of br.layers.entries()) if (i !== 2) assert.equal(l.integrity.status, 'ok');
  fs.rmSync(copy, { recursive: true, force: true });
});

test('aufs root, bad input: parent lists naming a missing or hostile id, a cycle, a disagreeing list, a .wh. dir, a symlinked layer dir', async (t) => {
  const f = await setup(t);
  if (!f) return;
  const copy = path.join(tmp, 'hostile');
  await execa('cp', ['-a', f.aufs.root, copy]);
  const bloat = f.aufs.images.find((i) => i.tags.includes(IMAGES.bloat))!;
  const c = bloat.cacheIds;
  const list = (i: number) => path.join(copy, 'aufs/layers', c[i]!);
  const below = (i: number) => c.slice(0, i).reverse();
  // A missing id; a hostile one; a cycle (the layer itself); a list that skips a layer.
  fs.writeFileSync(list(3), ['f'.repeat(64), ...below(3).slice(1)].map((x) => x + '\n').join(''));
  fs.writeFileSync(list(4), ['../../../../etc', ...below(4).slice(1)].map((x) => x + '\n').join(''));
  fs.writeFileSync(list(6), [c[6]!, ...below(6)].map((x) => x + '\n').join(''));
  fs.writeFileSync(list(7), below(7).slice(1).map((x) => x + '\n').join(''));
  // A whiteout that is a directory (L5 deletes data/big.bin); a layer dir that is a symlink (never followed).
  const wh = path.join(copy, 'aufs/diff', c[BLOAT.bigFile.deletedIn]!, 'data/.wh.big.bin');
  fs.rmSync(wh);
  fs.mkdirSync(wh);
  fs.writeFileSync(path.join(wh, 'inside'), 'x');
  const moved = path.join(copy, 'moved-layer');
  fs.renameSync(path.join(copy, 'aufs/diff', c[9]!), moved);
  fs.symlinkSync(moved, path.join(copy, 'aufs/diff', c[9]!));
  // A pseudo-link the aufs module left in a RW branch; a layer dir nothing references.
  const stopped = f.aufs.containers.find((x) => x.name === CONTAINERS.stopped)!;
  const plnk = path.join(copy, 'aufs/diff', stopped.mountId, '.wh..wh.plnk');
  fs.writeFileSync(path.join(plnk, '4242.1'), 'copied-up bytes');
  const orphan = path.join(copy, 'aufs/diff', 'e'.repeat(64));
  fs.mkdirSync(orphan);
  fs.writeFileSync(path.join(orphan, 'left-behind'), Buffer.alloc(3000, 1));
  // A container's RW list without its init layer; files under an unmounted mount point.
  const rwList = path.join(copy, 'aufs/layers', stopped.mountId);
  fs.writeFileSync(rwList, fs.readFileSync(rwList, 'utf8').split('\n').slice(1).join('\n'));
  const mnt = path.join(copy, 'aufs/mnt', c[2]!);
  fs.writeFileSync(path.join(mnt, 'stashed'), 'under the mount point');
  const before = await hashTree(copy);

  const r = await cli(['report', copy, '--all', '--format', 'json']);
  assert.equal(r.code, 4, `exit code 4 (evidence problems); stderr: ${r.stderr}`);
  const rep = JSON.parse(r.stdout.toString());
  const has = (code: string, file: string) => assert.ok(rep.problems.some((p: any) => p.code === code && p.path === file), `${code} at ${file}: ${JSON.stringify(rep.problems.map((p: any) => [p.code, p.path]))}`);
  has('aufs.layers.missing-id', list(3));
  has('aufs.layers.mismatch', list(3));
  has('aufs.layers.bad-id', list(4));
  has('aufs.layers.cycle', list(6));
  has('aufs.layers.mismatch', list(7));
  has('aufs.diff.missing', path.join(copy, 'aufs/diff', c[9]!));
  has('aufs.layers.mismatch', rwList);
  has('aufs.mnt.content', mnt);
  assert.match(rep.problems.find((p: any) => p.code === 'aufs.diff.missing').message, /symlink \(never followed\)/);
  assert.match(rep.problems.find((p: any) => p.code === 'aufs.layers.bad-id').message, /"\.\.\/\.\.\/\.\.\/\.\.\/etc".*never used as a path/);
  const rc = await cli(['changes', copy, '--container', CONTAINERS.stopped, '--format', 'json']);
  const pl = JSON.parse(rc.stdout.toString()).problems.find((p: any) => p.code === 'aufs.plnk.content');
  assert.ok(pl && pl.path === plnk && /^1 pseudo-link\(s\), 15 bytes/.test(pl.message), JSON.stringify(pl));
  assert.deepEqual(rep.storage.orphanDirs.map((o: any) => [o.path, o.bytes]), [[orphan, 3000]]);
  // The rest goes on: both images are there, the layers read.
  assert.ok(rep.images.some((i: any) => i.tags.includes(IMAGES.bloat)));
  assert.ok(rep.images.some((i: any) => i.tags.includes(IMAGES.base)));
  const del = await cli(['changes', copy, '--image', IMAGES.bloat, '--layer', String(BLOAT.bigFile.deletedIn), '--format', 'json']);
  const dj = JSON.parse(del.stdout.toString());
  assert.ok(dj.changes.some((x: any) => x.path === '/' + BLOAT.bigFile.path && x.change === 'deleted'), 'the .wh. dir still deletes what its name says');
  assert.ok(!dj.changes.some((x: any) => String(x.path).includes('inside')));
  assert.ok(dj.problems.some((p: any) => p.code === 'aufs.whiteout.not-file' && p.path === wh), JSON.stringify(dj.problems));
  assert.equal(await hashTree(copy), before, 'nothing is written to the evidence');
  fs.rmSync(copy, { recursive: true, force: true });
});
