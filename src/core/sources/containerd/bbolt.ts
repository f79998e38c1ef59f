/**
 * A read-only reader for bbolt (go.etcd.io/bbolt) database files, as containerd writes them
 * (io.containerd.metadata.v1.bolt/meta.db, io.containerd.snapshotter.v1.overlayfs/metadata.db).
 *
 * Evidence rules: the file is opened O_RDONLY (plus O_NOATIME when we may), never locked (bbolt's flock is
 * advisory and taking it could stall a live engine), never written. Every page id, offset and length read from
 * the file is checked before use; a malformed file gives a BoltError naming the file and the page, never a hang:
 * each tree walk keeps a visited set, nested buckets may not reuse an ancestor's root page, and the total number
 * of page reads of one database is bounded.
 *
 * On-disk format (bbolt v1.3/v1.4, little-endian as written on amd64/arm64):
 * - page header, 16 bytes: id u64, flags u16 (branch 0x01, leaf 0x02, meta 0x04, freelist 0x10), count u16,
 *   overflow u32. A page with overflow n spans (n+1) pages.
 * - meta (pages 0 and 1, after the header): magic u32 0xED0CDAED, version u32 (2), pageSize u32, flags u32,
 *   root bucket {root u64, sequence u64}, freelist u64, pgid u64 (high-water mark), txid u64, checksum u64 =
 *   FNV-1a 64 over the 56 bytes before it. The valid meta with the higher txid is current.
 * - branch element, 16 bytes: pos u32, ksize u32, pgid u64; leaf element, 16 bytes: flags u32 (0x01 = bucket),
 *   pos u32, ksize u32, vsize u32. `pos` is relative to the element itself; the value follows the key.
 * - a bucket value is {root u64, sequence u64}; root = 0 means an inline bucket whose page (header + elements)
 *   follows those 16 bytes inside the value.
 */
import * as fs from 'node:fs';
import { LayerscopeError } from '../../model/errors.js';

export const BOLT_MAGIC = 0xed0cdaed;
export const BOLT_VERSION = 2;

const PAGE_HEADER_SIZE = 16;
const ELEMENT_SIZE = 16;
const META_SIZE = 64;
const BUCKET_HEADER_SIZE = 16;

const BRANCH_PAGE = 0x01;
const LEAF_PAGE = 0x02;
const META_PAGE = 0x04;
const BUCKET_LEAF_FLAG = 0x01;

const MIN_PAGE_SIZE = 512;
const MAX_PAGE_SIZE = 1 << 20;
/** bbolt's own limit on the depth of nested buckets is none, but containerd's schema is < 10 deep. */
const MAX_BUCKET_DEPTH = 64;
/** A B+tree of a sane file is far shallower than this (fan-out >= 2). */
const MAX_TREE_DEPTH = 64;

/** Databases whose pages in use pass this are read page by page, not copied whole (containerd's are MBs). */
const SNAPSHOT_MAX = 256 * 1024 * 1024;

/** A malformed, truncated or unreadable bbolt file. `page` is the page concerned, when there is one. */

export class BoltError extends LayerscopeError {
  override name = 'BoltError';
  constructor(
    code: string,
    message: string,
    path: string,
    readonly page: bigint | number | string | null = null,
    /** The errno code (EACCES...) when the file could not be opened. */
    readonly errno: string | null = null,
  ) {
    super(code, page === null ? message : `page ${page}: ${message}`, path);
  }
}

export interface BoltMeta {
  /** Which meta page (0 or 1) is in use. */
  which: 0 | 1;
  pageSize: number;
  flags: number;
  rootPage: bigint;
  rootSequence: bigint;
  freelistPage: bigint;
  /** High-water mark: every page id in use is below it. */
  pageCount: bigint;
  txid: bigint;
}

export interface BoltOptions {
  /** Upper bound on page reads over the life of this handle (default: 64 × pages in the file, at least 1e6). */
  maxPageReads?: number;
}

export interface BoltEntry {
  key: Buffer;
  /** The value; null for a sub-bucket. */
  value: Buffer | null;
  isBucket: boolean;
}

export interface Bucket {
  /** The key path from the root (empty for the root bucket). */
  readonly path: readonly Buffer[];
  /** The bucket's sequence number (NextSequence). */
  readonly sequence: bigint;
  /** Page id of the bucket's root page; null for an inline bucket (its page lives inside the parent's value). */
  readonly rootPage: bigint | null;
  /** The value of a key; null if absent or if the key names a sub-bucket. */
  get(key: Buffer | string): Buffer | null;
  /** A direct sub-bucket; null if absent or if the key holds a plain value. */
  bucket(key: Buffer | string): Bucket | null;
  /** Every key/value and sub-bucket in key order. */
  entries(): Generator<BoltEntry>;
  /** Plain key/values only, in key order. */
  values(): Generator<[Buffer, Buffer]>;
  /** Sub-bucket names only, in key order. */
  bucketNames(): Generator<Buffer>;
}

export interface BoltDb {
  readonly path: string;
  readonly meta: BoltMeta;
  /** Size of the file in bytes. */
  readonly fileSize: number;
  /** The file is shorter than the meta page's high-water mark says: pages past its end cannot be read. */
  readonly truncated: boolean;
  /** The engine kept committing while we copied the file: what we read may mix transactions. */
  readonly unstable: boolean;
  readonly root: Bucket;
  /** Walk a path of nested buckets from the root; null if any step is missing. `[]` is the root. */
  bucket(path: readonly (Buffer | string)[]): Bucket | null;
  close(): void;
}

/** FNV-1a 64-bit, as Go's hash/fnv New64a. */
export function fnv64a(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  for (let i = 0; i < bytes.length; i++) {
    h ^= BigInt(bytes[i]!);
    h = (h * prime) & mask;
  }
  return h;
}

function toKey(key: Buffer | string): Buffer {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/** Open a file read-only, never following a final symlink, with O_NOATIME when the kernel lets us (owner or CAP_FOWNER). */
export function openReadOnly(path: string): number {
  const base = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;
  const noatime = (fs.constants as Record<string, number>).O_NOATIME ?? 0o1000000;
  try {
    return fs.openSync(path, base | noatime);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
  }
  return fs.openSync(path, base);
}

interface ParsedPage {
  id: bigint;
  flags: number;
  count: number;
  overflow: number;
  /** The whole page (all overflow pages included), or the inline page bytes. */
  buf: Buffer;
}

/** Where a tree lives: a page id in the file, or an inline page inside a bucket value. */
type TreeRoot = { kind: 'page'; id: bigint } | { kind: 'inline'; page: ParsedPage };

class Db implements BoltDb {
  readonly meta: BoltMeta;
  readonly root: Bucket;
  private fd: number | null;
  readonly fileSize: number;
  private readonly pageCache = new Map<bigint, ParsedPage>();
  /** The whole file, read as one consistent copy (see takeSnapshot); null when too large to hold. */
  private snapshot: Buffer | null = null;
  /** The engine kept committing while we copied: the copy may mix transactions. */
  unstable = false;
  private pageReads = 0;
  private readonly maxPageReads: number;

  constructor(
    readonly path: string,
    fd: number,
    opts: BoltOptions,
  ) {
    this.fd = fd;
    const st = fs.fstatSync(fd);
    if (!st.isFile()) this.fail('bolt.open', 'not a regular file');
    this.fileSize = st.size;
    this.snapshot = this.takeSnapshot();
    this.meta = this.readMeta();
    const pages = Number(this.meta.pageCount);
    this.maxPageReads = opts.maxPageReads ?? Math.max(1_000_000, pages * 64);
    this.root = new BucketImpl(this, [], 0n, { kind: 'page', id: this.meta.rootPage }, new Set([this.meta.rootPage]));
  }

  fail(code: string, message: string, page: bigint | number | string | null = null): never {
    throw new BoltError(code, message, this.path, page);
  }

  /**
   * A live engine keeps writing its database while we read it, and bbolt reuses the pages of a transaction as
   * soon as a newer one has committed: pages read one by one over a whole analysis can mix transactions (seen:
   * a snapshots bucket that looked empty while containers were being created). So the file is copied into
   * memory in one go, and the copy is kept only if both meta pages read the same before and after it: then no
   * transaction committed meanwhile, and every page the chosen meta reaches is intact. Retried a few times.
   *
   * Only the pages below the meta pages' high-water mark are copied (bbolt never reads past it; a file can be
   * made any size with truncate, its tail a hole), and a database whose pages in use pass SNAPSHOT_MAX is read
   * page by page instead.
   */
  private takeSnapshot(): Buffer | null {
    const metaSpan = Math.min(this.fileSize, 2 * MAX_PAGE_SIZE);
    const size = Math.min(this.fileSize, Math.max(metaSpan, this.inUse(this.readRaw(0, metaSpan))));
    if (size > SNAPSHOT_MAX) return null;
    let copy: Buffer | null = null;
    for (let attempt = 0; attempt < 8; attempt++) {
      const before = this.readRaw(0, metaSpan);
      copy = this.readRaw(0, size);
      const after = this.readRaw(0, metaSpan);
      if (before.equals(after) && copy.subarray(0, metaSpan).equals(before)) return copy;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 * (attempt + 1));
    }
    this.unstable = true;
    return copy;
  }

  /** Bytes below the high-water mark of the valid meta pages at the start of the file (0 when none is valid). */
  private inUse(head: Buffer): number {
    let most = 0;
    const m0 = this.parseMeta(head, 0);
    const sizes = typeof m0 === 'string' ? [4096, 8192, 16384, 32768, 65536, 2048, 1024, 512] : [m0.pageSize];
    for (const m of [m0, ...sizes.map((size) => (size < head.length ? this.parseMeta(head.subarray(size), 1) : 'short'))]) {
      if (typeof m === 'string') continue;
      const bytes = m.pageCount * BigInt(m.pageSize);
      most = Math.max(most, bytes > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(bytes));
    }
    return most;
  }

  private readRaw(offset: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd!, buf, done, length - done, offset + done);
      if (n === 0) return buf.subarray(0, done);
      done += n;
    }
    return buf;
  }

  private readAt(offset: number, length: number, page: bigint | number | null): Buffer {
    if (this.fd === null) this.fail('bolt.closed', 'database is closed');
    if (offset + length > this.fileSize)
      this.fail('bolt.truncated', `needs bytes ${offset}..${offset + length} but the file has ${this.fileSize}`, page);
    if (this.snapshot) {
      if (offset + length > this.snapshot.length) this.fail('bolt.truncated', `unexpected end of file at byte ${this.snapshot.length}`, page);
      return this.snapshot.subarray(offset, offset + length);
    }
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) this.fail('bolt.truncated', `unexpected end of file at byte ${offset + done}`, page);
      done += n;
    }
    return buf;
  }

  private parseMeta(buf: Buffer, which: 0 | 1): BoltMeta | string {
    if (buf.length < PAGE_HEADER_SIZE + META_SIZE) return 'too short';
    const flags = buf.readUInt16LE(8);
    const m = buf.subarray(PAGE_HEADER_SIZE, PAGE_HEADER_SIZE + META_SIZE);
    const magic = m.readUInt32LE(0);
    if (magic !== BOLT_MAGIC) return `bad magic 0x${magic.toString(16).padStart(8, '0')}`;
    const version = m.readUInt32LE(4);
    if (version !== BOLT_VERSION) return `unsupported version ${version}`;
    if ((flags & META_PAGE) === 0) return `page flags 0x${flags.toString(16)} are not a meta page's`;
    const checksum = m.readBigUInt64LE(56);
    const computed = fnv64a(m.subarray(0, 56));
    if (checksum !== computed) return `checksum mismatch (stored ${checksum.toString(16)}, computed ${computed.toString(16)})`;
    const pageSize = m.readUInt32LE(8);
    if (pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0)
      return `implausible page size ${pageSize}`;
    return {
      which,
      pageSize,
      flags: m.readUInt32LE(12),
      rootPage: m.readBigUInt64LE(16),
      rootSequence: m.readBigUInt64LE(24),
      freelistPage: m.readBigUInt64LE(32),
      pageCount: m.readBigUInt64LE(40),
      txid: m.readBigUInt64LE(48),
    };
  }

  private readMeta(): BoltMeta {
    if (this.fileSize < PAGE_HEADER_SIZE + META_SIZE)
      this.fail('bolt.truncated', `file is ${this.fileSize} bytes: too short for a bbolt database`, 0);
    const head = this.readAt(0, PAGE_HEADER_SIZE + META_SIZE, 0);
    const m0 = this.parseMeta(head, 0);
    // Meta 1 sits at one page size; take it from meta 0 if that is valid, else try the usual sizes.
    const sizes = typeof m0 === 'string' ? [4096, 8192, 16384, 32768, 65536, 2048, 1024, 512] : [m0.pageSize];
    let m1: BoltMeta | string = 'not found';
    for (const size of sizes) {
      if (size + PAGE_HEADER_SIZE + META_SIZE > this.fileSize) continue;
      const r = this.parseMeta(this.readAt(size, PAGE_HEADER_SIZE + META_SIZE, 1), 1);
      if (typeof r !== 'string' && r.pageSize !== size) continue;
      m1 = r;
      if (typeof r !== 'string') break;
    }
    let meta: BoltMeta;
    if (typeof m0 !== 'string' && typeof m1 !== 'string') meta = m1.txid > m0.txid ? m1 : m0;
    else if (typeof m0 !== 'string') meta = m0;
    else if (typeof m1 !== 'string') meta = m1;
    else this.fail('bolt.meta.invalid', `no valid meta page (meta 0: ${m0}; meta 1: ${m1})`, 0);
    const pageCount = meta.pageCount;
    if (pageCount < 2n) this.fail('bolt.meta.invalid', `high-water mark ${pageCount} is below 2`, meta.which);
    if (meta.rootPage < 2n || meta.rootPage >= pageCount)
      this.fail('bolt.page.range', `root bucket page ${meta.rootPage} outside 2..${pageCount - 1n}`, meta.which);
    return meta;
  }

  countRead(page: bigint | number | null): void {
    if (++this.pageReads > this.maxPageReads)
      this.fail('bolt.budget', `more than ${this.maxPageReads} page reads: a loop in the file?`, page);
  }

  /** Read (and cache) a page with its overflow pages. */
  page(id: bigint): ParsedPage {
    this.countRead(id);
    const cached = this.pageCache.get(id);
    if (cached) return cached;
    const { pageSize, pageCount } = this.meta;
    if (id < 2n || id >= pageCount) this.fail('bolt.page.range', `page id outside 2..${pageCount - 1n}`, id);
    const offset = Number(id) * pageSize;
    const head = this.readAt(offset, PAGE_HEADER_SIZE, id);
    const hid = head.readBigUInt64LE(0);
    if (hid !== id) this.fail('bolt.page.id', `header says page ${hid}`, id);
    const overflow = head.readUInt32LE(12);
    if (BigInt(overflow) + id >= pageCount)
      this.fail('bolt.page.range', `overflow ${overflow} runs past the high-water mark ${pageCount}`, id);
    const buf = this.readAt(offset, (overflow + 1) * pageSize, id);
    const p: ParsedPage = { id, flags: head.readUInt16LE(8), count: head.readUInt16LE(10), overflow, buf };
    // Keep the cache bounded; containerd's databases are small, but a node's meta.db can have many pages.
    if (this.pageCache.size > 4096) this.pageCache.clear();
    this.pageCache.set(id, p);
    return p;
  }

  get truncated(): boolean {
    return BigInt(this.fileSize) < this.meta.pageCount * BigInt(this.meta.pageSize);
  }

  close(): void {
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      this.pageCache.clear();
      fs.closeSync(fd);
    }
  }

  bucket(path: readonly (Buffer | string)[]): Bucket | null {
    let b: Bucket | null = this.root;
    for (const k of path) {
      b = b.bucket(k);
      if (!b) return null;
    }
    return b;
  }
}

interface LeafItem {
  key: Buffer;
  flags: number;
  value: Buffer;
}

class BucketImpl implements Bucket {
  constructor(
    private readonly db: Db,
    readonly path: readonly Buffer[],
    readonly sequence: bigint,
    private readonly tree: TreeRoot,
    /** Root pages of this bucket and its ancestors (nested buckets may not point back at them). */
    private readonly ancestors: ReadonlySet<bigint>,
  ) {}

  get rootPage(): bigint | null {
    return this.tree.kind === 'page' ? this.tree.id : null;
  }

  private where(): string {
    return this.path.length === 0 ? 'root bucket' : `bucket ${this.path.map((p) => JSON.stringify(p.toString('latin1'))).join('/')}`;
  }

  private elements(p: ParsedPage, kind: 'branch' | 'leaf'): void {
    const need = PAGE_HEADER_SIZE + p.count * ELEMENT_SIZE;
    if (need > p.buf.length)
      this.db.fail('bolt.page.corrupt', `${p.count} ${kind} elements do not fit in ${p.buf.length} bytes (${this.where()})`, this.pageLabel(p));
  }

  private pageLabel(p: ParsedPage): bigint | string {
    return this.tree.kind === 'inline' && p === this.tree.page ? `inline in ${this.where()}` : p.id;
  }

  /** Key bytes of element i of a page (copied: the page cache may go away). */
  private slice(p: ParsedPage, elemOff: number, pos: number, len: number, what: string): Buffer {
    const start = elemOff + pos;
    if (pos < 0 || start + len > p.buf.length || start < elemOff)
      this.db.fail('bolt.page.corrupt', `${what} at ${start}+${len} lies outside the page (${p.buf.length} bytes, ${this.where()})`, this.pageLabel(p));
    return Buffer.from(p.buf.subarray(start, start + len));
  }

  private leafItems(p: ParsedPage): LeafItem[] {
    this.elements(p, 'leaf');
    const out: LeafItem[] = [];
    for (let i = 0; i < p.count; i++) {
      const e = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
      const flags = p.buf.readUInt32LE(e);
      const pos = p.buf.readUInt32LE(e + 4);
      const ksize = p.buf.readUInt32LE(e + 8);
      const vsize = p.buf.readUInt32LE(e + 12);
      const key = this.slice(p, e, pos, ksize, 'key');
      const value = this.slice(p, e, pos + ksize, vsize, 'value');
      out.push({ key, flags, value });
    }
    return out;
  }

  private branchItems(p: ParsedPage): { key: Buffer; child: bigint }[] {
    this.elements(p, 'branch');
    const out: { key: Buffer; child: bigint }[] = [];
    for (let i = 0; i < p.count; i++) {
      const e = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
      const pos = p.buf.readUInt32LE(e);
      const ksize = p.buf.readUInt32LE(e + 4);
      const child = p.buf.readBigUInt64LE(e + 8);
      out.push({ key: this.slice(p, e, pos, ksize, 'branch key'), child });
    }
    return out;
  }

  private rootParsed(): ParsedPage {
    return this.tree.kind === 'inline' ? this.tree.page : this.db.page(this.tree.id);
  }

  private checkKind(p: ParsedPage): 'branch' | 'leaf' {
    if (p.flags & BRANCH_PAGE) return 'branch';
    if (p.flags & LEAF_PAGE) return 'leaf';
    this.db.fail('bolt.page.type', `flags 0x${p.flags.toString(16)}: expected a branch or leaf page (${this.where()})`, this.pageLabel(p));
  }

  /**
   * All leaf items in key order (depth-first over the tree; a visited set stops cycles). Each subtree's keys
   * must lie within the bounds its branch keys give (child i: [key i, key i+1)), so that what iteration shows
   * is also what a lookup finds.
   */
  private *walk(): Generator<LeafItem> {
    const visited = new Set<bigint>();
    const self = this;
    function* visit(p: ParsedPage, depth: number, lo: Buffer | null, hi: Buffer | null): Generator<LeafItem> {
      if (depth > MAX_TREE_DEPTH) self.db.fail('bolt.page.loop', `tree deeper than ${MAX_TREE_DEPTH} (${self.where()})`, p.id);
      if (self.checkKind(p) === 'leaf') {
        for (const item of self.leafItems(p)) {
          if ((lo && Buffer.compare(item.key, lo) < 0) || (hi && Buffer.compare(item.key, hi) >= 0))
            self.db.fail('bolt.page.order', `key ${JSON.stringify(item.key.toString('latin1'))} lies outside the range its branch gives (${self.where()})`, self.pageLabel(p));
          yield item;
        }
        return;
      }
      if (self.tree.kind === 'inline') self.db.fail('bolt.page.corrupt', `inline bucket holds a branch page (${self.where()})`, null);
      const items = self.branchItems(p);
      for (let i = 0; i < items.length; i++) {
        const { child, key } = items[i]!;
        const next = i + 1 < items.length ? items[i + 1]!.key : hi;
        const childLo = i === 0 ? lo : key;
        if (childLo && next && Buffer.compare(childLo, next) >= 0)
          self.db.fail('bolt.page.order', `branch keys out of order (${self.where()})`, p.id);
        if (visited.has(child)) self.db.fail('bolt.page.loop', `page ${child} is reached twice (${self.where()})`, p.id);
        visited.add(child);
        yield* visit(self.db.page(child), depth + 1, childLo, next);
      }
    }
    const root = this.rootParsed();
    visited.add(root.id);
    yield* visit(root, 0, null, null);
  }

  /** Binary-search descent to the leaf item for key, or null. */
  private find(key: Buffer): LeafItem | null {
    const visited = new Set<bigint>();
    let p = this.rootParsed();
    visited.add(p.id);
    for (let depth = 0; ; depth++) {
      if (depth > MAX_TREE_DEPTH) this.db.fail('bolt.page.loop', `tree deeper than ${MAX_TREE_DEPTH} (${this.where()})`, p.id);
      if (this.checkKind(p) === 'leaf') {
        for (const item of this.leafItems(p)) if (item.key.equals(key)) return item;
        return null;
      }
      if (this.tree.kind === 'inline') this.db.fail('bolt.page.corrupt', `inline bucket holds a branch page (${this.where()})`, null);
      const items = this.branchItems(p);
      if (items.length === 0) return null;
      // The last element whose key <= key (bbolt's search); the first if key sorts before all.
      let idx = 0;
      for (let i = 0; i < items.length; i++) {
        if (Buffer.compare(items[i]!.key, key) <= 0) idx = i;
        else break;
      }
      const child = items[idx]!.child;
      if (visited.has(child)) this.db.fail('bolt.page.loop', `page ${child} is reached twice (${this.where()})`, p.id);
      visited.add(child);
      p = this.db.page(child);
    }
  }

  private open(item: LeafItem): Bucket {
    const path = [...this.path, item.key];
    const label = `bucket ${path.map((k) => JSON.stringify(k.toString('latin1'))).join('/')}`;
    if (path.length > MAX_BUCKET_DEPTH) this.db.fail('bolt.bucket.depth', `${label} is nested deeper than ${MAX_BUCKET_DEPTH}`);
    const v = item.value;
    if (v.length < BUCKET_HEADER_SIZE) this.db.fail('bolt.bucket.corrupt', `${label}: bucket value is ${v.length} bytes`);
    const root = v.readBigUInt64LE(0);
    const sequence = v.readBigUInt64LE(8);
    if (root === 0n) {
      const pb = v.subarray(BUCKET_HEADER_SIZE);
      if (pb.length < PAGE_HEADER_SIZE) this.db.fail('bolt.bucket.corrupt', `${label}: inline page is ${pb.length} bytes`);
      this.db.countRead(null);
      const page: ParsedPage = { id: 0n, flags: pb.readUInt16LE(8), count: pb.readUInt16LE(10), overflow: 0, buf: Buffer.from(pb) };
      if ((page.flags & LEAF_PAGE) === 0)
        this.db.fail('bolt.bucket.corrupt', `${label}: inline page flags 0x${page.flags.toString(16)} are not a leaf's`);
      return new BucketImpl(this.db, path, sequence, { kind: 'inline', page }, this.ancestors);
    }
    if (this.ancestors.has(root)) this.db.fail('bolt.page.loop', `${label} reuses the root page of an enclosing bucket`, root);
    if (root < 2n || root >= this.db.meta.pageCount)
      this.db.fail('bolt.page.range', `${label}: root page outside 2..${this.db.meta.pageCount - 1n}`, root);
    const ancestors = new Set(this.ancestors);
    ancestors.add(root);
    return new BucketImpl(this.db, path, sequence, { kind: 'page', id: root }, ancestors);
  }

  get(key: Buffer | string): Buffer | null {
    const item = this.find(toKey(key));
    if (!item || item.flags & BUCKET_LEAF_FLAG) return null;
    return item.value;
  }

  bucket(key: Buffer | string): Bucket | null {
    const item = this.find(toKey(key));
    if (!item || !(item.flags & BUCKET_LEAF_FLAG)) return null;
    return this.open(item);
  }

  *entries(): Generator<BoltEntry> {
    let prev: Buffer | null = null;
    for (const item of this.walk()) {
      if (prev && Buffer.compare(prev, item.key) >= 0)
        this.db.fail('bolt.page.order', `keys out of order in ${this.where()} (${JSON.stringify(item.key.toString('latin1'))})`);
      prev = item.key;
      const isBucket = (item.flags & BUCKET_LEAF_FLAG) !== 0;
      yield { key: item.key, value: isBucket ? null : item.value, isBucket };
    }
  }

  *values(): Generator<[Buffer, Buffer]> {
    for (const e of this.entries()) if (!e.isBucket) yield [e.key, e.value!];
  }

  *bucketNames(): Generator<Buffer> {
    for (const e of this.entries()) if (e.isBucket) yield e.key;
  }
}

/** Open a bbolt file read-only. Throws BoltError (file unreadable, not bbolt, no valid meta page). */
export function openBolt(path: string, opts: BoltOptions = {}): BoltDb {
  let fd: number;
  try {
    fd = openReadOnly(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new BoltError('bolt.open', `cannot open: ${err.code ?? err.message}`, path, null, err.code ?? null);
  }
  try {
    return new Db(path, fd, opts);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Decode a Go binary.Uvarint; null if malformed or longer than the buffer. */
export function readUvarint(buf: Buffer, offset = 0): { value: bigint; length: number } | null {
  let x = 0n;
  let s = 0n;
  for (let i = 0; i < 10 && offset + i < buf.length; i++) {
    const b = buf[offset + i]!;
    if (b < 0x80) {
      if (i === 9 && b > 1) return null;
      return { value: x | (BigInt(b) << s), length: i + 1 };
    }
    x |= BigInt(b & 0x7f) << s;
    s += 7n;
  }
  return null;
}

/** Decode a Go binary.Varint (zig-zag signed). */
export function readVarint(buf: Buffer, offset = 0): { value: bigint; length: number } | null {
  const u = readUvarint(buf, offset);
  if (!u) return null;
  const v = u.value >> 1n;
  return { value: u.value & 1n ? -v - 1n : v, length: u.length };
}
