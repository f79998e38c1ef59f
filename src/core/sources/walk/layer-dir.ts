import { ProblemSink } from '../../model/problem-sink.js';
import { baseName, compareWalkOrder, displayPath, joinPath, parentPath } from '../../model/path.js';
import { ROOT_PATH, type PathTable } from '../../model/paths.js';
import { F_METACOPY, F_OPAQUE, LayerTableBuilder, T_BLOCK, T_CHAR, T_DIR, T_FIFO, T_FILE, T_HARDLINK, T_SOCKET, T_SYMLINK, T_WHITEOUT, type LayerTable, type RowExtra } from '../../model/layer-table.js';
import { problem, type Problem } from '../../model/types.js';
import { WH_BASE, WH_ORPH, WH_PLNK, whiteoutName } from '../whiteout-names.js';
import { readCounters } from '../../model/progress.js';
import { emptyStat, type ListChunk, type StatChunk, type WalkProblem } from './protocol.js';
import { walkPool, type WalkPool } from './pool.js';

/**
 * Read an overlay upper dir (overlay2 `diff/`, a containerd snapshot's `fs/`) into a normalised LayerTable.
 *
 * Overlay form → model:
 * - char device 0:0                                    → whiteout of that name
 * - zero-size file with overlay.whiteout xattr          → whiteout (kernel 6.7+ "xattr whiteouts")
 * - dir with overlay.opaque = "y"                       → opaque dir (hides every lower child)
 * - dir with overlay.opaque = "x" / overlay.whiteouts   → not opaque; children may carry whiteout xattrs
 * - overlay.redirect / overlay.metacopy                 → flagged and reported, never silently misread
 * - several names for one inode                         → the first in walk order is the file, the others
 *                                                         'hardlink' rows naming it (as a tar would)
 * Overlay bookkeeping xattrs (origin, impure, uuid, nlink...) are dropped; other xattrs are content.
 *
 * The walk runs in the walk workers (walk/worker.ts): one lists the dir in walk order, chunk by chunk, and
 * every worker lstat's chunks as they come; here the chunks are put together in order and interned. Only lstat,
 * readlink and l*xattr touch the evidence: nothing is followed, opened or written.
 */

export interface LayerDirOptions {
  /** Read xattrs (needed for opaque dirs and capabilities). Default true. */
  xattrs?: boolean;
  /** Queue priority (the layer a user is waiting for goes first). */
  priority?: number;
  pool?: WalkPool;
  /**
   * Which xattrs overlayfs reads as its own: `trusted.overlay.*` for a store a rootful engine mounts (default),
   * `user.overlay.*` for a rootless one (mounted with `userxattr`). The other namespace is plain content: the
   * kernel ignores a `user.overlay.opaque` on a rootful store, so it must not hide lower files here either.
   */
  overlayXattrs?: 'trusted' | 'user';
  /**
   * False for a directory that is no overlay layer (a volume, a bind source): a 0:0 character device is a device,
   * no xattr is overlayfs's, nothing is a whiteout or an opaque dir. Default true. Same as `whiteouts: 'none'`.
   */
  overlay?: boolean;
  /**
   * How the dir marks whiteouts and opaque dirs: 'overlay' (default: 0:0 char devices, overlay xattrs), 'aufs'
   * (`.wh.<name>` files, `.wh..wh..opq`, the branch's `.wh..wh.*` bookkeeping at its root: an aufs branch, see
   * whiteout-names.ts; every xattr is content and a 0:0 char device is a device), 'none' (a plain dir).
   */
  whiteouts?: 'overlay' | 'aufs' | 'none';
}

const S_IFMT = 0o170000;
const TYPE_OF: Record<number, number> = { 0o100000: T_FILE, 0o040000: T_DIR, 0o120000: T_SYMLINK, 0o020000: T_CHAR, 0o060000: T_BLOCK, 0o010000: T_FIFO, 0o140000: T_SOCKET };

export function readLayerDir(dir: string, paths: PathTable, opts: LayerDirOptions = {}): Promise<LayerTable> {
  const pool = opts.pool ?? walkPool();
  const priority = opts.priority ?? 0;
  const xattrs = opts.xattrs !== false;
  const form = opts.overlay === false ? 'none' : opts.whiteouts ?? 'overlay';
  const asm = form === 'aufs' ? new AufsAssembler(dir, paths, xattrs) : new Assembler(dir, paths, xattrs, form === 'none' ? null : opts.overlayXattrs ?? 'trusted');
  return new Promise<LayerTable>((resolve) => {
    const ready = new Map<number, StatChunk>();
    let next = 0;
    let sent = 0;
    let listed = false;
    let finished = false;
    const drain = () => {
      while (ready.has(next)) {
        asm.add(ready.get(next)!);
        ready.delete(next);
        next++;
      }
      if (listed && next === sent && !finished) {
        finished = true;
        resolve(asm.finish());
      }
    };
    pool.submit(
      { op: 'list', root: dir },
      (r) => {
        if (r.kind === 'chunk') {
          const seq = sent++;
          pool.submit(
            { op: 'stat', root: dir, xattrs, chunk: r.chunk },
            (s) => {
              if (s.kind === 'stat') ready.set(seq, s.stat);
              else ready.set(seq, asm.failedChunk(r.chunk, s.kind === 'error' ? s.message : 'unexpected reply'));
              drain();
              return true;
            },
            priority,
            dir,
          );
          return false;
        }
        if (r.kind === 'listed') asm.listed(r.problems, r.rootXattrs);
        else if (r.kind === 'error') asm.problems.push(problem('error', r.code, r.message, dir));
        listed = true;
        drain();
        return true;
      },
      priority + 1,
      dir,
    );
  });
}

/** Puts the stat'ed chunks of one layer dir together, in order, into a LayerTable. */
class Assembler {
  readonly problems: Problem[] = [];
  /** At most 100 problems of a code one by one (a crafted layer can mark every entry), then a count. */
  protected readonly sink: ProblemSink;
  protected b: LayerTableBuilder;
  /** Path id of each entry of the listing (by global index). */
  protected pid = new Int32Array(1024);
  private readonly firstNameOf = new Map<string, string>();
  /** Dirs marked as holding xattr whiteouts (overlay.opaque=x / overlay.whiteouts). */
  private readonly xMarked = new Set<number>();
  private readonly xWhiteouts: { parent: number; rel: string }[] = [];

  /** The prefix of the xattrs overlayfs reads on this store ('trusted.overlay.' or 'user.overlay.'); null: a plain dir. */
  private readonly ovl: string | null;
  private readonly otherOvl: string;
  private foreign = 0;

  constructor(protected readonly dir: string, protected readonly paths: PathTable, private readonly xattrs: boolean, ns: 'trusted' | 'user' | null) {
    this.b = new LayerTableBuilder(paths, 1024);
    this.sink = new ProblemSink(this.problems, 100, dir);
    this.ovl = ns === null ? null : `${ns}.overlay.`;
    this.otherOvl = ns === 'trusted' ? 'user.overlay.' : 'trusted.overlay.';
  }

  protected where(rel: string): string {
    return rel === '' ? this.dir : this.dir + '/' + displayPath(rel);
  }

  private note(p: WalkProblem): void {
    this.sink.add(problem(p.severity, p.code, p.message, this.where(p.rel)));
  }

  listed(problems: WalkProblem[], rootXattrs: [string, Uint8Array][] | null): void {
    for (const p of problems) this.note(p);
    if (rootXattrs && this.ovl !== null && marksXwhiteouts(rootXattrs, this.ovl)) this.xMarked.add(ROOT_PATH);
  }

  /** A chunk whose stat job failed as a whole (a crashed worker): every entry unreadable. */
  failedChunk(c: ListChunk, message: string): StatChunk {
    const s = emptyStat(c);
    s.failed.fill(1);
    s.problems.push({ severity: 'error', code: 'layer.entry.unreadable', message: `${c.count} entries could not be lstat'ed: ${message}`, rel: '' });
    return s;
  }

  add(s: StatChunk): void {
    const c = s.list;
    readCounters.rows += c.count;
    const rel = Buffer.from(c.relBytes.buffer, c.relBytes.byteOffset, c.relBytes.byteLength);
    const links = Buffer.from(s.linkBytes.buffer, s.linkBytes.byteOffset, s.linkBytes.byteLength);
    for (const p of s.problems) this.note(p);
    if (c.first + c.count > this.pid.length) this.grow(Math.max(c.first + c.count, this.pid.length * 2));
    let xi = 0;
    const b = this.b;
    for (let i = 0; i < c.count; i++) {
      const parent = c.parent[i]!;
      const x = xi < s.xattrs.length && s.xattrs[xi]!.index === i ? s.xattrs[xi++]!.attrs : null;
      if (this.special(s, i, rel)) continue;
      const parentId = parent < 0 ? ROOT_PATH : this.pid[parent]!;
      const id = this.paths.internBytes(parentId, c.relBytes, c.nameAt[i]!, c.relAt[i + 1]!);
      this.pid[c.first + i] = id;
      if (s.failed[i]) continue;
      const mode = s.mode[i]!;
      let type = TYPE_OF[mode & S_IFMT] ?? T_SOCKET;
      const uid = s.uid[i]!;
      const gid = s.gid[i]!;
      if (this.ovl !== null && type === T_CHAR && s.rdevMajor[i] === 0 && s.rdevMinor[i] === 0) {
        b.add(id, T_WHITEOUT, 0, 0, uid, gid, 0, 0, 0);
        continue;
      }
      let linkname: string | undefined;
      let extra: RowExtra | undefined;
      let flags = 0;
      if (type === T_SYMLINK) linkname = links.toString('latin1', s.linkAt[i]!, s.linkAt[i + 1]!);
      else if (type === T_CHAR || type === T_BLOCK) extra = { devMajor: s.rdevMajor[i]!, devMinor: s.rdevMinor[i]! };
      if ((type === T_SYMLINK || type === T_CHAR || type === T_BLOCK || type === T_FIFO) && s.inodeKey[i] !== '') {
        // Another name of a symlink, device or fifo met before: the row keeps its type (it is read as what it is),
        // and names the first, so an export writes it as the engine's tar writer does (a hard link).
        const first = this.firstNameOf.get(s.inodeKey[i]!);
        if (first === undefined) this.firstNameOf.set(s.inodeKey[i]!, rel.toString('latin1', c.relAt[i]!, c.relAt[i + 1]!));
        else extra = { ...extra, sameInodeAs: first };
      } else if (type === T_FILE && s.inodeKey[i] !== '') {
        const first = this.firstNameOf.get(s.inodeKey[i]!);
        const here = () => rel.toString('latin1', c.relAt[i]!, c.relAt[i + 1]!);
        if (first === undefined) this.firstNameOf.set(s.inodeKey[i]!, here());
        else {
          type = T_HARDLINK;
          linkname = first;
        }
      }
      const size = type === T_FILE || type === T_SYMLINK || type === T_HARDLINK ? s.size[i]! : 0;
      if (x && this.xattrs && this.ovl === null) {
        // A plain directory: every xattr is content.
        extra = { ...extra, xattrs: Object.fromEntries(x.map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')])) };
      } else if (x && this.xattrs) {
        const r = this.interpret(x, type, size, parentId, id, () => rel.toString('latin1', c.relAt[i]!, c.relAt[i + 1]!));
        if (r.whiteout) {
          b.add(id, T_WHITEOUT, 0, 0, uid, gid, 0, 0, 0);
          continue;
        }
        flags |= r.flags;
        if (r.extra) extra = { ...extra, ...r.extra };
      }
      const row = b.add(id, type, flags, mode, uid, gid, size, s.mtime[i]!, s.nsec[i]!, linkname, extra);
      if (type === T_DIR) this.dirRow(c.first + i, row);
    }
  }

  /** Room for `n` entries of the listing. */
  protected grow(n: number): void {
    const bigger = new Int32Array(n);
    bigger.set(this.pid);
    this.pid = bigger;
  }

  /** True when entry i of the chunk is no row of its own (an aufs `.wh.` name; see AufsAssembler). */
  protected special(_s: StatChunk, _i: number, _rel: Buffer): boolean {
    return false;
  }

  /** Dir rows by listing index, for forms whose markers come after the dir (aufs `.wh..wh..opq`). */
  protected dirRow(_index: number, _row: number): void {}

  /** The overlay xattrs of one entry; the others are content. */
  private interpret(x: [string, Uint8Array][], type: number, size: number, parentId: number, id: number, rel: () => string): { whiteout: boolean; flags: number; extra: RowExtra | null } {
    const ovl = this.ovl!;
    const get = (name: string) => x.find(([k]) => k === ovl + name)?.[1];
    if (type === T_FILE && size === 0 && get('whiteout') !== undefined) {
      this.xWhiteouts.push({ parent: parentId, rel: rel() });
      return { whiteout: true, flags: 0, extra: null };
    }
    let flags = 0;
    const extra: RowExtra = {};
    for (const [k, v] of x) {
      if (k.startsWith(ovl)) continue;
      if (k.startsWith(this.otherOvl) && this.foreign++ < 20)
        this.sink.add(problem('warning', 'overlay.xattr.ignored', `${k}: the kernel does not read this namespace's overlay xattrs on this store (${ovl}* only); kept as a plain xattr, with no effect on what is visible`, this.where(rel())));
      (extra.xattrs ??= {})[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    }
    if (marksXwhiteouts(x, ovl)) this.xMarked.add(id);
    const opaque = get('opaque');
    if (type === T_DIR && opaque) {
      const v = Buffer.from(opaque).toString('latin1');
      if (v === 'y') flags |= F_OPAQUE;
      else if (v !== 'x') this.sink.add(problem('warning', 'overlay.opaque.unknown', `unknown overlay.opaque value ${JSON.stringify(v)}; treated as not opaque`, this.where(rel())));
    }
    const redirect = get('redirect');
    if (redirect) {
      extra.redirect = Buffer.from(redirect).toString('latin1');
      this.sink.add(problem('warning', 'overlay.redirect', `renamed directory (overlay redirect to ${JSON.stringify(displayPath(extra.redirect))}): its lower children live at the redirect target, which this changeset cannot show`, this.where(rel())));
    }
    if (get('metacopy') !== undefined) {
      flags |= F_METACOPY;
      this.sink.add(problem('warning', 'overlay.metacopy', 'metadata-only copy-up: the data on disk are a sparse placeholder, the real bytes are in a lower layer', this.where(rel())));
    }
    return { whiteout: false, flags, extra: Object.keys(extra).length ? extra : null };
  }

  finish(): LayerTable {
    for (const w of this.xWhiteouts) {
      if (!this.xMarked.has(w.parent)) this.sink.add(problem('warning', 'overlay.xwhiteout.unmarked', 'xattr whiteout in a directory without the opaque="x" marker: the kernel may still list it', this.where(w.rel)));
    }
    return this.b.finish(this.problems);
  }
}

/**
 * An aufs branch (`aufs/diff/<id>`) read into the model: aufs keeps the layer's changes as the tar had them, so
 * `.wh.` names mean what they mean in a layer tar (whiteout-names.ts), and no xattr or device is aufs's own.
 *
 * - `.wh.<name>`        -> a whiteout row for `<name>` (aufs wants a regular file there, a hard link to the
 *   branch's `.wh..wh.aufs` on a RW branch; anything else makes its lookups fail with EIO: an error, still read
 *   as the whiteout a tar of the layer would give, its contents dropped);
 * - `.wh..wh..opq`      -> its dir's row is opaque;
 * - `.wh..wh.*` at the root (`.wh..wh.aufs`, `.wh..wh.plnk/`, `.wh..wh.orph/`): the branch's bookkeeping, never
 *   rows; a warning when it holds something (pseudo-links or orphans a kernel left) or is not what aufs makes;
 * - a whiteout of a name the layer also holds: the entry stays (a dir becomes opaque), as for a tar.
 * Whiteout rows are named by the path they hide, which sorts elsewhere than their `.wh.` name: they are put in
 * walk order at the end, once the listing is in.
 */
class AufsAssembler extends Assembler {
  /**
   * Per listing index: 0 = read, else 1 + the index in `dropped` of the entry it is (or is below): bookkeeping,
   * and `.wh.` entries that are dirs (their contents are no rows either). A `.wh.` file needs no record.
   */
  private drop = new Int32Array(1024);
  private readonly dropped: { rel: string; kind: 'meta' | 'whiteout'; type: number; entries: number; bytes: number }[] = [];
  /** Row of each dir by listing index (+1; 0 = none), for opaque markers. */
  private rowOf = new Int32Array(1024);
  /** Whiteouts by the path id they hide (their `.wh.` name is that path's parent + `.wh.` + its name). */
  private readonly whiteouts: { id: number; uid: number; gid: number }[] = [];
  private readonly opaqueRows = new Set<number>();

  constructor(dir: string, paths: PathTable, xattrs: boolean) {
    super(dir, paths, xattrs, null);
  }

  protected override grow(n: number): void {
    super.grow(n);
    const d = new Int32Array(n);
    d.set(this.drop);
    this.drop = d;
    const r = new Int32Array(n);
    r.set(this.rowOf);
    this.rowOf = r;
  }

  protected override dirRow(index: number, row: number): void {
    this.rowOf[index] = row + 1;
  }

  protected override special(s: StatChunk, i: number, rel: Buffer): boolean {
    const c = s.list;
    const at = c.first + i;
    const parent = c.parent[i]!;
    const type = s.failed[i] ? -1 : TYPE_OF[s.mode[i]! & S_IFMT] ?? T_SOCKET;
    if (parent >= 0 && this.drop[parent]! > 0) {
      // Below a dropped entry (a bookkeeping dir, a `.wh.` dir): counted for what is said of it, never a row.
      const d = this.dropped[this.drop[parent]! - 1]!;
      this.drop[at] = this.drop[parent]!;
      d.entries++;
      if (type === T_FILE) d.bytes += s.size[i]!;
      return true;
    }
    const start = c.nameAt[i]!;
    const end = c.relAt[i + 1]!;
    // `.wh.` = 2e 77 68 2e: most names are not, and are told so without making a string.
    if (end - start < 4 || c.relBytes[start] !== 0x2e || c.relBytes[start + 1] !== 0x77 || c.relBytes[start + 2] !== 0x68 || c.relBytes[start + 3] !== 0x2e) return false;
    const relPath = () => rel.toString('latin1', c.relAt[i]!, end);
    const wn = whiteoutName(rel.toString('latin1', start, end), parent < 0);
    if (wn.kind === 'plain') return false;
    const keep = (kind: 'meta' | 'whiteout') => {
      if (kind === 'whiteout' && type !== T_DIR && type !== -1) return;
      this.dropped.push({ rel: relPath(), kind, type, entries: 0, bytes: type === T_FILE ? s.size[i]! : 0 });
      this.drop[at] = this.dropped.length;
    };
    const where = () => this.where(relPath());
    if (s.failed[i]) {
      // Its lstat problem is said; what it was cannot be told. What the listing found below it is dropped too.
      keep('whiteout');
      return true;
    }
    if (wn.kind === 'meta') {
      keep('meta');
      return true;
    }
    if (wn.kind === 'invalid') {
      this.sink.add(problem('error', 'aufs.whiteout.invalid', 'a whiteout that names nothing; skipped', where()));
      keep('whiteout');
      return true;
    }
    if (type !== T_FILE) {
      this.sink.add(
        problem('error', 'aufs.whiteout.not-file', `a ${typeLabel(type)} where aufs wants a regular file: aufs fails lookups here with EIO ("Invalid whiteout entry type"); read by its name, as the layer's tar would be${type === T_DIR ? ', what it holds skipped' : ''}`, where()),
      );
    } else if (s.size[i]! > 0) {
      this.sink.add(problem('warning', 'aufs.whiteout.content', `whiteout holds ${s.size[i]} bytes: aufs reads only its name, so these bytes are in no container's view`, where()));
    }
    keep('whiteout');
    if (wn.kind === 'opaque') {
      const row = parent < 0 ? 0 : this.rowOf[parent]!;
      if (parent < 0) this.sink.add(problem('warning', 'layer.opaque.root', 'opaque marker on the layer root ignored', where()));
      else if (row > 0) this.opaqueRows.add(row - 1);
      return true;
    }
    const parentId = parent < 0 ? ROOT_PATH : this.pid[parent]!;
    const id = this.paths.internBytes(parentId, c.relBytes, start + 4, end);
    this.whiteouts.push({ id, uid: s.uid[i]!, gid: s.gid[i]! });
    return true;
  }

  override finish(): LayerTable {
    this.sayBookkeeping();
    const table = super.finish();
    for (const r of this.opaqueRows) table.flags[r]! |= F_OPAQUE;
    if (!this.whiteouts.length) return table;
    // Merge the whiteouts, sorted, into the rows (already in walk order).
    const paths = this.paths;
    const wh = this.whiteouts.map((w) => ({ ...w, path: paths.path(w.id) })).sort((a, b) => compareWalkOrder(a.path, b.path));
    const out = new LayerTableBuilder(paths, table.length + wh.length);
    let w = 0;
    for (let i = 0; i < table.length; i++) {
      const p = table.path(i);
      while (w < wh.length && compareWalkOrder(wh[w]!.path, p) < 0) {
        out.add(wh[w]!.id, T_WHITEOUT, 0, 0, wh[w]!.uid, wh[w]!.gid, 0, 0, 0);
        w++;
      }
      let extra = 0;
      if (w < wh.length && wh[w]!.id === table.pathId(i)) {
        // aufs looks the name up in this branch first: the entry shows, and a dir hides every lower child.
        if (table.types[i] === T_DIR) extra = F_OPAQUE;
        const whName = joinPath(parentPath(wh[w]!.path), '.wh.' + baseName(wh[w]!.path));
        this.sink.add(problem('info', 'layer.whiteout.same-layer', `whiteout and entry for the same path in one layer: the entry is kept${extra ? ' as an opaque dir' : ''}`, this.where(whName)));
        w++;
      }
      out.copyRow(table, i, extra);
    }
    for (; w < wh.length; w++) out.add(wh[w]!.id, T_WHITEOUT, 0, 0, wh[w]!.uid, wh[w]!.gid, 0, 0, 0);
    return out.finish(this.problems);
  }

  /**
   * The branch's bookkeeping: what every RW branch holds (an empty `.wh..wh.aufs`, empty `.wh..wh.plnk/` and
   * `.wh..wh.orph/`) is no finding; anything else there is a warning naming it.
   */
  private sayBookkeeping(): void {
    for (const d of this.dropped) {
      if (d.kind !== 'meta') continue;
      const expected = d.rel === WH_BASE ? T_FILE : d.rel === WH_PLNK || d.rel === WH_ORPH ? T_DIR : null;
      if (expected === null) {
        this.sink.add(problem('warning', 'aufs.bookkeeping.unknown', `a ${typeLabel(d.type)} named as aufs bookkeeping, which aufs does not make; not read as content (moby's layer tars leave .wh..wh.* out too)`, this.where(d.rel)));
      } else if (expected !== d.type) {
        this.sink.add(problem('warning', 'aufs.bookkeeping.type', `a ${typeLabel(d.type)} where aufs keeps a ${typeLabel(expected)}; not read as content`, this.where(d.rel)));
      } else if (d.rel === WH_PLNK && d.entries) {
        this.sink.add(
          problem('warning', 'aufs.plnk.content', `${d.entries} pseudo-link(s), ${d.bytes} bytes in aufs's hard-link pool: copies of hard-linked files the aufs module made while the branch was mounted (auplink flush moves them to their names), or pool files a layer tar carried; aufs hides the pool, so they are in no view of the layer`, this.where(d.rel)),
        );
      } else if (d.rel === WH_ORPH && d.entries) {
        this.sink.add(problem('warning', 'aufs.orph.content', `${d.entries} orphan(s), ${d.bytes} bytes: files removed while still open when the branch was mounted; in no view of the layer`, this.where(d.rel)));
      } else if (d.rel === WH_BASE && d.bytes) {
        this.sink.add(problem('warning', 'aufs.base.content', `${d.bytes} bytes in the whiteout base, which aufs keeps empty; in no view of the layer`, this.where(d.rel)));
      }
    }
  }
}

function typeLabel(type: number): string {
  return type === T_FILE ? 'regular file' : type === T_DIR ? 'directory' : type === T_SYMLINK ? 'symlink' : type === T_CHAR ? 'character device' : type === T_BLOCK ? 'block device' : type === T_FIFO ? 'fifo' : type === T_SOCKET ? 'socket' : 'entry';
}

function marksXwhiteouts(x: [string, Uint8Array][], ovl: string): boolean {
  for (const [k, v] of x) {
    if (k === ovl + 'opaque' && v.length === 1 && v[0] === 0x78) return true;
    if (k === ovl + 'whiteouts') return true;
  }
  return false;
}

/**
 * {@link treeBytes} of many dirs, a few at a time in the workers and in order (a million orphan names must not
 * become a million pending requests at once).
 */
/** A dir to size: a host path, or a name read from the evidence (a latin1 byte string) below one. */
export type TreeDir = string | { root: string; below: string };

export async function eachTreeBytes(dirs: readonly TreeDir[], opts: { pool?: WalkPool; count?: SizeCount } = {}): Promise<{ bytes: number; problems: Problem[] }[]> {
  const out: { bytes: number; problems: Problem[] }[] = new Array(dirs.length);
  let next = 0;
  const lane = async () => {
    while (next < dirs.length) {
      const i = next++;
      out[i] = await treeBytes(dirs[i]!, opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, dirs.length) }, lane));
  return out;
}

/**
 * What a size counts: 'files' (default): regular-file bytes, each inode once; 'df': every non-directory's
 * st_size (symlinks count their target's length), each inode once, as moby's pkg/directory.Size does for
 * `docker system df -v` volume sizes.
 */
export type SizeCount = 'files' | 'df';

/** Bytes below a dir (each inode once, nothing followed), in a walk worker. */
export async function treeBytes(dir: TreeDir, opts: { maxEntries?: number; pool?: WalkPool; count?: SizeCount } = {}): Promise<{ bytes: number; problems: Problem[] }> {
  const pool = opts.pool ?? walkPool();
  const { root, below } = typeof dir === 'string' ? { root: dir, below: '' } : dir;
  const shown = (rel: string) => (rel === '' ? root : root + '/' + displayPath(rel));
  const r = await pool.run({ op: 'size', root, below, maxEntries: opts.maxEntries ?? 50_000_000, count: opts.count ?? 'files' }, -1);
  if (r.kind === 'size') return { bytes: r.bytes, problems: r.problems.map((p) => problem(p.severity, p.code, p.message, shown(p.rel === '' ? below : p.rel))) };
  if (r.kind === 'error') return { bytes: 0, problems: [problem('warning', r.code, `cannot size: ${r.message}`, shown(below))] };
  return { bytes: 0, problems: [] };
}
