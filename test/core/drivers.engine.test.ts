/**
 * The graph drivers other than overlay2, proven against Docker 20.10 itself: a private engine per driver (vfs,
 * the first overlay driver, btrfs on a file system made here), the fixture images `docker save`d from the
 * docker20 engine (overlay2) and loaded, containers that change files. Compared:
 * - images: IDs and layer diffIDs = `docker image inspect`;
 * - each layer: the file system as of that layer (every layer applied in turn) = the same image's on docker20's
 *   overlay2 store = the layer tars of `docker save`;
 * - `changes --container` = `docker diff`; `export --container` = `docker export` (entries, types, modes,
 *   owners, sizes, link targets, bytes), the init placeholders aside as on overlay2;
 * - the TUI: the picker lists the images and containers, the container screen is `docker diff`;
 * - `report`: the bytes each layer ships and hides = docker20 overlay2;
 * - `verify`: integrity OK on the untouched store; a file's bytes changed in a layer dir: tampered;
 * - nothing is written to the store (hashed before and after).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getEngine, hashTree, type Engine } from '../support/engine.js';
import { type DriverEngine, type DriverName, loadFrom, startDriverEngineFor } from '../support/driver-engines.js';
import { IMAGES } from '../support/fixtures-manifest.mjs';
import { openSource } from '../../src/core/sources/open.js';
import type { Source } from '../../src/core/model/source.js';
import type { LayerEntry } from '../../src/core/model/types.js';
import { analyzeContainer, containerStackAnalysis } from '../../src/core/analysis/container.js';
import { EXIT } from '../../src/cli/command.js';
import { changesCommand, reportCommand } from '../../src/cli/commands/analysis.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { verifyCommand } from '../../src/cli/commands/verify.js';
import { runCmd } from '../workflows/helpers.js';
import { Session } from '../../src/tui/session.js';
import { initialState, pickerImages } from '../../src/tui/state/index.js';
import { containerChangeRow } from '../../src/tui/rows.js';
import { assertNoControlChars, drive, K } from '../tui/harness.js';
import { savedLayers, tarManifest, type TarItem } from '../workflows/engine-answers.js';

const FIXTURES = [IMAGES.base, IMAGES.bloat];
const CHANGED = 'ls-drv-changed';
const CREATED = 'ls-drv-created';
/**
 * What the changed container does: adds (a file, a dir, a hard link, a symlink), modifies a lower file's bytes
 * and another's mode, deletes a lower file and a lower dir, and writes then deletes a file (gone without trace).
 */
const SCRIPT = [
  'echo added > /added.txt',
  'mkdir -p /newdir/sub && echo inner > /newdir/sub/f && ln /newdir/sub/f /newdir/hardlink && ln -s ../etc/passwd /newdir/sym',
  'echo more >> /etc/passwd',
  'chmod 600 /etc/group',
  'rm /data/reborn.txt',
  'echo appended >> /data/overwritten.txt',
  'rm -rf /special',
  'echo brief > /tmp/brief && rm /tmp/brief',
].join(' && ');

/** A file system state: path -> what a listing shows of it (hard links as the file they name). */
type State = Map<string, string>;

function describe(type: string, mode: number, uid: number, gid: number, size: number, mtime: number, link: string, dev: string): string {
  const t = type === 'hardlink' ? 'file' : type;
  return JSON.stringify([t, mode & 0o7777, uid, gid, t === 'file' ? size : 0, t === 'dir' ? 0 : mtime, t === 'symlink' ? link : '', dev]);
}

function remove(state: State, p: string, withSelf: boolean): void {
  if (withSelf) state.delete(p);
  const prefix = p === '' ? '' : p + '/';
  for (const k of [...state.keys()]) if (k.startsWith(prefix) && k !== p) state.delete(k);
}

/** Apply one layer in model form (whiteouts, opaque dirs) to a state. */
function applyRows(state: State, rows: Iterable<LayerEntry>): void {
  const puts: [string, string][] = [];
  for (const e of rows) {
    if (e.kind === 'whiteout') remove(state, e.path, true);
    else {
      if (e.opaque) remove(state, e.path, false);
      const a = e.attrs;
      puts.push([e.path, describe(a.type, a.mode, a.uid, a.gid, a.size, a.mtime, a.linkname ?? '', a.devMajor !== undefined ? `${a.devMajor}:${a.devMinor}` : '')]);
    }
  }
  for (const [p, d] of puts) {
    // A non-dir over a dir replaces the dir's subtree.
    if (!d.startsWith('["dir"')) remove(state, p, false);
    state.set(p, d);
  }
}

/** Apply one `docker save` layer tar (OCI whiteouts) to a state. */
function applyTar(state: State, tar: Map<string, TarItem>): void {
  const puts: [string, string][] = [];
  for (const [p, it] of tar) {
    const base = p.slice(p.lastIndexOf('/') + 1);
    const dir = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
    if (base === '.wh..wh..opq') remove(state, dir, false);
    else if (base.startsWith('.wh.')) remove(state, (dir ? dir + '/' : '') + base.slice(4), true);
    else puts.push([p, describe(it.type, it.mode, it.uid, it.gid, it.size, it.mtime, it.linkname, it.dev)]);
  }
  for (const [p, d] of puts) {
    if (!d.startsWith('["dir"')) remove(state, p, false);
    state.set(p, d);
  }
}

function diffStates(a: State, b: State, what: string): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${what}: ${k}: ${v} vs ${b.get(k)}`);
  for (const k of b.keys()) if (!a.has(k)) out.push(`${what}: ${k}: missing vs ${b.get(k)}`);
  return out.slice(0, 20);
}

async function withSource<T>(root: string, fn: (s: Source) => Promise<T>): Promise<T> {
  const s = await openSource(root);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** Paths of a container's init layer: the engine's placeholders, which docker export shows as its mount makes them. */
async function placeholders(root: string, name: string): Promise<Set<string>> {
  return withSource(root, async (s) => {
    const ca = await analyzeContainer(s, s.containers.find((c) => c.name === name)!);
    const stack = containerStackAnalysis(ca);
    const out = new Set<string>(['dev/pts', 'dev/shm']);
    if (stack.layers.length - (ca.image?.layers.length ?? 0) === 2) for (const x of stack.view.table(stack.layers.length - 2).each()) out.add(x.path);
    return out;
  });
}

async function engineAnswers(eng: DriverEngine) {
  const inspect = new Map<string, { id: string; layers: string[] }>();
  for (const img of FIXTURES) {
    const doc = JSON.parse((await eng.docker(['image', 'inspect', img])).stdout)[0];
    inspect.set(img, { id: doc.Id, layers: doc.RootFS.Layers });
  }
  const diffs = new Map<string, string[]>();
  const exported = new Map<string, Map<string, TarItem>>();
  for (const name of [CHANGED, CREATED]) {
    diffs.set(name, (await eng.docker(['diff', name])).stdoutBuffer.toString('latin1').split('\n').filter(Boolean).sort());
    exported.set(name, await tarManifest((await eng.docker(['export', name], { timeout: 300_000 })).stdoutBuffer));
  }
  const saved = new Map<string, Map<string, TarItem>[]>();
  for (const img of FIXTURES) saved.set(img, await savedLayers(eng as unknown as Engine, img));
  return { inspect, diffs, exported, saved };
}

// LAYERSCOPE_DRIVERS=vfs,btrfs runs some of them (a driver left out is said, not silently skipped).
for (const driver of ['vfs', 'overlay', 'btrfs'] as DriverName[]) {
  test(`Docker 20.10 on the ${driver} graph driver: images, layers, containers as the engine has them`, { timeout: 900_000 }, async (t) => {
    const src = getEngine(t, 'docker20');
    if (!src) return;
    const eng = await startDriverEngineFor(t, driver);
    if (!eng) return;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ls-drv-t-${driver}-`));
    try {
      await loadFrom(src, eng, FIXTURES);
      await eng.docker(['run', '--name', CHANGED, IMAGES.bloat, '/bin/sh', '-c', SCRIPT]);
      await eng.docker(['create', '--name', CREATED, IMAGES.base]);
      const answers = await engineAnswers(eng);
      const root = eng.dataRoot;
      const before = await hashTree(root);

      await t.test('images and diffIDs = docker image inspect; no errors reading the store', async () => {
        await withSource(root, async (s) => {
          assert.equal(s.kind, 'docker-root');
          assert.deepEqual(s.problems.filter((p) => p.severity === 'error'), []);
          for (const [img, want] of answers.inspect) {
            const got = s.images.find((i) => i.tags.includes(img));
            assert.ok(got, `${img} listed`);
            assert.equal(got.id, want.id);
            assert.deepEqual(got.layers.map((l) => l.diffId), want.layers);
            assert.ok(got.layers.every((l) => l.layout === 'full' && l.location), 'layers kept as whole trees');
          }
        });
      });

      await t.test('each layer: the file system as of it = docker20 overlay2 = docker save', async () => {
        await withSource(root, (ours) =>
          withSource(src.dataRoot, async (theirs) => {
            for (const img of FIXTURES) {
              const a = ours.images.find((i) => i.tags.includes(img))!;
              const b = theirs.images.find((i) => i.id === a.id);
              assert.ok(b, `${img} on docker20`);
              const tars = answers.saved.get(img)!;
              assert.equal(tars.length, a.layers.length);
              const [sa, sb, sc]: State[] = [new Map(), new Map(), new Map()];
              for (let n = 0; n < a.layers.length; n++) {
                const ta = await ours.readLayer(a, n);
                assert.deepEqual(ta.problems.filter((p) => p.severity !== 'info'), [], `${img} layer ${n}: problems`);
                applyRows(sa, ta.each());
                applyRows(sb, (await theirs.readLayer(b, n)).each());
                applyTar(sc, tars[n]!);
                assert.deepEqual(diffStates(sa, sb, `${img} layer ${n} vs overlay2`), []);
                assert.deepEqual(diffStates(sa, sc, `${img} layer ${n} vs docker save`), []);
              }
            }
          }),
        );
      });

      await t.test('report: each layer ships and hides the same bytes as on docker20 overlay2', async () => {
        const layersOf = async (r: string) => {
          const out = await runCmd(reportCommand, [r, '--format', 'json']);
          assert.equal(out.code, EXIT.ok, out.stderr);
          const doc = JSON.parse(out.stdout);
          return new Map<string, unknown>(doc.images.map((i: { id: string; layers: { bytes: number; hiddenBytes: number; deleted: number }[] }) => [i.id, i.layers.map((l) => ({ bytes: l.bytes, hidden: l.hiddenBytes }))]));
        };
        const ours = await layersOf(root);
        const theirs = await layersOf(src.dataRoot);
        for (const [img, want] of answers.inspect) assert.deepEqual(ours.get(want.id), theirs.get(want.id), img);
      });

      await t.test('changes --container = docker diff', async () => {
        const r = await runCmd(changesCommand, [root, '--all', '--format', 'json']);
        assert.equal(r.code, EXIT.ok, r.stderr);
        const doc = JSON.parse(r.stdout);
        for (const name of [CHANGED, CREATED]) {
          const c = doc.containers.find((x: { name: string }) => x.name === name);
          assert.ok(c, `${name} listed`);
          assert.deepEqual(c.changes.map((x: { kind: string; path: string }) => `${x.kind} ${x.path}`).sort(), answers.diffs.get(name), `${name}: docker diff`);
        }
        assert.ok(answers.diffs.get(CHANGED)!.includes('D /special') && answers.diffs.get(CHANGED)!.includes('A /newdir/hardlink'), 'the changes were made');
      });

      await t.test('TUI: the picker lists the images and containers; the container screen is docker diff', async () => {
        const session = new Session({ location: root, open: openSource, progressEveryMs: 0 });
        const d = await drive(initialState(160, 60), { driver: session });
        try {
          await d.until((st) => st.screen === 'picker' && st.containers.length === 2 && Object.keys(st.containerStats).length === 2, 120_000);
          for (const img of FIXTURES) assert.match(d.frame(), new RegExp(` ${img} `));
          const s0 = d.state();
          const idx = pickerImages(s0).length + s0.containers.findIndex((c) => c.name === CHANGED);
          await d.press(K.home);
          for (let i = 0; i < idx; i++) await d.press(K.down);
          await d.press(K.enter);
          await d.until((st) => st.screen === 'container' && st.container?.container.name === CHANGED, 60_000);
          const ca = d.state().container!;
          const shown = ca.changes.map((_, i) => containerChangeRow(ca, i, false).text.slice(1)).map((row) => `${row[0]} ${row.slice(row.indexOf(' /') + 1).replace(/ (->|=>) .*$/, '')}`);
          assert.deepEqual(shown.sort(), answers.diffs.get(CHANGED));
          assertNoControlChars(d.frame());
        } finally {
          d.unmount();
          session.stop();
        }
      });

      await t.test('export --container = docker export (the init placeholders aside)', async () => {
        for (const name of [CHANGED, CREATED]) {
          const file = path.join(tmp, `${name}.tar`);
          const r = await runCmd(exportCommand, [root, '--container', name, '-o', file]);
          assert.equal(r.code, EXIT.ok, r.stderr);
          const ours = await tarManifest(fs.readFileSync(file));
          const theirs = new Map(answers.exported.get(name)!);
          for (const k of await placeholders(root, name)) {
            ours.delete(k);
            theirs.delete(k);
          }
          assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), `${name}: entry lists`);
          const bad: string[] = [];
          for (const [k, w] of theirs) if (JSON.stringify(ours.get(k)) !== JSON.stringify(w)) bad.push(`${k}: ours ${JSON.stringify(ours.get(k))} docker ${JSON.stringify(w)}`);
          assert.deepEqual(bad, [], name);
        }
      });

      await t.test('verify: integrity OK as the engine left the store', async () => {
        const r = await runCmd(verifyCommand, [root, '--all', '--no-mount', '--format', 'json']);
        assert.equal(r.code, EXIT.ok, r.stdout + r.stderr);
      });

      await t.test('verify with the mount check: the kernel stacks the layers as we read them', async () => {
        const r = await runCmd(verifyCommand, [root, '--all', '--format', 'json']);
        const doc = JSON.parse(r.stdout);
        assert.equal(doc.mount.ran, true, JSON.stringify(doc.mount));
        assert.deepEqual(doc.findings, []);
        // Every image layer's stack and both containers' were mounted and matched.
        const kinds = doc.stacks.map((x: { id: string; status: string }) => `${x.id.split(':')[0]} ${x.status}`);
        assert.ok(kinds.filter((k: string) => k === 'container agree').length === 2 && kinds.every((k: string) => k.endsWith(' agree')), kinds.join(', '));
        assert.equal(r.code, EXIT.ok, r.stdout.slice(0, 4000) + r.stderr);
      });

      await t.test('nothing was written to the store', async () => {
        assert.equal(await hashTree(root), before);
      });

      await t.test('verify: a file whose bytes changed in a layer dir is tampered', async () => {
        // The engine is ours to spoil: the last layer of ls-bloat, a file it added, one byte changed.
        const { dir, file } = await withSource(root, async (s) => {
          const img = s.images.find((i) => i.tags.includes(IMAGES.bloat))!;
          for (let n = img.layers.length - 1; n >= 0; n--) {
            const tbl = await s.readLayer(img, n);
            for (const e of tbl.each()) if (e.kind === 'put' && e.attrs.type === 'file' && e.attrs.size > 0) return { dir: img.layers[n]!.location!, file: e.path };
          }
          throw new Error('no file to tamper with');
        });
        const p = path.join(dir, file);
        const bytes = fs.readFileSync(p);
        bytes[0] = bytes[0]! ^ 0xff;
        // In place, keeping size and mtime: only the bytes say it.
        const st = fs.statSync(p);
        fs.writeFileSync(p, bytes);
        fs.utimesSync(p, st.atime, st.mtime);
        const r = await runCmd(verifyCommand, [root, '--image', IMAGES.bloat, '--no-mount', '--format', 'json']);
        assert.notEqual(r.code, EXIT.ok);
        assert.match(r.stdout, /tamper/i);
        assert.ok(r.stdout.includes(file.split('/').pop()!), `${file} named`);
      });
    } finally {
      await eng.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}
