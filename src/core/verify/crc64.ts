/**
 * CRC-64 as Go's `hash/crc64` computes it with the ISO table (`crc64.MakeTable(crc64.ISO)`): reflected
 * polynomial 0xD800000000000000, initial value and final xor all ones. tar-split stores this checksum of every
 * file body (8 bytes, big-endian), so this is what a layer integrity check compares against.
 * Check value: crc64("123456789") = 0xb90956c775a41001.
 *
 * JS has no fast 64-bit integer (a BigInt table-driven loop ran at ~5 MB/s here), so the register is kept as two uint32 halves and the
 * tables as interleaved (lo, hi) uint32 pairs. Slicing-by-8 (eight 256-entry tables, one 8-byte step per
 * iteration) measured 3.7x faster than the byte-at-a-time loop here (~920 vs ~250 MB/s on 64 MiB, Node 20, x86-64);
 * reading 32-bit words through an aligned Int32Array gained only ~8% more and was not kept.
 */

/** ISO polynomial, reflected: 0xD800000000000000 as (hi, lo). */
const POLY_HI = 0xd8000000;
const POLY_LO = 0x00000000;

/** tables[(k * 256 + b) * 2] = low half, [... + 1] = high half of table k, entry b. */
const tables = buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(8 * 256 * 2);
  for (let b = 0; b < 256; b++) {
    let lo = b;
    let hi = 0;
    for (let i = 0; i < 8; i++) {
      const lsb = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (lsb) {
        lo = (lo ^ POLY_LO) >>> 0;
        hi = (hi ^ POLY_HI) >>> 0;
      }
    }
    t[b * 2] = lo;
    t[b * 2 + 1] = hi;
  }
  // Table k: the CRC of byte b followed by k zero bytes: T_k[b] = T_0[T_{k-1}[b] & 0xff] ^ (T_{k-1}[b] >> 8).
  for (let k = 1; k < 8; k++) {
    for (let b = 0; b < 256; b++) {
      const p = ((k - 1) * 256 + b) * 2;
      const plo = t[p]!;
      const phi = t[p + 1]!;
      const q = (plo & 0xff) * 2;
      const o = (k * 256 + b) * 2;
      t[o] = (t[q]! ^ ((plo >>> 8) | (phi << 24))) >>> 0;
      t[o + 1] = (t[q + 1]! ^ (phi >>> 8)) >>> 0;
    }
  }
  return t;
}

/** A running CRC-64/ISO (Go-compatible). Feed bytes with update(), read the value with digest(). */
export class Crc64 {
  /** Register, already inverted (Go's `^crc` on entry); halves of the 64-bit value. */
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  update(data: Uint8Array): this {
    const t = tables;
    let lo = this.lo;
    let hi = this.hi;
    let i = 0;
    const n = data.length;
    const end8 = n - (n & 7);
    while (i < end8) {
      lo ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
      hi ^= data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
      // Byte j of the 8-byte word goes through table 7 - j.
      const a = (7 * 256 + (lo & 0xff)) << 1;
      const b = (6 * 256 + ((lo >>> 8) & 0xff)) << 1;
      const c = (5 * 256 + ((lo >>> 16) & 0xff)) << 1;
      const d = (4 * 256 + (lo >>> 24)) << 1;
      const e = (3 * 256 + (hi & 0xff)) << 1;
      const f = (2 * 256 + ((hi >>> 8) & 0xff)) << 1;
      const g = (1 * 256 + ((hi >>> 16) & 0xff)) << 1;
      const h = (hi >>> 24) << 1;
      lo = t[a]! ^ t[b]! ^ t[c]! ^ t[d]! ^ t[e]! ^ t[f]! ^ t[g]! ^ t[h]!;
      hi = t[a + 1]! ^ t[b + 1]! ^ t[c + 1]! ^ t[d + 1]! ^ t[e + 1]! ^ t[f + 1]! ^ t[g + 1]! ^ t[h + 1]!;
      i += 8;
    }
    while (i < n) {
      const x = ((lo ^ data[i]!) & 0xff) << 1;
      lo = t[x]! ^ ((lo >>> 8) | (hi << 24));
      hi = t[x + 1]! ^ (hi >>> 8);
      i++;
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return this;
  }

  /** The 8-byte big-endian checksum (Go's `hash.Sum(nil)`), which is what tar-split stores. */
  digest(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE((~this.hi) >>> 0, 0);
    out.writeUInt32BE((~this.lo) >>> 0, 4);
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
