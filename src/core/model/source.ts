import type { ContainerInfo, ImageInfo, Problem, StoreRef } from './types.js';
import type { LayerTable } from './layer-table.js';
import type { PathTable } from './paths.js';
import type { VolumeAccess } from './volumes.js';

export type SourceKind = 'docker-root' | 'docker-archive' | 'oci-archive' | 'oci-dir' | 'containerd-root' | 'containers-storage' | 'image-root';

/**
 * What every source (a Docker data root, a `docker save` tar, an OCI layout...) offers once opened.
 * A minimal core: the image list, the container list, and a way to read one layer's changes. Everything else
 * (stacking, classification, hidden bytes, reports) is derived once, in analysis/, for all sources alike.
 *
 * Contract:
 * - `images[i].layers` are oldest (base) first; `chainId`s are computed, never read from the evidence.
 * - `readLayer` returns a layer's rows normalised (no `.wh.` names, no whiteout devices), in walk order, interned in
 *   the source's one `paths` table (so that every layer of every image names a path by the same id).
 * - Each layer is read once: sources cache by location (a diff dir, a blob), since images share layers.
 * - Nothing a source does writes to the evidence: no temp files beside it, no xattrs, no atime updates where
 *   avoidable (files are opened O_NOATIME when we own the privilege).
 * - Problems found while opening are in `problems`; a layer's own problems come with its changes.
 */
export interface Source {
  readonly kind: SourceKind;
  /** What the user named (a path, `-` for stdin, `docker:ref`...). */
  readonly location: string;
  readonly images: ImageInfo[];
  readonly containers: ContainerInfo[];
  readonly problems: Problem[];
  /** Every path the source's layers mention. */
  readonly paths: PathTable;
  /** Changes of one image layer. Implementations cache by location: images share layers. */
  readLayer(image: ImageInfo, index: number, opts?: ReadOptions): Promise<LayerTable>;
  /** Changes of a container's RW layer (`which: 'rw'`) or its init layer. Sources without containers reject. */
  readContainerLayer(container: ContainerInfo, which: 'rw' | 'init', opts?: ReadOptions): Promise<LayerTable>;
  /**
   * Host-level facts (unreferenced storage...), for data roots only. Read on demand: sizing what nothing
   * references walks directories, which a first screen must not wait for.
   */
  readStorage?(): Promise<StorageInfo>;
  /**
   * Docker data roots (either image store): named and anonymous volumes, and the containers' bind mounts. Listing
   * reads metadata only; sizes and trees are read on demand.
   */
  volumes?: VolumeAccess;
  /**
   * A source made of several stores (`--image-root`): each store found, how, and what it holds. Images and
   * containers name theirs (`store`).
   */
  stores?: StoreSummary[];
  /**
   * Why the kernel's overlayfs cannot stack this source's layer dirs as they are, when it cannot (a store
   * mounted through fuse-overlayfs keeps `.wh.` files the kernel shows as files; a rootless store's files carry
   * host ids, not the container's). The mount check then lays the layers out from what we read.
   */
  layerDirsNotMountable?: string;
  /** Release whatever the source holds open (file descriptors, temp copies of stdin). */
  close(): Promise<void>;
}

/**
 * The store an image or container is read from: its own for a source of several stores (--image-root), else the
 * source itself. What depends on the kind of store (reading diff dirs, lower dirs for a mount, tar-splits) asks this.
 */
export function storeOf(source: Pick<Source, 'kind' | 'location' | 'layerDirsNotMountable'>, x?: { store?: StoreRef } | null): { kind: string; location: string; layerDirsNotMountable: string | null } {
  return x?.store
    ? { kind: x.store.kind, location: x.store.location, layerDirsNotMountable: x.store.layerDirsNotMountable ?? null }
    : { kind: source.kind, location: source.location, layerDirsNotMountable: source.layerDirsNotMountable ?? null };
}

/** A store of a several-store source, as found and opened. */
export interface StoreSummary extends StoreRef {
  /** How it was found: `etc/docker/daemon.json data-root`, `default /var/lib/docker`, `found by scan`... */
  how: string[];
  /** The user whose rootless store it is (`root` for root/). */
  owner?: string;
  /** Null when it could not be opened (a problem says why). */
  images: number | null;
  containers: number | null;
}

export interface ReadOptions {
  /** Read before lower-priority work already queued (the layer a user is waiting for). Default 0. */
  priority?: number;
}

export interface StorageInfo {
  /** overlay2 (or snapshot) dirs that no layer and no container references. */
  orphanDirs: { path: string; bytes: number }[];
  /** layerdb layers that no image references (and no container sits on). */
  orphanLayers: { chainId: string; cacheId: string | null; bytes: number }[];
}

/** Progress callback for long loads (the TUI shows it; reports ignore it). */
export type Progress = (event: { phase: string; done: number; total: number | null; detail?: string }) => void;

export interface OpenOptions {
  progress?: Progress;
  /** Platform for multi-platform indexes, `os/arch[/variant]`; default: the host's. */
  platform?: string;
  /** containerd namespace filter. */
  namespace?: string;
  /**
   * The root of the system the evidence is from (`--image-root`: the mounted disk): what a store needs from its
   * system (a rootless store's etc/subuid) is looked for no higher. Absent: the store's own ancestors, up to /.
   */
  systemRoot?: string;
  /** Intern paths here (two stores of one data root read as one source share one table). */
  paths?: PathTable;
}
