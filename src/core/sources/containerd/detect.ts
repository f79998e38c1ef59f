import * as fs from 'node:fs';
import * as path from 'node:path';
import { Evidence } from '../evidence.js';
import { readInputFile } from '../../output/input.js';
import { GRAPH_DRIVERS, GRAPH_DRIVER_NAMES } from '../drivers.js';
import { JsonDoc, parseJson } from '../shape.js';
import { BoltError, openBolt, type Bucket } from './bbolt.js';
import { DOCKER_NAMESPACE, findContainerdLayout } from './layout.js';

/**
 * Which image store(s) a data root holds, and which one an engine started on it would use
 * (formats.md §5; moby daemon/image_store_choice.go @docker-v29.0.0):
 * - daemon.json `features.containerd-snapshotter` (true/false) decides; else `storage-driver` (a graphdriver
 *   name means the classic store, anything else is taken as a snapshotter);
 * - else a non-empty `<root>/<graphdriver>` dir (any registered graphdriver but vfs) means "graphdriver-prior":
 *   the classic store;
 * - else Engine 29+ uses the containerd store and older engines the classic one: without the engine version we
 *   only say 'containerd' when the containerd store actually holds images.
 * The mere existence of containerd/daemon/ proves nothing: Docker 20.10 on overlay2 has one too (holding only
 * runtime container records).
 */
export interface StoreDetection {
  /** Classic graphdriver data exist (image/<driver>/ metadata and/or a non-empty <driver>/ dir). */
  classic: boolean;
  /** The containerd store holds images (namespace moby for a Docker root; any namespace for a containerd root). */
  containerd: boolean;
  engineWouldUse: 'classic' | 'containerd' | 'unknown';
  reasons: string[];
}

/** Graphdrivers moby registers on Linux (vfs does not count as a prior driver). */
const PRIOR_DRIVERS = GRAPH_DRIVERS.filter((d) => d.prior).map((d) => d.name);

/** What a containerd meta.db holds, per namespace. */
export interface ContainerdInventory {
  /** The v1 bucket exists (containerd creates it, with its schema version, the first time it opens the db). */
  v1: boolean;
  /** Counts are null when a damaged page kept them from being counted (the source reports the damage). */
  namespaces: { name: string; images: number | null; imagesBucket: boolean; containers: number | null }[];
}

/**
 * Namespaces of a containerd meta.db and what each holds. Throws BoltError when the file or its top levels
 * (v1, the namespace list) cannot be read; damage deeper down only makes a count unknown.
 */
export function containerdInventory(metaDbPath: string): ContainerdInventory {
  const db = openBolt(metaDbPath);
  try {
    const v1 = db.bucket(['v1']);
    if (!v1) return { v1: false, namespaces: [] };
    const count = (get: () => Bucket | null): number | null => {
      try {
        const b = get();
        let n = 0;
        if (b) for (const _ of b.bucketNames()) n++;
        return n;
      } catch (err) {
        if (err instanceof BoltError) return null;
        throw err;
      }
    };
    const namespaces = [...v1.bucketNames()].map((k) => {
      let imagesBucket = true;
      try {
        imagesBucket = v1.bucket(k)?.bucket('images') != null;
      } catch (err) {
        if (!(err instanceof BoltError)) throw err;
      }
      return { name: k.toString('utf8'), images: count(() => v1.bucket(k)?.bucket('images') ?? null), imagesBucket, containers: count(() => v1.bucket(k)?.bucket('containers') ?? null) };
    });
    return { v1: true, namespaces };
  } finally {
    db.close();
  }
}

/** lstat below the root through Evidence: a symlink in any component counts as absent, never followed. */
function lstatIn(ev: Evidence, ...parts: string[]): fs.Stats | null {
  try {
    return ev.lstat(...parts);
  } catch {
    return null;
  }
}

function nonEmptyDir(ev: Evidence, ...parts: string[]): boolean {
  if (!lstatIn(ev, ...parts)?.isDirectory()) return false;
  try {
    return ev.readdir(...parts).length > 0;
  } catch {
    return false;
  }
}

function lstat(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

export interface DetectOptions {
  /** The engine's daemon.json (e.g. <evidence>/etc/docker/daemon.json), when known. Read, never followed if a symlink. */
  daemonJson?: string;
}

export function detectStores(root: string, opts: DetectOptions = {}): StoreDetection {
  const r = root.replace(/\/+$/, '') || '/';
  const reasons: string[] = [];
  const layout = findContainerdLayout(r);
  const ev = new Evidence(r);

  // Classic store.
  let classic = false;
  const priorDrivers: string[] = [];
  for (const drv of PRIOR_DRIVERS) {
    if (nonEmptyDir(ev, drv)) priorDrivers.push(drv);
    if (lstatIn(ev, 'image', drv)?.isDirectory()) {
      const repos = lstatIn(ev, 'image', drv, 'repositories.json')?.isFile() ?? false;
      const imagedb = nonEmptyDir(ev, 'image', drv, 'imagedb', 'content', 'sha256');
      if (repos || imagedb) {
        classic = true;
        reasons.push(`image/${drv}/ holds ${[repos && 'repositories.json', imagedb && 'image configs'].filter(Boolean).join(' and ')}`);
      }
    }
  }
  if (priorDrivers.length) {
    classic = true;
    reasons.push(`non-empty graphdriver dir(s): ${priorDrivers.join(', ')}`);
  }

  // containerd store.
  let containerd = false;
  if (layout) {
    try {
      const inv = containerdInventory(path.join(layout.containerdRoot, 'io.containerd.metadata.v1.bolt', 'meta.db'));
      const counted = inv.namespaces
        .filter((n) => layout.kind !== 'docker' || n.name === DOCKER_NAMESPACE)
        .filter((n) => n.images === null || n.images > 0)
        .map((n) => `${n.images ?? 'an uncountable number (damaged pages)'} in namespace ${n.name}`);
      if (counted.length) {
        containerd = true;
        reasons.push(`containerd meta.db (${layout.kind === 'docker' ? 'containerd/daemon/' : 'containerd root'}) holds images: ${counted.join(', ')}`);
      } else {
        reasons.push(`containerd meta.db exists but holds no ${layout.kind === 'docker' ? `${DOCKER_NAMESPACE} ` : ''}images (not a sign of the containerd store by itself)`);
      }
    } catch (err) {
      if (!(err instanceof BoltError)) throw err;
      reasons.push(`containerd meta.db unreadable: ${err.message}`);
    }
  }

  // Containers: which driver each one was created with.
  const drivers = new Map<string, number>();
  if (layout?.kind !== 'containerd') {
    let ids: string[] = [];
    try {
      ids = ev.readdir('containers');
    } catch {
      /* unreadable or a symlink: no signal */
    }
    for (const id of ids.slice(0, 10_000)) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      try {
        const bytes = ev.readFile(64 << 20, 'containers', id, 'config.v2.json');
        if (!bytes) continue;
        // A bad config is the source's business (it reports it), not detection's: its driver just does not count.
        const parsed = parseJson(bytes);
        const d = parsed.ok ? new JsonDoc(null).root(parsed.value)?.str('Driver') : null;
        if (d) drivers.set(d, (drivers.get(d) ?? 0) + 1);
      } catch {
        /* unreadable: no signal */
      }
    }
    if (drivers.size) reasons.push(`containers by driver: ${[...drivers].map(([d, n]) => `${d} ${n}`).join(', ')}`);
  }

  // What the engine would choose.
  let engineWouldUse: StoreDetection['engineWouldUse'] = 'unknown';
  let decided = false;
  if (opts.daemonJson) {
    const st = lstat(opts.daemonJson);
    if (st?.isFile()) {
      let text: string | null = null;
      try {
        // Bounded, and refused unless still a regular file when opened (a FIFO swapped in would block the read).
        text = readInputFile(opts.daemonJson, { max: 1 << 20, label: 'daemon.json' }).toString('utf8');
      } catch (err) {
        reasons.push(`daemon.json unreadable: ${(err as Error).message}`);
      }
      const parsed = text === null ? null : parseJson(text);
      if (parsed && !parsed.ok) reasons.push(`daemon.json unreadable: ${parsed.reason}`);
      else if (parsed) {
        const doc = new JsonDoc(opts.daemonJson, 'daemon.json');
        const cfg = doc.root(parsed.value);
        const feat = cfg?.obj('features')?.bool('containerd-snapshotter') ?? null;
        const sd = cfg?.str('storage-driver') ?? null;
        if (feat !== null) {
          engineWouldUse = feat ? 'containerd' : 'classic';
          decided = true;
          reasons.push(`daemon.json sets features.containerd-snapshotter=${feat}`);
        } else if (sd) {
          engineWouldUse = GRAPH_DRIVER_NAMES.has(sd) ? 'classic' : 'containerd';
          decided = true;
          reasons.push(`daemon.json sets storage-driver=${sd} (${GRAPH_DRIVER_NAMES.has(sd) ? 'a graphdriver' : 'not a graphdriver: taken as a snapshotter'})`);
        }
        const wrong = doc.summary();
        if (wrong) reasons.push(`daemon.json has the wrong shape (ignored): ${wrong}`);
      }
    } else reasons.push(`daemon.json ${st ? 'is not a regular file' : 'absent'}: defaults apply`);
  }
  if (!decided) {
    if (layout?.kind === 'containerd') {
      engineWouldUse = 'containerd';
      reasons.push('a containerd root: only the containerd store exists here');
    } else if (priorDrivers.length) {
      engineWouldUse = 'classic';
      reasons.push('graphdriver-prior: every engine keeps using existing graphdriver data unless told otherwise');
    } else if (containerd) {
      engineWouldUse = 'containerd';
      reasons.push('no graphdriver data and the containerd store holds images (Engine 29+ default, or containerd-snapshotter enabled)');
    } else {
      reasons.push('no graphdriver data and no containerd images: Engine 29+ would start on the containerd store, older engines on overlay2');
    }
  }
  return { classic, containerd, engineWouldUse, reasons };
}
