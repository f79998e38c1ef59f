import { compareWalkOrder, displayPath } from './path.js';
import { PathTable } from './paths.js';
import { problem, type Attrs, type EntryType, type LayerEntry, type Problem } from './types.js';
import type { IdMap } from './idmap.js';

/**
 * One layer's changeset in columns: what every source produces and every consumer reads.
 *
 * A row per entry, in walk order (compareWalkOrder), normalised as the model says (no `.wh.` names, no whiteout
 * devices: a whiteout is a row of type WHITEOUT). Paths are ids in the source's PathTable. About 40 bytes a row
 * and no JS object per row: a layer of a million files is a few typed arrays, not a million objects for the
 * garbage collector to trace. `attrs(i)` and `entry(i)` build the object form of one row for code that shows or
 * writes it; nothing keeps those objects.
 */

export const T_FILE = 0;
export const T_DIR = 1;
export const T_SYMLINK = 2;
export const T_HARDLINK = 3;
export const T_CHAR = 4;
export const T_BLOCK = 5;
export const T_FIFO = 6;
export const T_SOCKET = 7;
export const T_WHITEOUT = 8;

const TYPE_NAMES: readonly EntryType[] = ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'socket'];
const TYPE_CODES: Record<EntryType, number> = { file: T_FILE, dir: T_DIR, symlink: T_SYMLINK, hardlink: T_HARDLINK, char: T_CHAR, block: T_BLOCK, fifo: T_FIFO, socket: T_SOCKET };

export function typeCode(t: EntryType): number {
  return TYPE_CODES[t];
}

export function typeName(code: number): EntryType {
  return TYPE_NAMES[code]!;
}

/** A dir that hides every lower child (OCI `.wh..wh..opq`, overlay `opaque=y`). */
export const F_OPAQUE = 1;
/** An overlay metadata-only copy-up: its bytes live in a lower layer. */
export const F_METACOPY = 2;
/** The row has an entry in `extra` (devices, xattrs, a redirect, owners beyond 32 bits). */
export const F_EXTRA = 4;
/** A whiteout that recorded no owner. */
export const F_NO_OWNER = 8;

/** What few rows carry: kept in a side map so that the columns stay small. */
export interface RowExtra {
  devMajor?: number;
  devMinor?: number;
  xattrs?: Record<string, string>;
  redirect?: string;
  /** Owners that do not fit 32 bits (tar headers can claim anything). */
  uid?: number;
  gid?: number;
  /** A symlink, device or fifo that is another name of an inode met first under this layer path. */
  sameInodeAs?: string;
}

let tableSerial = 0;

export class LayerTable {
  /** Unique per table: two reads that gave one table are one layer (sources cache reads by location). */
  readonly serial = ++tableSerial;

  constructor(
    readonly paths: PathTable,
    readonly n: number,
    readonly pathIds: Int32Array,
    readonly types: Uint8Array,
    readonly flags: Uint8Array,
    readonly modes: Uint16Array,
    readonly uids: Uint32Array,
    readonly gids: Uint32Array,
    readonly sizes: Float64Array,
    readonly mtimes: Float64Array,
    readonly nsecs: Uint32Array,
    /** Link target of row i (symlink target, or a hardlink's layer path) is linkArena[linkAt[i], linkAt[i+1]). */
    readonly linkAt: Uint32Array,
    readonly linkArena: Buffer,
    readonly extra: ReadonlyMap<number, RowExtra>,
    /** Problems met while reading this layer (unreadable files, odd markers...). */
    readonly problems: Problem[],
  ) {}

  get length(): number {
    return this.n;
  }

  /** Bytes held by the columns (the memory benchmarks count them). */
  get byteSize(): number {
    return this.pathIds.byteLength * 2 + this.types.byteLength * 2 + this.modes.byteLength + this.uids.byteLength * 2 + this.sizes.byteLength * 2 + this.nsecs.byteLength + this.linkAt.byteLength + this.linkArena.byteLength;
  }

  pathId(i: number): number {
    return this.pathIds[i]!;
  }

  path(i: number): string {
    return this.paths.path(this.pathIds[i]!);
  }

  isWhiteout(i: number): boolean {
    return this.types[i] === T_WHITEOUT;
  }

  isOpaque(i: number): boolean {
    return (this.flags[i]! & F_OPAQUE) !== 0;
  }

  isMetacopy(i: number): boolean {
    return (this.flags[i]! & F_METACOPY) !== 0;
  }

  redirect(i: number): string | undefined {
    return (this.flags[i]! & F_EXTRA) !== 0 ? this.extra.get(i)?.redirect : undefined;
  }

  linkname(i: number): string | undefined {
    const t = this.types[i];
    if (t !== T_SYMLINK && t !== T_HARDLINK) return undefined;
    return this.linkArena.toString('latin1', this.linkAt[i]!, this.linkAt[i + 1]!);
  }

  uid(i: number): number {
    return ((this.flags[i]! & F_EXTRA) !== 0 ? this.extra.get(i)?.uid : undefined) ?? this.uids[i]!;
  }

  gid(i: number): number {
    return ((this.flags[i]! & F_EXTRA) !== 0 ? this.extra.get(i)?.gid : undefined) ?? this.gids[i]!;
  }

  /** The attributes of a put row, as an object (for display and writing; nothing should keep it). */
  attrs(i: number): Attrs {
    const a: Attrs = {
      type: TYPE_NAMES[this.types[i]!]!,
      mode: this.modes[i]!,
      uid: this.uid(i),
      gid: this.gid(i),
      size: this.sizes[i]!,
      mtime: this.mtimes[i]!,
      mtimeNsec: this.nsecs[i]!,
    };
    const link = this.linkname(i);
    if (link !== undefined) a.linkname = link;
    if ((this.flags[i]! & F_EXTRA) !== 0) {
      const x = this.extra.get(i)!;
      if (x.devMajor !== undefined) a.devMajor = x.devMajor;
      if (x.devMinor !== undefined) a.devMinor = x.devMinor;
      if (x.xattrs) a.xattrs = x.xattrs;
      if (x.sameInodeAs !== undefined) a.sameInodeAs = x.sameInodeAs;
    }
    return a;
  }

  /** Row i in the object form sources used to produce (tests, small tools). */
  entry(i: number): LayerEntry {
    const path = this.path(i);
    if (this.types[i] === T_WHITEOUT) {
      const w: LayerEntry = { kind: 'whiteout', path };
      if ((this.flags[i]! & F_NO_OWNER) === 0) {
        w.uid = this.uid(i);
        w.gid = this.gid(i);
      }
      return w;
    }
    const e: LayerEntry = { kind: 'put', path, attrs: this.attrs(i) };
    if (this.isOpaque(i)) e.opaque = true;
    const r = this.redirect(i);
    if (r !== undefined) e.redirect = r;
    if (this.isMetacopy(i)) e.metacopy = true;
    return e;
  }

  /** Every row in object form, one at a time (nothing is kept). */
  *each(): Generator<LayerEntry> {
    for (let i = 0; i < this.n; i++) yield this.entry(i);
  }

  /**
   * Every row in object form, as an array built on each access: for tests and small layers only (a layer of a
   * million rows is a million objects here). Code that walks big layers uses the columns or `each()`.
   */
  get entries(): LayerEntry[] {
    return [...this.each()];
  }

  /** The row index of a path id (put preferred over a same-path whiteout), or -1. */
  indexOf(pathId: number): number {
    // Rows are in walk order, not id order: a map is built once, on first use.
    const m = (this.byPath ??= this.buildIndex());
    return m.get(pathId) ?? -1;
  }

  private byPath: Map<number, number> | undefined;
  private buildIndex(): Map<number, number> {
    const m = new Map<number, number>();
    for (let i = 0; i < this.n; i++) {
      const p = this.pathIds[i]!;
      if (!m.has(p) || this.types[i] !== T_WHITEOUT) m.set(p, i);
    }
    return m;
  }

  /** The same rows with other problems (one stored layer that two references judge differently). */
  withProblems(problems: Problem[]): LayerTable {
    return new LayerTable(this.paths, this.n, this.pathIds, this.types, this.flags, this.modes, this.uids, this.gids, this.sizes, this.mtimes, this.nsecs, this.linkAt, this.linkArena, this.extra, problems);
  }

  /**
   * The same rows with owners as a user namespace sees them (a rootless store keeps host ids on disk: IdMap).
   * Owners too wide for the columns (tar headers only, never a disk) are left as they are.
   */
  withIds(map: IdMap, dir: string | null = null): LayerTable {
    const uids = new Uint32Array(this.n);
    const gids = new Uint32Array(this.n);
    let unmapped = 0;
    let first = -1;
    for (let i = 0; i < this.n; i++) {
      uids[i] = map.uid(this.uids[i]!);
      gids[i] = map.gid(this.gids[i]!);
      if (!map.covers(this.uids[i]!, this.gids[i]!)) (unmapped++, first < 0 && (first = i));
    }
    // Nothing the engine's namespace runs can own a file outside its map: one that does was put there from the
    // host (or by another user). The container sees the overflow id; the finding names it by its host ids.
    const problems = unmapped
      ? [
          ...this.problems,
          problem(
            'warning',
            'rootless.id.unmapped',
            `${unmapped} entr${unmapped === 1 ? 'y is' : 'ies are'} owned by host ids the store's id map does not cover (first: ${this.uids[first]}:${this.gids[first]}), shown as 65534 as its containers see them: written from outside the engine's user namespace`,
            dir ? `${dir}/${displayPath(this.path(first))}` : displayPath(this.path(first)),
          ),
        ]
      : this.problems;
    return new LayerTable(this.paths, this.n, this.pathIds, this.types, this.flags, this.modes, uids, gids, this.sizes, this.mtimes, this.nsecs, this.linkAt, this.linkArena, this.extra, problems);
  }

  /** An empty layer (a missing layer dir, an unreadable blob) carrying its problems. */
  static empty(paths: PathTable, problems: Problem[] = []): LayerTable {
    return new LayerTableBuilder(paths, 0).finish(problems);
  }

  /**
   * A table from entries in object form (tests, hand-made changesets, the stream of a tar). Entries may come in
   * any order: they are put in walk order. A path is put at most once (the last put wins) and whited out at most
   * once; a whiteout and a put of one path may both stay (tar form: the whiteout applies to lower layers only).
   */
  static fromEntries(paths: PathTable, entries: Iterable<LayerEntry>, problems: Problem[] = []): LayerTable {
    const list = Array.isArray(entries) ? (entries as LayerEntry[]) : [...entries];
    // Sources give walk order without duplicates: check in one pass, and sort only when needed.
    let ordered = true;
    for (let i = 1; i < list.length && ordered; i++) {
      const c = compareWalkOrder(list[i - 1]!.path, list[i]!.path);
      if (c > 0 || (c === 0 && !(list[i - 1]!.kind === 'whiteout' && list[i]!.kind === 'put'))) ordered = false;
    }
    let all = list;
    if (!ordered) {
      const puts = new Map<string, LayerEntry>();
      const whiteouts = new Map<string, LayerEntry>();
      for (const e of list) (e.kind === 'put' ? puts : whiteouts).set(e.path, e);
      all = [...whiteouts.values(), ...puts.values()];
      // Stable: a whiteout before the put of the same path.
      all.sort((a, b) => compareWalkOrder(a.path, b.path));
    }
    const b = new LayerTableBuilder(paths, all.length);
    for (const e of all) b.addEntry(e);
    return b.finish(problems);
  }
}

/** Fills a LayerTable row by row (rows must come in walk order). */
export class LayerTableBuilder {
  private n = 0;
  private cap: number;
  private pathIds: Int32Array;
  private types: Uint8Array;
  private flags: Uint8Array;
  private modes: Uint16Array;
  private uids: Uint32Array;
  private gids: Uint32Array;
  private sizes: Float64Array;
  private mtimes: Float64Array;
  private nsecs: Uint32Array;
  private linkAt: Uint32Array;
  private linkArena: Buffer;
  private linkLen = 0;
  private readonly extra = new Map<number, RowExtra>();

  constructor(readonly paths: PathTable, capacity = 1024) {
    this.cap = Math.max(8, capacity);
    this.pathIds = new Int32Array(this.cap);
    this.types = new Uint8Array(this.cap);
    this.flags = new Uint8Array(this.cap);
    this.modes = new Uint16Array(this.cap);
    this.uids = new Uint32Array(this.cap);
    this.gids = new Uint32Array(this.cap);
    this.sizes = new Float64Array(this.cap);
    this.mtimes = new Float64Array(this.cap);
    this.nsecs = new Uint32Array(this.cap);
    this.linkAt = new Uint32Array(this.cap + 1);
    this.linkArena = Buffer.allocUnsafe(256);
  }

  get length(): number {
    return this.n;
  }

  /**
   * Add a row. `type` is a T_* code; for whiteouts only the path, owner and flags matter. Owners outside 32 bits
   * and devices, xattrs, redirects go through `extra`.
   */
  add(pathId: number, type: number, flags: number, mode: number, uid: number, gid: number, size: number, mtime: number, nsec: number, linkname?: string, extra?: RowExtra): number {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.pathIds[i] = pathId;
    this.types[i] = type;
    this.modes[i] = mode & 0o7777;
    let x = extra;
    if (uid >= 0 && uid <= 0xffffffff && Number.isInteger(uid)) this.uids[i] = uid;
    else x = { ...x, uid };
    if (gid >= 0 && gid <= 0xffffffff && Number.isInteger(gid)) this.gids[i] = gid;
    else x = { ...x, gid };
    this.sizes[i] = size;
    this.mtimes[i] = mtime;
    this.nsecs[i] = nsec;
    const start = this.linkLen;
    if (linkname !== undefined && linkname.length > 0) {
      const end = start + linkname.length;
      if (end > this.linkArena.length) {
        const bigger = Buffer.allocUnsafe(Math.max(end, Math.ceil(this.linkArena.length * 1.5)));
        this.linkArena.copy(bigger, 0, 0, start);
        this.linkArena = bigger;
      }
      this.linkArena.write(linkname, start, 'latin1');
      this.linkLen = end;
    }
    this.linkAt[i + 1] = this.linkLen;
    if (x) {
      this.extra.set(i, x);
      flags |= F_EXTRA;
    }
    this.flags[i] = flags;
    return i;
  }

  /** Add a row from its object form (the path is interned). */
  addEntry(e: LayerEntry): number {
    const id = this.paths.internPath(e.path);
    if (e.kind === 'whiteout') return this.add(id, T_WHITEOUT, e.uid === undefined && e.gid === undefined ? F_NO_OWNER : 0, 0, e.uid ?? 0, e.gid ?? 0, 0, 0, 0);
    const a = e.attrs;
    let flags = 0;
    if (e.opaque) flags |= F_OPAQUE;
    if (e.metacopy) flags |= F_METACOPY;
    let x: RowExtra | undefined;
    if (a.devMajor !== undefined || a.devMinor !== undefined || e.redirect !== undefined || a.sameInodeAs !== undefined || (a.xattrs && Object.keys(a.xattrs).length)) {
      x = {};
      if (a.devMajor !== undefined) x.devMajor = a.devMajor;
      if (a.devMinor !== undefined) x.devMinor = a.devMinor;
      if (a.xattrs && Object.keys(a.xattrs).length) x.xattrs = a.xattrs;
      if (e.redirect !== undefined) x.redirect = e.redirect;
      if (a.sameInodeAs !== undefined) x.sameInodeAs = a.sameInodeAs;
    }
    return this.add(id, TYPE_CODES[a.type], flags, a.mode, a.uid, a.gid, a.size, a.mtime, a.mtimeNsec, a.linkname, x);
  }

  /** Row i of `t` again, as it is (tables whose rows are put back in walk order), with `flags` added. */
  copyRow(t: LayerTable, i: number, flags = 0): number {
    const link = t.linkname(i);
    const x = (t.flags[i]! & F_EXTRA) !== 0 ? t.extra.get(i) : undefined;
    return this.add(t.pathIds[i]!, t.types[i]!, (t.flags[i]! & ~F_EXTRA) | flags, t.modes[i]!, t.uid(i), t.gid(i), t.sizes[i]!, t.mtimes[i]!, t.nsecs[i]!, link, x);
  }

  /** Add to row i's flags (opaque markers found after the row). */
  setFlag(i: number, flag: number): void {
    this.flags[i]! |= flag;
  }

  finish(problems: Problem[] = []): LayerTable {
    const n = this.n;
    const cut = <T extends Int32Array | Uint8Array | Uint16Array | Uint32Array | Float64Array>(a: T, len = n): T => (a.length === len ? a : (a.slice(0, len) as T));
    const table = new LayerTable(
      this.paths,
      n,
      cut(this.pathIds),
      cut(this.types),
      cut(this.flags),
      cut(this.modes),
      cut(this.uids),
      cut(this.gids),
      cut(this.sizes),
      cut(this.mtimes),
      cut(this.nsecs),
      cut(this.linkAt, n + 1),
      Buffer.from(this.linkArena.subarray(0, this.linkLen)),
      this.extra,
      problems,
    );
    return table;
  }

  private grow(): void {
    const cap = Math.ceil(this.cap * 1.5) + 8;
    const g = <T extends Int32Array | Uint8Array | Uint16Array | Uint32Array | Float64Array>(a: T, size = cap): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.pathIds = g(this.pathIds);
    this.types = g(this.types);
    this.flags = g(this.flags);
    this.modes = g(this.modes);
    this.uids = g(this.uids);
    this.gids = g(this.gids);
    this.sizes = g(this.sizes);
    this.mtimes = g(this.mtimes);
    this.nsecs = g(this.nsecs);
    this.linkAt = g(this.linkAt, cap + 1);
    this.cap = cap;
  }
}
