/**
 * `--container` wherever `--image` is taken, and drift with hashes, against real engines: `files`, `export`,
 * `extract` of a container equal `docker export` / `docker cp`; `changes --all --hash` equals `docker diff` of
 * every container with each file's sha256 equal to the bytes in `docker export`; `timeline --all --hash` fills
 * the bodyfile's MD5 column with the MD5 of those bytes; `diff --container` shows what docker diff shows;
 * `whose --container` names the layer a path comes from. The evidence is hashed before and after.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { getEngine, hashTree, waitIdle } from '../support/engine.js';
import { CONTAINERS, CONTAINER_CHANGES, BLOAT } from '../support/fixtures-manifest.mjs';
import { openSource } from '../../src/core/sources/open.js';
import { analyzeContainer, containerStackAnalysis } from '../../src/core/analysis/container.js';
import { EXIT } from '../../src/cli/command.js';
import { changesCommand, filesCommand } from '../../src/cli/commands/analysis.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { extractCommand } from '../../src/cli/commands/extract.js';
import { timelineCommand } from '../../src/cli/commands/timeline.js';
import { diffCommand } from '../../src/cli/commands/diff.js';
import { whoseCommand } from '../../src/cli/commands/whose.js';
import { runCmd } from './helpers.js';
import { tarManifest, type TarItem } from './engine-answers.js';

/** Paths of a container's init layer (the engine's placeholders, which docker export shows as its own mount makes them). */
async function placeholders(root: string, name: string): Promise<Set<string>> {
  const s = await openSource(root);
  try {
    const ca = await analyzeContainer(s, s.containers.find((c) => c.name === name)!);
    const stack = containerStackAnalysis(ca);
    const out = new Set<string>(['dev/pts', 'dev/shm']);
    if (stack.layers.length - (ca.image?.layers.length ?? 0) === 2) for (const x of stack.view.table(stack.layers.length - 2).each()) out.add(x.path);
    return out;
  } finally {
    await s.close();
  }
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

for (const which of ['docker20', 'docker26', 'docker26c'] as const) {
  test(`--container and drift hashes against a ${which} data root`, { timeout: 600_000 }, async (t: TestContext) => {
    const e = getEngine(t, which);
    if (!e) return;
    const root = e.dataRoot;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-ct-'));
    // The engine's answers first: docker export mounts containers (Docker 26 then makes mount points in RW dirs).
    const exported = new Map<string, Map<string, TarItem>>();
    const raw = new Map<string, Buffer>();
    const diffs = new Map<string, string[]>();
    for (const name of Object.values(CONTAINERS)) {
      const buf = (await e.docker(['export', name], { timeout: 300_000 })).stdoutBuffer;
      raw.set(name, buf);
      exported.set(name, await tarManifest(buf));
      diffs.set(name, (await e.docker(['diff', name])).stdoutBuffer.toString('latin1').split('\n').filter(Boolean).sort());
    }
    const init = new Map<string, Set<string>>();
    for (const name of Object.values(CONTAINERS)) init.set(name, await placeholders(root, name));
    await waitIdle(e);
    // The evidence these commands read: the containers' own dirs and their RW layer dirs (the image layers are
    // hashed by the workflow suite, whose commands read them the same way).
    const dirs = [path.join(root, 'containers')];
    const s0 = await openSource(root);
    for (const c of s0.containers) if (c.rwDir && Object.values(CONTAINERS).includes(c.name)) dirs.push(c.rwDir);
    await s0.close();
    const hashAll = async () => Promise.all(dirs.map((d) => hashTree(d)));
    const before = await hashAll();
    try {
      await t.test('export --container equals docker export (the init placeholders aside)', async () => {
        for (const name of Object.values(CONTAINERS)) {
          const file = path.join(tmp, `${name}.tar`);
          const r = await runCmd(exportCommand, [root, '--container', name, '-o', file]);
          assert.equal(r.code, EXIT.ok, r.stderr);
          const ours = await tarManifest(fs.readFileSync(file));
          const theirs = new Map(exported.get(name)!);
          for (const k of init.get(name)!) {
            ours.delete(k);
            theirs.delete(k);
          }
          assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), `${name}: entry lists`);
          const bad: string[] = [];
          for (const [k, w] of theirs) if (JSON.stringify(ours.get(k)) !== JSON.stringify(w)) bad.push(`${k}: ours ${JSON.stringify(ours.get(k))} docker ${JSON.stringify(w)}`);
          assert.deepEqual(bad, [], name);
        }
      });

      await t.test('files --container lists what docker export holds', async () => {
        for (const name of Object.values(CONTAINERS)) {
          const r = await runCmd(filesCommand, [root, '--container', name, '--format', 'json']);
          assert.equal(r.code, EXIT.ok, r.stderr);
          const listed = new Map<string, { type: string; size: number; mode: number; uid: number; gid: number }>();
          // Names as bytes (latin1 strings, as the tar manifest keys them): base64 when not UTF-8, else the UTF-8 text.
          for (const f of JSON.parse(r.stdout).files) listed.set((f.pathBase64 ? Buffer.from(f.pathBase64, 'base64') : Buffer.from(f.path, 'utf8')).toString('latin1').replace(/^\//, ''), f);
          const theirs = exported.get(name)!;
          for (const k of init.get(name)!) {
            listed.delete(k);
          }
          const want = [...theirs.keys()].filter((k) => !init.get(name)!.has(k)).sort();
          assert.deepEqual([...listed.keys()].sort(), want, `${name}: the same paths`);
          for (const [k, w] of theirs) {
            const g = listed.get(k);
            if (!g) continue;
            assert.equal(g.mode & 0o7777, w.mode, `${name}: ${k} mode`);
            assert.deepEqual([g.uid, g.gid], [w.uid, w.gid], `${name}: ${k} owner`);
            if (w.type === 'file' && g.type === 'file') assert.equal(g.size, w.size, `${name}: ${k} size`);
          }
        }
      });

      await t.test('extract --container: a file the container wrote, and one it deleted (from its image layers)', async () => {
        const running = CONTAINER_CHANGES[CONTAINERS.running];
        const out = path.join(tmp, 'x-running');
        const r = await runCmd(extractCommand, [root, '--container', CONTAINERS.running, running.authorizedKeys, '/etc/passwd', '-o', out]);
        assert.equal(r.code, EXIT.ok, r.stderr);
        const theirs = exported.get(CONTAINERS.running)!;
        for (const p of [running.authorizedKeys, '/etc/passwd']) {
          const got = fs.readFileSync(path.join(out, p));
          assert.equal(createHash('sha256').update(got).digest('hex'), theirs.get(p.slice(1))!.sha256, p);
        }
        // /app/payload.txt: the container deleted it; the image's layers still hold it.
        const gone = running.deleted[0]!;
        const s = await openSource(root);
        let layer: number;
        try {
          const stack = containerStackAnalysis(await analyzeContainer(s, s.containers.find((c) => c.name === CONTAINERS.running)!));
          layer = stack.layers.length - 2;
        } finally {
          await s.close();
        }
        const out2 = path.join(tmp, 'x-gone');
        const r2 = await runCmd(extractCommand, [root, '--container', CONTAINERS.running, '--layer', String(layer), gone, '-o', out2]);
        assert.equal(r2.code, EXIT.ok, r2.stderr);
        assert.ok(fs.existsSync(path.join(out2, gone)), `${gone} recovered from below the RW layer`);
        const top = await runCmd(extractCommand, [root, '--container', CONTAINERS.running, gone, '-o', path.join(tmp, 'x-gone-top')]);
        assert.match(top.stdout + top.stderr, /skipped|not|no such/i, 'at the top it is gone');
      });

      await t.test('changes --all --hash: docker diff of every container, sha256 of the bytes docker export holds', async () => {
        const r = await runCmd(changesCommand, [root, '--all', '--hash', '--format', 'json']);
        assert.equal(r.code, EXIT.ok, r.stderr);
        const doc = JSON.parse(r.stdout);
        assert.equal(doc.schema, 'layerscope.changes/v1');
        for (const name of Object.values(CONTAINERS)) {
          const c = doc.containers.find((x: { name: string }) => x.name === name);
          assert.ok(c, `${name} listed`);
          const lines = c.changes.map((x: { kind: string; path: string }) => `${x.kind} ${x.path}`).sort();
          assert.deepEqual(lines, diffs.get(name), `${name}: docker diff`);
          const theirs = exported.get(name)!;
          let hashed = 0;
          for (const x of c.changes as { kind: string; path: string; sha256?: string }[]) {
            const item = theirs.get(x.path.slice(1));
            if (x.kind === 'D' || item?.type !== 'file') {
              assert.equal(x.sha256, undefined, `${name}: ${x.path} is not a file: no hash`);
              continue;
            }
            assert.equal(x.sha256, item.sha256, `${name}: ${x.path}`);
            hashed++;
          }
          if (name !== CONTAINERS.created) assert.ok(hashed > 0, `${name}: files hashed`);
        }
        const text = await runCmd(changesCommand, [root, '--container', CONTAINERS.running, '--hash']);
        assert.match(text.stdout, new RegExp(`^A ${CONTAINER_CHANGES[CONTAINERS.running].authorizedKeys.replace(/\./g, '\\.')}  sha256:[0-9a-f]{64}$`, 'm'));
      });

      await t.test('timeline --all --hash: the MD5 column is the MD5 of the bytes docker export holds', async () => {
        const r = await runCmd(timelineCommand, [root, '--all', '--hash', '--format', 'body']);
        assert.equal(r.code, EXIT.ok, r.stderr);
        const rows = r.stdout.split('\n').filter(Boolean).map((l) => l.split('|'));
        let checked = 0;
        for (const name of [CONTAINERS.running, CONTAINERS.stopped]) {
          const files = new Map<string, Buffer>();
          const { readTarStream } = await import('../../src/core/sources/tar/index.js');
          for await (const m of readTarStream([raw.get(name)!], { label: 'export' })) if (m.type === 'file') files.set(m.name.replace(/^\.?\//, ''), await m.readBody(64 << 20));
          for (const f of rows.filter((x) => x[1]!.startsWith(`/${name}/`) && x[3]!.startsWith('-'))) {
            const p = f[1]!.slice(name.length + 2).replace(/ \(deleted.*$/, '');
            const want = files.get(p);
            if (!want) continue;
            assert.equal(f[0], md5(want), `${name}: /${p}`);
            checked++;
          }
          assert.ok(rows.some((x) => x[1]!.startsWith(`/${name}/`)), `${name}'s rows are prefixed with its name`);
        }
        assert.ok(checked > 0, `${checked} MD5s checked`);
      });

      await t.test('diff --container: what the container did, as docker diff sees it', async () => {
        const name = CONTAINERS.stopped;
        const r = await runCmd(diffCommand, [root, '--container', name, '--format', 'json', '--content']);
        assert.equal(r.code, EXIT.ok, r.stderr);
        const doc = JSON.parse(r.stdout);
        const rows = new Map<string, string>((doc.files ?? doc.rows ?? []).map((x: { path: string; change: string }) => [x.path, x.change]));
        const want = CONTAINER_CHANGES[name];
        for (const p of want.added) assert.equal(rows.get(p), 'added', `${p} added`);
        for (const p of want.deleted) assert.equal(rows.get(p), 'removed', `${p} removed`);
        for (const p of want.changed.filter((x) => x.endsWith('.txt'))) assert.equal(rows.get(p), 'changed', `${p} changed`);
        const placeholders = [...init.get(name)!].map((p) => '/' + p);
        for (const p of placeholders) assert.equal(rows.get(p), undefined, `${p}: the init layer is on both sides`);
      });

      await t.test('whose --container: the layer a path comes from, and its history', async () => {
        const r = await runCmd(whoseCommand, [root, '--container', CONTAINERS.running, '/etc/passwd', '/' + BLOAT.bigFile.path, '--format', 'json']);
        assert.equal(r.code, EXIT.ok, r.stderr);
        const [passwd, big] = JSON.parse(r.stdout).paths;
        assert.equal(passwd.versions[passwd.versions.length - 1].change, 'modified');
        assert.equal(passwd.visible, passwd.versions[passwd.versions.length - 1].layer, 'the RW layer shows /etc/passwd');
        assert.equal(big.visible, null);
        assert.deepEqual(big.versions.map((v: { layer: number; kind: string }) => [v.layer, v.kind]), [[BLOAT.bigFile.addedIn, 'put'], [BLOAT.bigFile.deletedIn, 'whiteout']]);
      });
      assert.deepEqual(await hashAll(), before, 'the containers\' dirs and RW layers are unchanged');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}
