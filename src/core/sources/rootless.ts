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

export function rootlessIdMap(store: string, owner: { uid: number; gid: number }, systemRoot: string | null = null): RootlessIdMap {
  const problems: Problem[] = [];
  const abs = path.resolve(store);
  // Under --image-root the system is the disk: its etc/ or none, never the analyst's own above it.
  const top = systemRoot === null ? null : path.resolve(systemRoot);
  let dir = path.dirname(abs);
  for (let i = 0; i < MAX_UP; i++) {
    const ev = new Evidence(dir);
    const found = etcFile(ev, 'subuid');
    if (found === 'refused') {
      problems.push(problem('error', 'rootless.id-map.refused', `the store is owned by uid ${owner.uid}, a rootless engine's, and this etc/subuid, which would give its id map, is not a regular file of a sane size (a symlink is never followed): owners are shown as stored on the host`, ev.path('etc', 'subuid')));
      return { map: null, problems };
    }
    if (found !== null) return fromEtc(ev, dir, found, owner, store, problems);
    if (top !== null && dir === top) break;
    const up = path.dirname(dir);
    if (up === dir || (top !== null && !up.startsWith(top === '/' ? '/' : top + '/') && up !== top)) break;
    dir = up;
  }
  problems.push(problem('warning', 'rootless.id-map.unknown', `the store is owned by uid ${owner.uid}, a rootless engine's, but no etc/subuid was found above it${top !== null ? ` within ${top}` : ''}: owners are shown as stored on the host, not as its containers see them`, store));
  return { map: null, problems };
}

function fromEtc(ev: Evidence, dir: string, subuid: string, owner: { uid: number; gid: number }, store: string, problems: Problem[]): RootlessIdMap {
  const readable = (name: string) => {
    const f = etcFile(ev, name);
    return f === 'refused' ? null : f;
  };
  const subgid = readable('subgid') ?? '';
  const names = namesOf(readable('passwd'), owner.uid);
  const groups = namesOf(readable('group'), owner.gid);
  const uids = rangesOf(subuid, owner.uid, names);
  const gids = rangesOf(subgid, owner.uid, names).length ? rangesOf(subgid, owner.uid, names) : rangesOf(subgid, owner.gid, groups);
  const where = path.join(dir, 'etc');
  // More ranges than a user namespace can hold (the kernel takes 340 lines): not a map an engine ran with.
  const tooMany = uids.length > MAX_SUBORDINATE ? 'subuid' : gids.length > MAX_SUBORDINATE ? 'subgid' : null;
  if (tooMany) {
    problems.push(problem('warning', 'rootless.id-map.too-many', `${where}/${tooMany} gives uid ${owner.uid} ${tooMany === 'subuid' ? uids.length : gids.length} ranges, more than a user namespace can map (${MAX_SUBORDINATE + 1} lines with the owner's own): not used, owners are shown as stored on the host`, `${where}/${tooMany}`));
    return { map: null, problems };
  }
  if (!uids.length || !gids.length) {
    problems.push(problem('warning', 'rootless.id-map.none', `the store is owned by uid ${owner.uid}${names[0] ? ` (${names[0]})` : ''}, a rootless engine's, but ${where}/sub${uids.length ? 'gid' : 'uid'} gives that user no subordinate ids: owners are shown as stored on the host`, store));
    return { map: null, problems };
  }
  const map = new IdMap(rootlessRanges(owner.uid, uids), rootlessRanges(owner.gid, gids), `${where}/subuid and subgid (${names[0] ?? `uid ${owner.uid}`})`);
  problems.push(problem('info', 'rootless.id-map', `a rootless store (owned by uid ${owner.uid}): owners are shown as its containers see them, mapped by ${map.from}: ${map.describe()}`, store));
  return { map, problems };
}

/** etc/<name> of a system: its text, null when there is none, 'refused' when it is there but no readable file. */
function etcFile(ev: Evidence, name: string): string | null | 'refused' {
  try {
    const st = ev.lstat('etc', name);
    if (st === null) return null;
    if (!st.isFile()) return 'refused';
    const b = ev.readFile(MAX_ETC, 'etc', name);
    return b ? b.toString('utf8') : null;
  } catch {
    return 'refused';
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
