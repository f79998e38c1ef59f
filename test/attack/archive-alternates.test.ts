/**
 * ATTACK: repeated references in an archive. manifest.json lists the same config 900 times, each entry naming
 * 1,000 layer paths of its own (18.8 MB archive; manifest.json stays under MAX_JSON and MAX_JSON_VALUES). The
 * image is listed once and every other entry becomes an "alternate" (src/core/sources/archive/images.ts: no bound
 * on alternates, and `alts.some(same)` compares each new one with all before it); readLayer builds refsOf for
 * every layer with a pairwise de-duplication (src/core/sources/archive/open.ts: `out.some(keyOf(x) === keyOf(r))`),
 * O(entries^2) per layer, and with --verify one error per alternate per layer (900,000 problems).
 * Observed: `report` takes 58 s, `report --verify` dies with "JavaScript heap out of memory" after 50 s.
 * Claim broken: "counts read from evidence are bounded before they drive work (... repeated references)".
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tar } from '../sources/tar/helpers.js';
import { assertBuilt, configOf, hex, runCli, sha256, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

test('900 manifest entries for one config, 1,000 layer paths each: bounded time and memory', { timeout: 180_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const N = 900;
  const L = 1000;
  const layer = tar([{ name: 'f', body: Buffer.from('x') }]);
  const cfg = configOf({ tag: 'a:1', layers: Array(L).fill(layer) });
  const cfgName = hex(sha256(cfg)) + '.json';
  const manifest = Array.from({ length: N }, (_, i) => ({ Config: cfgName, RepoTags: i ? [] : ['a:1'], Layers: Array.from({ length: L }, (_, j) => `x${i}_${j}/layer.tar`) }));
  const file = join(dir, 'alts.tar');
  writeFileSync(file, tar([{ name: 'l/layer.tar', body: layer }, { name: cfgName, body: cfg }, { name: 'manifest.json', body: Buffer.from(JSON.stringify(manifest)) }]));
  const r = await runCli(['report', file, '--verify', '--format', 'json'], { timeoutMs: 60_000 });
  assert.equal(r.signal, null, `report --verify killed by ${r.signal} after ${r.ms} ms: ${r.stderr.slice(0, 200)}`);
  assert.doesNotMatch(r.stderr, /heap out of memory/);
  assert.equal(r.code, 4, r.stderr.slice(0, 300));
});
