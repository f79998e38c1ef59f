/**
 * containers/storage stores (podman, buildah) read offline, against podman itself on the same store: a rootful
 * store on the kernel's overlay, one mounted through fuse-overlayfs, and a rootless one (user.overlay.* xattrs,
 * host ids of a subordinate range). Compared: `podman image inspect` (Id, RepoTags, RootFS.Layers) and
 * `podman images -a`, each layer's changes with the layer tars of `podman save`, `podman ps -a --external`
 * (names, states, exit codes), `podman diff` with our changes, `podman export` with our `export --container`,
 * and verify's integrity (tar-split) on the store and on a copy with one file altered. The store is hashed
 * before and after: nothing we run writes to it.
 *
 * podman is managed here (test/support/podman.ts), not by run.mjs: without root or podman the tests SKIP loudly.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashTree, copyTree } from '../../support/engine.js';
import { PODMAN, podmanStore, type PodmanStore, type StoreMode } from '../../support/podman.js';
import { tarManifest, type TarItem } from '../../workflows/engine-answers.js';
import { runCmd } from '../../workflows/helpers.js';
import { openSource } from '../../../src/core/sources/open.js';
import { analyzeContainer } from '../../../src/core/analysis/container.js';
import type { Source } from '../../../src/core/model/source.js';
import type { ImageInfo, LayerEntry } from '../../../src/core/model/types.js';
import { EXIT } from '../../../src/cli/command.js';
import { exportCommand } from '../../../src/cli/commands/export.js';
import { verifyCommand } from '../../../src/cli/commands/verify.js';
import { reportCommand } from '../../../src/cli/commands/analysis.js';
import { logsCommand } from '../../../src/cli/commands/logs.js';

/** A layer's rows as comparable lines (hard links as the files they are: which name is "first" is the tar's choice). */
function rows(entries: LayerEntry[], withTimes: boolean): string[] {
  return entries
    .map((e) => {
      if (e.kind === 'whiteout') return `D ${e.path}`;
      const a = e.attrs;
      const type = a.type === 'hardlink' ? 'file' : a.type;
      const link = a.type === 'symlink' ? ` -> ${a.linkname}` : '';
      return `P ${e.path} ${type} ${a.mode.toString(8)} ${a.uid}:${a.gid} ${type === 'file' ? a.size : 0}${link}${e.opaque ? ' opaque' : ''}${withTimes ? ` @${a.mtime}` : ''}`;
    })
    .sort();
}

function byTag(s: Source, tag: string): ImageInfo {
  const i = s.images.find((x) => x.tags.includes(tag));
  assert.ok(i, `${tag} listed (have ${s.images.map((x) => x.tags.join(',')).join(' ')})`);
  return i;
}

/** Comparable form of an export's members (times left out: podman export writes the merged view's). */
function exportLines(m: Map<string, TarItem>): string[] {
  return [...m].map(([p, v]) => `${p} ${v.type} ${v.mode.toString(8)} ${v.uid}:${v.gid} ${v.size} ${v.type === 'symlink' ? v.linkname : ''} ${v.sha256 ?? ''}`).sort();
}

interface Answers {
  inspect: Map<string, { Id: string; RepoTags: string[]; RepoDigests: string[]; RootFS: { Layers: string[] } }>;
  all: string[];
  named: string[];
  saved: Map<string, string>;
  ps: { Id: string; Names: string[]; State: string; ExitCode: number; Image: string }[];
  diff: Map<string, string[]>;
  exported: Map<string, Map<string, TarItem>>;
}

/** Everything podman says of the store, asked before we read it (podman itself writes to its store: locks, state). */
async function podmanAnswers(store: PodmanStore): Promise<Answers> {
  const pm = async (args: string[]) => {
    const r = await store.pm(args);
    assert.equal(r.code, 0, `podman ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.toString('utf8');
  };
  const inspect = new Map();
  for (const tag of [PODMAN.base, PODMAN.app, PODMAN.bud]) inspect.set(tag, JSON.parse(await pm(['image', 'inspect', tag]))[0]);
  const ids = (text: string) => [...new Set(text.split('\n').filter(Boolean).map((x) => 'sha256:' + x.replace(/^sha256:/, '')))].sort();
  const all = ids(await pm(['images', '-a', '-q', '--no-trunc']));
  const named = ids(await pm(['images', '-q', '--no-trunc']));
  const scratch = store.scratch();
  const saved = new Map<string, string>();
  for (const tag of [PODMAN.app, PODMAN.bud]) {
    const tar = path.join(scratch, tag.replace(/\W/g, '_') + '.tar');
    await pm(['save', '--format', 'docker-archive', '-o', tar, tag]);
    saved.set(tag, tar);
  }
  const ps = JSON.parse(await pm(['ps', '-a', '--external', '--format', 'json']));
  const diff = new Map<string, string[]>();
  for (const p of ps) diff.set(p.Id, (await pm(['diff', p.Id])).split('\n').filter(Boolean).sort());
  const exported = new Map<string, Map<string, TarItem>>();
  // podman export knows its own containers only (not buildah's working ones).
  for (const name of [PODMAN.exited, PODMAN.running, PODMAN.created]) {
    const out = path.join(scratch, `${name}.tar`);
    await pm(['export', '-o', out, name]);
    exported.set(name, await tarManifest(fs.readFileSync(out)));
  }
  return { inspect, all, named, saved, ps, diff, exported };
}

async function checkStore(t: TestContext, store: PodmanStore): Promise<void> {
  const answers = await podmanAnswers(store);
  const before = await hashTree(store.storage);
  const source = await openSource(store.storage);
  try {
    assert.equal(source.kind, 'containers-storage');
    const errors = source.problems.filter((p) => p.severity !== 'info');
    assert.deepEqual(errors, [], 'an untouched store has no problems');

    await t.test('images: podman image inspect (Id, RepoTags, RepoDigests, RootFS.Layers) and podman images [-a]', () => {
      for (const [tag, theirs] of answers.inspect) {
        const ours = byTag(source, tag);
        assert.equal(ours.id, 'sha256:' + theirs.Id, `${tag}: Id`);
        assert.deepEqual([...ours.tags].sort(), [...theirs.RepoTags].sort(), `${tag}: RepoTags`);
        assert.deepEqual(ours.layers.map((l) => l.diffId), theirs.RootFS.Layers, `${tag}: RootFS.Layers`);
        assert.deepEqual(ours.digests, [...theirs.RepoDigests].sort(), `${tag}: RepoDigests`);
      }
      assert.deepEqual(source.images.map((i) => i.id).sort(), answers.all, 'podman images -a');
      assert.deepEqual(source.images.filter((i) => !i.intermediate).map((i) => i.id).sort(), answers.named, 'podman images (build steps hidden)');
    });

    await t.test("each layer's changes equal the layer tars of podman save", async () => {
      for (const [tag, tar] of answers.saved) {
        const saved = await openSource(tar);
        try {
          const ours = byTag(source, tag);
          const theirs = saved.images[0]!;
          assert.deepEqual(theirs.layers.map((l) => l.diffId), ours.layers.map((l) => l.diffId));
          for (let i = 0; i < ours.layers.length; i++) {
            const a = (await source.readLayer(ours, i)).entries;
            const b = (await saved.readLayer(theirs, i)).entries;
            assert.deepEqual(rows(a, true), rows(b, true), `${tag} layer ${i}`);
          }
        } finally {
          await saved.close();
        }
      }
    });

    await t.test('containers: podman ps -a --external (names, states, exit codes, images)', () => {
      assert.equal(source.containers.length, answers.ps.length);
      for (const p of answers.ps) {
        const c = source.containers.find((x) => x.id === p.Id);
        assert.ok(c, `${p.Names[0]} listed`);
        assert.equal(c.name, p.Names[0]);
        assert.equal(c.imageRef, p.Image, `${c.name}: image`);
        // buildah's working containers have no podman state: podman says "storage", we say created.
        assert.equal(c.state, p.State === 'storage' ? 'created' : p.State, `${c.name}: state`);
        if (p.State === 'exited') assert.equal(c.exitCode, p.ExitCode, `${c.name}: exit code`);
      }
      assert.equal(source.containers.find((c) => c.name === PODMAN.exited)!.exitCode, 3);
      assert.equal(source.containers.find((c) => c.name === PODMAN.running)!.state, 'running');
    });

    await t.test('changes: podman diff of every container', async () => {
      for (const c of source.containers) {
        const theirs = answers.diff.get(c.id)!;
        const ca = await analyzeContainer(source, c);
        assert.deepEqual(ca.changes.map((x) => `${x.kind} ${x.path}`).sort(), theirs, `${c.name}: podman diff`);
        if (c.name === PODMAN.exited) assert.ok(theirs.includes('A /run/left-by-container'), 'a file below /run is a change');
      }
    });

    await t.test('export --container equals podman export', async () => {
      const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-pm-export-'));
      try {
        for (const [name, theirs] of answers.exported) {
          const out = path.join(work, `${name}.tar`);
          const r = await runCmd(exportCommand, [store.storage, '--container', name, '-o', out]);
          assert.equal(r.code, EXIT.ok, r.stderr);
          const ours = await tarManifest(fs.readFileSync(out));
          assert.deepEqual(exportLines(ours), exportLines(theirs), `${name}: podman export`);
        }
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
    });

    await t.test('verify: integrity OK on the store (tar-split), tampered on a copy with one file altered', async () => {
      const r = await runCmd(verifyCommand, [store.storage, '--no-mount', '--format', 'json']);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.integrity.ran, true, r.stdout.slice(0, 400));
      for (const l of doc.layers) assert.equal(l.integrity.status, 'ok', `${l.chainId}: ${JSON.stringify(l.integrity)}`);
      assert.equal(r.code, EXIT.ok, r.stderr);
      const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-pm-copy-'));
      try {
        await copyTree(store.storage, path.join(copy, 'storage'));
        // Same length, other bytes: only the content hash can tell.
        const app = byTag(source, PODMAN.app);
        const f = path.join(copy, 'storage', 'overlay', app.layers[2]!.cacheId!, 'diff', 'opq', 'c');
        const st = fs.statSync(f);
        fs.writeFileSync(f, 'X'.repeat(st.size));
        fs.utimesSync(f, st.atime, st.mtime);
        const v = await runCmd(verifyCommand, [path.join(copy, 'storage'), '--no-mount', '--format', 'json']);
        const d = JSON.parse(v.stdout);
        const hit = d.layers.find((l: { cacheId: string }) => l.cacheId === app.layers[2]!.cacheId);
        assert.equal(hit.integrity.status, 'tampered', JSON.stringify(hit.integrity));
        assert.notEqual(v.code, EXIT.ok);
        assert.equal(d.layers.filter((l: { integrity: { status: string } }) => l.integrity.status === 'tampered').length, 1, 'only the altered layer');
      } finally {
        fs.rmSync(copy, { recursive: true, force: true });
      }
    });

    await t.test("logs: podman's k8s-file log is said to be unread, not taken for a missing one", async () => {
      const r = await runCmd(logsCommand, [store.storage, '--container', PODMAN.exited]);
      assert.notEqual(r.code, EXIT.ok);
      assert.match(r.stderr, /userdata\/ctr\.log \(the k8s-file format\), which layerscope does not read yet/);
    });

    await t.test('report: every image and container, exit 0; a rootless container is not "root on the host"', async () => {
      const r = await runCmd(reportCommand, [store.storage, '--format', 'json']);
      assert.equal(r.code, EXIT.ok, r.stderr);
      const doc = JSON.parse(r.stdout);
      const running = doc.containers.find((c: { name: string }) => c.name === PODMAN.running);
      assert.ok(running, 'the running container listed');
      const rootRisk = running.risks.findings.some((f: { code: string }) => f.code === 'risk.root-user');
      assert.equal(rootRisk, store.mode !== 'rootless', `risk.root-user (${store.mode})`);
    });
  } finally {
    await source.close();
  }
  assert.equal(await hashTree(store.storage), before, 'the store is unchanged by everything we ran');
}

for (const mode of ['rootful', 'fuse', 'rootless'] as StoreMode[]) {
  test(`containers/storage (${mode}) against podman`, { timeout: 300_000 }, async (t) => {
    const store = await podmanStore(t, mode);
    if (!store) return;
    try {
      await checkStore(t, store);
    } finally {
      await store.remove();
    }
  });
}
