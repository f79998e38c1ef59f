import type { DockerDriver } from './driver.js';
import { aufs } from './aufs.js';
import { overlay2 } from './overlay2.js';
import { fuseOverlayfs } from './fuse-overlayfs.js';
import { overlay } from './overlay.js';
import { btrfs, vfs } from './full-tree.js';

/**
 * The graph drivers whose stores layerscope reads (drivers.ts lists every driver it recognises). Reading another
 * driver is a module implementing DockerDriver and one entry here.
 */
export const DOCKER_DRIVERS: Readonly<Record<string, DockerDriver>> = {
  overlay2,
  aufs,
  overlay,
  vfs,
  btrfs,
  'fuse-overlayfs': fuseOverlayfs,
};
