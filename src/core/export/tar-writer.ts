import type { Writable } from 'node:stream';
import type { EntryType } from '../model/types.js';
import { pathToBytes } from '../model/path.js';

/**
 * A streaming tar writer: ustar headers, with PAX extended headers ('x') wherever ustar cannot say it exactly:
 * names longer than ustar's name/prefix split allows, long link targets, numbers that overflow the octal fields
 * (uid, gid, size >= 8 GiB, mtime), sub-second mtimes, and xattrs (`SCHILY.xattr.<name>`, raw bytes, as GNU tar,
 * bsdtar, Go's archive/tar and moby write them). Names and link targets are byte strings written as they are
 * (no re-encoding; POSIX wants UTF-8 in PAX records, and tools take raw bytes just as well).
 *
 * Bodies are streamed: the writer waits for the destination to drain, so memory stays flat whatever the size.
 */

export interface TarHeader {
  /** Layer path (byte string, no leading '/'); directories get a trailing '/' here. */
  path: string;
  type: Exclude<EntryType, 'socket'>;
  mode: number;
  uid: number;
  gid: number;
  /** Body length for files; 0 otherwise. */
  size: number;
  mtime: number;
  mtimeNsec?: number;
  /** Symlink target, or for hardlinks the path (byte string, no leading '/') of the earlier member. */
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  /** name → hex-encoded value (the model's form). */
  xattrs?: Record<string, string>;
  uname?: string;
  gname?: string;
}

const BLOCK = 512;
const ZERO = Buffer.alloc(BLOCK * 2);
const TYPEFLAG: Record<TarHeader['type'], string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

export class TarWriter {
  /** Bytes written so far. */
  written = 0;
  private paxSeq = 0;
  private closed = false;

  constructor(private readonly out: Writable) {}

  private async write(b: Buffer): Promise<void> {
    // A destination that failed (ENOSPC, EPIPE) stops the writer at once: it never drains again.
    if (this.out.errored) throw this.out.errored;
    if (this.out.destroyed || this.out.writableEnded) throw new Error('tar destination closed');
    this.written += b.length;
    if (!this.out.write(b)) {
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          this.out.off('drain', onDrain);
          this.out.off('error', onError);
          this.out.off('close', onClose);
        };
        const onDrain = () => {
          done();
          resolve();
        };
        const onError = (err: Error) => {
          done();
          reject(err);
        };
        const onClose = () => {
          done();
          reject(this.out.errored ?? new Error('tar destination closed'));
        };
        this.out.once('drain', onDrain);
        this.out.once('error', onError);
        this.out.once('close', onClose);
      });
    }
  }

  /**
   * Write one member. For files, `body` yields exactly `size` bytes; a shorter body is padded with zeros and a
   * longer one cut, and the difference is returned (negative: missing bytes), so the caller can report it: the
   * header is already written when the body turns out wrong.
   */
  async add(h: TarHeader, body?: AsyncIterable<Buffer>): Promise<number> {
    if (this.closed) throw new Error('tar writer already finished');
    const size = h.type === 'file' ? h.size : 0;
    const name = h.type === 'dir' && !h.path.endsWith('/') ? h.path + '/' : h.path;
    const nameBytes = pathToBytes(name);
    const linkBytes = pathToBytes(h.linkname ?? '');
    const pax: [string, Buffer][] = [];
    const split = splitName(nameBytes);
    if (!split) pax.push(['path', nameBytes]);
    if (linkBytes.length > 100) pax.push(['linkpath', linkBytes]);
    if (!fitsOctal(h.uid, 8)) pax.push(['uid', Buffer.from(String(h.uid))]);
    if (!fitsOctal(h.gid, 8)) pax.push(['gid', Buffer.from(String(h.gid))]);
    if (!fitsOctal(size, 12)) pax.push(['size', Buffer.from(String(size))]);
    const nsec = h.mtimeNsec ?? 0;
    if (nsec !== 0 || h.mtime < 0 || !fitsOctal(h.mtime, 12)) pax.push(['mtime', Buffer.from(paxTime(h.mtime, nsec))]);
    for (const [k, v] of Object.entries(h.xattrs ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) pax.push([`SCHILY.xattr.${k}`, Buffer.from(v, 'hex')]);
    if (pax.length) {
      const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
      const base = nameBytes.subarray(nameBytes.lastIndexOf(0x2f, nameBytes.length - 2) + 1).subarray(0, 80);
      const paxName = Buffer.concat([Buffer.from(`PaxHeaders.${this.paxSeq++}/`), base]);
      await this.write(header({ name: paxName.subarray(0, 100), prefix: Buffer.alloc(0), mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, typeflag: 'x', linkname: Buffer.alloc(0), devMajor: 0, devMinor: 0, uname: '', gname: '' }));
      await this.write(body);
      await this.pad(body.length);
    }
    const n = split ?? { prefix: Buffer.alloc(0), name: nameBytes.subarray(0, 100) };
    await this.write(
      header({
        name: n.name,
        prefix: n.prefix,
        mode: h.mode & 0o7777,
        uid: fitsOctal(h.uid, 8) ? h.uid : 0,
        gid: fitsOctal(h.gid, 8) ? h.gid : 0,
        size: fitsOctal(size, 12) ? size : 0,
        mtime: h.mtime >= 0 && fitsOctal(h.mtime, 12) ? h.mtime : 0,
        typeflag: TYPEFLAG[h.type],
        linkname: linkBytes.subarray(0, 100),
        devMajor: h.devMajor ?? 0,
        devMinor: h.devMinor ?? 0,
        uname: h.uname ?? '',
        gname: h.gname ?? '',
      }),
    );
    if (size === 0 && !body) return 0;
    let got = 0;
    if (body && h.type === 'file') {
      for await (const chunk of body) {
        const room = size - got;
        if (room <= 0) {
          got += chunk.length;
          continue;
        }
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        await this.write(part);
        got += chunk.length;
      }
    }
    const written = Math.min(got, size);
    for (let left = size - written; left > 0; ) {
      const z = Math.min(left, ZERO.length);
      await this.write(ZERO.subarray(0, z));
      left -= z;
    }
    await this.pad(size);
    return got - size;
  }

  private async pad(n: number): Promise<void> {
    const r = n % BLOCK;
    if (r) await this.write(ZERO.subarray(0, BLOCK - r));
  }

  /** The end-of-archive marker (two zero blocks). Does not end the destination stream. */
  async finish(): Promise<void> {
    if (this.closed) return;
    await this.write(ZERO);
    this.closed = true;
  }
}

/** ustar name/prefix split of a name, or null when only PAX can hold it. */
function splitName(b: Buffer): { prefix: Buffer; name: Buffer } | null {
  if (b.length <= 100) return { prefix: Buffer.alloc(0), name: b };
  // The prefix ends at a '/' that is not the name's own trailing slash; name part <= 100, prefix <= 155.
  for (let i = Math.min(155, b.length - 2); i > 0; i--) {
    if (b[i] !== 0x2f) continue;
    const name = b.subarray(i + 1);
    if (name.length > 100 || name.length === 0) return null;
    return { prefix: b.subarray(0, i), name };
  }
  return null;
}

function fitsOctal(n: number, field: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < 8 ** (field - 1);
}

function paxTime(sec: number, nsec: number): string {
  if (nsec === 0) return String(sec);
  if (sec < 0 && nsec > 0) {
    // -1.25 s is sec=-2, nsec=750000000: PAX writes it as -1.25.
    const total = -(BigInt(-sec) * 1_000_000_000n - BigInt(nsec));
    const neg = -total;
    return `-${neg / 1_000_000_000n}.${String(neg % 1_000_000_000n).padStart(9, '0')}`;
  }
  return `${sec}.${String(nsec).padStart(9, '0')}`;
}

/** One PAX record: "<len> <key>=<value>\n", len counting itself. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
  let d = String(rest).length;
  while (String(rest + d).length !== d) d++;
  const len = rest + d;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

interface RawHeader {
  name: Buffer;
  prefix: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
  devMajor: number;
  devMinor: number;
  uname: string;
  gname: string;
}

function octal(b: Buffer, off: number, len: number, n: number): void {
  const s = n.toString(8).padStart(len - 1, '0');
  b.write(s, off, len - 1, 'latin1');
  b[off + len - 1] = 0;
}

function header(h: RawHeader): Buffer {
  const b = Buffer.alloc(BLOCK);
  h.name.copy(b, 0, 0, Math.min(100, h.name.length));
  octal(b, 100, 8, h.mode);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, h.mtime);
  b.fill(0x20, 148, 156);
  b.write(h.typeflag, 156, 1, 'latin1');
  h.linkname.copy(b, 157, 0, Math.min(100, h.linkname.length));
  b.write('ustar\x0000', 257, 8, 'latin1');
  b.write(h.uname.slice(0, 31), 265, 32, 'utf8');
  b.write(h.gname.slice(0, 31), 297, 32, 'utf8');
  if (h.typeflag === '3' || h.typeflag === '4') {
    octal(b, 329, 8, h.devMajor);
    octal(b, 337, 8, h.devMinor);
  }
  h.prefix.copy(b, 345, 0, Math.min(155, h.prefix.length));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}
