/**
 * A small decoder for the header blocks of ONE tar member, as tar-split stores them in its raw segments:
 * optional PAX extended headers ('x', and global 'g'), GNU long name/link headers ('L'/'K'), then the member's
 * own ustar/GNU/v7 header. Only what the integrity check compares is decoded; the bodies are not here (tar-split
 * keeps them on disk). Names, link names and xattr values stay raw bytes (byte strings / Buffers): a PAX value is
 * NOT decoded as UTF-8, so `SCHILY.xattr.security.capability` comes out byte-exact.
 *
 * Why not src/core/sources/tar: when this was written it held no header decoder yet, and node-tar drops
 * SCHILY.xattr.* and decodes PAX values as UTF-8 (see /work/shared/docs/stack.md).
 */

export interface TarHeader {
  /** Member name, raw bytes as a byte string (PAX `path` or GNU long name applied). */
  name: string;
  /** Link target (symlink target, or hardlink's member name), raw bytes as a byte string. */
  linkname: string;
  /** Type flag as one character: '0' file ('\0' and '7' are normalised to '0'), '1' hardlink, '2' symlink... */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  /** Size field (PAX `size` applied). */
  size: number;
  /** Whole seconds (PAX `mtime` floored). */
  mtime: number;
  devMajor: number;
  devMinor: number;
  /** PAX `SCHILY.xattr.<name>` records, byte-exact values. */
  xattrs: Map<string, Buffer>;
  /** ustar / gnu / v7, for messages. */
  format: 'ustar' | 'gnu' | 'v7';
}

export class TarHeaderError extends Error {
  readonly code = 'TAR_HEADER';
}

const BLOCK = 512;

/** Header-only types: their body is always empty, whatever the size field says (Go's archive/tar does the same). */
export function bodySize(h: TarHeader): number {
  return h.typeflag === '0' ? h.size : 0;
}

/** Bytes of zero padding after a body of `size` bytes. */
export function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * Decode the header blocks of one member from `buf` (which starts at a block boundary and holds every header
 * block of that member, and nothing else). `globals` carries PAX global ('g') records across members; it is
 * updated in place.
 */
export function decodeMemberHeaders(buf: Buffer, globals: Map<string, Buffer>): TarHeader {
  let off = 0;
  let longName: string | null = null;
  let longLink: string | null = null;
  let pax: Map<string, Buffer> | null = null;
  for (;;) {
    if (off + BLOCK > buf.length) throw new TarHeaderError(`truncated tar header: ${buf.length - off} bytes left where a 512-byte block was expected`);
    const block = buf.subarray(off, off + BLOCK);
    off += BLOCK;
    if (isZeroBlock(block)) throw new TarHeaderError('zero block where a member header was expected');
    verifyChecksum(block);
    const typeflag = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
    const size = parseNumeric(block, 124, 12);
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      const end = off + size;
      if (end > buf.length) throw new TarHeaderError(`extended header '${typeflag}' of ${size} bytes runs past the stored header bytes`);
      const data = buf.subarray(off, end);
      off = end + paddingOf(size);
      if (typeflag === 'L') longName = cString(data);
      else if (typeflag === 'K') longLink = cString(data);
      else if (typeflag === 'g') for (const [k, v] of parsePax(data)) globals.set(k, v);
      else {
        pax ??= new Map();
        for (const [k, v] of parsePax(data)) pax.set(k, v);
      }
      continue;
    }
    return finish(block, typeflag, longName, longLink, mergePax(globals, pax));
  }
}

function mergePax(globals: Map<string, Buffer>, local: Map<string, Buffer> | null): Map<string, Buffer> {
  if (globals.size === 0) return local ?? new Map();
  const m = new Map(globals);
  if (local) for (const [k, v] of local) m.set(k, v);
  return m;
}

function finish(block: Buffer, typeflag: string, longName: string | null, longLink: string | null, pax: Map<string, Buffer>): TarHeader {
  const magic = block.subarray(257, 265).toString('latin1');
  const format: TarHeader['format'] = magic === 'ustar  \0' ? 'gnu' : magic.startsWith('ustar\0') ? 'ustar' : 'v7';
  let name = cString(block.subarray(0, 100));
  // The ustar prefix field; GNU tar uses those bytes for atime/ctime instead.
  if (format === 'ustar') {
    const prefix = cString(block.subarray(345, 500));
    if (prefix !== '') name = prefix + '/' + name;
  }
  if (longName !== null) name = longName;
  let linkname = longLink ?? cString(block.subarray(157, 257));
  const h: TarHeader = {
    name,
    linkname,
    typeflag: typeflag === '7' ? '0' : typeflag,
    mode: parseNumeric(block, 100, 8) & 0o7777,
    uid: parseNumeric(block, 108, 8),
    gid: parseNumeric(block, 116, 8),
    size: parseNumeric(block, 124, 12),
    mtime: parseNumeric(block, 136, 12),
    devMajor: format === 'v7' ? 0 : parseNumeric(block, 329, 8),
    devMinor: format === 'v7' ? 0 : parseNumeric(block, 337, 8),
    xattrs: new Map(),
    format,
  };
  for (const [k, v] of pax) {
    const text = v.toString('latin1');
    switch (k) {
      case 'path': h.name = text; break;
      case 'linkpath': h.linkname = linkname = text; break;
      case 'size': h.size = paxInt(k, text); break;
      case 'uid': h.uid = paxInt(k, text); break;
      case 'gid': h.gid = paxInt(k, text); break;
      case 'mtime': h.mtime = Math.floor(Number(text)); break;
      default:
        if (k.startsWith('SCHILY.xattr.')) h.xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    }
  }
  return h;
}

function paxInt(key: string, text: string): number {
  if (!/^-?[0-9]+$/.test(text)) throw new TarHeaderError(`PAX record ${key}=${JSON.stringify(text)} is not an integer`);
  return Number(text);
}

/** PAX records "<len> <key>=<value>\n"; len counts the whole record in bytes. Values stay raw. */
function parsePax(data: Buffer): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  let off = 0;
  while (off < data.length) {
    if (data[off] === 0) break; // NUL padding some writers leave
    const sp = data.indexOf(0x20, off);
    if (sp < 0) throw new TarHeaderError('malformed PAX record (no length)');
    const len = Number(data.subarray(off, sp).toString('latin1'));
    if (!Number.isInteger(len) || len <= sp - off + 1 || off + len > data.length) throw new TarHeaderError('malformed PAX record length');
    const rec = data.subarray(sp + 1, off + len);
    if (rec[rec.length - 1] !== 0x0a) throw new TarHeaderError('PAX record does not end with a newline');
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarHeaderError('PAX record without "="');
    // Keys are names (ASCII in practice; xattr names are bytes too): byte strings.
    out.push([rec.subarray(0, eq).toString('latin1'), Buffer.from(rec.subarray(eq + 1, rec.length - 1))]);
    off += len;
  }
  return out;
}

/** Bytes up to the first NUL, as a byte string. */
function cString(b: Uint8Array): string {
  const i = b.indexOf(0);
  return Buffer.from(b.buffer, b.byteOffset, i < 0 ? b.length : i).toString('latin1');
}

/** Octal (NUL/space terminated) or GNU base-256 (high bit of the first byte set) numeric field. */
export function parseNumeric(block: Uint8Array, off: number, len: number): number {
  const first = block[off]!;
  if (first & 0x80) {
    // Base-256, two's complement: a leading 0xff is negative (starting from -1 keeps the sign).
    let v = first === 0xff ? -1 : first & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + block[off + i]!;
    return v;
  }
  let v = 0;
  let seen = false;
  for (let i = off; i < off + len; i++) {
    const c = block[i]!;
    if (c === 0x20 || c === 0) {
      if (seen) break;
      continue;
    }
    if (c < 0x30 || c > 0x37) throw new TarHeaderError(`invalid octal digit 0x${c.toString(16)} in a numeric field at offset ${off}`);
    v = v * 8 + (c - 0x30);
    seen = true;
  }
  return v;
}

function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function verifyChecksum(block: Uint8Array): void {
  const stored = parseNumeric(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  if (stored !== unsigned && stored !== signed) throw new TarHeaderError(`header checksum mismatch (stored ${stored}, computed ${unsigned})`);
}
