/**
 * ATTACK: a layer whose members go on after a single zero block (no second one). layerscope's readers
 * (src/core/sources/tar/stream-reader.ts, file-reader.ts, driven by HeaderAssembler.header: any zero block is
 * `{ kind: 'end' }`) stop at the first zero block and drop the members after it without a word; Go's readHeader
 * returns ErrHeader for a zero block followed by a non-zero one, so the engine refuses the layer.
 *
 * Observed (test/attack2/layers.ts LONE_ZERO_BLOCK, legacy save): `verify img.tar` prints "OK: 1 layer(s) and
 * 1 stack(s) verified" and exits 0; `report --verify` exits 0 with no problem; /etc/cron.d/evil, 43 bytes past
 * the zero block, is nowhere. Docker 20.10.24: `docker load` fails with "Error processing tar file(exit status 1):
 * archive/tar: invalid tar header".
 *
 * Expected: the layer is an evidence error naming the layer and the offset (exit 4 for report, not OK for
 * verify): bytes the analysis skipped are bytes the archive holds that nobody has looked at, and the engine
 * would not load this image as analysed.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { LONE_ZERO_BLOCK } from './layers.js';

before(assertBuilt);

test('members after a single zero block: an error, and verify does not say OK', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const archive = join(dir, 'img.tar');
  writeFileSync(archive, legacySave([{ tag: 'zero:1', layers: [LONE_ZERO_BLOCK] }]));
  const rep = await runCli(['report', archive, '--verify', '--format', 'json']);
  assertNoCrash(rep);
  const problems = (JSON.parse(rep.stdout) as { problems: { severity: string; code: string }[] }).problems;
  const v = await runCli(['verify', archive]);
  assertNoCrash(v);
  assert.deepEqual(
    { reportExit: rep.code, reportErrors: problems.filter((p) => p.severity === 'error').length > 0, verifyExit: v.code === 0 ? 0 : 'non-zero' },
    { reportExit: 4, reportErrors: true, verifyExit: 'non-zero' },
    `report problems: ${JSON.stringify(problems)}\nverify:\n${v.stdout}${v.stderr}`,
  );
});
