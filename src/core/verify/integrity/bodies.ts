import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { quotedPath as show } from '../../model/path.js';
import { describeFsError, openNoFollow } from '../../sources/evidence.js';
import { HostPaths } from '../../sources/walk/host-paths.js';
import { Crc64 } from '../crc64.js';
import { integrityThread, ThreadError, type IntegrityThread } from './threads.js';

/**
 * The byte side of a layer's reassembly: the SHA-256 of the whole tar stream (tar-split's raw segments and the
 * file bodies, in order) and a CRC-64 of every body, read from the diff dir. The checking side (tar-split
 * parsing, header decoding, lstat against the headers, the walk) stays in tarsplit.ts and decides, member by
 * member, which bodies are read; this side only reads what it is told, in the order it is told.
 *
 * On layers of many small files the checking side and the reading side (open, fstat, read, close, CRC-64,
 * SHA-256) take about 60% and 40% of the work, so big layers run this side in a worker thread (`WorkerBodies`):
 * the checking side streams segments and read orders to it in batches (slots of a SharedArrayBuffer), never
 * waits for a file, and collects the findings and the digest at the end. Small layers run it inline
 * (`InlineBodies`); both run `BodyHasher`: one code path reads.
 * (Measured and not kept: the file lstat moved to this side too, its result sent back and checked in member
 * order. Balanced on paper, but holding each member's decoded headers until its lstat came back made the
 * checking side's GC cost more than the lstat saved.)
 *
 * Files are opened O_NOFOLLOW (and O_NOATIME when permitted) and checked with fstat to be the regular file the
 * checking side lstat'ed (same inode): something swapped in between is not read. Paths longer than PATH_MAX are
 * reached through /proc/self/fd anchors (HostPaths), never refused.
 */

/** What reading found, for the member with ordinal `member` (1-based, in tar-split order). */
export interface BodyFinding {
  member: number;
  kind: 'content' | 'unsafe' | 'unreadable';
  path: string;
  message: string;
  expected?: string;
  actual?: string;
}

export interface BodyResult {
  /** `sha256:<hex>` of everything fed, in order. */
  digest: string;
  findings: BodyFinding[];
  filesRead: number;
  bytesRead: number;
}

/** One file body to read: the layer path, the body size the tar header gives, and the inode lstat saw. */
export interface BodyJob {
  member: number;
  rel: string;
  size: number;
  ino: number;
  dev: number;
  /** The 8-byte CRC-64 tar-split recorded; null when it has none (then the body is hashed, not checked). */
  crc: Uint8Array | null;
}

/** Where segments and bodies go. A returned promise must be awaited before the next call (backpressure). */
export interface BodySink {
  /**
   * Hash a raw segment given as tar-split's base64 text (decoded as Buffer.from(text, 'base64') would). Returns
   * the decoded bytes, valid until the next call that may hand a batch over; before that, the sink replaces the
   * Buffers in `keep` (views it returned earlier that the caller still holds) with copies.
   */
  segment(base64: string, keep: Buffer[]): Buffer;
  file(job: BodyJob): void | Promise<void>;
  /** A promise when the thread is behind (wait for it before the next call). */
  room(): void | Promise<void>;
  /** Everything fed so far is hashed; the result. Rejects when the reading thread failed. */
  finish(): Promise<BodyResult>;
}

/** Read size for one step; bodies up to this size are read with one readSync. */
export const CHUNK = 1 << 20;

/** Reads, hashes and CRCs; used inline and inside the worker. */
export class BodyHasher {
  private readonly hash = createHash('sha256');
  private readonly paths: HostPaths;
  private readonly bufs = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
  readonly findings: BodyFinding[] = [];
  filesRead = 0;
  bytesRead = 0;

  constructor(diffDir: string) {
    this.paths = new HostPaths(diffDir);
  }

  segment(bytes: Uint8Array): void {
    this.hash.update(bytes);
  }

  /** Read one body into the hash and a CRC-64, then compare. A promise only for bodies larger than CHUNK. */
  file(job: BodyJob): void | Promise<void> {
    let fd: number;
    try {
      fd = openNoFollow(this.paths.host(job.rel));
    } catch (err) {
      this.add(job, 'unreadable', `cannot open ${show(job.rel)}: ${describeFsError(err)}`);
      return;
    }
    const crc = new Crc64();
    let got: number;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.ino !== job.ino || st.dev !== job.dev) {
        this.add(job, 'unsafe', `${show(job.rel)} changed between lstat and open; not read`);
        fs.closeSync(fd);
        return;
      }
      if (job.size > CHUNK) return this.readLarge(fd, job, crc);
      got = this.readSmall(fd, job.size, crc);
    } catch (err) {
      return this.readFailed(job, fd, err);
    }
    fs.closeSync(fd);
    this.read(job, got, crc);
  }

  finish(): BodyResult {
    this.paths.close();
    return { digest: 'sha256:' + this.hash.digest('hex'), findings: this.findings, filesRead: this.filesRead, bytesRead: this.bytesRead };
  }

  private readFailed(job: BodyJob, fd: number, err: unknown): void {
    this.add(job, 'unreadable', `cannot read ${show(job.rel)}: ${describeFsError(err)}`);
    fs.closeSync(fd);
  }

  private read(job: BodyJob, got: number, crc: Crc64): void {
    this.filesRead++;
    this.bytesRead += got;
    // A short file is already a 'size' finding (from lstat); its CRC cannot match and says nothing more.
    if (got === job.size && job.crc !== null && !crc.equals(job.crc)) {
      const actual = crc.hex();
      const expected = Buffer.from(job.crc.buffer, job.crc.byteOffset, 8).toString('hex');
      this.add(job, 'content', `the bytes of ${show(job.rel)} differ from the layer's (CRC-64 ${actual}, tar-split has ${expected})`, expected, actual);
    }
  }

  private readSmall(fd: number, size: number, crc: Crc64): number {
    const buf = this.bufs[0]!;
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, buf, 0, Math.min(CHUNK, size - got), got);
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      this.hash.update(chunk);
      crc.update(chunk);
      got += n;
    }
    return got;
  }

  /** Double-buffered: the next read runs in the thread pool while this chunk is hashed. Closes fd. */
  private async readLarge(fd: number, job: BodyJob, crc: Crc64): Promise<void> {
    let which = 0;
    let got = 0;
    try {
      let inflight: Promise<number> | null = readAt(fd, this.bufs[0]!, Math.min(CHUNK, job.size), 0);
      while (inflight) {
        const n = await inflight;
        if (n === 0) break;
        const cur = this.bufs[which]!;
        got += n;
        which ^= 1;
        inflight = got < job.size ? readAt(fd, this.bufs[which]!, Math.min(CHUNK, job.size - got), got) : null;
        const chunk = cur.subarray(0, n);
        this.hash.update(chunk);
        crc.update(chunk);
      }
    } catch (err) {
      return this.readFailed(job, fd, err);
    }
    fs.closeSync(fd);
    this.read(job, got, crc);
  }

  private add(job: BodyJob, kind: BodyFinding['kind'], message: string, expected?: string, actual?: string): void {
    const f: BodyFinding = { member: job.member, kind, path: job.rel, message };
    if (expected !== undefined) f.expected = expected;
    if (actual !== undefined) f.actual = actual;
    this.findings.push(f);
  }
}

function readAt(fd: number, buf: Buffer, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}


// -------------------------------------------------------------------------------------------------------------
// Inline
// -------------------------------------------------------------------------------------------------------------

export class InlineBodies implements BodySink {
  private readonly hasher: BodyHasher;
  constructor(diffDir: string) {
    this.hasher = new BodyHasher(diffDir);
  }
  segment(base64: string): Buffer {
    const bytes = Buffer.from(base64, 'base64');
    this.hasher.segment(bytes);
    return bytes;
  }
  file(job: BodyJob): void | Promise<void> {
    return this.hasher.file(job);
  }
  room(): void {}
  finish(): Promise<BodyResult> {
    return Promise.resolve(this.hasher.finish());
  }
}

// -------------------------------------------------------------------------------------------------------------
// Worker: the protocol. Batches are written in the slots of a SharedArrayBuffer (one per layer session) and
// handed over by slot number; a batch too big for a slot goes in an ArrayBuffer of its own, transferred.
// Records (numbers little-endian):
//   segment: u8 1, u32 length, bytes
//   file:    u8 2, u32 member, f64 size, f64 ino, f64 dev, u8 hasCrc, 8 bytes crc, u32 name length, name bytes
// -------------------------------------------------------------------------------------------------------------

export const REC_SEGMENT = 1;
export const REC_FILE = 2;
/** Bytes of a file record before its name. */
export const FILE_HEAD = 1 + 4 + 8 + 8 + 8 + 1 + 8 + 4;
/**
 * Slots: this big (about 500 small members), at most MAX_INFLIGHT of them handed over and not yet done (the
 * rest is backpressure). Each hand-over may wake the thread, and on a busy host a wake-up can cost the sender
 * its core for a while, so batches are big: with 256 KiB batches the checking thread spent ~12% of its time in
 * postMessage on a loaded 2-core host. Shared memory, not transferred buffers: each ArrayBuffer that comes
 * back counts as new external memory, and the extra full GCs cost the checking thread a few percent.
 */
const BATCH = 1 << 20;
const MAX_INFLIGHT = 3;
/** One being filled, MAX_INFLIGHT handed over. */
const SLOTS = MAX_INFLIGHT + 1;

export type ToWorker =
  | { op: 'bodies'; id: number; diffDir: string; shared: SharedArrayBuffer }
  | { op: 'batch'; id: number; slot: number; len: number }
  | { op: 'batch'; id: number; slot: -1; buf: ArrayBuffer; len: number }
  | { op: 'end'; id: number };

export type FromWorker =
  | { op: 'ack'; id: number; slot: number }
  | { op: 'result'; id: number; result: BodyResult }
  | { op: 'error'; id: number; message: string };

/** The bytes of a batch message (in the worker): its slot of the shared buffer, or its own buffer. */
export function batchBytes(m: Extract<ToWorker, { op: 'batch' }>, shared: SharedArrayBuffer): Uint8Array {
  return m.slot < 0 ? new Uint8Array((m as { buf: ArrayBuffer }).buf, 0, m.len) : new Uint8Array(shared, m.slot * BATCH, m.len);
}

/** Decode one batch (in the worker) and feed it to the hasher, in order. */
export async function runBatch(hasher: BodyHasher, bytes: Uint8Array): Promise<void> {
  const len = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, len);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, len);
  let off = 0;
  while (off < len) {
    const tag = bytes[off]!;
    if (tag === REC_SEGMENT) {
      const n = view.getUint32(off + 1, true);
      hasher.segment(bytes.subarray(off + 5, off + 5 + n));
      off += 5 + n;
    } else if (tag === REC_FILE) {
      const member = view.getUint32(off + 1, true);
      const size = view.getFloat64(off + 5, true);
      const ino = view.getFloat64(off + 13, true);
      const dev = view.getFloat64(off + 21, true);
      const hasCrc = bytes[off + 29] === 1;
      const crc = hasCrc ? bytes.slice(off + 30, off + 38) : null;
      const nameLen = view.getUint32(off + 38, true);
      const rel = text.toString('latin1', off + FILE_HEAD, off + FILE_HEAD + nameLen);
      off += FILE_HEAD + nameLen;
      const p = hasher.file({ member, rel, size, ino, dev, crc });
      if (p) await p;
    } else {
      throw new Error(`bad record tag ${tag} at ${off}`);
    }
  }
}

/** Segments and read orders, batched to the shared body thread. */
export class WorkerBodies implements BodySink {
  private readonly t: IntegrityThread;
  private readonly id: number;
  private readonly shared = new SharedArrayBuffer(SLOTS * BATCH);
  private readonly free: number[] = [];
  private slot = 0;
  private bytes!: Uint8Array;
  private whole!: Buffer;
  private view!: DataView;
  private len = 0;
  private inflight = 0;
  private wake: (() => void) | null = null;
  private readonly result: Promise<BodyResult>;
  private failed: Error | null = null;

  constructor(diffDir: string) {
    this.t = integrityThread('bodies');
    let resolve!: (r: BodyResult) => void;
    let reject!: (e: Error) => void;
    this.result = new Promise<BodyResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.result.catch(() => undefined); // seen by finish(); a failure must not be unhandled before then
    this.id = this.t.open({
      message: (m) => {
        const r = m as FromWorker;
        if (r.op === 'ack') {
          this.inflight--;
          if (r.slot >= 0) this.free.push(r.slot);
          this.wakeUp();
          return false;
        }
        if (r.op === 'result') resolve(r.result);
        else this.fail(new ThreadError(r.message), reject);
        return true;
      },
      fail: (e) => this.fail(e, reject),
    });
    this.t.post({ op: 'bodies', id: this.id, diffDir, shared: this.shared } satisfies ToWorker);
    for (let i = SLOTS - 1; i > 0; i--) this.free.push(i);
    this.use(0);
  }

  segment(base64: string, keep: Buffer[]): Buffer {
    const max = Buffer.byteLength(base64, 'base64'); // an upper bound: the decoder skips what is not base64
    if (max + 5 > BATCH) {
      // Longer than a slot (a huge PAX header): a buffer of its own, sent on its own.
      const bytes = Buffer.from(base64, 'base64');
      this.flush(keep);
      const own = new ArrayBuffer(bytes.length + 5);
      const v = new DataView(own);
      v.setUint8(0, REC_SEGMENT);
      v.setUint32(1, bytes.length, true);
      new Uint8Array(own).set(bytes, 5);
      this.sendOwn(own);
      return bytes;
    }
    if (this.len + 5 + max > BATCH) this.flush(keep);
    const off = this.len;
    const n = this.whole.write(base64, off + 5, max, 'base64');
    this.bytes[off] = REC_SEGMENT;
    this.view.setUint32(off + 1, n, true);
    this.len = off + 5 + n;
    return this.whole.subarray(off + 5, off + 5 + n);
  }

  file(job: BodyJob): void {
    const need = FILE_HEAD + job.rel.length; // a byte string: one char per byte
    if (need > BATCH) {
      this.flush([]);
      const own = new ArrayBuffer(need);
      writeFile(new Uint8Array(own), new DataView(own), 0, job);
      this.sendOwn(own);
      return;
    }
    if (this.len + need > BATCH) this.flush([]);
    this.len = writeFile(this.bytes, this.view, this.len, job);
  }

  room(): void | Promise<void> {
    if (this.inflight < MAX_INFLIGHT || this.failed) return;
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  async finish(): Promise<BodyResult> {
    if (!this.failed) {
      this.flush([]);
      this.t.post({ op: 'end', id: this.id } satisfies ToWorker);
    }
    return this.result;
  }

  private fail(e: Error, reject: (e: Error) => void): void {
    this.failed ??= e;
    reject(e);
    this.wakeUp();
  }

  /** Hand the slot over (after copying out the views in `keep`, which will be overwritten) and take another. */
  private flush(keep: Buffer[]): void {
    if (this.len === 0 || this.failed) return;
    for (let i = 0; i < keep.length; i++) if (keep[i]!.buffer === this.shared) keep[i] = Buffer.from(keep[i]!);
    this.inflight++;
    this.t.post({ op: 'batch', id: this.id, slot: this.slot, len: this.len } satisfies ToWorker);
    const next = this.free.pop();
    // room() keeps at most MAX_INFLIGHT handed over between calls, and a call hands over at most one slot.
    if (next === undefined) throw new Error('integrity: no free batch slot (backpressure not awaited)');
    this.use(next);
  }

  private use(slot: number): void {
    this.slot = slot;
    this.bytes = new Uint8Array(this.shared, slot * BATCH, BATCH);
    this.whole = Buffer.from(this.shared, slot * BATCH, BATCH);
    this.view = new DataView(this.shared, slot * BATCH, BATCH);
    this.len = 0;
  }

  private sendOwn(buf: ArrayBuffer): void {
    if (this.failed) return;
    this.inflight++;
    this.t.post({ op: 'batch', id: this.id, slot: -1, buf, len: buf.byteLength } satisfies ToWorker, [buf]);
  }

  private wakeUp(): void {
    if (this.wake && (this.inflight < MAX_INFLIGHT || this.failed)) {
      const w = this.wake;
      this.wake = null;
      w();
    }
  }
}

function writeFile(bytes: Uint8Array, view: DataView, off: number, job: BodyJob): number {
  bytes[off] = REC_FILE;
  view.setUint32(off + 1, job.member, true);
  view.setFloat64(off + 5, job.size, true);
  view.setFloat64(off + 13, job.ino, true);
  view.setFloat64(off + 21, job.dev, true);
  bytes[off + 29] = job.crc ? 1 : 0;
  if (job.crc) bytes.set(job.crc, off + 30);
  const nameLen = job.rel.length;
  view.setUint32(off + 38, nameLen, true);
  Buffer.from(bytes.buffer, bytes.byteOffset + off + FILE_HEAD, nameLen).write(job.rel, 'latin1');
  return off + FILE_HEAD + nameLen;
}
