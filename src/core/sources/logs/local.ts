import type { DecodedEntry, EntryResult } from './entry.js';

/**
 * The `local` log driver's format (also the format of the cache docker keeps for drivers it cannot read back,
 * `container-cached.log`): a sequence of frames, each
 *   [size: uint32 big-endian][LogEntry protobuf: size bytes][size again: uint32 big-endian]
 * (the trailing size lets a reader walk backwards, for --tail). LogEntry (api/types/plugins/logdriver):
 *   1 source string, 2 time_nano int64, 3 line bytes, 4 partial bool,
 *   5 partial_log_metadata {1 last bool, 2 id string, 3 ordinal int32}, 6 attrs (not shown by docker logs).
 * The engine stores a line without its `\n`; docker logs adds it back unless the entry is a partial one that
 * is not the last piece of its line.
 */

/** The engine refuses to read a frame past this size (moby local.maxMsgLen): a bigger one is damage. */
export const MAX_FRAME = 1_000_000;

/** A frame's payload and where it starts (its size header) in the (decompressed) file. */
export interface RawFrame {
  payload: Buffer;
  offset: number;
}

/** The frames stop making sense at `offset`: the rest of the file cannot be read. */
export class FrameError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The frames of a byte stream. Memory: one chunk plus one frame (a size header is checked against MAX_FRAME
 * before anything is held for it, so a header claiming 4 GB allocates nothing). Throws FrameError at the first
 * frame that is too large, whose trailing size disagrees, or that the file ends inside.
 */
export async function* localFrames(chunks: AsyncIterable<Buffer>, startOffset = 0): AsyncGenerator<RawFrame> {
  let buf: Buffer = Buffer.alloc(0);
  let base = startOffset; // file offset of buf[0]
  for await (const chunk of chunks) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    let pos = 0;
    while (buf.length - pos >= 4) {
      const size = buf.readUInt32BE(pos);
      if (size > MAX_FRAME) throw new FrameError(base + pos, `frame claims ${size} bytes, more than the ${MAX_FRAME} a log entry can take (docker logs stops here too: "log message is too large")`);
      if (buf.length - pos < size + 8) break;
      const trailer = buf.readUInt32BE(pos + 4 + size);
      if (trailer !== size) throw new FrameError(base + pos, `frame header says ${size} bytes, its trailer ${trailer}: not a frame boundary`);
      yield { payload: buf.subarray(pos + 4, pos + 4 + size), offset: base + pos };
      pos += size + 8;
    }
    // Keep only the unread tail (less than one frame): a copy, so that the chunk it came from can be freed.
    base += pos;
    buf = pos < buf.length ? Buffer.from(buf.subarray(pos)) : Buffer.alloc(0);
  }
  if (buf.length) throw new FrameError(base, `the file ends inside a frame (${buf.length} byte(s) of it): truncated`);
}

class Proto {
  pos = 0;
  constructor(readonly b: Buffer) {}
  get done(): boolean {
    return this.pos >= this.b.length;
  }
  varint(): bigint {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.b.length) throw new Error('varint runs past the end');
      const c = this.b[this.pos++]!;
      v |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) return BigInt.asUintN(64, v);
    }
    throw new Error('varint longer than 10 bytes');
  }
  bytes(): Buffer {
    const n = this.varint();
    if (n > BigInt(this.b.length - this.pos)) throw new Error(`a field claims ${n} bytes, past the end of the entry`);
    const out = this.b.subarray(this.pos, this.pos + Number(n));
    this.pos += Number(n);
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytes();
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (this.pos + n > this.b.length) throw new Error('a fixed-size field runs past the end');
      this.pos += n;
    } else throw new Error(`wire type ${wire} is not one protobuf uses`);
  }
}

/** Fields we read must have the wire type LogEntry gives them; anything else is damage, not a newer field. */
function expect(field: number, wire: number, want: number): void {
  if (wire !== want) throw new Error(`field ${field} has wire type ${wire}, not ${want}`);
}

/** One frame's LogEntry decoded into what docker logs shows, or why it cannot be. */
export function decodeLocalEntry(payload: Buffer): EntryResult {
  let source = '';
  let timeNs = 0n;
  let line: Buffer = Buffer.alloc(0);
  let partial = false;
  let last = false;
  try {
    const p = new Proto(payload);
    while (!p.done) {
      const key = Number(p.varint());
      const field = key >>> 3;
      const wire = key & 7;
      if (field === 1) (expect(1, wire, 2), (source = p.bytes().toString('utf8')));
      else if (field === 2) (expect(2, wire, 0), (timeNs = BigInt.asIntN(64, p.varint())));
      else if (field === 3) (expect(3, wire, 2), (line = p.bytes()));
      else if (field === 4) (expect(4, wire, 0), (partial = p.varint() !== 0n));
      else if (field === 5) {
        expect(5, wire, 2);
        const m = new Proto(p.bytes());
        while (!m.done) {
          const k = Number(m.varint());
          if (k >>> 3 === 1) (expect(1, k & 7, 0), (last = m.varint() !== 0n));
          else m.skip(k & 7);
        }
      } else if (field === 0) throw new Error('field number 0');
      else p.skip(wire);
    }
  } catch (err) {
    return { error: `not a log entry (protobuf: ${(err as Error).message})` };
  }
  const open = partial && !last;
  const entry: DecodedEntry = { source, timeNs, offsetMin: 0, line: open ? Buffer.from(line) : Buffer.concat([line, NL]), partial: open };
  return { entry };
}

const NL = Buffer.from('\n');
