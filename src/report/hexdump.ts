/**
 * `hexdump -C`'s canonical format, streaming: offset, sixteen bytes in two groups of eight, the printable ASCII
 * between bars; a run of lines equal to the one before is one `*`; the total length closes it (nothing at all
 * for no bytes). The same text as util-linux's hexdump -C, so that a user's habits and diffs carry over.
 */
export class HexDump {
  private offset = 0;
  private pending = Buffer.alloc(0);
  private last: Buffer | null = null;
  private starred = false;

  /** The complete lines these bytes finish. */
  push(chunk: Buffer): string {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let out = '';
    let i = 0;
    for (; i + 16 <= buf.length; i += 16) out += this.line(buf.subarray(i, i + 16));
    // Copied: the caller may reuse its buffer.
    this.pending = Buffer.from(buf.subarray(i));
    return out;
  }

  /** The last, short line and the closing offset. */
  end(): string {
    let out = '';
    if (this.pending.length) out += this.line(this.pending);
    this.pending = Buffer.alloc(0);
    if (this.offset > 0) out += hex8(this.offset) + '\n';
    return out;
  }

  private line(b: Buffer): string {
    const at = this.offset;
    this.offset += b.length;
    if (b.length === 16 && this.last && this.last.equals(b)) {
      if (this.starred) return '';
      this.starred = true;
      return '*\n';
    }
    this.starred = false;
    this.last = b.length === 16 ? Buffer.from(b) : null;
    return hexLine(b, at) + '\n';
  }
}

/** One `hexdump -C` line (no newline) of up to sixteen bytes found at offset `at`. */
export function hexLine(b: Uint8Array, at: number): string {
  let hex = '';
  let ascii = '';
  for (let k = 0; k < 16; k++) {
    if (k === 8) hex += ' ';
    if (k < b.length) {
      const x = b[k]!;
      hex += HEX[x]! + ' ';
      ascii += x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.';
    } else hex += '   ';
  }
  return `${hex8(at)}  ${hex} |${ascii}|`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
