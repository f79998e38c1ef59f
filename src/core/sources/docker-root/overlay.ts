import { LayerTableBuilder } from '../../model/layer-table.js';
import { problem } from '../../model/types.js';
import { readTreeDiff } from '../walk/tree-diff.js';
import { placeDir, whyNotDir, type DockerDriver, type DriverContext, type PlacedDir } from './driver.js';
import { readFullLayer } from './full-tree.js';

/**
 * The first overlay driver (moby daemon/graphdriver/overlay, removed in Docker 24). Its layers:
 * - an image layer is a whole tree, `overlay/<id>/root`: a base layer's is extracted, every other one is the
 *   parent's `root` hard-linked file by file, then the layer's tar applied (ApplyDiff). Such a layer also has
 *   `upper/`, `work/` and `lower-id` (the parent's id), made by Create and never used;
 * - a container's init layer (`<mount-id>-init`) has `lower-id` (the image's top layer, which has a root) and
 *   `upper/`, an overlay upper dir; its RW layer (`<mount-id>`) has the same `lower-id` and an `upper/` that began
 *   as a copy of the init layer's (Create copies it). Mounted, each is its upper over the lower layer's root.
 * The engine computes every layer's changes naively (graphdriver.NaiveDiffDriver): a layer's mounted tree against
 * its parent's. `docker diff` is the RW layer's merged tree against the init layer's.
 */

const NAME = 'overlay';
const HEX64 = /^[0-9a-f]{64}$/;
const MAX_SMALL = 1 << 16;

/** The root a container layer's upper dir lies over (its lower-id's `root`), by upper dir; null when unusable. */
const lowerRootOf = new Map<string, string | null>();

/** The layer `lower-id` names, when it is a layer with a root (never a path built from a hostile value). */
function lowerRoot(ctx: DriverContext, id: string, what: string): string | null {
  const { ev, note, safe } = ctx;
  const file = ev.path(NAME, id, 'lower-id');
  const lower = safe(() => ev.readText(MAX_SMALL, NAME, id, 'lower-id'), null);
  if (lower === null) {
    note('error', 'overlay.lower-id.missing', `${what}: no lower-id: the layer it lies over is unknown`, file);
    return null;
  }
  if (!HEX64.test(lower)) {
    note('error', 'overlay.lower-id.invalid', `${what}: lower-id holds ${JSON.stringify(lower.slice(0, 80))}, not a layer id (64 hex digits); refused`, file);
    return null;
  }
  if (lower === id) {
    note('error', 'overlay.lower-id.self', `${what}: lower-id names the layer itself`, file);
    return null;
  }
  if (safe(() => ev.lstat(NAME, lower), null) === null) {
    note('error', 'overlay.lower-id.dangling', `${what}: lower-id names layer ${lower}, which is not on disk`, file);
    return null;
  }
  if (!safe(() => ev.isDir(NAME, lower, 'root'), false)) {
    note('error', 'overlay.lower-id.not-root', `${what}: lower-id names layer ${lower}, whose root ${whyNotDir(ev, NAME, lower, 'root')}: the engine only lays an upper dir over a whole tree`, file);
    return null;
  }
  return ev.path(NAME, lower, 'root');
}

export const overlay: DockerDriver = {
  name: NAME,
  layersAt: [NAME],
  bookkeeping: new Set(),
  imageLayer(ctx, chainId, cacheId) {
    return placeDir(ctx, 'full', 'overlay.root.missing', `layer ${chainId}: its root directory (an image layer is a whole tree)`, [NAME, cacheId, 'root']);
  },
  containerLayer(ctx, container, which, id): PlacedDir {
    const what = `container ${container.slice(0, 12)}: ${which === 'rw' ? 'RW' : 'init'} layer`;
    // Get returns a layer's `root` whenever there is one, before looking at upper and lower-id: a container layer
    // with a root is shown to the container as that tree, not its upper over the image. The engine never makes
    // one (Create gives a container layer an upper only): it was put there.
    const planted = ctx.safe(() => ctx.ev.lstat(NAME, id, 'root'), null);
    if (planted !== null) {
      const kind = planted.isSymbolicLink() ? 'a symlink (not followed)' : planted.isDirectory() ? 'a directory' : 'not a directory';
      ctx.note('error', 'overlay.container.root', `${what}: has a root (${kind}), which the engine never makes for a container layer; an engine mounts no overlay then and shows the container that tree instead of its upper over the image: what is reported here is not the container's file system`, ctx.ev.path(NAME, id, 'root'));
    }
    const placed = placeDir(ctx, 'diff', 'overlay.upper.missing', `${what}: its upper directory`, [NAME, id, 'upper']);
    if (placed.dir) lowerRootOf.set(placed.dir, lowerRoot(ctx, id, what));
    return placed;
  },
  checkLayer(ctx, rec, parent) {
    // Create wrote lower-id = the parent's id when the parent had a root: it must name the chain's parent.
    const { ev, note, safe } = ctx;
    const lower = safe(() => ev.readText(MAX_SMALL, NAME, rec.cacheId, 'lower-id'), null);
    if (lower === null) return;
    const file = ev.path(NAME, rec.cacheId, 'lower-id');
    if (!parent) note('error', 'overlay.lower-id.unexpected', 'a base layer has a lower-id', file);
    else if (lower !== parent.cacheId) note('error', 'overlay.lower-id.mismatch', `lower-id holds ${JSON.stringify(lower.slice(0, 80))}, not the parent layer's id ${parent.cacheId}`, file);
  },
  checkContainerLayer(ctx, container, which, id, parent) {
    // The engine mounts a container layer's upper over whatever its lower-id names (Get reads it each time): one
    // naming another layer than the container's image top shows the container another file system, while its
    // changes (read over that same lower) look ordinary.
    const { ev, note, safe } = ctx;
    const lower = safe(() => ev.readText(MAX_SMALL, NAME, id, 'lower-id'), null);
    if (lower === null || !HEX64.test(lower) || lower === parent.cacheId) return;
    note('error', 'overlay.lower-id.mismatch', `container ${container.slice(0, 12)}: its ${which === 'rw' ? 'RW' : 'init'} layer's lower-id names layer ${lower}, not ${parent.cacheId}, the top layer of its image (the container's layerdb parent): the engine would mount it over another tree than its image's`, ev.path(NAME, id, 'lower-id'));
  },
  read(layer, rc) {
    if (layer.layout === 'full') return readFullLayer(layer, rc, NAME);
    // A container layer: its upper over its lower root, against its parent's tree (the init layer's upper over the
    // same root, or, for the init layer, the image's top root).
    const lower = lowerRootOf.get(layer.dir) ?? null;
    const parentLower = layer.parentDir === null || layer.parentLayout === 'full' ? null : lowerRootOf.get(layer.parentDir) ?? null;
    const unusable = lower === null ? layer.dir : layer.parentDir !== null && layer.parentLayout !== 'full' && parentLower === null ? layer.parentDir : null;
    if (unusable !== null) {
      const p = problem('error', 'overlay.lower.unusable', `the tree ${unusable} lies over is unknown (its lower-id is unusable, see that problem): the container layer's changes cannot be computed`, layer.dir);
      return Promise.resolve(new LayerTableBuilder(rc.paths, 8).finish([p]));
    }
    if (layer.hasParent && layer.parentDir === null) return readFullLayer(layer, rc, NAME);
    return readTreeDiff(layer.dir, layer.parentDir ?? lower, rc.paths, { priority: rc.priority, newLower: lower, oldLower: parentLower, overlayXattrs: rc.overlayXattrs });
  },
};
