import * as fs from 'node:fs';
import type { OpenOptions, Source, StorageInfo } from '../../model/source.js';
import type { ContainerInfo, ImageInfo, Problem } from '../../model/types.js';
import { PathTable } from '../../model/paths.js';
import { displayPath } from '../../model/path.js';
import { ProblemSink } from '../../model/problem-sink.js';
import { SourceError } from '../../model/errors.js';
import { chainIds, digestHex, isDigest, sha256Digest } from '../../analysis/chain.js';
import { Evidence, EvidenceError, describeFsError, isSafeComponent, throwIfPermission } from '../evidence.js';
import { eachTreeBytes } from '../walk/layer-dir.js';
import { imageFromConfig, parseConfig } from '../config.js';
import { attachHostConfig, containerFields, readConfigV2 } from '../container-config.js';
import { fillVolumeSources } from '../volumes.js';
import { JsonDoc, parseJson } from '../shape.js';
import { cachedLocations } from '../layer-access.js';
import { NotFoundError } from '../../model/errors.js';
import type { LayerLayout } from '../../model/types.js';
import { type DockerDriver, type DriverContext, type Note, type Safe } from './driver.js';
import { overlay2 } from './overlay2.js';
import { rootlessIdMap } from '../rootless.js';

/**
 * The classic graphdriver store of a Docker data root (`image/<driver>/` + `<driver>/`), read offline. The
 * metadata is the same for every driver; where the layers are and how they hold their changes is the driver's
 * (driver.ts; one module per driver).
 *
 * Nothing read from the evidence is trusted: image IDs are recomputed from the config bytes, chainIDs from the
 * diffIDs, cache-ids and mount-ids must be 64 hex digits before they become a path, and every file is read
 * through `Evidence`, which refuses symlinks and oversized files. Inconsistencies become `problems`.
 */

const HEX64 = /^[0-9a-f]{64}$/;
const MOUNT_ID = /^[0-9a-f]{64}$/;
const INIT_ID = /^[0-9a-f]{64}-init$/;
const MAX_CONFIG = 64 << 20;
const MAX_SMALL = 1 << 16;

interface LayerRecord {
  chainId: string;
  diffId: string | null;
  cacheId: string | null;
  size: number | null;
  dir: string | null;
  layout: LayerLayout;
}

/** The data root's store on `driver` (overlay2 when not said). */
export async function openDockerRoot(root: string, opts: OpenOptions = {}, driver: DockerDriver = overlay2): Promise<Source> {
  const DRIVER = driver.name;
  const ev = new Evidence(root.replace(/\/+$/, '') || '/');
  let rootStat: fs.Stats | null;
  let hasStore: boolean;
  try {
    rootStat = ev.lstat();
    hasStore = ev.isDir('image', DRIVER);
  } catch (err) {
    throwIfPermission(err, root);
    throw err;
  }
  if (!rootStat || !rootStat.isDirectory()) throw new SourceError('source.not-found', 'is not a directory', root);
  if (!hasStore) {
    throw new SourceError('source.no-classic-store', `has no image/${DRIVER}/ (not a Docker data root on ${DRIVER}, or it uses the containerd image store)`, root);
  }
  const problems: Problem[] = [];
  // Counted past 100 of a kind: a store can hold a million bad names (containers/, imagedb, layerdb).
  const sink = new ProblemSink(problems);
  const note = sink.note;
  const safe = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (err) {
      // A file we may not read is no finding about the evidence: the whole source cannot be read (exit 3).
      throwIfPermission(err, root);
      if (err instanceof EvidenceError) note('error', err.code, err.message.replace(`${err.path}: `, ''), err.path);
      else note('error', 'evidence.unreadable', describeFsError(err), null);
      return fallback;
    }
  };
  const store = ['image', DRIVER];
  // A rootless engine (its data root owned by the user) mounts with `userxattr`: overlayfs then reads
  // user.overlay.*, and trusted.overlay.* otherwise (a rootful engine never passes userxattr).
  const overlayXattrs = rootStat.uid === 0 ? 'trusted' : 'user';
  const ctx: DriverContext = { ev, note, safe, overlayXattrs };
  // A rootless engine's store keeps host ids: shown as its containers see them, when the mapping can be found.
  const rootless = overlayXattrs === 'user' ? rootlessIdMap(root, { uid: rootStat.uid, gid: rootStat.gid }, opts.systemRoot ?? null) : null;
  for (const p of rootless?.problems ?? []) sink.add(p);
  const idMap = rootless?.map ?? null;

  // Tags: repositories.json.
  const refsById = new Map<string, { tags: string[]; digests: string[] }>();
  const reposPath = ev.path(...store, 'repositories.json');
  const reposBytes = safe(() => ev.readFile(MAX_CONFIG, ...store, 'repositories.json'), null);
  if (reposBytes) {
    // {"Repositories": {"<familiar name>": {"<familiar ref>": "sha256:<image ID>"}}}
    const parsed = parseJson(reposBytes);
    if (!parsed.ok) note('error', 'repositories.invalid-json', `invalid JSON: ${parsed.reason}`, reposPath);
    else {
      const doc = new JsonDoc(reposPath, 'repositories.json');
      for (const [, refs] of doc.root(parsed.value)?.obj('Repositories')?.objs() ?? []) {
        for (const [ref, id] of refs.strs()) {
          if (!isDigest(id)) {
            note('warning', 'repositories.bad-id', `reference ${JSON.stringify(ref)} points to ${JSON.stringify(id)}, not an image ID`, reposPath);
            continue;
          }
          const e = refsById.get(id) ?? { tags: [], digests: [] };
          (ref.includes('@') ? e.digests : e.tags).push(ref);
          refsById.set(id, e);
        }
      }
      const bad = doc.problem('repositories.bad-shape');
      if (bad) problems.push(bad);
    }
  }

  // Layers, cached per chainID: images share them.
  const layerRecords = new Map<string, LayerRecord>();
  const layerRecord = (chainId: string, diffId: string, parentChainId: string | null): LayerRecord => {
    const known = layerRecords.get(chainId);
    if (known) return known;
    const rec = readLayerRecord(ctx, driver, store, chainId, diffId, parentChainId);
    layerRecords.set(chainId, rec);
    const parent = parentChainId ? layerRecords.get(parentChainId) ?? null : null;
    if (rec.cacheId && driver.checkLayer) driver.checkLayer(ctx, { chainId, cacheId: rec.cacheId, dir: rec.dir }, parent?.cacheId ? { chainId: parent.chainId, cacheId: parent.cacheId, dir: parent.dir } : null);
    return rec;
  };

  // Images: imagedb.
  const images: ImageInfo[] = [];
  const contentDir = [...store, 'imagedb', 'content', 'sha256'];
  if (!safe(() => ev.isDir(...contentDir), true)) {
    // The engine creates it at start: without it, layer dirs and containers cannot be tied to any image.
    note('error', 'imagedb.missing', `no image/${DRIVER}/imagedb/content/sha256/: the image configs are gone; layers on disk are listed as unreferenced storage`, ev.path(...contentDir));
  }
  const ids = safe(() => ev.readdir(...contentDir), [] as string[]);
  let done = 0;
  for (const hex of ids) {
    opts.progress?.({ phase: 'images', done: done++, total: ids.length });
    const configPath = ev.path(...contentDir, hex);
    if (!HEX64.test(hex)) {
      if (!/-removing$/.test(hex)) note('warning', 'imagedb.bad-name', 'not an image ID (expected 64 hex digits); ignored', configPath);
      continue;
    }
    const bytes = safe(() => ev.readFile(MAX_CONFIG, ...contentDir, hex), null);
    if (!bytes) continue;
    const id = 'sha256:' + hex;
    const actual = sha256Digest(bytes);
    if (actual !== id) {
      note('error', 'imagedb.id-mismatch', `config bytes hash to ${actual}, not to the image ID its name claims: the config was altered`, configPath);
    }
    const parsed = parseConfig(bytes, configPath);
    for (const p of parsed.problems) sink.add(p);
    if (!parsed.config) continue;
    const refs = refsById.get(id);
    const chains = chainIds(parsed.diffIds);
    const built = imageFromConfig({
      id,
      tags: refs?.tags.sort() ?? [],
      digests: refs?.digests.sort() ?? [],
      config: parsed.config,
      diffIds: parsed.diffIds,
      where: configPath,
      place: (i, diffId, chainId) => {
        const rec = layerRecord(chainId, diffId, i > 0 ? chains[i - 1]! : null);
        return { cacheId: rec.cacheId, location: rec.dir, storedSize: rec.size, layout: rec.layout, idMap, ...(driver.whiteoutFiles ? { whiteoutFiles: true } : {}), tarSplit: ev.path(...store, 'layerdb', 'sha256', digestHex(chainId), 'tar-split.json.gz') };
      },
    });
    for (const p of built.problems) sink.add(p);
    images.push({ ...built.image, parent: readParent(ev, store, hex, note, safe) });
  }
  const imageIds = new Set(images.map((i) => i.id));
  for (const id of refsById.keys()) {
    if (!imageIds.has(id)) note('warning', 'repositories.dangling', `tag(s) ${refsById.get(id)!.tags.join(', ')} point to ${id}, which has no config in imagedb`, reposPath);
  }
  const parents = new Set(images.map((i) => i.parent).filter(Boolean));
  for (const i of images) i.intermediate = i.tags.length === 0 && i.digests.length === 0 && parents.has(i.id);
  images.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id));

  const containers = readContainers(ctx, driver, store);
  if (driver.checkContainerLayer) {
    for (const c of containers) {
      const parent = c.parentChainId ? layerRecords.get(c.parentChainId) : undefined;
      if (!parent?.cacheId) continue;
      const rec = { chainId: parent.chainId, cacheId: parent.cacheId, dir: parent.dir };
      if (c.mountId && c.rwDir) driver.checkContainerLayer(ctx, c.id, 'rw', c.mountId, rec);
      if (c.initId && c.initDir) driver.checkContainerLayer(ctx, c.id, 'init', c.initId, rec);
    }
  }
  if (idMap) for (const c of containers) c.idMap = idMap;
  fillVolumeSources(containers, ev.root);

  const paths = opts.paths ?? new PathTable();
  // Each dir has one parent (a layer's, an init layer's, an image's top), so a read is cached by its dir alone.
  const parentOf = new Map<string, { dir: string | null; layout: LayerLayout; hasParent: boolean }>();
  const layoutOf = new Map<string, LayerLayout>();
  const layers = cachedLocations(paths, 'no layer directory on disk', async (dir, ro) => {
    const parent = parentOf.get(dir) ?? { dir: null, layout: 'diff' as const, hasParent: false };
    const layout = layoutOf.get(dir) ?? 'diff';
    const table = await driver.read({ dir, layout, parentDir: parent.dir, parentLayout: parent.dir ? parent.layout : null, hasParent: parent.hasParent }, { paths, priority: ro?.priority, overlayXattrs });
    return idMap ? table.withIds(idMap, dir) : table;
  });
  const topOf = new Map<string, LayerRecord>([...layerRecords.values()].map((r) => [r.chainId, r]));
  for (const img of images) {
    img.layers.forEach((l, i) => {
      if (!l.location) return;
      layoutOf.set(l.location, l.layout ?? 'diff');
      const below = i > 0 ? img.layers[i - 1]! : null;
      parentOf.set(l.location, { dir: below?.location ?? null, layout: below?.layout ?? 'diff', hasParent: i > 0 });
    });
  }
  for (const c of containers) {
    const top = c.parentChainId ? topOf.get(c.parentChainId) ?? null : null;
    if (c.initDir) {
      layoutOf.set(c.initDir, c.layout ?? 'diff');
      parentOf.set(c.initDir, { dir: top?.dir ?? null, layout: top?.layout ?? 'diff', hasParent: c.parentChainId !== null });
    }
    if (c.rwDir) {
      layoutOf.set(c.rwDir, c.layout ?? 'diff');
      parentOf.set(c.rwDir, c.initDir ? { dir: c.initDir, layout: c.layout ?? 'diff', hasParent: true } : { dir: top?.dir ?? null, layout: top?.layout ?? 'diff', hasParent: c.parentChainId !== null });
    }
  }
  let storage: Promise<StorageInfo> | null = null;

  return {
    kind: 'docker-root',
    location: root,
    images,
    containers,
    problems,
    paths,
    ...(driver.notMountable ? { layerDirsNotMountable: driver.notMountable } : {}),
    readStorage: () => (storage ??= readStorage(ctx, driver, store, images, containers, layerRecords)),
    readLayer(image, index, ro) {
      const layer = image.layers[index];
      if (!layer) return Promise.reject(new NotFoundError('layer.not-found', `image ${image.id} has no layer ${index}`));
      return layers.read(layer.location, `layer ${index} (${layer.chainId})`, ro);
    },
    readContainerLayer(container, which, ro) {
      return layers.read(which === 'rw' ? container.rwDir : container.initDir, `container ${container.name} ${which} layer`, ro);
    },
    async close() {
      layers.clear();
    },
  };
}

function readParent(ev: Evidence, store: string[], hex: string, note: Note, safe: Safe): string | null {
  const where = [...store, 'imagedb', 'metadata', 'sha256', hex, 'parent'];
  const parent: string | null = safe(() => ev.readText(MAX_SMALL, ...where), null);
  if (parent === null) return null;
  if (isDigest(parent)) return parent;
  note('warning', 'imagedb.bad-parent', `parent holds ${JSON.stringify(String(parent).slice(0, 80))}, not an image ID`, ev.path(...where));
  return null;
}

/** Orphan dirs sized and listed (a real host has a handful; a crafted store, a million). */
const MAX_ORPHAN_DIRS = 10_000;

function readLayerRecord(ctx: DriverContext, driver: DockerDriver, store: string[], chainId: string, diffId: string, parentChainId: string | null): LayerRecord {
  const { ev, note, safe } = ctx;
  const rec: LayerRecord = { chainId, diffId: null, cacheId: null, size: null, dir: null, layout: 'diff' };
  const base = [...store, 'layerdb', 'sha256', digestHex(chainId)];
  const where = ev.path(...base);
  if (!safe(() => ev.isDir(...base), false)) {
    note('error', 'layerdb.missing', `layer ${chainId} (diffID ${diffId}) is not in the layer store`, where);
    return rec;
  }
  const storedDiff = safe(() => ev.readText(MAX_SMALL, ...base, 'diff'), null);
  rec.diffId = storedDiff;
  if (storedDiff !== diffId) {
    note('error', 'layerdb.diff-mismatch', `diff holds ${JSON.stringify(storedDiff)}, but the chain needs ${diffId}`, ev.path(...base, 'diff'));
  }
  const parent = safe(() => ev.readText(MAX_SMALL, ...base, 'parent'), null);
  if ((parent ?? null) !== parentChainId) {
    note('error', 'layerdb.parent-mismatch', `parent holds ${JSON.stringify(parent)}, but the chain needs ${JSON.stringify(parentChainId)}`, ev.path(...base, 'parent'));
  }
  const sizeText = safe(() => ev.readText(MAX_SMALL, ...base, 'size'), null);
  if (sizeText !== null) {
    if (/^\d{1,18}$/.test(sizeText)) rec.size = Number(sizeText);
    else note('warning', 'layerdb.bad-size', `size holds ${JSON.stringify(sizeText.slice(0, 40))}, not a byte count`, ev.path(...base, 'size'));
  }
  const cacheId = safe(() => ev.readText(MAX_SMALL, ...base, 'cache-id'), null);
  if (cacheId === null) {
    note('error', 'layerdb.cache-id.missing', 'no cache-id: the layer cannot be located on disk', ev.path(...base, 'cache-id'));
  } else if (!HEX64.test(cacheId)) {
    // Never turned into a path: a cache-id of "../../etc" is an attack, not a directory name.
    note('error', 'layerdb.cache-id.invalid', `cache-id ${JSON.stringify(cacheId.slice(0, 80))} is not 64 hex digits; refused`, ev.path(...base, 'cache-id'));
  } else {
    rec.cacheId = cacheId;
    const placed = driver.imageLayer(ctx, chainId, cacheId);
    rec.dir = placed.dir;
    rec.layout = placed.layout;
  }
  return rec;
}

function readContainers(ctx: DriverContext, driver: DockerDriver, store: string[]): ContainerInfo[] {
  const { ev, note, safe } = ctx;
  const out: ContainerInfo[] = [];
  for (const id of safe(() => ev.readdir('containers'), [] as string[])) {
    const where = ev.path('containers', id);
    if (!HEX64.test(id)) {
      note('warning', 'containers.bad-name', 'not a container ID; ignored', where);
      continue;
    }
    const bytes = safe(() => ev.readFile(MAX_CONFIG, 'containers', id, 'config.v2.json'), null);
    if (!bytes) {
      note('warning', 'containers.config.missing', 'no config.v2.json', where);
      continue;
    }
    const read = readConfigV2(bytes, ev.path('containers', id, 'config.v2.json'), id);
    for (const p of read.problems) note(p.severity, p.code, p.message, p.path);
    const cfg = read.config;
    if (!cfg) continue;
    for (const p of attachHostConfig(ev, id, cfg.inspect)) note(p.severity, p.code, p.message, p.path);
    const mounts = [...store, 'layerdb', 'mounts', id];
    const mountIdRaw = safe(() => ev.readText(MAX_SMALL, ...mounts, 'mount-id'), null);
    const initIdRaw = safe(() => ev.readText(MAX_SMALL, ...mounts, 'init-id'), null);
    const parentRaw = safe(() => ev.readText(MAX_SMALL, ...mounts, 'parent'), null);
    const mountId = mountIdRaw !== null && MOUNT_ID.test(mountIdRaw) ? mountIdRaw : null;
    const initId = initIdRaw !== null && INIT_ID.test(initIdRaw) ? initIdRaw : null;
    if (mountIdRaw !== null && !mountId) note('error', 'layerdb.mount-id.invalid', `mount-id ${JSON.stringify(mountIdRaw.slice(0, 80))} is not 64 hex digits; refused`, ev.path(...mounts, 'mount-id'));
    if (initIdRaw !== null && !initId) note('error', 'layerdb.init-id.invalid', `init-id ${JSON.stringify(initIdRaw.slice(0, 80))} is not <64 hex>-init; refused`, ev.path(...mounts, 'init-id'));
    if (mountIdRaw === null) note('warning', 'layerdb.mount.missing', `container ${id.slice(0, 12)} has no RW layer record`, ev.path(...mounts));
    const rw = mountId ? driver.containerLayer(ctx, id, 'rw', mountId) : null;
    // A missing init layer is no finding: containers made with --init=false... have none; the RW layer says the rest.
    const init = initId && safe(() => ev.lstat(...driver.layersAt, initId) !== null, false) ? driver.containerLayer(ctx, id, 'init', initId) : null;
    out.push({
      ...containerFields(id, cfg),
      image: cfg.image ?? '',
      mountId,
      initId,
      parentChainId: parentRaw !== null && isDigest(parentRaw) ? parentRaw : null,
      rwDir: rw?.dir ?? null,
      initDir: init?.dir ?? null,
      layout: rw?.layout ?? init?.layout ?? 'diff',
      stateDir: where,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Storage nothing references: overlay2 dirs without a layer or container, layers without an image. Problems met
 * while sizing go to `note` (the source's problems).
 */
async function readStorage(ctx: DriverContext, driver: DockerDriver, store: string[], images: ImageInfo[], containers: ContainerInfo[], records: Map<string, LayerRecord>): Promise<StorageInfo> {
  const { ev, note, safe } = ctx;
  const usedChains = new Set<string>();
  for (const img of images) for (const l of img.layers) usedChains.add(l.chainId);
  // A container keeps its image's chain alive even when the image was untagged and removed.
  const pending: string[] = containers.map((c) => c.parentChainId).filter((c): c is string => !!c);
  const layerdb = [...store, 'layerdb', 'sha256'];
  const parentOf = (chain: string): string | null => {
    const p = safe(() => ev.readText(MAX_SMALL, ...layerdb, digestHex(chain), 'parent'), null);
    return p && isDigest(p) ? p : null;
  };
  while (pending.length) {
    const c = pending.pop()!;
    if (usedChains.has(c)) continue;
    usedChains.add(c);
    const p = parentOf(c);
    if (p) pending.push(p);
  }
  const usedDirs = new Set<string>(driver.bookkeeping);
  for (const r of records.values()) if (r.cacheId) usedDirs.add(r.cacheId);
  for (const c of containers) {
    if (c.mountId) usedDirs.add(c.mountId);
    if (c.initId) usedDirs.add(c.initId);
  }
  const orphanLayers: StorageInfo['orphanLayers'] = [];
  for (const hex of safe(() => ev.readdir(...layerdb), [] as string[])) {
    if (!HEX64.test(hex)) continue; // "<hex>-<random>-removing": deletion in progress; moby ignores them too.
    const chain = 'sha256:' + hex;
    const cacheId = safe(() => ev.readText(MAX_SMALL, ...layerdb, hex, 'cache-id'), null);
    const valid = cacheId !== null && HEX64.test(cacheId) ? cacheId : null;
    if (valid) usedDirs.add(valid);
    if (usedChains.has(chain)) continue;
    const sizeText = safe(() => ev.readText(MAX_SMALL, ...layerdb, hex, 'size'), null);
    orphanLayers.push({ chainId: chain, cacheId: valid, bytes: sizeText && /^\d+$/.test(sizeText) ? Number(sizeText) : 0 });
  }
  // Layer records of mounts (containers whose config is gone) also hold dirs.
  for (const id of safe(() => ev.readdir(...store, 'layerdb', 'mounts'), [] as string[])) {
    const m = safe(() => ev.readText(MAX_SMALL, ...store, 'layerdb', 'mounts', id, 'mount-id'), null);
    if (m && MOUNT_ID.test(m)) {
      usedDirs.add(m);
      usedDirs.add(m + '-init');
    }
  }
  const orphanDirs: StorageInfo['orphanDirs'] = [];
  const at = driver.layersAt;
  let names = safe(() => ev.readdir(...at), [] as string[]).filter((n) => !usedDirs.has(n) && isSafeComponent(n));
  if (names.length > MAX_ORPHAN_DIRS) {
    note('warning', 'storage.orphans.too-many', `${names.length} directories no layer or container uses; the first ${MAX_ORPHAN_DIRS} (by name) are sized and listed`, ev.path(...at));
    names = names.slice(0, MAX_ORPHAN_DIRS);
  }
  // Sized in the walk workers, a few at a time: nothing is followed (an orphan that is a symlink to / is
  // reported as a symlink, not walked).
  // Names are byte strings: sized by their bytes below the driver dir, shown decoded.
  const sized = await eachTreeBytes(names.map((n) => ({ root: ev.path(...at), below: n })));
  names.forEach((n, i) => {
    orphanDirs.push({ path: ev.path(...at) + '/' + displayPath(n), bytes: sized[i]!.bytes });
    for (const p of sized[i]!.problems) note(p.severity, p.code, p.message, p.path);
  });
  return { orphanDirs, orphanLayers };
}
