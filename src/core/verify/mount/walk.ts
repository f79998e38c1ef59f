import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { EntryType } from '../../model/types.js';
import { joinPath } from '../../model/path.js';
import { openNoFollow } from '../../sources/evidence.js';
import { Crc64 } from '../crc64.js';
import { entryTypeOf } from '../../sources/fs-types.js';

/** One entry of the kernel's view (the mounted overlay), as lstat shows it. Paths are byte strings. */
export interface KernelEntry {
  path: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  /** sha256 hex of a regular file's bytes, when hashing was asked. */
  sha256?: string;
  /** CRC-64/ISO (Go hash/crc64, as tar-split stores it) of the same bytes, hex. */
  crc64?: string;
}

export interface WalkResult {
  entries: KernelEntry[];
  /** Entries that could not be read (path: error). */
  errors: { path: string; error: string }[];
}


const SLASH = Buffer.from('/');

/**
 * Walk a mounted tree with lstat only: symlinks are read (readlink), never followed; file contents are read
 * only when `hash` is set (O_NOFOLLOW, O_NOATIME). The root itself is not listed. Explicit stack: evidence
 * may nest thousands of levels.
 */
export function walkTree(root: string, opts: { hash?: boolean } = {}): WalkResult {
  const entries: KernelEntry[] = [];
  const errors: WalkResult['errors'] = [];
  const rootBytes = Buffer.from(root, 'utf8');
  const stack: { rel: string; names: string[]; next: number }[] = [];
  const open = (rel: string): void => {
    const host = rel === '' ? rootBytes : Buffer.concat([rootBytes, SLASH, Buffer.from(rel, 'latin1')]);
    let names: string[] = [];
    try {
      names = (fs.readdirSync(host, { encoding: 'latin1' }) as string[]).sort();
    } catch (err) {
      errors.push({ path: rel, error: (err as NodeJS.ErrnoException).code ?? String(err) });
    }
    stack.push({ rel, names, next: 0 });
  };
  open('');
  while (stack.length) {
    const f = stack[stack.length - 1]!;
    if (f.next >= f.names.length) {
      stack.pop();
      continue;
    }
    const rel = joinPath(f.rel, f.names[f.next++]!);
    const host = Buffer.concat([rootBytes, SLASH, Buffer.from(rel, 'latin1')]);
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(host, { bigint: true });
    } catch (err) {
      errors.push({ path: rel, error: (err as NodeJS.ErrnoException).code ?? String(err) });
      continue;
    }
    const type = entryTypeOf(st);
    const e: KernelEntry = { path: rel, type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), nlink: Number(st.nlink) };
    if (type === 'symlink') {
      try {
        e.linkname = fs.readlinkSync(host, { encoding: 'latin1' }) as string;
      } catch (err) {
        errors.push({ path: rel, error: (err as NodeJS.ErrnoException).code ?? String(err) });
      }
    } else if (type === 'char' || type === 'block') {
      e.devMajor = Number(((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & ~0xfffn));
      e.devMinor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & ~0xffn));
      e.size = 0;
    } else if (type === 'file' && opts.hash) {
      try {
        const h = hashFile(host);
        e.sha256 = h.sha256;
        e.crc64 = h.crc64;
      } catch (err) {
        errors.push({ path: rel, error: (err as NodeJS.ErrnoException).code ?? String(err) });
      }
    } else if (type !== 'file' && type !== 'dir') {
      e.size = 0;
    }
    entries.push(e);
    if (type === 'dir') open(rel);
  }
  return { entries, errors };
}

/** sha256 and CRC-64 of a file's bytes (opened O_NOFOLLOW, O_NOATIME where allowed). */
export function hashFile(host: Buffer | string): { sha256: string; crc64: string } {
  const fd = openNoFollow(host);
  try {
    const h = createHash('sha256');
    const c = new Crc64();
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
      c.update(buf.subarray(0, n));
    }
    return { sha256: h.digest('hex'), crc64: c.digest().toString('hex') };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * `find -printf` format for the user-namespace helper: NUL-separated fields, so that any name survives.
 * type, mode (octal, with setuid/setgid/sticky), uid, gid, size, nlink, path relative to the start, link target.
 */
export const FIND_FORMAT = '%y\\0%m\\0%U\\0%G\\0%s\\0%n\\0%P\\0%l\\0';
const FIND_TYPES: Record<string, EntryType> = { f: 'file', d: 'dir', l: 'symlink', c: 'char', b: 'block', p: 'fifo', s: 'socket' };

/** Parse the output of `find <mp> -mindepth 1 -printf FIND_FORMAT` (a byte string). Device numbers are not available. */
export function parseFindOutput(out: string): WalkResult {
  const f = out.split('\0');
  const entries: KernelEntry[] = [];
  const errors: WalkResult['errors'] = [];
  for (let i = 0; i + 8 <= f.length; i += 8) {
    const type = FIND_TYPES[f[i]!];
    const path = f[i + 6]!;
    if (!type) {
      errors.push({ path, error: `unknown type ${JSON.stringify(f[i])}` });
      continue;
    }
    const e: KernelEntry = { path, type, mode: parseInt(f[i + 1]!, 8) & 0o7777, uid: Number(f[i + 2]), gid: Number(f[i + 3]), size: Number(f[i + 4]), nlink: Number(f[i + 5]) };
    if (type === 'symlink') e.linkname = f[i + 7]!;
    if (type !== 'file' && type !== 'dir' && type !== 'symlink') e.size = 0;
    entries.push(e);
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { entries, errors };
}
