import { routedAccess } from './layer-access.js';
import * as path from 'node:path';
import type { OpenOptions, Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo, Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { SourceError } from '../model/errors.js';
import { PathTable } from '../model/paths.js';
import { openDockerRoot } from './docker-root/index.js';
import { DOCKER_DRIVERS } from './docker-root/registry.js';
import { detectStores, openContainerdRoot } from './containerd/index.js';
import { openArchive } from './archive/index.js';
import { openContainersStorage } from './containers-storage/index.js';
import { recogniseSource, type ClassicStore, type Recognition } from './recognise.js';
import { dockerVolumes } from './volumes.js';
import { schemeLocation } from './reference.js';
import { IMAGE_ROOT_PREFIX, checkRoot, openImageRoot } from './image-root.js';
import { GRAPH_DRIVERS } from './drivers.js';

type Opener = (root: string, opts: OpenOptions) => Promise<Source>;

/**
 * Readers of classic (graphdriver) image stores. Every driver of GRAPH_DRIVERS (drivers.ts) is recognised; a
 * data root on one that has no reader here fails with `source.driver-unsupported`, naming it. Reading another
 * driver is one entry here.
 */
const CLASSIC_READERS: Readonly<Record<string, Opener>> = Object.fromEntries(
  Object.entries(DOCKER_DRIVERS).map(([name, driver]) => [name, (root: string, opts: OpenOptions) => openDockerRoot(root, opts, driver)]),
);

/** What openSource does with a location, decided before anything is opened. */
export type SourcePlan =
  | { open: 'archive' }
  | { open: 'image-root'; dir: string }
  | { open: 'containerd-root' }
  | { open: 'containers-storage'; driver: string }
  | { open: 'classic'; driver: string; notes: Problem[] }
  | { open: 'containerd-store'; notes: Problem[] }
  | { open: 'both'; driver: string; notes: Problem[] };

/**
 * Open whatever the user named, recognising it by content (never by file name):
 * - `docker:REF` / `podman:REF` (or `docker://REF`, `podman://REF`): the engine's `save` stream; `-`: an archive
 *   on stdin; `docker-archive://PATH`, `oci-archive://PATH`: PATH;
 * - a directory: a Docker data root (classic store, containerd store, or both), a containerd root, a
 *   containers/storage store (podman, buildah, CRI-O), or an OCI layout;
 * - a file: an image archive (docker save, OCI archive; optionally compressed).
 * A source in which nothing is recognised, or that we may not read, is a SourceError naming the real cause;
 * a data root that is recognised and holds no image and no container says so with an info problem.
 */
export async function openSource(given: string, opts: OpenOptions = {}): Promise<Source> {
  // `docker://REF`, `oci-archive://PATH`...: what the scheme says (an image reference without one is looked up
  // in the engines by the caller first: see reference.ts).
  const location = schemeLocation(given);
  const plan = planSource(location);
  // A store is read by the paths of its layer dirs, which must not depend on the working directory (`cat`, the
  // mount check and the TUI read them again later, from wherever they run).
  const dir = path.resolve(location);
  switch (plan.open) {
    case 'image-root':
      // Every store of a mounted disk, each opened as if it had been named.
      return openImageRoot(plan.dir, opts, openSource);
    case 'archive':
      return openArchive(location, opts);
    case 'containerd-root':
      return sayIfEmpty(await openContainerdRoot(dir, opts), 'this containerd root');
    case 'containers-storage':
      return sayIfEmpty(await openContainersStorage(dir, opts), 'this containers/storage store');
    case 'containerd-store':
      return withVolumes(sayIfEmpty(withNotes(await openContainerdRoot(dir, opts), plan.notes), "this data root's containerd image store"));
    case 'classic':
      return withVolumes(sayIfEmpty(withNotes(await CLASSIC_READERS[plan.driver]!(dir, opts), plan.notes), `this data root's ${plan.driver} store`));
    case 'both': {
      const detected = detectStores(dir);
      return withVolumes(withNotes(await openBothStores(dir, opts, CLASSIC_READERS[plan.driver]!, detected.engineWouldUse, detected.reasons), plan.notes));
    }
  }
}

/**
 * What openSource would open at `location`, found from the content alone, without opening it. Throws the
 * SourceError openSource would throw (not found, permission denied, nothing recognised, a graph driver we
 * cannot read).
 */
export function planSource(given: string): SourcePlan {
  const location = schemeLocation(given);
  if (location.startsWith(IMAGE_ROOT_PREFIX)) return { open: 'image-root', dir: imageRootDir(location) };
  if (/^(docker|podman):/.test(location) || location === '-') return { open: 'archive' };
  const r = recogniseSource(location);
  switch (r.kind) {
    case 'file':
    case 'oci-layout':
      return { open: 'archive' };
    case 'containerd-root':
      return { open: 'containerd-root' };
    case 'docker-root':
      return planDataRoot(r);
    case 'containers-storage':
      if (!r.drivers.includes('overlay')) {
        throw new SourceError(
          'source.driver-unsupported',
          `is a containers/storage store (podman, buildah, CRI-O) on the ${r.drivers.join(' and ')} driver, which layerscope cannot read yet: it reads the overlay driver's stores. Meanwhile: \`podman --root COPY save\` the images from a copy of this store and inspect the archives`,
          location,
        );
      }
      return { open: 'containers-storage', driver: 'overlay' };
  }
}

/** The directory of an `image-root:DIR` location, checked to be one (the scan comes when it is opened). */
function imageRootDir(location: string): string {
  const dir = location.slice(IMAGE_ROOT_PREFIX.length);
  if (!dir) throw new SourceError('source.empty', '--image-root names no directory', location);
  return checkRoot(dir);
}

/** A classic store holds something an engine writes (an empty image/<driver>/ alone does not count). */
function solid(s: ClassicStore): boolean {
  return s.images !== null || s.repositories || s.layerdb || s.layerDirs > 0;
}

function storeContents(s: ClassicStore): string {
  const parts = [s.images !== null ? `${s.images} image config(s) in image/${s.driver}/imagedb/` : null, s.layerDirs ? `${s.layerDirs} layer dir(s) in ${s.layersAt}` : null].filter(Boolean);
  return parts.length ? parts.join(' and ') : `image/${s.driver}/ metadata`;
}

/** Which store(s) of a Docker data root to read, or why none can be. */
function planDataRoot(r: Extract<Recognition, { kind: 'docker-root' }>): SourcePlan {
  const readable = r.classic.filter((s) => CLASSIC_READERS[s.driver] && solid(s));
  const unread = r.classic.filter((s) => !CLASSIC_READERS[s.driver] && solid(s));
  const hollow = r.classic.filter((s) => !solid(s));
  const ctd = r.containerd?.readable ? r.containerd : null;
  // Images that could not be counted (damaged pages) count as images: opening the store reports the damage.
  const ctdImages = ctd ? (ctd.mobyImages ?? 1) : 0;
  const names = Object.keys(CLASSIC_READERS);
  const supported = `layerscope reads the stores of the ${names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} graph drivers` : `${names[0]} graph driver`} and the containerd image store`;

  // Stores we recognise but do not read, when another one is read: said, never silently left out.
  const notes: Problem[] = [];
  // moby picks a prior driver (a non-empty <driver>/; vfs never counts) before vfs: when the only store read is
  // vfs and an unread one is on a prior driver, the engine uses that one, not the store reported.
  const priorDriver = (name: string) => GRAPH_DRIVERS.find((d) => d.name === name)?.prior ?? false;
  const readsNonPrior = readable.length > 0 && !priorDriver(readable[0]!.driver);
  for (const s of unread) {
    const engineUses = readsNonPrior && priorDriver(s.driver);
    notes.push(
      problem(
        engineUses ? 'error' : 'warning',
        'store.driver-unsupported',
        `this data root also holds a store on the ${s.driver} graph driver (${storeContents(s)}), which is not read: ${supported}; its images and layers are not in this report` +
          (engineUses ? `. An engine on this data root uses it (a prior driver), not the ${readable[0]!.driver} store reported here` : ''),
        `${r.location.replace(/\/+$/, '')}/image/${s.driver}`,
      ),
    );
  }
  // Several stores this reader could read (an engine moved from one driver to another): the first in moby's
  // priority order is read, the others named.
  for (const s of readable.slice(1)) {
    notes.push(problem('warning', 'store.other-driver', `this data root also holds a store on the ${s.driver} graph driver (${storeContents(s)}), which is not read: the ${readable[0]!.driver} store is (an engine uses one graph driver at a time); its images and layers are not in this report`, `${r.location.replace(/\/+$/, '')}/image/${s.driver}`));
  }
  for (const d of r.orphanDriverDirs) {
    notes.push(problem('warning', 'store.metadata-missing', `${d}/ holds layer directories but there is no image/${d}/: layer data without its image and layer metadata, not read`, `${r.location.replace(/\/+$/, '')}/${d}`));
  }

  const primary = readable[0];
  if (primary) return ctdImages > 0 ? { open: 'both', driver: primary.driver, notes } : { open: 'classic', driver: primary.driver, notes };
  if (ctdImages > 0) return { open: 'containerd-store', notes };
  if (unread.length) throw unsupportedDriver(r.location, unread, supported);
  // An image/<driver>/ with nothing in it, but containers: the engine's data without its image metadata.
  const hollowWithContainers = r.containers > 0 ? hollow[0] : undefined;
  if (hollowWithContainers) {
    if (CLASSIC_READERS[hollowWithContainers.driver]) return { open: 'classic', driver: hollowWithContainers.driver, notes };
    throw unsupportedDriver(r.location, [hollowWithContainers], supported);
  }
  // A Docker data root on the containerd image store that holds no image yet (or no more): valid, and empty.
  if (ctd?.mobyImagesBucket) return { open: 'containerd-store', notes };
  if (r.containerd && !r.containerd.readable && hollow.length === 0) throw r.containerd.error;
  if (hollow.length) {
    const names = hollow.map((s) => `image/${s.driver}/`).join(', ');
    throw new SourceError(
      'source.empty-store',
      `holds ${names} but nothing a Docker engine writes there (no imagedb/, layerdb/ or repositories.json), no layer directories and no containers: nothing to inspect (not a Docker data root, or one whose metadata was removed)`,
      r.location,
    );
  }
  const orphans = r.orphanDriverDirs.length ? `; ${r.orphanDriverDirs.map((d) => `${d}/`).join(', ')} hold(s) layer directories without their image/<driver>/ metadata` : '';
  throw new SourceError(
    'source.no-image-store',
    `holds a Docker engine's containerd (containerd/daemon/) but no image store: no image/<driver>/, and containerd's namespace moby has no images${orphans}`,
    r.location,
  );
}

/**
 * Drivers whose layers are no directories of this file system: what a user can do to get at them. Each keeps the
 * image metadata as every driver does; the layer data is in a thin pool, ZFS datasets, Windows' own format.
 */
const UNREADABLE_HOW: Readonly<Record<string, string>> = {
  devicemapper:
    'Its layers are thin devices in a device-mapper pool (devicemapper/devicemapper/data and metadata, or a direct-lvm pool): activate the pool on a copy (dmsetup/lvchange), mount a layer or container device read-only (devicemapper/metadata/<id> gives its device id) and inspect the mounted tree as a directory. ',
  zfs: 'Its layers are ZFS datasets (zfs/graph/<id> are their mount points, empty until mounted): import the pool read-only (zpool import -o readonly=on) and `zfs mount` the datasets, then inspect a mounted layer as a directory. ',
  windowsfilter:
    "Its layers are Windows container layers (windowsfilter/<id>: files, registry hives and a layerchain.json), readable on a Windows host: copy the data root there and export the images with Docker for Windows (docker save), or read the layers with a Windows forensic tool. ",
};

function unsupportedDriver(location: string, stores: ClassicStore[], supported: string): SourceError {
  const drivers = stores.map((s) => s.driver);
  const what = stores.map((s) => `${s.driver}: ${storeContents(s)}`).join('; ');
  return new SourceError(
    'source.driver-unsupported',
    `is a Docker data root on the ${drivers.join(' and ')} graph driver${drivers.length > 1 ? 's' : ''} (${what}), which layerscope cannot read: ${supported}. ` +
      (UNREADABLE_HOW[drivers[0]!] ?? '') +
      `Or start an engine on a copy of this root (dockerd --data-root COPY --storage-driver ${drivers[0]}), \`docker save\` the images from it, and inspect the archives (layerscope report image.tar)`,
    location,
  );
}

/** A Docker data root (either image store) keeps volumes/ alike: its volumes and binds, listed on demand. */
function withVolumes(source: Source): Source {
  source.volumes = dockerVolumes(source.location, source.containers);
  return source;
}

/** The source with problems found while deciding how to open it, first. */
function withNotes(source: Source, notes: Problem[]): Source {
  if (notes.length) source.problems.unshift(...notes);
  return source;
}

/** A recognised store with no image and no container is valid evidence: say so rather than print nothing. */
function sayIfEmpty(source: Source, what: string): Source {
  // A store whose records list nothing but whose layers are still there says so itself (a warning): not "empty".
  if (source.images.length === 0 && source.containers.length === 0 && !source.problems.some((p) => p.code === 'storage.unreferenced-layers')) {
    source.problems.push(problem('info', 'source.empty', `${what} holds no images and no containers: an engine that never pulled, built or ran anything here, or whose images and containers were all removed`, source.location));
  }
  return source;
}

/**
 * A Docker data root whose classic store and containerd store both hold images (an engine switched stores:
 * each store hides the other's images from the engine). Both are reported, and we say which one an engine
 * started on this root would show.
 */
async function openBothStores(location: string, opts: OpenOptions, openClassic: Opener, engineWouldUse: string, reasons: string[]): Promise<Source> {
  // One path table for both: the two stores' layers stack on one chain tree (and with other stores' when the
  // caller reads several: --image-root).
  const paths = opts.paths ?? new PathTable();
  const classic = await openClassic(location, { ...opts, paths });
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
    ...routedAccess(owner, cOwner),
    async close() {
      await Promise.all([classic.close(), ctrd.close()]);
    },
  };
}
