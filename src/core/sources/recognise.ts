import * as fs from 'node:fs';
import { SourceError } from '../model/errors.js';
import { Evidence, EvidenceError, describeFsError, errnoOf, isPermissionError, permissionDenied } from './evidence.js';
import { GRAPH_DRIVERS } from './drivers.js';
import { BoltError } from './containerd/bbolt.js';
import { containerdInventory } from './containerd/detect.js';
import { DOCKER_CONTAINERD_ROOT, DOCKER_NAMESPACE, META_DB, noContainerdMetadata, noContainerdNamespaces } from './containerd/layout.js';

/**
 * What a SOURCE the user named is, found from its content alone (never from its name): the facts open.ts
 * decides on. Recognition reads little (lstat of the places each kind keeps its metadata, a few directory
 * listings, the managed containerd's meta.db) and never follows a symlink below the root.
 *
 * Every EACCES/EPERM met here is a SourceError `source.permission-denied` naming the path: a root we may not
 * read must never be reported as "not a data root".
 */

const HEX64 = /^[0-9a-f]{64}$/;
const LAYER_ID = /^[0-9a-f]{64}(-init)?$/;

/** A classic (graphdriver) image store of a Docker data root: `image/<driver>/` and `<driver>/`. */
export interface ClassicStore {
  driver: string;
  /** Image configs in image/<driver>/imagedb/content/sha256/; null when there is no such directory. */
  images: number | null;
  repositories: boolean;
  layerdb: boolean;
  /** Layer and container entries where the driver keeps them (GRAPH_DRIVERS `layers`). */
  layerDirs: number;
  /** That place, for messages: `overlay2/`, `vfs/dir/`. */
  layersAt: string;
}

/** The engine-managed containerd of a Docker data root (containerd/daemon/). */
export type ManagedContainerd =
  | { metaDb: string; readable: true; /** null: not countable (damaged pages; opening it reports them). */ mobyImages: number | null; mobyImagesBucket: boolean }
  | { metaDb: string; readable: false; error: SourceError };

export type Recognition =
  | { kind: 'file'; location: string }
  | { kind: 'oci-layout'; location: string }
  | { kind: 'containerd-root'; location: string }
  | {
      kind: 'containers-storage';
      location: string;
      /** Every graph driver whose `<driver>-layers/layers.json` or `<driver>-images/images.json` is here. */
      drivers: string[];
    }
  | {
      kind: 'docker-root';
      location: string;
      /** Every image/<driver>/ found, in GRAPH_DRIVERS order. */
      classic: ClassicStore[];
      containerd: ManagedContainerd | null;
      /** Container dirs in containers/ (64-hex names). */
      containers: number;
      /** Non-empty <driver>/ dirs whose image/<driver>/ is missing (layer data without its metadata). */
      orphanDriverDirs: string[];
    };

/** Graph drivers of containers/storage, in the order its drivers package tries them. */
export const CONTAINERS_STORAGE_DRIVERS = ['overlay', 'btrfs', 'zfs', 'vfs', 'aufs', 'devmapper'];

/** Entries a Docker data root holds besides its image stores; two or more of them make a directory look like one. */
const DOCKER_ROOT_SIGNS = ['containers', 'volumes', 'network', 'image', 'buildkit', 'engine-id', 'swarm', 'plugins', 'runtimes', 'trust'];

/**
 * Recognise `location`. Throws SourceError: source.not-found, source.permission-denied, source.unreadable,
 * source.empty-dir, source.unrecognised.
 */
export function recogniseSource(location: string): Recognition {
  let st: fs.Stats;
  try {
    st = fs.statSync(location);
  } catch (err) {
    if (isPermissionError(err)) throw permissionDenied(location, err);
    const code = errnoOf(err);
    throw new SourceError('source.not-found', code === 'ENOENT' ? 'cannot open: no such file or directory' : `cannot open: ${describeFsError(err)}`, location);
  }
  if (!st.isDirectory()) {
    try {
      fs.accessSync(location, fs.constants.R_OK);
    } catch (err) {
      if (isPermissionError(err)) throw permissionDenied(location, err);
    }
    return { kind: 'file', location };
  }
  try {
    fs.accessSync(location, fs.constants.R_OK | fs.constants.X_OK);
  } catch (err) {
    if (isPermissionError(err)) throw permissionDenied(location, err);
  }
  const root = location.replace(/\/+$/, '') || '/';
  const ev = new Evidence(root);

  /** Run a probe: permission errors end recognition; a symlink or a non-directory where one is expected counts as absent. */
  const probe = <T>(fn: () => T, absent: T): T => {
    try {
      return fn();
    } catch (err) {
      if (isPermissionError(err)) throw permissionDenied(err instanceof EvidenceError && err.path ? err.path : root, err);
      if (err instanceof EvidenceError && (err.code === 'evidence.symlink' || err.code === 'evidence.not-a-dir' || err.code === 'evidence.not-a-file')) return absent;
      if (err instanceof EvidenceError) throw new SourceError('source.unreadable', describeFsError(err), err.path ?? root);
      throw err;
    }
  };
  const isDir = (...parts: string[]) => probe(() => ev.lstat(...parts)?.isDirectory() ?? false, false);
  const isFile = (...parts: string[]) => probe(() => ev.lstat(...parts)?.isFile() ?? false, false);
  /** Any entry at all, a dangling symlink included (lstat): opening then says what is wrong with it. */
  const present = (...parts: string[]) => probe(() => ev.lstat(...parts) !== null, false);
  const list = (...parts: string[]) => probe(() => ev.readdir(...parts), [] as string[]);

  // A Docker data root: classic stores, the managed containerd, containers.
  const classic: ClassicStore[] = [];
  const orphanDriverDirs: string[] = [];
  for (const { name, layers } of GRAPH_DRIVERS) {
    // Layer (and container) entries are named by their 64-hex id (`-init` for init layers): any other directory
    // that happens to be called overlay/ or zfs/ holds none.
    const at = [name, ...(layers ? [layers] : [])];
    const layerDirs = isDir(...at) ? list(...at).filter((n) => LAYER_ID.test(n)).length : 0;
    if (isDir('image', name)) {
      const contentDir = ['image', name, 'imagedb', 'content', 'sha256'];
      classic.push({
        driver: name,
        images: isDir(...contentDir) ? list(...contentDir).filter((n) => HEX64.test(n)).length : null,
        repositories: isFile('image', name, 'repositories.json'),
        layerdb: isDir('image', name, 'layerdb'),
        layerDirs,
        layersAt: at.join('/') + '/',
      });
    } else if (layerDirs > 0) orphanDriverDirs.push(name);
  }
  let containerd: ManagedContainerd | null = null;
  if (isFile(...DOCKER_CONTAINERD_ROOT, ...META_DB)) {
    const metaDb = ev.path(...DOCKER_CONTAINERD_ROOT, ...META_DB);
    try {
      const inv = containerdInventory(metaDb);
      const moby = inv.namespaces.find((n) => n.name === DOCKER_NAMESPACE);
      containerd = { metaDb, readable: true, mobyImages: moby ? moby.images : 0, mobyImagesBucket: moby?.imagesBucket ?? false };
    } catch (err) {
      if (isPermissionError(err)) throw permissionDenied(metaDb, err);
      if (!(err instanceof BoltError)) throw err;
      containerd = { metaDb, readable: false, error: new SourceError('source.containerd.meta-unreadable', `${err.message.replace(`${metaDb}: `, '')}: not a readable containerd database`, metaDb) };
    }
  }
  const containers = isDir('containers') ? list('containers').filter((n) => HEX64.test(n)).length : 0;
  if (classic.length || containerd) return { kind: 'docker-root', location, classic, containerd, containers, orphanDriverDirs };

  // A containers/storage store (podman, buildah, CRI-O): `<driver>-layers/layers.json` or
  // `<driver>-images/images.json` (a dangling symlink there still counts: opening it says what is wrong).
  const csDrivers = CONTAINERS_STORAGE_DRIVERS.filter((d) => present(`${d}-layers`, 'layers.json') || present(`${d}-images`, 'images.json'));
  if (csDrivers.length) return { kind: 'containers-storage', location, drivers: csDrivers };

  // A containerd root: its meta.db is a bbolt database with containerd's schema and at least one namespace.
  if (isFile(...META_DB)) {
    const metaDb = ev.path(...META_DB);
    let inv: ReturnType<typeof containerdInventory>;
    try {
      inv = containerdInventory(metaDb);
    } catch (err) {
      if (isPermissionError(err)) throw permissionDenied(metaDb, err);
      if (!(err instanceof BoltError)) throw err;
      throw new SourceError('source.containerd.meta-unreadable', err.message.replace(`${metaDb}: `, ''), metaDb);
    }
    if (!inv.v1) throw noContainerdMetadata(metaDb);
    if (inv.namespaces.length === 0) throw noContainerdNamespaces(metaDb);
    return { kind: 'containerd-root', location };
  }

  // An OCI image layout (an index.json that is a dangling or escaping symlink still makes one: opening it says
  // what is wrong, instead of "not recognised").
  if (present('oci-layout') || present('index.json')) return { kind: 'oci-layout', location };

  const names = list();
  if (names.length === 0) {
    throw new SourceError('source.empty-dir', 'is an empty directory: there is nothing here to inspect (name a Docker data root, a containerd root, an OCI layout or an image archive)', location);
  }
  const signs = DOCKER_ROOT_SIGNS.filter((n) => names.includes(n));
  if (signs.length >= 2 || orphanDriverDirs.length) {
    const why = orphanDriverDirs.length
      ? `${orphanDriverDirs.map((d) => `${d}/`).join(', ')} hold${orphanDriverDirs.length === 1 ? 's' : ''} layer directories, but image/${orphanDriverDirs[0]}/ (the image and layer metadata) is missing: the layers cannot be tied to images or containers`
      : `there is no image/<driver>/ (${GRAPH_DRIVERS.map((d) => d.name).join(', ')}) and no containerd/daemon/ image store`;
    throw new SourceError('source.no-image-store', `looks like a Docker data root (${signs.map((s) => s + (s === 'engine-id' ? '' : '/')).join(', ')}) but holds no image store: ${why}`, location);
  }
  const shown = names.slice(0, 5).map((n) => JSON.stringify(n)).join(', ') + (names.length > 5 ? `, … (${names.length} entries)` : '');
  throw new SourceError(
    'source.unrecognised',
    `is a directory, but neither a Docker data root (image/<driver>/ or containerd/daemon/), a containerd root (${META_DB.join('/')}), a containers/storage store (overlay-layers/layers.json), nor an OCI layout (oci-layout, index.json); it holds ${shown}`,
    location,
  );
}
