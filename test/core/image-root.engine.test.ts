/**
 * `--image-root` on a disk made of real engines' stores: a copy of docker20's data root at the default
 * var/lib/docker, and a copy of docker26c's (the containerd image store, with its managed containerd) at a place
 * only etc/docker/daemon.json names. `layerscope report --image-root DIR --format json` must list every image and
 * every container each engine lists (`docker image ls -a`, `docker ps -a`: IDs, tags and names), each under the
 * store it is from; the TUI's picker must show both stores; nothing under DIR is written (strict manifest:
 * mtime, ctime, inode of every entry, before and after).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { copyTree, diffManifests, getEngine, requireRoot, treeManifest, waitIdle, type Engine, type EngineName } from '../support/engine.js';
import { openSource } from '../../src/core/sources/open.js';
import { Session } from '../../src/tui/session.js';
import { initialState } from '../../src/tui/state/index.js';
import { drive } from '../tui/harness.js';
import { CONTAINERS } from '../support/fixtures-manifest.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/layerscope.js');

interface EngineFacts {
  /** `image ls -a` IDs (the classic store: config digests; the containerd store: target digests). */
  imageIds: string[];
  tags: string[];
  /** `ps -a`: "ID NAME". */
  containers: string[];
}

/** A running engine whose store is copied onto the disk: where its store is, and what it lists. */
interface Origin {
  root: string;
  facts(): Promise<EngineFacts>;
  /** Before copying: let the engine stop writing (the containerd store collects garbage after other work). */
  settle(): Promise<unknown>;
}

/** A Docker engine started by test/run.mjs. */
function dockerOrigin(which: EngineName): (t: import('node:test').TestContext) => Origin | null {
  return (t) => {
    const e = getEngine(t, which);
    if (!e) return null;
    const lines = async (args: string[]) => (await e.docker(args)).stdout.split('\n').filter(Boolean);
    return {
      root: e.dataRoot,
      settle: () => waitIdle(e),
      facts: async () => ({
        imageIds: [...new Set(await lines(['image', 'ls', '-a', '--no-trunc', '--format', '{{.ID}}']))].sort(),
        tags: (await lines(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])).filter((x) => !x.includes('<none>')).sort(),
        containers: (await lines(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}'])).sort(),
      }),
    };
  };
}

/**
 * The disk: where each store goes, what discovery must say about it, and the engine it is a copy of. A store of
 * another engine (a podman graphroot, once containers-storage is read) is one more entry with its own Origin.
 */
interface Placed {
  name: string;
  /** Where on the disk (relative to the image root). */
  at: string;
  /** How discovery must say it found it. */
  how: string;
  kind: string;
  origin: (t: import('node:test').TestContext) => Origin | null;
}
const DISK: Placed[] = [
  { name: 'docker20', at: 'var/lib/docker', how: 'default /var/lib/docker', kind: 'docker-root', origin: dockerOrigin('docker20') },
  { name: 'docker26c', at: 'srv/engines/docker26c', how: 'etc/docker/daemon.json data-root', kind: 'docker-root', origin: dockerOrigin('docker26c') },
];
/** Files of the disk's /etc. */
const ETC: Record<string, string> = { 'etc/docker/daemon.json': JSON.stringify({ 'data-root': '/srv/engines/docker26c', 'storage-driver': 'overlayfs' }) };

let disk: string;
let tmp: string;
const facts = new Map<string, EngineFacts>();
/** The Docker engines, for what only their CLI says (docker diff). */

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-imgroot-engine-'));
  disk = path.join(tmp, 'disk');
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Build the disk once (the first test that has its engines does). */
async function buildDisk(t: import('node:test').TestContext): Promise<boolean> {
  if (facts.size === DISK.length) return true;
  if (!requireRoot(t)) return false;
  const got: [Placed, Origin][] = [];
  for (const p of DISK) {
    const o = p.origin(t);
    if (!o) return false;
    got.push([p, o]);
  }
  for (const [p, o] of got) {
    // The engine's answer, then the copy.
    await o.settle();
    const f = await o.facts();
    await copyTree(o.root, path.join(disk, p.at));
    facts.set(p.name, f);
  }
  for (const [rel, text] of Object.entries(ETC)) {
    fs.mkdirSync(path.dirname(path.join(disk, rel)), { recursive: true });
    fs.writeFileSync(path.join(disk, rel), text);
  }
  return true;
}

test('report --image-root: every image and container of every engine, each with its store; nothing written', async (t) => {
  if (!(await buildDisk(t))) return;
  const before = await treeManifest(disk, { strict: true });
  const t0 = Date.now();
  const r = await execa('node', [BIN, 'report', '--image-root', disk, '--all', '--format', 'json'], { reject: false, maxBuffer: 1 << 30 });
  const ms = Date.now() - t0;
  assert.ok(r.exitCode === 0 || r.exitCode === 4, `exit ${r.exitCode}: ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  process.stderr.write(`image-root report of ${DISK.length} engine copies: ${ms} ms, ${j.images.length} images, ${j.containers.length} containers\n`);
  assert.equal(j.source.kind, 'image-root');
  for (const p of DISK) {
    const loc = path.join(disk, p.at);
    const store = j.source.stores.find((s: any) => s.location === loc);
    assert.ok(store, `${p.at} (${p.name}) is among the stores: ${JSON.stringify(j.source.stores)}`);
    assert.equal(store.kind, p.kind);
    assert.ok(store.how.includes(p.how), `${p.at} found by ${p.how} (${store.how.join('; ')})`);
    const f = facts.get(p.name)!;
    assert.ok(f.imageIds.length > 0 && f.containers.length > 0, `${p.name} has images and containers to compare`);
    const images = j.images.filter((i: any) => i.store?.location === loc);
    assert.equal(store.images, images.length);
    // Every image the engine lists, by the ID it shows (the containerd store shows the target digest).
    for (const id of f.imageIds) assert.ok(images.some((i: any) => i.id === id || i.digests.some((d: string) => d === id || d.endsWith('@' + id))), `${p.name}: image ${id} is listed under ${p.at}`);
    assert.deepEqual([...new Set(images.flatMap((i: any) => i.tags))].sort(), f.tags, `${p.name}: tags`);
    const containers = j.containers.filter((c: any) => c.store?.location === loc).map((c: any) => `${c.id} ${c.name}`).sort();
    assert.deepEqual(containers, f.containers, `${p.name}: containers (ID and name) under ${p.at}`);
  }
  // Every image and container has a store, and only stores that were put on the disk are found.
  assert.ok(j.images.every((i: any) => i.store) && j.containers.every((c: any) => c.store));
  assert.deepEqual(j.source.stores.map((s: any) => s.location).sort(), DISK.map((p) => path.join(disk, p.at)).sort());
  const text = await execa('node', [BIN, 'report', '--image-root', disk], { reject: false, maxBuffer: 1 << 30 });
  assert.match(text.stdout, /^STORES$/m);
  for (const p of DISK) assert.match(text.stdout, new RegExp(`${path.join(disk, p.at).replace(/[.]/g, '\\.')} +${p.how.replace(/[.]/g, '\\.')}`));
  const afterM = await treeManifest(disk, { strict: true });
  assert.deepEqual(afterM, before, `the image root changed while it was read:\n${diffManifests(before, afterM)}`);
});

test('tui --image-root: the picker shows both stores, each with its images and containers', async (t) => {
  if (!(await buildDisk(t))) return;
  const before = await treeManifest(disk, { strict: true });
  const session = new Session({ location: `image-root:${disk}`, open: openSource, progressEveryMs: 0 });
  const d = await drive(initialState(120, 200), { driver: session });
  try {
    await d.until((s) => s.screen === 'picker', 120000);
    const frame = d.frame();
    const s = d.state();
    for (const p of DISK) {
      const label = s.images.find((i) => i.store?.relative === p.at)?.store?.label;
      assert.ok(label, `${p.at}: images with that store`);
      assert.match(frame, new RegExp(`▸ ${label.replace(/[#]/g, '\\#')} +/${p.at.replace(/[.]/g, '\\.')}`));
      const f = facts.get(p.name)!;
      for (const c of f.containers) assert.ok(s.containers.some((x) => `${x.id} ${x.name}` === c && x.store?.relative === p.at), `${c} in the picker under ${p.at}`);
    }
  } finally {
    d.unmount();
    session.stop();
  }
  const afterM = await treeManifest(disk, { strict: true });
  assert.deepEqual(afterM, before, `the image root changed while the TUI read it:\n${diffManifests(before, afterM)}`);
});

test('changes --image-root --container: a name both engines have is ambiguous (both stores named); by ID, docker diff of each engine', async (t) => {
  if (!(await buildDisk(t))) return;
  const name = CONTAINERS.stopped;
  const amb = await execa('node', [BIN, 'changes', '--image-root', disk, '--container', name], { reject: false });
  assert.equal(amb.exitCode, 3, amb.stderr);
  // The fixture containers are planted in every Docker engine.
  const dockerStores = DISK.filter((x) => x.kind === 'docker-root');
  assert.match(amb.stderr, new RegExp(`container name "${name}" matches ${dockerStores.length} containers in ${dockerStores.length} stores`));
  for (const p of dockerStores) assert.ok(amb.stderr.includes(path.join(disk, p.at)), `${p.at} named in: ${amb.stderr}`);
  for (const p of dockerStores) {
    const e = getEngine(t, p.name as EngineName);
    if (!e) return;
    const f = facts.get(p.name)!;
    const id = f.containers.find((c) => c.endsWith(` ${name}`))!.split(' ')[0]!;
    const want = (await e.docker(['diff', id])).stdout.split('\n').filter(Boolean).sort();
    const got = await execa('node', [BIN, 'changes', '--image-root', disk, '--container', id], { reject: false });
    assert.ok(got.exitCode === 0 || got.exitCode === 4, got.stderr);
    assert.ok(want.length > 0, `${p.name}: ${name} changed files`);
    assert.deepEqual(got.stdout.split('\n').filter(Boolean).sort(), want, `${p.name}: changes of ${name} (${id}) read from ${p.at}`);
  }
});
