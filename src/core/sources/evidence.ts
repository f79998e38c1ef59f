import * as fs from 'node:fs';
import { LIMITS } from '../model/limits.js';
import * as path from 'node:path';
import { LayerscopeError, SourceError } from '../model/errors.js';

/**
 * Read-only, symlink-refusing access to files inside an evidence tree (a data root).
 *
 * Every path is given relative to the evidence root, as components that we validate ourselves; each component
 * is lstat'ed so that a symlink planted anywhere in the tree (say `layerdb/sha256/<id>` -> `/etc`) is refused
 * instead of followed. Files are opened O_NOFOLLOW, and O_NOATIME where the kernel lets us (owner or
 * CAP_FOWNER), so that reading evidence does not even update access times.
 */

const O_NOATIME = 0o1000000; // Linux value; absent from fs.constants on some builds.
let noAtimeAllowed = true;

export class EvidenceError extends LayerscopeError {
  override name = 'EvidenceError';
  constructor(
    code: string,
    message: string,
    path: string | null = null,
    /** The errno code (EACCES, EIO...) when the filesystem refused an operation. */
    readonly errno: string | null = null,
  ) {
    super(code, message, path);
  }
}

/** An EvidenceError for a failed filesystem call on `p`. */
function fsFailure(err: unknown, p: string): EvidenceError {
  return new EvidenceError('evidence.unreadable', describeFsError(err), p, errnoOf(err));
}

/** A component we accept in a path we build ourselves from evidence data. */
export function isSafeComponent(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

export class Evidence {
  /** Absolute path of the root, as given (a host path, UTF-8). */
  constructor(readonly root: string) {}

  /** Host path for components below the root. Throws on unsafe components. */
  path(...parts: string[]): string {
    for (const p of parts) {
      for (const c of p.split('/')) {
        if (!isSafeComponent(c)) throw new EvidenceError('evidence.unsafe-path', `refusing unsafe path component ${JSON.stringify(c)}`, [this.root, ...parts].join('/'));
      }
    }
    return [this.root, ...parts].join('/');
  }

  /**
   * lstat of root/parts, refusing symlinks in every component *above* the last one. The last component is
   * lstat'ed (a symlink there is returned as a symlink, not followed). Null when it does not exist.
   */
  lstat(...parts: string[]): fs.Stats | null {
    const comps = parts.flatMap((p) => p.split('/'));
    let cur = this.root;
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i]!;
      if (!isSafeComponent(c)) throw new EvidenceError('evidence.unsafe-path', `refusing unsafe path component ${JSON.stringify(c)}`, cur + '/' + c);
      cur += '/' + c;
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(cur);
      } catch (err) {
        if (isNotFound(err)) return null;
        throw fsFailure(err, cur);
      }
      if (i < comps.length - 1 && !st.isDirectory()) {
        if (st.isSymbolicLink()) throw new EvidenceError('evidence.symlink', 'is a symlink inside the evidence; not followed', cur);
        return null;
      }
      if (i === comps.length - 1) return st;
    }
    return fs.lstatSync(this.root);
  }

  /** A directory that exists and is a real directory (not a symlink to one). */
  isDir(...parts: string[]): boolean {
    const st = this.lstat(...parts);
    return st !== null && st.isDirectory();
  }

  /** Names in a directory (raw bytes as byte strings), sorted; [] when it does not exist. */
  readdir(...parts: string[]): string[] {
    const st = this.lstat(...parts);
    if (st === null) return [];
    const p = this.path(...parts);
    if (!st.isDirectory()) throw new EvidenceError('evidence.not-a-dir', st.isSymbolicLink() ? 'is a symlink, expected a directory; not followed' : 'expected a directory', p);
    // Read a name at a time and stop at LIMITS.dirEntries: a directory's size is chosen by whoever wrote it.
    const names: string[] = [];
    let dir: fs.Dir | null = null;
    try {
      dir = fs.opendirSync(p, { encoding: 'latin1', bufferSize: 256 });
      for (let d = dir.readSync(); d !== null; d = dir.readSync()) {
        if (names.length >= LIMITS.dirEntries) throw new EvidenceError('limit.dir-entries', `holds more than ${LIMITS.dirEntries} names; not read`, p);
        names.push(d.name);
      }
    } catch (err) {
      if (err instanceof EvidenceError) throw err;
      throw fsFailure(err, p);
    } finally {
      dir?.closeSync();
    }
    return names.sort();
  }

  /**
   * The bytes of a regular file, at most `max` bytes (evidence sizes are not trusted: a 20 GB "config" is an
   * attack on our memory). Null when the file does not exist.
   */
  readFile(max: number, ...parts: string[]): Buffer | null {
    const st = this.lstat(...parts);
    if (st === null) return null;
    const p = this.path(...parts);
    if (st.isSymbolicLink()) throw new EvidenceError('evidence.symlink', 'is a symlink inside the evidence; not followed', p);
    if (!st.isFile()) throw new EvidenceError('evidence.not-a-file', 'expected a regular file', p);
    if (st.size > max) throw new EvidenceError('evidence.too-large', `is ${st.size} bytes, more than the ${max} bytes such a file can sensibly hold`, p);
    let fd: number;
    try {
      fd = openNoFollow(p);
    } catch (err) {
      throw fsFailure(err, p);
    }
    try {
      const buf = Buffer.alloc(st.size);
      let off = 0;
      while (off < buf.length) {
        let n: number;
        try {
          n = fs.readSync(fd, buf, off, buf.length - off, off);
        } catch (err) {
          throw fsFailure(err, p);
        }
        if (n === 0) break;
        off += n;
      }
      return off === buf.length ? buf : buf.subarray(0, off);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** A small text file, trimmed (moby TrimSpaces the layerdb files it reads). */
  readText(max: number, ...parts: string[]): string | null {
    const b = this.readFile(max, ...parts);
    return b === null ? null : b.toString('utf8').trim();
  }

  /** Target of a symlink (byte string), or null when it is not a symlink / does not exist. */
  readlink(...parts: string[]): string | null {
    const st = this.lstat(...parts);
    if (st === null || !st.isSymbolicLink()) return null;
    const p = this.path(...parts);
    try {
      return fs.readlinkSync(p, { encoding: 'latin1' });
    } catch (err) {
      throw fsFailure(err, p);
    }
  }
}

/** Open a file read-only without following a final symlink, with O_NOATIME when permitted. */
export function openNoFollow(p: string | Buffer): number {
  const base = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
  if (noAtimeAllowed) {
    try {
      return fs.openSync(p, base | O_NOATIME);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
      noAtimeAllowed = false;
    }
  }
  return fs.openSync(p, base);
}

export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export function describeFsError(err: unknown): string {
  if (err instanceof EvidenceError) return err.path ? err.message.replace(`${err.path}: `, '') : err.message;
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}: ${e.message.replace(/^[A-Z]+: /, '')}` : String(err);
}

/**
 * The errno code of a filesystem error, raw or wrapped in one of our errors that keeps it (EvidenceError,
 * BoltError: a string `errno`); null for anything else.
 */
export function errnoOf(err: unknown): string | null {
  if (err instanceof LayerscopeError) {
    const e = (err as { errno?: unknown }).errno;
    return typeof e === 'string' ? e : null;
  }
  const code = (err as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : null;
}

/** The filesystem refused us access (EACCES, EPERM): a matter of privileges, not of the evidence. */
export function isPermissionError(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'EACCES' || code === 'EPERM';
}

/**
 * The one message for a source we are not allowed to read: which path, why, and what to do. Docker and
 * containerd keep their roots readable by root only (0700/0710 directories, 0600 files), so this is what an
 * unprivileged user meets first, and it must not read as "this is not a data root".
 */
export function permissionDenied(p: string, err?: unknown): SourceError {
  const code = (err === undefined ? null : errnoOf(err)) ?? 'EACCES';
  return new SourceError(
    'source.permission-denied',
    `cannot be read (${code}: permission denied): reading a Docker data root or a containerd root needs root, as the engine keeps them readable by root only; run layerscope as root (e.g. sudo), or give this user read access to the whole tree (or to a copy of it)`,
    blockingPath(p),
  );
}

/** Rethrow a permission error as the SourceError of permissionDenied (its path, or `fallback`); else return. */
export function throwIfPermission(err: unknown, fallback: string): void {
  if (!isPermissionError(err)) return;
  const p = err instanceof LayerscopeError && err.path ? err.path : fallback;
  throw permissionDenied(p, err);
}

/**
 * The first directory on the way to `p` that we may not search, or `p` itself: an lstat refused below a 0700
 * directory is that directory's doing, and naming it tells the user what to fix.
 */
function blockingPath(p: string): string {
  const parts = path.resolve(p).split('/').filter(Boolean);
  let cur = '';
  for (let i = 0; i < parts.length - 1; i++) {
    cur += '/' + parts[i];
    try {
      fs.accessSync(cur, fs.constants.X_OK);
    } catch (err) {
      return isPermissionError(err) ? cur : p;
    }
  }
  return p;
}
