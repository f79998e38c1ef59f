/**
 * ATTACK: a volume whose `_data` nests 10,000 directories (a path of ~20,000 bytes, past PATH_MAX) with a file at
 * the bottom. The README says deep trees are read through /proc/self/fd anchors, not refused, and `files
 * --volume` does list all 10,002 entries; but `extract --volume deep -o DIR` creates the 10,000 dirs and then
 * fails on the one file: `extract.failed ... ENAMETOOLONG: name too long, lstat '<20 KB path>'` (exit 4), so the
 * only data in the volume is not copied out. (safeHostPath in src/core/export/content.ts lstat's each parent by
 * its full path, which also makes it quadratic in depth.)
 *
 * Expected: the file is copied (its bytes in DIR/d/.../f), as every shallower file is; no problem.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { volumeMount, volumesRoot } from './volumes-lib.js';

before(assertBuilt);

const DEPTH = 10_000;

test('extract --volume copies a file 10,000 directories deep', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const root = volumesRoot(dir, ['deep'], { '/data': volumeMount('deep', '/data') });
    // Built with relative mkdir/chdir: the full path is longer than the kernel takes in one call.
    execFileSync(process.execPath, ['-e', `const fs=require('fs');process.chdir(process.argv[1]);for(let i=0;i<${DEPTH};i++){fs.mkdirSync('d');process.chdir('d')}fs.writeFileSync('f','bottom\\n')`, join(root, 'volumes/deep/_data')]);
    const out = join(dir, 'out');
    const r = await runCli(['extract', root, '--volume', 'deep', '-o', out, '--format', 'json'], { timeoutMs: 100_000 });
    assert.equal(r.signal, null, r.stderr.slice(0, 500));
    const j = JSON.parse(r.stdout) as { files: number; dirs: number; problems: { code: string; message: string }[] };
    assert.equal(j.dirs, DEPTH);
    assert.deepEqual(j.problems.map((p) => `${p.code}: ${p.message.replace(/(d\/)+/g, 'd/…/').slice(0, 200)}`), []);
    assert.equal(j.files, 1);
    // Read back the same way it was written.
    const got = execFileSync(process.execPath, ['-e', `const fs=require('fs');process.chdir(process.argv[1]);for(let i=0;i<${DEPTH};i++)process.chdir('d');process.stdout.write(fs.readFileSync('f'))`, out]).toString();
    assert.equal(got, 'bottom\n');
    assert.equal(r.code, 0);
  } finally {
    cleanup();
  }
});
