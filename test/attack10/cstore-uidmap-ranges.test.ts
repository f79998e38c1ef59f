/**
 * ATTACK (containers/storage, id maps): a layer's `uidmap`/`gidmap` in layers.json with 500,000 one-id ranges.
 *
 * Observed: every range is kept (store.ts idMaps has no bound) and every file's owner is mapped by a linear scan of
 * them (idmap.ts mapHostId): `files --image` of a 20,000-file layer takes minutes of CPU (3,000 files: 9 s,
 * 640 MB), with no problem said. Time grows with files x ranges: a distro-sized layer would not finish.
 * Expected (bounded time; never trust a count read from evidence): the kernel takes at most 340 ranges in a
 * uid_map (user_namespaces(7)), so no engine ever wrote a layer with more: more is an error naming layers.json,
 * and the listing ends in seconds.
 * Fix (made, src/core/sources/containers-storage/store.ts idMaps): at most 340 ranges are read per map; more is a
 * `layers.uidmap.too-many` error naming layers.json and the map is not used (the layer's ids are shown as stored).
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { requireRoot } from '../support/engine.js';
import { makeCsStore } from './lib.js';

const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/cli/main.js');

test('containers/storage: a layer uidmap of 500,000 ranges is refused, and listing stays fast', { timeout: 120_000 }, async (t: TestContext) => {
  assertBuilt();
  if (!requireRoot(t)) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-uidmap-'));
  try {
    const root = path.join(dir, 'storage');
    const files: Record<string, string> = {};
    for (let i = 0; i < 20_000; i++) files[`f${i}`] = '';
    makeCsStore(root, { files });
    const lf = path.join(root, 'overlay-layers', 'layers.json');
    const layers = JSON.parse(fs.readFileSync(lf, 'utf8'));
    const ranges = Array.from({ length: 500_000 }, (_, i) => ({ container_id: i + 10, host_id: 5_000_000 + i, size: 1 }));
    ranges.push({ container_id: 0, host_id: 0, size: 1 });
    layers[0].uidmap = ranges;
    layers[0].gidmap = ranges;
    fs.writeFileSync(lf, JSON.stringify(layers));
    const t0 = Date.now();
    const r = await execa('node', [CLI, 'files', root, '--image', 'localhost/x:1', '--format', 'json'], { reject: false, timeout: 30_000, maxBuffer: 1 << 28 });
    const ms = Date.now() - t0;
    assert.ok(!r.timedOut, `files finished (took over 30 s with 500,000 ranges x 20,000 files)`);
    assert.ok(ms < 30_000, `${ms} ms`);
    assert.notEqual(r.exitCode, 0, 'exit non-zero');
    const doc = JSON.parse(r.stdout);
    const p = doc.problems.find((x: { code: string }) => x.code === 'layers.uidmap.too-many');
    assert.ok(p, `a layers.uidmap.too-many problem: ${JSON.stringify(doc.problems.map((x: { code: string }) => x.code))}`);
    assert.equal(p.path, lf);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
