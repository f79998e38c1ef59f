import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Stats } from 'node:fs';
import type { Attrs, ContainerInfo, Problem, Severity } from '../model/types.js';
import { LayerTable } from '../model/layer-table.js';
import type { BindMount, MountTree, VolumeAccess, VolumeInfo, VolumeListing, VolumeSize, VolumeUse } from '../model/volumes.js';
import { PathTable } from '../model/paths.js';
import { displayPath, quotedPath } from '../model/path.js';
import { LayerscopeError, NotFoundError } from '../model/errors.js';
import { ProblemSink } from '../model/problem-sink.js';
import { Evidence, EvidenceError, describeFsError, throwIfPermission } from './evidence.js';
import { BoltError, openBolt, type BoltDb } from './containerd/bbolt.js';
import { JsonDoc, parseJson, type JsonObj } from './shape.js';
import { readLayerDir, treeBytes } from './walk/layer-dir.js';

/**
 * Volumes of a Docker data root (`volumes/`), as moby's volume service and local driver keep them; both image
 * stores (overlay2, containerd) keep them alike.
 *
 * On disk (moby volume/service/db.go, volume/local/local.go):
 * - `volumes/metadata.db`: bbolt; bucket `volumes`, key = volume name, value = JSON
 *   `{"Name","Driver","Labels","Options"}` (an empty value is skipped, as the engine skips it);
 * - `volumes/<name>/`: the local driver's volume root (0701); its data in `_data/`; `opts.json` when it was made
 *   with mount options (`{"MountType","MountOpts","MountDevice","Quota"}`): the engine mounts that device over
 *   `_data` while a container uses the volume.
 * The local driver lists the directories of `volumes/`; the store adds labels and options from metadata.db, and
 * drops (at its next start) a metadata entry of the local driver whose directory is gone. CreatedAt is
 * `volumes/<name>/`'s st_ctim.
 *
 * Evidence rules: metadata.db is opened O_RDONLY|O_NOFOLLOW, never locked, bounded (size, entries, value size);
 * `volumes/<name>` and `_data` must be real directories (a symlink is a problem, never followed); a name the
 * engine could not have made (`..`, `/`, control characters: moby's [a-zA-Z0-9][a-zA-Z0-9_.-]+) is a problem and
 * never becomes a path. Sizing and tree reads are walks in the walk workers with lstat only.
 */

/** moby's names.RestrictedNamePattern: what a volume name may be (its local driver also wants 2 chars at least). */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** Docker >= 23 labels the volumes it makes for a container's anonymous VOLUME / -v /path. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
/** A real metadata.db is KBs (a few hundred bytes per volume); past this it is not the engine's. */
export const MAX_VOLUME_DB = 256 << 20;
/** Volumes read from metadata.db (a host has tens, a big one thousands). */
export const MAX_VOLUMES = 1_000_000;
/** One metadata value: names, labels and options of one volume. */
const MAX_META_VALUE = 1 << 20;
const MAX_OPTS_JSON = 1 << 16;
const HEX64 = /^[0-9a-f]{64}$/;

interface MetaEntry {
  name: string;
  driver: string;
  labels: Record<string, string> | null;
  options: Record<string, string> | null;
}

/** The volumes of the Docker data root at `root`, for the containers the source read from it. */
export function dockerVolumes(root: string, containers: readonly ContainerInfo[]): VolumeAccess {
  const ev = new Evidence(root.replace(/\/+$/, '') || '/');
  let listing: VolumeListing | null = null;
  const sizes = new Map<string, Promise<VolumeSize>>();
  const trees = new Map<string, Promise<MountTree>>();
  const once = <T>(cache: Map<string, Promise<T>>, key: string, fn: () => Promise<T>) => {
    let p = cache.get(key);
    if (!p) cache.set(key, (p = fn()));
    return p;
  };
  const sizeOf = (dir: string | null, why: string): Promise<VolumeSize> =>
    dir === null ? Promise.resolve({ bytes: null, problems: [] }) : treeBytes(dir, { count: 'df' }).then((r) => ({ bytes: r.problems.some((p) => p.code === 'evidence.unreadable' || p.code === 'evidence.symlink') ? null : r.bytes, problems: r.problems.map((p) => ({ ...p, message: `${why}: ${p.message}` })) }));
  const treeOf = (dir: string): Promise<MountTree> => readLayerDir(dir, new PathTable(), { overlay: false }).then((table) => ({ dir, table }));
  // A bind of one file (`-v /host/app.conf:/etc/app.conf`): the tree of its directory holding that file alone.
  const fileTreeOf = (file: string): MountTree => {
    const st = fs.lstatSync(file);
    const name = Buffer.from(path.basename(file), 'utf8').toString('latin1');
    const attrs: Attrs = { type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, mtime: Math.floor(st.mtimeMs / 1000), mtimeNsec: Number(BigInt(Math.round(st.mtimeMs * 1e6)) % 1_000_000_000n) };
    return { dir: path.dirname(file), table: LayerTable.fromEntries(new PathTable(), [{ kind: 'put', path: name, attrs }]) };
  };
  return {
    list: () => (listing ??= listVolumes(ev, containers)),
    size: (v) => once(sizes, 'v:' + v.name, () => sizeOf(v.dataDir, `volume ${quotedPath(v.name)}`)),
    bindSize: (b) => once(sizes, 'b:' + b.source, () => sizeOf(b.evidencePath, `bind source ${quotedPath(b.source)}`)),
    readTree: (v) => {
      if (!v.dataDir) return Promise.reject(new NotFoundError('volume.no-data', `volume ${quotedPath(v.name)} has no data directory here${v.driver !== 'local' ? ` (driver ${JSON.stringify(v.driver)}: its data is the plugin's)` : ''}`, ev.path('volumes')));
      return once(trees, 'v:' + v.name, () => treeOf(v.dataDir!));
    },
    readBindTree: (b) => {
      if (!b.evidencePath) return Promise.reject(new NotFoundError('bind.outside', `bind source ${quotedPath(b.source)}: ${b.outside ?? 'outside the evidence: not read'}`, null));
      return once(trees, 'b:' + b.source, async () => {
        // Never followed: lstat says what the source is; a symlink there was refused when the bind was placed.
        const st = fs.lstatSync(b.evidencePath!);
        if (st.isFile()) return fileTreeOf(b.evidencePath!);
        return treeOf(b.evidencePath!);
      });
    },
  };
}

/** Volumes and binds of a data root, from metadata only (no walk). */
export function listVolumes(ev: Evidence, containers: readonly ContainerInfo[]): VolumeListing {
  const problems: Problem[] = [];
  const sink = new ProblemSink(problems);
  const note = (severity: Severity, code: string, message: string, path: string | null) => sink.note(severity, code, message, path);
  const safe = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (err) {
      throwIfPermission(err, ev.root);
      if (err instanceof EvidenceError) note('error', err.code, err.message.replace(`${err.path}: `, ''), err.path);
      else note('error', 'evidence.unreadable', describeFsError(err), null);
      return fallback;
    }
  };
  const engineRoot = engineRootOf(containers);
  const shownRoot = engineRoot ?? ev.root;
  const volumesDir = safe(() => ev.lstat('volumes'), null);
  if (volumesDir && !volumesDir.isDirectory()) {
    note('error', 'volumes.not-a-dir', volumesDir.isSymbolicLink() ? 'is a symlink inside the evidence; not followed: no volume is read' : 'is not a directory: no volume is read', ev.path('volumes'));
  }
  const hasDir = volumesDir?.isDirectory() ?? false;
  const meta = hasDir ? readMetadataDb(ev, note, safe) : new Map<string, MetaEntry>();

  // volumes/<name>/ dirs: what the local driver lists.
  const dirs = new Map<string, Stats>();
  for (const name of hasDir ? safe(() => ev.readdir('volumes'), [] as string[]) : []) {
    if (name === 'metadata.db') continue;
    const where = () => ev.root + '/volumes/' + displayPath(name);
    if (!VOLUME_NAME.test(name)) {
      note('error', 'volumes.bad-name', `${quotedPath(name)} is not a name the engine gives a volume ([a-zA-Z0-9][a-zA-Z0-9_.-]+); not read`, where());
      continue;
    }
    const st = safe(() => ev.lstat('volumes', name), null);
    if (!st) continue;
    if (st.isSymbolicLink()) {
      note('error', 'volumes.dir-symlink', `is a symlink inside the evidence; not followed (the engine skips it too: it lists real directories only)`, where());
      continue;
    }
    // Files beside the volume dirs (backingFsBlockDev for quotas, metadata.db.err.* backups) are not volumes.
    if (st.isDirectory()) dirs.set(name, st);
  }

  const uses = usesOf(containers);
  const volumes: VolumeInfo[] = [];
  for (const name of new Set([...dirs.keys(), ...meta.keys()])) {
    const m = meta.get(name) ?? null;
    const st = dirs.get(name) ?? null;
    const driver = m?.driver || 'local';
    if (!st && driver === 'local') {
      note('warning', 'volumes.metadata-without-dir', `volume ${quotedPath(name)} is in metadata.db but volumes/${displayPath(name)}/ is gone (the engine drops such an entry at its next start; docker volume ls does not show it)`, ev.path('volumes', 'metadata.db'));
      continue;
    }
    if (st && !m) note('info', 'volumes.dir-without-metadata', `volume directory without an entry in metadata.db: the engine lists it (local driver) with no labels and no options`, ev.path('volumes', name));
    const local = driver === 'local';
    const data = st && local ? dataDirOf(ev, name, note, safe) : null;
    volumes.push({
      name,
      driver,
      mountpoint: local ? `${shownRoot}/volumes/${name}/_data` : '',
      createdAt: st ? rfc3339(st) : null,
      dataChangedAt: data ? rfc3339(data.st) : null,
      labels: m ? m.labels : null,
      options: m ? m.options : null,
      scope: local ? 'local' : null,
      anonymous: (m?.labels !== null && m?.labels !== undefined && ANONYMOUS_LABEL in m.labels) || HEX64.test(name),
      dataDir: data?.path ?? null,
      inMetadata: m !== null,
      onDisk: st !== null,
      mount: st ? readOpts(ev, name, note, safe) : null,
      usedBy: uses.get(name) ?? [],
    });
  }
  volumes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const [name, list] of uses) {
    if (!volumes.some((v) => v.name === name)) for (const u of list) note('warning', 'volumes.mounted-missing', `container ${quotedPath(u.container)} mounts volume ${quotedPath(name)} at ${quotedPath(u.destination)}, which is not in this data root`, ev.path('containers', u.containerId));
  }
  return { volumes, binds: bindsOf(ev, containers, engineRoot), engineRoot, problems };
}

/** `volumes/<name>/_data` when it is a real directory; a symlink or anything else is a problem. */
function dataDirOf(ev: Evidence, name: string, note: Note, safe: Safe): { path: string; st: Stats } | null {
  const st = safe(() => ev.lstat('volumes', name, '_data'), null);
  const where = ev.path('volumes', name, '_data');
  if (!st) {
    note('warning', 'volumes.data-missing', `volume ${quotedPath(name)} has no _data directory: nothing to read`, where);
    return null;
  }
  if (!st.isDirectory()) {
    note('error', st.isSymbolicLink() ? 'volumes.data-symlink' : 'volumes.data-not-dir', st.isSymbolicLink() ? `is a symlink inside the evidence; not followed (the volume's data is not read)` : 'is not a directory: the volume has no data here', where);
    return null;
  }
  return { path: where, st };
}

type Note = (severity: Severity, code: string, message: string, path: string | null) => void;
type Safe = <T>(fn: () => T, fallback: T) => T;

/** Go's time.Format(time.RFC3339) of st_ctim, in UTC: seconds, fraction dropped. */
function rfc3339(st: Stats): string {
  return new Date(Math.floor(st.ctimeMs / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** volumes/metadata.db's `volumes` bucket, by name. Every problem names the file; what was readable is kept. */
function readMetadataDb(ev: Evidence, note: Note, safe: Safe): Map<string, MetaEntry> {
  const out = new Map<string, MetaEntry>();
  const file = ev.path('volumes', 'metadata.db');
  const st = safe(() => ev.lstat('volumes', 'metadata.db'), null);
  if (!st) {
    note('info', 'volumes.metadata.missing', 'no volumes/metadata.db: volumes are listed from their directories, without labels or options', file);
    return out;
  }
  if (!st.isFile()) {
    note('error', 'volumes.metadata.not-a-file', st.isSymbolicLink() ? 'is a symlink inside the evidence; not followed: labels and options of the volumes are not read' : 'is not a regular file: labels and options of the volumes are not read', file);
    return out;
  }
  if (st.size > MAX_VOLUME_DB) {
    note('error', 'volumes.metadata.too-large', `is ${st.size} bytes, more than the ${MAX_VOLUME_DB} a volume database can sensibly hold: not read (labels and options of the volumes are left out)`, file);
    return out;
  }
  let db: BoltDb | null = null;
  try {
    db = openBolt(file);
    if (db.truncated) note('error', 'volumes.metadata.truncated', `is ${db.fileSize} bytes, shorter than its pages say: entries on missing pages are left out`, file);
    const bucket = db.bucket(['volumes']);
    if (!bucket) return out;
    for (const e of bucket.entries()) {
      const key = e.key.toString('latin1');
      const shown = quotedPath(key);
      if (out.size >= MAX_VOLUMES) {
        note('error', 'volumes.metadata.too-many', `more than ${MAX_VOLUMES} volumes: the rest is not read`, file);
        break;
      }
      if (e.isBucket) {
        note('warning', 'volumes.metadata.bad-entry', `key ${shown} is a bucket, not a volume record; ignored`, file);
        continue;
      }
      if (!VOLUME_NAME.test(key)) {
        note('error', 'volumes.metadata.bad-name', `key ${shown} is not a name the engine gives a volume; ignored (never used as a path)`, file);
        continue;
      }
      const v = e.value!;
      if (v.length === 0) continue; // the engine skips empty values too
      if (v.length > MAX_META_VALUE) {
        note('error', 'volumes.metadata.too-large-entry', `the record of volume ${shown} is ${v.length} bytes: not read`, file);
        continue;
      }
      const m = metaEntry(key, v, file, note);
      if (m) out.set(key, m);
    }
  } catch (err) {
    throwIfPermission(err instanceof BoltError && err.errno ? Object.assign(new Error(err.message), { code: err.errno }) : err, file);
    note('error', 'volumes.metadata.unreadable', `not a readable bbolt database (${err instanceof LayerscopeError ? err.message.replace(`${file}: `, '') : describeFsError(err)}): labels and options of the volumes are not read; volumes are listed from their directories`, file);
  } finally {
    db?.close();
  }
  return out;
}

function metaEntry(key: string, value: Buffer, file: string, note: Note): MetaEntry | null {
  const parsed = parseJson(value);
  if (!parsed.ok) {
    // The engine logs the error and leaves the volume's labels and options out.
    note('error', 'volumes.metadata.invalid-json', `the record of volume ${quotedPath(key)} is not JSON (${parsed.reason}): its labels and options are left out`, file);
    return null;
  }
  const doc = new JsonDoc(file, `metadata.db volumes/${displayPath(key)}`);
  const o = doc.root(parsed.value);
  let m: MetaEntry | null = null;
  if (o) {
    const name = o.str('Name');
    if (name !== null && name !== key) note('warning', 'volumes.metadata.name-mismatch', `the record under key ${quotedPath(key)} names volume ${quotedPath(name)}; the key is what the engine uses`, file);
    m = { name: key, driver: o.str('Driver') ?? '', labels: strMap(o, 'Labels'), options: strMap(o, 'Options') };
  }
  const p = doc.problem('volumes.metadata.bad-shape');
  if (p) note(p.severity, p.code, p.message, p.path);
  return m;
}

const strMap = (o: JsonObj, k: string): Record<string, string> | null => {
  const m = o.obj(k);
  return m ? Object.fromEntries(m.strs()) : null;
};

/** opts.json: the device the local driver mounts over _data, when the volume was made with mount options. */
function readOpts(ev: Evidence, name: string, note: Note, safe: Safe): VolumeInfo['mount'] {
  const bytes = safe(() => ev.readFile(MAX_OPTS_JSON, 'volumes', name, 'opts.json'), null);
  if (!bytes) return null;
  const file = ev.path('volumes', name, 'opts.json');
  const parsed = parseJson(bytes);
  if (!parsed.ok) {
    note('error', 'volumes.opts.invalid-json', `invalid JSON (${parsed.reason}): the volume's mount options are unknown`, file);
    return null;
  }
  const doc = new JsonDoc(file, 'opts.json');
  const o = doc.root(parsed.value);
  const p = doc.problem('volumes.opts.bad-shape');
  if (p) note(p.severity, p.code, p.message, p.path);
  const type = o?.str('MountType') ?? '';
  const device = o?.str('MountDevice') ?? '';
  if (!type && !device) return null;
  note('info', 'volumes.mounted-device', `volume ${quotedPath(name)} is a mount of ${JSON.stringify(device)} (type ${JSON.stringify(type)}): while a container used it, its data lived there, not in _data`, file);
  return { type, device, options: o?.str('MountOpts') ?? '' };
}

/** Volume mounts per volume name, sorted by container name then destination. */
function usesOf(containers: readonly ContainerInfo[]): Map<string, VolumeUse[]> {
  const out = new Map<string, VolumeUse[]>();
  for (const c of containers) {
    for (const m of c.mounts) {
      if (m.type !== 'volume' || !m.name) continue;
      const list = out.get(m.name) ?? [];
      list.push({ containerId: c.id, container: c.name, destination: m.destination, rw: m.rw });
      out.set(m.name, list);
    }
  }
  for (const list of out.values()) list.sort((a, b) => (a.container < b.container ? -1 : a.container > b.container ? 1 : a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));
  return out;
}

/**
 * The data root the engine ran with, from the paths it wrote into containers' config.v2.json: ResolvConfPath,
 * HostnamePath, HostsPath and LogPath are `<root>/containers/<id>/<file>`. The most frequent answer wins.
 */
export function engineRootOf(containers: readonly ContainerInfo[]): string | null {
  const votes = new Map<string, number>();
  for (const c of containers) {
    const i = c.inspect;
    if (!i) continue;
    for (const p of [i.ResolvConfPath, i.HostnamePath, i.HostsPath, i.LogPath]) {
      if (typeof p !== 'string') continue;
      const at = p.lastIndexOf(`/containers/${c.id}/`);
      if (at <= 0 || p.indexOf('/', at + `/containers/${c.id}/`.length) !== -1) continue;
      const root = p.slice(0, at);
      if (!root.startsWith('/') || root.split('/').some((s) => s === '..' || s === '.')) continue;
      votes.set(root, (votes.get(root) ?? 0) + 1);
    }
  }
  let best: string | null = null;
  for (const [root, n] of votes) if (best === null || n > votes.get(best)!) best = root;
  return best;
}

/** Bind mounts (MountPoints of type bind; a mount without type or name but with a source, as old engines wrote it). */
function bindsOf(ev: Evidence, containers: readonly ContainerInfo[], engineRoot: string | null): BindMount[] {
  const out: BindMount[] = [];
  for (const c of containers) {
    for (const m of c.mounts) {
      const bind = m.type === 'bind' || (!m.type && !m.name && !!m.source);
      if (!bind || !m.source) continue;
      out.push({ containerId: c.id, container: c.name, source: m.source, destination: m.destination, rw: m.rw, ...locate(ev, m.source, engineRoot) });
    }
  }
  return out.sort((a, b) => (a.container < b.container ? -1 : a.container > b.container ? 1 : a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));
}

/** Where a host path is in the evidence: only below the engine's data root, which we read at `ev.root`. */
function locate(ev: Evidence, source: string, engineRoot: string | null): Pick<BindMount, 'evidencePath' | 'outside'> {
  const outside = (why: string) => ({ evidencePath: null, outside: why });
  if (!engineRoot) return outside('the data root path the engine ran with is not recorded here, so no host path can be placed in the evidence');
  if (source !== engineRoot && !source.startsWith(engineRoot + '/')) return outside('outside the evidence: not read');
  const rel = source.slice(engineRoot.length + 1);
  const parts = rel === '' ? [] : rel.split('/').filter((s) => s !== '');
  if (parts.some((s) => s === '.' || s === '..' || s.includes('\0'))) return outside('its path has "." or ".." components: not resolved');
  try {
    const st = ev.lstat(...parts);
    if (!st) return outside('inside the data root, but not in this copy of it (gone)');
    if (st.isSymbolicLink()) return outside('inside the data root, but a symlink there; not followed');
    if (!st.isDirectory() && !st.isFile()) return outside('inside the data root, but neither a directory nor a file');
    return { evidencePath: parts.length ? ev.path(...parts) : ev.root, outside: null };
  } catch (err) {
    throwIfPermission(err, ev.root);
    return outside(err instanceof EvidenceError ? `inside the data root, but ${err.message.replace(`${err.path}: `, '')} (at ${err.path})` : describeFsError(err));
  }
}

/** A volume by name (exact). */
export function findVolume(listing: VolumeListing, name: string): VolumeInfo {
  const v = listing.volumes.find((x) => x.name === name);
  if (v) return v;
  const near = listing.volumes.filter((x) => x.name.startsWith(name)).map((x) => x.name);
  throw new NotFoundError('volume.not-found', `no volume named ${quotedPath(name)}${near.length ? ` (did you mean ${near.slice(0, 5).join(', ')}?)` : listing.volumes.length ? '' : ': this data root has no volume'}`, null);
}

/** A bind mount by CONTAINER:DESTINATION (container name or ID prefix). */
export function findBind(listing: VolumeListing, ref: string): BindMount {
  const at = ref.indexOf(':');
  if (at <= 0) throw new NotFoundError('bind.not-found', `${JSON.stringify(ref)}: give a bind mount as CONTAINER:DESTINATION`, null);
  const who = ref.slice(0, at).replace(/^\//, '');
  const dest = ref.slice(at + 1);
  const b = listing.binds.find((x) => (x.container === who || x.containerId.startsWith(who)) && x.destination === dest);
  if (!b) throw new NotFoundError('bind.not-found', `no bind mount at ${JSON.stringify(dest)} in container ${JSON.stringify(who)}`, null);
  return b;
}

export const _internal = { rfc3339, VOLUME_NAME };

/**
 * A volume's mount point is stored with an empty Source (an anonymous volume always; docker inspect prints the
 * volume's path instead: moby MountPoint.Path(), `<root>/volumes/<name>/_data`). Filled in with the root the engine
 * ran with (its containers' own paths say it), else the root we read (a data root read where it lives).
 */
export function fillVolumeSources(containers: readonly ContainerInfo[], evidenceRoot: string): void {
  const root = engineRootOf(containers) ?? evidenceRoot.replace(/\/+$/, '');
  for (const c of containers) {
    const ins = c.inspect;
    if (!ins) continue;
    ins.Mounts = ins.Mounts.map((m) => (m.Type === 'volume' && m.Source === '' && m.Name && (!m.Driver || m.Driver === 'local') ? { ...m, Source: `${root}/volumes/${m.Name}/_data` } : m));
  }
}
