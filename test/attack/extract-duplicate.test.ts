/**
 * ATTACK: a layer tar holding the same path twice, both copies of the same size. The analysis keeps the LAST copy
 * (as an extracting engine does: containerd and GNU tar overwrite, the later member wins) and says so
 * ("warning layer.duplicate: 1 duplicate member(s); the last of each was kept"). But the bytes `extract` and
 * `export` write come from the FIRST copy: the archive content reader stops at the first member with the path
 * (src/core/export/archive-content.ts, forEach: `left.delete(p)` on the first match). The size check that would
 * catch a difference passes, since both copies have the same size. Exit 0: the responder gets the decoy.
 *
 * Claim broken: extract/export give the files "as layer N had them" / a wrong answer with no error.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tar } from '../sources/tar/helpers.js';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

const DECOY = Buffer.from('root:x:0:0:root:/root:/bin/sh\n');
const REAL = Buffer.from('root::0:0:root:/root:/bin/sh#\n'); // same length: no size mismatch to trip on

test('same path twice in one layer: extract and export must give the copy the analysis kept (the last)', async (t) => {
  assert.equal(DECOY.length, REAL.length);
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = join(dir, 'dup.tar');
  writeFileSync(file, legacySave([{ tag: 'dup:1', layers: [tar([{ name: 'etc/passwd', body: DECOY }, { name: 'etc/passwd', body: REAL }])] }]));
  // GNU tar, extracting, keeps the last copy too.
  assert.equal(execFileSync('sh', ['-c', `mkdir ${dir}/g && tar -xOf ${file} $(tar -tf ${file} | grep layer.tar) | tar -x -C ${dir}/g && cat ${dir}/g/etc/passwd`]).toString(), REAL.toString());

  const out = join(dir, 'out');
  const x = await runCli(['extract', file, '/etc/passwd', '-o', out]);
  assertNoCrash(x);
  assert.match(x.stderr, /the last of each was kept/);
  const got = readFileSync(join(out, 'etc/passwd'));
  assert.equal(got.toString(), REAL.toString(), `extract wrote the first copy (exit ${x.code}), not the one the analysis kept`);

  const e = await runCli(['export', file, '-o', join(dir, 'rootfs.tar')]);
  assertNoCrash(e);
  const exported = execFileSync('tar', ['-xOf', join(dir, 'rootfs.tar'), 'etc/passwd']).toString();
  assert.equal(exported, REAL.toString(), 'export wrote the first copy');
});
