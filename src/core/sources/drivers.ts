/**
 * The graph drivers a Docker data root can be on (moby daemon/graphdriver, Linux). Each keeps its image
 * metadata in `image/<name>/` (imagedb, layerdb, repositories.json: the same format for every driver) and its
 * layer directories in `<name>/`. Which of them layerscope can read is decided in one place, open.ts.
 */
export interface GraphDriver {
  name: string;
  /**
   * A non-empty `<name>/` dir makes moby keep using this driver ("graphdriver-prior",
   * daemon/graphdriver/driver.go HasPriorDriver); vfs never counts.
   */
  prior: boolean;
}

export const GRAPH_DRIVERS: readonly GraphDriver[] = [
  { name: 'overlay2', prior: true },
  { name: 'fuse-overlayfs', prior: true },
  { name: 'btrfs', prior: true },
  { name: 'zfs', prior: true },
  { name: 'devicemapper', prior: true },
  { name: 'aufs', prior: true },
  { name: 'overlay', prior: true },
  { name: 'vfs', prior: false },
];

export const GRAPH_DRIVER_NAMES: ReadonlySet<string> = new Set(GRAPH_DRIVERS.map((d) => d.name));
