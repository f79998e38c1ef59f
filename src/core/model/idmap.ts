/**
 * A user namespace's id mapping, as a rootless engine sets it up: files on the host are owned by host ids, and a
 * container (and `docker export`, `podman export`, the layer tars) sees them as container ids. A rootless store
 * keeps host ids on disk; every view shows container ids, as the engine does, once the mapping is known.
 *
 * The ranges are those of /proc/PID/uid_map: container id `inside` .. inside+count-1 is host id `outside` ...
 */
export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

/** The kernel's overflow id: what a container sees for a host id its namespace does not map (nobody). */
export const OVERFLOW_ID = 65534;

export class IdMap {
  constructor(
    readonly uids: readonly IdRange[],
    readonly gids: readonly IdRange[],
    /** Where the mapping was found, for messages: `/etc/subuid and /etc/subgid (user alice)`. */
    readonly from: string,
  ) {}

  /** The container uid of a host uid (the overflow id when it is not mapped, as the kernel shows it). */
  uid(host: number): number {
    return toInside(this.uids, host);
  }

  gid(host: number): number {
    return toInside(this.gids, host);
  }

  /** `0:1000:1,1:100000:65536` (inside:outside:count), uids then gids when they differ. */
  describe(): string {
    const show = (r: readonly IdRange[]) => r.map((x) => `${x.inside}:${x.outside}:${x.count}`).join(',');
    const u = show(this.uids);
    const g = show(this.gids);
    return u === g ? u : `uid ${u}; gid ${g}`;
  }
}

function toInside(ranges: readonly IdRange[], host: number): number {
  for (const r of ranges) if (host >= r.outside && host < r.outside + r.count) return r.inside + (host - r.outside);
  return OVERFLOW_ID;
}

/**
 * The mapping a rootless engine of `owner` gets (rootlesskit and podman alike, through newuidmap): container 0 is
 * the owner, and 1.. are the owner's subordinate ranges in the order /etc/subuid lists them.
 */
export function rootlessRanges(owner: number, subordinate: readonly { start: number; count: number }[]): IdRange[] {
  const out: IdRange[] = [{ inside: 0, outside: owner, count: 1 }];
  let next = 1;
  for (const s of subordinate) {
    out.push({ inside: next, outside: s.start, count: s.count });
    next += s.count;
  }
  return out;
}
