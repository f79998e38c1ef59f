/**
 * The workflow commands (ci, diff, extract, export, timeline) against a real Docker 20.10 engine and its data
 * root, each checked against the engine's own answer: `docker export`, `docker cp`, `docker save`'s layer tars,
 * `docker diff`. The evidence (every layer, image and container directory we read) is hashed before and after.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { copyTree, getEngine, hashTree, waitIdle, type Engine } from '../support/engine.js';
import { IMAGES, CONTAINERS, CONTAINER_CHANGES, BLOAT } from '../support/fixtures-manifest.mjs';
import { cleanLayerPath } from '../../src/core/model/path.js';
import { EXIT } from '../../src/cli/command.js';
import { ciCommand } from '../../src/cli/commands/ci.js';
import { diffCommand } from '../../src/cli/commands/diff.js';
import { extractCommand } from '../../src/cli/commands/extract.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { timelineCommand } from '../../src/cli/commands/timeline.js';
import { runCmd } from './helpers.js';
import { savedLayers, tarManifest, type TarItem } from './engine-answers.js';

// ------------------------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------------------------

/** Relative paths (byte strings) of everything in a directory tree, by lstat (the init layer's diff dir). */
function listTree(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (rel: string) => {
    const host = Buffer.concat([Buffer.from(dir), Buffer.from(rel ? '/' + rel : '', 'latin1')]);
    for (const n of fs.readdirSync(host, { encoding: 'buffer' })) {
      const r = rel ? rel + '/' + n.toString('latin1') : n.toString('latin1');
      out.add(r);
      if (fs.lstatSync(Buffer.concat([host, Buffer.from('/'), n])).isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

interface Fixture {
  e: Engine;
  root: string;
  tmp: string;
  /**
   * Paths the engine itself puts in a fresh container (its init layer, and mount points it creates in the RW dir
   * when mounting it), from the engine's GraphDriver data; asked for after `docker export`.
   */
  initPaths(container: string): Promise<Set<string>>;
  exportOf(container: string): Promise<Map<string, TarItem>>;
  /**
   * The engine's answers are asked for once, all before the evidence is hashed (prefetch): docker cp/export/diff
   * mount containers, and Docker 26 then writes into their RW dirs (mount points). The hashes before and after
   * bracket our commands only.
   */
  memo<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

async function inspect(e: Engine, kind: 'image' | 'container', ref: string): Promise<any> {
  return JSON.parse((await e.docker([kind, 'inspect', ref])).stdout)[0];
}

/** Dirs we read: the layer dirs of the fixture images, the fixture containers' dirs, the image store. */
/** The containerd image store (docker26c): the engine's inspect gives no GraphDriver data. */
const CONTAINERD_STORE = 'containerd/daemon';

async function evidenceDirs(e: Engine, images: string[], containers: string[]): Promise<string[]> {
  const dirs = new Set<string>();
  if (!fs.existsSync(path.join(e.dataRoot, 'image/overlay2'))) {
    // Snapshots (layers, RW and init dirs) and the content store, whole.
    for (const sub of ['io.containerd.snapshotter.v1.overlayfs/snapshots', 'io.containerd.content.v1.content']) dirs.add(path.join(e.dataRoot, CONTAINERD_STORE, sub));
    return [...dirs].sort();
  }
  // The diff dirs themselves: merged/ and work/ beside them belong to mounts the engine makes for docker
  // export/cp/diff, which this test runs too.
  const add = (p: string | undefined) => {
    for (const d of (p ?? '').split(':').filter(Boolean)) dirs.add(d);
  };
  for (const i of images) {
    const g = (await inspect(e, 'image', i)).GraphDriver.Data;
    add(g.LowerDir);
    add(g.UpperDir);
  }
  for (const c of containers) {
    const g = (await inspect(e, 'container', c)).GraphDriver.Data;
    add(g.UpperDir);
    add(g.LowerDir?.split(':')[0]);
  }
  for (const sub of ['image/overlay2/imagedb', 'image/overlay2/layerdb/sha256']) dirs.add(path.join(e.dataRoot, sub));
  return [...dirs].sort();
}

async function hashAll(dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) {
    const st = fs.lstatSync(d);
    out.push(`${d} ${st.isFile() ? `${sha(fs.readFileSync(d))} ${st.mtimeMs} ${st.mode}` : await hashTree(d)}`);
  }
  return out;
}

const CREATED = { base: 'ls-wf-base', deep: 'ls-wf-deep', committed: 'ls-wf-committed' };
const COMMITTED_IMAGE = 'ls-wf-committed:1';

// ------------------------------------------------------------------------------------------------------------

for (const which of ['docker20', 'docker26', 'docker26c'] as const) {
  test(`workflow commands against a ${which} data root`, { timeout: 600_000 }, async (t: TestContext) => {
    const e = getEngine(t, which);
    if (!e) return;
    const root = e.dataRoot;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-wf-'));
    // Containers we need for the engine's answers, made before the evidence is hashed; removed at the end.
    await e.docker(['rm', '-f', CREATED.base, CREATED.deep, CREATED.committed], { reject: false });
    await e.docker(['rmi', COMMITTED_IMAGE], { reject: false });
    await e.docker(['commit', CONTAINERS.stopped, COMMITTED_IMAGE]);
    await e.docker(['create', '--name', CREATED.base, '--network', 'none', IMAGES.base, 'true']);
    await e.docker(['create', '--name', CREATED.deep, '--network', 'none', IMAGES.deep, 'true']);
    await e.docker(['create', '--name', CREATED.committed, '--network', 'none', COMMITTED_IMAGE, 'true']);
    const containerOf: Record<string, string> = { [IMAGES.base]: CREATED.base, [IMAGES.bloat]: CONTAINERS.created, [IMAGES.deep]: CREATED.deep, [COMMITTED_IMAGE]: CREATED.committed };
    const memo = new Map<string, Promise<unknown>>();
    const fx: Fixture = {
      e,
      root,
      tmp,
      initPaths(c) {
        return fx.memo(`init ${c}`, () => initPathsNow(c));
      },
      exportOf(c) {
        return fx.memo(`export ${c}`, async () => tarManifest((await e.docker(['export', c], { timeout: 300_000 })).stdoutBuffer));
      },
      memo<T>(key: string, fn: () => Promise<T>): Promise<T> {
        let p = memo.get(key);
        if (!p) {
          p = fn();
          memo.set(key, p);
        }
        return p as Promise<T>;
      },
    };
    async function initPathsNow(c: string): Promise<Set<string>> {
      const data = (await inspect(fx.e, 'container', c)).GraphDriver.Data;
      if (!data) {
        // The containerd store does not say where the init snapshot is: take it from our reading of the root
        // (only used to leave its placeholders out of the comparisons).
        const { openSource } = await import('../../src/core/sources/open.js');
        const s = await openSource(fx.root);
        try {
          const ci = s.containers.find((x) => x.name === c);
          assert.ok(ci?.initDir, `init dir of ${c}`);
          // Docker 26 creates mount points (dev/pts, dev/shm...) in a fresh container's RW dir when it mounts it for
          // export/cp: those are the engine's too.
          // And dev/pts, dev/shm: the graphdriver's init layer holds them; the containerd store's init snapshot does
          // not, yet docker export lists them (mount points of the engine's own temporary mount).
          return new Set([...listTree(ci.initDir), ...(ci.rwDir ? listTree(ci.rwDir) : []), 'dev/pts', 'dev/shm']);
        } finally {
          await s.close();
        }
      }
      const lower: string = data.LowerDir;
      const init = lower.split(':')[0]!;
      assert.match(init, /-init\/diff$/);
      return new Set([...listTree(init), ...listTree(data.UpperDir)]);
    }
    // The engine's answers, before the evidence is hashed.
    for (const c of Object.values(containerOf)) {
      await fx.exportOf(c);
      await fx.initPaths(c);
    }
    for (const p of EXTRACT_PATHS) await dockerCp(fx, CONTAINERS.created, p);
    await saveLayers(fx, IMAGES.bloat);
    for (const c of Object.values(CONTAINERS)) await dockerDiffOf(fx, c);
    const arch = await archives(fx);
    const dirs = await evidenceDirs(e, [IMAGES.base, IMAGES.bloat, IMAGES.deep, COMMITTED_IMAGE], [CONTAINERS.stopped, CONTAINERS.running, CONTAINERS.created, ...Object.values(CREATED)]);
    // The archives are evidence too: the save file (hashed whole) and the OCI layout dir.
    dirs.push(arch.save);
    if (arch.oci) dirs.push(arch.oci);
    await waitIdle(e);
    const before = await hashAll(dirs);
    try {
      await t.test('ci', (tt) => ciTests(tt, fx));
      await t.test('diff agrees with docker export trees', (tt) => diffTests(tt, fx, containerOf));
      await t.test('extract matches docker cp and docker save layer tars', (tt) => extractTests(tt, fx));
      await t.test('export equals docker export minus the init layer', (tt) => exportTests(tt, fx, containerOf));
      await t.test('timeline covers docker diff and flags the planted changes', (tt) => timelineTests(tt, fx));
      await t.test('archives: extract, export and diff --content read a docker save file and an OCI layout dir', (tt) => archiveTests(tt, fx, containerOf));
      const after = await hashAll(dirs);
      assert.deepEqual(after, before, 'the evidence changed while the workflow commands read it');
    } finally {
      await e.docker(['rm', '-f', CREATED.base, CREATED.deep, CREATED.committed], { reject: false });
      await e.docker(['rmi', COMMITTED_IMAGE], { reject: false });
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}

// ------------------------------------------------------------------------------------------------------------
// ci
// ------------------------------------------------------------------------------------------------------------

/** Hidden bytes of ls-bloat:1, from its Dockerfile (not from our code): 3 MiB big.bin plus the small files. */
const BLOAT_HIDDEN =
  BLOAT.bigFile.size +
  'same-content\n'.length + // chmod-only.txt copied up in L4
  'original\n'.length + // overwritten in L4
  'v1\n'.length + // reborn.txt deleted in L5
  'a\n'.length + 'b\n'.length + 'keep\n'.length + // opq/ made opaque in L6
  'x\n'.length + 'deeper\n'.length + 'y\n'.length; // gone/ deleted in L11

async function ciTests(t: TestContext, fx: Fixture): Promise<void> {
  const ci = (...args: string[]) => runCmd(ciCommand, [fx.root, '--image', IMAGES.bloat, ...args]);
  const json = async (...args: string[]) => {
    const r = await ci(...args, '--format', 'json');
    return { code: r.code, doc: JSON.parse(r.stdout) as any };
  };
  const base = await json('--lowest-efficiency', '0');
  assert.equal(base.code, EXIT.ok);
  const img = base.doc.images[0];
  assert.equal(img.metrics.hiddenBytes, BLOAT_HIDDEN);
  // The base is the whole FROM image (ls-base:1, one layer), found without being told; intermediates skipped.
  assert.equal(img.base.method, 'ancestor');
  assert.equal(img.base.layers, 1);
  const eff = img.metrics.efficiency as number;
  const userPct = img.metrics.userWastedPercent as number;
  assert.equal(img.metrics.userHiddenBytes, BLOAT_HIDDEN, 'every hidden byte of ls-bloat was hidden by a layer above ls-base');

  await t.test('highestWastedBytes: passes at the exact hidden byte count, fails one byte below', async () => {
    assert.equal((await ci('--highest-wasted-bytes', String(BLOAT_HIDDEN), '--lowest-efficiency', 'disabled', '--highest-user-wasted-percent', 'disabled')).code, EXIT.ok);
    const r = await ci('--highest-wasted-bytes', String(BLOAT_HIDDEN - 1), '--lowest-efficiency', 'disabled', '--highest-user-wasted-percent', 'disabled');
    assert.equal(r.code, EXIT.failed);
    assert.match(r.stdout, /FAIL {2}highestWastedBytes/);
    assert.match(r.stdout, /\/data\/big\.bin/);
  });
  await t.test('lowestEfficiency and highestUserWastedPercent around the measured values', async () => {
    assert.equal((await ci('--lowest-efficiency', String(eff - 1e-9), '--highest-user-wasted-percent', 'disabled')).code, EXIT.ok);
    assert.equal((await ci('--lowest-efficiency', String(eff + 1e-6), '--highest-user-wasted-percent', 'disabled')).code, EXIT.failed);
    assert.equal((await ci('--lowest-efficiency', 'disabled', '--highest-user-wasted-percent', String(Math.min(1, userPct + 1e-9)))).code, EXIT.ok);
    assert.equal((await ci('--lowest-efficiency', 'disabled', '--highest-user-wasted-percent', String(userPct - 1e-6))).code, EXIT.failed);
  });
  await t.test('--base and --base-layers move the user/base split', async () => {
    const all = await json('--base-layers', '0', '--highest-user-wasted-percent', '1', '--lowest-efficiency', '0');
    assert.equal(all.doc.images[0].base.layers, 0);
    const b = await json('--base', IMAGES.base, '--lowest-efficiency', '0');
    assert.equal(b.doc.images[0].base.method, 'ref');
    assert.equal(b.doc.images[0].base.layers, 1);
    // ls-deep:1 is not an ancestor of ls-bloat:1: only their common prefix (ls-base's layer) counts as base.
    const d = await json('--base', IMAGES.deep, '--lowest-efficiency', '0');
    assert.equal(d.doc.images[0].base.layers, 1);
  });
  await t.test('a .dive-ci file as dive writes it, found in the working directory, and JUnit output', async () => {
    const dir = fs.mkdtempSync(path.join(fx.tmp, 'cwd-'));
    fs.writeFileSync(path.join(dir, '.dive-ci'), `rules:\n  lowestEfficiency: 0.1\n  highestWastedBytes: 3MB\n  highestUserWastedPercent: disabled\n`);
    const junit = path.join(dir, 'ci.xml');
    const cwd = process.cwd();
    process.chdir(dir);
    let r;
    try {
      r = await ci('--junit', junit);
    } finally {
      process.chdir(cwd);
    }
    // 3 MB (SI) = 3 000 000 < 3 145 773 hidden bytes: dive's unit, our count.
    assert.equal(r.code, EXIT.failed, r.stdout + r.stderr);
    assert.match(r.stdout, /rules from: .*\.dive-ci/);
    const xml = fs.readFileSync(junit, 'utf8');
    assert.match(xml, /<testsuites name="layerscope ci" tests="3" failures="1" errors="0" skipped="1"/);
    assert.match(xml, /name="highestWastedBytes" time="0">\n\s*<failure type="threshold"/);
    assert.match(xml, /name="lowestEfficiency" time="0"\/>/);
    const yaml = path.join(dir, 'gate.yaml');
    fs.writeFileSync(yaml, `base: ${IMAGES.base}\nrules:\n  highestWastedBytes: 4MB\n  lowestEfficiency: disabled\n  highestUserWastedPercent: disabled\n`);
    assert.equal((await ci('--config', yaml)).code, EXIT.ok);
    fs.writeFileSync(yaml, `rules:\n  lowestEfficency: 0.9\n`);
    assert.equal((await ci('--config', yaml)).code, EXIT.usage, 'a misspelt rule is a usage error, not a silently disabled gate');
  });
  // The damage below is done to a graphdriver store (an overlay2 layer dir); the containerd store has its own
  // damaged-root tests in test/sources/containerd.
  if (fs.existsSync(path.join(fx.root, 'image/overlay2'))) await t.test('a damaged data root (a layer dir gone): figures from what is left, exit 4, JUnit says so', async (tt) => {
    const copy = path.join(fx.tmp, 'damaged-root');
    await copyTree(fx.root, copy);
    const { openSource } = await import('../../src/core/sources/open.js');
    const s = await openSource(copy);
    const layer3 = s.images.find((i) => i.tags.includes(IMAGES.bloat))!.layers[BLOAT.bigFile.addedIn]!.location!;
    await s.close();
    fs.rmSync(layer3, { recursive: true });
    const junit = path.join(fx.tmp, 'damaged.xml');
    const r = await runCmd(ciCommand, [copy, '--image', IMAGES.bloat, '--lowest-efficiency', '0', '--highest-user-wasted-percent', 'disabled', '--junit', junit]);
    assert.equal(r.code, EXIT.evidenceProblems, r.stdout + r.stderr);
    assert.match(r.stdout, /CI: PASS, but the evidence has errors/);
    assert.match(r.stdout, /error: /);
    assert.match(fs.readFileSync(junit, 'utf8'), /<testcase classname="layerscope.ci.evidence" name="readable" time="0">\n\s*<failure type="evidence"/);
    const f = await runCmd(ciCommand, [copy, '--image', IMAGES.bloat, '--highest-wasted-bytes', '0']);
    assert.equal(f.code, EXIT.failed, 'a failed rule outranks evidence errors');
    fs.rmSync(copy, { recursive: true, force: true });
  });
  await t.test('errors: missing source, not a data root, broken archive, unknown image', async () => {
    assert.equal((await runCmd(ciCommand, [path.join(fx.tmp, 'nope')])).code, EXIT.sourceError);
    const notRoot = fs.mkdtempSync(path.join(fx.tmp, 'plain-'));
    assert.equal((await runCmd(ciCommand, [notRoot])).code, EXIT.sourceError);
    const broken = path.join(fx.tmp, 'broken.tar');
    fs.writeFileSync(broken, Buffer.concat([Buffer.from('manifest.json'), Buffer.alloc(2000, 7)]));
    assert.equal((await runCmd(ciCommand, [broken])).code, EXIT.sourceError);
    assert.equal((await runCmd(ciCommand, [fx.root, '--image', 'no-such:1'])).code, EXIT.sourceError);
    assert.equal((await runCmd(ciCommand, [fx.root, '--image', IMAGES.bloat, '--format', 'yaml'])).code, EXIT.usage);
  });
}

// ------------------------------------------------------------------------------------------------------------
// diff
// ------------------------------------------------------------------------------------------------------------

type Change = { change: 'added' | 'removed' | 'changed'; content: boolean; meta: string[] };

/** The diff of two export trees, each minus its container's init-layer paths. */
function exportDiff(a: Map<string, TarItem>, b: Map<string, TarItem>, skip: Set<string>): Map<string, Change> {
  const out = new Map<string, Change>();
  for (const [p, x] of a) {
    if (skip.has(p)) continue;
    const y = b.get(p);
    if (!y) {
      out.set(p, { change: 'removed', content: false, meta: [] });
      continue;
    }
    const meta: string[] = [];
    if (x.type !== y.type) meta.push('type');
    else {
      if (x.mode !== y.mode) meta.push('mode');
      if (x.uid !== y.uid || x.gid !== y.gid) meta.push('owner');
      if (x.type !== 'dir' && x.mtime !== y.mtime) meta.push('mtime');
      if (x.linkname !== y.linkname) meta.push('target');
      if (x.dev !== y.dev) meta.push('device');
    }
    const content = x.type === 'file' && y.type === 'file' && x.sha256 !== y.sha256;
    if (meta.length || content) out.set(p, { change: 'changed', content, meta });
  }
  for (const p of b.keys()) if (!skip.has(p) && !a.has(p)) out.set(p, { change: 'added', content: false, meta: [] });
  return out;
}

async function diffTests(t: TestContext, fx: Fixture, containerOf: Record<string, string>): Promise<void> {
  const pairs: [string, string][] = [
    [IMAGES.base, IMAGES.bloat],
    [IMAGES.bloat, IMAGES.deep],
    [IMAGES.bloat, COMMITTED_IMAGE],
  ];
  for (const [A, B] of pairs) {
    await t.test(`${A} vs ${B}`, async () => {
      const r = await runCmd(diffCommand, [`${fx.root}#${A}`, `${fx.root}#${B}`, '--content', '--format', 'json']);
      assert.equal(r.code, EXIT.ok, r.stderr);
      const doc = JSON.parse(r.stdout);
      const ours = new Map<string, { change: string; differences: string[]; a: any; b: any }>();
      for (const f of doc.files) {
        const raw = f.pathBase64 ? Buffer.from(f.pathBase64, 'base64').toString('latin1') : Buffer.from(f.path, 'utf8').toString('latin1');
        ours.set(raw.slice(1), f);
      }
      const ca = containerOf[A]!;
      const cb = containerOf[B]!;
      const skip = new Set([...(await fx.initPaths(ca)), ...(await fx.initPaths(cb))]);
      const want = exportDiff(await fx.exportOf(ca), await fx.exportOf(cb), skip);
      for (const p of skip) ours.delete(p);
      const problems: string[] = [];
      for (const [p, w] of want) {
        const o = ours.get(p);
        if (!o) {
          problems.push(`missing ${w.change} ${JSON.stringify(p)} (${w.meta.join(',')}${w.content ? ' content' : ''})`);
          continue;
        }
        if (o.change !== w.change) problems.push(`${JSON.stringify(p)}: ours ${o.change}, export ${w.change}`);
        if (w.change === 'changed') {
          if (o.differences.includes('content') !== w.content) problems.push(`${JSON.stringify(p)}: content ours ${o.differences}, export ${w.content}`);
          for (const m of w.meta) if (!o.differences.includes(m)) problems.push(`${JSON.stringify(p)}: export says ${m} differs; ours ${o.differences}`);
        }
      }
      for (const [p, o] of ours) {
        if (want.has(p)) continue;
        // Allowed only: sub-second mtime differences, which docker export (whole seconds) cannot show.
        const subSecond = o.change === 'changed' && o.differences.every((d) => d === 'mtime') && o.a.mtime === o.b.mtime;
        if (!subSecond) problems.push(`extra ${o.change} ${JSON.stringify(p)} (${o.differences})`);
      }
      assert.deepEqual(problems, []);
      assert.ok(want.size > 0);
      if (B === COMMITTED_IMAGE) {
        // The committed container's changes, seen as an image diff.
        assert.equal(ours.get('data/overwritten.txt')?.change, 'changed');
        assert.ok(ours.get('data/overwritten.txt')!.differences.includes('content'));
        assert.deepEqual(ours.get('data/chmod-only.txt')?.differences.filter((d) => d !== 'mtime'), ['mode']);
        assert.equal(ours.get('data/added.txt')?.change, 'added');
        assert.equal(ours.get('data/f')?.change, 'removed');
        assert.equal(doc.commonPrefix, doc.a.layers.length, 'a committed container sits on all of its image\'s layers');
      }
    });
  }
  await t.test('without --content: same size and mtime count as equal; text output escapes names', async () => {
    const r = await runCmd(diffCommand, [fx.root, '--image-a', IMAGES.base, '--image-b', IMAGES.bloat]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /common layer prefix: 1 layer/);
    assert.match(r.stdout, /\+ \/names\/title-\\e\]0;PWNED\\x07\.txt/);
    assert.ok(!r.stdout.includes('\x1b'), 'no raw escape sequences reach the terminal');
  });
}

// ------------------------------------------------------------------------------------------------------------
// extract
// ------------------------------------------------------------------------------------------------------------

const EXTRACT_PATHS = ['/data', '/links', '/names', '/usr/local/bin', '/special/owned-by-1000', '/app', '/opq'];

function dockerDiffOf(fx: Fixture, name: string): Promise<string[]> {
  return fx.memo(`diff ${name}`, async () => (await fx.e.docker(['diff', name])).stdout.split('\n').filter(Boolean));
}

function dockerCp(fx: Fixture, container: string, p: string): Promise<Map<string, TarItem>> {
  return fx.memo(`cp ${container} ${p}`, () => dockerCpNow(fx, container, p));
}

async function dockerCpNow(fx: Fixture, container: string, p: string): Promise<Map<string, TarItem>> {
  const r = await fx.e.docker(['cp', `${container}:${p}`, '-']);
  const m = await tarManifest(r.stdoutBuffer);
  // docker cp names members relative to the parent of p: re-root them at the image root.
  const parent = cleanLayerPath(path.posix.dirname(p));
  const out = new Map<string, TarItem>();
  for (const [k, v] of m) out.set(parent ? `${parent}/${k}` : k, v);
  return out;
}

/** What we wrote, as the same kind of manifest (lstat, never following). */
function dirManifest(dir: string, rels: Iterable<string>): Map<string, TarItem> {
  const out = new Map<string, TarItem>();
  for (const rel of rels) {
    const host = Buffer.concat([Buffer.from(dir + '/'), Buffer.from(rel, 'latin1')]);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch {
      continue;
    }
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
    out.set(rel, {
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: type === 'file' ? st.size : 0,
      mtime: Math.floor(st.mtimeMs / 1000),
      linkname: type === 'symlink' ? fs.readlinkSync(host, { encoding: 'latin1' }) : '',
      dev: '',
      sha256: type === 'file' ? sha(fs.readFileSync(host)) : null,
    });
  }
  return out;
}

function saveLayers(fx: Fixture, image: string): Promise<Map<string, TarItem>[]> {
  return fx.memo(`save ${image}`, () => saveLayersNow(fx, image));
}

function saveLayersNow(fx: Fixture, image: string): Promise<Map<string, TarItem>[]> {
  return savedLayers(fx.e, image);
}

async function extractTests(t: TestContext, fx: Fixture): Promise<void> {
  const img = IMAGES.bloat;
  await t.test('visible files: same bytes, modes, mtimes, symlink targets as docker cp', async () => {
    const out = path.join(fx.tmp, 'x-visible');
    const paths = EXTRACT_PATHS;
    const r = await runCmd(extractCommand, [fx.root, '--image', img, ...paths, '-o', out]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    for (const p of paths) {
      const want = await dockerCp(fx, CONTAINERS.created, p);
      const got = dirManifest(out, want.keys());
      assert.ok(want.size > 0);
      for (const [k, w] of want) {
        const g = got.get(k);
        assert.ok(g, `missing ${JSON.stringify(k)}`);
        assert.deepEqual({ ...g, dev: w.dev, uid: w.uid, gid: w.gid }, w, JSON.stringify(k));
        assert.deepEqual([g.uid, g.gid], [w.uid, w.gid], `owner of ${JSON.stringify(k)} (restored as root)`);
      }
      // Nothing more than docker cp gives, either (the opaque dir's hidden children stay hidden).
      const all = [...listTree(out)].filter((k) => k === cleanLayerPath(p) || k.startsWith(cleanLayerPath(p) + '/'));
      assert.deepEqual(all.sort(), [...want.keys()].sort());
    }
    // The escaping symlink is a symlink in the output, pointing where it pointed, never followed.
    const esc = path.join(out, 'links/escape');
    assert.ok(fs.lstatSync(esc).isSymbolicLink());
    assert.equal(fs.readlinkSync(esc), BLOAT.symlinks['links/escape']);
  });
  await t.test('deleted files: --layer N recovers the bytes of docker save\'s layer tar', async () => {
    const layers = await saveLayers(fx, img);
    const big = layers[BLOAT.bigFile.addedIn]!.get(BLOAT.bigFile.path)!;
    assert.equal(big.size, BLOAT.bigFile.size);
    const out = path.join(fx.tmp, 'x-deleted');
    const r = await runCmd(extractCommand, [fx.root, '--image', img, '--layer', String(BLOAT.bigFile.deletedIn - 1), '/data/big.bin', '-o', out]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    const got = dirManifest(out, ['data/big.bin']).get('data/big.bin')!;
    assert.deepEqual(got, big);
    // At the top it is gone, and the error says where it still is.
    const top = await runCmd(extractCommand, [fx.root, '--image', img, '/data/big.bin', '-o', path.join(fx.tmp, 'x-top')]);
    assert.equal(top.code, EXIT.sourceError);
    assert.match(top.stderr, /in layers 3\.\.4 \(deleted by layer 5\)/);
    // A whole deleted tree, from the layer that holds it (--layer-only): exactly layer 2's members under gone/.
    const out2 = path.join(fx.tmp, 'x-gone');
    const r2 = await runCmd(extractCommand, [fx.root, '--image', img, '--layer', '2', '--layer-only', '/gone', '-o', out2]);
    assert.equal(r2.code, EXIT.ok, r2.stderr);
    const want = new Map([...layers[2]!].filter(([k]) => k === 'gone' || k.startsWith('gone/')));
    assert.deepEqual([...want.keys()].sort(), [...BLOAT.deletedTree.hidden, 'gone'].sort());
    const got2 = dirManifest(out2, want.keys());
    for (const [k, w] of want) assert.deepEqual(got2.get(k), w, k);
    // The hardlinked pair of layer 2 comes back as one inode.
    const out3 = path.join(fx.tmp, 'x-links');
    assert.equal((await runCmd(extractCommand, [fx.root, '--image', img, '--layer', '2', '/data/f', '/data/f-link', '-o', out3])).code, EXIT.ok);
    assert.equal(fs.statSync(path.join(out3, 'data/f')).ino, fs.statSync(path.join(out3, 'data/f-link')).ino);
  });
  await t.test('never writes outside DIR, never overwrites, never into the evidence', async () => {
    const out = path.join(fx.tmp, 'x-trap');
    const outside = path.join(fx.tmp, 'outside');
    fs.mkdirSync(out);
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(out, 'data'));
    const r = await runCmd(extractCommand, [fx.root, '--image', img, '/data', '-o', out]);
    assert.notEqual(r.code, EXIT.ok);
    assert.match(r.stderr, /symlink/);
    // The same trap as a parent of a file.
    const rf = await runCmd(extractCommand, [fx.root, '--image', img, '/data/f', '-o', out]);
    assert.notEqual(rf.code, EXIT.ok);
    assert.match(rf.stderr, /parent in the output is a symlink/);
    assert.deepEqual(fs.readdirSync(outside), []);
    // A path through a symlink is not resolved (links/escape -> ../../../../etc/passwd).
    const through = await runCmd(extractCommand, [fx.root, '--image', img, '/links/escape/x', '-o', path.join(fx.tmp, 'x-through')]);
    assert.equal(through.code, EXIT.sourceError);
    assert.match(through.stderr, /symlinks are not followed/);
    assert.ok(!fs.existsSync(path.join(fx.tmp, 'x-through')));
    const out2 = path.join(fx.tmp, 'x-exists');
    fs.mkdirSync(path.join(out2, 'app'), { recursive: true });
    fs.writeFileSync(path.join(out2, 'app/payload.txt'), 'mine');
    const r2 = await runCmd(extractCommand, [fx.root, '--image', img, '/app', '-o', out2]);
    assert.notEqual(r2.code, EXIT.ok);
    assert.equal(fs.readFileSync(path.join(out2, 'app/payload.txt'), 'utf8'), 'mine');
    const inside = path.join(fx.root, 'ls-wf-should-not-exist');
    const r3 = await runCmd(extractCommand, [fx.root, '--image', img, '/app', '-o', inside]);
    assert.equal(r3.code, EXIT.usage);
    assert.ok(!fs.existsSync(inside));
    assert.equal((await runCmd(exportCommand, [fx.root, '--image', img, '-o', path.join(fx.root, 'x.tar')])).code, EXIT.usage);
    assert.ok(!fs.existsSync(path.join(fx.root, 'x.tar')));
  });
}

// ------------------------------------------------------------------------------------------------------------
// export
// ------------------------------------------------------------------------------------------------------------

async function exportTests(t: TestContext, fx: Fixture, containerOf: Record<string, string>): Promise<void> {
  for (const img of [IMAGES.base, IMAGES.bloat, IMAGES.deep, COMMITTED_IMAGE]) {
    await t.test(img, async () => {
      const file = path.join(fx.tmp, `export-${img.replace(/[^a-z0-9]/g, '_')}.tar`);
      const r = await runCmd(exportCommand, [fx.root, '--image', img, '-o', file]);
      assert.equal(r.code, EXIT.ok, r.stderr);
      const ours = await tarManifest(fs.readFileSync(file));
      const c = containerOf[img]!;
      const init = await fx.initPaths(c);
      const theirs = new Map([...(await fx.exportOf(c))].filter(([k]) => !init.has(k)));
      for (const k of init) ours.delete(k);
      assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), 'entry lists');
      const bad: string[] = [];
      for (const [k, w] of theirs) {
        const g = ours.get(k)!;
        if (JSON.stringify(g) !== JSON.stringify(w)) bad.push(`${JSON.stringify(k)}: ours ${JSON.stringify(g)} docker ${JSON.stringify(w)}`);
      }
      assert.deepEqual(bad, []);
    });
  }
  await t.test('to stdout, at a lower layer (the deleted big file is back), and GNU tar reads it', async () => {
    const r = await runCmd(exportCommand, [fx.root, '--image', IMAGES.bloat, '--layer', '3', '-o', '-']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    const m = await tarManifest(r.stdoutBuffer);
    assert.equal(m.get(BLOAT.bigFile.path)?.size, BLOAT.bigFile.size);
    assert.ok(m.get('gone/sub/deeper/z'));
    assert.ok(!m.get('special'));
    const f = path.join(fx.tmp, 'l3.tar');
    fs.writeFileSync(f, r.stdoutBuffer);
    const { execFileSync } = await import('node:child_process');
    const list = execFileSync('tar', ['-tvf', f]).toString('latin1');
    assert.match(list, /data\/big\.bin/);
  });
}

// ------------------------------------------------------------------------------------------------------------
// timeline
// ------------------------------------------------------------------------------------------------------------

async function timelineTests(t: TestContext, fx: Fixture): Promise<void> {
  for (const name of Object.values(CONTAINERS)) {
    await t.test(name, async () => {
      const r = await runCmd(timelineCommand, [fx.root, '--container', name, '--format', 'json']);
      assert.equal(r.code, EXIT.ok, r.stderr);
      const doc = JSON.parse(r.stdout);
      const ours = new Map<string, any>();
      for (const en of doc.entries) ours.set(en.path, en);
      const dd = await dockerDiffOf(fx, name);
      const spec = (CONTAINER_CHANGES as Record<string, { added: string[]; changed: string[]; deleted: string[] }>)[name]!;
      const listed = dd.map((l) => l.slice(2));
      for (const p of [...spec.added, ...spec.changed, ...spec.deleted]) assert.ok(listed.includes(p), `fixture: docker diff lists ${p}`);
      for (const line of dd) {
        const kind = line[0];
        const p = line.slice(2);
        const en = ours.get(p);
        assert.ok(en, `timeline misses ${line}`);
        assert.equal(en.change, kind, p);
        if (kind === 'D') assert.equal(en.deleted, true);
        if (en.type !== 'whiteout' || en.hiddenBy === null) assert.equal(typeof en.mtime, 'number', `${p} has times`);
      }
      // Times are the RW dir's own (lstat): check one entry against the disk.
      const c = doc.container;
      for (const en of doc.entries.slice(0, 5)) {
        if (en.hiddenBy) continue;
        const st = fs.lstatSync(c.rwDir + en.path);
        assert.equal(Math.floor(en.mtime), Math.floor(st.mtimeMs / 1000));
        assert.equal(Math.floor(en.ctime), Math.floor(st.ctimeMs / 1000));
        assert.equal(en.inode, st.ino);
      }
      const flagged = Object.fromEntries(doc.entries.filter((x: any) => x.flags.length).map((x: any) => [x.path, x.flags]));
      if (name === CONTAINERS.running) {
        assert.deepEqual(flagged, {
          '/usr/local/bin/rootshell': ['setuid'],
          '/tmp/dropper.sh': ['tmp-executable'],
          '/root/.ssh/authorized_keys': ['authorized-keys'],
          '/etc/passwd': ['accounts'],
        });
      } else assert.deepEqual(flagged, {}, `${name}: nothing suspicious was planted`);

      const body = await runCmd(timelineCommand, [fx.root, '--container', name, '--format', 'body']);
      assert.equal(body.code, EXIT.ok);
      const lines = body.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, doc.entries.length);
      for (const l of lines) {
        const f = l.split('|');
        assert.equal(f.length, 11, l);
        assert.equal(f[0], '0');
        for (const i of [2, 4, 5, 6, 7, 8, 9, 10]) assert.match(f[i]!, /^\d+$/, `${l}: field ${i}`);
        assert.match(f[3]!, /^[-dlcbps][-r][-w][-xsS][-r][-w][-xsS][-r][-w][-xtT]$/);
      }
      const names = new Set(lines.map((l) => l.split('|')[1]!.replace(/ \(deleted.*\)$/, '').replace(/ -> .*$/, '')));
      for (const p of listed) assert.ok(names.has(p), `bodyfile misses ${p}`);
      const table = await runCmd(timelineCommand, [fx.root, '--container', name]);
      assert.equal(table.code, EXIT.ok);
      if (name === CONTAINERS.running) assert.match(table.stdout, /FLAGGED:\n(.*\n){4}/);
    });
  }
  await t.test('unknown container: source error', async () => {
    assert.equal((await runCmd(timelineCommand, [fx.root, '--container', 'no-such'])).code, EXIT.sourceError);
    assert.equal((await runCmd(timelineCommand, [fx.root])).code, EXIT.usage);
  });
}

// ------------------------------------------------------------------------------------------------------------
// archives (docker save file, OCI layout dir written by skopeo with gzip layers)
// ------------------------------------------------------------------------------------------------------------

interface Archives {
  save: string;
  oci: string | null;
}

function archives(fx: Fixture): Promise<Archives> {
  return fx.memo('archives', async () => {
    const save = path.join(fx.tmp, 'save.tar');
    await fx.e.docker(['save', '-o', save, IMAGES.bloat, IMAGES.base]);
    let oci: string | null = path.join(fx.tmp, 'oci');
    const { execa } = await import('execa');
    // From the save file, not the daemon: skopeo's daemon client is too old for Docker 26's API.
    const r = await execa('skopeo', ['copy', `docker-archive:${save}:${IMAGES.bloat}`, `oci:${oci}:${IMAGES.bloat}`], { reject: false, env: fx.e.env });
    if (r.exitCode !== 0) {
      process.stderr.write(`SKIPPED (no skopeo): OCI layout checks: ${r.stderr || r.message}\n`);
      oci = null;
    }
    return { save, oci };
  });
}

async function archiveTests(t: TestContext, fx: Fixture, containerOf: Record<string, string>): Promise<void> {
  const { save, oci } = await archives(fx);
  const sources: [string, string][] = [['docker save file', save]];
  if (oci) sources.push(['OCI layout dir (gzip layers)', oci]);
  for (const [label, src] of sources) {
    await t.test(`${label}: export equals docker export minus init`, async () => {
      const file = path.join(fx.tmp, `arch-export-${sources.findIndex((x) => x[1] === src)}.tar`);
      const r = await runCmd(exportCommand, [src, '--image', IMAGES.bloat, '-o', file]);
      assert.equal(r.code, EXIT.ok, r.stderr);
      const ours = await tarManifest(fs.readFileSync(file));
      const c = containerOf[IMAGES.bloat]!;
      const init = await fx.initPaths(c);
      const theirs = new Map([...(await fx.exportOf(c))].filter(([k]) => !init.has(k)));
      for (const k of init) ours.delete(k);
      assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), 'entry lists');
      const bad: string[] = [];
      for (const [k, w] of theirs) {
        const g = ours.get(k)!;
        if (JSON.stringify(g) !== JSON.stringify(w)) bad.push(`${JSON.stringify(k)}: ours ${JSON.stringify(g)} docker ${JSON.stringify(w)}`);
      }
      assert.deepEqual(bad, []);
    });
    await t.test(`${label}: extract (visible and deleted) matches docker cp and the layer tar`, async () => {
      const out = path.join(fx.tmp, `arch-x-${sources.findIndex((x) => x[1] === src)}`);
      const r = await runCmd(extractCommand, [src, '--image', IMAGES.bloat, '/data', '/links', '-o', out]);
      assert.equal(r.code, EXIT.ok, r.stderr);
      for (const p of ['/data', '/links']) {
        const want = await dockerCp(fx, CONTAINERS.created, p);
        const got = dirManifest(out, want.keys());
        for (const [k, w] of want) assert.deepEqual(got.get(k), w, k);
      }
      const big = (await saveLayers(fx, IMAGES.bloat))[BLOAT.bigFile.addedIn]!.get(BLOAT.bigFile.path)!;
      const out2 = out + '-deleted';
      const r2 = await runCmd(extractCommand, [src, '--image', IMAGES.bloat, '--layer', String(BLOAT.bigFile.deletedIn - 1), '/data/big.bin', '/gone', '-o', out2]);
      assert.equal(r2.code, EXIT.ok, r2.stderr);
      assert.deepEqual(dirManifest(out2, ['data/big.bin']).get('data/big.bin'), big);
      assert.ok(fs.existsSync(path.join(out2, 'gone/sub/deeper/z')));
      // export at a lower layer streams the 3 MiB file out of the layer blob, byte for byte.
      const ex = await runCmd(exportCommand, [src, '--image', IMAGES.bloat, '--layer', String(BLOAT.bigFile.deletedIn - 1), '-o', '-']);
      assert.equal(ex.code, EXIT.ok, ex.stderr);
      const m = await tarManifest(ex.stdoutBuffer);
      assert.deepEqual(m.get(BLOAT.bigFile.path), big);
    });
  }
  await t.test('diff --content: a save file against the data root gives the same rows as data root against itself', async () => {
    const a = await runCmd(diffCommand, [`${save}#${IMAGES.base}`, `${fx.root}#${IMAGES.bloat}`, '--content', '--format', 'json']);
    const b = await runCmd(diffCommand, [`${fx.root}#${IMAGES.base}`, `${fx.root}#${IMAGES.bloat}`, '--content', '--format', 'json']);
    assert.equal(a.code, EXIT.ok, a.stderr);
    assert.equal(b.code, EXIT.ok, b.stderr);
    const rows = (x: string) => JSON.parse(x).files.map((f: any) => `${f.change} ${f.path} ${f.differences}`);
    assert.deepEqual(rows(a.stdout), rows(b.stdout));
    if (oci) {
      // skopeo rewrites the config (other image ID) but not the layers: same files, all shared.
      const c = await runCmd(diffCommand, [`${fx.root}#${IMAGES.bloat}`, oci, '--content', '--format', 'json']);
      assert.equal(c.code, EXIT.ok, c.stderr);
      const doc = JSON.parse(c.stdout);
      assert.equal(doc.commonPrefix, doc.a.layers.length);
      assert.deepEqual(doc.files, []);
    }
  });
  await t.test('ci on a save file and on docker:REF (the engine\'s save stream) gives the same figures', async () => {
    const one = async (src: string) => {
      const r = await runCmd(ciCommand, [src, '--image', IMAGES.bloat, '--format', 'json', '--lowest-efficiency', '0', '--highest-wasted-bytes', String(BLOAT_HIDDEN)]);
      assert.equal(r.code, EXIT.ok, r.stderr);
      return JSON.parse(r.stdout).images[0];
    };
    const file = await one(save);
    assert.equal(file.metrics.hiddenBytes, BLOAT_HIDDEN);
    // The save file holds ls-base:1 too: the base is found there as in the data root.
    assert.deepEqual([file.base.method, file.base.layers], ['ancestor', 1]);
    const saved = { host: process.env.DOCKER_HOST, path: process.env.PATH };
    process.env.DOCKER_HOST = fx.e.host;
    process.env.PATH = fx.e.env.PATH;
    try {
      const stream = await one(`docker:${IMAGES.bloat}`);
      assert.deepEqual(stream.metrics, { ...file.metrics, baseLayers: 1, userBytes: stream.metrics.userBytes, userHiddenBytes: stream.metrics.userHiddenBytes, userWastedPercent: stream.metrics.userWastedPercent });
      // Alone in its stream, the base cannot be told: layer 0, and the report says so.
      assert.equal(stream.base.method, 'layer0');
    } finally {
      for (const [k, v] of [['DOCKER_HOST', saved.host], ['PATH', saved.path]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
  await t.test('a source read once cannot give contents: a clear usage error', async () => {
    const saved = { host: process.env.DOCKER_HOST, path: process.env.PATH };
    process.env.DOCKER_HOST = fx.e.host;
    process.env.PATH = fx.e.env.PATH;
    let r;
    try {
      r = await runCmd(extractCommand, [`docker:${IMAGES.bloat}`, '/data', '-o', path.join(fx.tmp, 'never')]);
    } finally {
      for (const [k, v] of [['DOCKER_HOST', saved.host], ['PATH', saved.path]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    assert.equal(r.code, EXIT.usage, r.stderr);
    assert.match(r.stderr, /cannot be read again/);
    assert.ok(!fs.existsSync(path.join(fx.tmp, 'never')));
  });
}
