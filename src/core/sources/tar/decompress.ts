/**
 * Decompression chosen by magic bytes only (never by name or media type, as go-archive's DetectCompression):
 * gzip through node:zlib; zstd through node:zlib where the runtime's decodes it right (Node 24: native speed, no
 * child process), else the system `zstd -dc` when it exists (about 1 GB/s), else fzstd (pure JS); xz and bzip2
 * refused with a clear error. Every decompressor is wrapped in the same bomb guard and
 * input counting (output caps, ratio, zstd frames), whichever does the work.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as zlib from 'node:zlib';
import { createGunzip } from 'node:zlib';
import type { Transform } from 'node:stream';
import { Readable } from 'node:stream';
import { Decompress as ZstdDecompress } from 'fzstd';
import { CompressionError } from './errors.js';

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

/** The compression of a stream from its first bytes (at least 6 are needed to tell them all apart). */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  // zstd skippable frame: 0x184D2A5? little-endian
  if (head.length >= 4 && (head[0]! & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return 'zstd';
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00)
    return 'xz';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  return 'none';
}

export interface DecompressLimits {
  /** Refuse to produce more than this many bytes (default 64 GiB). */
  maxOutput?: number;
  /** Refuse an output/input ratio above this... (default 1000) */
  maxRatio?: number;
  /** ...once the output is past this many bytes (default 1 GiB). */
  ratioAfter?: number;
}

export interface DecompressOptions extends DecompressLimits {
  /** What is being decompressed, for error messages. */
  label?: string | null;
  /**
   * zstd implementation: `auto` (default) takes the first of node:zlib (when {@link zlibZstdWorks}), the system
   * binary, fzstd that this machine has; the others force one as it is (one the machine lacks is an error).
   */
  zstd?: ZstdImpl;
}

export type ZstdImpl = 'auto' | 'zlib' | 'system' | 'js';

export const DEFAULT_LIMITS: Required<DecompressLimits> = {
  maxOutput: 64 * 1024 ** 3,
  maxRatio: 1000,
  ratioAfter: 1024 ** 3,
};

let zstdBinary: boolean | undefined;
/** Whether `zstd` runs on this machine (checked once). */
export function hasSystemZstd(): boolean {
  if (zstdBinary === undefined) {
    try {
      zstdBinary = spawnSync('zstd', ['--version'], { stdio: 'ignore', timeout: 5000 }).status === 0;
    } catch {
      zstdBinary = false;
    }
  }
  return zstdBinary;
}

// @types/node stays at the oldest supported line (20), so that nothing newer is used by accident: the zstd
// functions of node:zlib (Node 22.15+, 23.8+) are looked up at run time, and their absence is the fallback.
type ZstdDecompressFactory = (options?: { chunkSize?: number }) => Transform;
const zlibZstd = (zlib as unknown as { createZstdDecompress?: ZstdDecompressFactory }).createZstdDecompress;

/** Whether this runtime's node:zlib has zstd at all (Node 22.15+ and 24). */
export function hasZlibZstd(): boolean {
  return typeof zlibZstd === 'function';
}

/**
 * A skippable frame, then two frames of one raw block each ("ab", "cd"): what real layers hold (zstd:chunked is
 * one frame per file, and skippable frames carry its metadata).
 */
export const ZSTD_PROBE = Buffer.from([
  0x50, 0x2a, 0x4d, 0x18, 1, 0, 0, 0, 0x78,
  0x28, 0xb5, 0x2f, 0xfd, 0x20, 2, 0x11, 0, 0, 0x61, 0x62,
  0x28, 0xb5, 0x2f, 0xfd, 0x20, 2, 0x11, 0, 0, 0x63, 0x64,
]);

let zlibProbe: Promise<boolean> | undefined;
/**
 * Whether node:zlib's zstd decodes ZSTD_PROBE to "abcd", through the streaming API we use (checked once). Having
 * it is not enough: Node 22.23's gives nothing, without an error, for a stream that starts with a skippable frame,
 * and stops with "Unknown frame descriptor" at a second frame; a layer read through it would lose files silently.
 */
export function zlibZstdWorks(): Promise<boolean> {
  zlibProbe ??= (async () => {
    if (!zlibZstd) return false;
    try {
      const z = zlibZstd();
      z.end(ZSTD_PROBE);
      const out: Buffer[] = [];
      for await (const c of z) out.push(c as Buffer);
      return Buffer.concat(out).toString('latin1') === 'abcd';
    } catch {
      return false;
    }
  })();
  return zlibProbe;
}

/** The zstd implementation `impl` means on this machine (`auto`: node:zlib when it works, else the system binary, else fzstd). */
export async function zstdImplementation(
  impl: ZstdImpl = 'auto',
  have: { zlib: () => Promise<boolean>; system: () => boolean } = { zlib: zlibZstdWorks, system: hasSystemZstd },
): Promise<Exclude<ZstdImpl, 'auto'>> {
  if (impl !== 'auto') return impl;
  if (await have.zlib()) return 'zlib';
  return have.system() ? 'system' : 'js';
}

type Chunks = AsyncIterable<Buffer | Uint8Array>;

/**
 * Decompress `input` (already known to be `kind`). Output chunks come as they are produced; errors (corrupt
 * data, bomb guard) are thrown from the iteration as {@link CompressionError}.
 */
export function decompress(input: Chunks, kind: Compression, opts: DecompressOptions = {}): AsyncIterable<Buffer> {
  const label = opts.label ?? null;
  if (kind === 'none') return toBuffers(input);
  if (kind === 'xz' || kind === 'bzip2')
    throw new CompressionError('compression.unsupported', `unsupported compression ${kind} (supported: gzip, zstd, none)`, label);
  let out = 0;
  const counted = countInput(input, () => out, kind, label);
  const raw = kind === 'gzip' ? gunzip(counted.iter, label) : zstd(counted.iter, opts.zstd ?? 'auto', label);
  return guard(raw, counted, opts, label, kind, (n) => (out = n));
}

/**
 * Compressed bytes taken in beyond the bytes given out by more than this: the stream is not compressed data.
 * Real gzip or zstd never shrinks its input by much (incompressible data stays about 1:1), but empty stored
 * deflate blocks or zstd skippable frames, repeated forever, make input that yields no output at all, and no
 * output-side bound would ever fire.
 */
export const MAX_INPUT_OVER_OUTPUT = 64 * 1024 * 1024;

/**
 * zstd frames allowed beyond one per 64 bytes of output. zstd works through millions of tiny frames slowly (8-byte
 * skippable frames: about 0.2 MB/s), so an endless run of them must be stopped by their count, long before the
 * input bound. Real streams have one frame per MiB or so, zstd:chunked one per file (a tar header at least).
 */
const MAX_FREE_FRAMES = 10_000;

/**
 * Counts the frames of a zstd stream from their headers (RFC 8878 §3.1), stepping over block contents without
 * reading them. Malformed headers are left to the decompressor to report; counting then stops.
 */
const ZSTD_BLOCK_MAX = 128 * 1024;

export class ZstdFrames {
  count = 0;
  /** The window the latest frame header declares (RFC 8878 §3.1.1.1.2; a single-segment frame's content size). */
  window = 0;
  /** What makes the stream invalid, as far as the headers tell (the decoder has the last word otherwise). */
  corrupt: string | null = null;
  private desc = 0;
  private skip = 0;
  private readonly head: number[] = [];
  private want = 4;
  private state: 'magic' | 'skippable-size' | 'descriptor' | 'frame-header' | 'block' | 'checksum' | 'lost' = 'magic';
  private checksum = false;
  private last = false;

  feed(c: Uint8Array): void {
    let i = 0;
    while (i < c.length && this.state !== 'lost') {
      if (this.skip > 0) {
        const n = Math.min(this.skip, c.length - i);
        this.skip -= n;
        i += n;
        if (this.skip === 0) this.afterData();
        continue;
      }
      this.head.push(c[i++]!);
      if (this.head.length === this.want) this.step();
    }
  }

  private expect(state: ZstdFrames['state'], bytes: number): void {
    this.state = state;
    this.want = bytes;
    this.head.length = 0;
  }

  private afterData(): void {
    if (this.state === 'block' && this.last) this.expect(this.checksum ? 'checksum' : 'magic', 4);
    else if (this.state === 'block') this.expect('block', 3);
    else this.expect('magic', 4);
  }

  private step(): void {
    const h = this.head;
    switch (this.state) {
      case 'magic': {
        const m = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
        this.count++;
        if ((m & 0xfffffff0) >>> 0 === 0x184d2a50) this.expect('skippable-size', 4);
        else if (m === 0xfd2fb528) this.expect('descriptor', 1);
        else this.state = 'lost';
        return;
      }
      case 'skippable-size':
        this.expect('magic', 4);
        this.skip = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
        return;
      case 'descriptor': {
        const d = h[0]!;
        const fcs = d >> 6;
        const single = (d >> 5) & 1;
        this.checksum = ((d >> 2) & 1) === 1;
        const rest = (single ? 0 : 1) + [0, 1, 2, 4][d & 3]! + (fcs === 0 ? single : [0, 2, 4, 8][fcs]!);
        this.desc = d;
        this.window = 0;
        this.expect(rest ? 'frame-header' : 'block', rest || 3);
        return;
      }
      case 'frame-header': {
        const d = this.desc;
        if (!((d >> 5) & 1)) {
          const exp = 1 << (10 + (h[0]! >> 3));
          this.window = exp + (exp / 8) * (h[0]! & 7);
        } else {
          // Single segment: the window is the frame's content size (1, 2, 4 or 8 little-endian bytes, at the end).
          const n = [1, 2, 4, 8][d >> 6]!;
          let v = 0;
          for (let k = h.length - 1; k >= h.length - n; k--) v = v * 256 + h[k]!;
          this.window = n === 2 ? v + 256 : v;
        }
        this.expect('block', 3);
        return;
      }
      case 'block': {
        const b = h[0]! | (h[1]! << 8) | (h[2]! << 16);
        this.last = (b & 1) === 1;
        const type = (b >> 1) & 3;
        if (type === 3) {
          this.state = 'lost';
          return;
        }
        // RFC 8878 §3.1.1.2.4: no block (raw, RLE or compressed) is larger than min(window, 128 KiB). fzstd does
        // not check: an RLE block of 2 MiB from 4 bytes would pass (and `zstd -d` calls it corruption).
        const size = b >>> 3;
        const max = Math.min(ZSTD_BLOCK_MAX, this.window || ZSTD_BLOCK_MAX);
        if (size > max && !this.corrupt) this.corrupt = `a block of ${size} bytes (${type === 1 ? 'RLE' : type === 0 ? 'raw' : 'compressed'}), more than the ${max} a block may hold`;
        this.head.length = 0;
        this.skip = type === 1 ? 1 : size;
        if (this.skip === 0) this.afterData();
        return;
      }
      case 'checksum':
        this.expect('magic', 4);
        return;
    }
  }
}

async function* toBuffers(input: Chunks): AsyncGenerator<Buffer> {
  for await (const c of input) yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

function countInput(input: Chunks, out: () => number, kind: Compression, label: string | null): { iter: AsyncIterable<Buffer>; bytes: () => number } {
  let n = 0;
  const frames = kind === 'zstd' ? new ZstdFrames() : null;
  const iter = (async function* () {
    for await (const c of input) {
      n += c.byteLength;
      if (frames) {
        frames.feed(c);
        if (frames.count > MAX_FREE_FRAMES + out() / 64)
          throw new CompressionError(
            'compression.no-output',
            `zstd stream: ${frames.count} frames in ${n} bytes have given ${out()} bytes out; no compressed tar is cut so fine (empty or skippable frames without end?): reading stopped`,
            label,
          );
      }
      if (n - out() > MAX_INPUT_OVER_OUTPUT)
        throw new CompressionError(
          'compression.no-output',
          `${kind} stream: ${n} bytes read have given ${out()} bytes out; no compressed tar shrinks like that (empty blocks or skippable frames without end?): reading stopped`,
          label,
        );
      yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    }
  })();
  return { iter, bytes: () => n };
}

async function* guard(
  raw: AsyncIterable<Buffer>,
  counted: { bytes: () => number },
  opts: DecompressLimits,
  label: string | null,
  kind: Compression,
  produced: (n: number) => void,
): AsyncGenerator<Buffer> {
  const maxOutput = opts.maxOutput ?? DEFAULT_LIMITS.maxOutput;
  const maxRatio = opts.maxRatio ?? DEFAULT_LIMITS.maxRatio;
  const ratioAfter = opts.ratioAfter ?? DEFAULT_LIMITS.ratioAfter;
  let out = 0;
  for await (const c of raw) {
    out += c.length;
    produced(out);
    if (out > maxOutput)
      throw new CompressionError('compression.bomb', `${kind} data inflates beyond the ${maxOutput}-byte output limit (decompression bomb?)`, label);
    if (out > ratioAfter && out > maxRatio * Math.max(1, counted.bytes()))
      throw new CompressionError(
        'compression.bomb',
        `${kind} data inflates more than ${maxRatio}:1 (${out} bytes out of ${counted.bytes()}; decompression bomb?)`,
        label,
      );
    yield c;
  }
}

async function* gunzip(input: AsyncIterable<Buffer>, label: string | null): AsyncGenerator<Buffer> {
  yield* throughZlib(input, createGunzip({ chunkSize: 256 * 1024 }), 'gzip', label);
}

/**
 * A node:zlib decoder fed from `input`. Input is pulled through `countInput` (bounds on input beyond output)
 * and output through `guard`, as for every implementation; the stream's backpressure keeps at most a chunk or
 * two decoded ahead of the reader. A bound that fired while input was counted is the error to report, not the
 * stream torn down after it.
 */
async function* throughZlib(input: AsyncIterable<Buffer>, z: Transform, kind: Compression, label: string | null): AsyncGenerator<Buffer> {
  const src = Readable.from(input, { objectMode: false });
  let srcError: unknown = null;
  src.on('error', (e) => {
    srcError = e;
    z.destroy(e);
  });
  src.pipe(z);
  try {
    for await (const c of z) yield c as Buffer;
  } catch (e) {
    if (srcError) throw srcError;
    throw new CompressionError('compression.corrupt', `${kind} data cannot be decompressed: ${(e as Error).message}`, label);
  } finally {
    src.destroy();
    z.destroy();
  }
}

async function* zstd(input: AsyncIterable<Buffer>, impl: ZstdImpl, label: string | null): AsyncGenerator<Buffer> {
  const chosen = await zstdImplementation(impl);
  if (chosen === 'zlib') yield* zstdZlib(input, label);
  else if (chosen === 'system') yield* zstdSystem(input, label);
  else yield* zstdJs(input, label);
}

/** zstd through node:zlib, in this process (Node 24; see zlibZstdWorks). */
async function* zstdZlib(input: AsyncIterable<Buffer>, label: string | null): AsyncGenerator<Buffer> {
  if (!zlibZstd)
    throw new CompressionError('compression.unsupported', `this Node ${process.version} has no zstd in node:zlib (Node 22.15 or later has)`, label);
  yield* throughZlib(input, zlibZstd({ chunkSize: 256 * 1024 }), 'zstd', label);
}

async function* zstdSystem(input: AsyncIterable<Buffer>, label: string | null): AsyncGenerator<Buffer> {
  const child = spawn('zstd', ['-dc', '-q', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let feedError: unknown = null;
  child.stdin.on('error', () => {
    /* EPIPE when zstd stops early (corrupt input): the exit status tells */
  });
  const feed = (async () => {
    try {
      for await (const c of input) {
        if (!child.stdin.write(c)) {
          // Both listeners go when either fires: one left per wait would pile up over a long input.
          await new Promise<void>((r) => {
            const done = () => {
              child.stdin.off('drain', done).off('close', done);
              r();
            };
            child.stdin.on('drain', done).on('close', done);
          });
        }
        if (child.stdin.destroyed) break;
      }
    } catch (e) {
      feedError = e;
    } finally {
      child.stdin.end();
    }
  })();
  let finished = false;
  try {
    for await (const c of child.stdout) yield c as Buffer;
    await feed;
    if (feedError) throw feedError;
    const code = await exited;
    finished = true;
    if (code !== 0)
      throw new CompressionError('compression.corrupt', `zstd data cannot be decompressed: ${stderr.trim() || `zstd exited with ${code}`}`, label);
  } finally {
    if (!finished) {
      child.kill('SIGKILL');
      child.stdout.destroy();
    }
  }
}

/**
 * fzstd allocates the window a frame header declares and moves all of it after every block: a few bytes of
 * evidence could ask for 2 GiB and a window-sized copy per 4-byte block. So the JS decoder takes windows up to
 * 32 MiB (every level of `zstd` up to 19, the Go encoders' defaults, and zstd:chunked layers as podman and
 * buildah write them; `--ultra`/`--long` output needs `zstd`), and its copying may cost at most JS_COPY_BUDGET
 * plus JS_COPY_PER_BYTE times the output: real streams stay far below (a 32 MiB window with full 128 KiB blocks
 * costs 256 per byte; `zstd -19` output peaks near 370 early on), while blocks of a few bytes each in a big
 * window are stopped after about 1 GiB of copying.
 */
export const JS_MAX_WINDOW = 32 * 2 ** 20;
const JS_COPY_BUDGET = 2 ** 30;
const JS_COPY_PER_BYTE = 1024;

async function* zstdJs(input: AsyncIterable<Buffer>, label: string | null): AsyncGenerator<Buffer> {
  const out: Buffer[] = [];
  const frames = new ZstdFrames();
  let window = 0;
  let copied = 0;
  let produced = 0;
  const d = new ZstdDecompress((data) => {
    // One call per block: fzstd has just shifted its whole window.
    copied += window;
    produced += data.length;
    if (copied > JS_COPY_BUDGET + JS_COPY_PER_BYTE * produced)
      throw new CompressionError('compression.too-costly', `zstd stream of tiny blocks in a ${window}-byte window: the built-in decoder would copy ${copied} bytes for ${produced} out; reading stopped (install zstd to read it)`, label);
    if (data.length) out.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  try {
    for await (const c of input) {
      // Fed in slices so that output is produced (and the guards can act) in bounded steps: fzstd cannot be paused
      // within a push, and an RLE block turns 4 bytes into at most 128 KiB (larger blocks are refused before the push), so 1 KiB in is at most 32 MiB out.
      for (let i = 0; i < c.length; i += 1024) {
        const slice = c.subarray(i, Math.min(c.length, i + 1024));
        // Our own header reader sees each frame header before fzstd does (it needs 18 bytes to parse one).
        frames.feed(slice);
        window = Math.max(window, frames.window);
        if (frames.corrupt) throw new CompressionError('compression.corrupt', `zstd data cannot be decompressed: ${frames.corrupt}`, label);
        if (window > JS_MAX_WINDOW)
          throw new CompressionError('compression.zstd-window', `zstd frame declares a ${window}-byte window; the built-in decoder takes up to ${JS_MAX_WINDOW} (install zstd to read it; \`zstd -d\` itself refuses more than 128 MiB)`, label);
        d.push(slice);
        while (out.length) yield out.shift()!;
      }
    }
    d.push(new Uint8Array(0), true);
    while (out.length) yield out.shift()!;
  } catch (e) {
    if (e instanceof CompressionError) throw e;
    throw new CompressionError('compression.corrupt', `zstd data cannot be decompressed: ${(e as Error).message}`, label);
  }
}

/**
 * Look at the first bytes of a chunk stream without losing them: returns the head (up to `n` bytes, fewer at
 * EOF) and an iterable that replays the whole stream from the start.
 */
export async function peek(input: AsyncIterable<Buffer | Uint8Array>, n: number): Promise<{ head: Buffer; stream: AsyncIterable<Buffer> }> {
  const it = input[Symbol.asyncIterator]();
  const held: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    held.push(c);
    have += c.length;
  }
  const head = Buffer.concat(held).subarray(0, n);
  const stream = (async function* () {
    try {
      for (const c of held) yield c;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        const v = r.value;
        yield Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      }
    } finally {
      if (!ended) await it.return?.();
    }
  })();
  return { head, stream };
}
