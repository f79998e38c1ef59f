import type { LayerTable } from './layer-table.js';
import type { Problem } from './types.js';

/**
 * Docker volumes and bind mounts of a data root, read offline (both image stores keep `volumes/` alike).
 *
 * A volume is NOT a layer: its tree is read as a plain directory (a `.wh.x` file or a 0:0 character device in a
 * volume is what it is, never a whiteout; overlay xattrs are plain xattrs).
 */

/** Who mounts a volume, and where. */
export interface VolumeUse {
  containerId: string;
  /** Container name without the leading '/'. */
  container: string;
  destination: string;
  rw: boolean;
}

/** One volume, with the fields `docker volume inspect` prints and where its data sits in the evidence. */
export interface VolumeInfo {
  name: string;
  driver: string;
  /**
   * As `docker volume inspect` prints it: `<engine data root>/volumes/<name>/_data` for the local driver (the
   * root the engine ran with, see VolumeListing.engineRoot), '' for a plugin's volume (only the plugin knows).
   */
  mountpoint: string;
  /**
   * What `docker volume inspect` prints as CreatedAt: the change time of `volumes/<name>/` (moby's local driver
   * takes st_ctim of that dir), RFC 3339 to the second. The engine prints it in its own time zone; this is UTC
   * (the same instant). Null when the directory is missing. Engines before Docker 23.0 printed `dataChangedAt`
   * instead (moby#44719).
   */
  createdAt: string | null;
  /**
   * st_ctim of `_data` (same format): the last time a name was added or removed directly in the volume's data dir.
   * What Docker < 23.0 printed as CreatedAt. Null when `_data` is not a real directory.
   */
  dataChangedAt: string | null;
  /** From volumes/metadata.db, as the engine recorded them (null stays null, as docker prints it). */
  labels: Record<string, string> | null;
  options: Record<string, string> | null;
  /** 'local' for the local driver; null for a plugin's volume (its scope is the plugin's answer, not on disk). */
  scope: 'local' | null;
  /** Made for a container without a name: labelled com.docker.volume.anonymous (Docker >= 23), or a 64-hex name. */
  anonymous: boolean;
  /** Host path of `_data` in the evidence, when it is a real directory (never a symlink). */
  dataDir: string | null;
  /** Recorded in volumes/metadata.db. */
  inMetadata: boolean;
  /** `volumes/<name>/` exists as a real directory. */
  onDisk: boolean;
  /**
   * opts.json of a local volume made with `type`/`device` options (nfs, cifs, tmpfs, a bind of a host dir): the
   * engine mounts that over `_data` while a container uses it, so what was stored there is not in the evidence.
   */
  mount: { type: string; device: string; options: string } | null;
  /** Containers whose MountPoints name this volume, sorted by container name, then destination. */
  usedBy: VolumeUse[];
}

/** A bind mount of a container: a host path, readable here only when it lies inside the evidence. */
export interface BindMount {
  containerId: string;
  container: string;
  /** The host path as the engine recorded it (config.v2.json MountPoints Source). */
  source: string;
  destination: string;
  rw: boolean;
  /**
   * Where the source is in the evidence we read (the source lies under the engine's data root, which we read at
   * another path), or null when it is outside the evidence (then `outside` says why).
   */
  evidencePath: string | null;
  outside: string | null;
}

export interface VolumeListing {
  volumes: VolumeInfo[];
  binds: BindMount[];
  /**
   * The data root path the engine ran with, as its own files record it (containers' ResolvConfPath, LogPath,
   * volume mount sources); null when nothing records it (then mountpoints are given under the evidence path).
   */
  engineRoot: string | null;
  /** What reading volumes/ and metadata.db met; each names the file. */
  problems: Problem[];
}

export interface VolumeSize {
  /** Bytes as `docker system df -v` counts them; null when the data cannot be read (a problem says why). */
  bytes: number | null;
  problems: Problem[];
}

/** What a tree (a volume's `_data`, a bind source inside the evidence) is, for listing and copying out. */
export interface MountTree {
  /** The host directory read (in the evidence). */
  dir: string;
  /** Its entries as a plain directory: no whiteouts, no opaque dirs; paths relative to `dir`. */
  table: LayerTable;
}

/**
 * Volumes and binds of a Docker data root. `list()` reads only metadata (metadata.db, the volumes/ listing, the
 * container configs already read): a first screen can show it at once; sizes and trees are walked on demand and
 * cached, each read once.
 */
export interface VolumeAccess {
  list(): VolumeListing;
  /** Bytes of one volume's data, as `docker system df -v` counts them. */
  size(volume: VolumeInfo): Promise<VolumeSize>;
  /** Bytes of a bind source inside the evidence, counted the same way. */
  bindSize(bind: BindMount): Promise<VolumeSize>;
  /** A volume's tree (read-only; nothing followed). Rejects (a LayerscopeError naming the path) when it has no data here. */
  readTree(volume: VolumeInfo): Promise<MountTree>;
  /** A bind source's tree, when it lies inside the evidence. */
  readBindTree(bind: BindMount): Promise<MountTree>;
}
