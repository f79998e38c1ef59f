import fs from 'node:fs';
import { ProblemSink } from '../../model/problem-sink.js';
import { describeFsError, openNoFollow } from '../evidence.js';
import { displayPath } from '../../model/path.js';
import { ROOT_PATH, type PathTable } from '../../model/paths.js';
import { LayerTableBuilder, T_BLOCK, T_CHAR, T_DIR, T_FIFO, T_FILE, T_HARDLINK, T_SOCKET, T_SYMLINK, T_WHITEOUT, type LayerTable, type RowExtra } from '../../model/layer-table.js';
import { problem, type Problem } from '../../model/types.js';
import { readCounters } from '../../model/progress.js';
import type { StatChunk } from './protocol.js';
import { walkPool, type WalkPool } from './pool.js';
import { readLayerDir } from './layer-dir.js';

/**
 * A layer kept as a whole tree (vfs `dir/<id>`, btrfs `subvolumes/<id>`, the first overlay driver's `root`), read
 * as the changes the engine would put in the layer's tar: moby's naive diff (pkg/archive ChangesDirs, then
 * ExportChanges) of the layer's tree against its parent's.
 *
 * What the engine counts as a change, and so what this reader reports:
 * - a path only in the layer: added (with everything below it);
 * - a path only in the parent: deleted, as a whiteout; what was below a deleted dir is not listed again;
 * - a path in both: modified when mode (type and permission bits), owner, group or device number differ, or
 *   security.capability differs, or, for anything but a directory, the size or the mtime (same second, and the
 *   same nanoseconds unless either side has none: tar extraction loses them) differ. A directory's own size and
 *   mtime are no change. Two names for one inode (same device and inode number: the first overlay driver
 *   hard-links unchanged files from the parent's tree) are unchanged without looking further.
 *   A file that replaced a directory hides what was below that directory without whiteouts;
 * - a directory with any change below it is itself listed as modified (the engine writes it so that its
 *   permissions are restored when the layer is applied); the root never is.
 * There are no opaque dirs. Within the changed entries, several names for one inode are one file and hard
 * links to it (the first in walk order is the file), as the engine's tar writer does.
 *
 * Both trees are listed and lstat'ed in the walk workers (nothing is followed, opened or written), then merged in
 * walk order (every dir before its contents, names sorted by bytes), which is the same order in both trees.
 */

export interface TreeDiffOptions {
  priority?: number;
  pool?: WalkPool;
  /**
   * The parent is itself a union (the first overlay driver's containers: their upper dir over the image's top
   * `root`): the tree compared is `upper` over `lower`, overlay whiteouts and opaque dirs applied.
   */
  newLower?: string | null;
  oldLower?: string | null;
  overlayXattrs?: 'trusted' | 'user';
  /**
   * Also compare the bytes of two regular files the naive diff calls unchanged (same size, mtime, mode, owner)
   * when they are not one inode: a copy rewritten with its size and mtime kept is then a change. The engine
   * never looks (its `docker diff` and layer tars miss such a file), but a container of the image sees the new
   * bytes: integrity checking (verify) asks for it. Plain trees only (not with newLower/oldLower).
   */
  compareContent?: boolean;
}

/** The naive diff of `dir` against `parentDir`; with no parent, the whole tree as it is (a base layer). */
export async function readTreeDiff(dir: string, parentDir: string | null, paths: PathTable, opts: TreeDiffOptions = {}): Promise<LayerTable> {
  if (parentDir === null && !opts.newLower) return readLayerDir(dir, paths, { priority: opts.priority, pool: opts.pool, overlay: false });
  const pool = opts.pool ?? walkPool();
  const priority = opts.priority ?? 0;
  const [n, nl, o, ol] = await Promise.all([
    loadTree(pool, dir, priority),
    opts.newLower ? loadTree(pool, opts.newLower, priority) : null,
    parentDir !== null ? loadTree(pool, parentDir, priority) : null,
    opts.oldLower ? loadTree(pool, opts.oldLower, priority) : null,
  ]);
  const problems: Problem[] = [];
  const sink = new ProblemSink(problems, 100, dir);
  for (const t of [n, nl, o, ol]) if (t) for (const p of t.problems) sink.add(p);
  // A tree that could not be listed at all (missing, a symlink, not a dir) would make every entry of the other
  // one a change: there is nothing to compare, and the table says so.
  const unlisted = [n, nl, o, ol].filter((t): t is LoadedTree => t !== null && !t.listed);
  if (unlisted.length) {
    const which = unlisted.map((t) => (t === n ? "the layer's tree" : t === o ? "the parent's tree" : `the lower tree ${t.dir}`)).join(' and ');
    problems.push(problem('error', 'layer.tree-diff.unreadable', `${which} could not be read: the layer's changes cannot be computed`, dir));
    return new LayerTableBuilder(paths, 8).finish(problems);
  }
  const ns = `${opts.overlayXattrs ?? 'trusted'}.overlay.`;
  const view = (upper: LoadedTree, lower: LoadedTree | null): View => (lower ? new UnionView(new TreeView(upper), new TreeView(lower), ns) : new TreeView(upper));
  const newView = view(n, nl);
  const oldView = o ? view(o, ol) : new TreeView({ dir: '', chunks: [], problems: [], listed: true });
  const content = opts.compareContent && !opts.newLower && !opts.oldLower && parentDir !== null ? new ContentCompare(dir, parentDir, problems) : null;
  return new Differ(paths, newView, oldView, opts.newLower ? ns : null, content).run(problems);
}

// ------------------------------------------------------------------------------------------------------------
// Loading a tree: the listing and lstat of every entry, in walk order
// ------------------------------------------------------------------------------------------------------------

interface LoadedTree {
  dir: string;
  /** Chunks in walk order; a chunk is dropped (null) once the merge is past it. */
  chunks: (StatChunk | null)[];
  problems: Problem[];
  /** False when the dir itself could not be listed (missing, a symlink, not a directory). */
  listed: boolean;
}

function loadTree(pool: WalkPool, dir: string, priority: number): Promise<LoadedTree> {
  const where = (rel: string) => (rel === '' ? dir : dir + '/' + displayPath(rel));
  const tree: LoadedTree = { dir, chunks: [], problems: [], listed: true };
  return new Promise((resolve) => {
    let sent = 0;
    let got = 0;
    let listed = false;
    const maybeDone = () => {
      if (listed && got === sent) resolve(tree);
    };
    pool.submit(
      { op: 'list', root: dir },
      (r) => {
        if (r.kind === 'chunk') {
          const seq = sent++;
          pool.submit(
            { op: 'stat', root: dir, xattrs: true, chunk: r.chunk },
            (s) => {
              got++;
              if (s.kind === 'stat') {
                tree.chunks[seq] = s.stat;
                for (const p of s.stat.problems) tree.problems.push(problem(p.severity, p.code, p.message, where(p.rel)));
              } else {
                // A chunk that could not be lstat'ed as a whole: its entries are missing from this side, said so.
                tree.chunks[seq] = null;
                tree.problems.push(problem('error', 'layer.entry.unreadable', `${r.chunk.count} entries could not be lstat'ed: ${s.kind === 'error' ? s.message : 'unexpected reply'}; the changes below them are incomplete`, dir));
              }
              maybeDone();
              return true;
            },
            priority,
            dir,
          );
          return false;
        }
        if (r.kind === 'listed') for (const p of r.problems) tree.problems.push(problem(p.severity, p.code, p.message, where(p.rel)));
        else if (r.kind === 'error') {
          tree.problems.push(problem('error', r.code, r.message, dir));
          tree.listed = false;
        }
        listed = true;
        maybeDone();
        return true;
      },
      priority + 1,
      dir,
    );
  });
}

// ------------------------------------------------------------------------------------------------------------
// Views: a tree walked in order, entry by entry
// ------------------------------------------------------------------------------------------------------------

/** One tree (or a union of two) walked in order. `chunk`/`i` say where the current entry's columns are. */
interface View {
  done: boolean;
  chunk: StatChunk;
  i: number;
  /** To the next entry in walk order. */
  next(): void;
  /** Past the current entry and everything below it. */
  skipPast(): void;
}

const SLASH = 0x2f;

/** Walk order of two relative paths: component by component, names by bytes ('/' sorts before every byte). */
function compareRel(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  const n = Math.min(ae - as, be - bs);
  for (let k = 0; k < n; k++) {
    let x = a[as + k]!;
    let y = b[bs + k]!;
    if (x === y) continue;
    if (x === SLASH) x = -1;
    if (y === SLASH) y = -1;
    return x - y;
  }
  return ae - as - (be - bs);
}

function relOf(v: View): [Uint8Array, number, number] {
  const l = v.chunk.list;
  return [l.relBytes, l.relAt[v.i]!, l.relAt[v.i + 1]!];
}

function compareViews(a: View, b: View): number {
  const [ab, as, ae] = relOf(a);
  const [bb, bs, be] = relOf(b);
  return compareRel(ab, as, ae, bb, bs, be);
}

/** Whether `v`'s current path is strictly below `key`. */
function isBelow(v: View, key: Uint8Array): boolean {
  const [b, s, e] = relOf(v);
  if (e - s <= key.length || b[s + key.length] !== SLASH) return false;
  for (let k = 0; k < key.length; k++) if (b[s + k] !== key[k]) return false;
  return true;
}

function keyOf(v: View): Uint8Array {
  const [b, s, e] = relOf(v);
  return b.slice(s, e);
}

class TreeView implements View {
  done = false;
  chunk!: StatChunk;
  i = 0;
  private ci = 0;

  constructor(private readonly tree: LoadedTree) {
    this.settle();
  }

  /** Move to a readable entry at or after the current position. */
  private settle(): void {
    for (;;) {
      const c = this.tree.chunks[this.ci];
      if (this.ci >= this.tree.chunks.length) {
        this.done = true;
        return;
      }
      if (!c || this.i >= c.list.count) {
        this.tree.chunks[this.ci] = null;
        this.ci++;
        this.i = 0;
        continue;
      }
      if (c.failed[this.i]) {
        this.i++;
        continue;
      }
      this.chunk = c;
      return;
    }
  }

  next(): void {
    this.i++;
    this.settle();
  }

  skipPast(): void {
    const key = keyOf(this);
    this.next();
    while (!this.done && isBelow(this, key)) this.next();
  }
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFREG = 0o100000;

function isDir(v: View): boolean {
  return (v.chunk.mode[v.i]! & S_IFMT) === S_IFDIR;
}

function xattrsOf(c: StatChunk, i: number): [string, Uint8Array][] | null {
  // Few entries have xattrs; the list is in index order.
  let lo = 0;
  let hi = c.xattrs.length - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    const at = c.xattrs[m]!.index;
    if (at === i) return c.xattrs[m]!.attrs;
    if (at < i) lo = m + 1;
    else hi = m - 1;
  }
  return null;
}

function xattr(v: View, name: string): Uint8Array | undefined {
  return xattrsOf(v.chunk, v.i)?.find(([k]) => k === name)?.[1];
}

/**
 * An overlay upper dir over one lower tree, as the kernel shows it: the upper's entry wins, a 0:0 character
 * device (or a zero-size file with the whiteout xattr) hides the lower path, an opaque dir hides what the lower
 * has below it, a non-dir hides the lower subtree.
 */
class UnionView implements View {
  done = false;
  chunk!: StatChunk;
  i = 0;
  private fromUpper = true;

  constructor(private readonly upper: View, private readonly lower: View, private readonly ns: string) {
    this.normalize();
  }

  private isWhiteout(): boolean {
    const u = this.upper;
    const fmt = u.chunk.mode[u.i]! & S_IFMT;
    if (fmt === S_IFCHR) return u.chunk.rdevMajor[u.i] === 0 && u.chunk.rdevMinor[u.i] === 0;
    return fmt === S_IFREG && u.chunk.size[u.i] === 0 && xattr(u, this.ns + 'whiteout') !== undefined;
  }

  private normalize(): void {
    const { upper: u, lower: l } = this;
    for (;;) {
      if (u.done && l.done) {
        this.done = true;
        return;
      }
      const cmp = u.done ? 1 : l.done ? -1 : compareViews(u, l);
      if (cmp > 0) return this.take(l, false);
      if (this.isWhiteout()) {
        if (cmp === 0) l.skipPast();
        u.next();
        continue;
      }
      if (cmp === 0) {
        const opaque = xattr(u, this.ns + 'opaque');
        // The lower entry is replaced: its subtree too, unless both are dirs and the upper is not opaque.
        if (isDir(u) && isDir(l) && !(opaque && opaque.length === 1 && opaque[0] === 0x79)) l.next();
        else l.skipPast();
      }
      return this.take(u, true);
    }
  }

  private take(v: View, fromUpper: boolean): void {
    this.fromUpper = fromUpper;
    this.chunk = v.chunk;
    this.i = v.i;
  }

  next(): void {
    (this.fromUpper ? this.upper : this.lower).next();
    this.normalize();
  }

  skipPast(): void {
    const key = keyOf(this);
    for (const v of [this.upper, this.lower]) {
      while (!v.done && (isBelow(v, key) || compareRel(...relOf(v), key, 0, key.length) === 0)) v.next();
    }
    this.normalize();
  }
}

// ------------------------------------------------------------------------------------------------------------
// The merge
// ------------------------------------------------------------------------------------------------------------

const TYPE_OF: Record<number, number> = { 0o100000: T_FILE, 0o040000: T_DIR, 0o120000: T_SYMLINK, 0o020000: T_CHAR, 0o060000: T_BLOCK, 0o010000: T_FIFO, 0o140000: T_SOCKET };

/** A dir of the new tree on the way to the current entry: listed as modified once something below it changes. */
interface Ancestor {
  chunk: StatChunk;
  i: number;
  depth: number;
  /** Its path id once interned (it was listed, or something below it was). */
  pid: number;
  listed: boolean;
}

class Differ {
  private readonly b: LayerTableBuilder;
  private readonly stack: Ancestor[] = [];
  private readonly firstNameOf = new Map<string, string>();

  /** `ovl`: the overlay xattr prefix of a union's upper dir (its own bookkeeping, no content); null for plain trees. */
  constructor(
    private readonly paths: PathTable,
    private readonly n: View,
    private readonly o: View,
    private readonly ovl: string | null,
    private readonly content: ContentCompare | null = null,
  ) {
    this.b = new LayerTableBuilder(paths, 1024);
  }

  run(problems: Problem[]): LayerTable {
    const { n, o } = this;
    let rows = 0;
    while (!n.done || !o.done) {
      rows++;
      const cmp = n.done ? 1 : o.done ? -1 : compareViews(n, o);
      if (cmp > 0) {
        this.popTo(depthOf(o));
        this.whiteout(o);
        o.skipPast();
        continue;
      }
      this.popTo(depthOf(n));
      if (cmp < 0) {
        this.row(n, depthOf(n));
        continue;
      }
      const dirs = isDir(n);
      // Beyond the engine's changes: a dir whose mtime alone moved (a file made and removed in it) is listed, as
      // an overlay upper dir has it, so that the layer's tree shows the dir as it is; `docker diff` (computed from
      // the stack, analysis/docker-diff.ts) still leaves it out, as the engine does.
      let changed = !sameInode(n, o) && (statDifferent(n, o) || !sameBytes(xattr(n, 'security.capability'), xattr(o, 'security.capability')) || (dirs && !sameTime(n, o)));
      if (!changed && this.content && !sameInode(n, o) && (n.chunk.mode[n.i]! & S_IFMT) === S_IFREG) changed = !this.content.same(relOf(n));
      if (changed) this.row(n, depthOf(n));
      else if (dirs) {
        this.stack.push({ chunk: n.chunk, i: n.i, depth: depthOf(n), pid: -1, listed: false });
        n.next();
      } else n.next();
      // A non-dir that replaced a dir hides the old subtree: the engine lists nothing below it.
      if (dirs && isDir(o)) o.next();
      else o.skipPast();
    }
    readCounters.rows += rows;
    return this.b.finish(problems);
  }

  private popTo(depth: number): void {
    while (this.stack.length && this.stack[this.stack.length - 1]!.depth >= depth) this.stack.pop();
  }

  /** The path id of the current entry's parent, listing every ancestor not yet listed (as modified). */
  private parentId(): number {
    let pid = ROOT_PATH;
    for (const a of this.stack) {
      if (a.pid < 0) a.pid = this.intern(pid, a.chunk, a.i);
      if (!a.listed) {
        a.listed = true;
        this.add(a.chunk, a.i, a.pid);
      }
      pid = a.pid;
    }
    return pid;
  }

  private intern(parent: number, c: StatChunk, i: number): number {
    return this.paths.internBytes(parent, c.list.relBytes, c.list.nameAt[i]!, c.list.relAt[i + 1]!);
  }

  /** The new tree's current entry, added or modified; a dir goes on the stack, already listed. */
  private row(v: View, depth: number): void {
    const parent = this.parentId();
    const c = v.chunk;
    const i = v.i;
    const id = this.intern(parent, c, i);
    this.add(c, i, id);
    if (isDir(v)) this.stack.push({ chunk: c, i, depth, pid: id, listed: true });
    v.next();
  }

  private whiteout(v: View): void {
    const parent = this.parentId();
    this.b.add(this.intern(parent, v.chunk, v.i), T_WHITEOUT, 0, 0, 0, 0, 0, 0, 0);
  }

  private add(c: StatChunk, i: number, id: number): void {
    const mode = c.mode[i]!;
    let type = TYPE_OF[mode & S_IFMT] ?? T_SOCKET;
    let linkname: string | undefined;
    let extra: RowExtra | undefined;
    if (type === T_SYMLINK) linkname = Buffer.from(c.linkBytes.buffer, c.linkBytes.byteOffset, c.linkBytes.byteLength).toString('latin1', c.linkAt[i]!, c.linkAt[i + 1]!);
    else if (type === T_CHAR || type === T_BLOCK) extra = { devMajor: c.rdevMajor[i]!, devMinor: c.rdevMinor[i]! };
    else if (type === T_FILE && c.inodeKey[i] !== '') {
      const first = this.firstNameOf.get(c.inodeKey[i]!);
      if (first === undefined) this.firstNameOf.set(c.inodeKey[i]!, Buffer.from(c.list.relBytes.buffer, c.list.relBytes.byteOffset, c.list.relBytes.byteLength).toString('latin1', c.list.relAt[i]!, c.list.relAt[i + 1]!));
      else {
        type = T_HARDLINK;
        linkname = first;
      }
    }
    let x = xattrsOf(c, i);
    // Every xattr is content, but overlayfs' own (opaque, origin...) on a union's upper dir.
    if (x && this.ovl !== null) x = x.filter(([k]) => !k.startsWith(this.ovl!));
    if (x && x.length) extra = { ...extra, xattrs: Object.fromEntries(x.map(([k, val]) => [k, Buffer.from(val.buffer, val.byteOffset, val.byteLength).toString('hex')])) };
    const size = type === T_FILE || type === T_SYMLINK || type === T_HARDLINK ? c.size[i]! : 0;
    this.b.add(id, type, 0, mode, c.uid[i]!, c.gid[i]!, size, c.mtime[i]!, c.nsec[i]!, linkname, extra);
  }
}

function depthOf(v: View): number {
  const [b, s, e] = relOf(v);
  let d = 1;
  for (let k = s; k < e; k++) if (b[k] === SLASH) d++;
  return d;
}

function sameInode(a: View, b: View): boolean {
  const k = a.chunk.inodeKey[a.i]!;
  return k !== '' && k === b.chunk.inodeKey[b.i];
}

/** moby's statDifferent (Linux): what makes a path in both trees a change. */
function statDifferent(a: View, b: View): boolean {
  const x = a.chunk;
  const y = b.chunk;
  const i = a.i;
  const j = b.i;
  if (x.mode[i] !== y.mode[j] || x.uid[i] !== y.uid[j] || x.gid[i] !== y.gid[j] || x.rdevMajor[i] !== y.rdevMajor[j] || x.rdevMinor[i] !== y.rdevMinor[j]) return true;
  if ((x.mode[i]! & S_IFMT) === S_IFDIR) return false;
  return !sameTime(a, b) || x.size[i] !== y.size[j];
}

/** Go's sameFsTimeSpec: equal seconds, and equal nanoseconds unless either side has none (tar extraction). */
function sameTime(a: View, b: View): boolean {
  const x = a.chunk;
  const y = b.chunk;
  const i = a.i;
  const j = b.i;
  return x.mtime[i] === y.mtime[j] && (x.nsec[i] === y.nsec[j] || x.nsec[i] === 0 || y.nsec[j] === 0);
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  // Go's bytes.Equal: no xattr and an empty one are the same.
  if (!a || !b) return (a?.length ?? 0) === 0 && (b?.length ?? 0) === 0;
  return Buffer.compare(a, b) === 0;
}

// ------------------------------------------------------------------------------------------------------------
// Comparing bytes (compareContent)
// ------------------------------------------------------------------------------------------------------------

const CMP_CHUNK = 1 << 20;

/**
 * The bytes of one relative path in two trees, compared. Nothing is followed: every dir above the file is
 * lstat'ed to be a real dir (once per dir), the file is opened O_NOFOLLOW and must be a regular file. A file that
 * cannot be read is a problem naming it, and counts as changed (never as the same).
 */
class ContentCompare {
  private readonly realDirs = new Set<string>();
  private readonly a = Buffer.allocUnsafe(CMP_CHUNK);
  private readonly b = Buffer.allocUnsafe(CMP_CHUNK);
  private readonly sink: ProblemSink;

  constructor(private readonly newDir: string, private readonly oldDir: string, problems: Problem[]) {
    this.sink = new ProblemSink(problems, 100, newDir);
  }

  same([bytes, s, e]: [Uint8Array, number, number]): boolean {
    const rel = Buffer.from(bytes.buffer, bytes.byteOffset + s, e - s);
    let fa = -1;
    let fb = -1;
    try {
      fa = this.open(this.newDir, rel);
      fb = this.open(this.oldDir, rel);
      const sa = fs.fstatSync(fa);
      const sb = fs.fstatSync(fb);
      if (!sa.isFile() || !sb.isFile()) throw new Error('not a regular file');
      if (sa.size !== sb.size) return false;
      for (let pos = 0; pos < sa.size; ) {
        const na = fs.readSync(fa, this.a, 0, CMP_CHUNK, pos);
        const nb = fs.readSync(fb, this.b, 0, CMP_CHUNK, pos);
        if (na !== nb || this.a.compare(this.b, 0, nb, 0, na) !== 0) return false;
        if (na === 0) break;
        pos += na;
      }
      return true;
    } catch (err) {
      this.sink.add(problem('error', 'layer.tree-diff.content', `${displayPath(rel.toString('latin1'))}: its bytes could not be compared with the parent's: ${describeFsError(err)}`, this.newDir + '/' + displayPath(rel.toString('latin1'))));
      return false;
    } finally {
      if (fa >= 0) fs.closeSync(fa);
      if (fb >= 0) fs.closeSync(fb);
    }
  }

  private open(root: string, rel: Buffer): number {
    const rootB = Buffer.from(root + '/');
    for (let at = rel.indexOf(SLASH); at >= 0; at = rel.indexOf(SLASH, at + 1)) {
      const dir = Buffer.concat([rootB, rel.subarray(0, at)]);
      const key = dir.toString('latin1');
      if (this.realDirs.has(key)) continue;
      if (!fs.lstatSync(dir).isDirectory()) throw new Error(`${displayPath(rel.subarray(0, at).toString('latin1'))} is not a real directory (a symlink is never followed)`);
      this.realDirs.add(key);
    }
    return openNoFollow(Buffer.concat([rootB, rel]));
  }
}
