/**
 * ATTACK: one deep path in an image archive (a PAX `path` record of N components; the tar reader accepts any
 * depth from archives). The README bounds path depth at 16,384 components and promises no crash and bounded time
 * and memory (256 MiB heap, 60 s).
 *
 * 1. `extract` of a 3,000-deep path does not finish in 60 s (1,000 deep: 6.5 s; 500: 1.2 s; cubic). The profile
 *    is displayPath/escapeText: OutputDir.parts() (src/core/output/dir.ts) calls checkName(c, this.host(whole
 *    path)) for every component of every entry, and host() escapes the whole path each time: O(depth^3).
 * 2. `files`, `diff` and `export` of a 16,000-deep path (below the 16,384 bound) die with "JavaScript heap out
 *    of memory" (256 MiB heap): walkMerged (src/core/analysis/views.ts) keeps the full path string of every open
 *    directory in `prefix`, O(depth^2) characters (~256 M here).
 * 3. `verify` (mount check) of a 10,000-deep archive: "Maximum call stack size exceeded" from the recursive
 *    ensureDirs in src/core/verify/mount/unpack.ts; the stacks end as errors, exit 1.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tar, paxRecord } from '../sources/tar/helpers.js';
import { assertBuilt, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

function deepArchive(dir: string, depth: number): string {
  const deep = Array.from({ length: depth }, () => 'd').join('/') + '/f';
  const layer = tar([{ name: 'placeholder', body: Buffer.from('deep'), pax: [paxRecord('path', deep)] }, { name: 'etc/x', body: Buffer.from('x') }]);
  const file = join(dir, `deep${depth}.tar`);
  writeFileSync(file, legacySave([{ tag: 'deep:1', layers: [layer] }]));
  return file;
}

function noCrash(what: string, r: Awaited<ReturnType<typeof runCli>>) {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal} after ${r.ms} ms (the 60 s bound)`);
  assert.doesNotMatch(r.stderr, /heap out of memory|Allocation failed|RangeError|Maximum call stack/, `${what}: ${r.stderr.slice(0, 400)}`);
  assert.ok(r.code === 0 || r.code === 4, `${what}: exit ${r.code}: ${r.stderr.slice(0, 400)}`);
}

test('extract of a 3,000-deep path finishes within 60 s', { timeout: 120_000 }, async (t) => {
  const { dir } = tempDir();
  // GNU rm: fs.rmSync gives up (ENAMETOOLONG) on the deep tree a killed extract leaves.
  t.after(() => execFileSync('rm', ['-rf', dir]));
  const file = deepArchive(dir, 3_000);
  const r = await runCli(['extract', file, '/', '-o', join(dir, 'out')], { timeoutMs: 60_000 });
  noCrash('extract', r);
});

test('files, diff and export of a 16,000-deep path (below the 16,384 bound) with a 256 MiB heap', { timeout: 300_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = deepArchive(dir, 16_000);
  noCrash('files', await runCli(['files', file, '--format', 'json'], { timeoutMs: 60_000 }));
  noCrash('diff', await runCli(['diff', file, file], { timeoutMs: 60_000 }));
  noCrash('export', await runCli(['export', file, '-o', join(dir, 'rootfs.tar')], { timeoutMs: 60_000 }));
});

test('verify (mount check) of a 10,000-deep archive: no stack overflow', { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = deepArchive(dir, 10_000);
  const r = await runCli(['verify', file], { timeoutMs: 60_000 });
  assert.equal(r.signal, null);
  assert.doesNotMatch(r.stdout + r.stderr, /Maximum call stack size exceeded/, r.stdout);
});
