/**
 * ATTACK: one small layer listed 1,000 times. The archive stores a 500-file layer once (`l/layer.tar`, 0.5 MB);
 * manifest.json lists it 1,000 times and the config's diff_ids repeat its DiffID 1,000 times (a valid image: the
 * engine loads it as 1,000 layers with 1,000 chain IDs; archives accept up to 1,000 layers). Each layer
 * overwrites the 500 files of the one below: 499,500 hidden files, from 0.5 MB of evidence.
 *
 * Observed: `report --format json` under --max-old-space-size=256 dies with "FATAL ERROR: Ineffective
 * mark-compacts near heap limit Allocation failed - JavaScript heap out of memory" after ~9 s (exit 134, 368 MB
 * RSS); with 2,000 files (2 MB archive, 2 million hidden files) after ~12 s. `report` in text and jsonl
 * formats and `files` finish (jsonl writes one line per hidden file as it goes). Cause: src/report/json.ts
 * writeReportJson builds each image whole, `JSON.stringify(imageJson(...), null, 2)`, and imageJson maps every
 * hidden entry to an object (`hidden: a.hidden.map(hiddenJson)`): one image's hidden list is held as objects and
 * one string, though the README says the JSON report is "written as it is produced" and memory is bounded.
 *
 * Expected: the JSON report streams an image's hidden entries (and layers) like jsonl does, or bounds them with
 * a problem; exit 0, no crash, within 60 s.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tar } from '../sources/tar/helpers.js';
import { assertBuilt, assertNoCrash, configOf, hex, runCli, sha256, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

export function repeatedLayerArchive(files: number, times: number): Buffer {
  const layer = tar(Array.from({ length: files }, (_, i) => ({ name: `f/${i}`, body: Buffer.from('x') })));
  const cfg = configOf({ tag: 'amp:1', layers: Array<Buffer>(times).fill(layer) });
  const cfgName = hex(sha256(cfg)) + '.json';
  return tar([
    { name: 'l/', type: '5', mode: 0o755 },
    { name: 'l/layer.tar', body: layer },
    { name: cfgName, body: cfg },
    { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: cfgName, RepoTags: ['amp:1'], Layers: Array(times).fill('l/layer.tar') }])) },
  ]);
}

test('report --format json of 500 files overwritten 999 times (0.5 MB archive): no heap exhaustion', { timeout: 90_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const archive = join(dir, 'amp.tar');
  writeFileSync(archive, repeatedLayerArchive(500, 1000));
  const r = await runCli(['report', archive, '--format', 'json'], { timeoutMs: 60_000 });
  assertNoCrash(r);
  assert.equal(r.code, 0, `exit ${r.code} signal ${r.signal} after ${r.ms} ms, peak RSS ${(r.maxRSS / 2 ** 20).toFixed(0)} MiB\n${r.stderr.slice(0, 400)}`);
});
