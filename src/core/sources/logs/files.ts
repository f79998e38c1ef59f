import * as fs from 'node:fs';
import { createGunzip } from 'node:zlib';
import { describeFsError, Evidence, EvidenceError, openNoFollow } from '../evidence.js';
import type { Severity } from '../../model/types.js';

/**
 * The files of one container log, as the engine's rotation (moby daemon/logger/loggerutils) names them: the
 * live file `NAME`, and the rotated `NAME.1` (newest) to `NAME.<max-file - 1>` (oldest), each possibly
 * compressed as `NAME.<n>.gz` (log-opt compress). `docker logs` reads, oldest first, `NAME.<n>` when it exists
 * and else `NAME.<n>.gz`, for n from max-file - 1 down to 1, then NAME: so do we.
 */
export interface LogFile {
  /** Host path. */
  path: string;
  /** File name, e.g. `<id>-json.log.2.gz`. */
  name: string;
  /** 0 for the live file; n for the rotation `.n`. */
  rotation: number;
  compressed: boolean;
  /** Bytes on disk. */
  size: number;
}

export type Note = (severity: Severity, code: string, message: string, path: string | null) => void;

/**
 * The log files `docker logs` reads, oldest first: `parts` is the directory below the Evidence root
 * (`containers/<id>` or `containers/<id>/local-logs`), `base` the live file's name. A symlink or anything but a
 * regular file in place of one is a problem and is not read; rotations past max-file (left by an earlier
 * configuration, never read by docker logs) are named in a problem and not read either.
 */
export function listLogFiles(ev: Evidence, parts: string[], base: string, maxFiles: number, note: Note): LogFile[] {
  let names: string[];
  try {
    names = ev.readdir(...parts);
  } catch (err) {
    note('error', err instanceof EvidenceError ? err.code : 'evidence.unreadable', `log directory not read: ${describeFsError(err)}`, ev.path(...parts));
    return [];
  }
  const present = new Set(names);
  const out: LogFile[] = [];
  // One inode is one file: a rotation that is another name of a file already listed (a hard link) is not read
  // again (planted links would multiply a gzip bomb).
  const inodes = new Set<string>();
  const take = (name: string, rotation: number, compressed: boolean): boolean => {
    if (!present.has(name)) return false;
    const p = ev.path(...parts, name);
    let st: fs.Stats | null;
    try {
      st = ev.lstat(...parts, name);
    } catch (err) {
      note('error', err instanceof EvidenceError ? err.code : 'evidence.unreadable', describeFsError(err), p);
      return true;
    }
    if (!st) return false;
    if (st.isSymbolicLink()) note('error', 'logs.file.symlink', 'is a symlink in place of a log file; not followed, not read', p);
    else if (!st.isFile()) note('error', 'logs.file.not-a-file', 'is not a regular file, where the engine keeps a log file; not read', p);
    else if (inodes.has(`${st.dev}:${st.ino}`)) note('error', 'logs.file.duplicate', 'is another name (a hard link) of a log file already read; not read again', p);
    else {
      inodes.add(`${st.dev}:${st.ino}`);
      out.push({ path: p, name, rotation, compressed, size: st.size });
    }
    return true;
  };
  for (let n = maxFiles - 1; n >= 1; n--) {
    if (!take(`${base}.${n}`, n, false)) take(`${base}.${n}.gz`, n, true);
  }
  take(base, 0, false);
  const rotated = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)(\\.gz)?$`);
  const beyond = names.filter((n) => {
    const m = rotated.exec(n);
    return m !== null && Number(m[1]) >= maxFiles;
  });
  if (beyond.length) {
    note('warning', 'logs.rotation.beyond-max-file', `${beyond.length} rotated log file(s) past max-file=${maxFiles} (${beyond.slice(0, 5).join(', ')}${beyond.length > 5 ? ', ...' : ''}): docker logs does not read them, nor do we`, ev.path(...parts));
  }
  return out;
}

/** Reading a log file failed (unreadable, bad gzip data, too much data): the file and what is wrong. */
export class LogReadError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The bytes of a log file, streamed (decompressed when it is `.gz`), in chunks: a file of any size costs a
 * chunk of memory. `maxBytes` bounds what a compressed file may expand to (a gzip bomb is an attack on our
 * time); crossing it, or bad gzip data, throws LogReadError after the good bytes were given.
 */
/** What all the compressed files of one log may still expand to, together (read twice for --tail: counted twice). */
export interface InflateBudget {
  left: number;
}

export async function* logFileBytes(file: LogFile, maxBytes: number, start = 0, budget: InflateBudget = { left: Infinity }): AsyncGenerator<Buffer> {
  let fd: number;
  try {
    fd = openNoFollow(file.path);
  } catch (err) {
    throw new LogReadError((err as NodeJS.ErrnoException).code === 'ELOOP' ? 'logs.file.symlink' : 'logs.file.unreadable', `cannot be opened: ${describeFsError(err)}`);
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new LogReadError('logs.file.not-a-file', 'is not a regular file; not read');
  }
  const raw = fs.createReadStream('', { fd, autoClose: true, highWaterMark: 1 << 20, start: file.compressed ? 0 : start });
  if (!file.compressed) {
    try {
      for await (const chunk of raw) yield chunk as Buffer;
    } catch (err) {
      throw new LogReadError('logs.file.unreadable', `read failed: ${describeFsError(err)}`);
    } finally {
      raw.destroy();
    }
    return;
  }
  const gunzip = createGunzip({ chunkSize: 1 << 16 });
  raw.on('error', (err) => gunzip.destroy(err));
  raw.pipe(gunzip);
  let total = 0;
  try {
    for await (const chunk of gunzip) {
      total += (chunk as Buffer).length;
      budget.left -= (chunk as Buffer).length;
      if (total > maxBytes) throw new LogReadError('logs.gz.too-large', `decompresses to more than ${maxBytes} bytes, more than the engine writes into one log file (max-size); the rest is not read`);
      if (budget.left < 0) throw new LogReadError('logs.gz.too-large', 'the compressed rotations of this log decompress to more than the engine could have written (max-size x max-file); the rest is not read');
      yield chunk as Buffer;
    }
  } catch (err) {
    if (err instanceof LogReadError) throw err;
    throw new LogReadError('logs.gz.bad', `bad gzip data after ${total} decompressed bytes: ${(err as Error).message}`);
  } finally {
    raw.destroy();
    gunzip.destroy();
  }
}

/**
 * Where the last `want` entries of an uncompressed log file start, found from its end as docker's tail readers
 * do (json-file: counting line ends; local: following each frame's trailing size back to its header), reading
 * only what is needed. `found` is less than `want` when the file holds fewer; null when the file cannot be
 * walked backwards (a damaged frame): the caller counts forwards instead.
 */
export function tailOffset(file: LogFile, format: 'json-file' | 'local', want: number): { offset: number; found: number } | null {
  let fd: number;
  try {
    fd = openNoFollow(file.path);
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    return format === 'json-file' ? tailLines(fd, size, want) : tailFrames(fd, size, want);
  } finally {
    fs.closeSync(fd);
  }
}

function tailLines(fd: number, size: number, want: number): { offset: number; found: number } {
  const block = Buffer.alloc(1 << 16);
  let end = size;
  let found = 0;
  // The file's last byte ends the last line; every other \n met going back starts a line after it.
  let skipLast = true;
  while (end > 0) {
    const len = Math.min(block.length, end);
    const n = fs.readSync(fd, block, 0, len, end - len);
    if (n !== len) break;
    for (let i = len - 1; i >= 0; i--) {
      if (skipLast) {
        skipLast = false;
        if (block[i] === 0x0a) continue;
      }
      if (block[i] === 0x0a) {
        found++;
        if (found === want) return { offset: end - len + i + 1, found };
      }
    }
    end -= len;
  }
  return { offset: 0, found: size > 0 ? found + 1 : 0 };
}

function tailFrames(fd: number, size: number, want: number): { offset: number; found: number } | null {
  const four = Buffer.alloc(4);
  let end = size;
  let found = 0;
  while (end > 0 && found < want) {
    if (end < 8 || fs.readSync(fd, four, 0, 4, end - 4) !== 4) return null;
    const n = four.readUInt32BE(0);
    const start = end - 8 - n;
    if (start < 0 || fs.readSync(fd, four, 0, 4, start) !== 4 || four.readUInt32BE(0) !== n) return null;
    end = start;
    found++;
  }
  return { offset: end, found };
}
