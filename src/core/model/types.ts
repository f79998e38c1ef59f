import type { IdMap } from './idmap.js';
/**
 * The model every source produces and every consumer (analysis, report, TUI, verify) reads. Plain,
 * serialisable data: no methods, no UI state. Paths are byte strings (see path.ts).
 *
 * The central invariant: sources normalise their native whiteout encodings (OCI `.wh.` names, overlay char
 * devices 0:0, `trusted.overlay.opaque`, AUFS-style files, xattr whiteouts) into `LayerEntry` records, so that
 * nothing downstream ever sees a `.wh.` name or a device number used as a marker.
 */

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'socket';

/** Attributes of one filesystem object as a layer records it. */
export interface Attrs {
  type: EntryType;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /**
   * Regular files: content length. Hardlinks: the length of the file they link to. Symlinks: length of the
   * target. Everything else: 0.
   */
  size: number;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  /** Nanosecond part of the modification time (0..999999999); 0 when the source only has seconds. */
  mtimeNsec: number;
  /** Symlink target (as stored, byte string), or for type 'hardlink' the layer path it links to. */
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  /**
   * Extended attributes that are part of the content (security.capability, user.*, ...), hex-encoded, keyed by
   * name. Overlay bookkeeping xattrs (trusted.overlay.* / user.overlay.*) are never included here.
   */
  xattrs?: Record<string, string>;
  /**
   * A symlink, device or fifo of a layer dir that is another name of one inode: the layer path of its first name
   * (walk order). Engines' tar writers link every non-directory inode met twice (a hardlink row is a file's).
   */
  sameInodeAs?: string;
}

/** One record of a layer's changeset, in normalised form. */
export type LayerEntry = PutEntry | WhiteoutEntry;

export interface PutEntry {
  kind: 'put';
  path: string;
  attrs: Attrs;
  /** Directory that hides every lower child (OCI `.wh..wh..opq`, overlay `opaque=y`). */
  opaque?: boolean;
  /**
   * Overlay features that make a diff dir differ from a plain changeset. They are reported, not interpreted:
   * `redirect` = value of overlay.redirect (a renamed dir whose children live in a lower layer), `metacopy` =
   * a metadata-only copy-up whose data are in a lower layer.
   */
  redirect?: string;
  metacopy?: boolean;
}

export interface WhiteoutEntry {
  kind: 'whiteout';
  /** The lower path this whiteout deletes (with its whole subtree). */
  path: string;
  /** Owner as the whiteout recorded it (moby chowns the 0:0 device to the tar header's owner). */
  uid?: number;
  gid?: number;
}

/** A layer's changeset. Entries are in walk order (compareWalkOrder); a path appears at most once. */
export interface LayerChanges {
  entries: LayerEntry[];
  /** Problems met while reading this layer (unreadable files, odd markers...). */
  problems: Problem[];
}

export interface LayerInfo {
  /** 0 = base layer. */
  index: number;
  /** sha256 of the uncompressed layer tar, from the image config (`rootfs.diff_ids[index]`). */
  diffId: string;
  /** ChainID computed from the diffIds (never read from evidence). */
  chainId: string;
  /** overlay2 dir name from layerdb (data roots), null for archives. */
  cacheId: string | null;
  /** The history entry that made this layer, if the config's history lines up. */
  createdBy: string | null;
  created: string | null;
  comment: string | null;
  /** Where the layer's content lives: a diff dir for data roots, a member/blob path for archives. */
  location: string | null;
  /** Size as the store records it (layerdb `size`), when it does. */
  storedSize: number | null;
  /**
   * How `location` holds the layer (directory-backed layers only; absent = 'diff'):
   * - 'diff': an overlay upper dir, the layer's changes alone (whiteouts as 0:0 char devices or overlay xattrs);
   * - 'aufs': the layer's changes alone, whiteouts and opaque dirs as `.wh.` names (the aufs driver);
   * - 'full': the whole file system as of this layer (vfs, btrfs, the first overlay driver's `root`): its
   *   changes are its difference from the parent layer's tree, as the engine's naive differ computes them.
   * A file's bytes at this layer are at `location/<path>` in every layout.
   */
  layout?: LayerLayout;
  /** The store's tar-split of this layer (moby layerdb, containers-storage), when it keeps one: integrity. */
  tarSplit?: string | null;
  /**
   * The files in `location` carry host ids that this maps to the layer's own (a rootless store, a layer written
   * with an id map); absent: they carry the layer's ids. readLayer's tables already show the layer's ids.
   */
  idMap?: IdMap | null;
  /**
   * `location` may hold whiteouts as `.wh.NAME` files and opaque markers as `.wh..wh..opq` files besides 0:0
   * devices and xattrs (a containers/storage store mounted through fuse-overlayfs extracts layers so).
   */
  whiteoutFiles?: boolean;
}

export type LayerLayout = 'diff' | 'aufs' | 'full';

/**
 * The store an image or container was read from, when a source reads several (`--image-root`: every store of a
 * mounted disk). Absent for a source that is one store.
 */
export interface StoreRef {
  /** Short and unique among the source's stores: `docker`, `containerd`, `alice:docker`, `docker#2`. */
  label: string;
  /** Host path of the store. */
  location: string;
  /** That path below the image root (`var/lib/docker`), as the evidence host named it. */
  relative: string;
  /** What the store is (a SourceKind: docker-root, containerd-root, containers-storage...). */
  kind: string;
  /** Source.layerDirsNotMountable of the store: why the kernel cannot stack its dirs as they are. */
  layerDirsNotMountable?: string | null;
}

export interface ImageInfo {
  /** The store it is from, when the source reads several. */
  store?: StoreRef;
  /** `sha256:<hex>` of the config's exact bytes (the Docker image ID). */
  id: string;
  /** Familiar references, e.g. `bloat:1`. */
  tags: string[];
  /** Digest references, e.g. `app@sha256:...`. */
  digests: string[];
  created: string | null;
  os: string | null;
  architecture: string | null;
  variant?: string | null;
  layers: LayerInfo[];
  /** History entries that made no layer (ENV, CMD...), in order, for display. */
  emptyHistory: number;
  /** The parsed image config (for the TUI's details and for diffs of Env/Cmd...). */
  config: Record<string, unknown>;
  /** Parent image ID (legacy builder / docker commit; imagedb metadata), when recorded. */
  parent?: string | null;
  /**
   * An untagged image that is the parent of another image: a legacy-builder step. `docker images` hides
   * these (shows them with -a); reports list them only when asked.
   */
  intermediate?: boolean;
  /**
   * containerd image store only: the digests the image records point at (manifests or indexes). Docker on that
   * store shows the target as the image ID, where the classic store shows the config digest (`id`).
   */
  targets?: string[];
}

export type ContainerState = 'running' | 'paused' | 'restarting' | 'exited' | 'created' | 'dead' | 'removing';

export interface ContainerInfo {
  id: string;
  /** The store it is from, when the source reads several. */
  store?: StoreRef;
  /** Without the leading '/'. */
  name: string;
  /** Image ID the container was created from. */
  image: string;
  /** What the user typed (Config.Image), e.g. `bloat:1`. */
  imageRef: string | null;
  state: ContainerState;
  /** Last recorded state details, as config.v2.json keeps them. */
  pid: number | null;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  created: string | null;
  driver: string | null;
  /** RW layer dir name (overlay2/<mountId>). */
  mountId: string | null;
  /** Init layer dir name (overlay2/<initId>), excluded from the container's changes. */
  initId: string | null;
  /** ChainID of the image's top layer (layerdb/mounts/<id>/parent). */
  parentChainId: string | null;
  /** Absolute path of the RW layer's diff dir, when it exists. */
  rwDir: string | null;
  initDir: string | null;
  /** How rwDir and initDir hold their layers (LayerInfo.layout; absent = 'diff'). */
  layout?: LayerLayout;
  /** The host ids of rwDir and initDir mapped to the container's (LayerInfo.idMap: a rootless store). */
  idMap?: IdMap | null;
  /**
   * Absolute path of the engine's directory for the container (`containers/<id>/` of a Docker data root:
   * config.v2.json, hostconfig.json, the logs); absent where the source keeps none (containerd's own containers).
   */
  stateDir?: string | null;
  mounts: { destination: string; source: string | null; name: string | null; type: string | null; rw: boolean }[];
  /**
   * What `docker inspect` prints, read from the engine's files (Docker data roots, either image store); absent
   * for containers the source keeps no such files for (containerd's own containers).
   */
  inspect?: ContainerInspect;
  /**
   * config.v2.json's SeccompProfile: what the engine applies when it starts the container ("unconfined", a
   * profile, or empty for the default). docker inspect does not print it; the risk findings read it.
   */
  seccompProfile?: string | null;
  /**
   * Paths the engine's own diff leaves out of the container's changes, though its RW layer holds them (podman's
   * placeholders: /etc/hosts, /run/.containerenv...: libpod's initInodes). Absent: none.
   */
  diffHides?: readonly string[];
  /**
   * How the engine computes the container's diff: 'naive' (default: the two merged trees compared, as Docker's
   * overlay2 and a fuse-overlayfs store do) or 'layer' (the RW layer's entries alone, as containers/storage's
   * native overlay diff does: a copied-up dir whose mode and mtime are unchanged is no change).
   */
  diffMethod?: 'naive' | 'layer';
  /**
   * The user namespace the engine ran the container in, when the source knows it without docker's fields (a
   * rootless podman store: uid 0 inside is its owner outside); absent: none known.
   */
  userNamespace?: string | null;
  /** Kubernetes identity of a container a CRI runtime made (CRI-O), when its store records one. */
  kubernetes?: KubernetesIdentity | null;
}

export interface KubernetesIdentity {
  pod: string | null;
  podId: string | null;
  namespace: string | null;
  /** The container's name in its pod spec. */
  container: string | null;
  /** The pod's infrastructure (pause) container. */
  sandbox: boolean;
}

/**
 * `docker inspect` of a container, rebuilt offline from `containers/<id>/config.v2.json` and `hostconfig.json`.
 * Keys and value shapes are docker's own (types.ContainerJSON), so `--format json` can be compared with the
 * engine's output key by key: a key the engine's file does not hold is left out, a null stays null (Go writes
 * nil slices and maps as null, and docker inspect prints them so). Values are copied as the engine recorded
 * them; only `State.Status` and `Mounts` are derived, as the engine derives them.
 */
export interface InspectMount {
  Type?: string;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface ContainerInspect {
  Id: string;
  Created?: string | null;
  Path?: string | null;
  Args?: string[] | null;
  State?: Record<string, unknown> | null;
  Image?: string | null;
  ResolvConfPath?: string | null;
  HostnamePath?: string | null;
  HostsPath?: string | null;
  LogPath?: string | null;
  Name?: string | null;
  RestartCount?: number | null;
  Driver?: string | null;
  AppArmorProfile?: string | null;
  /** Null when hostconfig.json is missing or unusable (a problem says why). */
  HostConfig: InspectHostConfig | null;
  Mounts: InspectMount[];
  Config?: Record<string, unknown> | null;
}

/** The HostConfig fields we print (the ones that say how the container was started and with what power). */
export interface InspectHostConfig {
  Binds?: string[] | null;
  PortBindings?: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
  Privileged?: boolean | null;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  NetworkMode?: string | null;
  PidMode?: string | null;
  IpcMode?: string | null;
  UTSMode?: string | null;
  UsernsMode?: string | null;
  SecurityOpt?: string[] | null;
  Devices?: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] | null;
  DeviceCgroupRules?: string[] | null;
  ReadonlyRootfs?: boolean | null;
  RestartPolicy?: { Name: string; MaximumRetryCount: number } | null;
  LogConfig?: { Type: string; Config: Record<string, string> | null } | null;
  AutoRemove?: boolean | null;
}


export type Severity = 'error' | 'warning' | 'info';

/** Anything wrong or notable in the evidence. Never thrown: collected, so the rest of the analysis goes on. */
export interface Problem {
  severity: Severity;
  /** Stable identifier, e.g. `layerdb.cache-id.invalid`. */
  code: string;
  message: string;
  /** The file or directory concerned (host path, or layer path prefixed by the layer it is in). */
  path: string | null;
}

export function problem(severity: Severity, code: string, message: string, path: string | null = null): Problem {
  return { severity, code, message, path };
}
