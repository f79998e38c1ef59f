/**
 * A walk worker: lists layer directories and lstat's their entries, off the main thread, on every core.
 *
 * Nothing is ever followed: directories are entered only when readdir's d_type says they are directories
 * (Node lstat's entries whose d_type is unknown), every entry is lstat'ed, symlinks are read with readlink,
 * extended attributes with the l*xattr calls. Nothing is opened for reading and nothing is written.
 *
 * Paths deeper than the kernel's PATH_MAX are reached through /proc/self/fd anchors (a directory opened
 * O_NOFOLLOW part-way down, then the rest relative to it), so that evidence nested 10,000 levels deep is read,
 * not refused with ENAMETOOLONG.
 */
import { parentPort } from 'node:worker_threads';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { setPriority } from 'node:os';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import { CHUNK, emptyStat, type Job, type ListChunk, type Reply, type WalkProblem } from './protocol.js';
import { LIMITS } from '../../model/limits.js';
import { HostPaths } from './host-paths.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function describe(err: unknown): { code: string; message: string } {
  const e = err as NodeJS.ErrnoException;
  return { code: e?.code ?? 'EUNKNOWN', message: e?.code ? `${e.code}: ${String(e.message).replace(/^[A-Z]+: /, '')}` : String(err) };
}

// ------------------------------------------------------------------------------------------------------------
// list
// ------------------------------------------------------------------------------------------------------------

interface Frame {
  rel: string;
  /** Global index of this dir's entry (-1 for the root). */
  index: number;
  names: string[];
  dirs: Uint8Array;
  next: number;
  depth: number;
}

/** A directory's names sorted by bytes, and which are directories (d_type; never a symlink). */
function readDir(paths: HostPaths, rel: string, problems: WalkProblem[]): { names: string[]; dirs: Uint8Array } {
  const host = paths.host(rel);
  let big = false;
  try {
    big = fs.lstatSync(host).size > LIMITS.bigDirBytes;
  } catch {
    /* readdir below reports it */
  }
  let list: fs.Dirent[];
  try {
    if (!big) list = fs.readdirSync(host, { withFileTypes: true, encoding: 'latin1' }) as unknown as fs.Dirent[];
    else {
      list = [];
      const d = fs.opendirSync(host, { encoding: 'latin1', bufferSize: 1024 });
      try {
        let e: fs.Dirent | null;
        while ((e = d.readSync()) !== null) {
          if (list.length >= LIMITS.dirEntries) {
            problems.push({ severity: 'error', code: 'limit.dir-entries', message: `directory holds more than ${LIMITS.dirEntries} entries; the rest is not read`, rel });
            break;
          }
          list.push(e);
        }
      } finally {
        d.closeSync();
      }
    }
  } catch (err) {
    problems.push({ severity: 'error', code: 'layer.dir.unreadable', message: `directory cannot be listed: ${describe(err).message}`, rel });
    return { names: [], dirs: new Uint8Array(0) };
  }
  list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const names = new Array<string>(list.length);
  const dirs = new Uint8Array(list.length);
  for (let i = 0; i < list.length; i++) {
    names[i] = list[i]!.name;
    dirs[i] = list[i]!.isDirectory() ? 1 : 0;
  }
  return { names, dirs };
}

class ChunkWriter {
  private seq = 0;
  private first = 0;
  private count = 0;
  private bytes = Buffer.allocUnsafe(1 << 16);
  private len = 0;
  private relAt = new Uint32Array(CHUNK + 1);
  private nameAt = new Uint32Array(CHUNK);
  private parent = new Int32Array(CHUNK);

  constructor(private readonly send: (c: ListChunk) => void) {}

  add(rel: string, nameOffset: number, parent: number): void {
    const end = this.len + rel.length;
    if (end > this.bytes.length) {
      const b = Buffer.allocUnsafe(Math.max(end, this.bytes.length * 2));
      this.bytes.copy(b, 0, 0, this.len);
      this.bytes = b;
    }
    this.nameAt[this.count] = this.len + nameOffset;
    this.bytes.write(rel, this.len, 'latin1');
    this.len = end;
    this.parent[this.count] = parent;
    this.count++;
    this.relAt[this.count] = this.len;
    if (this.count === CHUNK) this.flush();
  }

  flush(): void {
    if (this.count === 0) return;
    const relBytes = new Uint8Array(this.len);
    relBytes.set(this.bytes.subarray(0, this.len));
    this.send({ seq: this.seq++, first: this.first, count: this.count, relBytes, relAt: this.relAt.slice(0, this.count + 1), nameAt: this.nameAt.slice(0, this.count), parent: this.parent.slice(0, this.count) });
    this.first += this.count;
    this.count = 0;
    this.len = 0;
  }
}

function list(job: Extract<Job, { op: 'list' }>, reply: (r: Reply, transfer?: ArrayBuffer[]) => void): void {
  const paths = new HostPaths(job.root);
  const problems: WalkProblem[] = [];
  let rootXattrs: [string, Uint8Array][] | null = null;
  try {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(job.root);
    } catch (err) {
      reply({ id: job.id, kind: 'error', code: 'layer.dir.unreadable', message: `layer directory cannot be read: ${describe(err).message}` });
      return;
    }
    if (!st.isDirectory()) {
      reply({ id: job.id, kind: 'error', code: 'layer.dir.not-a-dir', message: st.isSymbolicLink() ? 'layer directory is a symlink; not followed' : 'layer directory is not a directory' });
      return;
    }
    rootXattrs = readXattrs(paths.host(''), '', problems);
    const writer = new ChunkWriter((c) => reply({ id: job.id, kind: 'chunk', chunk: c }, [c.relBytes.buffer as ArrayBuffer, c.relAt.buffer as ArrayBuffer, c.nameAt.buffer as ArrayBuffer, c.parent.buffer as ArrayBuffer]));
    let entries = 0;
    const root = readDir(paths, '', problems);
    const stack: Frame[] = [{ rel: '', index: -1, names: root.names, dirs: root.dirs, next: 0, depth: 0 }];
    // Names held by the open frames: a deep tree of wide dirs must not hold them all at once.
    let held = root.names.length;
    let limited = false;
    while (stack.length) {
      const f = stack[stack.length - 1]!;
      if (f.next >= f.names.length) {
        held -= f.names.length;
        stack.pop();
        continue;
      }
      const k = f.next++;
      const name = f.names[k]!;
      const rel = f.rel === '' ? name : f.rel + '/' + name;
      if (entries >= LIMITS.layerEntries) {
        if (!limited) problems.push({ severity: 'error', code: 'limit.layer-entries', message: `layer holds more than ${LIMITS.layerEntries} entries; the rest is not read`, rel: '' });
        limited = true;
        break;
      }
      const index = entries++;
      writer.add(rel, rel.length - name.length, f.index);
      if (f.dirs[k]) {
        if (f.depth + 1 >= LIMITS.pathDepth) {
          problems.push({ severity: 'error', code: 'limit.path-depth', message: `directory nested more than ${LIMITS.pathDepth} levels deep; its contents are not read`, rel });
          continue;
        }
        const d = readDir(paths, rel, problems);
        // Names of all open dirs: each dir is capped, and so is the path of dirs being read (2x the cap).
        if (held + d.names.length > 2 * LIMITS.dirEntries) {
          problems.push({ severity: 'error', code: 'limit.dir-entries', message: `the directories open on the way to here hold more than ${2 * LIMITS.dirEntries} names; this one is not read`, rel });
          continue;
        }
        held += d.names.length;
        if (d.names.length) stack.push({ rel, index, names: d.names, dirs: d.dirs, next: 0, depth: f.depth + 1 });
      }
    }
    writer.flush();
    reply({ id: job.id, kind: 'listed', entries, problems, rootXattrs });
  } catch (err) {
    reply({ id: job.id, kind: 'error', code: 'layer.dir.unreadable', message: describe(err).message });
  } finally {
    paths.close();
  }
}

// ------------------------------------------------------------------------------------------------------------
// stat
// ------------------------------------------------------------------------------------------------------------

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const NS = 1_000_000_000n;

/** Every extended attribute of an entry (l*xattr: never follows), or null when there are none. */
function readXattrs(host: string | Buffer, rel: string, problems: WalkProblem[]): [string, Uint8Array][] | null {
  let text: string | null = null;
  if (typeof host === 'string') text = host;
  else {
    try {
      text = utf8.decode(host);
    } catch {
      text = null;
    }
  }
  try {
    if (text === null) return readWithGetfattr(host as Buffer, rel, problems);
    const names = listAttributesSync(text);
    if (names.length === 0) return null;
    const out: [string, Uint8Array][] = [];
    for (const n of names) {
      const v = getAttributeSync(text, n);
      if (v !== null) out.push([n, new Uint8Array(v)]);
    }
    return out.length ? out : null;
  } catch (err) {
    const msg = String((err as Error)?.message ?? err);
    // A file system without xattr support has none to read.
    if (/not supported|ENOTSUP|EOPNOTSUPP/i.test(msg)) return null;
    problems.push({ severity: 'warning', code: 'layer.xattrs.unreadable', message: `cannot read extended attributes: ${msg}`, rel });
    return null;
  }
}

/**
 * The binding takes UTF-8 strings: a name that is not UTF-8 goes through `getfattr -h` (attr package), with
 * the path rebuilt from octal escapes by the shell so that its exact bytes reach the syscall. Rare.
 */
function readWithGetfattr(host: Buffer, rel: string, problems: WalkProblem[]): [string, Uint8Array][] | null {
  let escaped = '';
  for (const c of host) escaped += /[A-Za-z0-9._/-]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : '\\0' + c.toString(8).padStart(3, '0');
  const script = 'p=$(printf "%bx" "$1"); p=${p%x}; exec getfattr --absolute-names -h -d -m - -e hex -- "$p"';
  const r = spawnSync('sh', ['-c', script, 'sh', escaped], { encoding: 'latin1', maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) {
    problems.push({ severity: 'warning', code: 'layer.xattrs.unreadable', message: 'extended attributes (opaque marker, capabilities) could not be read: the name is not UTF-8 and getfattr (attr package) is unavailable or failed', rel });
    return null;
  }
  const out: [string, Uint8Array][] = [];
  for (const line of r.stdout.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    const value = eq < 0 ? '' : line.slice(eq + 1);
    if (value === '' || value === '""') out.push([name, new Uint8Array(0)]);
    else if (value.startsWith('0x')) out.push([name, new Uint8Array(Buffer.from(value.slice(2), 'hex'))]);
    else if (value.startsWith('"') && value.endsWith('"')) out.push([name, new Uint8Array(Buffer.from(value.slice(1, -1), 'latin1'))]);
  }
  return out.length ? out : null;
}

function stat(job: Extract<Job, { op: 'stat' }>, reply: (r: Reply, transfer?: ArrayBuffer[]) => void): void {
  const c = job.chunk;
  const n = c.count;
  const paths = new HostPaths(job.root);
  const rel = Buffer.from(c.relBytes.buffer, c.relBytes.byteOffset, c.relBytes.byteLength);
  const out = emptyStat(c);

  let links = Buffer.allocUnsafe(4096);
  let linkLen = 0;
  try {
    for (let i = 0; i < n; i++) {
      const r = rel.toString('latin1', c.relAt[i]!, c.relAt[i + 1]!);
      const host = paths.host(r);
      let st: fs.BigIntStats | undefined;
      try {
        st = fs.lstatSync(host, { bigint: true, throwIfNoEntry: false });
      } catch (err) {
        out.failed[i] = 1;
        out.problems.push({ severity: 'error', code: 'layer.entry.unreadable', message: `cannot lstat: ${describe(err).message}`, rel: r });
        out.linkAt[i + 1] = linkLen;
        continue;
      }
      if (!st) {
        out.failed[i] = 1;
        out.problems.push({ severity: 'warning', code: 'layer.entry.gone', message: 'listed, then gone when lstat\'ed (the layer is changing while it is read)', rel: r });
        out.linkAt[i + 1] = linkLen;
        continue;
      }
      const mode = Number(st.mode);
      out.mode[i] = mode;
      out.uid[i] = Number(st.uid);
      out.gid[i] = Number(st.gid);
      out.size[i] = Number(st.size);
      let sec = st.mtimeNs / NS;
      let ns = st.mtimeNs - sec * NS;
      if (ns < 0n) {
        sec -= 1n;
        ns += NS;
      }
      out.mtime[i] = Number(sec);
      out.nsec[i] = Number(ns);
      out.nlink[i] = Number(st.nlink);
      const fmt = mode & S_IFMT;
      // Every non-directory of several names: moby's and containers/storage's tar writers (pkg/archive addTarFile:
      // `!fi.IsDir() && hasHardlinks(fi)`) write the later names of any such inode as hard links, symlinks too.
      if (fmt !== S_IFDIR && st.nlink > 1n) out.inodeKey[i] = `${st.dev}:${st.ino}`;
      if (fmt === S_IFCHR || fmt === S_IFBLK) {
        const rdev = st.rdev;
        out.rdevMajor[i] = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
        out.rdevMinor[i] = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
      } else if (fmt === S_IFLNK) {
        try {
          const t = fs.readlinkSync(host, { encoding: 'buffer' });
          if (linkLen + t.length > links.length) {
            const b = Buffer.allocUnsafe(Math.max(linkLen + t.length, links.length * 2));
            links.copy(b, 0, 0, linkLen);
            links = b;
          }
          t.copy(links, linkLen);
          linkLen += t.length;
        } catch (err) {
          out.problems.push({ severity: 'error', code: 'layer.entry.unreadable', message: `cannot read link: ${describe(err).message}`, rel: r });
        }
      }
      out.linkAt[i + 1] = linkLen;
      if (job.xattrs && (fmt === S_IFREG || fmt === S_IFDIR)) {
        const x = readXattrs(host, r, out.problems);
        if (x) out.xattrs.push({ index: i, attrs: x });
      }
    }
  } finally {
    paths.close();
  }
  out.linkBytes = new Uint8Array(links.subarray(0, linkLen));
  const transfer = [out.failed, out.mode, out.uid, out.gid, out.size, out.mtime, out.nsec, out.nlink, out.rdevMajor, out.rdevMinor, out.linkBytes, out.linkAt, c.relBytes, c.relAt, c.nameAt, c.parent].map((a) => a.buffer as ArrayBuffer);
  reply({ id: job.id, kind: 'stat', stat: out }, transfer);
}

// ------------------------------------------------------------------------------------------------------------
// size
// ------------------------------------------------------------------------------------------------------------

/** Regular-file bytes below a dir, each inode once; lstat only, nothing followed, at most maxEntries visited. */
function size(job: Extract<Job, { op: 'size' }>, reply: (r: Reply) => void): void {
  const paths = new HostPaths(job.root);
  const problems: WalkProblem[] = [];
  let bytes = 0;
  let files = 0;
  let entries = 0;
  const seen = new Set<string>();
  // docker system df: every non-directory with a size (symlinks count their target's length), not only files.
  const df = job.count === 'df';
  try {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(paths.host(job.below), { bigint: true });
    } catch (err) {
      reply({ id: job.id, kind: 'error', code: 'evidence.unreadable', message: describe(err).message });
      return;
    }
    if (!st.isDirectory()) {
      // A symlink planted where a dir should be is reported, never walked; a plain file is sized as itself.
      if (st.isSymbolicLink()) problems.push({ severity: 'warning', code: 'evidence.symlink', message: 'is a symlink inside the evidence; not followed', rel: '' });
      else if (st.isFile()) {
        bytes = Number(st.size);
        files = 1;
      }
      reply({ id: job.id, kind: 'size', bytes, files, entries: 1, problems });
      return;
    }
    const stack: { rel: string; depth: number }[] = [{ rel: job.below, depth: 0 }];
    outer: while (stack.length) {
      const { rel, depth } = stack.pop()!;
      const d = readDir(paths, rel, problems);
      for (let k = 0; k < d.names.length; k++) {
        if (++entries > job.maxEntries) {
          problems.push({ severity: 'warning', code: 'limit.size-entries', message: `more than ${job.maxEntries} entries: the size counts only those`, rel: '' });
          break outer;
        }
        const r = rel === '' ? d.names[k]! : rel + '/' + d.names[k]!;
        let s: fs.BigIntStats | undefined;
        try {
          s = fs.lstatSync(paths.host(r), { bigint: true, throwIfNoEntry: false });
        } catch {
          s = undefined;
        }
        if (!s) continue;
        if (s.isDirectory()) {
          if (depth + 1 < LIMITS.pathDepth) stack.push({ rel: r, depth: depth + 1 });
        } else if (s.isFile() || (df && s.size > 0n)) {
          // One inode is counted once: moby keys on the inode (every name of it shows nlink > 1).
          if (s.nlink > 1n) {
            const key = `${s.dev}:${s.ino}`;
            if (seen.has(key)) continue;
            seen.add(key);
          }
          bytes += Number(s.size);
          files++;
        }
      }
    }
    reply({ id: job.id, kind: 'size', bytes, files, entries, problems });
  } catch (err) {
    reply({ id: job.id, kind: 'error', code: 'evidence.unreadable', message: describe(err).message });
  } finally {
    paths.close();
  }
}

// ------------------------------------------------------------------------------------------------------------

const port = parentPort;
if (port) {
  // Below the main thread: on Linux a nice value is per thread, so a TUI keeps answering keys while the workers
  // read (a batch report loses nothing: its main thread mostly waits for them).
  try {
    setPriority(0, 5);
  } catch {
    /* not permitted: run at the same priority */
  }
  const reply = (r: Reply, transfer?: ArrayBuffer[]) => port.postMessage(r, transfer ?? []);
  port.on('message', (job: Job) => {
    if (job.op === 'list') list(job, reply);
    else if (job.op === 'stat') stat(job, reply);
    else size(job, reply);
  });
}
