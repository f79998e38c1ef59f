/**
 * ATTACK: sparse bbolt files in a containerd root. The bbolt reader copies a whole database into memory when it
 * is at most 1 GiB (src/core/sources/containerd/bbolt.ts, takeSnapshot: `readRaw(0, size)`), whatever its meta
 * page says it uses. meta.db and the snapshotter's metadata.db, each made 1 GiB with truncate (no block on disk,
 * the pages past the high-water mark are never needed), take `report` of an otherwise empty containerd root from
 * ~150 MB to 2.2 GB of RSS (with --max-old-space-size=256: Buffers are outside the heap limit), and nothing says
 * why. Claim broken: "sizes ... sparse sizes ... are bounded before they drive work; memory stays bounded".
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { metaDb, writeTree } from '../support/roots.js';
import { buildBolt } from '../support/bolt-writer.js';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

test('meta.db and metadata.db made 1 GiB sparse: memory stays bounded', { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const root = writeTree(join(dir, 'root'), {
    'io.containerd.metadata.v1.bolt/meta.db': metaDb({ default: { images: {}, containers: {} } }),
    'io.containerd.snapshotter.v1.overlayfs/metadata.db': buildBolt({ v1: { snapshots: {} } }),
    'io.containerd.snapshotter.v1.overlayfs/snapshots': null,
  });
  const plain = await runCli(['report', root, '--format', 'json']);
  assert.equal(plain.code, 0, plain.stderr);
  for (const f of ['io.containerd.metadata.v1.bolt/meta.db', 'io.containerd.snapshotter.v1.overlayfs/metadata.db']) fs.truncateSync(join(root, f), 1 << 30);
  const r = await runCli(['report', root, '--format', 'json']);
  assert.equal(r.signal, null);
  const mib = (n: number) => Math.round(n / 2 ** 20);
  assert.ok(r.maxRSS < plain.maxRSS + 256 * 2 ** 20, `peak RSS ${mib(r.maxRSS)} MiB for two sparse files (${mib(plain.maxRSS)} MiB without), exit ${r.code}`);
});
