/**
 * Tar headers from a stream (stdin, a decompressor, a child's stdout) in one pass. Bodies are handed to the
 * consumer as async iterables of chunks; a body the consumer does not read is skipped (read and dropped).
 */
import { BLOCK, HeaderAssembler, type TarEntry } from './header.js';
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

  /** Stop the underlying iterator early (destroys the stream it wraps). */
  async cancel(): Promise<void> {
    this.done = true;
    await this.it.return?.();
  }
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
 * When `drainAfterEnd` is set, bytes after the end marker are read (and dropped) so that a hash wrapped around
 * the source sees the whole stream.
 */
export async function* readTarStream(
  source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string> | ByteSource,
  opts: { label?: string | null; drainAfterEnd?: boolean; state?: { endMarker: boolean } } = {},
): AsyncGenerator<StreamEntry> {
  const src = source instanceof ByteSource ? source : new ByteSource(source);
  const label = opts.label ?? null;
  const asm = new HeaderAssembler(label);
  const state = opts.state ?? { endMarker: false };
  state.endMarker = false;
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
        asm.extensionBody(body);
        const p = padding(size);
        if ((await src.skip(p)) < p) throw new TarError('tar.truncated', 'tar ends inside header padding', headerPos, asm.pendingName(), label);
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
      state.endMarker = true;
      break;
    }
    const e = step.entry as StreamEntry;
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
  if (opts.drainAfterEnd) await src.drain();
}

function padding(n: number): number {
  const r = n % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}
