import * as path from 'node:path';
import { IdMap, rootlessRanges } from '../model/idmap.js';
import { problem, type Problem } from '../model/types.js';
import { Evidence } from './evidence.js';

/**
 * The id mapping of a rootless store (a Docker data root or a containers-storage root owned by a user): the
 * engine ran in a user namespace made by newuidmap from the owner's /etc/subuid and /etc/subgid ranges, so its
 * files are owned by host ids. The mapping is read from the system the store belongs to: the nearest ancestor
 * of the store holding etc/subuid (the live host's / for ~/.local/share/docker, the disk's root for a store
 * under a mounted disk). Those files are read as evidence (no symlink followed, bounded).
 */

const MAX_ETC = 4 << 20;
/** Ancestors looked at: a store sits a handful of dirs below its system's root. */
const MAX_UP = 12;
/** The kernel's bound on uid_map/gid_map lines (340), less the owner's own range. */
const MAX_SUBORDINATE = 339;

export interface RootlessIdMap {
  map: IdMap | null;
  problems: Problem[];
}

export function rootlessIdMap(store: string, owner: { uid: number; gid: number }): RootlessIdMap {
  const problems: Problem[] = [];
  const abs = path.resolve(store);
  let dir = path.dirname(abs);
  for (let i = 0; i < MAX_UP; i++) {
    const ev = new Evidence(dir);
    const subuid = readEtc(ev, 'subuid');
    if (subuid !== null) {
      const subgid = readEtc(ev, 'subgid') ?? '';
      const names = namesOf(readEtc(ev, 'passwd'), owner.uid);
      const groups = namesOf(readEtc(ev, 'group'), owner.gid);
      const uids = rangesOf(subuid, owner.uid, names);
      const gids = rangesOf(subgid, owner.uid, names).length ? rangesOf(subgid, owner.uid, names) : rangesOf(subgid, owner.gid, groups);
      const where = path.join(dir, 'etc');
      if (!uids.length || !gids.length) {
        problems.push(
          problem('warning', 'rootless.id-map.none', `the store is owned by uid ${owner.uid}${names[0] ? ` (${names[0]})` : ''}, a rootless engine's, but ${where}/sub${uids.length ? 'gid' : 'uid'} gives that user no subordinate ids: owners are shown as stored on the host`, store),
        );
        return { map: null, problems };
      }
      // newuidmap writes the ranges into uid_map, which takes at most 340 (the owner's own and 339 subordinate):
      // with more the engine could not have started, and every owner shown would cost a scan of them all.
      if (uids.length > MAX_SUBORDINATE || gids.length > MAX_SUBORDINATE) {
        const which = uids.length > MAX_SUBORDINATE ? 'subuid' : 'subgid';
        problems.push(problem('warning', 'rootless.id-map.too-many', `gives uid ${owner.uid}${names[0] ? ` (${names[0]})` : ''} ${Math.max(uids.length, gids.length)} subordinate ranges; a user namespace takes at most ${MAX_SUBORDINATE + 1} (with the owner's own), so no engine ran with them: owners are shown as stored on the host`, `${where}/${which}`));
        return { map: null, problems };
      }
      const map = new IdMap(rootlessRanges(owner.uid, uids), rootlessRanges(owner.gid, gids), `${where}/subuid and subgid (${names[0] ?? `uid ${owner.uid}`})`);
      problems.push(problem('info', 'rootless.id-map', `a rootless store (owned by uid ${owner.uid}): owners are shown as its containers see them, mapped by ${map.from}: ${map.describe()}`, store));
      return { map, problems };
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  problems.push(problem('warning', 'rootless.id-map.unknown', `the store is owned by uid ${owner.uid}, a rootless engine's, but no etc/subuid was found above it: owners are shown as stored on the host, not as its containers see them`, store));
  return { map: null, problems };
}

function readEtc(ev: Evidence, name: string): string | null {
  try {
    const b = ev.readFile(MAX_ETC, 'etc', name);
    return b ? b.toString('utf8') : null;
  } catch {
    return null;
  }
}

/** Names of the entries of a passwd/group file whose id (third field) is `id`. */
function namesOf(text: string | null, id: number): string[] {
  const out: string[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[2] === String(id) && f[0]) out.push(f[0]);
  }
  return out;
}

/** A user's ranges in a subuid/subgid file (`name-or-id:start:count`), in file order. */
function rangesOf(text: string, id: number, names: string[]): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length !== 3 || !/^\d{1,10}$/.test(f[1]!) || !/^\d{1,10}$/.test(f[2]!)) continue;
    if (f[0] !== String(id) && !names.includes(f[0]!)) continue;
    const start = Number(f[1]);
    const count = Number(f[2]);
    if (count > 0 && start + count <= 2 ** 32) out.push({ start, count });
  }
  return out;
}
