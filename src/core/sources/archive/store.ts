/**
 * The members of an image archive, whatever holds them: a tar file we can seek in, an OCI layout directory, or
 * a stream read once (stdin, `docker save` output, a compressed archive, a FIFO or a device). The image logic
 * (images.ts) sees only this interface.
 *
 * Hostile archives, and what each store does about them:
 * - Duplicate member names (`manifest.json` twice, two copies of a blob): every copy is listed, an error
 *   problem names the member and the offsets of its copies, and the LAST copy is the one used, as docker load
 *   does (it extracts the archive: a later member overwrites an earlier one).
 * - Counts and sizes: at most {@link MAX_MEMBERS} member headers are listed; JSON members are bounded one by
 *   one and in all (json.ts) and each is read once; in a stream, a member whose header claims more than the
 *   decompressor's output limit (64 GiB by default: nothing a layer can decompress to) stops the reading, and
 *   after the end-of-archive marker at most {@link MAX_AFTER_END} bytes are read.
 * - Links between members are resolved inside the archive only, never on the host; a link that dangles, loops
 *   or climbs out is an error naming it.
 * - Uncompressed layers in a seekable archive are listed by seeking over bodies (fast, nothing hashed) unless
 *   `verify` is asked: then they are read once, sequentially, in large reads, and hashed and listed in the same
 *   pass. Compressed layers and every layer of a stream are always hashed (they are read anyway).
 */
import { closeSync, constants as fsc, fstatSync, readSync, realpathSync, statSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { cleanLayerPath, joinPath, parentPath, UnsafePathError } from '../../model/path.js';
import { SourceError } from '../../model/errors.js';
import { ProblemSink } from '../../model/problem-sink.js';
import { problem, type LayerChanges, type Problem } from '../../model/types.js';
import { Evidence, describeFsError, openNoFollow } from '../evidence.js';
import { TarError, CompressionError } from '../tar/errors.js';
import { TarFileReader, rangeStream } from '../tar/file-reader.js';
import type { TarEntry } from '../tar/header.js';
import { DEFAULT_LIMITS, decompress, peek, sniffCompression, type Compression, type DecompressOptions } from '../tar/decompress.js';
import { isTarHead, readLayerFromFile, readLayerFromStream } from '../tar/layer-reader.js';
import { LayerTable } from '../../model/layer-table.js';
import type { PathTable } from '../../model/paths.js';
import { ByteSource, readTarStream, type TarStreamState } from '../tar/stream-reader.js';
import { ArchiveMemberError, MAX_JSON, MAX_JSON_TOTAL, quoteMember } from './json.js';

export { MAX_JSON, ArchiveMemberError, ArchiveMemberError as ArchiveLinkError };

/** Symlink hops followed inside an archive before calling it a loop. */
const MAX_HOPS = 40;
/**
 * Member headers listed in one archive. A `docker save` holds about four members per layer and an OCI archive
 * one blob per layer, manifest and config: 200,000 is far above any real archive, and bounds what listing costs.
 */
export const MAX_MEMBERS = 200_000;
/** Bytes read after an end-of-archive marker in a stream (zero padding is at most a record: 10 KiB for GNU tar). */
export const MAX_AFTER_END = 4 * 1024 * 1024;
/** Read size when a stored layer is hashed: sequential reads of a byte range, in large steps. */
const HASH_READ = 4 * 1024 * 1024;
/** Members that are JSON documents by name (never layers). */
const ROOT_DOCS = new Set(['index.json', 'manifest.json', 'oci-layout', 'repositories']);
/** Problems of one kind listed one by one before the rest are summed up in one more. */
const MAX_LISTED = 20;

export interface Member {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  /** For symlinks as stored; for hardlinks the cleaned archive path. */
  linkname: string;
  size: number;
  /** Offset of the member's header in the archive (tar stores); null or absent for a directory layout. */
  offset?: number | null;
}

export interface StoredLayer {
  /** The layer's rows, interned in the store's path table; null when nothing could be read. */
  table: LayerTable | null;
  /** Problems met reading it (a copy per read: callers add their own). */
  problems: Problem[];
  compression: Compression | null;
  /** sha256 of the stored bytes, when they were all read. */
  blobDigest: string | null;
  /** sha256 of the uncompressed tar, when it was all read. */
  diffId: string | null;
  /** The member read (links resolved), when the path resolved to one. */
  member?: string | null;
  /** Bytes of the stored blob, when known. */
  storedBytes?: number | null;
}

export interface ArchiveStore {
  readonly members: ReadonlyMap<string, Member>;
  /** Problems met while listing the archive itself. */
  readonly problems: Problem[];
  /** True when uncompressed layers are listed by seeking (and so hashed only when `verify` is asked). */
  readonly seekable: boolean;
  /**
   * Bytes of a JSON member, links resolved, read once per member and counted against the archive's JSON budget.
   * Null when the name is not in the archive; throws {@link ArchiveMemberError} when it is but cannot serve
   * (dangling or escaping link, not a file, too large, over budget, not kept from a stream...).
   */
  readJson(path: string): { path: string; bytes: Buffer } | null;
  /** The changes of the layer tar stored at `path` (resolved); `verify` hashes layers that seeking would skip. */
  readLayer(path: string, opts: { verify: boolean }): Promise<StoredLayer>;
  /** How the layer at `path` is stored, from its first bytes; null when it cannot be told (missing, unreadable). */
  storedCompression(path: string): Compression | null;
  close(): Promise<void>;
}

/**
 * Follow symlinks and hardlinks between members (repeated layers in `docker save` are symlinks
 * `layer.tar -> ../<id>/layer.tar`) without ever leaving the archive. Symlinks in parent components are
 * resolved too. Returns the member path of a regular file, or throws {@link ArchiveMemberError}:
 * `archive.member.missing` (the name itself is not there), `archive.link.dangling` (a link on the way points to
 * nothing), `archive.link.unsafe` (a link climbs out), `archive.link.loop`, `archive.member.not-file`.
 */
export function resolveMember(members: ReadonlyMap<string, Member>, path: string): string {
  let cur = path;
  const seen = new Set<string>();
  let via: { link: string; target: string } | null = null;
  for (let hops = 0; ; hops++) {
    if (hops > MAX_HOPS || seen.has(cur)) throw new ArchiveMemberError('archive.link.loop', `links loop while resolving ${quoteMember(path)}`);
    seen.add(cur);
    const m = members.get(cur);
    if (!m) {
      // a parent component may be a symlink
      const rewritten = resolveParents(members, cur);
      if (rewritten === null) {
        if (via === null) throw new ArchiveMemberError('archive.member.missing', `${quoteMember(path)} is not in the archive`);
        throw new ArchiveMemberError(
          'archive.link.dangling',
          `${quoteMember(path)} leads through the link ${quoteMember(via.link)} -> ${quoteMember(via.target)} to ${quoteMember(cur)}, which is not in the archive (a dangling link)`,
        );
      }
      via = rewritten.via;
      cur = rewritten.path;
      continue;
    }
    if (m.type === 'file') return cur;
    if (m.type === 'hardlink') {
      via = { link: cur, target: m.linkname };
      cur = m.linkname;
      continue;
    }
    if (m.type === 'symlink') {
      via = { link: cur, target: m.linkname };
      cur = linkTarget(cur, m.linkname);
      continue;
    }
    throw new ArchiveMemberError('archive.member.not-file', `${quoteMember(cur)}${cur !== path ? ` (reached from ${quoteMember(path)})` : ''} is a ${m.type === 'other' ? 'special file' : m.type}, not a file`);
  }
}

function linkTarget(link: string, linkname: string): string {
  try {
    return cleanLayerPath(linkname.startsWith('/') ? linkname : joinPath(parentPath(link), linkname));
  } catch (err) {
    if (err instanceof UnsafePathError)
      throw new ArchiveMemberError('archive.link.unsafe', `link ${quoteMember(link)} -> ${quoteMember(linkname)} points outside the archive (never followed)`);
    throw err;
  }
}

/** resolveMember, or null when the name itself is not in the archive (a dangling link is an error, not absence). */
function resolveExisting(members: ReadonlyMap<string, Member>, path: string): string | null {
  try {
    return resolveMember(members, path);
  } catch (err) {
    if (err instanceof ArchiveMemberError && err.code === 'archive.member.missing') return null;
    throw err;
  }
}

function resolveParents(members: ReadonlyMap<string, Member>, path: string): { path: string; via: { link: string; target: string } } | null {
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    const m = members.get(prefix);
    if (m?.type === 'symlink') return { path: joinPath(linkTarget(prefix, m.linkname), parts.slice(i).join('/')), via: { link: prefix, target: m.linkname } };
  }
  return null;
}

function memberFromEntry(path: string, e: TarEntry): Member {
  let linkname = e.linkname;
  let type: Member['type'] = e.type === 'file' || e.type === 'dir' || e.type === 'symlink' || e.type === 'hardlink' ? e.type : 'other';
  if (type === 'hardlink') {
    try {
      linkname = cleanLayerPath(e.linkname);
    } catch {
      type = 'other';
    }
  }
  return { path, type, linkname, size: e.size, offset: e.headerOffset };
}

function layerError(label: string, err: unknown): StoredLayer {
  const code = err instanceof ArchiveMemberError || err instanceof TarError || err instanceof CompressionError ? err.code : 'layer.unreadable';
  return {
    table: null,
    problems: [problem('error', code, `layer unreadable: ${(err as Error).message}`, label)],
    compression: null,
    blobDigest: null,
    diffId: null,
    member: null,
    storedBytes: null,
  };
}

/** An error from the OS (read(2) failing: EIO, ENXIO, EACCES...), as opposed to a bug. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

function copyLayer(l: StoredLayer): StoredLayer {
  return { ...l, problems: [...l.problems] };
}

/**
 * A parsed layer as kept: its rows in columns (the objects the tar reader made are dropped here, so that a
 * stream of many layers, read once and kept whole, costs their tables, not their objects).
 */
function kept(paths: PathTable, c: LayerChanges): { table: LayerTable; problems: Problem[] } {
  return { table: LayerTable.fromEntries(paths, c.entries), problems: c.problems };
}

// ------------------------------------------------------------------------------------------------------------

/**
 * The member list of a tar archive: names cleaned (unsafe ones refused), duplicates recorded (the last copy is
 * the one kept), and the number of headers bounded.
 */
class MemberIndex {
  readonly members = new Map<string, Member>();
  private readonly duplicates = new Map<string, number[]>();
  private headers = 0;
  readonly sink: ProblemSink;

  constructor(private readonly location: string, private readonly problems: Problem[]) {
    this.sink = new ProblemSink(problems, MAX_LISTED, location);
  }

  /** The cleaned path of a member (null when it is skipped), or 'stop' when the archive has too many members. */
  add(e: TarEntry): string | null | 'stop' {
    if (++this.headers > MAX_MEMBERS) {
      this.problems.push(
        problem('error', 'archive.members.too-many', `more than ${MAX_MEMBERS} members (no image archive comes close): listing stopped at offset ${e.headerOffset}; members after it were not examined`, this.location),
      );
      return 'stop';
    }
    if (e.typeflag === 'g') {
      // docker load untars the archive with Go's reader: a global header is skipped and renames nothing.
      this.sink.add(
        problem('warning', 'archive.pax-global', `PAX global header at offset ${e.headerOffset} ignored, as docker load ignores it (GNU tar would apply its records to the members after it)`, this.location),
        'PAX global headers',
      );
      return null;
    }
    let path: string;
    try {
      path = cleanLayerPath(e.name);
    } catch (err) {
      if (!(err instanceof UnsafePathError)) throw err;
      this.sink.add(problem('error', 'archive.member.unsafe', `member at offset ${e.headerOffset} ignored: ${err.message}`, this.location), 'unsafe member names');
      return null;
    }
    if (path === '') return null;
    const m = memberFromEntry(path, e);
    const prev = this.members.get(path);
    if (prev && !(prev.type === 'dir' && m.type === 'dir')) {
      let offsets = this.duplicates.get(path);
      if (!offsets) this.duplicates.set(path, (offsets = [prev.offset ?? -1]));
      offsets.push(e.headerOffset);
    }
    this.members.set(path, m);
    return path;
  }

  /** One error per duplicated name (the first {@link MAX_LISTED}, then a count). */
  finish(): void {
    for (const [path, offsets] of this.duplicates) {
      const shown = offsets.length <= 8 ? offsets.join(', ') : `${offsets.slice(0, 4).join(', ')}, … ${offsets.slice(-2).join(', ')}`;
      this.sink.add(
        problem(
          'error',
          'archive.member.duplicate',
          `${offsets.length} members are named ${quoteMember(path)} (headers at offsets ${shown}): the last copy (offset ${offsets[offsets.length - 1]}) is the one used, as docker load uses it (extracting the archive, a later member overwrites an earlier one); the other copies are ignored, and another tool may well pick another one`,
          path,
        ),
        'duplicated member names',
      );
    }
  }
}

/** JSON members read once each, within the archive's budget (json.ts). */
class JsonCache {
  private readonly cache = new Map<string, Buffer>();
  private total = 0;

  get(path: string, size: number, read: () => Buffer): Buffer {
    const hit = this.cache.get(path);
    if (hit) return hit;
    if (size > MAX_JSON)
      throw new ArchiveMemberError('archive.member.too-large', `${quoteMember(path)} is ${size} bytes, more than the ${MAX_JSON} a JSON member may have here; not read`);
    if (this.total + size > MAX_JSON_TOTAL)
      throw new ArchiveMemberError(
        'archive.json.budget',
        `${quoteMember(path)} (${size} bytes) would take the JSON read from this archive past ${MAX_JSON_TOTAL} bytes in all (${this.total} read already); not read`,
      );
    const b = read();
    this.total += b.length;
    this.cache.set(path, b);
    return b;
  }

  clear(): void {
    this.cache.clear();
  }
}

/** Read `length` bytes at `pos` (fewer at EOF). */
function preadAll(fd: number, pos: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, out, got, length - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? out : out.subarray(0, got);
}

/**
 * A layer stored at [start, start+length) of an open file. Uncompressed and not verified: headers only,
 * bodies skipped (nothing hashed). Otherwise one sequential pass that hashes the stored bytes (and the
 * uncompressed tar) while listing it: the bytes are read once, in {@link HASH_READ} steps.
 */
async function layerFromRange(paths: PathTable, fd: number, start: number, length: number, label: string, verify: boolean, dopts: DecompressOptions): Promise<StoredLayer> {
  const head = preadAll(fd, start, Math.min(1024, length));
  const compression = sniffCompression(head);
  if (!verify && compression === 'none' && (isTarHead(head) || length === 0)) {
    const changes = readLayerFromFile(fd, start, start + length, label);
    return { ...kept(paths, changes), compression, blobDigest: null, diffId: null, member: label, storedBytes: length };
  }
  const r = await readLayerFromStream(rangeStream(fd, start, length, HASH_READ), label, dopts);
  if (!r.isTar) r.changes.problems.push(problem('error', 'layer.not-tar', 'layer blob is not a tar (nor a gzip/zstd-compressed one)', label));
  if (r.storedBytes !== length) {
    // the file shrank under us: whatever was hashed is not the member
    r.changes.problems.push(problem('error', 'archive.member.short-read', `read ${r.storedBytes} of the member's ${length} bytes (the file changed while being read?)`, label));
    return { ...kept(paths, r.changes), compression: r.compression, blobDigest: null, diffId: null, member: label, storedBytes: r.storedBytes };
  }
  return { ...kept(paths, r.changes), compression: r.compression, blobDigest: r.blobDigest, diffId: r.diffId, member: label, storedBytes: length };
}

/** Layer results cached per resolved member: a hashed read also serves later unhashed requests. */
class LayerCache {
  private readonly hashed = new Map<string, Promise<StoredLayer>>();
  private readonly listed = new Map<string, Promise<StoredLayer>>();

  get(member: string, verify: boolean, read: (verify: boolean) => Promise<StoredLayer>): Promise<StoredLayer> {
    const h = this.hashed.get(member);
    if (h) return h;
    if (!verify) {
      let l = this.listed.get(member);
      if (!l) {
        // a read that turns out to hash anyway (compressed layers) is a hashed read
        l = read(false).then((r) => {
          if (r.blobDigest !== null && !this.hashed.has(member)) this.hashed.set(member, Promise.resolve(r));
          return r;
        });
        this.listed.set(member, l);
      }
      return l;
    }
    const r = read(true);
    this.hashed.set(member, r);
    return r;
  }

  clear(): void {
    this.hashed.clear();
    this.listed.clear();
  }
}

// ------------------------------------------------------------------------------------------------------------

/** How to read what the user named when it cannot be seeked as a plain tar: as a stream, once. */
export interface StreamInput {
  /** Why it is streamed: a compressed archive, or not a regular file (FIFO, character or block device). */
  reason: 'compressed' | 'not-a-file';
  stream: AsyncIterable<Buffer>;
  close(): void;
}

/** A tar file we can seek in. */
export class FileTarStore implements ArchiveStore {
  readonly seekable = true;
  readonly problems: Problem[] = [];
  private readonly index: MemberIndex;
  private readonly bodies = new Map<string, { offset: number; size: number }>();
  private readonly json = new JsonCache();
  private readonly layers = new LayerCache();
  private reader!: TarFileReader;

  get members(): ReadonlyMap<string, Member> {
    return this.index.members;
  }

  private constructor(private readonly fd: number, private readonly location: string, private readonly dopts: DecompressOptions, readonly paths: PathTable) {
    this.index = new MemberIndex(location, this.problems);
  }

  /**
   * A regular, uncompressed file is listed here. A compressed file, a FIFO or a device cannot be seeked as a tar:
   * the caller streams it once (StreamStore) from what this returns.
   */
  static open(location: string, dopts: DecompressOptions, paths: PathTable): { store: FileTarStore } | StreamInput {
    let fd: number;
    let real: string;
    let regular: boolean;
    try {
      // The path the user named may be a symlink (their own, not evidence): resolve it, then open the file.
      real = realpathSync(location);
      regular = statSync(real).isFile();
    } catch (err) {
      throw new SourceError('source.unreadable', `cannot open: ${describeFsError(err)}`, location);
    }
    if (!regular) {
      // A FIFO (mkfifo; <(docker save x)), /dev/stdin, a character device (/dev/zero) or a block device: its size
      // says nothing and it may never end. Read it once, as stdin is, within the stream bounds. Opened once,
      // blocking and off the main thread (a FIFO's open waits for its writer; opening it twice could make the
      // writer meet a closed pipe between the two).
      const path = real;
      const stream = (async function* () {
        // not an output: the evidence, opened read-only.
        const fh = await fsp.open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
        try {
          for await (const c of fh.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false })) yield c as Buffer;
        } finally {
          await fh.close().catch(() => undefined);
        }
      })();
      return { reason: 'not-a-file', stream, close: () => void stream.return(undefined).catch(() => undefined) };
    }
    try {
      fd = openNoFollow(real);
    } catch (err) {
      throw new SourceError('source.unreadable', `cannot open: ${describeFsError(err)}`, location);
    }
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      throw new SourceError('source.unreadable', 'changed from a regular file to something else while being opened', location);
    }
    const size = st.size;
    const head = preadAll(fd, 0, Math.min(1024, size));
    if (sniffCompression(head) !== 'none') {
      return {
        reason: 'compressed',
        stream: rangeStream(fd, 0, size, HASH_READ) as AsyncIterable<Buffer>,
        close: () => {
          try {
            closeSync(fd);
          } catch {
            /* closed already */
          }
        },
      };
    }
    const store = new FileTarStore(fd, location, dopts, paths);
    store.reader = new TarFileReader(fd, { end: size, label: location });
    store.list(size);
    return { store };
  }

  private list(size: number): void {
    try {
      for (const e of this.reader.entries()) {
        const p = this.index.add(e);
        if (p === 'stop') break;
        if (p !== null) this.bodies.set(p, { offset: this.reader.bodyOffset(e), size: e.size });
      }
    } catch (err) {
      if (!(err instanceof TarError)) throw err;
      this.problems.push(problem('error', err.code === 'tar.truncated' ? 'archive.truncated' : err.code, `archive unreadable past this point: ${err.message}`, this.location));
    }
    this.index.finish();
    const end = this.reader.endOffset;
    if (end !== null && end < size) {
      const trailing = size - end;
      const look = preadAll(this.fd, end, Math.min(trailing, MAX_AFTER_END));
      const nz = look.findIndex((b) => b !== 0);
      if (nz >= 0)
        this.problems.push(
          problem('warning', 'archive.trailing-data', `${trailing} bytes follow the end-of-archive marker (offset ${end - 512}), not all zeros (first non-zero byte at offset ${end + nz}): ignored, as docker load ignores them, but they may hide data (another archive appended?)`, this.location),
        );
      else if (trailing > MAX_AFTER_END)
        this.problems.push(problem('warning', 'archive.trailing-data', `${trailing} bytes follow the end-of-archive marker (offset ${end - 512}); the first ${MAX_AFTER_END} are zeros, the rest was not read`, this.location));
    }
  }

  readJson(path: string): { path: string; bytes: Buffer } | null {
    const p = resolveExisting(this.members, path);
    if (p === null) return null;
    const b = this.bodies.get(p)!;
    return { path: p, bytes: this.json.get(p, b.size, () => preadAll(this.fd, b.offset, b.size)) };
  }

  storedCompression(path: string): Compression | null {
    try {
      const b = this.bodies.get(resolveMember(this.members, path))!;
      return sniffCompression(preadAll(this.fd, b.offset, Math.min(6, b.size)));
    } catch {
      return null;
    }
  }

  async readLayer(path: string, opts: { verify: boolean }): Promise<StoredLayer> {
    let p: string;
    try {
      p = resolveMember(this.members, path);
    } catch (err) {
      return layerError(path, err);
    }
    // Repeated layers (symlinked in legacy saves, shared by images) are read once.
    const b = this.bodies.get(p)!;
    return copyLayer(await this.layers.get(p, opts.verify, (verify) => layerFromRange(this.paths, this.fd, b.offset, b.size, p, verify, this.dopts)));
  }

  async close(): Promise<void> {
    this.layers.clear();
    this.json.clear();
    closeSync(this.fd);
  }
}

// ------------------------------------------------------------------------------------------------------------

/** An OCI image layout directory. Walked with lstat; symlinks inside it are resolved within it, never followed. */
export class DirStore implements ArchiveStore {
  readonly seekable = true;
  readonly members = new Map<string, Member>();
  readonly problems: Problem[] = [];
  private readonly ev: Evidence;
  private readonly json = new JsonCache();
  private readonly layers = new LayerCache();

  constructor(private readonly root: string, private readonly dopts: DecompressOptions, readonly paths: PathTable) {
    this.ev = new Evidence(root);
    for (const name of ['oci-layout', 'index.json', 'manifest.json', 'repositories']) this.addPath(name);
    let n = 0;
    outer: for (const alg of this.safeReaddir('blobs')) {
      for (const hex of this.safeReaddir(`blobs/${alg}`)) {
        if (++n > MAX_MEMBERS) {
          this.problems.push(problem('error', 'archive.members.too-many', `more than ${MAX_MEMBERS} blobs: listing stopped; blobs after it were not examined`, joinPath(root, 'blobs')));
          break outer;
        }
        this.addPath(`blobs/${alg}/${hex}`);
      }
    }
  }

  private safeReaddir(p: string): string[] {
    try {
      return this.ev.readdir(p);
    } catch (err) {
      this.problems.push(problem('error', 'archive.dir.unreadable', (err as Error).message, joinPath(this.root, p)));
      return [];
    }
  }

  private addPath(p: string): void {
    try {
      const st = this.ev.lstat(p);
      if (!st) return;
      const type: Member['type'] = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      const linkname = type === 'symlink' ? (this.ev.readlink(p) ?? '') : '';
      this.members.set(p, { path: p, type, linkname, size: st.size, offset: null });
    } catch (err) {
      this.problems.push(problem('error', 'archive.dir.unreadable', (err as Error).message, joinPath(this.root, p)));
    }
  }

  readJson(path: string): { path: string; bytes: Buffer } | null {
    const p = resolveExisting(this.members, path);
    if (p === null) return null;
    const bytes = this.json.get(p, this.members.get(p)!.size, () => {
      try {
        const b = this.ev.readFile(MAX_JSON, p);
        if (b === null) throw new ArchiveMemberError('archive.member.missing', `${quoteMember(p)} vanished while being read`);
        return b;
      } catch (err) {
        if (err instanceof ArchiveMemberError) throw err;
        throw new ArchiveMemberError('archive.member.unreadable', `${quoteMember(p)}: ${(err as Error).message}`);
      }
    });
    return { path: p, bytes };
  }

  private openMember(p: string): number {
    return openNoFollow(this.ev.path(p));
  }

  storedCompression(path: string): Compression | null {
    let fd: number | null = null;
    try {
      fd = this.openMember(resolveMember(this.members, path));
      return sniffCompression(preadAll(fd, 0, 6));
    } catch {
      return null;
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  async readLayer(path: string, opts: { verify: boolean }): Promise<StoredLayer> {
    let p: string;
    try {
      p = resolveMember(this.members, path);
    } catch (err) {
      return layerError(path, err);
    }
    const read = async (verify: boolean): Promise<StoredLayer> => {
      let fd: number;
      try {
        fd = this.openMember(p);
      } catch (err) {
        return layerError(p, new Error(describeFsError(err)));
      }
      try {
        const st = fstatSync(fd);
        if (!st.isFile()) return layerError(p, new Error('is not a regular file'));
        return await layerFromRange(this.paths, fd, 0, st.size, p, verify, this.dopts);
      } finally {
        closeSync(fd);
      }
    };
    return copyLayer(await this.layers.get(p, opts.verify, read));
  }

  async close(): Promise<void> {
    this.layers.clear();
    this.json.clear();
  }
}

// ------------------------------------------------------------------------------------------------------------

/**
 * An archive read in one pass. JSON members are kept (within the JSON budget); every other regular member is
 * parsed as a (possibly compressed) layer tar on the fly and only its entry list and hashes are kept, never its
 * bytes. Everything read is hashed.
 */
export class StreamStore implements ArchiveStore {
  readonly seekable = false;
  readonly problems: Problem[] = [];
  private readonly index: MemberIndex;
  private readonly small = new Map<string, Buffer>();
  private smallBytes = 0;
  /** JSON-looking members not kept because the budget was spent: name -> size. */
  private readonly notKept = new Map<string, number>();
  private readonly layers = new Map<string, StoredLayer>();
  /** True when we stopped reading before the source ended (an error, a bound): a writer may have seen EPIPE. */
  stoppedEarly = false;

  get members(): ReadonlyMap<string, Member> {
    return this.index.members;
  }

  private constructor(label: string, readonly paths: PathTable) {
    this.index = new MemberIndex(label, this.problems);
  }

  static async scan(
    input: AsyncIterable<Buffer | Uint8Array>,
    label: string,
    dopts: DecompressOptions,
    paths: PathTable,
    progress?: (done: number, detail: string) => void,
  ): Promise<StreamStore> {
    const store = new StreamStore(label, paths);
    let peeked: { head: Buffer; stream: AsyncIterable<Buffer> };
    try {
      peeked = await peek(input, 6);
    } catch (err) {
      // the source cannot be read at all (a socket, a device that refuses reads, stdin closed in error...)
      if (isSystemError(err)) throw new SourceError('source.unreadable', `cannot read: ${describeFsError(err)}`, label);
      throw err;
    }
    const { head, stream } = peeked;
    const compression = sniffCompression(head);
    // A member cannot be bigger than what a layer may decompress to (the bomb guard's output cap), and a stream
    // cannot skip a body without reading it: a header claiming more stops the reading at once.
    const maxMemberSize = dopts.maxOutput ?? DEFAULT_LIMITS.maxOutput;
    let n = 0;
    let src: ByteSource | null = null;
    const state: TarStreamState = { endMarker: false };
    /** The tar reader came to the end of the source (or to its end marker): nothing to cancel. */
    let completed = false;
    let stopAt: number | null = null;
    try {
      const plain = decompress(stream, compression, { ...dopts, label });
      src = new ByteSource(plain);
      for await (const e of readTarStream(src, { label, afterEnd: { max: MAX_AFTER_END }, maxMemberSize, state })) {
        const path = store.index.add(e);
        if (path === 'stop') {
          stopAt = e.headerOffset;
          break;
        }
        if (path === null || e.type !== 'file') continue;
        const p = await peek(e.body(), 1024);
        const first = p.head.toString('latin1').trimStart()[0];
        // A tar header comes first: a layer whose first member is named `{x}` is still a layer. The root documents
        // are kept whatever they start with, so that what is wrong with them can be said precisely.
        if ((first === '{' || first === '[' || ROOT_DOCS.has(path)) && e.size <= MAX_JSON && !isTarHead(p.head)) {
          const prev = store.small.get(path);
          if (store.smallBytes - (prev?.length ?? 0) + e.size > MAX_JSON_TOTAL) {
            store.notKept.set(path, e.size);
            store.index.sink.add(
              problem('error', 'archive.json.budget', `JSON member ${quoteMember(path)} (${e.size} bytes, offset ${e.headerOffset}) not kept: the JSON members kept from this stream would pass ${MAX_JSON_TOTAL} bytes in all; an image that needs it cannot be read`, path),
              'JSON members not kept (budget spent)',
            );
            continue; // its body is skipped by the tar reader
          }
          const chunks: Buffer[] = [];
          for await (const c of p.stream) chunks.push(Buffer.from(c));
          const bytes = Buffer.concat(chunks);
          store.smallBytes += bytes.length - (prev?.length ?? 0);
          store.small.set(path, bytes);
          store.notKept.delete(path);
          store.layers.delete(path);
          continue;
        }
        const replaced = store.small.get(path);
        if (replaced) {
          store.small.delete(path);
          store.smallBytes -= replaced.length;
        }
        store.notKept.delete(path);
        if (p.head.length === 0) continue;
        progress?.(++n, path);
        const r = await readLayerFromStream(p.stream, path, dopts);
        const stored: StoredLayer = { ...kept(store.paths, r.changes), compression: r.compression, blobDigest: r.blobDigest, diffId: r.diffId, member: path, storedBytes: r.storedBytes };
        // not a layer: keep only its digest (a blob some manifest may name)
        if (!r.isTar) {
          stored.table = null;
          stored.problems = [problem('error', 'layer.not-tar', 'layer blob is not a tar (nor a gzip/zstd-compressed one)', path)];
        }
        store.layers.set(path, stored);
      }
      completed = stopAt === null;
    } catch (err) {
      if (isSystemError(err)) store.problems.push(problem('error', 'archive.read-error', `archive unreadable past this point: ${describeFsError(err)}`, label));
      else if (!(err instanceof TarError) && !(err instanceof CompressionError)) throw err;
      else
        store.problems.push(
          problem('error', err instanceof TarError && err.code === 'tar.truncated' ? 'archive.truncated' : err.code, `archive unreadable past this point: ${err.message}`, label),
        );
    } finally {
      // Stopped early (error, too many members): release the source, so that a `docker save` child is not left
      // blocked on a full pipe and stdin is closed.
      if (src && !completed) {
        store.stoppedEarly = true;
        await src.cancel().catch(() => undefined);
      }
    }
    if (state.trailing?.stopped) store.stoppedEarly = true;
    store.index.finish();
    const t = state.trailing;
    if (t && t.stopped)
      store.problems.push(
        problem(
          'warning',
          'archive.trailing-data',
          `the stream goes on past ${MAX_AFTER_END} bytes after the end-of-archive marker (offset ${t.endOffset}): reading stopped there${t.firstNonZero !== null ? ` (not all zeros: first non-zero byte at offset ${t.firstNonZero})` : ' (all zeros so far)'}; what follows was not examined (docker load ignores data after the marker too)`,
          label,
        ),
      );
    else if (t && t.firstNonZero !== null)
      store.problems.push(
        problem('warning', 'archive.trailing-data', `${t.bytes} bytes follow the end-of-archive marker (offset ${t.endOffset}), not all zeros (first non-zero byte at offset ${t.firstNonZero}): ignored, as docker load ignores them, but they may hide data (another archive appended?)`, label),
      );
    return store;
  }

  readJson(path: string): { path: string; bytes: Buffer } | null {
    const p = resolveExisting(this.members, path);
    if (p === null) return null;
    const b = this.small.get(p);
    if (b) return { path: p, bytes: b };
    const m = this.members.get(p)!;
    const q = quoteMember(p);
    if (this.notKept.has(p))
      throw new ArchiveMemberError('archive.json.budget', `${q} (${m.size} bytes) was not kept: the JSON members before it in the stream had spent the ${MAX_JSON_TOTAL}-byte budget`);
    if (m.size > MAX_JSON) throw new ArchiveMemberError('archive.member.too-large', `${q} is ${m.size} bytes, more than the ${MAX_JSON} a JSON member may have here; not read`);
    if (m.size === 0) throw new ArchiveMemberError('archive.json.invalid', `${q} is empty, not JSON`);
    if (this.layers.has(p)) throw new ArchiveMemberError('archive.json.invalid', `${q} is not JSON (it does not start with { or [)`);
    throw new ArchiveMemberError('archive.member.unread', `${q} was not read (the stream stopped before it, or it is not a regular file)`);
  }

  storedCompression(path: string): Compression | null {
    try {
      return this.layers.get(resolveMember(this.members, path))?.compression ?? null;
    } catch {
      return null;
    }
  }

  async readLayer(path: string): Promise<StoredLayer> {
    let p: string;
    try {
      p = resolveMember(this.members, path);
    } catch (err) {
      return layerError(path, err);
    }
    const l = this.layers.get(p);
    if (l) return copyLayer(l);
    if (this.small.has(p)) return layerError(p, new Error('member is JSON, not a layer tar'));
    if (this.notKept.has(p)) return layerError(p, new Error('member looked like JSON and was not kept (JSON budget spent), so it was not read as a layer'));
    if ((this.members.get(p)?.size ?? 0) === 0)
      return {
        table: null,
        problems: [problem('warning', 'layer.empty-blob', 'layer member is empty (0 bytes)', p)],
        compression: null,
        blobDigest: null,
        diffId: null,
        member: p,
        storedBytes: 0,
      };
    return layerError(p, new Error('member was not read (the archive stream ended early?)'));
  }

  async close(): Promise<void> {
    this.small.clear();
    this.layers.clear();
  }
}
