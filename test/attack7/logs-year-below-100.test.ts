/**
 * ATTACK: json-file entries whose `time` has a year below 100 (`0050-06-01T00:00:00Z`, `0000-02-29T...`): valid
 * RFC 3339, which Go's time.Parse reads as written and `docker logs -t` prints as written. parseRfc3339 builds
 * the instant with Date.UTC(y, ...), which maps years 0-99 to 1900-1999: the entry is shown as `1950-06-01...`
 * (and --since/--until compare it as 1950), and `0000-02-29` (year 0 is a leap year) is refused as not a time
 * because 1900 is not one. A forensic timeline gets a date 1900 years off, silently.
 *
 * Expected: `logs -t` prints `0050-06-01T00:00:00.000000000Z` and `0000-02-29T12:00:00.000000000Z`, no problem.
 * Code at fault: src/core/sources/logs/time.ts parseRfc3339 / daysIn (and parseDockerTimestamp for --since).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { CID, jl, logsRoot } from './logs-lib.js';

before(assertBuilt);

test('json-file times with years below 100 are printed as written', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { root } = logsRoot(dir, { Type: 'json-file', Config: {} }, {
      [`${CID}-json.log`]: jl('leap\n', 'stdout', '0000-02-29T12:00:00Z') + jl('fifty\n', 'stdout', '0050-06-01T00:00:00Z') + jl('now\n', 'stdout', '2024-05-01T12:00:00Z'),
    });
    const r = await runCli(['logs', root, '--container', 'web', '-t']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, '0000-02-29T12:00:00.000000000Z leap\n0050-06-01T00:00:00.000000000Z fifty\n2024-05-01T12:00:00.000000000Z now\n');
  } finally {
    cleanup();
  }
});
