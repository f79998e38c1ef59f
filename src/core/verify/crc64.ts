/**
 * CRC-64 as Go's `hash/crc64` computes it with the ISO table (`crc64.MakeTable(crc64.ISO)`): reflected
 * polynomial 0xD800000000000000, initial value and final xor all ones. tar-split stores this checksum of every
 * file body (8 bytes, big-endian), so this is what a layer integrity check compares against.
 * Check value: crc64("123456789") = 0xb90956c775a41001.
 *
 * JS has no fast 64-bit integer (a BigInt table-driven loop ran at ~5 MB/s here), so the register is kept as two
 * 32-bit halves, with the low and high halves of the tables in two Int32Arrays. Slicing-by-8 (eight 256-entry
 * tables, one 8-byte step per iteration) measured 3.7x faster than the byte-at-a-time loop here; reading the 8
 * bytes as two 32-bit words through an Int32Array view (little-endian hosts, from the first 4-aligned byte) and
 * split lo/hi tables instead of interleaved pairs made it ~1.7x faster again (CPU time, Node 20, x86-64: 64 MiB
 * ~920 -> ~1600 MB/s, 2 KiB pieces ~830 -> ~1350 MB/s; slicing-by-16 measured no faster than this).
 */

/** ISO polynomial, reflected: 0xD800000000000000 as (hi, lo). */
const POLY_HI = 0xd8000000;
const POLY_LO = 0x00000000;

/** Low and high halves of the slicing tables: entry b of table k is at k * 256 + b. */
const [TL, TH] = buildTables();
/** Words are read in host order; the byte order this loop assumes is little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function buildTables(): [Int32Array, Int32Array] {
  const lo = new Int32Array(8 * 256);
  const hi = new Int32Array(8 * 256);
  for (let b = 0; b < 256; b++) {
    let l = b;
    let h = 0;
    for (let i = 0; i < 8; i++) {
      const lsb = l & 1;
      l = (l >>> 1) | ((h & 1) << 31);
      h = h >>> 1;
      if (lsb) {
        l ^= POLY_LO;
        h ^= POLY_HI;
      }
    }
    lo[b] = l;
    hi[b] = h;
  }
  // Table k: the CRC of byte b followed by k zero bytes: T_k[b] = T_0[T_{k-1}[b] & 0xff] ^ (T_{k-1}[b] >> 8).
  for (let k = 1; k < 8; k++) {
    for (let b = 0; b < 256; b++) {
      const pl = lo[(k - 1) * 256 + b]!;
      const ph = hi[(k - 1) * 256 + b]!;
      const q = pl & 0xff;
      lo[k * 256 + b] = lo[q]! ^ ((pl >>> 8) | (ph << 24));
      hi[k * 256 + b] = hi[q]! ^ (ph >>> 8);
    }
  }
  return [lo, hi];
}

/** A running CRC-64/ISO (Go-compatible). Feed bytes with update(), read the value with digest(). */
export class Crc64 {
  /** Register, already inverted (Go's `^crc` on entry); halves of the 64-bit value (as int32). */
  private lo = -1;
  private hi = -1;

  update(data: Uint8Array): this {
    const L = TL;
    const H = TH;
    let lo = this.lo;
    let hi = this.hi;
    const n = data.length;
    let i = 0;
    if (LITTLE_ENDIAN && n >= 16) {
      // Bytes up to the first 4-aligned one, then 8-byte steps over 32-bit words.
      const head = (4 - (data.byteOffset & 3)) & 3;
      for (; i < head; i++) {
        const x = (lo ^ data[i]!) & 0xff;
        lo = L[x]! ^ ((lo >>> 8) | (hi << 24));
        hi = H[x]! ^ (hi >>> 8);
      }
      const words = new Int32Array(data.buffer, data.byteOffset + head, (n - head) >>> 2);
      const end = words.length & ~1;
      for (let w = 0; w < end; w += 2) {
        lo ^= words[w]!;
        hi ^= words[w + 1]!;
        // Byte j of the 8-byte step goes through table 7 - j.
        const a = 1792 + (lo & 0xff);
        const b = 1536 + ((lo >>> 8) & 0xff);
        const c = 1280 + ((lo >>> 16) & 0xff);
        const d = 1024 + (lo >>> 24);
        const e = 768 + (hi & 0xff);
        const f = 512 + ((hi >>> 8) & 0xff);
        const g = 256 + ((hi >>> 16) & 0xff);
        const h = hi >>> 24;
        lo = L[a]! ^ L[b]! ^ L[c]! ^ L[d]! ^ L[e]! ^ L[f]! ^ L[g]! ^ L[h]!;
        hi = H[a]! ^ H[b]! ^ H[c]! ^ H[d]! ^ H[e]! ^ H[f]! ^ H[g]! ^ H[h]!;
      }
      i = head + end * 4;
    }
    for (; i < n; i++) {
      const x = (lo ^ data[i]!) & 0xff;
      lo = L[x]! ^ ((lo >>> 8) | (hi << 24));
      hi = H[x]! ^ (hi >>> 8);
    }
    this.lo = lo;
    this.hi = hi;
    return this;
  }

  /** True when the checksum equals the 8 big-endian bytes `want` (what tar-split stores), without allocating. */
  equals(want: Uint8Array): boolean {
    if (want.length !== 8) return false;
    const hi = ~this.hi >>> 0;
    const lo = ~this.lo >>> 0;
    return ((want[0]! << 24) | (want[1]! << 16) | (want[2]! << 8) | want[3]!) >>> 0 === hi && ((want[4]! << 24) | (want[5]! << 16) | (want[6]! << 8) | want[7]!) >>> 0 === lo;
  }

  /** The 8-byte big-endian checksum (Go's `hash.Sum(nil)`), which is what tar-split stores. */
  digest(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE(~this.hi >>> 0, 0);
    out.writeUInt32BE(~this.lo >>> 0, 4);
    return out;
  }

  /** The checksum as a 16-digit lower-case hex string. */
  hex(): string {
    return this.digest().toString('hex');
  }
}

/** CRC-64/ISO of one buffer, as 8 big-endian bytes. */
export function crc64(data: Uint8Array): Buffer {
  return new Crc64().update(data).digest();
}

/** Reference implementation (byte at a time, BigInt), for tests only: slow but obviously right. */
export function crc64Reference(data: Uint8Array): bigint {
  const poly = 0xd800000000000000n;
  const mask = 0xffffffffffffffffn;
  let crc = mask;
  for (const byte of data) {
    crc ^= BigInt(byte);
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
  }
  return crc ^ mask;
}
