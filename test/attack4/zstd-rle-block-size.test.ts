/**
 * ATTACK: zstd layers whose RLE blocks declare a Block_Size above 128 KiB (Block_Maximum_Size, RFC 8878
 * §3.1.1.2.3: "Block_Size is limited by Block_Maximum_Size"), up to the 21-bit field's 2 MiB - 1, read where the
 * `zstd` binary is not on PATH (the built-in fzstd decoder). Each such block is 4 bytes of evidence.
 *
 * Observed: (a) one file of 256 KiB of zeros in a frame with one 256 KiB RLE block (8 MiB window): `zstd -dc`
 * says "Decoding error (36) : Data corruption detected" (so does Go's klauspost decoder, which the engines use:
 * blocks over 128 KiB are refused), but the JS path reads it: exit 0, the file is listed, no problem. The same
 * archive gives a different report depending on whether `zstd` is installed, and shows a file no engine extracts.
 * (b) a 9.7 KB archive, one layer: a 1.26 GB file made of 600 RLE blocks of 2 MiB - 1: peak RSS 616 MiB
 * (--max-old-space-size=256) before the ratio guard stops it. decompress.ts says "an RLE block turns 4 bytes into
 * 128 KiB, so 1 KiB in is at most 32 MiB out", but fzstd never checks the block size: a 1 KiB slice holds 256
 * blocks of 2 MiB = 512 MiB, all kept in `out` until fzstd's push returns.
 *
 * Expected: blocks larger than 128 KiB are corrupt data (`compression.corrupt`, exit 4), as `zstd -d` and the
 * engines say, whatever decoder runs; a 1 KiB push yields at most the 32 MiB the code claims, so peak RSS for
 * a 10 KB archive stays far below 512 MiB.
 *
 * Code at fault: src/core/sources/tar/decompress.ts ZstdFrames (reads every block header and could check
 * Block_Size <= min(window, 128 KiB)) and zstdJs (relies on fzstd, which only checks the window, not the block
 * size: node_modules/fzstd rzb).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { header } from '../sources/tar/helpers.js';
import { ociOf } from '../attack3/big.js';

before(assertBuilt);

const blockHeader = (last: boolean, type: number, size: number) => {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3);
  return Buffer.from([v & 255, (v >> 8) & 255, (v >> 16) & 255]);
};

/** One file of `blocks` x `blockSize` zeros, each block one RLE block, in a frame with an 8 MiB window. */
function rleLayer(blocks: number, blockSize: number): { diffId: string; blob: Buffer } {
  const fileSize = blocks * blockSize;
  const head = header({ name: 'zeros', size: fileSize });
  const tail = ((512 - (fileSize % 512)) % 512) + 1024;
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3]), blockHeader(false, 0, 512), head];
  const h = createHash('sha256').update(head);
  const zeros = Buffer.alloc(blockSize);
  for (let i = 0; i < blocks; i++) {
    parts.push(blockHeader(false, 1, blockSize), Buffer.from([0]));
    h.update(zeros);
  }
  parts.push(blockHeader(true, 1, tail), Buffer.from([0]));
  h.update(Buffer.alloc(tail));
  return { diffId: 'sha256:' + h.digest('hex'), blob: Buffer.concat(parts) };
}

test('a zstd RLE block over 128 KiB is corrupt data for the JS decoder too (zstd -d and the engines refuse it)', { timeout: 60_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const archive = join(dir, 'rle.tar');
  writeFileSync(archive, ociOf([{ tag: 'z:1', layers: [rleLayer(1, 256 * 1024)] }]));
  const noZstd = join(dir, 'bin');
  mkdirSync(noZstd);
  const r = await runCli(['report', archive, '--format', 'json'], { env: { PATH: noZstd }, timeoutMs: 30_000 });
  assertNoCrash(r);
  const problems = (JSON.parse(r.stdout) as { problems: { code: string }[] }).problems.map((p) => p.code);
  assert.equal(r.code, 4, `exit ${r.code}, problems ${JSON.stringify(problems)}: a 256 KiB RLE block (zstd -d: "Data corruption detected") was decoded`);
  assert.ok(problems.some((c) => c.startsWith('compression.')), JSON.stringify(problems));
});

test('600 RLE blocks of 2 MiB (a 10 KB archive) with the JS decoder: peak RSS stays far below 512 MiB', { timeout: 60_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const archive = join(dir, 'rle.tar');
  writeFileSync(archive, ociOf([{ tag: 'z:1', layers: [rleLayer(600, 2 ** 21 - 1)] }]));
  const noZstd = join(dir, 'bin');
  mkdirSync(noZstd);
  const r = await runCli(['report', archive], { env: { PATH: noZstd }, timeoutMs: 30_000 });
  assertNoCrash(r);
  const mib = r.maxRSS / 2 ** 20;
  assert.ok(mib < 320, `peak RSS ${mib.toFixed(0)} MiB after ${r.ms} ms for a ${statSync(archive).size}-byte archive (exit ${r.code})`);
});
