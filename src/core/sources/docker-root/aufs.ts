import { readLayerDir } from '../walk/layer-dir.js';
import { digestHex, isDigest } from '../../analysis/chain.js';
import { placeDir, type DockerDriver, type DriverContext } from './driver.js';

/**
 * aufs (moby daemon/graphdriver/aufs, removed in moby 24): every layer, image layer or container layer, is a
 * branch `aufs/diff/<id>` holding its changes alone, as the layer's tar had them: whiteouts and opaque markers are
 * `.wh.` names (the layer-dir walk reads them in its aufs form). `aufs/layers/<id>` lists the ids of every layer
 * below it, nearest first, one a line (a base layer's file is empty): the engine mounts `diff/<id>=rw` over each
 * of those `diff/<p>=ro+wh` at `aufs/mnt/<id>`. A container's RW layer is `<mount-id>`, its init layer
 * `<mount-id>-init`; ids come from layerdb (cache-id, mount-id, init-id), random 64 hex digits like overlay2's.
 *
 * The engine's own `docker diff` on aufs (pkg/archive Changes with aufsDeletedFile) reads a nested
 * `.wh..wh..opq` as a whiteout of `.wh..opq` and lists `D <dir>/.wh..opq`; the model has the dir opaque instead.
 *
 * docker-explorer reads `aufs/layers/<mount-id>` and joins each word into a path for `mount -t aufs`: a line
 * `../../x` or `/x` mounts any directory, the list is never held against layerdb, and nothing is read without
 * the aufs module. Here the list is only ever compared: each line must be an id (64 hex digits, or that and
 * `-init`) before anything is looked up by it, and the layers are read from layerdb's chain, never from it.
 */

const NAME = 'aufs';
const DIFF = [NAME, 'diff'];
const HEX64 = /^[0-9a-f]{64}$/;
const LAYER_ID = /^[0-9a-f]{64}(-init)?$/;
/** A chain of 1000 ids is 65 kB; moby refuses images past 128 layers. */
const MAX_LAYERS_FILE = 1 << 20;
const MAX_SMALL = 1 << 16;

/** The list each layer's `aufs/layers/<id>` should hold, by id, as the chain says (image layers, then init layers). */
const expectedLists = new WeakMap<DriverContext, Map<string, string[] | null>>();

function listsOf(ctx: DriverContext): Map<string, string[] | null> {
  let m = expectedLists.get(ctx);
  if (!m) expectedLists.set(ctx, (m = new Map()));
  return m;
}

export const aufs: DockerDriver = {
  name: NAME,
  layersAt: DIFF,
  // Mount points live in aufs/mnt/ and lists in aufs/layers/, beside diff/: nothing in diff/ is bookkeeping.
  bookkeeping: new Set(),
  imageLayer(ctx, chainId, cacheId) {
    checkMountPoint(ctx, cacheId);
    return placeDir(ctx, 'aufs', 'aufs.diff.missing', `layer ${chainId}: its diff directory`, [...DIFF, cacheId]);
  },
  containerLayer(ctx, container, which, id) {
    const placed = placeDir(ctx, 'aufs', 'aufs.diff.missing', `container ${container.slice(0, 12)}: ${which === 'rw' ? 'RW' : 'init'} layer directory`, [...DIFF, id]);
    checkContainerList(ctx, container, which, id);
    checkMountPoint(ctx, id);
    return placed;
  },
  checkLayer(ctx, rec, parent) {
    const lists = listsOf(ctx);
    let expected: string[] | null;
    if (parent) {
      const below = lists.get(parent.cacheId);
      expected = below ? [parent.cacheId, ...below] : null;
    } else {
      // No parent record: a base layer, or a parent whose cache-id is unusable (said where it is read).
      const hasParent = ctx.safe(() => ctx.ev.lstat('image', NAME, 'layerdb', 'sha256', digestHex(rec.chainId), 'parent') !== null, true);
      expected = hasParent ? null : [];
    }
    lists.set(rec.cacheId, expected);
    checkList(ctx, rec.cacheId, expected, `layer ${rec.chainId}`);
  },
  read(layer, rc) {
    return readLayerDir(layer.dir, rc.paths, { priority: rc.priority, whiteouts: 'aufs' });
  },
};

/**
 * `aufs/mnt/<id>` is an empty mount point while the layer is not mounted (a disk image, a stopped engine): files
 * below it were written there while nothing was mounted, and are in no layer's view. A mount point that is
 * mounted (another device than aufs/mnt/: the engine's live union) is the layer's view, not a finding.
 */
function checkMountPoint(ctx: DriverContext, id: string): void {
  const { ev, note, safe } = ctx;
  const st = safe(() => ev.lstat(NAME, 'mnt', id), null);
  if (st === null) return;
  const where = ev.path(NAME, 'mnt', id);
  if (!st.isDirectory()) {
    note('warning', 'aufs.mnt.not-dir', `the mount point is ${st.isSymbolicLink() ? 'a symlink (never followed)' : 'not a directory'}: the engine cannot mount the layer there`, where);
    return;
  }
  const parent = safe(() => ev.lstat(NAME, 'mnt'), null);
  if (parent && parent.dev !== st.dev) return;
  const names = safe(() => ev.readdir(NAME, 'mnt', id), [] as string[]);
  if (names.length) note('warning', 'aufs.mnt.content', `${names.length} entr${names.length === 1 ? 'y' : 'ies'} below a mount point that is not mounted: written there while the layer was unmounted, in no view of any layer or container`, where);
}

/**
 * A container's lists: `<mount-id>-init` over the image's top layer, `<mount-id>` over its init layer. The top
 * layer is the one layerdb/mounts/<container>/parent names (its cache-id's list is known once images are read).
 */
function checkContainerList(ctx: DriverContext, container: string, which: 'rw' | 'init', id: string): void {
  const { ev, safe } = ctx;
  const lists = listsOf(ctx);
  const mounts = ['image', NAME, 'layerdb', 'mounts', container];
  let top: string[] | null = [];
  const parent = safe(() => ev.readText(MAX_SMALL, ...mounts, 'parent'), null);
  if (parent !== null) {
    top = null;
    const cacheId = isDigest(parent) ? safe(() => ev.readText(MAX_SMALL, 'image', NAME, 'layerdb', 'sha256', digestHex(parent), 'cache-id'), null) : null;
    const below = cacheId !== null && HEX64.test(cacheId) ? lists.get(cacheId) : undefined;
    if (below) top = [cacheId!, ...below];
  }
  const mountId = which === 'rw' ? id : id.slice(0, -'-init'.length);
  const initList = top && [...top];
  if (which === 'init') {
    lists.set(id, initList);
    checkList(ctx, id, initList, `container ${container.slice(0, 12)} init layer`);
    return;
  }
  // The RW layer sits on the init layer when there is one (moby always makes it; a crafted store may not).
  const init = mountId + '-init';
  const hasInit = safe(() => ev.lstat(...DIFF, init) !== null || ev.lstat(NAME, 'layers', init) !== null, false);
  const expected = top && (hasInit ? [init, ...top] : top);
  checkList(ctx, id, expected, `container ${container.slice(0, 12)} RW layer`);
}

/**
 * Check `aufs/layers/<id>` against `expected` (null: the chain below is unknown, only the file's own form is
 * checked). Each problem names the file; nothing in it becomes a path unless it is an id.
 */
function checkList(ctx: DriverContext, id: string, expected: string[] | null, what: string): void {
  const { ev, note, safe } = ctx;
  const where = ev.path(NAME, 'layers', id);
  if (safe(() => ev.lstat(NAME, 'layers', id), null) === null) {
    if (expected && expected.length) note('error', 'aufs.layers.missing', `${what}: no parent list; the engine would mount this layer without the ${expected.length} layer(s) below it`, where);
    else note('warning', 'aufs.layers.missing', `${what}: no parent list (the engine keeps one for every layer, empty for a base layer)`, where);
    return;
  }
  // A symlink, a dir or an oversized file is said by `safe` (evidence.*), naming the file.
  const text = safe(() => ev.readText(MAX_LAYERS_FILE, NAME, 'layers', id), null);
  if (text === null) return;
  const lines = text.split('\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const seen = new Set<string>([id]);
  const ids: string[] = [];
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (!LAYER_ID.test(line)) {
      // Never a path: `../../etc` or `/` here would make a naive reader mount any directory of the host.
      note('error', 'aufs.layers.bad-id', `${what}: line ${n + 1} holds ${JSON.stringify(line.slice(0, 80))}, not a layer id; refused, never used as a path`, where);
      return;
    }
    if (seen.has(line)) {
      note('error', 'aufs.layers.cycle', `${what}: line ${n + 1} names ${line === id ? 'the layer itself' : `${line.slice(0, 12)} a second time`}: the list loops`, where);
      return;
    }
    seen.add(line);
    ids.push(line);
  }
  const absent = ids.filter((p) => !safe(() => ev.isDir(...DIFF, p), false));
  if (absent.length) {
    note('error', 'aufs.layers.missing-id', `${what}: ${absent.length} listed layer(s) have no diff directory (${absent.slice(0, 3).map((p) => p.slice(0, 12)).join(', ')}${absent.length > 3 ? ', ...' : ''}): the engine cannot mount it`, where);
  }
  if (expected === null) return;
  const at = firstDifference(ids, expected);
  if (at >= 0) {
    const said = at < ids.length ? ids[at]!.slice(0, 12) : 'nothing';
    const wanted = at < expected.length ? expected[at]!.slice(0, 12) : 'nothing';
    note('error', 'aufs.layers.mismatch', `${what}: the parent list disagrees with layerdb's chain at line ${at + 1} (${said}, the chain has ${wanted}): the engine would mount other layers below it than the image's`, where);
  }
}

function firstDifference(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}
