/**
 * ATTACK: a json-file log with `max-file=100` and no `max-size` in hostconfig.json (the engine refuses
 * `compress` without max-size, so it never wrote a `.gz` here), and 99 rotations `<id>-json.log.N.gz` that are
 * hard links to ONE 1 MiB gzip of 1 GiB of zeros. Each rotation may inflate to LIMITS.logInflatedBytes (16 GiB)
 * when max-size is unknown, and nothing bounds the total: 1 MiB of evidence makes `layerscope logs` inflate
 * 99 GiB (~2 minutes here; with 16 GiB bombs, 16 MiB of evidence, ~30 minutes; `--tail`, which the TUI's logs
 * tab always uses, inflates every compressed file twice: once to count, once to read).
 *
 * Expected: the inflation of one container's log is bounded as a whole (e.g. a total budget, a rotation without
 * a max-size that allows compression refused or capped at the bound of one engine-written file, a file already
 * read under another name not read again), so the run ends in seconds with a problem naming what was cut.
 * Here: it ends within 60 s.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, linkSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip, constants } from 'node:zlib';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { CID, jl, logsRoot } from './logs-lib.js';

before(assertBuilt);

test('99 hard-linked gzip bombs in the rotations of one log are read in bounded time', { timeout: 180_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const J = `${CID}-json.log`;
    const { root, cdir } = logsRoot(dir, { Type: 'json-file', Config: { 'max-file': '100' } }, { [J]: jl('live\n') });
    const zero = Buffer.alloc(1 << 20);
    const bomb = join(cdir, `${J}.99.gz`);
    await pipeline(Readable.from((function* () { for (let i = 0; i < 1024; i++) yield zero; })()), createGzip({ level: constants.Z_BEST_COMPRESSION }), createWriteStream(bomb));
    for (let n = 1; n < 99; n++) linkSync(bomb, join(cdir, `${J}.${n}.gz`));
    const r = await runCli(['logs', root, '--container', 'web'], { timeoutMs: 60_000 });
    assert.equal(r.signal, null, `killed after ${r.ms} ms: 1 MiB of evidence kept logs inflating for over a minute`);
    assert.equal(r.stdout, 'live\n');
  } finally {
    cleanup();
  }
});
