/**
 * Tar headers as the formats in the wild write them: ustar, GNU (`ustar  ` magic, ././@LongLink `L`/`K`, old
 * sparse `S`), PAX (`x` extended headers, `g` global ones), v7. One 512-byte block at a time, with no I/O: the
 * file reader (seek) and the stream reader (one pass) drive the same {@link HeaderAssembler}.
 *
 * Where tar readers disagree, we read as Go's archive/tar does, since that is what moby, containerd and tar-split
 * use: what the engine extracts is the image. GNU tar or bsdtar would see another file tree in the same bytes
 * (a `g` header's records applied to the members after it, a GNU long name losing to a PAX `path`, a typeflag
 * NUL name ending in '/' read as a file with a body), and an attacker who knows that can hide a file from any
 * tool that reads a layer differently from the engine.
 *
 * Names stay byte strings (latin1): a tar name is bytes, and PAX `path`/`linkpath` values are kept as their raw
 * bytes too. `SCHILY.xattr.*` values are kept as raw Buffers, never decoded.
 */
import type { EntryType } from '../../model/types.js';
import { TarError } from './errors.js';

export const BLOCK = 512;

/**
 * Extension bodies (PAX records, GNU long names) larger than this are refused, as Go's archive/tar refuses them
 * (maxSpecialFileSize, ErrFieldTooLong): the engine cannot load such a layer, and we hold them in memory.
 */
export const MAX_EXTENSION_SIZE = 1024 * 1024;
/**
 * Extension headers before one member. Real tars have at most a few (a PAX 'x', GNU 'L' and 'K', a global 'g');
 * without a bound an endless run of them in a stream never yields a member, so no other bound applies.
 */
export const MAX_EXTENSIONS_IN_A_ROW = 64;
/** Old GNU sparse continuation blocks for one member (21 holes each: 1.3 million holes). */
export const MAX_SPARSE_BLOCKS = 65_536;

export type TarFormat = 'v7' | 'ustar' | 'gnu' | 'pax';

/** One member of a tar, its extension headers already applied. */
export interface TarEntry {
  /** Name as stored (byte string), not cleaned: PAX `path` > GNU long name > ustar prefix/name. */
  name: string;
  /** Link target as stored (byte string): PAX `linkpath` > GNU long link > header field. '' when none. */
  linkname: string;
  /** The raw typeflag character ('0', '5', 'L' never: extensions are consumed). */
  typeflag: string;
  /** What the typeflag means; 'other' for vendor or unknown flags (GNU 'D', 'V', 'M', ...) and PAX 'g'. */
  type: EntryType | 'other';
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of body stored in the tar after the header (what must be skipped). */
  size: number;
  /** Length of the file it stands for: `size`, except for sparse members. */
  realSize: number;
  mtime: number;
  mtimeNsec: number;
  devMajor: number;
  devMinor: number;
  uname: string;
  gname: string;
  /** `SCHILY.xattr.<name>` (and LIBARCHIVE.xattr) values, byte-exact; keys are byte strings. */
  xattrs: Map<string, Buffer>;
  /** The PAX records of this member (of the 'x' header before it; a 'g' entry's own), raw values; null when none. */
  pax: Map<string, Buffer> | null;
  format: TarFormat;
  /** GNU sparse member (old `S` or PAX GNU.sparse.*): the body holds a sparse map, not the plain content. */
  sparse: boolean;
  /** Offset of the first header block of this member (its first extension header if it has one). */
  headerOffset: number;
  /** Offset of the body. */
  dataOffset: number;
}

/** Shared by every entry without xattrs (most of them): never mutated. */
const NO_XATTRS: Map<string, Buffer> = new Map();
const EMPTY = Buffer.alloc(0);

/** The records with a value (Go skips empty ones); the same map when none is empty. */
function nonEmpty(recs: Map<string, Buffer>): Map<string, Buffer> | null {
  let empty = 0;
  for (const v of recs.values()) if (v.length === 0) empty++;
  if (empty === 0) return recs;
  if (empty === recs.size) return null;
  const m = new Map<string, Buffer>();
  for (const [k, v] of recs) if (v.length) m.set(k, v);
  return m;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/**
 * A header block's own name and its format, by Go's rules (format.go getFormat, reader.go readHeader): magic
 * `ustar\0` is ustar (a 155-byte prefix; 131 bytes in star's layout, trailer `tar\0`), `ustar ` with version
 * ` \0` is GNU (no prefix, unless its atime/ctime do not parse: then a pre-Go-1.8 writer put a prefix there),
 * anything else v7.
 */
/** star's layout: ustar magic and a `tar\0` trailer (a 131-byte prefix, then atime and ctime). */
function isStar(b: Buffer, off: number): boolean {
  return b[off + 508] === 0x74 && b[off + 509] === 0x61 && b[off + 510] === 0x72 && b[off + 511] === 0;
}

function headerName(b: Buffer, off: number): { format: TarFormat; name: string } {
  const rawName = field(b, off, 100);
  const magic = b.toString('latin1', off + 257, off + 263);
  const version = b.toString('latin1', off + 263, off + 265);
  if (magic === 'ustar\0') {
    const star = isStar(b, off);
    const prefix = field(b, off + 345, star ? 131 : 155);
    return { format: 'ustar', name: prefix ? prefix + '/' + rawName : rawName };
  }
  if (magic === 'ustar ' && version === ' \0') {
    const timeBad = (at: number) => b[off + at] !== 0 && parseNumeric(b, off + at, 12) === null;
    if (timeBad(345) || timeBad(357)) {
      const prefix = field(b, off + 345, 155);
      if (prefix && /^[\x00-\x7f]*$/.test(prefix)) return { format: 'gnu', name: prefix + '/' + rawName };
    }
    return { format: 'gnu', name: rawName };
  }
  return { format: 'v7', name: rawName };
}

/**
 * A PAX GNU sparse member as Go's readGNUSparsePAXHeaders recognises one: format 0.0/0.1 (a map, or
 * offset/numbytes records) or 1.0, by its major/minor records; any other version, or none without a map, is no
 * sparse member at all, and then GNU.sparse.name renames nothing. Size: GNU.sparse.size, else realsize.
 */
function paxSparse(pax: Map<string, Buffer>): { name: string | null; size: number | null } | null {
  const rec = (k: string) => pax.get(k)?.toString('latin1') ?? '';
  const major = rec('GNU.sparse.major');
  const minor = rec('GNU.sparse.minor');
  const known =
    (major === '0' && (minor === '0' || minor === '1')) ||
    (major === '1' && minor === '0') ||
    (major === '' && minor === '' && (rec('GNU.sparse.map') !== '' || pax.has('GNU.sparse.offset') || pax.has('GNU.sparse.numbytes')));
  if (!known) return null;
  const size = rec('GNU.sparse.size') || rec('GNU.sparse.realsize');
  return { name: rec('GNU.sparse.name') || null, size: /^\d+$/.test(size) && Number.isSafeInteger(Number(size)) ? Number(size) : null };
}

/** NUL-terminated field as a byte string. */
function field(b: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && b[end] !== 0) end++;
  return b.toString('latin1', off, end);
}

/**
 * A numeric field as Go reads it (strconv.go parseNumeric): GNU base-256 when the high bit of the first byte is
 * set (bit 0x40 then means negative, two's complement), else octal ASCII with leading and trailing spaces and
 * NULs trimmed and cut at the first NUL left. Returns null for a value Go refuses (or one past 2^53).
 */
export function parseNumeric(b: Buffer, off: number, len: number): number | null {
  const first = b[off]!;
  if (first & 0x80) {
    const inv = first & 0x40 ? 0xff : 0;
    let v = 0;
    for (let i = 0; i < len; i++) {
      let c = b[off + i]! ^ inv;
      if (i === 0) c &= 0x7f;
      v = v * 256 + c;
      // Go takes any int64 (past 2^53 a Number is near, not exact: only times get there in practice)
      if (v >= 2 ** 63) return null;
    }
    return inv ? -(v + 1) : v;
  }
  let start = off;
  let end = off + len;
  const pad = (c: number) => c === 0x20 || c === 0;
  while (start < end && pad(b[start]!)) start++;
  while (end > start && pad(b[end - 1]!)) end--;
  if (start === end) return 0;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 0) break;
    if (c < 0x30 || c > 0x37) return null;
    v = v * 8 + (c - 0x30);
  }
  // strconv.ParseUint(…, 8, 64), as Go parses it
  return v >= 2 ** 64 ? null : v;
}

/** The error for a zero block followed by a header (Go: "zero block and then non-zero block"). */
export function loneZeroBlock(offset: number, label: string | null): TarError {
  return new TarError('tar.header', 'a zero block followed by a header: the engine (Go\'s archive/tar) refuses this tar here, and the members after it are not read', offset, '', label);
}

/** One zero block, then less than a block before the end: Go's reader says "unexpected EOF", not the end. */
export function partialAfterZeroBlock(offset: number, label: string | null): TarError {
  return new TarError('tar.truncated', 'a zero block followed by part of a block: the engine (Go\'s archive/tar) reads this as a truncated tar, not as its end', offset, '', label);
}

export function isZeroBlock(b: Buffer, off = 0): boolean {
  for (let i = off; i < off + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Checksum check as POSIX (unsigned) and as some old writers did it (signed bytes). */
export function checksumOk(b: Buffer, off = 0): boolean {
  // Octal only (Go's parseOctal): a base-256 checksum field is no checksum.
  const stored = b[off + 148]! & 0x80 ? null : parseNumeric(b, off + 148, 8);
  if (stored === null) return false;
  const unsigned = byteSum(b, off) - byteSum8(b, off + 148) + 8 * 0x20; // the checksum field counts as spaces
  if (stored === unsigned) return true;
  // Some old writers summed signed chars.
  let high = 0;
  for (let i = off; i < off + BLOCK; i++) if ((i < off + 148 || i >= off + 156) && b[i]! > 127) high++;
  return stored === unsigned - 256 * high;
}

/**
 * Sum of the 512 bytes of a block. Four bytes at a time when the block is 4-byte aligned in memory (headers
 * always are at their offsets in our read buffers): two 16-bit lanes per word cannot overflow in 128 words.
 */
function byteSum(b: Buffer, off: number): number {
  const start = b.byteOffset + off;
  if ((start & 3) === 0) {
    const w = new Uint32Array(b.buffer, start, BLOCK >> 2);
    let even = 0;
    let odd = 0;
    for (let i = 0; i < w.length; i++) {
      const x = w[i]!;
      even += x & 0x00ff00ff;
      odd += (x >>> 8) & 0x00ff00ff;
    }
    return (even & 0xffff) + (even >>> 16) + (odd & 0xffff) + (odd >>> 16);
  }
  let sum = 0;
  for (let i = off; i < off + BLOCK; i++) sum += b[i]!;
  return sum;
}

function byteSum8(b: Buffer, off: number): number {
  return b[off]! + b[off + 1]! + b[off + 2]! + b[off + 3]! + b[off + 4]! + b[off + 5]! + b[off + 6]! + b[off + 7]!;
}

/** True when a block looks like a tar header (valid checksum and a plausible magic or v7 layout). */
export function looksLikeTarHeader(b: Buffer, off = 0): boolean {
  if (b.length - off < BLOCK || isZeroBlock(b, off)) return false;
  return checksumOk(b, off);
}

/** Parse PAX extended header records `"<len> <key>=<value>\n"`. Keys are byte strings, values raw bytes. */
const PATH_LIKE = new Set(['path', 'linkpath', 'uname', 'gname']);

export function parsePax(body: Buffer, offset: number, member: string, label: string | null): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  // One copy of the whole body (it may live in a reused read buffer); values are views into it.
  body = Buffer.from(body);
  let i = 0;
  while (i < body.length) {
    // tolerate NUL padding at the end
    if (body[i] === 0) break;
    let sp = i;
    let len = 0;
    if (body[sp] === 0x2b) sp++; // strconv.ParseInt, which Go uses here, takes a '+'
    while (sp < body.length && sp - i <= 20) {
      const c = body[sp]!;
      if (c === 0x20) break;
      if (c < 0x30 || c > 0x39) throw new TarError('tar.pax', 'malformed PAX record (bad length)', offset, member, label);
      len = len * 10 + (c - 0x30);
      sp++;
    }
    if (sp >= body.length || body[sp] !== 0x20 || sp === i || (sp === i + 1 && body[i] === 0x2b)) throw new TarError('tar.pax', 'malformed PAX record (no length)', offset, member, label);
    if (!Number.isInteger(len) || len <= sp - i + 1 || i + len > body.length || body[i + len - 1] !== 0x0a)
      throw new TarError('tar.pax', 'malformed PAX record (bad length)', offset, member, label);
    const end = i + len - 1;
    let eq = sp + 1;
    while (eq < end && body[eq] !== 0x3d) eq++;
    if (eq === sp + 1 || eq >= end) throw new TarError('tar.pax', 'malformed PAX record (no key)', offset, member, label);
    const key = body.toString('latin1', sp + 1, eq);
    const value = body.subarray(eq + 1, end);
    // Go's validPAXRecord: no NUL in path, linkpath, uname, gname values, nor in any other key.
    if (PATH_LIKE.has(key) ? value.includes(0) : key.includes('\0'))
      throw new TarError('tar.pax', `PAX record ${JSON.stringify(key)} holds a NUL byte: the engine (Go's archive/tar) refuses this tar here`, offset, member, label);
    out.set(key, value);
    i += len;
  }
  return out;
}

/** A decimal integer with an optional sign, within Go's int64. */
function inInt64(v: string): boolean {
  const x = BigInt(v);
  return x >= -(2n ** 63n) && x < 2n ** 63n;
}

/** PAX time `[-]seconds[.fraction]` as seconds + nanoseconds (nsec always 0..999999999). */
export function parsePaxTime(v: string): { sec: number; nsec: number } | null {
  const m = /^([-+]?)(\d+)(?:\.(\d*))?$/.exec(v);
  if (!m) return null;
  // Go: strconv.ParseInt(seconds, 10, 64); past 2^53 the Number is near, not exact.
  if (!inInt64(m[1] + m[2]!)) return null;
  let sec = Number(m[2]);
  let nsec = m[3] ? Number((m[3] + '000000000').slice(0, 9)) : 0;
  if (m[1] === '-') {
    sec = -sec;
    if (nsec > 0) {
      sec -= 1;
      nsec = 1_000_000_000 - nsec;
    }
  }
  return { sec, nsec };
}

/** What the driver must do after feeding a block. */
export type Step =
  /** Read `size` bytes of extension body (then padding to a block) and pass them to {@link HeaderAssembler.extensionBody}. */
  | { kind: 'extension'; size: number }
  /** Pass the next block to {@link HeaderAssembler.continuation} (old GNU sparse maps). */
  | { kind: 'continuation' }
  /** A member: its body of `entry.size` bytes (padded to a block) follows. */
  | { kind: 'entry'; entry: TarEntry }
  /** End-of-archive marker (a zero block). */
  | { kind: 'end' };

/**
 * The header state machine. Feed it header blocks (`header`), extension bodies when asked, and it hands back
 * one {@link TarEntry} per real member with every pending extension (GNU long names, PAX records) applied.
 */
export class HeaderAssembler {
  private longName: string | null = null;
  private longLink: string | null = null;
  private local: Map<string, Buffer> | null = null;
  private firstOffset = -1;
  private pendingExt: { flag: string; offset: number; header: Buffer } | null = null;
  private pendingSparse: TarEntry | null = null;
  private extensionsInARow = 0;
  private sparseBlocks = 0;

  constructor(private readonly label: string | null = null) {}

  /** The name of the member being assembled, for error messages. */
  pendingName(): string {
    return this.longName ?? (this.local?.get('path')?.toString('latin1') ?? '');
  }

  header(b: Buffer, off: number, offset: number): Step {
    if (isZeroBlock(b, off)) return { kind: 'end' };
    const rawName = field(b, off, 100);
    if (!checksumOk(b, off)) throw new TarError('tar.checksum', 'bad header checksum', offset, this.pendingName() || rawName, this.label);
    if (this.firstOffset < 0) this.firstOffset = offset;
    const flag = String.fromCharCode(b[off + 156]!);
    const size = this.num(b, off + 124, 12, 'size', offset, rawName);
    if (size < 0) throw new TarError('tar.size', `negative size ${size}`, offset, rawName, this.label);

    // Go knows 'x', 'g', 'L' and 'K' only: a Solaris 'X' is a member of an unknown type there, as here.
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_EXTENSION_SIZE)
        throw new TarError('tar.size', `extension header of ${size} bytes is larger than the ${MAX_EXTENSION_SIZE} bytes Go's archive/tar (the engine's reader) accepts: the engine refuses this tar here`, offset, this.pendingName() || rawName, this.label);
      if (++this.extensionsInARow > MAX_EXTENSIONS_IN_A_ROW)
        throw new TarError('tar.header', `more than ${MAX_EXTENSIONS_IN_A_ROW} extension headers in a row without a member`, offset, this.pendingName() || rawName, this.label);
      // A 'g' header needs its own block again when its body has been read (it becomes an entry).
      this.pendingExt = { flag, offset, header: flag === 'g' ? Buffer.from(b.subarray(off, off + BLOCK)) : EMPTY };
      return { kind: 'extension', size };
    }
    this.extensionsInARow = 0;

    let { format, name } = headerName(b, off);
    // The block's own format decides which of its fields exist (Go reads devmajor, uname... only from ustar,
    // PAX and GNU blocks); a PAX header before it does not make a V7 block's padding into fields.
    const blockFormat = format;
    // An empty value keeps the header's own field, as Go's mergePAX does (not POSIX's "default").
    const pax = this.local && nonEmpty(this.local);
    if (pax) format = 'pax';

    let linkname = field(b, off + 157, 100);
    const typeflag = flag;
    let type: EntryType | 'other' = (TYPES[flag] as EntryType | undefined) ?? (flag === 'S' ? 'file' : 'other');
    let mode = this.num(b, off + 100, 8, 'mode', offset, name);
    let uid = this.num(b, off + 108, 8, 'uid', offset, name);
    let gid = this.num(b, off + 116, 8, 'gid', offset, name);
    let mtime = this.num(b, off + 136, 12, 'mtime', offset, name);
    let mtimeNsec = 0;
    let devMajor = 0;
    let devMinor = 0;
    if (blockFormat !== 'v7') {
      devMajor = this.num(b, off + 329, 8, 'devmajor', offset, name);
      devMinor = this.num(b, off + 337, 8, 'devminor', offset, name);
    }
    if (blockFormat === 'ustar' && isStar(b, off)) {
      // star's atime and ctime: not kept, but Go parses them and refuses the tar when they do not parse.
      this.num(b, off + 476, 12, 'star atime', offset, name);
      this.num(b, off + 488, 12, 'star ctime', offset, name);
    }
    let uname = blockFormat !== 'v7' ? field(b, off + 265, 32) : '';
    let gname = blockFormat !== 'v7' ? field(b, off + 297, 32) : '';
    let realSize = size;
    let storedSize = size;
    let sparse = false;

    let xattrs = NO_XATTRS;
    if (pax) {
      // One pass over the records (GNU tar writes atime/ctime/mtime for every member: keep this cheap).
      // strconv.ParseInt(v, 10, 64), as Go's mergePAX parses uid, gid and size: a sign is allowed.
      const int = (k: string, raw: Buffer): number => {
        const v = raw.toString('latin1');
        if (!/^[+-]?\d+$/.test(v) || !inInt64(v))
          throw new TarError('tar.pax', `PAX ${k}=${JSON.stringify(v)} is not a valid number`, this.firstOffset, name, this.label);
        return Number(v);
      };
      // A negative owner is chown(-1): the engine leaves the owner it created the file with (root).
      const owner = (k: string, raw: Buffer): number => Math.max(0, int(k, raw));
      for (const [k, v] of pax) {
        switch (k) {
          case 'path':
            name = v.toString('latin1');
            break;
          case 'linkpath':
            linkname = v.toString('latin1');
            break;
          case 'size':
            storedSize = int(k, v);
            if (storedSize < 0) throw new TarError('tar.pax', `PAX size=${JSON.stringify(v.toString('latin1'))} is negative`, this.firstOffset, name, this.label);
            break;
          case 'uid':
            uid = owner(k, v);
            break;
          case 'gid':
            gid = owner(k, v);
            break;
          case 'uname':
            uname = v.toString('latin1');
            break;
          case 'gname':
            gname = v.toString('latin1');
            break;
          case 'mtime': {
            const mt = v.toString('latin1');
            const t = parsePaxTime(mt);
            if (!t) throw new TarError('tar.pax', `PAX mtime=${JSON.stringify(mt)} is not a valid time`, this.firstOffset, name, this.label);
            mtime = t.sec;
            mtimeNsec = t.nsec;
            break;
          }
          case 'atime':
          case 'ctime':
            // Not kept, but Go's mergePAX parses them: a bad one makes the engine refuse the tar.
            if (!parsePaxTime(v.toString('latin1')))
              throw new TarError('tar.pax', `PAX ${k}=${JSON.stringify(v.toString('latin1'))} is not a valid time`, this.firstOffset, name, this.label);
            break;
          default:
            // Only SCHILY.xattr.* become xattrs: Go (and so the engine) ignores libarchive's LIBARCHIVE.xattr.*,
            // so a LIBARCHIVE.xattr.trusted.overlay.opaque must not make a directory opaque here either.
            if (k.startsWith('SCHILY.xattr.')) (xattrs === NO_XATTRS ? (xattrs = new Map()) : xattrs).set(k.slice(13), v);
        }
      }
      realSize = storedSize;
    }
    // GNU long names win over PAX path/linkpath (Go applies them after the PAX records); an empty one is none.
    if (this.longName) name = this.longName;
    if (this.longLink) linkname = this.longLink;
    // Go: "Legacy archives use trailing slash for directories" (typeflag NUL only, on the final name). A
    // directory has no body, so the bytes its size field covers are the next headers.
    if (flag === '\0' && name.endsWith('/')) type = 'dir';
    // GNU sparse in PAX form, only in the versions Go knows (it renames the member last of all).
    const gnuSparse = pax ? paxSparse(pax) : null;
    if (gnuSparse) {
      sparse = true;
      if (gnuSparse.name) name = gnuSparse.name;
      if (gnuSparse.size !== null) realSize = gnuSparse.size;
    }
    mode &= 0o7777;
    if (storedSize > Number.MAX_SAFE_INTEGER) throw new TarError('tar.size', 'size too large', offset, name, this.label);

    // Header-only types carry no body whatever their size field says, as Go's archive/tar reads them (moby and
    // containerd use it, so this is how the engine sees the layer).
    let bodySize = storedSize;
    if (type !== 'file' && type !== 'other') {
      bodySize = 0;
      realSize = 0;
    }

    const entry: TarEntry = {
      name,
      linkname,
      typeflag,
      type,
      mode,
      uid,
      gid,
      size: bodySize,
      realSize,
      mtime,
      mtimeNsec,
      devMajor,
      devMinor,
      uname,
      gname,
      xattrs,
      pax,
      format,
      sparse,
      headerOffset: this.firstOffset,
      dataOffset: 0,
    };
    this.longName = this.longLink = null;
    this.local = null;
    this.firstOffset = -1;

    if (flag === 'S') {
      // Go reads an old GNU sparse map only from a GNU block (star's sparse headers share the flag, not the layout).
      if (blockFormat !== 'gnu') throw new TarError('tar.header', 'old GNU sparse member (type S) in a non-GNU header: the engine (Go\'s archive/tar) refuses this tar here', entry.headerOffset, entry.name, this.label);
      // Old GNU sparse: real size at 483, extension blocks follow while isextended (482) is set.
      entry.sparse = true;
      const rs = parseNumeric(b, off + 483, 12);
      if (rs !== null) entry.realSize = rs;
      if (b[off + 482]) {
        this.pendingSparse = entry;
        return { kind: 'continuation' };
      }
    }
    return { kind: 'entry', entry };
  }

  /** An old-GNU sparse extension block. */
  continuation(b: Buffer, off: number): Step {
    const entry = this.pendingSparse!;
    if (b[off + 504]) {
      if (++this.sparseBlocks > MAX_SPARSE_BLOCKS)
        throw new TarError('tar.header', `sparse map runs over more than ${MAX_SPARSE_BLOCKS} continuation blocks`, entry.headerOffset, entry.name, this.label);
      return { kind: 'continuation' };
    }
    this.sparseBlocks = 0;
    this.pendingSparse = null;
    return { kind: 'entry', entry };
  }

  /**
   * The body of the extension header asked for. Returns an entry for a PAX global header: Go's reader returns a
   * 'g' header as a member of its own (no body: its records are consumed) and applies none of its records to
   * the members after it; moby and containerd then skip it ("PAX Global Extended Headers found and ignored").
   */
  extensionBody(body: Buffer): TarEntry | null {
    const { flag, offset, header } = this.pendingExt!;
    this.pendingExt = null;
    if (flag === 'L' || flag === 'K') {
      let end = body.indexOf(0);
      if (end < 0) end = body.length;
      const s = body.toString('latin1', 0, end);
      if (flag === 'L') this.longName = s;
      else this.longLink = s;
      return null;
    }
    const recs = parsePax(body, offset, this.pendingName(), this.label);
    if (flag === 'g') return this.globalEntry(header, recs, offset);
    // Each 'x' replaces the records of an earlier one (Go keeps the last set only).
    let bytes = 0;
    for (const [k, v] of recs) bytes += k.length + v.length;
    if (bytes > MAX_EXTENSION_SIZE)
      throw new TarError('tar.size', `PAX records for one member exceed ${MAX_EXTENSION_SIZE} bytes`, offset, this.pendingName(), this.label);
    this.local = recs;
    return null;
  }

  /** A 'g' header as Go returns it: its own member of type 'g', no body; what was pending before it is dropped. */
  private globalEntry(b: Buffer, recs: Map<string, Buffer>, offset: number): TarEntry {
    const entry: TarEntry = {
      name: recs.get('path')?.toString('latin1') || headerName(b, 0).name,
      linkname: '',
      typeflag: 'g',
      type: 'other',
      mode: 0,
      uid: 0,
      gid: 0,
      size: 0,
      realSize: 0,
      mtime: 0,
      mtimeNsec: 0,
      devMajor: 0,
      devMinor: 0,
      uname: '',
      gname: '',
      xattrs: NO_XATTRS,
      pax: recs,
      format: 'pax',
      sparse: false,
      headerOffset: this.firstOffset < 0 ? offset : this.firstOffset,
      dataOffset: 0,
    };
    this.longName = this.longLink = null;
    this.local = null;
    this.firstOffset = -1;
    this.extensionsInARow = 0;
    return entry;
  }

  private num(b: Buffer, off: number, len: number, what: string, offset: number, name: string): number {
    const v = parseNumeric(b, off, len);
    if (v === null) throw new TarError('tar.numeric', `unparsable ${what} field`, offset, name, this.label);
    return v;
  }
}
