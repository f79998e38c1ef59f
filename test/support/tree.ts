/**
 * Tree helpers for engine-backed tests: hashTree (prove evidence is unchanged) and copyTree (copy a data root
 * with everything overlay needs). Names are handled as raw bytes throughout: a name that is not valid UTF-8
 * is read, hashed and reported like any other.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import { execa } from 'execa';

export interface TreeOptions {
  /**
   * Also include ctime and inode numbers (detects a chmod-and-back or a replaced inode). Off by default so that
   * a faithful copy (copyTree) hashes the same as its source.
   */
  strict?: boolean;
  /**
   * Descend into other filesystems mounted inside the tree (a running container's merged/ overlay, its shm).
   * Off by default: such a mount point is listed as a `mount` entry with its stat, and its contents are not
   * read. Nothing is dropped silently: every mount point met appears in the listing.
   */
  crossMounts?: boolean;
}

const S_IFMT = 0o170000n;
const TYPES: Record<string, string> = {
  '0o140000': 'socket',
  '0o120000': 'symlink',
  '0o100000': 'file',
  '0o60000': 'block',
  '0o40000': 'dir',
  '0o20000': 'char',
  '0o10000': 'fifo',
};

function typeOf(mode: bigint): string {
  return TYPES['0o' + (mode & S_IFMT).toString(8)] ?? `unknown(0o${(mode & S_IFMT).toString(8)})`;
}

function isUtf8RoundTrip(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}

/** JSON-safe rendering of raw name bytes: byte string (latin1) through JSON.stringify, so it is unambiguous. */
function showPath(rel: Buffer): string {
  return JSON.stringify(rel.toString('latin1'));
}

const O_NOATIME = (fs.constants as Record<string, number>).O_NOATIME ?? 0;

function hashFile(p: Buffer): string {
  const h = createHash('sha256');
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | O_NOATIME);
  } catch (err) {
    // O_NOATIME is refused on files we do not own when not root: retry without it.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  }
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Parse `getfattr -d -e hex --absolute-names` output: "# file: <escaped>" then name=0xHEX lines. */
function parseGetfattr(out: Buffer): Map<string, [string, string][]> {
  const res = new Map<string, [string, string][]>();
  let cur: [string, string][] | null = null;
  for (const line of out.toString('latin1').split('\n')) {
    if (line.startsWith('# file: ')) {
      // getfattr quotes control chars, backslash and non-ASCII as \ooo
      const name = line.slice(8).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      cur = [];
      res.set(name, cur);
    } else if (cur && line.includes('=')) {
      const i = line.indexOf('=');
      const v = line.slice(i + 1);
      cur.push([line.slice(0, i), v.startsWith('0x') ? v.slice(2) : Buffer.from(v, 'latin1').toString('hex')]);
    }
  }
  return res;
}

/**
 * xattrs of entries whose absolute path is not valid UTF-8 (napi-rs takes JS strings, which cannot carry such
 * bytes): read with `find <valid ancestor> -exec getfattr -h` (find hands over raw bytes).
 */
async function xattrsForBadNames(bad: Buffer[]): Promise<Map<string, [string, string][]>> {
  const out = new Map<string, [string, string][]>();
  if (!bad.length) return out;
  const ancestors = new Set<string>();
  for (const b of bad) {
    let a = b;
    while (!isUtf8RoundTrip(a)) {
      const i = a.lastIndexOf(0x2f);
      a = a.subarray(0, i <= 0 ? 1 : i);
    }
    ancestors.add(a.toString('utf8'));
  }
  for (const a of ancestors) {
    let r;
    try {
      r = await execa('find', [a, '-mindepth', '1', '-exec', 'getfattr', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '{}', '+'], {
        encoding: 'buffer',
        reject: false,
      });
    } catch (err) {
      throw new Error(`hashTree: cannot read xattrs of names that are not UTF-8 under ${a}: ${String(err)} (apt-get install attr)`);
    }
    if (r.exitCode !== 0 && (r.exitCode === 127 || /not found|No such file/.test(Buffer.from(r.stderr).toString()))) {
      throw new Error(`hashTree: getfattr failed under ${a} (apt-get install attr): ${Buffer.from(r.stderr).toString()}`);
    }
    for (const [k, v] of parseGetfattr(Buffer.from(r.stdout))) out.set(k, v);
  }
  return out;
}

function xattrsOf(abs: Buffer): [string, string][] {
  const p = abs.toString('utf8');
  const names = listAttributesSync(p).slice().sort();
  return names.map((n) => {
    const v = getAttributeSync(p, n);
    return [n, v ? Buffer.from(v).toString('hex') : ''] as [string, string];
  });
}

/**
 * One line per entry, sorted by raw path bytes, describing type, mode, owner, size, mtime, rdev, nlink,
 * hardlink group, symlink target, xattrs and content digest. Never follows symlinks; never reads a FIFO,
 * socket or device. atime is excluded (reading changes it); ctime and inode numbers only with `strict`.
 */
export async function treeManifest(dir: string, opts: TreeOptions = {}): Promise<string[]> {
  const root = Buffer.from(path.resolve(dir), 'utf8');
  const rootStat = fs.lstatSync(root, { bigint: true });
  const entries: { rel: Buffer; abs: Buffer; line: string[]; xattrsLater: boolean }[] = [];
  const inodes = new Map<string, string>();
  const bad: Buffer[] = [];

  const walk = (rel: Buffer, abs: Buffer) => {
    const st = fs.lstatSync(abs, { bigint: true });
    const type = typeOf(st.mode);
    const isMount = type === 'dir' && st.dev !== rootStat.dev && !opts.crossMounts;
    const f: string[] = [
      showPath(rel),
      isMount ? 'mount' : type,
      'mode=0' + (st.mode & 0o7777n).toString(8),
      `uid=${st.uid}`,
      `gid=${st.gid}`,
      `mtime=${st.mtimeNs}`,
    ];
    if (type === 'file' || type === 'symlink') f.push(`size=${st.size}`);
    if (type === 'char' || type === 'block') f.push(`rdev=${st.rdev}`);
    if (type !== 'dir') f.push(`nlink=${st.nlink}`);
    if (type !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = inodes.get(key);
      if (first === undefined) inodes.set(key, showPath(rel));
      f.push(`hardlink=${first ?? 'self'}`);
    }
    if (opts.strict) f.push(`ctime=${st.ctimeNs}`, `ino=${st.ino}`, `dev=${st.dev}`);
    if (type === 'symlink') f.push(`target=${JSON.stringify(fs.readlinkSync(abs, { encoding: 'buffer' }).toString('latin1'))}`);
    if (type === 'file') f.push(`sha256=${hashFile(abs)}`);
    const utf8ok = isUtf8RoundTrip(abs);
    if (!utf8ok) bad.push(abs);
    else {
      const xs = xattrsOf(abs);
      if (xs.length) f.push('xattrs=' + xs.map(([k, v]) => `${k}:${v}`).join(','));
    }
    entries.push({ rel, abs, line: f, xattrsLater: !utf8ok });
    if (type === 'dir' && !isMount) {
      const kids = fs.readdirSync(abs, { encoding: 'buffer' }) as Buffer[];
      kids.sort(Buffer.compare);
      for (const k of kids) {
        walk(rel.length ? Buffer.concat([rel, Buffer.from('/'), k]) : k, Buffer.concat([abs, Buffer.from('/'), k]));
      }
    }
  };
  walk(Buffer.alloc(0), root);

  const late = await xattrsForBadNames(bad);
  const lines: string[] = [];
  for (const e of entries) {
    if (e.xattrsLater) {
      const xs = (late.get(e.abs.toString('latin1')) ?? []).slice().sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      if (xs.length) e.line.push('xattrs=' + xs.map(([k, v]) => `${k}:${v}`).join(','));
    }
    lines.push(e.line.join(' '));
  }
  return lines;
}

/** sha256 over treeManifest(dir): content and metadata of the whole tree (see treeManifest for what is in it). */
export async function hashTree(dir: string, opts: TreeOptions = {}): Promise<string> {
  const h = createHash('sha256');
  for (const l of await treeManifest(dir, opts)) h.update(l).update('\n');
  return h.digest('hex');
}

/** Lines that differ between two manifests (for assertion messages). */
export function diffManifests(a: string[], b: string[], max = 20): string {
  const sa = new Set(a);
  const sb = new Set(b);
  const out = [...a.filter((l) => !sb.has(l)).map((l) => '- ' + l), ...b.filter((l) => !sa.has(l)).map((l) => '+ ' + l)];
  return out.slice(0, max).join('\n') + (out.length > max ? `\n... ${out.length - max} more` : '');
}

/** First directory under root (depth-first, no symlinks followed) holding trusted.overlay.opaque=y, or null. */
export function findOpaqueDir(root: string, maxDepth = 12): string | null {
  const walk = (p: string, depth: number): string | null => {
    let kids: fs.Dirent[];
    try {
      kids = fs.readdirSync(p, { withFileTypes: true });
    } catch {
      return null;
    }
    for (const k of kids) {
      if (!k.isDirectory()) continue;
      const c = path.join(p, k.name);
      try {
        const v = getAttributeSync(c, 'trusted.overlay.opaque');
        if (v && Buffer.from(v).toString() === 'y') return c;
      } catch {}
      if (depth < maxDepth) {
        const r = walk(c, depth + 1);
        if (r) return r;
      }
    }
    return null;
  };
  return walk(root, 0);
}

export interface CopyTreeResult {
  /** The opaque dir (relative to src) whose trusted.overlay.opaque was checked in the copy, or null if src has none. */
  opaqueChecked: string | null;
}

/**
 * Copy a tree (e.g. a Docker data root) preserving xattrs (trusted.overlay.*), device nodes (whiteouts),
 * hardlinks, owners, modes and times: `cp -a --preserve=all --one-file-system` (mounts inside src, such as a
 * running container's merged/, are not descended into). Needs root for trusted.* xattrs and mknod.
 * Verifies that an opaque dir in src kept trusted.overlay.opaque=y in the copy; with `verify: 'full'` also
 * that hashTree(src) equals hashTree(dst) (only meaningful when nothing writes into src meanwhile).
 */
export async function copyTree(src: string, dst: string, opts: { verify?: 'opaque' | 'full' } = {}): Promise<CopyTreeResult> {
  fs.mkdirSync(dst, { recursive: true });
  const r = await execa('cp', ['-a', '--preserve=all', '--one-file-system', '--', path.resolve(src) + '/.', path.resolve(dst) + '/'], {
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`copyTree: cp -a failed (exit ${r.exitCode}): ${r.stderr}`);
  const opq = findOpaqueDir(src);
  let opaqueChecked: string | null = null;
  if (opq) {
    opaqueChecked = path.relative(src, opq);
    const copied = path.join(dst, opaqueChecked);
    let v: Buffer | null = null;
    try {
      v = getAttributeSync(copied, 'trusted.overlay.opaque');
    } catch {}
    if (!v || Buffer.from(v).toString() !== 'y') {
      throw new Error(`copyTree: the copy lost trusted.overlay.opaque on ${copied} (need root and a filesystem with trusted xattrs)`);
    }
  }
  if (opts.verify === 'full') {
    const [a, b] = await Promise.all([treeManifest(src), treeManifest(dst)]);
    const d = diffManifests(a, b);
    if (d) throw new Error(`copyTree: copy differs from source:\n${d}`);
  }
  return { opaqueChecked };
}
