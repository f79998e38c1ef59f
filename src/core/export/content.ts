import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { storeOf, type Source } from '../model/source.js';
import type { ImageInfo } from '../model/types.js';
import { pathToBytes, displayPath } from '../model/path.js';
import { LayerscopeError } from '../model/errors.js';
import { openNoFollow, describeFsError } from '../sources/evidence.js';
import { archiveReader } from './archive-content.js';

/**
 * Reading the bytes of a file as one layer stores it: the one thing `extract`, `export` and `diff --content`
 * need beyond the model, which holds attributes only.
 *
 * - Directory-backed layers (Docker data roots, containerd snapshots: LayerInfo.location is the layer's diff dir):
 *   the file is `location/path`; every component above it is lstat'ed and must be a real directory (a planted
 *   symlink is refused, not followed), and the file is opened O_NOFOLLOW (and O_NOATIME when allowed), then
 *   fstat'ed to be a regular file.
 * - Any other source may offer `openLayerFile(image, layer, path)` (duck-typed, see {@link LayerFileSource}).
 * - Image archives we can read again (an uncompressed archive file, an OCI layout dir): archive-content.ts
 *   re-reads the layer blobs itself. Archives read once (stdin, docker:REF, a compressed save) cannot give
 *   contents: {@link contentReader} returns null and the commands say so.
 */

export class ContentError extends LayerscopeError {
  override name = 'ContentError';
}

/** What an archive source may add to offer content (optional; not part of the Source contract yet). */
export interface LayerFileSource {
  openLayerFile(image: ImageInfo, layer: number, path: string): Promise<AsyncIterable<Uint8Array> | null>;
}

export interface ContentReader {
  /** How the bytes are read, for reports. */
  readonly kind: 'diff-dir' | 'source' | 'archive';
  /**
   * The bytes of `path` in layer `layer` (for a hardlink entry, pass the path of any of its names in that layer).
   * `expectedSize` is checked when given: a different length is an error (the evidence changed under us, or the
   * model and the disk disagree).
   */
  read(image: ImageInfo, layer: number, path: string, expectedSize?: number): AsyncIterable<Buffer>;
  /**
   * Readers for which one file costs a pass over its layer (archives) also offer this: every wanted path of one
   * layer, in storage order, in one pass. `body` is valid only until the callback's promise settles. Returns the
   * paths that were not found.
   */
  forEach?(image: ImageInfo, layer: number, wanted: ReadonlySet<string>, cb: (path: string, body: AsyncIterable<Buffer>, stored: StoredBody) => Promise<void>): Promise<Set<string>>;
  /**
   * Open one file and say first how many bytes the evidence really holds for it (the diff dir file's size on
   * disk), then give exactly those (the body stops there even if the file grows; fewer when it shrinks). For
   * writers that must announce a size before the bytes (a tar header): a size claimed by the model is not
   * trusted to drive the work.
   */
  open?(image: ImageInfo, layer: number, path: string): Promise<SizedBody>;
  /** Release what the reader holds open (an archive's file descriptor). */
  close?(): void;
}

/** What the evidence stores for one file: `size` bytes (a tar member's stored body; for a GNU sparse member
 * that is the packed data, not the file it stands for, which is not reconstructed). */
export interface StoredBody {
  size: number;
  sparse: boolean;
}

export interface SizedBody {
  size: number;
  body: AsyncIterable<Buffer>;
}

function hasLayerFile(s: unknown): s is LayerFileSource {
  return typeof (s as Partial<LayerFileSource>)?.openLayerFile === 'function';
}

/** True when every layer of the image lives in a real directory on this host. */
function dirBacked(image: ImageInfo): boolean {
  return image.layers.every((l) => {
    if (!l.location || !l.location.startsWith('/')) return false;
    try {
      return fs.lstatSync(l.location).isDirectory();
    } catch {
      return false;
    }
  });
}

/** A reader for the source's layers, or null when the source cannot give file contents. */
export function contentReader(source: Source, image: ImageInfo): ContentReader | null {
  return baseReader(source, image) ?? archiveReader(source, image);
}

function baseReader(source: Source, image: ImageInfo): ContentReader | null {
  const kind = storeOf(source, image).kind;
  if ((kind === 'docker-root' || kind === 'containerd-root' || kind === 'containers-storage') && dirBacked(image)) return diffDirReader();
  if (hasLayerFile(source)) {
    return {
      kind: 'source',
      async *read(img, layer, path, expectedSize) {
        const it = await source.openLayerFile(img, layer, path);
        if (!it) throw new ContentError('content.missing', `layer ${layer} holds no content for this path`, '/' + displayPath(path));
        let n = 0;
        for await (const chunk of it) {
          const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          n += b.length;
          yield b;
        }
        if (expectedSize !== undefined && n !== expectedSize) throw new ContentError('content.size-mismatch', `layer ${layer}: ${n} bytes read, ${expectedSize} expected`, '/' + displayPath(path));
      },
    };
  }
  return null;
}

/** Host path (raw bytes) of a layer path below a diff dir, refusing symlinked or non-dir parents. */
export function safeHostPath(dir: string, path: string): Buffer {
  const base = Buffer.from(dir, 'utf8');
  const parts = path.split('/');
  let cur = base;
  for (let i = 0; i < parts.length; i++) {
    const c = parts[i]!;
    if (c === '' || c === '.' || c === '..' || c.includes('\0')) throw new ContentError('content.unsafe-path', `refusing path component ${JSON.stringify(displayPath(c))}`, dir);
    cur = Buffer.concat([cur, SLASH, pathToBytes(c)]);
    if (i < parts.length - 1) {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(cur);
      } catch (err) {
        throw new ContentError('content.unreadable', describeFsError(err), hostShow(dir, parts.slice(0, i + 1).join('/')));
      }
      if (!st.isDirectory()) throw new ContentError('content.unsafe-path', st.isSymbolicLink() ? 'a parent is a symlink inside the evidence; not followed' : 'a parent is not a directory', hostShow(dir, parts.slice(0, i + 1).join('/')));
    }
  }
  return cur;
}

const SLASH = Buffer.from('/');

const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

/**
 * Open the file at `path` below `dir` one component at a time, each relative to the directory opened before it
 * (through /proc/self/fd: Node has no openat): no component is ever a symlink followed (O_NOFOLLOW on each), the
 * kernel never resolves more than one name at a time (a tree 10,000 dirs deep, past PATH_MAX, opens as any
 * other), and the cost is one open per component.
 */
function openBelow(dir: string, path: string): number {
  const parts = path.split('/');
  for (const c of parts) {
    if (c === '' || c === '.' || c === '..' || c.includes('\0')) throw new ContentError('content.unsafe-path', `refusing path component ${JSON.stringify(displayPath(c))}`, dir);
  }
  let dfd: number;
  try {
    dfd = fs.openSync(dir, O_DIR);
  } catch (err) {
    throw new ContentError('content.unreadable', describeFsError(err), dir);
  }
  const at = (fd: number, name: string) => Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), pathToBytes(name)]);
  try {
    for (let i = 0; i < parts.length - 1; i++) {
      let next: number;
      try {
        next = fs.openSync(at(dfd, parts[i]!), O_DIR);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const where = hostShow(dir, parts.slice(0, i + 1).join('/'));
        if (code === 'ELOOP') throw new ContentError('content.unsafe-path', 'a parent is a symlink inside the evidence; not followed', where);
        if (code === 'ENOTDIR') throw new ContentError('content.unsafe-path', 'a parent is not a directory', where);
        throw new ContentError('content.unreadable', describeFsError(err), where);
      }
      fs.closeSync(dfd);
      dfd = next;
    }
    try {
      return openNoFollow(at(dfd, parts[parts.length - 1]!));
    } catch (err) {
      throw new ContentError('content.unreadable', describeFsError(err), hostShow(dir, path));
    }
  } finally {
    fs.closeSync(dfd);
  }
}
const CHUNK = 1 << 20;
/** Bytes of holes (apparent size over allocated blocks) a diff-dir file may have and still be copied out. */
export const MAX_HOLES = 1024 ** 3;

function hostShow(dir: string, rel: string): string {
  return dir + '/' + displayPath(rel);
}

function diffDirReader(): ContentReader {
  const b = dirBodies<ImageInfo>((image, layer) => {
    const info = image.layers[layer];
    if (!info?.location) throw new ContentError('content.no-layer', `layer ${layer} has no directory`, null);
    return info.location;
  });
  return { kind: 'diff-dir', read: b.read, open: b.open };
}

/**
 * Where the bytes of planned items come from, whatever holds them: one image's layers (a ContentReader bound to
 * the image), or one directory (a volume, a bind source), whose one "layer" is 0.
 */
export interface ItemBodies {
  read(layer: number, path: string, expectedSize?: number): AsyncIterable<Buffer>;
  forEach?(layer: number, wanted: ReadonlySet<string>, cb: (path: string, body: AsyncIterable<Buffer>, stored: StoredBody) => Promise<void>): Promise<Set<string>>;
}

/** A ContentReader bound to one image. */
export function imageBodies(reader: ContentReader, image: ImageInfo): ItemBodies {
  const forEach = reader.forEach?.bind(reader);
  return { read: (layer, path, size) => reader.read(image, layer, path, size), ...(forEach ? { forEach: (layer, wanted, cb) => forEach(image, layer, wanted, cb) } : {}) };
}

/** The bytes of files below one directory of the evidence (a volume's _data, a bind source): same rules as a diff dir. */
export function treeBodies(dir: string): ItemBodies {
  const b = dirBodies<null>(() => dir);
  return { read: (layer, path, size) => b.read(null, layer, path, size) };
}

/**
 * Files below a directory of the evidence, found by `dirOf(key, layer)`: every component above the file is
 * lstat'ed (a symlink is refused), the file is opened O_NOFOLLOW and must be a regular file.
 */
function dirBodies<K>(dirOf: (key: K, layer: number) => string) {
  const open = (key: K, layer: number, path: string): { size: number; fd: number; where: string } => {
    const dir = dirOf(key, layer);
    const where = hostShow(dir, path);
    const fd = openBelow(dir, path);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new ContentError('content.not-a-file', 'is not a regular file', where);
      // A file made big with truncate costs the evidence no block, and copying it would cost a terabyte of zeros
      // (Node cannot seek to data or holes to write it sparse). Past MAX_HOLES of holes it is not copied.
      const holes = st.size - st.blocks * 512;
      if (holes > MAX_HOLES)
        throw new ContentError('content.sparse', `a sparse file of ${st.size} bytes with ${st.blocks * 512} allocated: more than ${MAX_HOLES} bytes of holes are not copied out as zeros`, where);
      return { size: st.size, fd, where };
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  };
  /** At most `size` bytes of an open file, then closed. */
  async function* body(fd: number, size: number): AsyncIterable<Buffer> {
    try {
      let pos = 0;
      while (pos < size) {
        // A fresh buffer per chunk (consumers may hold on to it: a stream write keeps a reference), sized to
        // what is left so a small file costs a small allocation.
        const want = Math.min(CHUNK, size - pos);
        const buf = Buffer.allocUnsafe(want);
        const n = fs.readSync(fd, buf, 0, want, pos);
        if (n === 0) break;
        pos += n;
        yield n === want ? buf : buf.subarray(0, n);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return {
    async *read(key: K, layer: number, path: string, expectedSize?: number): AsyncIterable<Buffer> {
      const f = open(key, layer, path);
      // Bounded by the size on disk when opened; one byte more is looked for to tell a file that grew.
      let pos = 0;
      for await (const b of body(f.fd, f.size + 1)) {
        pos += b.length;
        yield b;
      }
      if (pos > f.size) throw new ContentError('content.size-mismatch', `grew past its ${f.size} bytes while it was read`, f.where);
      if (expectedSize !== undefined && pos !== expectedSize) {
        throw new ContentError('content.size-mismatch', `${pos} bytes on disk, the layer records ${expectedSize} (changed since it was read?)`, f.where);
      }
    },
    async open(key: K, layer: number, path: string): Promise<SizedBody> {
      const f = open(key, layer, path);
      return { size: f.size, body: body(f.fd, f.size) };
    },
  };
}

/**
 * The layer whose dir holds the bytes the merged view at `top` shows for a file the model last saw change in
 * `rowLayer`. Layers kept as whole trees (vfs, btrfs, the first overlay driver) are read as the engine's naive
 * diff, which compares metadata only: a file rewritten in place with its size and mtime kept is no change, yet a
 * container reads the new bytes, from the topmost whole tree (or, for the first overlay driver's containers, from
 * the RW upper dir holding the copy), and `docker export` ships them. An overlay upper dir lists every entry it
 * holds, so on every other store this is `rowLayer`, and nothing is looked at.
 */
export function viewLayer(image: ImageInfo, rowLayer: number, top: number, path: string): number {
  const layers = image.layers;
  if (!layers.slice(0, top + 1).some((l) => l.layout === 'full')) return rowLayer;
  for (let i = top; i > rowLayer; i--) {
    const l = layers[i];
    if (!l?.location) continue;
    if (l.layout === 'full') return i;
    let fd: number | null = null;
    try {
      fd = openBelow(l.location, path);
      if (fs.fstatSync(fd).isFile()) return i;
    } catch {
      // not there (or not reachable without a symlink): the bytes are below
    } finally {
      if (fd !== null) fs.closeSync(fd);
    }
  }
  return rowLayer;
}

/** sha256 (or another digest) hex of a file's bytes through a reader. */
export async function hashContent(reader: ContentReader, image: ImageInfo, layer: number, path: string, expectedSize?: number, algorithm: 'sha256' | 'md5' = 'sha256'): Promise<string> {
  const h = createHash(algorithm);
  for await (const b of reader.read(image, layer, path, expectedSize)) h.update(b);
  return h.digest('hex');
}

/** Where a file's bytes are stored in its layer: a hardlink entry's are its target's. */
export function contentPath(path: string, attrs: { type: string; linkname?: string }): string {
  return attrs.type === 'hardlink' && attrs.linkname ? attrs.linkname : path;
}

/**
 * sha256 of many files of one image, keyed `${layer}\0${path}`: one pass per layer for readers that offer
 * `forEach` (archives), one open per file otherwise. Files that cannot be read are left out of the map (the
 * caller decides); their errors are returned.
 */
export async function hashMany(reader: ContentReader, image: ImageInfo, wanted: ReadonlyMap<number, ReadonlySet<string>>): Promise<{ hashes: Map<string, string>; errors: Error[] }> {
  const hashes = new Map<string, string>();
  const errors: Error[] = [];
  for (const layer of [...wanted.keys()].sort((a, b) => a - b)) {
    const paths = wanted.get(layer)!;
    if (reader.forEach) {
      try {
        const missing = await reader.forEach(image, layer, paths, async (p, body) => {
          const h = createHash('sha256');
          for await (const c of body) h.update(c);
          hashes.set(`${layer}\0${p}`, h.digest('hex'));
        });
        for (const p of missing) errors.push(new ContentError('content.missing', `layer ${layer} holds no content for this file`, '/' + displayPath(p)));
      } catch (err) {
        errors.push(err as Error);
      }
      continue;
    }
    for (const p of paths) {
      try {
        hashes.set(`${layer}\0${p}`, await hashContent(reader, image, layer, p));
      } catch (err) {
        errors.push(err as Error);
      }
    }
  }
  return { hashes, errors };
}

/**
 * Digests of the regular files a container's RW layer holds (the files it added or modified, as docker diff
 * lists them), read with the same read-only access as extract. `algorithm`: sha256 for drift reports, md5 for the
 * bodyfile's MD5 column. Unreadable files are left out of the map; their errors are returned.
 */
export async function hashRwFiles(reader: ContentReader, stack: ImageInfo, paths: Iterable<string>, algorithm: 'sha256' | 'md5'): Promise<{ digests: Map<string, string>; errors: Error[] }> {
  const top = stack.layers.length - 1;
  const digests = new Map<string, string>();
  const errors: Error[] = [];
  for (const p of paths) {
    try {
      digests.set(p, await hashContent(reader, stack, top, p, undefined, algorithm));
    } catch (err) {
      errors.push(err as Error);
    }
  }
  return { digests, errors };
}
