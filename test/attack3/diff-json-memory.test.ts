/**
 * ATTACK: `diff` of two images where one has 300,000 empty files (d/<n>) in one gzip layer and the other one
 * file. The OCI archive is 1.9 MB (the layer tar is 150 MB of header blocks, gzip squeezes it to ~1.9 MB).
 *
 * Observed: `layerscope diff A#a:1 A#b:1 --format json` under --max-old-space-size=256 dies after ~11 s with
 * "FATAL ERROR: ... JavaScript heap out of memory" (signal 6, exit 134, 377 MB RSS). `files --format json`
 * (43 MB of output, streamed) and `report --format json` of the same archive finish in under 4 s with ~200 MB
 * RSS; text `diff` survives at 300,000 rows (297 MB RSS) only because its rows are smaller.
 *
 * Expected: diff streams its rows (like files/changes do) or bounds them with a named problem; no crash, exit 0
 * (or 4 with a problem), within the test time. README: "Evidence cannot make us spend unbounded memory".
 *
 * Code at fault: src/core/analysis/compare.ts compareImages pushes every FileDiffRow (with an attrs object
 * per side) into `files` before anything is written; src/report/compare.ts compareJson maps them all into a
 * second array of objects; src/cli/commands/diff.ts then JSON.stringify's the whole thing into one string.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { emptyFiles, gzLayer, ociOf } from './big.js';

before(assertBuilt);

test('diff --format json of a 300,000-file image against a 1-file image (1.9 MB archive): no heap exhaustion', { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const a = await gzLayer(() => emptyFiles(300_000, (i) => `d/${i.toString(36)}`));
  const b = await gzLayer(() => emptyFiles(1, () => 'x'));
  const archive = join(dir, 'wide.tar');
  writeFileSync(archive, ociOf([{ tag: 'a:1', layers: [a] }, { tag: 'b:1', layers: [b] }]));
  const r = await runCli(['diff', `${archive}#a:1`, `${archive}#b:1`, '--format', 'json'], { timeoutMs: 60_000 });
  assertNoCrash(r);
  assert.equal(r.code, 0, `exit ${r.code} signal ${r.signal} after ${r.ms} ms, peak RSS ${(r.maxRSS / 2 ** 20).toFixed(0)} MiB\n${r.stderr.slice(-400)}`);
  assert.equal(r.stdout, JSON.stringify(JSON.parse(r.stdout), null, 2) + '\n', 'the streamed JSON is what JSON.stringify of the whole prints');
  const out = JSON.parse(r.stdout) as { counts: { removed: number; added: number } };
  assert.ok(out.counts.removed >= 300_000, `every file of a:1 is removed in b:1: ${out.counts.removed}`);
});
