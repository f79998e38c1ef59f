import * as fs from 'node:fs';
import type { OpenOptions, Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo } from '../model/types.js';
import { problem } from '../model/types.js';
import { NotFoundError, SourceError } from '../model/errors.js';
import { PathTable } from '../model/paths.js';
import { looksLikeDockerRoot, openDockerRoot } from './docker-root/index.js';
import { detectStores, findContainerdLayout, openContainerdRoot } from './containerd/index.js';
import { openArchive } from './archive/index.js';

/**
 * Open whatever the user named, recognising it by content (never by file name):
 * - `docker:REF` / `podman:REF`: the engine's `save` stream; `-`: an archive on stdin;
 * - a directory: a Docker data root (classic store, containerd store, or both), a containerd root, or an OCI
 *   layout;
 * - a file: an image archive (docker save, OCI archive; optionally compressed).
 */
export async function openSource(location: string, opts: OpenOptions = {}): Promise<Source> {
  if (/^(docker|podman):/.test(location) || location === '-') return openArchive(location, opts);
  let st: fs.Stats;
  try {
    st = fs.statSync(location);
  } catch (err) {
    throw new SourceError('source.not-found', `cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, location);
  }
  if (!st.isDirectory()) return openArchive(location, opts);
  const classic = looksLikeDockerRoot(location);
  const containerd = findContainerdLayout(location) !== null;
  if (classic && containerd) {
    const detected = detectStores(location);
    if (detected.containerd) return openBothStores(location, opts, detected.engineWouldUse, detected.reasons);
  }
  if (classic) return openDockerRoot(location, opts);
  if (containerd) return openContainerdRoot(location, opts);
  // lstat, not exists: an index.json that is a dangling or escaping symlink still makes an OCI layout, whose
  // opening then says what is wrong with it (instead of "not recognised").
  if (lexists(`${location}/oci-layout`) || lexists(`${location}/index.json`)) return openArchive(location, opts);
  throw new SourceError('source.unrecognised', 'is a directory, but neither a Docker data root (image/overlay2/), a containerd root, nor an OCI layout (oci-layout, index.json)', location);
}

/**
 * A Docker data root whose classic store and containerd store both hold images (an engine switched stores:
 * each store hides the other's images from the engine). Both are reported, and we say which one an engine
 * started on this root would show.
 */
async function openBothStores(location: string, opts: OpenOptions, engineWouldUse: string, reasons: string[]): Promise<Source> {
  const paths = new PathTable();
  const classic = await openDockerRoot(location, { ...opts, paths });
  const ctrd = await openContainerdRoot(location, { ...opts, paths });
  const owner = new Map<ImageInfo, Source>();
  for (const i of classic.images) owner.set(i, classic);
  for (const i of ctrd.images) owner.set(i, ctrd);
  // Both stores list containers/: each container belongs to the store its driver names.
  const containers: ContainerInfo[] = [
    ...classic.containers.filter((c) => c.driver !== 'overlayfs'),
    ...ctrd.containers.filter((c) => c.driver === 'overlayfs'),
  ];
  const cOwner = new Map<ContainerInfo, Source>(containers.map((c) => [c, c.driver === 'overlayfs' ? ctrd : classic]));
  const note = problem('warning', 'store.both', `this data root holds images in both the classic store (${classic.images.length}) and the containerd store (${ctrd.images.length}); an engine started on it would show only the ${engineWouldUse === 'unknown' ? 'one it is configured for' : engineWouldUse + ' store'} (${reasons.join('; ')})`, location);
  return {
    kind: 'docker-root',
    location,
    images: [...classic.images, ...ctrd.images],
    containers,
    problems: [note, ...classic.problems, ...ctrd.problems],
    paths,
    async readStorage() {
      const [a, b] = await Promise.all([classic.readStorage?.(), ctrd.readStorage?.()]);
      if (!a || !b) return (a ?? b)!;
      return { orphanDirs: [...a.orphanDirs, ...b.orphanDirs], orphanLayers: [...a.orphanLayers, ...b.orphanLayers] };
    },
    readLayer(image, index) {
      const s = owner.get(image);
      return s ? s.readLayer(image, index) : Promise.reject(new NotFoundError('image.not-found', `image ${image.id} is not from this source`));
    },
    readContainerLayer(c, which) {
      const s = cOwner.get(c);
      return s ? s.readContainerLayer(c, which) : Promise.reject(new NotFoundError('container.not-found', `container ${c.name} is not from this source`));
    },
    async close() {
      await Promise.all([classic.close(), ctrd.close()]);
    },
  };
}

function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
