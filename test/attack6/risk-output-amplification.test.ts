/**
 * ATTACK: a 6 MB hostconfig.json (well under the 16 MiB MAX_HOSTCONFIG cap) whose Devices list holds 2,000,000
 * empty objects `{}`. Each one becomes an inspect Devices entry and a risk.device finding (about 330 characters
 * of pretty JSON for 3 input bytes: x110).
 *
 * Observed: `layerscope inspect ROOT --container web --format json`, run with a 4 GiB heap (about Node's default
 * on this 23 GB machine): "layerscope inspect: internal error: RangeError: Invalid string length at
 * JSON.stringify (dist/cli/commands/inspect.js)", exit 70, nothing printed, after 7 s and 1.19 GB RSS. With the
 * test harness's usual 256 MB heap the process aborts (SIGABRT, "heap out of memory") after 4 s. `report
 * --format json` holds the same findings under containers[].risks.
 *
 * Expected: no input makes us crash or spend without bound (README "Evidence made to fool the reader"): the
 * findings (and the listed Devices) are bounded like problems are (listed up to N, then counted) or the document
 * is refused as not the engine's; exit 4 with a problem, never 70.
 *
 * Code at fault: src/core/analysis/risk.ts containerRisks (one finding per CapAdd/Devices/SecurityOpt/mount
 * member, unbounded), src/core/sources/container-config.ts hostConfigOf (Devices copied whole), and
 * src/cli/commands/inspect.ts / src/report/inspect.ts (one JSON.stringify of the whole document).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { containerRoot } from './helpers.js';

before(assertBuilt);

test('2,000,000 Devices in a 6 MB hostconfig.json: inspect --format json does not crash', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const host = '{"Devices":[' + Array(2_000_000).fill('{}').join(',') + ']}';
    const root = containerRoot(dir, {}, host);
    const r = await runCli(['inspect', root, '--container', 'web', '--format', 'json'], { heapMB: 4096, timeoutMs: 50_000 });
    assertNoCrash(r);
    assert.notEqual(r.code, 70, r.stderr.slice(0, 400));
  } finally {
    cleanup();
  }
});
