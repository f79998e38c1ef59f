import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, truncateSync, openSync, writeSync, closeSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { gzipSync } from 'node:zlib';
import { decompress, sniffCompression, readTarStream, hasSystemZstd, hasZlibZstd, zlibZstdWorks, zstdImplementation, CompressionError } from '../../../src/core/sources/tar/index.js';
import { ZstdFrames, ZSTD_PROBE } from '../../../src/core/sources/tar/decompress.js';
import { LayerChangesBuilder } from '../../../src/core/sources/tar/index.js';
import { tempDir, hasTool } from './helpers.js';

/** Every zstd implementation this machine has: fzstd always, the system binary when installed, node:zlib where it works (Node 24). */
async function zstdImpls(): Promise<('js' | 'system' | 'zlib')[]> {
  return [...(['js'] as const), ...(hasSystemZstd() ? (['system'] as const) : []), ...((await zlibZstdWorks()) ? (['zlib'] as const) : [])];
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

test('compression is sniffed from magic bytes only', () => {
  assert.equal(sniffCompression(Buffer.from([0x1f, 0x8b, 0x08, 0])), 'gzip');
  assert.equal(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  assert.equal(sniffCompression(Buffer.from([0x50, 0x2a, 0x4d, 0x18])), 'zstd');
  assert.equal(sniffCompression(Buffer.from([0x5f, 0x2a, 0x4d, 0x18])), 'zstd');
  assert.equal(sniffCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), 'xz');
  assert.equal(sniffCompression(Buffer.from('BZh91AY')), 'bzip2');
  assert.equal(sniffCompression(Buffer.from('hello world')), 'none');
  assert.equal(sniffCompression(Buffer.from([0x1f, 0x8b])), 'none');
  assert.throws(() => decompress([Buffer.alloc(1)], 'xz'), (e: unknown) => e instanceof CompressionError && e.code === 'compression.unsupported');
});

test('zstd: node:zlib where it decodes right (Node 24), else the system binary, else fzstd', async () => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  // Not from feature detection alone: a Node line that should have it and does not is a failure here.
  assert.equal(hasZlibZstd(), major > 22 || (major === 22 && minor >= 15), `Node ${process.version}`);
  const works = await zlibZstdWorks();
  if (major >= 24) assert.ok(works, `Node ${process.version}: node:zlib's zstd fails the probe`);
  if (hasZlibZstd()) {
    // The probe's verdict is what node:zlib's stream does with a layer-like stream made by zlib's own encoder.
    const data = Buffer.from('layerscope '.repeat(20000));
    const z = zlib as unknown as { zstdCompressSync(b: Buffer): Buffer; createZstdDecompress(): NodeJS.ReadWriteStream };
    const skippable = Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    const d = z.createZstdDecompress();
    d.end(Buffer.concat([skippable, z.zstdCompressSync(data), z.zstdCompressSync(data)]));
    const out: Buffer[] = [];
    let right = true;
    try {
      for await (const c of d) out.push(c as Buffer);
    } catch {
      right = false;
    }
    assert.equal(works, right && Buffer.concat(out).equals(Buffer.concat([data, data])), `Node ${process.version}`);
  } else {
    assert.equal(works, false);
  }
  assert.equal(await zstdImplementation(), works ? 'zlib' : hasSystemZstd() ? 'system' : 'js');
  const yes = async () => true;
  const no = async () => false;
  assert.equal(await zstdImplementation('auto', { zlib: yes, system: () => true }), 'zlib');
  assert.equal(await zstdImplementation('auto', { zlib: no, system: () => true }), 'system');
  assert.equal(await zstdImplementation('auto', { zlib: no, system: () => false }), 'js');
  for (const forced of ['zlib', 'system', 'js'] as const) assert.equal(await zstdImplementation(forced, { zlib: no, system: () => false }), forced);
});

test('zstd forced through node:zlib on a runtime without it is a clear error, not another decoder', async () => {
  if (hasZlibZstd()) {
    // forced, it is used as it is: right where the probe says so
    const out = await collect(decompress([ZSTD_PROBE], 'zstd', { zstd: 'zlib' })).catch(() => Buffer.alloc(0));
    assert.equal(out.toString() === 'abcd', await zlibZstdWorks());
  } else {
    await assert.rejects(collect(decompress([ZSTD_PROBE], 'zstd', { zstd: 'zlib', label: 'blobs/x' })), (e: unknown) => e instanceof CompressionError && e.code === 'compression.unsupported' && e.path === 'blobs/x');
  }
  // every other implementation decodes the probe
  for (const impl of await zstdImpls()) assert.equal((await collect(decompress([ZSTD_PROBE], 'zstd', { zstd: impl }))).toString(), 'abcd', impl);
});

test('zstd with a leading skippable frame, through every implementation the machine has; corrupt data is a clear error', async (t) => {
  if (!hasTool('zstd')) return t.skip('zstd missing');
  const data = Buffer.from('layerscope '.repeat(50000));
  const frame = execFileSync('zstd', ['-q', '-c'], { input: data });
  const skippable = Buffer.concat([Buffer.from([0x53, 0x2a, 0x4d, 0x18]), Buffer.from([5, 0, 0, 0]), Buffer.from('xxxxx')]);
  const input = Buffer.concat([skippable, frame, frame]);
  assert.equal(sniffCompression(input), 'zstd');
  for (const impl of await zstdImpls()) {
    const out = await collect(decompress([input.subarray(0, 100), input.subarray(100)], 'zstd', { zstd: impl }));
    assert.ok(out.equals(Buffer.concat([data, data])), impl);
    const bad = Buffer.concat([frame.subarray(0, 40), Buffer.alloc(200, 0x55)]);
    await assert.rejects(
      collect(decompress([bad], 'zstd', { zstd: impl, label: 'blobs/sha256/bad' })),
      (e: unknown) => e instanceof CompressionError && e.code === 'compression.corrupt' && e.path === 'blobs/sha256/bad',
      impl,
    );
  }
});

test('zstd bomb: the output cap and the ratio guard stop every implementation, naming the file', async (t) => {
  if (!hasTool('zstd')) return t.skip('zstd missing');
  const bomb = execFileSync('zstd', ['-q', '-c', '-19'], { input: Buffer.alloc(64 * 1024 * 1024) });
  assert.ok(bomb.length < 64 * 1024, `${bomb.length} bytes`);
  for (const impl of await zstdImpls()) {
    for (const limits of [{ maxOutput: 4 * 1024 * 1024 }, { maxRatio: 100, ratioAfter: 1024 * 1024 }]) {
      await assert.rejects(
        collect(decompress([bomb], 'zstd', { zstd: impl, label: 'bomb.tar.zst', ...limits })),
        (e: unknown) => e instanceof CompressionError && e.code === 'compression.bomb' && e.path === 'bomb.tar.zst',
        `${impl} ${JSON.stringify(limits)}`,
      );
    }
  }
});

test('zstd frames are counted from their headers as the zstd binary writes them (levels, checksums, sizes, RLE and raw blocks)', async (t) => {
  if (!hasTool('zstd')) return t.skip('zstd missing');
  const random = Buffer.alloc(300_000);
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
  const parts = [
    execFileSync('zstd', ['-q', '-c', '-1'], { input: Buffer.from('layerscope '.repeat(50000)) }),
    execFileSync('zstd', ['-q', '-c', '-19', '--no-check'], { input: random }),
    execFileSync('zstd', ['-q', '-c', '--content-size'], { input: Buffer.alloc(500_000) }), // RLE blocks
    execFileSync('zstd', ['-q', '-c'], { input: Buffer.alloc(0) }), // an empty frame
    Buffer.concat([Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('abc')]),
  ];
  const whole = Buffer.concat(parts);
  for (const step of [1, 7, 4096, whole.length]) {
    const f = new ZstdFrames();
    for (let i = 0; i < whole.length; i += step) f.feed(whole.subarray(i, i + step));
    assert.equal(f.count, parts.length, `fed ${step} bytes at a time`);
  }
});

test('endless empty zstd frames or skippable frames stop by their count, not after gigabytes', async () => {
  const skippable = Buffer.concat(Array(20_000).fill(Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0])));
  // magic, descriptor (single segment, 1-byte content size 0), one last raw block of size 0
  const empty = Buffer.concat(Array(20_000).fill(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00])));
  for (const [what, unit] of [['skippable', skippable], ['empty', empty]] as const) {
    async function* endless() {
      for (;;) yield unit;
    }
    for (const impl of await zstdImpls()) {
      await assert.rejects(
        collect(decompress(endless(), 'zstd', { zstd: impl, label: 'layer.tar' })),
        (e: unknown) => e instanceof CompressionError && e.code === 'compression.no-output' && e.path === 'layer.tar',
        `${what} ${impl}`,
      );
    }
  }
  async function* storedBlocks() {
    yield Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    const u = Buffer.concat(Array(100_000).fill(Buffer.from([0, 0, 0, 0xff, 0xff])));
    for (;;) yield u;
  }
  await assert.rejects(collect(decompress(storedBlocks(), 'gzip')), (e: unknown) => e instanceof CompressionError && e.code === 'compression.no-output');
});

test('zstd windows are read from frame headers; the JS decoder refuses big ones and stops blocks of a few bytes in a big window', async (t) => {
  if (hasTool('zstd')) {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    for (const flags of [['-1'], ['-19'], ['--ultra', '-22', '--long=27']]) {
      const file = join(dir, 'w.zst');
      execFileSync('zstd', ['-q', '-f', ...flags, '-o', file], { input: Buffer.alloc(3_000_000, 7) });
      const f = new ZstdFrames();
      f.feed(readFileSync(file));
      const listed = execFileSync('zstd', ['-lv', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).match(/Window Size: .*\((\d+) B\)/);
      assert.ok(listed, 'zstd -lv prints the window');
      assert.equal(f.window, Number(listed[1]), `zstd ${flags.join(' ')}`);
    }
  } else t.diagnostic('zstd missing: header windows not compared with zstd -lv');
  // single segment: the window is the content size (2-byte field: + 256)
  const single = new ZstdFrames();
  single.feed(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x10, 0x00]));
  assert.equal(single.window, 0x10 + 256);
  const block = (last: boolean, type: number, size: number) => {
    const v = (last ? 1 : 0) | (type << 1) | (size << 3);
    return Buffer.from([v & 255, (v >> 8) & 255, (v >> 16) & 255]);
  };
  // a 64 MiB window: refused before anything is allocated
  const big = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 16 << 3]), block(true, 0, 1), Buffer.from('x')]);
  await assert.rejects(collect(decompress([big], 'zstd', { zstd: 'js' })), (e: unknown) => e instanceof CompressionError && e.code === 'compression.zstd-window');
  // an 8 MiB window and 400,000 raw blocks of one byte: each would move the whole window
  const tiny = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3]), ...Array.from({ length: 400_000 }, () => Buffer.concat([block(false, 0, 1), Buffer.from('y')]))]);
  const started = Date.now();
  await assert.rejects(collect(decompress([tiny], 'zstd', { zstd: 'js' })), (e: unknown) => e instanceof CompressionError && e.code === 'compression.too-costly');
  t.diagnostic(`stopped after ${Date.now() - started} ms`);
});

test('gzip: multi-member streams; corrupt data is a clear error', async () => {
  const a = Buffer.from('first member ');
  const b = Buffer.from('second member');
  const out = await collect(decompress([Buffer.concat([gzipSync(a), gzipSync(b)])], 'gzip'));
  assert.equal(out.toString(), 'first member second member');
  const g = gzipSync(Buffer.alloc(100000, 1));
  const bad = Buffer.concat([g.subarray(0, 30), Buffer.alloc(100, 0xff)]);
  await assert.rejects(collect(decompress([bad], 'gzip')), (e: unknown) => e instanceof CompressionError && e.code === 'compression.corrupt');
});

test('GNU sparse members (old GNU and PAX 1.0): listed with their real size, flagged, and the next member still read', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const root = join(dir, 'r');
  mkdirSync(root);
  const sparse = join(root, 'sparse.img');
  writeFileSync(sparse, '');
  truncateSync(sparse, 64 * 1024 * 1024);
  const fd = openSync(sparse, 'r+');
  writeSync(fd, Buffer.from('data in the middle'), 0, 18, 32 * 1024 * 1024);
  closeSync(fd);
  writeFileSync(join(root, 'after.txt'), 'after');
  for (const format of ['gnu', 'pax']) {
    const out = join(dir, `${format}.tar`);
    execFileSync('tar', ['-C', root, `--format=${format}`, '--sparse', '-cf', out, 'sparse.img', 'after.txt']);
    const names: string[] = [];
    const b = new LayerChangesBuilder('L');
    for await (const e of readTarStream([readFileSync(out)])) {
      names.push(e.name);
      b.add(e);
      if (e.name === 'after.txt') assert.equal((await e.readBody(10)).toString(), 'after', format);
    }
    assert.deepEqual(names, ['sparse.img', 'after.txt'], format);
    const c = b.finish();
    const s = c.entries.find((e) => e.path === 'sparse.img')!;
    assert.ok(s.kind === 'put' && s.attrs.size === 64 * 1024 * 1024, `${format}: real size`);
    assert.ok(c.problems.some((p) => p.code === 'tar.sparse'), format);
  }
});
