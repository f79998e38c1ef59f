/**
 * Hostile metadata in copies of real data roots (the engines of test/run.mjs), through the built CLI:
 * - JSON documents of the wrong shape (config.v2.json null or with wrong field types, repositories.json,
 *   image configs nested too deep or not objects): problems naming the file, exit 4, and the rest of the
 *   analysis goes on (the other images and containers are listed);
 * - a real Docker 20.10 root whose store is renamed to another graph driver: recognised as that driver, exit 3
 *   (it holds containerd/daemon/ too, and must not be taken for a containerd root);
 * - the copy as the engine keeps it (root-owned 0710/0700), read by an unprivileged user: exit 3, "needs root".
 * Every copy is hashed before and after the run: nothing is written.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { copyTree, getEngine, hashTree, waitIdle, type Engine } from '../support/engine.js';
import { CONTAINERS, PLANTED, IMAGES, VOLUME_CONTAINERS, MOUNT_CONTAINERS, LOG_CONTAINERS } from '../support/fixtures-manifest.mjs';
import { cli } from '../support/roots.js';
import { GRAPH_DRIVERS } from '../../src/core/sources/drivers.js';
import { DOCKER_DRIVERS } from '../../src/core/sources/docker-root/registry.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-hostile-meta-'));
fs.chmodSync(tmp, 0o755);
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

async function copyOf(e: Engine): Promise<string> {
  const dst = path.join(tmp, `${e.name}-${n++}`);
  for (let attempt = 1; ; attempt++) {
    try {
      await copyTree(e.dataRoot, dst);
      return dst;
    } catch (err) {
      // The containerd store may collect a snapshot while we copy: retry on a clean dir.
      if (attempt >= 4) throw err;
      fs.rmSync(dst, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Container id by name, from the copy's own config.v2.json files. */
function containerIds(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const id of fs.readdirSync(path.join(root, 'containers'))) {
    const cfg = JSON.parse(fs.readFileSync(path.join(root, 'containers', id, 'config.v2.json'), 'utf8'));
    out.set(String(cfg.Name).replace(/^\//, ''), id);
  }
  return out;
}

function editConfig(root: string, id: string, edit: (cfg: any) => unknown): string {
  const file = path.join(root, 'containers', id, 'config.v2.json');
  const out = edit(JSON.parse(fs.readFileSync(file, 'utf8')));
  fs.writeFileSync(file, typeof out === 'string' ? out : JSON.stringify(out));
  return file;
}

async function reportJson(root: string): Promise<{ code: number; rep: any; stderr: string }> {
  const before = await hashTree(root);
  const r = await cli(['report', root, '--format', 'json']);
  assert.equal(await hashTree(root), before, 'the evidence changed while it was read');
  return { code: r.code, rep: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr };
}

test('docker20 copy: JSON of the wrong shape everywhere: problems naming each file, the rest still analysed', async (t) => {
  const e = getEngine(t, 'docker20');
  if (!e) return;
  const root = await copyOf(e);
  const ids = containerIds(root);
  const store = path.join(root, 'image/overlay2');
  // config.v2.json: null (the crash of the issue), and wrong types in fields.
  const nullCfg = editConfig(root, ids.get(CONTAINERS.created)!, () => 'null');
  const wrongCfg = editConfig(root, ids.get(CONTAINERS.stopped)!, (c) => ({ ...c, Name: 42, State: [c.State], MountPoints: 'x' }));
  const mountsCfg = editConfig(root, ids.get(CONTAINERS.running)!, (c) => ({ ...c, MountPoints: { ...(c.MountPoints ?? {}), '/gone': null }, Config: { ...c.Config, Image: 7 } }));
  // repositories.json: a repository that is a string, a reference that is a number.
  const reposFile = path.join(store, 'repositories.json');
  const repos = JSON.parse(fs.readFileSync(reposFile, 'utf8'));
  repos.Repositories.evil = 'not-an-object';
  repos.Repositories['ls-base'] = { ...repos.Repositories['ls-base'], 'ls-base:odd': 5 };
  fs.writeFileSync(reposFile, JSON.stringify(repos));
  // imagedb: ls-deep:1's config nested 100 000 deep; a config that is an array, stored under its own digest.
  const deepId = repos.Repositories['ls-deep']['ls-deep:1'].slice(7);
  const deepCfg = path.join(store, 'imagedb/content/sha256', deepId);
  fs.writeFileSync(deepCfg, '{"rootfs":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}');
  const arrayBytes = Buffer.from('[]');
  const arrayCfg = path.join(store, 'imagedb/content/sha256', createHash('sha256').update(arrayBytes).digest('hex'));
  fs.writeFileSync(arrayCfg, arrayBytes);

  const { code, rep, stderr } = await reportJson(root);
  assert.equal(code, 4, `exit 4 (error-severity problems), not a crash: ${stderr}`);
  const at = (c: string, p: string) => rep.problems.filter((x: any) => x.code === c && x.path === p);
  assert.match(at('containers.config.bad-shape', nullCfg)[0]?.message ?? '', /config\.v2\.json is unusable, the container is left out: the document is null, expected a JSON object/);
  assert.match(at('containers.config.bad-shape', wrongCfg)[0]?.message ?? '', /Name is a number \(42\), expected a string/);
  assert.match(at('containers.config.bad-shape', wrongCfg)[0].message, /State is an array, expected an object/);
  assert.match(at('containers.config.bad-shape', wrongCfg)[0].message, /MountPoints is a string \("x"\), expected an object/);
  assert.match(at('containers.config.bad-shape', mountsCfg)[0]?.message ?? '', /MountPoints\["\/gone"\] is null, expected an object; .*Config\.Image is a number \(7\)|Config\.Image is a number \(7\).*MountPoints\["\/gone"\] is null/);
  assert.match(at('repositories.bad-shape', reposFile)[0]?.message ?? '', /Repositories\.evil is a string \("not-an-object"\), expected an object.*Repositories\["ls-base"\]\["ls-base:odd"\] is a number \(5\), expected a string/);
  assert.match(at('config.invalid-json', deepCfg)[0]?.message ?? '', /nested more than 512 levels deep/);
  assert.equal(at('config.bad-shape', arrayCfg).length, 1, JSON.stringify(rep.problems.filter((p: any) => p.path === arrayCfg)));
  // The rest of the analysis goes on: the other images, and every container whose config is usable.
  const tags = rep.images.flatMap((i: any) => i.tags);
  for (const tag of [IMAGES.base, IMAGES.bloat]) assert.ok(tags.includes(tag), `${tag} still listed: ${tags}`);
  assert.ok(!tags.includes(IMAGES.deep), 'the image whose config is unusable is not invented');
  const byId = new Map(rep.containers.map((c: any) => [c.id, c]));
  assert.equal(byId.has(ids.get(CONTAINERS.created)), false, 'a null config.v2.json: the container is left out');
  const stopped: any = byId.get(ids.get(CONTAINERS.stopped));
  assert.equal(stopped?.name, ids.get(CONTAINERS.stopped)!.slice(0, 12), 'a numeric Name reads as absent: the container is shown by its ID');
  const running: any = byId.get(ids.get(CONTAINERS.running));
  assert.equal(running?.name, CONTAINERS.running);
  assert.equal(running?.state, 'running');
  // Its changes are still analysed: the same as on the untouched root.
  const ours = await cli(['changes', root, '--container', CONTAINERS.running]);
  const theirs = await cli(['changes', e.dataRoot, '--container', CONTAINERS.running]);
  assert.equal(theirs.code, 0, theirs.stderr);
  assert.equal(ours.stdout, theirs.stdout);
  // The text report lists the problems too, and does not crash either.
  const text = await cli(['report', root]);
  assert.equal(text.code, 4, text.stderr);
  assert.match(text.stdout, /containers\.config\.bad-shape/);
});

test('docker20 copy: the store renamed to every graph driver we do not read is recognised as that driver, exit 3', async (t) => {
  const e = getEngine(t, 'docker20');
  if (!e) return;
  const root = await copyOf(e);
  assert.ok(fs.existsSync(path.join(root, 'containerd/daemon/io.containerd.metadata.v1.bolt/meta.db')), 'a 20.10 root holds a managed containerd');
  const images = fs.readdirSync(path.join(root, 'image/overlay2/imagedb/content/sha256')).length;
  let current = 'overlay2';
  for (const { name: driver } of GRAPH_DRIVERS.filter((d) => !(d.name in DOCKER_DRIVERS))) {
    fs.renameSync(path.join(root, 'image', current), path.join(root, 'image', driver));
    fs.renameSync(path.join(root, current), path.join(root, driver));
    current = driver;
    const before = await hashTree(root);
    const r = await cli(['report', root]);
    assert.equal(await hashTree(root), before);
    assert.equal(r.code, 3, `${driver}: ${r.stdout.slice(0, 200)} ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`: is a Docker data root on the ${driver} graph driver \\(${driver}: ${images} image config\\(s\\) in image/${driver}/imagedb/(?: and \\d+ layer dir\\(s\\) in ${driver}/[a-z]*/?)?\\), which layerscope cannot read`));
    assert.match(r.stderr, new RegExp(`dockerd --data-root COPY --storage-driver ${driver}`));
  }
});

test('docker20 copy as the engine keeps it, read by nobody: exit 3, the root named, needs root', async (t) => {
  const e = getEngine(t, 'docker20');
  if (!e) return;
  const root = await copyOf(e);
  const mode = fs.statSync(root).mode & 0o777;
  assert.equal(mode & 0o005, 0, `the engine keeps its root closed to others (mode ${mode.toString(8)})`);
  assert.equal(fs.statSync(path.join(root, 'image')).mode & 0o777, 0o700);
  const before = await hashTree(root);
  for (const args of [['report', root], ['report', root, '--format', 'json'], ['files', root, '--image', IMAGES.bloat], ['changes', root, '--container', CONTAINERS.stopped]]) {
    const r = await cli(args, { user: 65534 });
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`${root}: cannot be read (EACCES: permission denied): reading a Docker data root or a containerd root needs root`), r.stderr);
    assert.doesNotMatch(r.stderr, /neither a Docker data root|holds no Docker image store/);
  }
  // A root opened to others, with image/ still 0700 as the engine keeps it: that directory is named.
  fs.chmodSync(root, 0o755);
  const r = await cli(['report', root], { user: 65534 });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /: cannot be read \(EACCES: permission denied\): reading a Docker data root .* needs root/);
  assert.ok(!r.stderr.includes(`${root}: cannot be read`), `a directory below the root is named: ${r.stderr}`);
  fs.chmodSync(root, mode);
  assert.equal(await hashTree(root), before);
});

test('docker26c copy: config.v2.json of the wrong shape on the containerd store: problems, the other containers listed', async (t) => {
  const e = getEngine(t, 'docker26c');
  if (!e) return;
  await waitIdle(e);
  const root = await copyOf(e);
  const ids = containerIds(root);
  const nullCfg = editConfig(root, ids.get(CONTAINERS.created)!, () => 'null');
  const wrongCfg = editConfig(root, ids.get(CONTAINERS.stopped)!, (c) => ({ ...c, State: 'exited', MountPoints: [null] }));
  const { code, rep, stderr } = await reportJson(root);
  assert.equal(code, 4, stderr);
  const codes = (p: string) => rep.problems.filter((x: any) => x.path === p).map((x: any) => x.code);
  assert.deepEqual(codes(nullCfg), ['containers.config.bad-shape']);
  assert.deepEqual(codes(wrongCfg), ['containers.config.bad-shape']);
  assert.match(rep.problems.find((x: any) => x.path === wrongCfg).message, /State is a string \("exited"\), expected an object; MountPoints is an array, expected an object/);
  const names = rep.containers.map((c: any) => c.name).sort();
  assert.deepEqual(names, [CONTAINERS.running, CONTAINERS.stopped, ...Object.keys(PLANTED), ...VOLUME_CONTAINERS, ...MOUNT_CONTAINERS, ...Object.keys(LOG_CONTAINERS)].sort());
  assert.ok(rep.images.some((i: any) => i.tags.includes(IMAGES.bloat)));
});
