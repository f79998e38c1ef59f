import * as fs from 'node:fs';
import type { OpenOptions, ReadOptions, Source, StorageInfo } from '../../model/source.js';
import type { ContainerInfo, ImageInfo, Problem } from '../../model/types.js';
import { IdMap } from '../../model/idmap.js';
import { rootlessIdMap } from '../rootless.js';
import { PathTable } from '../../model/paths.js';
import type { LayerTable } from '../../model/layer-table.js';
import { ProblemSink } from '../../model/problem-sink.js';
import { SourceError } from '../../model/errors.js';
import { sha256Digest } from '../../analysis/chain.js';
import { Evidence, EvidenceError, describeFsError, throwIfPermission } from '../evidence.js';
import { readLayerDir } from '../walk/layer-dir.js';
import { imageFromConfig, parseConfig } from '../config.js';
import { parseJson } from '../shape.js';
import { cachedLocations, layerAccess } from '../layer-access.js';
import { bigDataFileName, layerChain, readContainerRecords, readImages, readLayers, type CsImage, type CsLayer, type Note } from './store.js';
import { readLibpodState } from './libpod.js';
import { buildContainer } from './containers.js';
import { fuseLayer } from '../fuse-overlayfs.js';
import { readCsStorage } from './storage.js';

/**
 * A containers/storage store (podman, buildah, CRI-O; `/var/lib/containers/storage`, or a rootless user's
 * `~/.local/share/containers/storage`) on the overlay driver, read offline.
 *
 * What is read: `overlay-layers/layers.json` (+ `volatile-layers.json`) for the layer records and their parent
 * chains, `overlay/<id>/diff` for each layer's files, `overlay-layers/<id>.tar-split.gz` for integrity,
 * `overlay-images/images.json` and each image's config (a big-data item in `overlay-images/<id>/`),
 * `overlay-containers/containers.json` (+ each container's `userdata/`), and podman's `libpod/bolt_state.db`.
 *
 * Nothing is trusted: image IDs are recomputed from the config bytes, each image's layer chain (walked through
 * `parent` from its top layer) must give the config's diffIDs, ids must be 64 hex digits before they become a
 * path, and every file is read through `Evidence` (no symlink followed, bounded reads).
 */

const DRIVER = 'overlay';
const MAX_CONFIG = 64 << 20;
const LINK_ID = /^[A-Z2-7]{26}$/;

export async function openContainersStorage(root: string, opts: OpenOptions = {}): Promise<Source> {
  const ev = new Evidence(root.replace(/\/+$/, '') || '/');
  let rootStat: fs.Stats | null;
  try {
    rootStat = ev.lstat();
  } catch (err) {
    throwIfPermission(err, root);
    throw err;
  }
  if (!rootStat || !rootStat.isDirectory()) throw new SourceError('source.not-found', 'is not a directory', root);
  const problems: Problem[] = [];
  const sink = new ProblemSink(problems);
  const note: Note = sink.note;

  // How overlay reads this store's markers. A store podman mounts through fuse-overlayfs says so in
  // overlay/.has-mount-program ("true"): whiteouts may then be `.wh.` files and opaque dirs `.wh..wh..opq` files
  // or user.fuseoverlayfs.opaque xattrs, which the kernel's overlay would show as plain files.
  const fuse = readSmall(ev, note, DRIVER, '.has-mount-program') === 'true';
  // A rootless store (owned by its user) is mounted with `userxattr`: overlayfs reads user.overlay.*.
  const rootless = rootStat.uid !== 0;
  const overlayXattrs = rootless && !fuse ? 'user' : 'trusted';
  // Its files carry host ids: shown as its containers see them, by the owner's subordinate ranges.
  const rootlessIds = rootless ? rootlessIdMap(root, { uid: rootStat.uid, gid: rootStat.gid }, opts.systemRoot ?? null) : null;
  for (const p of rootlessIds?.problems ?? []) sink.add(p);
  const ids = rootlessIds?.map ?? null;
  if (fuse) note('info', 'store.fuse-overlayfs', 'mounted through fuse-overlayfs (overlay/.has-mount-program): `.wh.` files are read as whiteouts and `.wh..wh..opq` files and user.fuseoverlayfs.opaque as opaque markers, as fuse-overlayfs reads them', ev.path(DRIVER));

  const { layers, file: layersFile } = readLayers(ev, DRIVER, note);
  const layerDirs = new Map<string, string | null>();
  const dirOf = (l: CsLayer): string | null => {
    let d = layerDirs.get(l.id);
    if (d !== undefined) return d;
    d = null;
    const st = safeLstat(ev, note, DRIVER, l.id, 'diff');
    if (st?.isDirectory()) d = ev.path(DRIVER, l.id, 'diff');
    else note('error', 'overlay.diff.missing', `layer ${l.id}: its diff directory ${st === null ? 'is missing' : st.isSymbolicLink() ? 'is a symlink (never followed)' : 'is not a directory'}`, ev.path(DRIVER, l.id, 'diff'));
    layerDirs.set(l.id, d);
    checkLinks(ev, l, layers, note);
    return d;
  };
  // containers/storage writes a tar-split for every layer it applies a diff to (each image layer: pulled, loaded,
  // committed): one that is missing or not a regular file is no "store without tar-splits" but a gap in the
  // evidence. Its path is given whatever is there, as a Docker data root's layerdb one is, so verify fails to open
  // it (O_NOFOLLOW) and says so, instead of skipping the layer's integrity and calling an altered layer OK.
  const tarSplitOf = (l: CsLayer): string | null => ev.path(`${DRIVER}-layers`, `${l.id}.tar-split.gz`);

  // Images.
  const csImages = readImages(ev, DRIVER, note);
  const images: ImageInfo[] = [];
  const topOf = new Map<ImageInfo, string | null>();
  let done = 0;
  for (const ci of csImages) {
    opts.progress?.({ phase: 'images', done: done++, total: csImages.length });
    const img = readImage(ev, ci, layers, layersFile, note, sink, dirOf, tarSplitOf, (l) => idMapFor(l, ids), fuse);
    if (img) {
      images.push(img);
      topOf.set(img, ci.topLayer);
    }
  }
  // A build step (shown by `podman images -a` only): an image with no name that has a child, an image whose chain
  // holds its top layer below the child's own top, or one on the same top layer (a step that made no layer:
  // LABEL, ENV) that is named or newer.
  const lowerLayers = new Set<string>();
  for (const img of images) for (const l of img.layers.slice(0, -1)) if (l.cacheId) lowerLayers.add(l.cacheId);
  const when = (i: ImageInfo) => Date.parse(i.created ?? '') || 0;
  for (const img of images) {
    const top = topOf.get(img) ?? null;
    img.intermediate =
      img.tags.length === 0 && top !== null && (lowerLayers.has(top) || images.some((o) => o !== img && topOf.get(o) === top && (o.tags.length > 0 || when(o) > when(img))));
  }
  images.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id));

  // Containers.
  const libpod = readLibpodState(ev, note);
  const containers: ContainerInfo[] = [];
  const records = readContainerRecords(ev, DRIVER, note);
  // CRI-O's pod infrastructure containers: a container's namespace is recorded on its pod's.
  const sandboxes = new Map(records.filter((r) => r.metadata?.bool('pod') === true).map((r) => [r.id, r]));
  for (const rec of records) {
    const layer = rec.layer ? layers.get(rec.layer) ?? null : null;
    if (rec.layer && !layer) note('error', 'containers.layer.missing', `container ${rec.id}: its layer ${rec.layer} is not in layers.json`, rec.where);
    const c = buildContainer(ev, rec, libpod?.get(rec.id) ?? null, images, layer, layer ? dirOf(layer) : null, note, sandboxes, fuse, rootless ? `rootless: uid ${rootStat.uid} is the container's root` : null);
    if (ids) c.idMap = ids;
    if (layer && rec.image) {
      const image = images.find((i) => i.id === 'sha256:' + rec.image);
      const top = image ? topOf.get(image) : undefined;
      if (top && layer.parent !== top) note('error', 'containers.layer.parent-mismatch', `container ${rec.id}: its layer's parent is ${JSON.stringify(layer.parent)}, but its image's top layer is ${top}`, layersFile);
    }
    containers.push(c);
  }
  if (libpod) {
    const listed = new Set(containers.map((c) => c.id));
    for (const id of libpod.keys()) {
      if (!listed.has(id)) note('warning', 'libpod.container.no-storage', `podman knows container ${id} (${libpod.get(id)!.name ?? 'no name'}), but containers.json does not: its layer is gone`, ev.path('libpod', 'bolt_state.db'));
    }
  }
  containers.sort((a, b) => a.name.localeCompare(b.name));
  // Layers with no image and no container record at all: the store is not empty, its records are (edited away, or
  // a crash between deleting the records and the layers). Said at open: an "empty store" must never hide them.
  if (csImages.length === 0 && records.length === 0 && layers.size > 0) {
    note('warning', 'storage.unreferenced-layers', `lists ${layers.size} layer(s), but images.json and containers.json list nothing that uses them: containers/storage deletes a layer with its last image or container, so these records were removed (edited, or a crash); the layers are listed as unreferenced storage`, layersFile);
  }

  const paths = opts.paths ?? new PathTable();
  // Tables as the container sees them: a fuse-overlayfs store's markers normalised, a rootless store's host ids
  // mapped back to the container's.
  const idMapOfDir = new Map<string, IdMap>();
  for (const img of images) for (const l of img.layers) if (l.location && l.idMap) idMapOfDir.set(l.location, l.idMap);
  for (const c of containers) if (c.rwDir && c.idMap) idMapOfDir.set(c.rwDir, c.idMap);
  const read = async (dir: string, ro?: ReadOptions): Promise<LayerTable> => {
    let t = await readLayerDir(dir, paths, { priority: ro?.priority, overlayXattrs });
    if (fuse) t = fuseLayer(t, paths, dir);
    const m = idMapOfDir.get(dir);
    if (m) t = t.withIds(m, dir);
    return t;
  };
  const cached = cachedLocations(paths, 'no layer directory on disk', read);
  let storage: Promise<StorageInfo> | null = null;
  const readStorage = () =>
    (storage ??= readCsStorage({ ev, driver: DRIVER, layers, layersFile, imageTops: csImages.map((i) => i.topLayer), containerLayers: records.map((r) => r.layer), note }));
  return {
    kind: 'containers-storage',
    location: root,
    images,
    containers,
    problems,
    paths,
    ...(fuse || ids
      ? { layerDirsNotMountable: fuse ? "the store is mounted through fuse-overlayfs, whose `.wh.` whiteout files the kernel's overlayfs shows as plain files" : "a rootless store's files carry host ids (the kernel would show those, not the container's)" }
      : {}),
    ...layerAccess(cached.read),
    readStorage,
    async close() {
      cached.clear();
    },
  };
}

/** The ids a layer's files carry on disk, mapped to the layer's: its own uidmap/gidmap, else the rootless user's. */
function idMapFor(l: CsLayer, ids: IdMap | null): IdMap | null {
  if (l.uidmap.length || l.gidmap.length) {
    const ident = [{ containerId: 0, hostId: 0, size: 2 ** 32 - 1 }];
    return new IdMap(l.uidmap.length ? l.uidmap : ident, l.gidmap.length ? l.gidmap : ident, `layers.json uidmap/gidmap of layer ${l.id}`);
  }
  return ids;
}

function readImage(
  ev: Evidence,
  ci: CsImage,
  layers: Map<string, CsLayer>,
  layersFile: string,
  note: Note,
  sink: ProblemSink,
  dirOf: (l: CsLayer) => string | null,
  tarSplitOf: (l: CsLayer) => string | null,
  idMapOf: (l: CsLayer) => IdMap | null,
  fuse: boolean,
): ImageInfo | null {
  const imageDir = [`${DRIVER}-images`, ci.id];
  // The config is the big-data item named by its digest; the manifest says which digest (an image pulled by a
  // schema-1 manifest has an ID that is no config digest).
  let key = 'sha256:' + ci.id;
  // Whether the manifest is OCI or Docker schema 2: such an image's ID IS its config's digest (schema 1's is not).
  let schema2 = false;
  const manifestBytes = ci.bigDataNames.includes('manifest') ? safeRead(ev, note, MAX_CONFIG, ...imageDir, bigDataFileName('manifest')) : null;
  if (manifestBytes) {
    const manifestPath = ev.path(...imageDir, bigDataFileName('manifest'));
    // c/storage records the `manifest` item's digest in images.json (digest, digests): a manifest that is none of
    // them was rewritten, and what it names (the config) cannot be trusted.
    const md = sha256Digest(manifestBytes);
    if (ci.digests.length && !ci.digests.includes(md)) note('error', 'images.manifest.digest-mismatch', `image ${ci.id}: the manifest hashes to ${md}, which is none of the image's digests in images.json (${ci.digests.join(', ')}): the manifest was altered`, manifestPath);
    const m = parseJson(manifestBytes);
    const doc = m.ok && m.value && typeof m.value === 'object' ? (m.value as { schemaVersion?: unknown; config?: { digest?: unknown } }) : undefined;
    const cfg = doc?.config?.digest;
    schema2 = doc?.schemaVersion === 2;
    if (typeof cfg === 'string' && /^sha256:[0-9a-f]{64}$/.test(cfg)) {
      key = cfg;
      // Only OCI and schema-2 manifests name a config; a "schema 1" one that does was made to dodge the check below.
      if (!schema2) note('error', 'images.manifest.bad-schema', `image ${ci.id}: the manifest names a config but its schemaVersion is ${JSON.stringify(doc?.schemaVersion ?? null)}, not 2: no engine writes that`, manifestPath);
    }
  }
  const configPath = ev.path(...imageDir, bigDataFileName(key));
  const bytes = safeRead(ev, note, MAX_CONFIG, ...imageDir, bigDataFileName(key));
  if (!bytes) {
    note('error', 'images.config.missing', `image ${ci.id} (${ci.names.join(', ') || 'no name'}): its config (big-data item ${key}) is missing; the image is left out`, configPath);
    return null;
  }
  const id = 'sha256:' + ci.id;
  const actual = sha256Digest(bytes);
  if (actual !== key) note('error', 'images.config.digest-mismatch', `the config bytes hash to ${actual}, not to ${key}, the digest it is stored under: the config was altered`, configPath);
  else if (actual !== id && schema2) note('error', 'images.config.not-id', `image ${ci.id}: its manifest (OCI or schema 2) names config ${actual}, not the image ID: such an image's ID is its config's digest, so the config was swapped`, configPath);
  else if (actual !== id) note('warning', 'images.id-not-config', `image ${ci.id}: its ID is not its config's digest (${actual}); images podman builds or pulls by an OCI or schema-2 manifest have equal ones`, ci.where);
  const parsed = parseConfig(bytes, configPath);
  for (const p of parsed.problems) sink.add(p);
  if (!parsed.config) return null;

  // The layer chain, walked from the top layer through `parent` (base first), must give the config's diffIDs.
  const who = `image ${ci.names[0] ?? ci.id.slice(0, 12)}`;
  let chain: CsLayer[] = [];
  if (!ci.topLayer) {
    if (parsed.diffIds.length) note('error', 'images.no-layer', `${who}: images.json names no top layer, but the config lists ${parsed.diffIds.length} layer(s)`, ci.where);
  } else if (!layers.has(ci.topLayer)) {
    note('error', 'images.layer.missing', `${who}: its top layer ${ci.topLayer} is not in layers.json`, ci.where);
  } else {
    chain = layerChain(layers, ci.topLayer, layersFile, note, who).chain;
  }
  if (chain.length && chain.length !== parsed.diffIds.length) {
    note('error', 'layers.chain-length', `${who}: the layer chain below ${ci.topLayer} has ${chain.length} layer(s), the config lists ${parsed.diffIds.length} diffID(s)`, layersFile);
  }
  const built = imageFromConfig({
    id,
    tags: [...ci.names],
    digests: repoDigests(ci),
    config: parsed.config,
    diffIds: parsed.diffIds,
    where: configPath,
    place: (i, diffId) => {
      // Matched from the base: a chain that is cut short keeps its lower layers.
      const l = chain[i];
      if (!l) return { cacheId: null, location: null, storedSize: null, layout: 'diff' as const, tarSplit: null };
      if (l.diffDigest !== diffId) note('error', 'layers.diff-mismatch', `${who} layer ${i}: layer ${l.id} has diff-digest ${JSON.stringify(l.diffDigest)}, the config needs ${diffId}`, l.where);
      return { cacheId: l.id, location: dirOf(l), storedSize: l.diffSize, layout: 'diff' as const, tarSplit: tarSplitOf(l), idMap: idMapOf(l), ...(fuse ? { whiteoutFiles: true } : {}) };
    },
  });
  for (const p of built.problems) sink.add(p);
  return built.image;
}

/** `podman image inspect`'s RepoDigests: each name's repository with each manifest digest. */
function repoDigests(ci: CsImage): string[] {
  const repos = new Set<string>();
  for (const n of ci.names) {
    const at = n.indexOf('@');
    const base = at >= 0 ? n.slice(0, at) : n;
    const colon = base.lastIndexOf(':');
    repos.add(colon > base.lastIndexOf('/') ? base.slice(0, colon) : base);
  }
  const out: string[] = [];
  for (const r of repos) for (const d of ci.digests) out.push(`${r}@${d}`);
  return out.sort();
}

/** overlay/<id>/link and l/<link>, and overlay/<id>/lower against the parent chain (what a mount would stack). */
function checkLinks(ev: Evidence, l: CsLayer, layers: Map<string, CsLayer>, note: Note): void {
  const link = readSmall(ev, note, DRIVER, l.id, 'link');
  if (link === null) return;
  if (!LINK_ID.test(link)) {
    note('error', 'overlay.link.invalid', `link ${JSON.stringify(link.slice(0, 40))} is not 26 base32 characters`, ev.path(DRIVER, l.id, 'link'));
    return;
  }
  let target: string | null = null;
  try {
    target = ev.readlink(DRIVER, 'l', link);
  } catch {
    target = null;
  }
  if (target !== `../${l.id}/diff`) note('error', 'overlay.l.mismatch', `l/${link} points to ${JSON.stringify(target)}, not ../${l.id}/diff: mounts would use another directory`, ev.path(DRIVER, 'l', link));
  const lower = readSmall(ev, note, DRIVER, l.id, 'lower');
  const parent = l.parent ? layers.get(l.parent) : undefined;
  if (!parent) {
    if (lower && !l.parent) note('error', 'overlay.lower.unexpected', 'a base layer has a lower file', ev.path(DRIVER, l.id, 'lower'));
    return;
  }
  const parentLink = readSmall(ev, null, DRIVER, parent.id, 'link');
  if (parentLink === null || !LINK_ID.test(parentLink)) return;
  const parentLower = readSmall(ev, null, DRIVER, parent.id, 'lower');
  const expected = parentLower ? `l/${parentLink}:${parentLower}` : `l/${parentLink}`;
  if (lower !== expected) note('error', 'overlay.lower.mismatch', 'lower does not match the layer chain of layers.json (expected the parent\'s link first, then its lowers)', ev.path(DRIVER, l.id, 'lower'));
}

function readSmall(ev: Evidence, note: Note | null, ...parts: string[]): string | null {
  try {
    return ev.readText(1 << 16, ...parts);
  } catch (err) {
    throwIfPermission(err, ev.path(...parts));
    if (note && err instanceof EvidenceError) note('error', err.code, err.message.replace(`${err.path}: `, ''), err.path);
    return null;
  }
}

function safeRead(ev: Evidence, note: Note, max: number, ...parts: string[]): Buffer | null {
  try {
    return ev.readFile(max, ...parts);
  } catch (err) {
    throwIfPermission(err, ev.path(...parts));
    if (err instanceof EvidenceError) note('error', err.code, err.message.replace(`${err.path}: `, ''), err.path);
    else note('error', 'evidence.unreadable', describeFsError(err), ev.path(...parts));
    return null;
  }
}

function safeLstat(ev: Evidence, note: Note, ...parts: string[]): fs.Stats | null {
  try {
    return ev.lstat(...parts);
  } catch (err) {
    throwIfPermission(err, ev.path(...parts));
    if (err instanceof EvidenceError) note('error', err.code, err.message.replace(`${err.path}: `, ''), err.path);
    return null;
  }
}
