/**
 * ATTACK: counts in a Docker data root's metadata that nothing bounds before they drive work. Both crash
 * `report` with "JavaScript heap out of memory" under the 256 MiB heap the README's bounds are tested with.
 *
 * 1. One image config (22 MB, under the 64 MiB MAX_CONFIG) whose rootfs.diff_ids lists 300,000 layers. Archives
 *    refuse more than 1,000 layers (archive.layers.too-many), the stack stops at 4,096 (limit.chain-layers), but
 *    the data-root source builds every LayerInfo, chainID and layerdb lookup, with one `layerdb.missing` error
 *    per layer, none of them counted or capped (src/core/sources/config.ts parseConfig has no bound;
 *    src/core/sources/docker-root/index.ts readLayerRecord notes each).
 * 2. containers/ holding 1,000,000 names (22 MB of directory). The walk of layer dirs reads big directories a name
 *    at a time and stops at LIMITS.dirEntries, but Evidence.readdir (src/core/sources/evidence.ts) reads and sorts
 *    the whole directory, and readContainers notes one `containers.bad-name` warning per name, uncapped.
 * 3. overlay2/ holding 1,000,000 names: the unreferenced-storage pass reads it whole the same way and sizes every
 *    name at once (docker-root/index.ts readStorage: `Promise.all(names.map(treeBytes))`, one walk job each).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { classicRoot, writeTree } from '../support/roots.js';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

function bounded(what: string, r: Awaited<ReturnType<typeof runCli>>) {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal} after ${r.ms} ms`);
  assert.doesNotMatch(r.stderr, /heap out of memory|Allocation failed/, `${what}: ${r.stderr.slice(0, 300)}`);
  assert.ok(r.code === 0 || r.code === 4, `${what}: exit ${r.code} ${r.stderr.slice(0, 300)}`);
}

test('an image config listing 300,000 diff_ids (22 MB): a bounded problem, not an out-of-memory crash', { timeout: 180_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: Array(300_000).fill('sha256:' + 'a'.repeat(64)) } }));
  const id = createHash('sha256').update(cfg).digest('hex');
  const root = writeTree(join(dir, 'root'), classicRoot('overlay2', { [`image/overlay2/imagedb/content/sha256/${id}`]: cfg, 'overlay2/l': null }));
  bounded('report', await runCli(['report', root, '--format', 'json'], { timeoutMs: 60_000 }));
});

for (const where of ['containers', 'overlay2']) {
  test(`${where}/ with 1,000,000 names: bounded like a layer directory, not an out-of-memory crash`, { timeout: 300_000 }, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const root = writeTree(join(dir, 'root'), classicRoot('overlay2', { 'overlay2/l': null }));
    const c = join(root, where);
    // Hard links: a million names for a few inodes (ext4 allows 65,000 links per inode).
    let seed = '';
    for (let i = 0; i < 1_000_000; i++) {
      if (i % 60_000 === 0) fs.writeFileSync((seed = join(dir, `seed${i}`)), '');
      fs.linkSync(seed, join(c, `n${String(i).padStart(7, '0')}`));
    }
    bounded('report', await runCli(['report', root, '--format', 'json'], { timeoutMs: 60_000 }));
  });
}
