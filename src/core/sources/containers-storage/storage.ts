import type { StorageInfo } from '../../model/source.js';
import { LIMITS } from '../../model/limits.js';
import { displayPath } from '../../model/path.js';
import { chainIds } from '../../analysis/chain.js';
import { Evidence, EvidenceError, describeFsError, isSafeComponent, throwIfPermission } from '../evidence.js';
import { eachTreeBytes } from '../walk/layer-dir.js';
import type { CsLayer, Note } from './store.js';

/**
 * Storage nothing references in a containers/storage store. containers/storage deletes a layer when the last
 * image or container using it goes (`podman rmi`, `podman rm`), and a layer's dir with its record: so a layer no
 * image chain and no container reaches, or an `overlay/<dir>` no record lists, is the trace of an edited
 * images.json/containers.json/layers.json or of a crash mid-removal. Both are listed, as a Docker data root's are.
 */

/** Orphan dirs and layers sized and listed (a real host has a handful; a crafted store, a million). */
const MAX_ORPHANS = 10_000;

/**
 * What the overlay driver keeps in its home beside the layer dirs: the short-link dir `l/`, the fuse-overlayfs
 * marker, the quota device node. Never listed as unused.
 */
const BOOKKEEPING_DIRS = new Set(['l']);
const BOOKKEEPING_FILES = new Set(['.has-mount-program', 'backingFsBlockDev']);
/** The driver's work dirs (layers being staged, dirs being removed): bookkeeping while empty, evidence when not. */
const WORK_DIRS = new Set(['staging', 'tempdirs']);

export interface CsStorageInput {
  ev: Evidence;
  driver: string;
  layers: Map<string, CsLayer>;
  layersFile: string;
  /** Top layers images.json names (every record, even one whose config is gone: its layers are still its). */
  imageTops: (string | null)[];
  /** Layers containers.json names. */
  containerLayers: (string | null)[];
  note: Note;
}

/** The layer ids some image or container reaches through `parent` (each chain bounded, cycles stopped). */
export function reachedLayers(layers: Map<string, CsLayer>, tops: readonly (string | null)[]): Set<string> {
  const used = new Set<string>();
  for (const top of tops) {
    let id: string | null = top;
    // `used` stops a cycle and a walk already made; the count stops a chain longer than any engine makes.
    for (let n = 0; id !== null && !used.has(id) && n < LIMITS.chainLayers; n++) {
      used.add(id);
      id = layers.get(id)?.parent ?? null;
    }
  }
  return used;
}

/**
 * The chain ID of a layer (from the diff-digests of its chain, base first), or null when a layer of the chain has
 * none (a container's layer) or the chain is broken, looping or too long.
 */
function chainIdOf(layers: Map<string, CsLayer>, id: string): string | null {
  const diffs: string[] = [];
  const seen = new Set<string>();
  let cur: string | null = id;
  while (cur !== null) {
    const l = layers.get(cur);
    if (!l || !l.diffDigest || seen.has(cur) || seen.size >= LIMITS.chainLayers) return null;
    seen.add(cur);
    diffs.push(l.diffDigest);
    cur = l.parent;
  }
  return chainIds(diffs.reverse()).at(-1) ?? null;
}

export async function readCsStorage(x: CsStorageInput): Promise<StorageInfo> {
  const { ev, driver, layers, note } = x;
  const used = reachedLayers(layers, [...x.imageTops, ...x.containerLayers]);
  let unused = [...layers.values()].filter((l) => !used.has(l.id)).sort((a, b) => a.id.localeCompare(b.id));
  if (unused.length > MAX_ORPHANS) {
    note('warning', 'storage.orphans.too-many', `${unused.length} layers no image or container uses; the first ${MAX_ORPHANS} (by id) are listed`, x.layersFile);
    unused = unused.slice(0, MAX_ORPHANS);
  }
  // A layer's recorded diff-size when it has one; a container's layer has none: its dir is sized (ids are 64 hex
  // digits, checked when layers.json was read). The whole overlay/<id>, one component below the driver dir: the
  // walk lstats what it is given, so no intermediate component (a planted symlink) is ever resolved.
  const toSize = unused.filter((l) => l.diffSize === null);
  const sizedLayers = await eachTreeBytes(toSize.map((l) => ({ root: ev.path(driver), below: l.id })));
  const sizeOf = new Map(toSize.map((l, i) => [l.id, sizedLayers[i]!.bytes]));
  for (const s of sizedLayers) for (const p of s.problems) note(p.severity, p.code, p.message, p.path);
  const orphanLayers: StorageInfo['orphanLayers'] = unused.map((l) => ({
    // No chain ID for a container's layer (no diff-digest) or a broken chain: the layer id says which it is.
    chainId: chainIdOf(layers, l.id) ?? l.id,
    cacheId: l.id,
    bytes: l.diffSize ?? sizeOf.get(l.id) ?? 0,
  }));

  const names = listDir(ev, note, driver).filter((n) => !layers.has(n) && isSafeComponent(n) && !bookkeeping(ev, note, driver, n));
  let dirs = names.sort();
  if (dirs.length > MAX_ORPHANS) {
    note('warning', 'storage.orphans.too-many', `${dirs.length} entries no layer in layers.json uses; the first ${MAX_ORPHANS} (by name) are sized and listed`, ev.path(driver));
    dirs = dirs.slice(0, MAX_ORPHANS);
  }
  // Sized in the walk workers, nothing followed (an entry that is a symlink to / is sized as a symlink).
  // Names are byte strings: sized by their bytes below the driver dir, shown decoded.
  const sized = await eachTreeBytes(dirs.map((n) => ({ root: ev.path(driver), below: n })));
  const orphanDirs = dirs.map((n, i) => {
    for (const p of sized[i]!.problems) note(p.severity, p.code, p.message, p.path);
    return { path: ev.path(driver) + '/' + displayPath(n), bytes: sized[i]!.bytes };
  });
  return { orphanDirs, orphanLayers };
}

function bookkeeping(ev: Evidence, note: Note, driver: string, name: string): boolean {
  let st;
  try {
    st = ev.lstat(driver, name);
  } catch (err) {
    throwIfPermission(err, ev.path(driver, name));
    return false;
  }
  if (!st) return true; // gone since the listing
  if (st.isDirectory()) {
    if (BOOKKEEPING_DIRS.has(name)) return true;
    return WORK_DIRS.has(name) && listDir(ev, note, driver, name).length === 0;
  }
  return BOOKKEEPING_FILES.has(name) && (st.isFile() || st.isBlockDevice());
}

function listDir(ev: Evidence, note: Note, ...parts: string[]): string[] {
  try {
    return ev.readdir(...parts);
  } catch (err) {
    throwIfPermission(err, ev.path(...parts));
    if (err instanceof EvidenceError) note('error', err.code, err.message.replace(`${err.path}: `, ''), err.path);
    else note('error', 'evidence.unreadable', describeFsError(err), ev.path(...parts));
    return [];
  }
}
