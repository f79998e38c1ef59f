import type { Source } from '../model/source.js';
import type { Problem } from '../model/types.js';
import type { BindMount, VolumeInfo } from '../model/volumes.js';

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
