/**
 * Tar headers from a stream (stdin, a decompressor, a child's stdout) in one pass. Bodies are handed to the
 * consumer as async iterables of chunks; a body the consumer does not read is skipped (read and dropped).
 */
import { BLOCK, HeaderAssembler, isZeroBlock, loneZeroBlock, partialAfterZeroBlock, type TarEntry } from './header.js';
import { TarError } from './errors.js';

/** Pull exact byte counts out of an async iterable of chunks without copying more than needed. */
export class ByteSource {
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  private done = false;
  /** Bytes consumed so far (offset of the next byte). */
  offset = 0;
  private readonly it: AsyncIterator<Buffer | Uint8Array | string>;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>) {
    this.it =
      Symbol.asyncIterator in source
        ? source[Symbol.asyncIterator]()
        : (async function* () {
            yield* source;
          })();
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      const v = r.value;
      this.chunk = typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      this.pos = 0;
    }
    return true;
  }

  /**
   * Exactly `n` bytes, or fewer only at EOF (then the returned buffer is short). The result may share memory
   * with the source's chunk: copy it before keeping it past the next read.
   */
  async read(n: number): Promise<Buffer> {
    if (!(await this.fill())) return Buffer.alloc(0);
    if (this.chunk.length - this.pos >= n) {
      const out = this.chunk.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.offset += n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n && (await this.fill())) {
      const k = Math.min(n - got, this.chunk.length - this.pos);
      this.chunk.copy(out, got, this.pos, this.pos + k);
      this.pos += k;
      got += k;
    }
    this.offset += got;
    return got === n ? out : out.subarray(0, got);
  }

  /** Up to `n` bytes as chunks, as they come. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0 && (await this.fill())) {
      const k = Math.min(left, this.chunk.length - this.pos);
      const out = this.chunk.subarray(this.pos, this.pos + k);
      this.pos += k;
      this.offset += k;
      left -= k;
      yield out;
    }
  }

  /** Drop `n` bytes; returns how many were there. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0 && (await this.fill())) {
      const k = Math.min(left, this.chunk.length - this.pos);
      this.pos += k;
      this.offset += k;
      left -= k;
    }
    return n - left;
  }

  /** Read everything left (to finish a hash, or let a child process exit). */
  async drain(): Promise<number> {
    let total = 0;
    while (await this.fill()) {
      total += this.chunk.length - this.pos;
      this.offset += this.chunk.length - this.pos;
      this.pos = this.chunk.length;
    }
    return total;
  }

  /**
   * Read and drop at most `max` bytes, noting where the first non-zero byte was (relative to the current
   * offset); `more` says whether the source still had bytes after them (it is not read further).
   */
  async drainAtMost(max: number): Promise<{ bytes: number; firstNonZero: number | null; more: boolean }> {
    let bytes = 0;
    let firstNonZero: number | null = null;
    while (bytes < max && (await this.fill())) {
      const k = Math.min(max - bytes, this.chunk.length - this.pos);
      if (firstNonZero === null) {
        const slice = this.chunk.subarray(this.pos, this.pos + k);
        const i = firstNonZeroByte(slice);
        if (i >= 0) firstNonZero = bytes + i;
      }
      this.pos += k;
      this.offset += k;
      bytes += k;
    }
    const more = bytes >= max && (await this.fill());
    return { bytes, firstNonZero, more };
  }

  /** Stop the underlying iterator early (destroys the stream it wraps). */
  async cancel(): Promise<void> {
    this.done = true;
    await this.it.return?.();
  }
}

function firstNonZeroByte(b: Buffer): number {
  // 8 bytes at a time would be faster; zero padding after an end marker is a few KiB at most in real tars.
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return i;
  return -1;
}

/** What followed the end-of-archive marker, when the reader was asked to look (`afterEnd`). */
export interface TrailingData {
  /** Offset of the end-of-archive marker block. */
  endOffset: number;
  /** Bytes read after the marker block (zero padding, or whatever else was appended). */
  bytes: number;
  /** Offset (in the tar) of the first non-zero byte after the marker, when one was read. */
  firstNonZero: number | null;
  /** True when the stream went on past the limit: reading stopped there and the source was cancelled. */
  stopped: boolean;
}

export interface TarStreamState {
  endMarker: boolean;
  trailing?: TrailingData | null;
}

/** A member met in a stream, with its body still in the stream. */
export interface StreamEntry extends TarEntry {
  /** The body, chunk by chunk (each chunk valid until the next one is pulled). Once only, before the next entry. */
  body(): AsyncIterable<Buffer>;
  /** The whole body in one Buffer; refuses bodies larger than `max`. */
  readBody(max: number): Promise<Buffer>;
}

/**
 * Members of a tar read from `source` in one pass. When the generator finishes, `state.endMarker` says whether
 * the tar closed with a zero block. Throws {@link TarError} on truncation, bad checksums, impossible sizes.
 *
 * After the end marker:
 * - `drainAfterEnd`: every byte left is read (and dropped) so that a hash wrapped around the source sees the
 *   whole stream. Only for a source that is itself bounded (a member of an archive, a decompressor's guarded
 *   output): on an endless source this never returns.
 * - `afterEnd: { max }`: at most `max` bytes are read; `state.trailing` says how many, whether any was not
 *   zero, and whether the source went on past `max` (then it is cancelled: a `docker save` child gets EPIPE,
 *   stdin is closed). Zero padding up to a record (10 KiB for GNU tar) is normal; more is not.
 *
 * `maxMemberSize`: a member whose header claims more bytes than this is refused (TarError `tar.member-too-large`)
 * before any of its body is read: a stream cannot skip a body without reading it, so a header claiming 2^60
 * bytes, followed by an endless source, would otherwise never end.
 */
export async function* readTarStream(
  source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string> | ByteSource,
  opts: { label?: string | null; drainAfterEnd?: boolean; afterEnd?: { max: number }; maxMemberSize?: number; state?: TarStreamState } = {},
): AsyncGenerator<StreamEntry> {
  const src = source instanceof ByteSource ? source : new ByteSource(source);
  const label = opts.label ?? null;
  const asm = new HeaderAssembler(label);
  const state: TarStreamState = opts.state ?? { endMarker: false };
  state.endMarker = false;
  state.trailing = null;
  let endOffset = -1;
  let afterMarker = Buffer.alloc(0);
  const base = src.offset;
  const header = async (what: string, name: string): Promise<Buffer | null> => {
    const at = src.offset - base;
    const b = await src.read(BLOCK);
    if (b.length === 0) return null;
    if (b.length < BLOCK) throw new TarError('tar.truncated', `tar ends inside ${what}`, at, name, label);
    return b;
  };
  for (;;) {
    const headerPos = src.offset - base;
    const first = await header('a header block', asm.pendingName());
    if (!first) break; // EOF at a member boundary
    let step = asm.header(first, 0, headerPos);
    while (step.kind === 'extension' || step.kind === 'continuation') {
      if (step.kind === 'extension') {
        const size = step.size;
        const body = Buffer.from(await src.read(size));
        if (body.length < size)
          throw new TarError('tar.truncated', `tar ends inside an extension header body of ${size} bytes`, headerPos, asm.pendingName(), label);
        const global = asm.extensionBody(body);
        const p = padding(size);
        if ((await src.skip(p)) < p) throw new TarError('tar.truncated', 'tar ends inside header padding', headerPos, asm.pendingName(), label);
        if (global) {
          step = { kind: 'entry', entry: global };
          break;
        }
        const at = src.offset - base;
        const nb = await header('a header block', asm.pendingName());
        if (!nb) throw new TarError('tar.truncated', 'tar ends after an extension header', headerPos, asm.pendingName(), label);
        step = asm.header(nb, 0, at);
      } else {
        const c = await header('a sparse map', asm.pendingName());
        if (!c) throw new TarError('tar.truncated', 'tar ends inside a sparse map', headerPos, asm.pendingName(), label);
        step = asm.continuation(c, 0);
      }
    }
    if (step.kind === 'end') {
      endOffset = src.offset - base - BLOCK;
      // Go's reader (the engine's) takes a zero block followed by a header as an error, not as the end: the
      // members after it would otherwise pass unread.
      const next = Buffer.from(await src.read(BLOCK));
      if (next.length === BLOCK && !isZeroBlock(next)) throw loneZeroBlock(endOffset, label);
      if (next.length > 0 && next.length < BLOCK) throw partialAfterZeroBlock(endOffset, label);
      afterMarker = next;
      state.endMarker = true;
      break;
    }
    const e = step.entry as StreamEntry;
    if (opts.maxMemberSize !== undefined && e.size > opts.maxMemberSize)
      throw new TarError(
        'tar.member-too-large',
        `member claims ${e.size} bytes, more than the ${opts.maxMemberSize} bytes allowed for one member of a stream; reading stopped (its body cannot be skipped without reading it)`,
        e.headerOffset,
        e.name,
        label,
      );
    e.dataOffset = src.offset - base;
    let consumed = 0;
    let started = false;
    e.body = () => {
      if (started) throw new Error('tar member body can be read only once');
      started = true;
      return (async function* () {
        for await (const c of src.take(e.size)) {
          consumed += c.length;
          yield c;
        }
      })();
    };
    e.readBody = async (max: number) => {
      if (e.size > max) throw new TarError('tar.size', `member is ${e.size} bytes, more than the ${max} allowed here`, e.headerOffset, e.name, label);
      started = true;
      const b = Buffer.from(await src.read(e.size));
      consumed += b.length;
      return b;
    };
    yield e;
    // Skip whatever the consumer left, then the padding.
    const left = e.size - consumed;
    if (left > 0) consumed += await src.skip(left);
    if (consumed < e.size)
      throw new TarError('tar.truncated', `tar ends inside the body of a ${e.size}-byte member (${consumed} bytes present)`, e.headerOffset, e.name, label);
    const p = padding(e.size);
    if ((await src.skip(p)) < p) throw new TarError('tar.truncated', 'tar ends inside the padding after a member body', e.headerOffset, e.name, label);
  }
  if (opts.afterEnd && state.endMarker) {
    // What follows the first zero block, the block read to check it is not a lone one included.
    const after = src.offset - base - afterMarker.length;
    const r = await src.drainAtMost(Math.max(0, opts.afterEnd.max - afterMarker.length));
    const inBlock = afterMarker.findIndex((x) => x !== 0);
    const firstNonZero = inBlock >= 0 ? inBlock : r.firstNonZero === null ? null : afterMarker.length + r.firstNonZero;
    state.trailing = { endOffset, bytes: afterMarker.length + r.bytes, firstNonZero: firstNonZero === null ? null : after + firstNonZero, stopped: r.more };
    if (r.more) await src.cancel();
  } else if (opts.drainAfterEnd) await src.drain();
}

function padding(n: number): number {
  const r = n % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}
