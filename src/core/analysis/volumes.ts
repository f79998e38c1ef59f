import type { Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo, LayerInfo, Problem } from '../model/types.js';
import type { BindMount, VolumeInfo } from '../model/volumes.js';
import { NotFoundError } from '../model/errors.js';
import { stackTables, summarize, type ImageAnalysis } from './analyze.js';

/** A volume with its size, as a report shows it. */
export interface SizedVolume extends VolumeInfo {
  /** As `docker system df -v` counts them; null when its data cannot be read here (a problem says why). */
  bytes: number | null;
}

export interface SizedBind extends BindMount {
  /** Bytes of the source when it lies inside the evidence (counted like a volume); null otherwise. */
  bytes: number | null;
}

export interface VolumeReport {
  engineRoot: string | null;
  volumes: SizedVolume[];
  binds: SizedBind[];
  /** Listing and sizing problems, each naming its file. */
  problems: Problem[];
}

/**
 * Every volume and bind of a source with its size (the walks run in the walk pool, all queued at once), or null
 * for a source that keeps no volumes (image archives, a containerd root).
 */
export async function volumeReport(source: Source, opts: { sizes?: boolean } = {}): Promise<VolumeReport | null> {
  const access = source.volumes;
  if (!access) return null;
  const listing = access.list();
  const problems = [...listing.problems];
  const withSizes = opts.sizes !== false;
  const [vs, bs] = await Promise.all([
    Promise.all(listing.volumes.map((v) => (withSizes && v.dataDir ? access.size(v) : Promise.resolve({ bytes: null, problems: [] })))),
    Promise.all(listing.binds.map((b) => (withSizes && b.evidencePath ? access.bindSize(b) : Promise.resolve({ bytes: null, problems: [] })))),
  ]);
  for (const s of [...vs, ...bs]) problems.push(...s.problems);
  return {
    engineRoot: listing.engineRoot,
    volumes: listing.volumes.map((v, i) => ({ ...v, bytes: vs[i]!.bytes })),
    binds: listing.binds.map((b, i) => ({ ...b, bytes: bs[i]!.bytes })),
    problems,
  };
}

/** What `docker volume inspect` prints for a volume, key for key (local volumes print no Status). */
export function volumeInspect(v: VolumeInfo): Record<string, unknown> {
  return { CreatedAt: v.createdAt ?? '', Driver: v.driver, Labels: v.labels, Mountpoint: v.mountpoint, Name: v.name, Options: v.options, Scope: v.scope ?? '' };
}

/** One of a container's mounts, matched with what the data root holds for it. */
export interface ContainerMount {
  type: string;
  destination: string;
  volume: VolumeInfo | null;
  bind: BindMount | null;
  /** Why its content is not here (outside the evidence, in memory, a plugin's), or null when it can be read. */
  unreadable: string | null;
}

/** The volume or bind source behind a container's mount point (type and destination as docker inspect gives them). */
export function containerMount(source: Source, container: ContainerInfo, m: { type: string; name: string | null; source: string; destination: string }): ContainerMount {
  const listing = source.volumes?.list() ?? null;
  const base = { type: m.type, destination: m.destination, volume: null, bind: null };
  if (!listing) return { ...base, unreadable: 'this source keeps no volumes' };
  if (m.type === 'volume') {
    const v = listing.volumes.find((x) => x.name === m.name) ?? null;
    if (!v) return { ...base, unreadable: 'not in the data root (see the problems)' };
    const unreadable = v.dataDir ? null : v.driver !== 'local' ? `a ${v.driver} volume: its data is the plugin's` : 'its _data is not a directory here';
    return { ...base, volume: v, unreadable };
  }
  if (m.type === 'bind') {
    const b = listing.binds.find((x) => x.containerId === container.id && x.destination === m.destination) ?? null;
    if (!b) return { ...base, unreadable: 'not recorded in config.v2.json' };
    return { ...base, bind: b, unreadable: b.evidencePath ? null : (b.outside ?? 'outside the evidence: not read') };
  }
  return { ...base, unreadable: m.type === 'tmpfs' ? 'tmpfs: in memory, nothing on disk' : `a ${m.type} mount: nothing on disk here` };
}

/** A mount's tree (a volume's data, a bind source) as a one-layer analysis, for views that show image trees. */
export async function mountTreeAnalysis(source: Source, cm: ContainerMount, label: string): Promise<ImageAnalysis> {
  const access = source.volumes;
  if (!access || cm.unreadable) throw new NotFoundError('mount.unreadable', `${label}: ${cm.unreadable ?? 'no volumes here'}`);
  const tree = cm.volume ? await access.readTree(cm.volume) : await access.readBindTree(cm.bind!);
  const layer: LayerInfo = { index: 0, diffId: '', chainId: '', cacheId: null, createdBy: label, created: null, comment: null, location: tree.dir, storedSize: null };
  const image: ImageInfo = { id: `mount:${tree.dir}`, tags: [label], digests: [], created: null, os: null, architecture: null, layers: [layer], emptyHistory: 0, config: {} };
  return summarize(image, stackTables([tree.table], tree.table.paths));
}
