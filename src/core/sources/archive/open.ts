/**
 * `openArchive`: image archives as a {@link Source}. What the user names decides how bytes are read, never what
 * they are: a file is listed by seeking over bodies (streamed instead when the whole file is compressed), a
 * directory is an OCI layout, `-` is stdin read once, `docker:REF`/`podman:REF` is the engine CLI's `save`
 * output read once. What the bytes are is decided by their content (images.ts).
 */
import { closeSync, fstatSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { NotFoundError, SourceError } from '../../model/errors.js';
import type { OpenOptions, Source, SourceKind } from '../../model/source.js';
import { problem, type ContainerInfo, type ImageInfo, type LayerChanges, type Problem } from '../../model/types.js';
import { LayerTable } from '../../model/layer-table.js';
import { PathTable } from '../../model/paths.js';
import { rangeStream } from '../tar/file-reader.js';
import type { DecompressOptions } from '../tar/decompress.js';
import { ArchiveFormatError, loadImages, type LayerRef } from './images.js';
import { DirStore, FileTarStore, StreamStore, type ArchiveStore } from './store.js';

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

export async function openArchive(location: string, opts: ArchiveOptions = {}): Promise<Source> {
  const dopts: DecompressOptions = { ...opts.decompress };
  const progress = (done: number, detail: string) => opts.progress?.({ phase: 'layers', done, total: null, detail });
  let store: ArchiveStore;
  let kindHint: 'dir' | 'file' | 'stream' = 'file';

  const engine = /^(docker|podman):(.+)$/.exec(location);
  if (engine) {
    kindHint = 'stream';
    store = await saveFromEngine(engine[1] as 'docker' | 'podman', engine[2]!, location, opts, dopts, progress);
  } else if (location === '-') {
    kindHint = 'stream';
    if (!opts.stdin && process.stdin.isTTY)
      throw new SourceError('source.stdin-tty', 'stdin is a terminal, not an archive: pipe one in (docker save IMAGE | layerscope ... -)', location);
    const input = opts.stdin ?? process.stdin;
    store = await StreamStore.scan(input as AsyncIterable<Buffer>, 'stdin', dopts, progress);
  } else {
    let isDir: boolean;
    try {
      isDir = statSync(location).isDirectory();
    } catch (err) {
      throw new SourceError('source.not-found', `cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, location);
    }
    if (isDir) {
      kindHint = 'dir';
      store = new DirStore(location, dopts);
    } else {
      const r = FileTarStore.open(location, dopts);
      if ('store' in r) store = r.store;
      else {
        // A compressed archive (docker save | gzip): one pass through the decompressor.
        kindHint = 'stream';
        try {
          store = await StreamStore.scan(rangeStream(r.fd, 0, fstatSync(r.fd).size), location, dopts, progress);
        } finally {
          closeSync(r.fd);
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
      const why = problems.filter((p) => p.severity === 'error').map((p) => p.message);
      throw new SourceError(err.code, err.message + (why.length ? ` (${why.join('; ')})` : ''), location);
    }
    throw err;
  }
  const kind: SourceKind = kindHint === 'dir' ? 'oci-dir' : store.members.has('manifest.json') ? 'docker-archive' : 'oci-archive';
  const problems: Problem[] = [...store.problems, ...loaded.problems];
  const verify = opts.verify ?? false;
  const paths = new PathTable();
  const cache = new Map<string, Promise<LayerTable>>();
  // One table per stored layer (a blob named by several images, or a legacy save's symlinked layer.tar): the
  // store hands the same entries for one resolved member; the problems may differ per reference.
  const tables = new WeakMap<object, Map<string, LayerTable>>();
  const tableOf = (c: LayerChanges): LayerTable => {
    let m = tables.get(c.entries);
    if (!m) tables.set(c.entries, (m = new Map()));
    const key = JSON.stringify(c.problems);
    let t = m.get(key);
    if (!t) m.set(key, (t = LayerTable.fromEntries(paths, c.entries, c.problems)));
    return t;
  };

  const readRef = async (ref: LayerRef, index: number): Promise<LayerChanges> => {
    if (!ref.path) return { entries: [], problems: [problem('error', 'layer.missing', `layer ${index}: the manifest names no usable blob`, null)] };
    const r = await store.readLayer(ref.path, { verify });
    const out: LayerChanges = { entries: r.changes.entries, problems: [...r.changes.problems] };
    const where = ref.path;
    if (ref.blobDigest && r.blobDigest && r.blobDigest !== ref.blobDigest)
      out.problems.push(problem('error', 'blob.digest.mismatch', `layer ${index} blob bytes hash to ${r.blobDigest}, not to the manifest's ${ref.blobDigest}`, where));
    if (r.diffId && r.diffId !== ref.diffId)
      out.problems.push(problem('error', 'layer.diffid.mismatch', `layer ${index} (uncompressed) hashes to ${r.diffId}, not to its DiffID ${ref.diffId}`, where));
    return out;
  };

  return {
    kind,
    location,
    images: loaded.images,
    containers: [] as ContainerInfo[],
    problems,
    paths,
    readLayer(image: ImageInfo, index: number): Promise<LayerTable> {
      const refs = loaded.layerRefs.get(image.id);
      const ref = refs?.[index];
      if (!ref) return Promise.reject(new NotFoundError('layer.not-found', `image ${image.id} has no layer ${index} in this archive`, location));
      const key = `${ref.path}\0${ref.diffId}\0${ref.blobDigest ?? ''}`;
      let p = cache.get(key);
      if (!p) {
        p = readRef(ref, index).then(tableOf);
        cache.set(key, p);
      }
      return p;
    },
    readContainerLayer(): Promise<LayerTable> {
      return Promise.reject(new NotFoundError('container.not-found', 'image archives hold no containers', location));
    },
    async close() {
      cache.clear();
      await store.close();
    },
  };
}

/** `docker save REF` / `podman save REF`, streamed (never written to disk). */
async function saveFromEngine(
  engine: 'docker' | 'podman',
  ref: string,
  location: string,
  opts: ArchiveOptions,
  dopts: DecompressOptions,
  progress: (done: number, detail: string) => void,
): Promise<StreamStore> {
  const cmd = engine === 'docker' ? (opts.dockerCommand ?? 'docker') : (opts.podmanCommand ?? 'podman');
  const args = ['save', ref];
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
    store = await StreamStore.scan(child.stdout as AsyncIterable<Buffer>, location, dopts, progress);
  } catch (err) {
    child.kill();
    await child.catch(() => undefined);
    throw err;
  }
  const result = await child;
  if (result.failed || result.exitCode !== 0) {
    await store.close();
    const msg = String(result.stderr ?? '').trim() || result.shortMessage || `${cmd} exited with ${result.exitCode}`;
    if (result.code === 'ENOENT' || /ENOENT/.test(result.shortMessage ?? ''))
      throw new SourceError('engine.unavailable', `cannot run ${cmd}: not installed or not in PATH`, location);
    throw new SourceError('engine.save-failed', `\`${cmd} ${args.join(' ')}\` failed: ${msg}`, location);
  }
  return store;
}
