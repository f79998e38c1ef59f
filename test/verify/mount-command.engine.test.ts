/**
 * `layerscope mount` / `umount` against real engines (Docker 20.10 and 26 on overlay2, Docker 26 on the containerd
 * image store), through the CLI as a user runs it (bin/layerscope.js, built dist).
 *
 * Every engine's data root is COPIED first (copyTree) and the copy is the evidence: its strict manifest (content,
 * modes, owners, mtimes, ctimes, inode numbers, xattrs) must be the same after every mount and umount as before.
 * The engine answers from its own data root (`docker export`, taken before anything else runs).
 * - Each fixture container (running, stopped, created) mounted: the tree equals `docker export`, entry for entry
 *   (type, mode, owner, size, mtime in seconds as export keeps it, link target, sha256 of content).
 * - ls-bloat:1 mounted at every layer: the tree equals what `files --layer N` lists (the core API behind it).
 * - --volumes: the named and anonymous volumes and the bind from inside the data root show the files the
 *   container wrote; each is read-only, nosuid, nodev, noexec; the bind from outside the evidence is not mounted,
 *   and says why; a never-started container's missing mount point is skipped and said.
 * - umount leaves no mount, no workspace, no state record, and removes the mount point dirs it created.
 * - docker20 only (engine-independent): SIGKILL of `mount` at several moments then `umount --all`; SIGINT
 *   mid-way; refusals (non-empty DIR, DIR in the evidence, DIR a symlink, not root); a kernel refusal (a bogus
 *   lowerdir, injected) and a failing bind leave nothing behind; an archive (docker save) mounted from an
 *   unpacked copy in the temp dir, which umount removes.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { copyTree, diffManifests, getEngine, treeManifest, waitIdle, type Engine, type EngineName } from '../support/engine.js';
import { CONTAINERS, IMAGES, BLOAT, DEEP } from '../support/fixtures-manifest.mjs';
import { TarFileReader } from '../../src/core/sources/tar/index.js';
import { cleanLayerPath } from '../../src/core/model/path.js';
import { openSource } from '../../src/core/sources/open.js';
import { findContainer, findImage } from '../../src/core/analysis/select.js';
import { analyzeImage } from '../../src/core/analysis/analyze.js';
import { walkMerged } from '../../src/core/analysis/views.js';
import { readMountInfo } from '../../src/core/verify/mount/mountinfo.js';
import { containerStack, execaRunner, imageStacks, mountStacks, ourMounts, MOUNT_WORKSPACE_PREFIX, STATE_DIR, type Runner } from '../../src/core/verify/mount/index.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/layerscope.js');

async function cli(args: string[], opts: { user?: string } = {}) {
  const argv = opts.user ? ['setpriv', `--reuid=${opts.user}`, '--regid=nogroup', '--clear-groups', process.execPath, BIN, ...args] : [process.execPath, BIN, ...args];
  return execa(argv[0]!, argv.slice(1), { reject: false, env: { TMPDIR: os.tmpdir() } });
}

/** One line per entry below `dir` (raw names), as `docker export` can say it too. */
function walkLines(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: Buffer, rel: string) => {
    for (const name of fs.readdirSync(abs, { encoding: 'buffer' })) {
      const p = Buffer.concat([abs, Buffer.from('/'), name]);
      const r = rel ? `${rel}/${name.toString('latin1')}` : name.toString('latin1');
      const st = fs.lstatSync(p);
      const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'socket';
      const sha = type === 'file' ? createHash('sha256').update(fs.readFileSync(p)).digest('hex') : '';
      const target = type === 'symlink' ? fs.readlinkSync(p, { encoding: 'buffer' }).toString('latin1') : '';
      out.set(r, line(type, st.mode & 0o7777, st.uid, st.gid, type === 'file' ? st.size : 0, Math.floor(st.mtimeMs / 1000), target, sha));
      if (type === 'dir') walk(p, r);
    }
  };
  walk(Buffer.from(dir), '');
  return out;
}

function line(type: string, mode: number, uid: number, gid: number, size: number, mtime: number | null, target: string, sha: string): string {
  return `${type} ${mode.toString(8)} ${uid}:${gid} ${size}${mtime === null ? '' : ` ${mtime}`} ${JSON.stringify(target)} ${sha}`;
}

/** The same lines from a `docker export` tar (hardlinks are names of their target file). */
function exportLines(file: string): Map<string, string> {
  const out = new Map<string, string>();
  const fd = fs.openSync(file, 'r');
  try {
    const reader = new TarFileReader(fd, { end: fs.fstatSync(fd).size, label: file });
    for (const e of reader.entries()) {
      const p = cleanLayerPath(e.name);
      if (p === '') continue;
      if (e.type === 'hardlink') {
        const t = out.get(cleanLayerPath(e.linkname));
        assert.ok(t, `hardlink ${p} to ${e.linkname} before its target`);
        out.set(p, t!);
        continue;
      }
      const type = e.type === 'file' ? 'file' : e.type;
      const sha = type === 'file' ? createHash('sha256').update(reader.readBody(e, 1 << 30)).digest('hex') : '';
      out.set(p, line(type, e.mode & 0o7777, e.uid, e.gid, type === 'file' ? e.size : 0, e.mtime, type === 'symlink' ? e.linkname : '', sha));
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

function diffMaps(ours: Map<string, string>, theirs: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [p, l] of theirs) if (ours.get(p) !== l) out.push(`${JSON.stringify(p)}: engine ${l} / mount ${ours.get(p) ?? 'missing'}`);
  for (const [p, l] of ours) if (!theirs.has(p)) out.push(`${JSON.stringify(p)}: mount only ${l}`);
  return out.slice(0, 20);
}

function layerscopeMounts(): string[] {
  return ourMounts(readMountInfo()).map((m) => m.mountPoint);
}

function workspaces(): string[] {
  return fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(MOUNT_WORKSPACE_PREFIX));
}

function stateRecords(): string[] {
  try {
    return fs.readdirSync(STATE_DIR);
  } catch {
    return [];
  }
}

/** Nothing of ours anywhere: no mount, no workspace, no state record. */
function nothingLeft(what: string): void {
  assert.deepEqual(layerscopeMounts(), [], `${what}: mounts left`);
  assert.deepEqual(workspaces(), [], `${what}: workspaces left`);
  assert.deepEqual(stateRecords(), [], `${what}: state records left`);
}

interface Ctx {
  engine: Engine;
  work: string;
  root: string;
  exports: Map<string, string>;
  manifest: string[];
}

async function setUp(name: EngineName, t: import('node:test').TestContext | null): Promise<Ctx | null> {
  const all = JSON.parse(process.env.LAYERSCOPE_TEST_ENGINES ?? '{}');
  if (process.getuid?.() !== 0 || !all[name]) return null;
  const engine = getEngine(t as never, name);
  if (!engine) return null;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-mountcmd-'));
  const exports = new Map<string, string>();
  // The engine's answers first: docker export mounts the container in the engine's own data root.
  for (const c of Object.values(CONTAINERS)) {
    const file = path.join(work, `${c}.export.tar`);
    await execa('sh', ['-c', `"$0" export "$1" > "$2"`, engine.client ?? 'docker', c, file], { env: engine.env });
    exports.set(c, file);
  }
  await waitIdle(engine);
  const root = path.join(work, 'root');
  await copyTree(engine.dataRoot, root);
  return { engine, work, root, exports, manifest: await treeManifest(root, { strict: true }) };
}

for (const name of ['docker20', 'docker26', 'docker26c'] as const) {
  describe(`layerscope mount on ${name}`, () => {
    let ctx: Ctx | null = null;
    before(async () => {
      ctx = await setUp(name, null);
    });
    after(async () => {
      if (!ctx) return;
      const now = await treeManifest(ctx.root, { strict: true });
      assert.equal(diffManifests(ctx.manifest, now), '', 'the evidence copy changed');
      fs.rmSync(ctx.work, { recursive: true, force: true });
    });

    test(`containers: the mounted tree equals docker export, entry for entry (${name})`, async (t) => {
      if (!getEngine(t, name) || !ctx) return;
      for (const c of Object.values(CONTAINERS)) {
        const dir = path.join(ctx.work, 'mnt', c);
        const r = await cli(['mount', ctx.root, '--container', c, dir, '--format', 'json']);
        assert.equal(r.exitCode, 0, r.stderr + r.stdout);
        const j = JSON.parse(r.stdout);
        assert.equal(j.mounts.length, 1);
        const m = j.mounts[0];
        assert.equal(m.mountPoint, dir);
        // RW layer, init layer, then the image top to base.
        assert.deepEqual(m.lowerdirs.slice(0, 2).map((l: any) => l.role), ['rw', 'init']);
        assert.equal(m.lowerdirs.length, BLOAT.layers + 2);
        const mi = readMountInfo().find((e) => e.mountPoint === dir)!;
        assert.equal(mi.fsType, 'overlay');
        assert.equal(mi.source, m.fsname);
        assert.match(mi.mountOptions, /^ro,nosuid,nodev,noexec/);
        assert.doesNotMatch(mi.superOptions, /upperdir|workdir/);
        const theirs = exportLines(ctx.exports.get(c)!);
        if (name === 'docker26c') {
          // The containerd store's init snapshot holds no dev/pts, dev/shm; docker export lists them all the same:
          // mount points of the engine's own temporary mount, in no layer on disk (see test/workflows).
          for (const p of ['dev/pts', 'dev/shm']) {
            assert.match(theirs.get(p) ?? '', /^dir /, `${c}: docker export lists ${p}`);
            theirs.delete(p);
          }
        }
        const diffs = diffMaps(walkLines(dir), theirs);
        assert.deepEqual(diffs, [], `${c} vs docker export`);
        assert.throws(() => fs.writeFileSync(path.join(dir, 'new-file'), 'x'), /EROFS/);
        const u = await cli(['umount', dir]);
        assert.equal(u.exitCode, 0, u.stderr + u.stdout);
        assert.ok(!fs.existsSync(dir), 'the mount point umount created is removed');
      }
      nothingLeft('containers');
    });

    test(`images: ls-bloat:1 mounted at every layer equals files --layer N (${name})`, async (t) => {
      if (!getEngine(t, name) || !ctx) return;
      const src = await openSource(ctx.root);
      try {
        const image = findImage(src, IMAGES.bloat);
        const a = await analyzeImage(src, image);
        for (let n = 0; n < image.layers.length; n++) {
          const dir = path.join(ctx.work, 'img', String(n));
          const r = await cli(['mount', ctx.root, '--image', IMAGES.bloat, '--layer', String(n), dir, '--format', 'json']);
          assert.equal(r.exitCode, 0, r.stderr + r.stdout);
          const j = JSON.parse(r.stdout);
          assert.equal(j.mounts[0].layer, n);
          // A one-layer stack gets our empty filler lower (the kernel wants two).
          assert.equal(j.mounts[0].lowerdirs.length, n === 0 ? 2 : n + 1);
          const files = new Map<string, string>();
          for (const e of walkMerged(a.view, n)) {
            const at = a.view.store.attrs(e.version);
            const type = at.type === 'hardlink' ? 'file' : at.type;
            files.set(e.path, line(type, at.mode & 0o7777, at.uid, at.gid, type === 'file' ? at.size : 0, null, type === 'symlink' ? at.linkname ?? '' : '', ''));
          }
          const ours = new Map([...walkLines(dir)].map(([p, l]) => {
            const [type, mode, owner, size, , target] = l.split(' ');
            return [p, line(type!, parseInt(mode!, 8), Number(owner!.split(':')[0]), Number(owner!.split(':')[1]), Number(size), null, JSON.parse(target!), '')];
          }));
          assert.deepEqual(diffMaps(ours, files), [], `layer ${n}`);
          const u = await cli(['umount', dir]);
          assert.equal(u.exitCode, 0, u.stderr);
        }
      } finally {
        await src.close();
      }
      nothingLeft('images');
    });

    test(`--volumes: volumes and binds from the evidence, read-only; the rest said (${name})`, async (t) => {
      if (!getEngine(t, name) || !ctx) return;
      const dir = path.join(ctx.work, 'vol');
      const r = await cli(['mount', ctx.root, '--container', 'ls-mount-volumes', '--volumes', dir, '--format', 'json']);
      assert.equal(r.exitCode, 0, r.stderr + r.stdout);
      const m = JSON.parse(r.stdout).mounts[0];
      assert.deepEqual(m.binds.map((b: any) => [b.destination, b.kind]), [['/anon', 'volume'], ['/bound', 'bind'], ['/data', 'volume']]);
      assert.equal(m.binds.find((b: any) => b.destination === '/data').source, path.join(ctx.root, 'volumes/ls-mount-data/_data'));
      assert.deepEqual(m.notMounted.map((s: any) => s.destination), ['/outside']);
      assert.match(m.notMounted[0].reason, /outside the evidence/);
      for (const d of ['data', 'bound']) {
        assert.equal(fs.readFileSync(path.join(dir, d, 'hello.txt'), 'utf8'), 'hello\n');
        assert.equal(fs.readFileSync(path.join(dir, d, 'sub/deep.txt'), 'utf8'), 'deep\n');
        assert.equal(fs.lstatSync(path.join(dir, d, 'sub/deep.txt')).mode & 0o777, 0o640);
        assert.equal(fs.readlinkSync(path.join(dir, d, 'link')), 'hello.txt');
      }
      assert.equal(fs.readFileSync(path.join(dir, 'anon/a.txt'), 'utf8'), 'anon\n');
      for (const d of ['anon', 'bound', 'data']) {
        const e = readMountInfo().filter((x) => x.mountPoint === path.join(dir, d)).pop()!;
        for (const f of ['ro', 'nosuid', 'nodev', 'noexec']) assert.ok(e.mountOptions.split(',').includes(f), `${d}: ${e.mountOptions}`);
        assert.throws(() => fs.writeFileSync(path.join(dir, d, 'x'), 'x'), /EROFS/);
      }
      // No staging mount is left in the workspace.
      assert.deepEqual(readMountInfo().filter((x) => x.mountPoint.includes(MOUNT_WORKSPACE_PREFIX)).map((x) => x.mountPoint), []);
      const u = await cli(['umount', dir, '--format', 'json']);
      assert.equal(u.exitCode, 0, u.stderr);
      assert.equal(JSON.parse(u.stdout).unmounted.length, 4);
      // A container never started: the engine has not created /data in its RW layer, and the read-only overlay
      // cannot: skipped, and said.
      const p = await cli(['mount', ctx.root, '--container', 'ls-plain-mounts', '--volumes', dir, '--format', 'json']);
      assert.equal(p.exitCode, 0, p.stderr + p.stdout);
      const pm = JSON.parse(p.stdout).mounts[0];
      assert.deepEqual(pm.binds, []);
      assert.match(pm.notMounted.find((s: any) => s.destination === '/data').reason, /does not exist in the container's tree/);
      assert.equal((await cli(['umount', dir])).exitCode, 0);
      nothingLeft('volumes');
    });

    test(`mount --all: every container at DIR/<name>; umount DIR undoes them all (${name})`, async (t) => {
      if (!getEngine(t, name) || !ctx) return;
      const dir = path.join(ctx.work, 'all');
      const r = await cli(['mount', ctx.root, '--all', dir, '--format', 'json']);
      assert.equal(r.exitCode, 0, r.stderr + r.stdout);
      const j = JSON.parse(r.stdout);
      const src = await openSource(ctx.root);
      const names = src.containers.map((c) => c.name).sort();
      await src.close();
      assert.deepEqual(j.mounts.map((m: any) => path.basename(m.mountPoint)).sort(), names);
      assert.deepEqual(fs.readdirSync(dir).sort(), names);
      assert.ok(fs.existsSync(path.join(dir, CONTAINERS.stopped, 'bin/busybox')));
      const u = await cli(['umount', dir]);
      assert.equal(u.exitCode, 0, u.stderr);
      assert.ok(!fs.existsSync(dir));
      nothingLeft('--all');
    });

    if (name === 'docker20' || name === 'docker26') {
      test(`an image archive (docker save) is mounted from an unpacked copy in the temp dir, with its bytes (${name})`, async (t) => {
        const e = getEngine(t, name);
        if (!e || !ctx) return;
        const tar = path.join(ctx.work, 'bloat.tar');
        await e.docker(['save', '-o', tar, IMAGES.bloat]);
        const a = path.join(ctx.work, 'arch');
        const d = path.join(ctx.work, 'dr');
        const r = await cli(['mount', tar, '--image', IMAGES.bloat, a, '--format', 'json']);
        assert.equal(r.exitCode, 0, r.stderr + r.stdout);
        const j = JSON.parse(r.stdout);
        assert.equal(j.mounts[0].origin, 'unpacked');
        assert.ok(j.workspace.startsWith(os.tmpdir() + '/'), j.workspace);
        assert.ok(j.mounts[0].lowerdirs.every((l: any) => l.dir.startsWith(j.workspace + '/')));
        assert.equal((await cli(['mount', ctx.root, '--image', IMAGES.bloat, d])).exitCode, 0);
        // The same tree (contents included) as the data root's own layers give.
        assert.deepEqual(diffMaps(walkLines(a), walkLines(d)), []);
        assert.equal((await cli(['umount', a])).exitCode, 0);
        assert.equal((await cli(['umount', d])).exitCode, 0);
        assert.ok(!fs.existsSync(j.workspace), 'the unpacked copy is removed');
        nothingLeft('archive');
      });
    }

    if (name !== 'docker20') return;

    test('SIGKILL of mount (mid-way and after success), then umount --all: nothing left', async (t) => {
      const e = getEngine(t, name);
      if (!e || !ctx) return;
      const tar = path.join(ctx.work, 'kill-bloat.tar');
      await e.docker(['save', '-o', tar, IMAGES.bloat]);
      // Killed at a moment seen from outside: the run's workspace exists (an archive being unpacked); its overlay
      // is mounted (a container with volumes, binds still to come); a staging bind is live in its workspace.
      const moments: [string, string[], (pid: number) => boolean][] = [
        ['unpacking an archive', ['mount', tar, '--image', IMAGES.bloat], (pid) => fs.readdirSync(os.tmpdir()).some((n) => n.startsWith(`${MOUNT_WORKSPACE_PREFIX}${pid}-`))],
        ['overlay mounted, binds to come', ['mount', ctx.root, '--container', 'ls-mount-volumes', '--volumes'], (pid) => ourMounts(readMountInfo()).some((m) => m.id.startsWith(`${pid}-`))],
        ['a staging bind live', ['mount', ctx.root, '--container', 'ls-mount-volumes', '--volumes'], (pid) => readMountInfo().some((m) => m.mountPoint.includes(`/${MOUNT_WORKSPACE_PREFIX}${pid}-`))],
      ];
      for (const [what, args, when] of moments) {
        let hit = false;
        for (let attempt = 0; attempt < 10 && !hit; attempt++) {
          const dir = path.join(ctx.work, 'kill');
          const p = execa(process.execPath, [BIN, ...args, dir], { reject: false });
          while (p.exitCode === null && !hit) {
            if (when(p.pid!)) {
              p.kill('SIGKILL');
              hit = true;
            } else await new Promise((res) => setTimeout(res, 2));
          }
          const r = await p;
          if (!hit) assert.equal(r.exitCode, 0, r.stderr);
          const u = await cli(['umount', '--all', '--format', 'json']);
          assert.equal(u.exitCode, 0, `${what}: ${u.stderr}${u.stdout}`);
          if (hit) assert.ok(JSON.parse(u.stdout).removed.some((x: string) => x.includes(MOUNT_WORKSPACE_PREFIX)), `${what}: the workspace was found and removed`);
          nothingLeft(`SIGKILL: ${what}`);
          if (fs.existsSync(dir)) fs.rmdirSync(dir);
        }
        assert.ok(hit, `${what}: never caught in 10 runs`);
      }
      // After a successful mount, with its state record gone too: the mount table alone is enough.
      const dir = path.join(ctx.work, 'kill-done');
      assert.equal((await cli(['mount', ctx.root, '--container', CONTAINERS.running, dir])).exitCode, 0);
      for (const f of stateRecords()) fs.unlinkSync(path.join(STATE_DIR, f));
      const u = await cli(['umount', '--all', '--format', 'json']);
      assert.equal(u.exitCode, 0, u.stderr);
      assert.deepEqual(JSON.parse(u.stdout).unmounted.map((x: any) => x.mountPoint), [dir]);
      nothingLeft('umount --all without a record');
      assert.equal(fs.readdirSync(dir).length, 0, 'an empty dir stays where the record that named it is gone');
      fs.rmdirSync(dir);
    });

    test('SIGINT mid-way: everything made is undone (exit 130), or the mount finished (exit 0)', async (t) => {
      if (!getEngine(t, name) || !ctx) return;
      for (const delay of [400, 800]) {
        const dir = path.join(ctx.work, `int-${delay}`);
        const p = execa(process.execPath, [BIN, 'mount', ctx.root, '--image', IMAGES.deep, dir], { reject: false });
        await new Promise((res) => setTimeout(res, delay));
        p.kill('SIGINT');
        const r = await p;
        // The signal may also land after the mount was made and recorded, while the command prints it and ends:
        // then the mount stands (a finished mount, like exit 0), and umount undoes it.
        const finished = r.exitCode === 0 || (r.signal === 'SIGINT' && ourMounts(readMountInfo()).some((m) => m.mountPoint === dir));
        if (finished) {
          assert.equal((await cli(['umount', dir])).exitCode, 0);
        } else {
          assert.ok(r.exitCode === 130 || r.signal === 'SIGINT', `exit ${r.exitCode} ${r.signal}: ${r.stderr}`);
          assert.ok(!fs.existsSync(dir), 'the mount point it created is removed');
        }
        nothingLeft(`SIGINT after ${delay} ms`);
      }
    });

    test('refused: a non-empty DIR, a DIR inside the evidence, a DIR that is a symlink, no root', async (t) => {
      if (!getEngine(t, name) || !ctx) return;
      const full = path.join(ctx.work, 'full');
      fs.mkdirSync(full);
      fs.writeFileSync(path.join(full, 'x'), 'x');
      let r = await cli(['mount', ctx.root, '--container', CONTAINERS.stopped, full]);
      assert.equal(r.exitCode, 2);
      assert.match(r.stderr, /not empty/);
      r = await cli(['mount', ctx.root, '--container', CONTAINERS.stopped, path.join(ctx.root, 'mnt-here')]);
      assert.equal(r.exitCode, 2);
      assert.match(r.stderr, /inside the evidence/);
      assert.ok(!fs.existsSync(path.join(ctx.root, 'mnt-here')));
      const link = path.join(ctx.work, 'link');
      fs.mkdirSync(path.join(ctx.work, 'empty'));
      fs.symlinkSync(path.join(ctx.work, 'empty'), link);
      r = await cli(['mount', ctx.root, '--container', CONTAINERS.stopped, link]);
      assert.equal(r.exitCode, 2);
      assert.match(r.stderr, /symlink/);
      // Not root: said, with what it needs (the source is read first: a world-readable archive).
      const tar = path.join(ctx.work, 'nobody', 'base.tar');
      fs.mkdirSync(path.dirname(tar), { mode: 0o755 });
      fs.chmodSync(ctx.work, 0o755);
      await ctx.engine.docker(['save', '-o', tar, IMAGES.base]);
      fs.chmodSync(tar, 0o644);
      r = await cli(['mount', tar, path.join(os.tmpdir(), `ls-nobody-${process.pid}`)], { user: 'nobody' });
      assert.equal(r.exitCode, 1, r.stderr);
      assert.match(r.stderr, /needs root/);
      r = await cli(['umount', '--all'], { user: 'nobody' });
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /needs root/);
      r = await cli(['umount', path.join(ctx.work, 'empty')]);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /nothing that layerscope mounted/);
      nothingLeft('refusals');
    });

    test('a mount the kernel refuses, and a bind that fails, leave nothing behind', async (t) => {
      if (!getEngine(t, name) || !ctx) return;
      const src = await openSource(ctx.root);
      try {
        // A bogus lowerdir added to the real option string: the kernel's own refusal.
        const bogus: Runner = {
          run: (argv, o) => execaRunner.run(argv[0] === 'mount' && argv[1] === '-t' ? argv.map((a) => a.replace('lowerdir=', 'lowerdir=/nonexistent/layerscope-bogus:')) : argv, o),
        };
        const dir = path.join(ctx.work, 'refused', 'mnt');
        await assert.rejects(mountStacks(src, [{ spec: containerStack(src, findContainer(src, CONTAINERS.stopped)), at: dir }], { runner: bogus }), (err: Error) => {
          assert.match(err.message, /the kernel refused to mount/);
          return true;
        });
        assert.ok(!fs.existsSync(path.join(ctx.work, 'refused')), 'the dirs it created are removed');
        nothingLeft('kernel refusal');
        // The third bind fails: the overlay and the two binds before it are undone.
        let binds = 0;
        const failing: Runner = {
          // The binds onto the mounted tree (their target is an fd of the checked dir: /proc/<pid>/fd/<n>).
          run: (argv, o) => (argv.includes('--bind') && bindTarget(argv).startsWith(dir) && ++binds === 3 ? Promise.resolve({ stdout: '', stderr: 'mount: injected failure', exitCode: 32 }) : execaRunner.run(argv, o)),
        };
        await assert.rejects(mountStacks(src, [{ spec: containerStack(src, findContainer(src, 'ls-mount-volumes')), at: dir }], { runner: failing, volumes: true }), /injected failure/);
        assert.equal(binds, 3);
        assert.ok(!fs.existsSync(path.join(ctx.work, 'refused')));
        nothingLeft('failing bind');
        // A stack deeper than a page mounts with short names and unmounts (the image stacks, by the core API).
        const deep = findImage(src, IMAGES.deep);
        const r = await mountStacks(src, [{ spec: imageStacks(deep, false)[0]!, at: dir }]);
        assert.equal(r.mounts[0]!.form, 'short');
        assert.equal(r.mounts[0]!.lowerdirs.length, DEEP.layers);
        assert.equal((await cli(['umount', path.join(ctx.work, 'refused')])).exitCode, 0);
        assert.ok(!fs.existsSync(path.join(ctx.work, 'refused')));
        nothingLeft('deep');
      } finally {
        await src.close();
      }
    });
  });
}

/** Where a `mount --bind` argv binds onto: its last argument, or the dir an fd in /proc names. */
function bindTarget(argv: string[]): string {
  const last = argv[argv.length - 1]!;
  return /^\/proc\/\d+\/fd\/\d+$/.test(last) ? fs.readlinkSync(last) : last;
}
