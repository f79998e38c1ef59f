/**
 * ATTACK: an OCI archive (8 KB) whose one layer is a zstd frame declaring a 1.875 GiB window (frame header
 * `28 b5 2f fd 00 a7`: window descriptor exponent 20, mantissa 7), then a raw block holding a one-file tar and 64
 * RLE blocks of 128 KiB of zeros (end of archive, then padding): 8 MiB of output. Run where the `zstd` binary is
 * not on PATH (a Node 20 host without the zstd package: layerscope then decompresses with fzstd, its runtime
 * dependency for exactly that case).
 *
 * Observed: `report` takes 6.8 s and 2.0 GB of peak RSS for this 8 KB archive (--max-old-space-size=256); 16 RLE
 * blocks: 3 s, 2.0 GB; 4,096 RLE blocks (a 24 KB archive, 512 MiB of zeros): 377 s and 2.5 GB. fzstd's streaming
 * decoder allocates the window the frame header declares (up to 2,145,386,496 bytes) and, for every block, shifts
 * the whole window (copyWithin), so each 4-byte RLE block costs a 1.9 GB memmove and every page of the window is
 * touched. With the system zstd the same layer is refused at once ("Frame requires too much memory for decoding:
 * Window size larger than maximum 2013265920 > 134217728"); containerd's Go zstd decoder (klauspost/compress)
 * refuses windows above its 512 MiB default maximum too.
 *
 * Expected: README "No input makes us spend without bound ... counts, sizes and depths read from the evidence
 * are bounded before they drive work": a window size read from the evidence is checked before it becomes an
 * allocation (refused like zstd -d does, a named compression problem), and time follows the input. Here: peak
 * RSS well under 1 GiB, and the run ends quickly, whatever the outcome (exit 0 or 4).
 *
 * Code at fault: src/core/sources/tar/decompress.ts zstdJs (and zstd(): the JS fallback) feeds the evidence to
 * fzstd's Decompress with no check of the frame's Window_Descriptor; the guards there count output against
 * input only (MAX_INPUT_OVER_OUTPUT, maxRatio after 1 GiB), never memory or per-block cost.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { header } from '../sources/tar/helpers.js';
import { ociOf } from './big.js';

before(assertBuilt);

/** A zstd frame with a 1.875 GiB window: a raw block (the tar's first member), then RLE blocks of zeros. */
function hugeWindowLayer(rleBlocks: number): { diffId: string; blob: Buffer } {
  const body = Buffer.from('hello!\n\0');
  const tar = Buffer.concat([header({ name: 'etc/motd', body: body.subarray(0, 7) }), body, Buffer.alloc(504)]);
  const block = (last: boolean, type: number, size: number) => {
    const v = (last ? 1 : 0) | (type << 1) | (size << 3);
    return Buffer.from([v & 255, (v >> 8) & 255, (v >> 16) & 255]);
  };
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa7]), block(false, 0, tar.length), tar];
  const h = createHash('sha256').update(tar);
  const zeros = Buffer.alloc(128 * 1024);
  for (let i = 0; i < rleBlocks; i++) {
    parts.push(block(i === rleBlocks - 1, 1, zeros.length), Buffer.from([0]));
    h.update(zeros);
  }
  return { diffId: 'sha256:' + h.digest('hex'), blob: Buffer.concat(parts) };
}

test('a zstd layer declaring a 1.875 GiB window (8 KB archive), without the zstd binary: bounded memory and time', { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const archive = join(dir, 'window.tar');
  writeFileSync(archive, ociOf([{ tag: 'z:1', layers: [hugeWindowLayer(64)] }]));
  const noZstd = join(dir, 'bin');
  mkdirSync(noZstd);
  const r = await runCli(['report', archive], { env: { PATH: noZstd }, timeoutMs: 60_000 });
  assertNoCrash(r);
  const mib = r.maxRSS / 2 ** 20;
  assert.ok(r.code === 0 || r.code === 4, `exit ${r.code} after ${r.ms} ms\n${r.stderr.slice(-400)}`);
  assert.ok(mib < 768, `peak RSS ${mib.toFixed(0)} MiB after ${r.ms} ms for an ${Math.round(statSync(archive).size / 1024)} KB archive (the window the frame header declares was allocated)`);
});
