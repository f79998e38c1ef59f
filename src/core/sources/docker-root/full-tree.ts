import { LayerTableBuilder } from '../../model/layer-table.js';
import { problem } from '../../model/types.js';
import { readTreeDiff } from '../walk/tree-diff.js';
import { placeDir, type DockerDriver, type LayerToRead, type ReadContext } from './driver.js';

/**
 * Drivers that keep every layer as a whole tree, a copy (vfs, moby daemon/graphdriver/vfs: `vfs/dir/<id>`, made by
 * copying the parent's dir) or a snapshot (btrfs, daemon/graphdriver/btrfs: `btrfs/subvolumes/<id>`, a subvolume
 * snapshot of the parent's). Neither has a diff of its own: the engine computes a layer's changes by comparing its
 * tree with its parent's (graphdriver.NaiveDiffDriver), and so does this reader (walk/tree-diff.ts). Containers'
 * RW and init layers are kept alike (`<mount-id>`, `<mount-id>-init`).
 */

/** A layer's changes from its whole tree and its parent's; a parent that should exist but does not is a problem. */
export function readFullLayer(layer: LayerToRead, rc: ReadContext, driver: string): ReturnType<DockerDriver['read']> {
  if (layer.hasParent && layer.parentDir === null) {
    const p = problem('error', `${driver}.parent.missing`, "the layer below is not on disk: this layer's changes (its tree compared with its parent's) cannot be computed", layer.dir);
    return Promise.resolve(new LayerTableBuilder(rc.paths, 8).finish([p]));
  }
  return readTreeDiff(layer.dir, layer.parentDir, rc.paths, { priority: rc.priority });
}

function wholeTreeDriver(name: string, below: string[]): DockerDriver {
  return {
    name,
    layersAt: [name, ...below],
    bookkeeping: new Set(),
    imageLayer(ctx, chainId, cacheId) {
      return placeDir(ctx, 'full', `${name}.dir.missing`, `layer ${chainId}: its directory`, [name, ...below, cacheId]);
    },
    containerLayer(ctx, container, which, id) {
      return placeDir(ctx, 'full', `${name}.dir.missing`, `container ${container.slice(0, 12)}: ${which === 'rw' ? 'RW' : 'init'} layer directory`, [name, ...below, id]);
    },
    read: (layer, rc) => readFullLayer(layer, rc, name),
  };
}

export const vfs = wholeTreeDriver('vfs', ['dir']);
export const btrfs = wholeTreeDriver('btrfs', ['subvolumes']);
