/**
 * A user namespace's id mapping, as a rootless engine sets it up (or as containers/storage records one for a layer
 * it wrote with an id map): files on the host are owned by host ids, and a container (and `docker export`,
 * `podman export`, the layer tars) sees them as container ids. Such a store keeps host ids on disk; every view
 * shows container ids, as the engine does, once the mapping is known.
 *
 * The ranges are those of /proc/PID/uid_map: container id `containerId` .. +size-1 is host id `hostId` ...
 */
export interface IdRange {
  containerId: number;
  hostId: number;
  size: number;
}

/** The kernel's overflow id: what a container sees for a host id its namespace does not map (nobody). */
export const OVERFLOW_ID = 65534;

/** A host id as a mapping shows it (the overflow id when no range maps it, as the kernel shows it). */
export function mapHostId(ranges: readonly IdRange[], host: number): number {
  return mapped(ranges, host) ?? OVERFLOW_ID;
}

/** The container id of a host id, or null when no range maps it. */
function mapped(ranges: readonly IdRange[], host: number): number | null {
  for (const r of ranges) if (host >= r.hostId && host < r.hostId + r.size) return r.containerId + (host - r.hostId);
  return null;
}

export class IdMap {
  constructor(
    readonly uids: readonly IdRange[],
    readonly gids: readonly IdRange[],
    /** Where the mapping was found, for messages: `/etc/subuid and subgid (alice)`, `layers.json uidmap`. */
    readonly from: string,
  ) {}

  /** The container uid of a host uid. */
  uid(host: number): number {
    return mapHostId(this.uids, host);
  }

  gid(host: number): number {
    return mapHostId(this.gids, host);
  }

  /** True when both ids are in the map (a file the namespace's processes could have made). */
  covers(uid: number, gid: number): boolean {
    return mapped(this.uids, uid) !== null && mapped(this.gids, gid) !== null;
  }

  /** `0:1000:1,1:100000:65536` (container:host:size), uids then gids when they differ. */
  describe(): string {
    const show = (r: readonly IdRange[]) => r.map((x) => `${x.containerId}:${x.hostId}:${x.size}`).join(',');
    const u = show(this.uids);
    const g = show(this.gids);
    return u === g ? u : `uid ${u}; gid ${g}`;
  }
}

/**
 * The mapping a rootless engine of `owner` gets (rootlesskit and podman alike, through newuidmap): container 0 is
 * the owner, and 1.. are the owner's subordinate ranges in the order /etc/subuid lists them.
 */
export function rootlessRanges(owner: number, subordinate: readonly { start: number; count: number }[]): IdRange[] {
  const out: IdRange[] = [{ containerId: 0, hostId: owner, size: 1 }];
  let next = 1;
  for (const s of subordinate) {
    out.push({ containerId: next, hostId: s.start, size: s.count });
    next += s.count;
  }
  return out;
}
