/**
 * `openArchive`: image archives as a {@link Source}. What the user names decides how bytes are read, never what
 * they are: a file is listed by seeking over bodies (streamed instead when the whole file is compressed), a
 * directory is an OCI layout, `-` is stdin read once, `docker:REF`/`podman:REF` is the engine CLI's `save`
 * output read once. What the bytes are is decided by their content (images.ts).
 */
import { statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { NotFoundError, SourceError } from '../../model/errors.js';
import type { OpenOptions, Source, SourceKind } from '../../model/source.js';
import { problem, type ContainerInfo, type ImageInfo, type Problem } from '../../model/types.js';
import { LayerTable } from '../../model/layer-table.js';
import { PathTable } from '../../model/paths.js';
import type { Compression, DecompressOptions } from '../tar/decompress.js';
import { displayPath } from '../../model/path.js';
import { ArchiveFormatError, loadImages, type LayerRef } from './images.js';
import { DirStore, FileTarStore, StreamStore, resolveMember, type ArchiveStore, type StoredLayer } from './store.js';

export interface ArchiveOptions extends OpenOptions {
  /** Input for `-` (default: process.stdin). */
  stdin?: Readable;
  /** Hash uncompressed layers even when they can be listed by seeking (slower: every byte is read). */
  verify?: boolean;
  /** Decompression limits and zstd implementation. */
  decompress?: Omit<DecompressOptions, 'label'>;
  /** Environment for `docker save` / `podman save` (default: process.env, so DOCKER_HOST is honoured). */
  env?: NodeJS.ProcessEnv;
  /** Engine CLI binaries (default `docker`, `podman`). */
  dockerCommand?: string;
  podmanCommand?: string;
}

/** A layer as one reference sees it: the stored rows, and the problems of reading and checking them. */
interface RefLayer {
  table: LayerTable | null;
  problems: Problem[];
}

export async function openArchive(location: string, opts: ArchiveOptions = {}): Promise<Source> {
  const dopts: DecompressOptions = { ...opts.decompress };
  const progress = (done: number, detail: string) => opts.progress?.({ phase: 'layers', done, total: null, detail });
  let store: ArchiveStore;
  let kindHint: 'dir' | 'file' | 'stream' = 'file';
  // Every layer of the archive is interned here as it is read (a stream's layers while the stream goes by).
  const paths = new PathTable();

  const engine = /^(docker|podman):(.+)$/.exec(location);
  if (engine) {
    kindHint = 'stream';
    store = await saveFromEngine(engine[1] as 'docker' | 'podman', engine[2]!, location, opts, dopts, paths, progress);
  } else if (location === '-') {
    kindHint = 'stream';
    if (!opts.stdin && process.stdin.isTTY)
      throw new SourceError('source.stdin-tty', 'stdin is a terminal, not an archive: pipe one in (docker save IMAGE | layerscope ... -)', location);
    const input = opts.stdin ?? process.stdin;
    store = await StreamStore.scan(input as AsyncIterable<Buffer>, 'stdin', dopts, paths, progress);
  } else {
    let isDir: boolean;
    try {
      isDir = statSync(location).isDirectory();
    } catch (err) {
      throw new SourceError('source.not-found', `cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, location);
    }
    if (isDir) {
      kindHint = 'dir';
      store = new DirStore(location, dopts, paths);
    } else {
      const r = FileTarStore.open(location, dopts, paths);
      if ('store' in r) store = r.store;
      else {
        // A compressed archive (docker save | gzip), a FIFO or a device: one pass, within the stream bounds.
        kindHint = 'stream';
        try {
          store = await StreamStore.scan(r.stream, location, dopts, paths, progress);
        } finally {
          r.close();
        }
      }
    }
  }

  let loaded;
  try {
    loaded = loadImages(store, { platform: opts.platform, location });
  } catch (err) {
    const problems = store.problems;
    await store.close();
    if (err instanceof ArchiveFormatError) {
      const why = problems.filter((p) => p.severity !== 'info').map((p) => p.message);
      throw new SourceError(err.code, err.message + (why.length ? ` (${why.join('; ')})` : ''), location);
    }
    throw err;
  }
  const kind: SourceKind = kindHint === 'dir' ? 'oci-dir' : store.members.has('manifest.json') ? 'docker-archive' : 'oci-archive';
  const problems: Problem[] = [...store.problems, ...loaded.problems];
  const verify = opts.verify ?? false;
  const cache = new Map<string, Promise<LayerTable>>();
  // One table per stored layer (a blob named by several images, or a legacy save's symlinked layer.tar), with
  // the problems of the reference that asked for it: the same rows are shared when the problems agree.
  const tables = new WeakMap<LayerTable, Map<string, LayerTable>>();
  const tableOf = (l: RefLayer): LayerTable => {
    if (!l.table) return LayerTable.empty(paths, l.problems);
    let m = tables.get(l.table);
    if (!m) tables.set(l.table, (m = new Map()));
    const key = JSON.stringify(l.problems);
    let t = m.get(key);
    if (!t) m.set(key, (t = l.table.withProblems(l.problems)));
    return t;
  };
  if (store.seekable && !verify) {
    const notHashed = unhashedLayers(store, [...loaded.layerRefs.values(), ...[...loaded.alternates.values()].flat()]);
    if (notHashed.uncompressed > 0)
      problems.push(
        problem(
          'info',
          'archive.layers.not-hashed',
          `${notHashed.uncompressed} of ${notHashed.total} layer blob(s), stored uncompressed, were listed without reading their bytes: not checked against their DiffIDs${notHashed.withBlobDigest ? ' or manifest digests' : ''} (--verify or \`layerscope verify\` hashes them)`,
          location,
        ),
      );
  }

  const readRef = async (ref: LayerRef, index: number): Promise<RefLayer> => {
    if (!ref.path) return { table: null, problems: [problem('error', 'layer.missing', `layer ${index}: the manifest names no usable blob`, null)] };
    const r = await store.readLayer(ref.path, { verify });
    const out: RefLayer = { table: r.table, problems: [...r.problems] };
    const hashed = r.blobDigest !== null || verify || r.compression !== 'none';
    const check = checkLayer(ref, index, r);
    for (const f of check.findings) {
      if (f.kind === 'diffid') out.problems.push(problem('error', 'layer.diffid.mismatch', f.message, f.member));
      else if (f.kind === 'blob-digest') out.problems.push(problem('error', 'blob.digest.mismatch', f.message, f.member));
      else if (f.kind === 'unreadable' && hashed && !out.problems.some((p) => p.severity === 'error')) out.problems.push(problem('error', 'layer.unhashed', f.message, f.member));
    }
    return out;
  };

  /** Every distinct blob the manifests name for this layer of this image (the first is the one listed). */
  const refsOf = (image: ImageInfo, index: number): LayerRef[] => {
    const first = loaded.layerRefs.get(image.id)?.[index];
    if (!first) return [];
    const out = [first];
    for (const alt of loaded.alternates.get(image.id) ?? []) {
      const r = alt[index];
      if (r && !out.some((x) => keyOf(x) === keyOf(r))) out.push(r);
    }
    return out;
  };
  const keyOf = (ref: LayerRef) => `${ref.path}\0${ref.diffId}\0${ref.blobDigest ?? ''}`;
  const checks = new Map<string, Promise<ArchiveLayerCheck>>();
  const checkRef = (ref: LayerRef, index: number): Promise<ArchiveLayerCheck> => {
    const key = keyOf(ref);
    let p = checks.get(key);
    if (!p) {
      p = ref.path ? store.readLayer(ref.path, { verify: true }).then((r) => checkLayer(ref, index, r)) : Promise.resolve(checkLayer(ref, index, null));
      checks.set(key, p);
    }
    return p;
  };

  /** The layer as listed, plus what hashing found in the other blobs manifests name for it (when hashed). */
  const readLayerRefs = async (refs: LayerRef[], index: number): Promise<RefLayer> => {
    const out = await readRef(refs[0]!, index);
    if (refs.length > 1 && (verify || !store.seekable)) {
      const problems = [...out.problems];
      for (const alt of refs.slice(1)) {
        const c = await checkRef(alt, index);
        for (const f of c.findings) {
          if (f.kind === 'diffid') problems.push(problem('error', 'layer.diffid.mismatch', `${f.message} (another manifest entry for this image names this blob)`, f.member));
          else if (f.kind === 'blob-digest') problems.push(problem('error', 'blob.digest.mismatch', `${f.message} (another manifest entry for this image names this blob)`, f.member));
          else problems.push(problem('error', f.kind === 'corrupt' ? 'compression.corrupt' : 'layer.unhashed', `${f.message} (another manifest entry for this image names this blob)`, f.member || null));
        }
      }
      return { table: out.table, problems };
    }
    return out;
  };

  const source: Source = {
    kind,
    location,
    images: loaded.images,
    containers: [] as ContainerInfo[],
    problems,
    paths,
    readLayer(image: ImageInfo, index: number): Promise<LayerTable> {
      const refs = refsOf(image, index);
      if (!refs.length) return Promise.reject(new NotFoundError('layer.not-found', `image ${image.id} has no layer ${index} in this archive`, location));
      const key = refs.map(keyOf).join('\n');
      let p = cache.get(key);
      if (!p) {
        p = readLayerRefs(refs, index).then(tableOf);
        cache.set(key, p);
      }
      return p;
    },
    readContainerLayer(): Promise<LayerTable> {
      return Promise.reject(new NotFoundError('container.not-found', 'image archives hold no containers', location));
    },
    async close() {
      cache.clear();
      checks.clear();
      await store.close();
    },
  };
  integrity.set(source, {
    async check(image: ImageInfo, index: number): Promise<ArchiveLayerCheck[]> {
      const refs = refsOf(image, index);
      if (!refs.length) throw new NotFoundError('layer.not-found', `image ${image.id} has no layer ${index} in this archive`, location);
      const out: ArchiveLayerCheck[] = [];
      for (const r of refs) out.push(await checkRef(r, index));
      return out;
    },
  });
  return source;
}

// ------------------------------------------------------------------------------------------------------------
// Integrity of archive layers: the stored bytes against the manifest's blob digest, the uncompressed tar against
// the config's DiffID.

export interface ArchiveLayerFinding {
  /**
   * `diffid`: the uncompressed tar does not hash to the DiffID; `blob-digest`: the stored blob does not hash to the
   * manifest's digest; `corrupt`: the blob cannot be decompressed (so it cannot hash to its DiffID);
   * `unreadable`: the layer could not be read to the end (missing, a bad link, unsupported compression...).
   */
  kind: 'diffid' | 'blob-digest' | 'corrupt' | 'unreadable';
  /** The archive member (links resolved when possible). */
  member: string;
  expected?: string;
  actual?: string;
  message: string;
}

export interface ArchiveLayerCheck {
  index: number;
  /** Member path the manifest names, and the member read (links resolved). */
  path: string;
  member: string | null;
  diffId: string;
  blobDigest: string | null;
  computedDiffId: string | null;
  computedBlobDigest: string | null;
  compression: Compression | null;
  storedBytes: number | null;
  status: 'ok' | 'tampered' | 'error';
  findings: ArchiveLayerFinding[];
  notes: string[];
}

export interface ArchiveIntegrity {
  /**
   * Hashes the layer (whatever the source was opened with) and compares it with what the manifest and config
   * say: one check per distinct blob the manifests name for this layer of this image (usually one).
   */
  check(image: ImageInfo, index: number): Promise<ArchiveLayerCheck[]>;
}

const integrity = new WeakMap<Source, ArchiveIntegrity>();

/** The integrity check of an archive source (null for other sources): used by `verify`. */
export function archiveIntegrity(source: Source): ArchiveIntegrity | null {
  return integrity.get(source) ?? null;
}

/** What a read of the layer says about its integrity (`r` null: the manifest names no usable blob). */
function checkLayer(ref: LayerRef, index: number, r: StoredLayer | null): ArchiveLayerCheck {
  const member = r?.member ?? ref.path;
  const out: ArchiveLayerCheck = {
    index,
    path: ref.path,
    member: r?.member ?? null,
    diffId: ref.diffId,
    blobDigest: ref.blobDigest,
    computedDiffId: r?.diffId ?? null,
    computedBlobDigest: r?.blobDigest ?? null,
    compression: r?.compression ?? null,
    storedBytes: r?.storedBytes ?? null,
    status: 'ok',
    findings: [],
    notes: [],
  };
  if (!r) {
    out.findings.push({ kind: 'unreadable', member: '', message: `layer ${index}: the manifest names no usable blob` });
    out.status = 'error';
    return out;
  }
  const show = JSON.stringify(displayPath(member));
  if (ref.blobDigest) {
    if (!ref.blobDigest.startsWith('sha256:')) out.notes.push(`the manifest gives a ${ref.blobDigest.split(':')[0]} blob digest, not checked (only sha256 is): the DiffID is`);
    else if (r.blobDigest && r.blobDigest !== ref.blobDigest)
      out.findings.push({ kind: 'blob-digest', member, expected: ref.blobDigest, actual: r.blobDigest, message: `layer ${index} blob ${show} hashes to ${r.blobDigest}, not to the manifest's digest ${ref.blobDigest}` });
  } else out.notes.push('the manifest gives no blob digest (legacy docker save): the DiffID is checked');
  if (r.diffId) {
    if (r.diffId !== ref.diffId)
      out.findings.push({ kind: 'diffid', member, expected: ref.diffId, actual: r.diffId, message: `layer ${index} ${show} (uncompressed) hashes to ${r.diffId}, not to its DiffID ${ref.diffId}` });
  } else {
    const errors = r.problems.filter((p) => p.severity === 'error');
    const corrupt = errors.find((p) => p.code === 'compression.corrupt');
    if (corrupt) out.findings.push({ kind: 'corrupt', member, expected: ref.diffId, message: `layer ${index} blob ${show} cannot be decompressed, so it cannot hash to its DiffID ${ref.diffId}: ${corrupt.message}` });
    else if (r.blobDigest !== null || errors.length)
      out.findings.push({ kind: 'unreadable', member, expected: ref.diffId, message: `layer ${index} ${show} could not be hashed to the end: ${errors[0]?.message ?? 'its uncompressed bytes were not all read'}` });
  }
  const kinds = new Set(out.findings.map((f) => f.kind));
  out.status = kinds.has('diffid') || kinds.has('blob-digest') || kinds.has('corrupt') ? 'tampered' : kinds.size || !r.diffId ? 'error' : 'ok';
  return out;
}

/** Layer blobs an unverified read lists by seeking (uncompressed), and so never hashes. */
function unhashedLayers(store: ArchiveStore, refs: LayerRef[][]): { uncompressed: number; total: number; withBlobDigest: boolean } {
  const seen = new Map<string, boolean>();
  let withBlobDigest = false;
  for (const list of refs) {
    for (const ref of list) {
      if (!ref.path) continue;
      let member: string;
      try {
        member = resolveMember(store.members, ref.path);
      } catch {
        continue; // unreadable: said when read
      }
      if (seen.has(member)) continue;
      const uncompressed = store.storedCompression(member) === 'none';
      seen.set(member, uncompressed);
      if (uncompressed && ref.blobDigest) withBlobDigest = true;
    }
  }
  return { uncompressed: [...seen.values()].filter(Boolean).length, total: seen.size, withBlobDigest };
}

/** `docker save REF` / `podman save REF`, streamed (never written to disk). */
async function saveFromEngine(
  engine: 'docker' | 'podman',
  ref: string,
  location: string,
  opts: ArchiveOptions,
  dopts: DecompressOptions,
  paths: PathTable,
  progress: (done: number, detail: string) => void,
): Promise<StreamStore> {
  const cmd = engine === 'docker' ? (opts.dockerCommand ?? 'docker') : (opts.podmanCommand ?? 'podman');
  // The reference is never an option to the engine's CLI (`docker:--help`, `docker:-o/tmp/x`): refused when it
  // starts with '-', and `--` ends the options anyway.
  if (ref.startsWith('-') || ref === '') throw new SourceError('source.not-a-reference', `${JSON.stringify(ref)} is not an image reference ${engine} would accept`, location);
  const args = ['save', '--', ref];
  // Loaded here: execa and its dependencies cost ~100 ms of startup that file and stdin reads never need.
  const { execa } = await import('execa');
  const child = execa(cmd, args, {
    env: opts.env ?? process.env,
    extendEnv: opts.env === undefined,
    buffer: { stdout: false, stderr: true },
    stdin: 'ignore',
    reject: false,
    stripFinalNewline: true,
  });
  let store: StreamStore;
  try {
    store = await StreamStore.scan(child.stdout as AsyncIterable<Buffer>, location, dopts, paths, progress);
  } catch (err) {
    child.kill();
    await child.catch(() => undefined);
    throw err;
  }
  const result = await child;
  // When we stopped reading first (a bound, a broken archive), the engine's failure to write is ours to explain:
  // the store's problems say why; its "broken pipe" would hide it.
  if ((result.failed || result.exitCode !== 0) && !store.stoppedEarly) {
    await store.close();
    const msg = String(result.stderr ?? '').trim() || result.shortMessage || `${cmd} exited with ${result.exitCode}`;
    if (result.code === 'ENOENT' || /ENOENT/.test(result.shortMessage ?? ''))
      throw new SourceError('engine.unavailable', `cannot run ${cmd}: not installed or not in PATH`, location);
    throw new SourceError('engine.save-failed', `\`${cmd} ${args.join(' ')}\` failed: ${msg}`, location);
  }
  return store;
}
