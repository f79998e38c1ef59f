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
  /**
   * Where below `<name>/` the driver keeps one entry per layer, named by its 64-hex id ('' for `<name>/`
   * itself): how its layer data is recognised, and counted, without reading it.
   */
  layers: string;
}

export const GRAPH_DRIVERS: readonly GraphDriver[] = [
  { name: 'overlay2', prior: true, layers: '' },
  { name: 'fuse-overlayfs', prior: true, layers: '' },
  { name: 'btrfs', prior: true, layers: 'subvolumes' },
  { name: 'zfs', prior: true, layers: 'graph' },
  { name: 'devicemapper', prior: true, layers: 'metadata' },
  { name: 'aufs', prior: true, layers: 'diff' },
  { name: 'overlay', prior: true, layers: '' },
  { name: 'vfs', prior: false, layers: 'dir' },
  { name: 'windowsfilter', prior: true, layers: '' },
];

export const GRAPH_DRIVER_NAMES: ReadonlySet<string> = new Set(GRAPH_DRIVERS.map((d) => d.name));
