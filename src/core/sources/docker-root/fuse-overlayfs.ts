import { readLayerDir } from '../walk/layer-dir.js';
import { fuseLayer } from '../fuse-overlayfs.js';
import type { DockerDriver } from './driver.js';
import { overlayLayoutDriver } from './overlay2.js';

/**
 * fuse-overlayfs (moby daemon/graphdriver/fuse-overlayfs, the driver of rootless engines on kernels or file
 * systems where overlayfs cannot be mounted unprivileged): overlay2's layout under `fuse-overlayfs/`, but the layers
 * the engine extracts keep their whiteouts as `.wh.` files, and fuse-overlayfs marks opaque dirs with
 * user.fuseoverlayfs.opaque or `.wh..wh..opq` files. The kernel's overlayfs would show those as files: the mount
 * check lays the layers out from what we read instead.
 */
export const fuseOverlayfs: DockerDriver = {
  ...overlayLayoutDriver('fuse-overlayfs', async (layer, rc) => fuseLayer(await readLayerDir(layer.dir, rc.paths, { priority: rc.priority, overlayXattrs: rc.overlayXattrs }), rc.paths, layer.dir)),
  whiteoutFiles: true,
  notMountable: "the store is on fuse-overlayfs, whose `.wh.` whiteout files the kernel's overlayfs shows as plain files",
};
