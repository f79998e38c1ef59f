import { readLayerDir } from '../walk/layer-dir.js';
import { placeDir, type DockerDriver, type DriverContext, type DriverLayerRecord } from './driver.js';

/**
 * overlay2 (moby daemon/graphdriver/overlay2): `overlay2/<id>/diff` is the layer's overlay upper dir, `link` its
 * 26-character short name (`l/<link>` -> `../<id>/diff`), `lower` the colon-separated `l/<link>` list of every
 * layer below, nearest first. Containers' RW and init layers are laid out alike. The fuse-overlayfs driver
 * (rootless engines) lays its store out the same way under `fuse-overlayfs/`; what differs is how its dirs
 * mark whiteouts and opaque dirs (fuse-overlayfs.ts).
 */

const LINK_ID = /^[A-Z2-7]{26}$/;
const MAX_SMALL = 1 << 16;

/** Link names read so far, per store: a layer's `lower` is checked against its parent's. */
const linkCache = new WeakMap<DriverContext, Map<string, string | null>>();

/** A driver laid out as overlay2 is, under `<name>/`, reading its dirs with `read`. */
export function overlayLayoutDriver(dir: string, read: DockerDriver['read']): DockerDriver {
  return {
    name: dir,
    layersAt: [dir],
    bookkeeping: new Set(['l']),
    imageLayer(ctx, chainId, cacheId) {
      return placeDir(ctx, 'diff', `${dir}.diff.missing`, `layer ${chainId}: its diff directory`, [dir, cacheId, 'diff']);
    },
    containerLayer(ctx, container, which, id) {
      return placeDir(ctx, 'diff', `${dir}.diff.missing`, `container ${container.slice(0, 12)}: ${which === 'rw' ? 'RW' : 'init'} layer directory`, [dir, id, 'diff']);
    },
    checkLayer: (ctx, rec, parent) => checkOverlayDir(dir, ctx, rec, parent),
    read,
  };
}

export const overlay2: DockerDriver = overlayLayoutDriver('overlay2', (layer, rc) => readLayerDir(layer.dir, rc.paths, { priority: rc.priority, overlayXattrs: rc.overlayXattrs }));

/** Check <driver>/<cache-id>/{link,lower} and l/<link> against the chain. */
function checkOverlayDir(dir: string, ctx: DriverContext, rec: DriverLayerRecord, parent: DriverLayerRecord | null): void {
  const { ev, note, safe } = ctx;
  let linkOf = linkCache.get(ctx);
  if (!linkOf) linkCache.set(ctx, (linkOf = new Map()));
  const id = rec.cacheId;
  const link = safe(() => ev.readText(MAX_SMALL, dir, id, 'link'), null);
  if (link === null) {
    note('warning', `${dir}.link.missing`, 'no link file: the engine cannot build mount options for this layer', ev.path(dir, id, 'link'));
  } else if (!LINK_ID.test(link)) {
    note('error', `${dir}.link.invalid`, `link ${JSON.stringify(link.slice(0, 40))} is not 26 base32 characters`, ev.path(dir, id, 'link'));
  } else {
    const target = safe(() => ev.readlink(dir, 'l', link), null);
    if (target !== `../${id}/diff`) {
      note('error', `${dir}.l.mismatch`, `l/${link} points to ${JSON.stringify(target)}, not ../${id}/diff: mounts would use another directory`, ev.path(dir, 'l', link));
    }
  }
  linkOf.set(id, link && LINK_ID.test(link) ? link : null);
  const lower = safe(() => ev.readText(MAX_SMALL * 4, dir, id, 'lower'), null);
  if (!parent) {
    if (lower) note('error', `${dir}.lower.unexpected`, 'a base layer has a lower file', ev.path(dir, id, 'lower'));
    return;
  }
  const parentLink = linkOf.get(parent.cacheId);
  const parentLower = safe(() => ev.readText(MAX_SMALL * 4, dir, parent.cacheId, 'lower'), null);
  if (parentLink === undefined || parentLink === null) return;
  const expected = parentLower ? `l/${parentLink}:${parentLower}` : `l/${parentLink}`;
  if (lower !== expected) {
    note('error', `${dir}.lower.mismatch`, `lower does not match the layer chain (expected the parent's link first, then its lowers)`, ev.path(dir, id, 'lower'));
  }
}
