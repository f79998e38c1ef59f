import * as fs from 'node:fs';
import type { Source } from '../model/source.js';
import type { Attrs, ContainerInfo, EntryType, Problem } from '../model/types.js';
import type { LayerTable } from '../model/layer-table.js';
import { problem } from '../model/types.js';
import { SourceError } from '../model/errors.js';
import { baseName, displayPath, isWithin, parentPath } from '../model/path.js';
import { HostPaths } from '../sources/walk/host-paths.js';
import type { DockerChange } from './docker-diff.js';
import { modelOf } from './model.js';

/**
 * A container's RW layer as a timeline: every entry the RW dir holds (files, dirs, whiteouts), with the
 * times lstat gives (atime, mtime, ctime, birth time) and the `docker diff` verdict, plus flags on the changes
 * responders look at first. Also the deletions `docker diff` reports that have no entry of their own in the RW
 * dir (lower files hidden by an opaque dir the container made): listed with the opaque dir's times.
 *
 * Evidence is only lstat'ed (never opened, never followed): parents of every path are checked to be real
 * directories first, since a running container can change its RW dir while we read it.
 */

export type TimelineFlag =
  /** A new or changed regular file with the setuid bit. */
  | 'setuid'
  /** A new or changed regular file with the setgid bit. */
  | 'setgid'
  /** A new or changed executable regular file under /tmp, /var/tmp or /dev/shm. */
  | 'tmp-executable'
  /** ~/.ssh/authorized_keys (or authorized_keys2) added, changed or deleted. */
  | 'authorized-keys'
  /** crontab, cron.d, cron.{hourly,...}, /var/spool/cron: added, changed or deleted. */
  | 'cron'
  /** /etc/ld.so.preload added, changed or deleted. */
  | 'ld-preload'
  /** /etc/passwd, shadow, group, gshadow, sudoers(.d): added, changed or deleted. */
  | 'accounts'
  /** A new or changed file carrying security.capability. */
  | 'capability';

export interface Times {
  /** Seconds since the epoch, with fraction. */
  atime: number;
  mtime: number;
  ctime: number;
  /** Birth time; 0 when the filesystem does not record it. */
  crtime: number;
}

export interface TimelineEntry {
  /** Layer path (byte string, no leading '/'). */
  path: string;
  /** What `docker diff` says about this path; null when the RW layer holds it without a change (a copy-up). */
  change: DockerChange['kind'] | null;
  /** The RW dir holds a whiteout here, or the path was hidden by an opaque dir (`hiddenBy`). */
  deleted: boolean;
  /** For deletions without an entry of their own: the opaque dir that hides the path. */
  hiddenBy: string | null;
  type: EntryType | 'whiteout';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  inode: number;
  times: Times | null;
  /** For symlinks. */
  linkname?: string;
  /** For a second name of a file the layer holds once (a hardlink entry): the name whose bytes it shares. */
  hardlinkTo?: string;
  flags: TimelineFlag[];
  /** MD5 of a regular file's bytes, when asked for (`timeline --hash`): the bodyfile's first column. */
  md5?: string;
}

export interface Timeline {
  container: ContainerInfo;
  entries: TimelineEntry[];
  problems: Problem[];
}

const CRON = [/^etc\/crontab$/, /^etc\/anacrontab$/, /^etc\/cron\.(d|hourly|daily|weekly|monthly)\/./, /^var\/spool\/cron(\/|$)/, /^etc\/cron\.(allow|deny)$/];
const ACCOUNTS = [/^etc\/(passwd|shadow|group|gshadow|sudoers)$/, /^etc\/sudoers\.d\/./];
const TMP_DIRS = ['tmp', 'var/tmp', 'dev/shm'];

/**
 * Flags for one entry (pure). `change` is docker diff's verdict; `lower` the attributes below the RW layer.
 * Content flags (setuid, tmp-executable...) need a change (A or C); location flags (authorized_keys, cron...)
 * fire on any A, C or D.
 */
export function flagsFor(path: string, attrs: Attrs | null, change: DockerChange['kind'] | null): TimelineFlag[] {
  const out: TimelineFlag[] = [];
  if (change === null) return out;
  const regular = attrs !== null && (attrs.type === 'file' || attrs.type === 'hardlink');
  if (regular && change !== 'D') {
    if (attrs.mode & 0o4000) out.push('setuid');
    if (attrs.mode & 0o2000) out.push('setgid');
    if (attrs.mode & 0o111 && TMP_DIRS.some((d) => isWithin(path, d) && path !== d)) out.push('tmp-executable');
    if (attrs.xattrs?.['security.capability']) out.push('capability');
  }
  const name = baseName(path);
  if ((name === 'authorized_keys' || name === 'authorized_keys2') && baseName(parentPath(path)) === '.ssh') out.push('authorized-keys');
  if (CRON.some((r) => r.test(path))) out.push('cron');
  if (path === 'etc/ld.so.preload') out.push('ld-preload');
  if (ACCOUNTS.some((r) => r.test(path))) out.push('accounts');
  return out;
}

/**
 * lstat of paths below a dir, given in walk order, refusing symlinked parents: each parent dir is checked once
 * (lstat: a real directory), then each path costs one lstat. Null when a path is gone or a parent is not a
 * directory (a running container can change its RW dir while we read it).
 */
export function statBelow(dir: string): ((path: string) => fs.BigIntStats | null) & { close(): void } {
  const host = new HostPaths(dir);
  const dirs = new Map<string, boolean>([['', true]]);
  const isDir = (rel: string): boolean => {
    // Walk up to the nearest checked ancestor, then check downwards: each dir is lstat'ed once.
    const todo: string[] = [];
    let r = rel;
    while (!dirs.has(r)) {
      todo.push(r);
      r = parentPath(r);
    }
    let ok = dirs.get(r)!;
    for (let i = todo.length - 1; i >= 0; i--) {
      if (ok) {
        try {
          ok = fs.lstatSync(host.host(todo[i]!)).isDirectory();
        } catch {
          ok = false;
        }
      }
      dirs.set(todo[i]!, ok);
    }
    return ok;
  };
  const stat = (path: string): fs.BigIntStats | null => {
    if (!isDir(parentPath(path))) return null;
    try {
      return fs.lstatSync(host.host(path), { bigint: true, throwIfNoEntry: false }) ?? null;
    } catch {
      return null;
    }
  };
  return Object.assign(stat, { close: () => host.close() });
}

const secs = (ns: bigint) => Number(ns / 1000n) / 1e6;

function timesOf(st: fs.BigIntStats): Times {
  return { atime: secs(st.atimeNs), mtime: secs(st.mtimeNs), ctime: secs(st.ctimeNs), crtime: st.birthtimeNs > 0n ? secs(st.birthtimeNs) : 0 };
}

/** Build the timeline of a container's RW layer, classified against the image and init layers below it. */
export async function containerTimeline(source: Source, container: ContainerInfo): Promise<Timeline> {
  if (!container.rwDir) throw new SourceError('container.no-rw-dir', `container ${container.name} has no RW layer directory in this source`, null);
  const c = await modelOf(source).container(container);
  const view = c.view;
  const lowerAttrs = (p: string): Attrs | null => {
    const id = view.lookup(p);
    const v = id < 0 ? -1 : view.versionAt(id, view.top - 1);
    return v < 0 ? null : view.store.attrs(v);
  };
  const stat = statBelow(container.rwDir);
  try {
    return buildTimeline(container, c.rw, c.changes, lowerAttrs, stat, [...c.problems]);
  } finally {
    stat.close();
  }
}

/** The assembly, with the I/O injected (tests give their own stat). */
export function buildTimeline(
  container: ContainerInfo,
  rw: LayerTable,
  changes: readonly DockerChange[],
  lowerAttrs: (path: string) => Attrs | null,
  stat: (path: string) => fs.BigIntStats | null,
  problems: Problem[] = [],
): Timeline {
  const verdict = new Map<string, DockerChange['kind']>();
  for (const c of changes) verdict.set(c.path.slice(1), c.kind);
  const entries: TimelineEntry[] = [];
  const seen = new Set<string>();
  const opaqueDirs = new Set<string>();
  for (const e of rw.each()) {
    seen.add(e.path);
    const st = stat(e.path);
    if (!st) problems.push(problem('warning', 'timeline.gone', 'listed in the RW layer, gone when lstat\'ed (container running?)', `${container.rwDir}/${displayPath(e.path)}`));
    const change = verdict.get(e.path) ?? null;
    if (e.kind === 'whiteout') {
      const was = lowerAttrs(e.path);
      entries.push({
        path: e.path,
        change,
        deleted: true,
        hiddenBy: null,
        type: 'whiteout',
        mode: was?.mode ?? 0,
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        size: 0,
        inode: st ? Number(st.ino) : 0,
        times: st ? timesOf(st) : null,
        flags: flagsFor(e.path, was, change),
      });
      continue;
    }
    if (e.opaque) opaqueDirs.add(e.path);
    const a = e.attrs;
    const t: TimelineEntry = {
      path: e.path,
      change,
      deleted: false,
      hiddenBy: null,
      type: a.type,
      mode: a.mode,
      uid: a.uid,
      gid: a.gid,
      size: a.size,
      inode: st ? Number(st.ino) : 0,
      times: st ? timesOf(st) : null,
      flags: flagsFor(e.path, a, change),
    };
    if (a.linkname !== undefined && a.type === 'symlink') t.linkname = a.linkname;
    if (a.linkname !== undefined && a.type === 'hardlink') t.hardlinkTo = a.linkname;
    entries.push(t);
  }
  // Deletions docker diff reports without an RW entry of their own: lower children of an opaque dir.
  for (const [p, kind] of verdict) {
    if (seen.has(p) || kind !== 'D') continue;
    // The nearest opaque ancestor.
    let dir: string | null = null;
    for (let q = parentPath(p); dir === null; q = parentPath(q)) {
      if (opaqueDirs.has(q)) dir = q;
      if (q === '') break;
    }
    const was = lowerAttrs(p);
    const st = dir !== null ? stat(dir) : null;
    entries.push({
      path: p,
      change: 'D',
      deleted: true,
      hiddenBy: dir,
      type: 'whiteout',
      mode: was?.mode ?? 0,
      uid: was?.uid ?? 0,
      gid: was?.gid ?? 0,
      size: 0,
      inode: 0,
      times: st ? timesOf(st) : null,
      flags: flagsFor(p, was, 'D'),
    });
  }
  return { container, entries, problems };
}
