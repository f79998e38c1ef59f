import { readLayerDir } from '../walk/layer-dir.js';
import { placeDir, type DockerDriver, type DriverContext, type DriverLayerRecord } from './driver.js';

/**
 * overlay2 (moby daemon/graphdriver/overlay2): `overlay2/<id>/diff` is the layer's overlay upper dir, `link` its
 * 26-character short name (`l/<link>` -> `../<id>/diff`), `lower` the colon-separated `l/<link>` list of every
 * layer below, nearest first. Containers' RW and init layers are laid out alike.
 */

const LINK_ID = /^[A-Z2-7]{26}$/;
const MAX_SMALL = 1 << 16;
const NAME = 'overlay2';

/** Link names read so far, per cache-id: a layer's `lower` is checked against its parent's. */
const linkCache = new WeakMap<DriverContext, Map<string, string | null>>();

export const overlay2: DockerDriver = {
  name: NAME,
  layersAt: [NAME],
  bookkeeping: new Set(['l']),
  imageLayer(ctx, chainId, cacheId) {
    return placeDir(ctx, 'diff', 'overlay2.diff.missing', `layer ${chainId}: its diff directory`, [NAME, cacheId, 'diff']);
  },
  containerLayer(ctx, container, which, id) {
    return placeDir(ctx, 'diff', 'overlay2.diff.missing', `container ${container.slice(0, 12)}: ${which === 'rw' ? 'RW' : 'init'} layer directory`, [NAME, id, 'diff']);
  },
  checkLayer: checkOverlayDir,
  read(layer, rc) {
    return readLayerDir(layer.dir, rc.paths, { priority: rc.priority, overlayXattrs: rc.overlayXattrs });
  },
};

/** Check overlay2/<cache-id>/{link,lower} and l/<link> against the chain. */
function checkOverlayDir(ctx: DriverContext, rec: DriverLayerRecord, parent: DriverLayerRecord | null): void {
  const { ev, note, safe } = ctx;
  let linkOf = linkCache.get(ctx);
  if (!linkOf) linkCache.set(ctx, (linkOf = new Map()));
  const id = rec.cacheId;
  const link = safe(() => ev.readText(MAX_SMALL, NAME, id, 'link'), null);
  if (link === null) {
    note('warning', 'overlay2.link.missing', 'no link file: the engine cannot build mount options for this layer', ev.path(NAME, id, 'link'));
  } else if (!LINK_ID.test(link)) {
    note('error', 'overlay2.link.invalid', `link ${JSON.stringify(link.slice(0, 40))} is not 26 base32 characters`, ev.path(NAME, id, 'link'));
  } else {
    const target = safe(() => ev.readlink(NAME, 'l', link), null);
    if (target !== `../${id}/diff`) {
      note('error', 'overlay2.l.mismatch', `l/${link} points to ${JSON.stringify(target)}, not ../${id}/diff: mounts would use another directory`, ev.path(NAME, 'l', link));
    }
  }
  linkOf.set(id, link && LINK_ID.test(link) ? link : null);
  const lower = safe(() => ev.readText(MAX_SMALL * 4, NAME, id, 'lower'), null);
  if (!parent) {
    if (lower) note('error', 'overlay2.lower.unexpected', 'a base layer has a lower file', ev.path(NAME, id, 'lower'));
    return;
  }
  const parentLink = linkOf.get(parent.cacheId);
  const parentLower = safe(() => ev.readText(MAX_SMALL * 4, NAME, parent.cacheId, 'lower'), null);
  if (parentLink === undefined || parentLink === null) return;
  const expected = parentLower ? `l/${parentLink}:${parentLower}` : `l/${parentLink}`;
  if (lower !== expected) {
    note('error', 'overlay2.lower.mismatch', `lower does not match the layer chain (expected the parent's link first, then its lowers)`, ev.path(NAME, id, 'lower'));
  }
}
