/**
 * Tar headers from a seekable file: `readSync` at offsets, jumping over bodies without reading them (what makes
 * `tar -tvf` fast on an uncompressed tar). Works on a byte range of a file too, for a layer tar stored
 * uncompressed inside an archive.
 */
import { read, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { BLOCK, HeaderAssembler, isZeroBlock, loneZeroBlock, partialAfterZeroBlock, type TarEntry } from './header.js';
import { TarError } from './errors.js';

/**
 * Bytes read per header lookup. Small on purpose: a window much larger than the typical member drags bodies
 * through memory that are then skipped (64 KiB windows read 1.7 GB to list a 1.1 GB tar of small files).
 */
const WINDOW = 8 * 1024;

export interface TarFileReaderOptions {
  /** First byte of the tar in the file (default 0). */
  start?: number;
  /** End of the tar (exclusive): the file size, or the end of the member holding it. */
  end: number;
  /** What the tar is, for error messages (a path, `archive.tar:blobs/sha256/…`). */
  label?: string | null;
}

export interface TarListResult {
  /** False when the tar ended without an end-of-archive marker (EOF right after a member: tolerated). */
  endMarker: boolean;
}

export class TarFileReader {
  private readonly start: number;
  private readonly end: number;
  private readonly label: string | null;
  private readonly buf = Buffer.allocUnsafe(WINDOW);
  private bufStart = 0;
  private bufLen = 0;
  /** Set once iteration finished: whether a zero block ended the tar. */
  endMarker = false;
  /** Absolute file offset just past the end-of-archive marker block, when there was one. */
  endOffset: number | null = null;

  constructor(private readonly fd: number, opts: TarFileReaderOptions) {
    this.start = opts.start ?? 0;
    this.end = opts.end;
    this.label = opts.label ?? null;
  }

  /** `len` bytes at absolute file offset `pos` (len <= WINDOW), from the read window when possible. */
  private at(pos: number, len: number): { b: Buffer; off: number } | null {
    if (pos >= this.bufStart && pos + len <= this.bufStart + this.bufLen) return { b: this.buf, off: pos - this.bufStart };
    const want = Math.min(WINDOW, this.end - pos);
    if (want < len) return null;
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, this.buf, got, want - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    this.bufStart = pos;
    this.bufLen = got;
    return got >= len ? { b: this.buf, off: 0 } : null;
  }

  /** Read `len` bytes at absolute offset `pos` into a fresh Buffer (may exceed the window). */
  readAt(pos: number, len: number): Buffer {
    const out = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd, out, got, len - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    return got === len ? out : out.subarray(0, got);
  }

  /**
   * Every member, in order. Bodies are skipped, never read. Throws {@link TarError} on a truncated tar, a bad
   * checksum or an impossible size; entries yielded before the error stay valid.
   */
  *entries(): Generator<TarEntry> {
    const asm = new HeaderAssembler(this.label);
    let pos = this.start;
    this.endMarker = false;
    this.endOffset = null;
    for (;;) {
      if (pos >= this.end) return; // EOF at a member boundary: no end marker, tolerated
      const blk = this.at(pos, BLOCK);
      if (!blk) throw new TarError('tar.truncated', 'tar ends inside a header block', pos - this.start, asm.pendingName(), this.label);
      const headerPos = pos;
      let step = asm.header(blk.b, blk.off, headerPos - this.start);
      pos += BLOCK;
      while (step.kind === 'extension' || step.kind === 'continuation') {
        if (step.kind === 'extension') {
          const size = step.size;
          if (pos + size > this.end)
            throw new TarError('tar.truncated', `extension header body of ${size} bytes runs past the end of the tar`, headerPos - this.start, asm.pendingName(), this.label);
          // Extension bodies are small and follow their header: usually already in the read window.
          const w = size <= WINDOW ? this.at(pos, size) : null;
          const global = asm.extensionBody(w ? w.b.subarray(w.off, w.off + size) : this.readAt(pos, size));
          pos += pad(size);
          if (global) {
            step = { kind: 'entry', entry: global };
            break;
          }
        } else {
          const c = this.at(pos, BLOCK);
          if (!c) throw new TarError('tar.truncated', 'tar ends inside a sparse map', headerPos - this.start, asm.pendingName(), this.label);
          step = asm.continuation(c.b, c.off);
          pos += BLOCK;
          continue;
        }
        if (pos >= this.end) throw new TarError('tar.truncated', 'tar ends after an extension header', headerPos - this.start, asm.pendingName(), this.label);
        const nb = this.at(pos, BLOCK);
        if (!nb) throw new TarError('tar.truncated', 'tar ends inside a header block', pos - this.start, asm.pendingName(), this.label);
        step = asm.header(nb.b, nb.off, pos - this.start);
        pos += BLOCK;
      }
      if (step.kind === 'end') {
        // A zero block followed by a header is an error to Go's reader (the engine's), not the end.
        const next = pos + BLOCK <= this.end ? this.at(pos, BLOCK) : null;
        if (next && !isZeroBlock(next.b, next.off)) throw loneZeroBlock(headerPos - this.start, this.label);
        if (!next && pos < this.end) throw partialAfterZeroBlock(headerPos - this.start, this.label);
        this.endMarker = true;
        this.endOffset = pos;
        return;
      }
      const e = step.entry;
      e.dataOffset = pos - this.start;
      if (pos + e.size > this.end)
        throw new TarError(
          'tar.truncated',
          `member body of ${e.size} bytes runs past the end of the tar (${this.end - pos} bytes left)`,
          e.headerOffset,
          e.name,
          this.label,
        );
      yield e;
      pos += pad(e.size);
    }
  }

  /** A member's body as a Buffer (for JSON members); refuses bodies larger than `max`. */
  readBody(entry: TarEntry, max: number): Buffer {
    if (entry.size > max)
      throw new TarError('tar.size', `member is ${entry.size} bytes, more than the ${max} allowed here`, entry.headerOffset, entry.name, this.label);
    return this.readAt(this.start + entry.dataOffset, entry.size);
  }

  /** A member's body as a stream (the fd stays open: the caller owns it). */
  bodyStream(entry: TarEntry, highWaterMark = 1024 * 1024): Readable {
    return rangeStream(this.fd, this.start + entry.dataOffset, entry.size, highWaterMark);
  }

  /** Absolute file offset of a member's body. */
  bodyOffset(entry: TarEntry): number {
    return this.start + entry.dataOffset;
  }
}

export function pad(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/**
 * Read a byte range of an fd as a stream. The fd stays open whatever happens to the stream: an fs.ReadStream
 * given an fd closes it when destroyed (an error downstream, a consumer that stops early), even with autoClose
 * off, and the owner's later close could then close a descriptor reused meanwhile by another open.
 */
export function rangeStream(fd: number, start: number, length: number, highWaterMark = 1024 * 1024): Readable {
  return Readable.from(rangeChunks(fd, start, length, highWaterMark), { objectMode: false, highWaterMark });
}

async function* rangeChunks(fd: number, start: number, length: number, size: number): AsyncGenerator<Buffer> {
  const end = start + Math.max(0, length);
  for (let pos = start; pos < end; ) {
    const buf = Buffer.allocUnsafe(Math.min(size, end - pos));
    const n = await new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, pos, (err, got) => (err ? reject(err) : resolve(got))));
    if (n === 0) return; // the file shrank: the caller compares what it got with what it expected
    pos += n;
    yield n === buf.length ? buf : buf.subarray(0, n);
  }
}
