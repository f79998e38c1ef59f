/**
 * Smoke test of the test harness itself (test/run.mjs + test/support/engine.ts): the private engines answer,
 * the fixtures exist, the data roots hold real overlay evidence (opaque dirs, whiteouts), and hashTree /
 * copyTree behave.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { getAttributeSync } from '@napi-rs/xattr';
import { copyTree, diffManifests, engines, getEngine, hashTree, treeManifest, waitIdle, type Engine, type EngineName } from '../support/engine.js';
import { BLOAT, CONTAINER_CHANGES, CONTAINERS, DEEP, IMAGES, IMAGES_FROM20, NAMES } from '../support/fixtures-manifest.mjs';

const ENGINES: EngineName[] = ['docker20', 'docker26', 'docker26c'];

/** Directories that hold one layer's files each, for this engine's store. */
function layerDirs(e: Engine): string[] {
  const out: string[] = [];
  if (e.name === 'docker26c') {
    const snaps = path.join(e.dataRoot, 'containerd/daemon/io.containerd.snapshotter.v1.overlayfs/snapshots');
    for (const n of fs.readdirSync(snaps)) out.push(path.join(snaps, n, 'fs'));
  } else {
    const ov = path.join(e.dataRoot, 'overlay2');
    for (const n of fs.readdirSync(ov)) {
      const d = path.join(ov, n, 'diff');
      if (n !== 'l' && fs.existsSync(d)) out.push(d);
    }
  }
  return out;
}

function isOpaque(dir: string): boolean {
  try {
    const v = getAttributeSync(dir, 'trusted.overlay.opaque');
    return !!v && Buffer.from(v).toString() === 'y';
  } catch {
    return false;
  }
}

function isWhiteout(p: string): boolean {
  try {
    const st = fs.lstatSync(p);
    return st.isCharacterDevice() && st.rdev === 0;
  } catch {
    return false;
  }
}

for (const which of ENGINES) {
  describe(`harness: ${which}`, () => {
    test('engine answers with the expected version', async (t) => {
      const e = getEngine(t, which);
      if (!e) return;
      const { stdout } = await e.docker(['version', '--format', '{{.Server.Version}}']);
      assert.equal(stdout.trim(), e.version);
      assert.match(e.version, which === 'docker20' ? /^20\.10\./ : /^26\./);
      const info = await e.docker(['info', '--format', '{{.DockerRootDir}}|{{.Driver}}']);
      const [rootDir, driver] = info.stdout.trim().split('|');
      assert.equal(rootDir, e.dataRoot);
      if (which === 'docker26c') assert.notEqual(driver, 'overlay2', 'containerd snapshotter expected');
      else assert.equal(driver, 'overlay2');
      t.diagnostic(`${which}: Docker ${e.version}, driver ${driver}, data root ${e.dataRoot}`);
    });

    test('fixture images and containers exist', async (t) => {
      const e = getEngine(t, which);
      if (!e) return;
      for (const img of Object.values(IMAGES)) {
        await e.docker(['image', 'inspect', img]);
      }
      // docker20's copies exist when docker20 ran too (not with LAYERSCOPE_ENGINES=docker26 alone)
      if (which !== 'docker20' && engines().docker20) {
        for (const img of Object.values(IMAGES_FROM20)) await e.docker(['image', 'inspect', img]);
      }
      const layers = async (img: string) =>
        JSON.parse((await e.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', img])).stdout) as string[];
      assert.equal((await layers(IMAGES.bloat)).length, BLOAT.layers);
      assert.equal((await layers(IMAGES.deep)).length, DEEP.layers);
      const state = async (c: string) =>
        (await e.docker(['container', 'inspect', '--format', '{{.State.Status}}|{{.State.ExitCode}}', c])).stdout.trim();
      assert.equal(await state(CONTAINERS.stopped), 'exited|0');
      assert.equal(await state(CONTAINERS.running), 'running|0');
      assert.equal(await state(CONTAINERS.created), 'created|0');
      const diff = (await e.docker(['diff', CONTAINERS.running])).stdout;
      assert.match(diff, /^A \/root\/\.ssh\/authorized_keys$/m);
      assert.match(diff, /^A \/usr\/local\/bin\/rootshell$/m);
    });

    test('containers changed what fixtures-manifest says (docker diff)', async (t) => {
      const e = getEngine(t, which);
      if (!e) return;
      for (const [name, want] of Object.entries(CONTAINER_CHANGES)) {
        const out = (await e.docker(['diff', name])).stdout;
        const got = { added: [] as string[], changed: [] as string[], deleted: [] as string[] };
        for (const line of out.split('\n').filter(Boolean)) {
          const [k, p] = [line[0], line.slice(2)];
          (k === 'A' ? got.added : k === 'C' ? got.changed : got.deleted).push(p);
        }
        for (const k of ['added', 'changed', 'deleted'] as const) {
          assert.deepEqual(got[k].sort(), [...want[k]].sort(), `${name}: ${k}`);
        }
      }
    });

    test('ls-bloat:1 has an opaque dir and whiteouts in its layers', async (t) => {
      const e = getEngine(t, which);
      if (!e) return;
      let dirs: string[];
      if (which === 'docker26c') {
        dirs = layerDirs(e);
      } else {
        const data = JSON.parse((await e.docker(['image', 'inspect', '--format', '{{json .GraphDriver.Data}}', IMAGES.bloat])).stdout) as Record<
          string,
          string
        >;
        dirs = [data.UpperDir!, ...(data.LowerDir ?? '').split(':').filter(Boolean)];
        assert.equal(dirs.length, BLOAT.layers);
      }
      const opaque = dirs.filter((d) => isOpaque(path.join(d, BLOAT.opaque.path)));
      if (which === 'docker26c') {
        // Built by the containerd store, `rm -rf /opq && mkdir /opq` becomes one whiteout per old entry (its
        // differ compares trees); the opaque dir comes from the docker20-built ls-bloat:from20 loaded beside it.
        const native = dirs.filter(
          (d) => ['opq/a', 'opq/b', 'opq/keep.txt'].every((p) => isWhiteout(path.join(d, p))) && fs.existsSync(path.join(d, 'opq/c')),
        );
        assert.equal(native.length, 1, 'native ls-bloat:1 L6: whiteouts opq/a, opq/b, opq/keep.txt beside opq/c');
        assert.ok(!isOpaque(path.join(native[0]!, 'opq')), 'native L6 opq/ has no opaque xattr');
      }
      const hasOpaque = which !== 'docker26c' || !!engines().docker20; // docker26c: only via ls-bloat:from20
      if (hasOpaque) {
        assert.ok(opaque.length >= 1, `no layer dir with ${BLOAT.opaque.path} marked trusted.overlay.opaque=y among ${dirs.length}`);
        assert.ok(fs.existsSync(path.join(opaque[0]!, 'opq/c')));
      }
      const whiteouts = ['data/big.bin', 'data/f-link', 'gone'].map((p) => dirs.some((d) => isWhiteout(path.join(d, p))));
      assert.deepEqual(whiteouts, [true, true, true], 'whiteout char devices 0:0 for data/big.bin, data/f-link, gone');
      // the 3 MiB file is still there in its own layer
      const big = dirs.map((d) => path.join(d, BLOAT.bigFile.path)).find((p) => fs.existsSync(p) && fs.lstatSync(p).isFile());
      assert.ok(big, 'data/big.bin in some layer');
      assert.equal(fs.statSync(big).size, BLOAT.bigFile.size);
    });

    test('hashTree of the data root is stable while the engine is idle; copyTree keeps overlay metadata', async (t) => {
      const e = getEngine(t, which);
      if (!e) return;
      // Earlier tests ran docker commands; the containerd store cleans up after them a little later.
      const quiet = await waitIdle(e, { intervalMs: which === 'docker26c' ? 2000 : 1000 });
      if (!quiet) t.diagnostic(`${which}: the data root was still changing after 15 s`);
      const t0 = Date.now();
      const m1 = await treeManifest(e.dataRoot);
      const m2 = await treeManifest(e.dataRoot);
      const ms = Date.now() - t0;
      t.diagnostic(`${which}: data root manifest has ${m1.length} entries; two passes took ${ms} ms`);
      if (which !== 'docker26c' || engines().docker20) {
        assert.ok(m1.some((l) => l.includes('trusted.overlay.opaque:79')), 'an opaque dir (xattr value "y" = 79) is in the manifest');
      }
      assert.ok(m1.some((l) => / char .* rdev=0 /.test(l)), 'a whiteout (char rdev=0) is in the manifest');
      assert.ok(m1.some((l) => l.includes(' mount ')), 'the running container\'s mounted merged/ is listed as a mount');
      const d = diffManifests(m1, m2);
      if (d) {
        t.diagnostic(`${which}: the idle engine wrote into its data root between two hashes; hashing a copy instead. Changes:`);
        for (const l of d.split('\n')) t.diagnostic(l);
      }
      // A copy of the whole data root: hash stable, equal to the source where the source did not change.
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-harness-'));
      try {
        // cp can meet a file that the engine deletes meanwhile (the containerd store removes snapshot dirs
        // at its next garbage collection, seconds after the commands that freed them): retry then.
        let res;
        for (let i = 0; ; i++) {
          try {
            res = await copyTree(e.dataRoot, tmp);
            break;
          } catch (err) {
            if (i >= 3) throw err;
            t.diagnostic(`${which}: the engine changed its data root during the copy (${String(err).split('\n')[0]}); retrying`);
            fs.rmSync(tmp, { recursive: true, force: true });
            await waitIdle(e, { timeoutMs: 10_000, intervalMs: 2000 });
          }
        }
        if (which !== 'docker26c' || engines().docker20) assert.ok(res!.opaqueChecked, 'copyTree found and checked an opaque dir');
        const h1 = await hashTree(tmp);
        const h2 = await hashTree(tmp);
        assert.equal(h1, h2, 'hashTree of the copy is stable');
        if (!d) assert.equal(await hashTree(e.dataRoot), await hashTree(e.dataRoot));
        // one image layer dir, copied with full verification (nothing writes there)
        const one =
          layerDirs(e).find((x) => isOpaque(path.join(x, BLOAT.opaque.path))) ?? layerDirs(e).find((x) => fs.existsSync(path.join(x, 'opq/c')))!;
        const tmp2 = path.join(tmp, '..', path.basename(tmp) + '-layer');
        try {
          await copyTree(path.dirname(one), tmp2, { verify: 'full' });
          assert.equal(isOpaque(path.join(tmp2, path.basename(one), BLOAT.opaque.path)), isOpaque(path.join(one, BLOAT.opaque.path)));
        } finally {
          fs.rmSync(tmp2, { recursive: true, force: true });
        }
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    });
  });
}

test('fixtures-manifest matches the final ls-bloat:1 filesystem (merged dir of ls-running, docker20)', async (t) => {
  const e = getEngine(t, 'docker20');
  if (!e) return;
  const merged = (await e.docker(['container', 'inspect', '--format', '{{.GraphDriver.Data.MergedDir}}', CONTAINERS.running])).stdout.trim();
  const at = (p: string) => Buffer.concat([Buffer.from(merged + '/'), Buffer.from(p, 'latin1')]);
  for (const [k, p] of Object.entries(NAMES)) {
    assert.ok(fs.lstatSync(at(p), { throwIfNoEntry: false })?.isFile(), `NAMES.${k}`);
  }
  for (const [p, target] of Object.entries(BLOAT.symlinks)) {
    assert.equal(fs.readlinkSync(at(p), { encoding: 'buffer' }).toString('latin1'), target, p);
  }
  assert.equal(fs.lstatSync(at(BLOAT.setuid)).mode & 0o7777, 0o4755);
  assert.equal(fs.lstatSync(at(BLOAT.setgid)).mode & 0o7777, 0o2755);
  assert.ok(fs.lstatSync(at(BLOAT.fifo)).isFIFO());
  const dev = fs.lstatSync(at(BLOAT.charDevice.path));
  assert.ok(dev.isCharacterDevice());
  assert.equal(dev.rdev, (BLOAT.charDevice.major << 8) | BLOAT.charDevice.minor);
  assert.equal(fs.readFileSync(at(BLOAT.overwritten.path), 'utf8'), BLOAT.overwritten.final);
  assert.equal(fs.readFileSync(at(BLOAT.reborn.path), 'utf8'), BLOAT.reborn.final);
  assert.equal(fs.lstatSync(at(BLOAT.chmodOnly.path)).mode & 0o777, BLOAT.chmodOnly.modes[1]);
  assert.equal(fs.readFileSync(at(BLOAT.chmodOnly.path), 'utf8'), BLOAT.chmodOnly.content);
  assert.deepEqual(fs.readdirSync(at(BLOAT.opaque.path)).sort(), BLOAT.opaque.final.map((p) => path.basename(p)));
  for (const p of [BLOAT.bigFile.path, BLOAT.hardlink.link, BLOAT.ghost.path, BLOAT.deletedTree.path]) {
    assert.equal(fs.lstatSync(at(p), { throwIfNoEntry: false }), undefined, `${p} is gone`);
  }
  assert.equal(fs.readFileSync(at(BLOAT.hardlink.path), 'utf8'), BLOAT.hardlink.content);
  const owned = fs.lstatSync(at('special/owned-by-1000'));
  assert.deepEqual([owned.uid, owned.gid], [1000, 1000]);
  // ls-running's own changes
  const ch = CONTAINER_CHANGES['ls-running'];
  assert.equal(fs.lstatSync(at(ch.setuid.slice(1))).mode & 0o7777, 0o4755);
  assert.match(fs.readFileSync(at(ch.authorizedKeys.slice(1)), 'utf8'), /^ssh-ed25519 /);
  // history and layers
  const layers = JSON.parse(
    (await e.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', IMAGES.bloat])).stdout,
  ) as string[];
  assert.equal(layers.length, BLOAT.layers);
  const big = fs.statSync(at('bin/busybox'));
  assert.ok(big.size > 500_000, 'static busybox');
});

test('hashTree sees metadata, xattrs and names that are not UTF-8', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root for trusted xattrs');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-hash-'));
  try {
    const bad = Buffer.concat([Buffer.from(dir + '/bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]);
    fs.writeFileSync(bad, 'x');
    fs.writeFileSync(path.join(dir, 'f'), 'hello');
    fs.symlinkSync('/nonexistent', path.join(dir, 'dangling'));
    fs.mkdirSync(path.join(dir, 'opq'));
    const h0 = await hashTree(dir);
    assert.equal(await hashTree(dir), h0);
    fs.chmodSync(path.join(dir, 'f'), 0o600);
    const h1 = await hashTree(dir);
    assert.notEqual(h1, h0, 'mode change');
    const { setAttributeSync } = await import('@napi-rs/xattr');
    setAttributeSync(path.join(dir, 'opq'), 'trusted.overlay.opaque', 'y');
    const h2 = await hashTree(dir);
    assert.notEqual(h2, h1, 'xattr change');
    // xattr on the non-UTF-8 name (set through setfattr, which gets raw bytes from the shell glob)
    const { execa } = await import('execa');
    await execa('sh', ['-c', 'setfattr -h -n user.ls -v 1 ./bad-*'], { cwd: dir });
    const m = await treeManifest(dir);
    assert.ok(m.some((l) => l.startsWith(JSON.stringify('bad-\xff\xfe.txt')) && l.includes('user.ls:31')), m.join('\n'));
    assert.notEqual(await hashTree(dir), h2, 'xattr on a non-UTF-8 name');
    assert.ok(m.some((l) => l.includes('target="/nonexistent"')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
