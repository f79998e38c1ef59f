import type { LayerLayout, Problem } from '../../model/types.js';
import type { LayerTable } from '../../model/layer-table.js';
import type { PathTable } from '../../model/paths.js';
import type { Evidence } from '../evidence.js';

/**
 * What differs between Docker's graph drivers, as seen by an offline reader. The image and layer metadata
 * (`image/<driver>/`: imagedb, layerdb, repositories.json, layerdb/mounts) has one format for every driver and is
 * read once, in index.ts; a driver says where each layer's data lives, how that data holds the layer, which of
 * its own bookkeeping to check, and how to read a layer's changes.
 */

export type Note = (severity: Problem['severity'], code: string, message: string, path: string | null) => void;
export type Safe = <T>(fn: () => T, fallback: T) => T;

/** What a driver is given to look at the store: the evidence root, and the way problems are said. */
export interface DriverContext {
  ev: Evidence;
  note: Note;
  safe: Safe;
  /** `trusted` for a rootful engine's store, `user` for a rootless one (overlay drivers mount with userxattr). */
  overlayXattrs: 'trusted' | 'user';
}

/** Where a layer's (or a container layer's) data is, as the driver keeps it. */
export interface PlacedDir {
  /** Host path of the dir holding the layer, null when it is missing or unusable (a problem was noted). */
  dir: string | null;
  layout: LayerLayout;
}

/** A layer record as index.ts knows it, for a driver's own checks. */
export interface DriverLayerRecord {
  chainId: string;
  /** The driver's id of the layer (layerdb cache-id), already checked to be 64 hex digits. */
  cacheId: string;
  dir: string | null;
}

/** What readLayer hands a driver: the layer's dir and, for layouts that need it, its parent's. */
export interface LayerToRead {
  dir: string;
  layout: LayerLayout;
  /** The parent layer's dir (the image layer below, the init layer, the image's top layer), or null for a base. */
  parentDir: string | null;
  parentLayout: LayerLayout | null;
  /**
   * The layer has a parent (it is no base layer, or it is a container layer): with `parentDir` null, that parent is
   * not on disk, and a layout that is compared with its parent ('full') cannot say what changed.
   */
  hasParent: boolean;
}

export interface ReadContext {
  paths: PathTable;
  priority?: number;
  overlayXattrs: 'trusted' | 'user';
}

export interface DockerDriver {
  /** `overlay2`, `vfs`...: the name of `image/<name>/` and `<name>/`. */
  name: string;
  /** Where an image layer with this cache-id keeps its data. Notes a problem when the dir is missing or is no dir. */
  imageLayer(ctx: DriverContext, chainId: string, cacheId: string): PlacedDir;
  /** Where a container's RW (`rw`, mount-id) or init (`init`, `<mount-id>-init`) layer keeps its data. */
  containerLayer(ctx: DriverContext, container: string, which: 'rw' | 'init', id: string): PlacedDir;
  /** The driver's own bookkeeping checked against the chain (overlay2: link, lower, l/), once per layer. */
  checkLayer?(ctx: DriverContext, rec: DriverLayerRecord, parent: DriverLayerRecord | null): void;
  /**
   * The driver's own bookkeeping of a container layer (`id`: its RW or init layer) checked against the layer the
   * container lies over (layerdb/mounts/<container>/parent → that layer's cache-id), once per container layer.
   */
  checkContainerLayer?(ctx: DriverContext, container: string, which: 'rw' | 'init', id: string, parent: DriverLayerRecord): void;
  /**
   * Where the driver keeps one entry per layer or container (parts below the data root), and names there that
   * are its own bookkeeping rather than layers: the unreferenced-storage scan looks there.
   */
  layersAt: string[];
  bookkeeping: ReadonlySet<string>;
  /** A layer's changes, normalised (see Source.readLayer). */
  read(layer: LayerToRead, rc: ReadContext): Promise<LayerTable>;
  /** The driver's dirs may hold whiteouts as `.wh.` files (LayerInfo.whiteoutFiles): integrity counts them. */
  whiteoutFiles?: boolean;
  /** Why the kernel's overlayfs cannot stack the driver's dirs as they are (Source.layerDirsNotMountable). */
  notMountable?: string;
}

/** Why a directory the engine keeps is not usable: missing, a symlink (never followed), not a directory, unreadable. */
export function whyNotDir(ev: Evidence, ...parts: string[]): string {
  try {
    const st = ev.lstat(...parts);
    if (st === null) return 'missing';
    if (st.isSymbolicLink()) return 'is a symlink (never followed)';
    if (!st.isDirectory()) return 'is not a directory';
    return 'unreadable';
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
}

/** A dir the driver expects at `parts`: placed when it is a real directory, else noted (code, what) and null. */
export function placeDir(ctx: DriverContext, layout: LayerLayout, code: string, what: string, parts: string[]): PlacedDir {
  if (ctx.safe(() => ctx.ev.isDir(...parts), false)) return { dir: ctx.ev.path(...parts), layout };
  ctx.note('error', code, `${what} ${whyNotDir(ctx.ev, ...parts)}`, ctx.ev.path(...parts));
  return { dir: null, layout };
}
