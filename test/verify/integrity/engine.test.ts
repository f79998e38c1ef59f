/**
 * verifyLayerIntegrity on real engines' data roots (test/run.mjs starts them and builds the fixtures).
 *
 * 1. Every layer of every fixture image verifies: computed diffId == the image config's diffID, no findings
 *    (Docker 20.10, and Docker 26 with overlay2 when present, including the 20.10-built images it loaded).
 * 2. On a COPY of ls-bloat's layers (layerdb dirs + overlay2 dirs, cp -a with xattrs), six tamperings in six
 *    different lower layers, each covered up as a careful attacker would (mtimes put back): each is caught and
 *    named in its own layer, and every other layer still verifies.
 * 3. The original evidence (layerdb and overlay2 dirs read) hashes the same before and after (ctime and inode
 *    numbers included).
 * Every layer is verified twice, with the file bodies read inline and in the worker thread: same result.
 * The layers are found by reading layerdb directly: diffIDs -> chainIDs -> layerdb/sha256/<chainID>/cache-id.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chainIds } from '../../../src/core/analysis/chain.js';
import { verifyLayerIntegrity, type IntegrityResult } from '../../../src/core/verify/integrity/index.js';
import { copyTree, diffManifests, getEngine, treeManifest, type Engine, type EngineName } from '../../support/engine.js';
import { IMAGES, IMAGES_FROM20 } from '../../support/fixtures-manifest.mjs';

interface LayerRef {
  index: number;
  diffId: string;
  chainId: string;
  cacheId: string;
  /** Relative to the data root. */
  layerdbDir: string;
  overlayDir: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

async function layersOf(e: Engine, image: string): Promise<LayerRef[]> {
  const { stdout } = await e.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', image]);
  const diffIds = JSON.parse(stdout) as string[];
  const chains = chainIds(diffIds);
  return diffIds.map((diffId, index) => {
    const chainId = chains[index]!;
    const layerdbDir = `image/overlay2/layerdb/sha256/${chainId.slice(7)}`;
    const stored = fs.readFileSync(path.join(e.dataRoot, layerdbDir, 'diff'), 'utf8').trim();
    assert.equal(stored, diffId, `layerdb ${chainId} diff`);
    const cacheId = fs.readFileSync(path.join(e.dataRoot, layerdbDir, 'cache-id'), 'utf8').trim();
    assert.match(cacheId, HEX64); // never trust a cache-id read from evidence
    return { index, diffId, chainId, cacheId, layerdbDir, overlayDir: `overlay2/${cacheId}` };
  });
}

/** Verified with the bodies read inline and in the worker thread: both must give exactly the same result. */
async function verifyIn(root: string, l: LayerRef): Promise<IntegrityResult> {
  const opts = { tarSplitPath: path.join(root, l.layerdbDir, 'tar-split.json.gz'), diffDir: path.join(root, l.overlayDir, 'diff'), diffId: l.diffId };
  const inline = await verifyLayerIntegrity({ ...opts, threads: 'inline' });
  const threaded = await verifyLayerIntegrity({ ...opts, threads: 'threads' });
  assert.deepEqual(threaded, inline, `${l.chainId}: the worker thread and the inline reader disagree`);
  return inline;
}

const brief = (r: IntegrityResult): string[] => r.findings.map((f) => `${f.kind} ${f.path}`);

/** Manifest (strict: ctime and inode numbers too) of every dir we read, for the before/after comparison. */
async function evidenceManifest(root: string, layers: LayerRef[]): Promise<string[]> {
  const out: string[] = [];
  for (const l of layers) {
    for (const d of [l.layerdbDir, path.join(l.overlayDir, 'diff')]) {
      for (const line of await treeManifest(path.join(root, d), { strict: true })) out.push(`${d} ${line}`);
    }
  }
  return out;
}

async function uniqueLayers(e: Engine, images: string[]): Promise<Map<string, LayerRef>> {
  const all = new Map<string, LayerRef>();
  for (const image of images) for (const l of await layersOf(e, image)) all.set(l.chainId, l);
  return all;
}

for (const which of ['docker20', 'docker26'] as EngineName[]) {
  test(`${which}: every layer of every fixture image verifies (computed diffId == diffID, no findings)`, async (t) => {
    const e = getEngine(t, which);
    if (!e) return;
    const images = [IMAGES.base, IMAGES.bloat, IMAGES.deep];
    if (which === 'docker26') images.push(IMAGES_FROM20.base, IMAGES_FROM20.bloat, IMAGES_FROM20.deep);
    const layers = await uniqueLayers(e, images);
    assert.ok(layers.size >= 1 + 11 + 80, `only ${layers.size} layers`);
    const before = await evidenceManifest(e.dataRoot, [...layers.values()]);
    let bytes = 0;
    for (const l of layers.values()) {
      const r = await verifyIn(e.dataRoot, l);
      assert.deepEqual(brief(r), [], `${l.chainId}: ${JSON.stringify(r.findings)}`);
      assert.equal(r.computedDiffId, l.diffId, l.chainId);
      assert.equal(r.ok, true);
      bytes += r.stats.bytesRead;
    }
    assert.ok(bytes > 3 * 1024 * 1024, 'the 3 MiB file of ls-bloat was read');
    const after = await evidenceManifest(e.dataRoot, [...layers.values()]);
    assert.equal(diffManifests(before, after), '', 'evidence changed while verifying');
  });
}

test('docker20: tampering in a copy of ls-bloat\'s lower layers is caught, named, and nothing else is flagged', async (t) => {
  const e = getEngine(t, 'docker20');
  if (!e) return;
  const layers = await layersOf(e, IMAGES.bloat);
  const before = await evidenceManifest(e.dataRoot, layers);

  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-integrity-root-'));
  t.after(() => fs.rmSync(copy, { recursive: true, force: true }));
  for (const l of layers) {
    await copyTree(path.join(e.dataRoot, l.layerdbDir), path.join(copy, l.layerdbDir));
    await copyTree(path.join(e.dataRoot, l.overlayDir, 'diff'), path.join(copy, l.overlayDir, 'diff'));
  }
  // The copy is faithful: every layer verifies there too.
  for (const l of layers) assert.deepEqual(brief(await verifyIn(copy, l)), [], `copy of layer ${l.index}`);

  const diff = (i: number, rel = '') => path.join(copy, layers[i]!.overlayDir, 'diff', rel);
  /** Run an edit, then put back the mtimes of `keep` (relative to layer i's diff dir). */
  const covered = (i: number, keep: string[], edit: () => void) => {
    const times = keep.map((rel) => [rel, fs.lstatSync(diff(i, rel))] as const);
    edit();
    for (const [rel, st] of times) fs.lutimesSync(diff(i, rel), st.atime, st.mtime);
  };
  const cafe = Buffer.from('names/café.txt', 'utf8').toString('latin1');
  const expected = new Map<number, string[]>([
    [1, ['owner app/payload.txt']],
    [2, ['content data/overwritten.txt']],
    [3, ['added data/implant.so']],
    [8, ['linkname links/rel']],
    [9, [`missing ${cafe}`]],
    [10, ['mode usr/local/bin/suid-helper']],
  ]);
  // L1 COPY --chown=1000:1000: change the owner
  fs.chownSync(diff(1, 'app/payload.txt'), 0, 0);
  // L2: modify a file's bytes (same size, mtime put back)
  covered(2, ['data/overwritten.txt'], () => {
    const fd = fs.openSync(diff(2, 'data/overwritten.txt'), 'r+');
    fs.writeSync(fd, 'ORIGINAL');
    fs.closeSync(fd);
  });
  // L3: add a file
  covered(3, ['data'], () => fs.writeFileSync(diff(3, 'data/implant.so'), 'evil'));
  // L8: swap a symlink's target
  covered(8, ['links'], () => {
    const st = fs.lstatSync(diff(8, 'links/rel'));
    fs.unlinkSync(diff(8, 'links/rel'));
    fs.symlinkSync('/etc/shadow', diff(8, 'links/rel'));
    fs.lutimesSync(diff(8, 'links/rel'), st.atime, st.mtime);
  });
  // L9: delete a file (a UTF-8 name)
  covered(9, ['names'], () => fs.unlinkSync(diff(9, 'names/café.txt')));
  // L10: chmod the setuid helper
  fs.chmodSync(diff(10, 'usr/local/bin/suid-helper'), 0o755);

  for (const l of layers) {
    const r = await verifyIn(copy, l);
    const want = expected.get(l.index) ?? [];
    assert.deepEqual(brief(r), want, `layer ${l.index}: ${JSON.stringify(r.findings, null, 1)}`);
    assert.equal(r.ok, want.length === 0, `layer ${l.index} ok`);
    // Reassembly alone sees only the changed and the deleted bytes; the rest is caught by the header/lstat checks
    // and the walk.
    assert.equal(r.computedDiffId === l.diffId, l.index !== 2 && l.index !== 9, `layer ${l.index} diffId`);
    for (const f of r.findings) assert.ok(f.message.length > 10);
  }
  const l1 = (await verifyIn(copy, layers[1]!)).findings[0]!;
  assert.equal(l1.expected, '1000:1000');
  assert.equal(l1.actual, '0:0');

  const after = await evidenceManifest(e.dataRoot, layers);
  assert.equal(diffManifests(before, after), '', 'the original evidence changed');
});
