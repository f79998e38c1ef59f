/**
 * The members of an image archive, whatever holds them: a tar file we can seek in, an OCI layout directory, or
 * a stream read once (stdin, `docker save` output, a compressed archive). The image logic (images.ts) sees only
 * this interface.
 */
import { closeSync, fstatSync, readSync, realpathSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { cleanLayerPath, displayPath, joinPath, parentPath, UnsafePathError } from '../../model/path.js';
import { SourceError } from '../../model/errors.js';
import { problem, type LayerChanges, type Problem } from '../../model/types.js';
import { Evidence, describeFsError, openNoFollow } from '../evidence.js';
import { TarError, CompressionError } from '../tar/errors.js';
import { TarFileReader, rangeStream } from '../tar/file-reader.js';
import type { TarEntry } from '../tar/header.js';
import { decompress, peek, sniffCompression, type Compression, type DecompressOptions } from '../tar/decompress.js';
import { isTarHead, readLayerFromFile, readLayerFromStream } from '../tar/layer-reader.js';
import { readTarStream } from '../tar/stream-reader.js';

/** JSON members (manifests, configs, indexes) larger than this are refused. */
export const MAX_JSON = 32 * 1024 * 1024;
/** Symlink hops followed inside an archive before calling it a loop. */
const MAX_HOPS = 40;

export interface Member {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  /** For symlinks as stored; for hardlinks the cleaned archive path. */
  linkname: string;
  size: number;
}

export interface StoredLayer {
  changes: LayerChanges;
  compression: Compression | null;
  /** sha256 of the stored bytes, when they were read. */
  blobDigest: string | null;
  /** sha256 of the uncompressed tar, when it was read. */
  diffId: string | null;
}

export interface ArchiveStore {
  readonly members: ReadonlyMap<string, Member>;
  /** Problems met while listing the archive itself. */
  readonly problems: Problem[];
  /** Bytes of a JSON member (links resolved first); null when absent. */
  readSmall(path: string): Buffer | null;
  /** The changes of the layer tar stored at `path` (resolved). */
  readLayer(path: string, opts: { verify: boolean }): Promise<StoredLayer>;
  close(): Promise<void>;
}

export class ArchiveLinkError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * Follow symlinks and hardlinks between members (repeated layers in `docker save` are symlinks
 * `layer.tar -> ../<id>/layer.tar`) without ever leaving the archive. Symlinks in parent components are
 * resolved too. Returns the member path of a regular file, or throws {@link ArchiveLinkError}.
 */
export function resolveMember(members: ReadonlyMap<string, Member>, path: string): string {
  let cur = path;
  const seen = new Set<string>();
  for (let hops = 0; ; hops++) {
    if (hops > MAX_HOPS || seen.has(cur)) throw new ArchiveLinkError('archive.link.loop', `links loop while resolving ${JSON.stringify(displayPath(path))}`);
    seen.add(cur);
    const m = members.get(cur);
    if (!m) {
      // a parent component may be a symlink
      const rewritten = resolveParents(members, cur);
      if (rewritten === null) throw new ArchiveLinkError('archive.member.missing', `${JSON.stringify(displayPath(path))} is not in the archive`);
      cur = rewritten;
      continue;
    }
    if (m.type === 'file') return cur;
    if (m.type === 'hardlink') {
      cur = m.linkname;
      continue;
    }
    if (m.type === 'symlink') {
      try {
        cur = cleanLayerPath(m.linkname.startsWith('/') ? m.linkname : joinPath(parentPath(cur), m.linkname));
      } catch (err) {
        if (err instanceof UnsafePathError) throw new ArchiveLinkError('archive.link.unsafe', `link ${JSON.stringify(displayPath(cur))} points outside the archive`);
        throw err;
      }
      continue;
    }
    throw new ArchiveLinkError('archive.member.not-file', `${JSON.stringify(displayPath(cur))} is a ${m.type}, not a file`);
  }
}

/** resolveMember, or null when the member (or a link's target) is simply not in the archive. */
function resolveExisting(members: Map<string, Member>, path: string): string | null {
  try {
    return resolveMember(members, path);
  } catch (err) {
    if (err instanceof ArchiveLinkError && err.code === 'archive.member.missing') return null;
    throw err;
  }
}

function resolveParents(members: ReadonlyMap<string, Member>, path: string): string | null {
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    const m = members.get(prefix);
    if (m?.type === 'symlink') {
      let target: string;
      try {
        target = cleanLayerPath(m.linkname.startsWith('/') ? m.linkname : joinPath(parentPath(prefix), m.linkname));
      } catch {
        throw new ArchiveLinkError('archive.link.unsafe', `link ${JSON.stringify(displayPath(prefix))} points outside the archive`);
      }
      return joinPath(target, parts.slice(i).join('/'));
    }
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
  return { path, type, linkname, size: e.size };
}

function layerError(label: string, err: unknown): StoredLayer {
  const code = err instanceof ArchiveLinkError || err instanceof TarError || err instanceof CompressionError ? err.code : 'layer.unreadable';
  return {
    changes: { entries: [], problems: [problem('error', code, `layer unreadable: ${(err as Error).message}`, label)] },
    compression: null,
    blobDigest: null,
    diffId: null,
  };
}

/** sha256 of a byte range of an fd. */
async function hashRange(fd: number, start: number, length: number): Promise<string> {
  const h = createHash('sha256');
  for await (const c of rangeStream(fd, start, length)) h.update(c as Buffer);
  return 'sha256:' + h.digest('hex');
}

/** A layer stored at [start, start+length) of an open file: seek over bodies when uncompressed. */
async function layerFromRange(fd: number, start: number, length: number, label: string, verify: boolean, dopts: DecompressOptions): Promise<StoredLayer> {
  const head = Buffer.alloc(Math.min(1024, length));
  readSync(fd, head, 0, head.length, start);
  const compression = sniffCompression(head);
  if (compression === 'none' && (isTarHead(head) || length === 0)) {
    const changes = readLayerFromFile(fd, start, start + length, label);
    const digest = verify ? await hashRange(fd, start, length) : null;
    return { changes, compression, blobDigest: digest, diffId: digest };
  }
  const r = await readLayerFromStream(rangeStream(fd, start, length), label, dopts);
  if (!r.isTar) r.changes.problems.push(problem('error', 'layer.not-tar', 'layer blob is not a tar (nor a gzip/zstd-compressed one)', label));
  return { changes: r.changes, compression: r.compression, blobDigest: r.blobDigest, diffId: r.diffId };
}

// ------------------------------------------------------------------------------------------------------------

/** A tar file we can seek in. Returns null when the file is compressed (read it as a stream instead). */
export class FileTarStore implements ArchiveStore {
  readonly members = new Map<string, Member>();
  private readonly entries = new Map<string, TarEntry>();
  readonly problems: Problem[] = [];
  private reader!: TarFileReader;

  private constructor(private readonly fd: number, private readonly location: string, private readonly dopts: DecompressOptions) {}

  static open(location: string, dopts: DecompressOptions): { store: FileTarStore } | { compressed: Compression; fd: number } {
    let fd: number;
    try {
      // The path the user named may be a symlink (their own, not evidence): resolve it, then open the file.
      fd = openNoFollow(realpathSync(location));
    } catch (err) {
      throw new SourceError('source.unreadable', `cannot open: ${describeFsError(err)}`, location);
    }
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(1024, size));
    readSync(fd, head, 0, head.length, 0);
    const compression = sniffCompression(head);
    if (compression !== 'none') return { compressed: compression, fd };
    const store = new FileTarStore(fd, location, dopts);
    store.reader = new TarFileReader(fd, { end: size, label: location });
    store.list();
    return { store };
  }

  private list(): void {
    try {
      for (const e of this.reader.entries()) this.add(e);
    } catch (err) {
      if (!(err instanceof TarError)) throw err;
      this.problems.push(problem('error', err.code === 'tar.truncated' ? 'archive.truncated' : err.code, `archive unreadable past this point: ${err.message}`, this.location));
    }
  }

  private add(e: TarEntry): void {
    let path: string;
    try {
      path = cleanLayerPath(e.name);
    } catch (err) {
      if (!(err instanceof UnsafePathError)) throw err;
      this.problems.push(problem('error', 'archive.member.unsafe', `member at offset ${e.headerOffset} ignored: ${err.message}`, this.location));
      return;
    }
    if (path === '') return;
    this.members.set(path, memberFromEntry(path, e));
    this.entries.set(path, e);
  }

  readSmall(path: string): Buffer | null {
    const p = resolveExisting(this.members, path);
    if (p === null) return null;
    return this.reader.readBody(this.entries.get(p)!, MAX_JSON);
  }

  private readonly cache = new Map<string, Promise<StoredLayer>>();

  async readLayer(path: string, opts: { verify: boolean }): Promise<StoredLayer> {
    let p: string;
    try {
      p = resolveMember(this.members, path);
    } catch (err) {
      return layerError(path, err);
    }
    // Repeated layers (symlinked in legacy saves, shared by images) are read once.
    const key = `${p}\0${opts.verify}`;
    let r = this.cache.get(key);
    if (!r) {
      const e = this.entries.get(p)!;
      r = layerFromRange(this.fd, this.reader.bodyOffset(e), e.size, p, opts.verify, this.dopts);
      this.cache.set(key, r);
    }
    const l = await r;
    return { ...l, changes: { entries: l.changes.entries, problems: [...l.changes.problems] } };
  }

  async close(): Promise<void> {
    this.cache.clear();
    closeSync(this.fd);
  }
}

// ------------------------------------------------------------------------------------------------------------

/** An OCI image layout directory. Walked with lstat; symlinks inside it are resolved within it, never followed. */
export class DirStore implements ArchiveStore {
  readonly members = new Map<string, Member>();
  readonly problems: Problem[] = [];
  private readonly ev: Evidence;

  constructor(private readonly root: string, private readonly dopts: DecompressOptions) {
    this.ev = new Evidence(root);
    for (const name of ['oci-layout', 'index.json', 'manifest.json', 'repositories']) this.addPath(name);
    for (const alg of this.safeReaddir('blobs')) {
      for (const hex of this.safeReaddir(`blobs/${alg}`)) this.addPath(`blobs/${alg}/${hex}`);
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
      this.members.set(p, { path: p, type, linkname, size: st.size });
    } catch (err) {
      this.problems.push(problem('error', 'archive.dir.unreadable', (err as Error).message, joinPath(this.root, p)));
    }
  }

  readSmall(path: string): Buffer | null {
    const p = resolveExisting(this.members, path);
    if (p === null) return null;
    return this.ev.readFile(MAX_JSON, p);
  }

  async readLayer(path: string, opts: { verify: boolean }): Promise<StoredLayer> {
    let p: string;
    try {
      p = resolveMember(this.members, path);
    } catch (err) {
      return layerError(path, err);
    }
    let fd: number;
    try {
      fd = openNoFollow(this.ev.path(p));
    } catch (err) {
      return layerError(p, new Error(describeFsError(err)));
    }
    try {
      return await layerFromRange(fd, 0, fstatSync(fd).size, p, opts.verify, this.dopts);
    } finally {
      closeSync(fd);
    }
  }

  async close(): Promise<void> {}
}

// ------------------------------------------------------------------------------------------------------------

/**
 * An archive read in one pass. JSON members are kept; every other regular member is parsed as a (possibly
 * compressed) layer tar on the fly and only its entry list and hashes are kept, never its bytes.
 */
export class StreamStore implements ArchiveStore {
  readonly members = new Map<string, Member>();
  readonly problems: Problem[] = [];
  private readonly small = new Map<string, Buffer>();
  private readonly layers = new Map<string, StoredLayer>();

  private constructor(private readonly label: string) {}

  static async scan(
    input: AsyncIterable<Buffer | Uint8Array>,
    label: string,
    dopts: DecompressOptions,
    progress?: (done: number, detail: string) => void,
  ): Promise<StreamStore> {
    const store = new StreamStore(label);
    const { head, stream } = await peek(input, 6);
    const compression = sniffCompression(head);
    let n = 0;
    try {
      const plain = decompress(stream, compression, { ...dopts, label });
      for await (const e of readTarStream(plain, { label, drainAfterEnd: true })) {
        let path: string;
        try {
          path = cleanLayerPath(e.name);
        } catch (err) {
          if (!(err instanceof UnsafePathError)) throw err;
          store.problems.push(problem('error', 'archive.member.unsafe', `member at offset ${e.headerOffset} ignored: ${err.message}`, label));
          continue;
        }
        if (path === '') continue;
        store.members.set(path, memberFromEntry(path, e));
        if (e.type !== 'file') continue;
        const p = await peek(e.body(), 1024);
        const first = p.head.toString('latin1').trimStart()[0];
        // A tar header comes first: a layer whose first member is named `{x}` is still a layer.
        if ((first === '{' || first === '[') && e.size <= MAX_JSON && !isTarHead(p.head)) {
          const chunks: Buffer[] = [];
          for await (const c of p.stream) chunks.push(Buffer.from(c));
          store.small.set(path, Buffer.concat(chunks));
          continue;
        }
        if (p.head.length === 0) continue;
        progress?.(++n, path);
        const r = await readLayerFromStream(p.stream, path, dopts);
        if (!r.isTar) {
          // not a layer: keep only its digest (a blob some manifest may name)
          store.layers.set(path, {
            changes: { entries: [], problems: [problem('error', 'layer.not-tar', 'layer blob is not a tar (nor a gzip/zstd-compressed one)', path)] },
            compression: r.compression,
            blobDigest: r.blobDigest,
            diffId: null,
          });
        } else store.layers.set(path, { changes: r.changes, compression: r.compression, blobDigest: r.blobDigest, diffId: r.diffId });
      }
    } catch (err) {
      if (!(err instanceof TarError) && !(err instanceof CompressionError)) throw err;
      store.problems.push(
        problem('error', err instanceof TarError && err.code === 'tar.truncated' ? 'archive.truncated' : err.code, `archive unreadable past this point: ${err.message}`, label),
      );
    }
    return store;
  }

  readSmall(path: string): Buffer | null {
    const p = resolveExisting(this.members, path);
    if (p === null) return null;
    const b = this.small.get(p);
    if (b) return b;
    const m = this.members.get(p)!;
    if (m.size > MAX_JSON) throw new ArchiveLinkError('archive.member.too-large', `${JSON.stringify(displayPath(p))} is ${m.size} bytes, too large for a JSON member`);
    // a member that did not look like JSON when it went by
    return this.layers.has(p) ? Buffer.from('not JSON') : Buffer.alloc(0);
  }

  async readLayer(path: string): Promise<StoredLayer> {
    let p: string;
    try {
      p = resolveMember(this.members, path);
    } catch (err) {
      return layerError(path, err);
    }
    const l = this.layers.get(p);
    if (l) return { ...l, changes: { entries: l.changes.entries, problems: [...l.changes.problems] } };
    if (this.small.has(p)) return layerError(p, new Error('member is JSON, not a layer tar'));
    if ((this.members.get(p)?.size ?? 0) === 0)
      return { changes: { entries: [], problems: [problem('warning', 'layer.empty-blob', 'layer member is empty (0 bytes)', p)] }, compression: null, blobDigest: null, diffId: null };
    return layerError(p, new Error('member was not read (the archive stream ended early?)'));
  }

  async close(): Promise<void> {
    this.small.clear();
    this.layers.clear();
  }

}
