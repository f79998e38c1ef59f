/**
 * ATTACK: a json-file log (here a compressed rotation, legal with max-size=20m, max-file=2, compress=true) whose
 * lines are empty: 5 MiB of `\n` (5 KiB of gzip). Every line is "not JSON", and each costs a JSON.parse that
 * throws plus a problem: about 20 µs a line on this machine, so 5 MiB of evidence costs ~100 s, a 16 MiB
 * `.gz` that inflates to max-size 20m ~7 min, and a rotation of an engine with a larger max-size hours: time that
 * the evidence sets, for bytes an engine never writes. A good log of the same size (~85,000 entries) is read in
 * well under a second.
 *
 * Observed (before a fix): `layerscope logs ROOT --container web` is killed by the 30 s time limit.
 * Expected: damaged lines cost about what good bytes cost (e.g. a line too short to be an entry refused without
 * a JSON.parse, or a file given up after a bound of bad lines with one problem saying so); the run ends within
 * seconds, naming the damage, exit 4.
 *
 * Code at fault: src/core/sources/logs/json-file.ts decodeJsonLine (JSON.parse per line, exceptions), and
 * readEntries's note() per bad line in src/core/sources/logs/index.ts.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { CID, jl, logsRoot } from './logs-lib.js';

before(assertBuilt);

test('a rotation of 5 MiB of empty lines is read in bounded time', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const J = `${CID}-json.log`;
    const { root } = logsRoot(dir, { Type: 'json-file', Config: { 'max-size': '20m', 'max-file': '2', compress: 'true' } }, {
      [`${J}.1.gz`]: gzipSync(Buffer.alloc(5 << 20, 0x0a)),
      [J]: jl('live\n'),
    });
    const r = await runCli(['logs', root, '--container', 'web'], { timeoutMs: 30_000 });
    assert.equal(r.signal, null, `killed after ${r.ms} ms: 5 MiB of blank lines cost more than 30 s`);
    assert.equal(r.stdout, 'live\n');
    assert.equal(r.code, 4);
  } finally {
    cleanup();
  }
});
