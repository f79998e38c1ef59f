import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Mount points of the mount check are named recognisably, `<tmpdir>/layerscope-mnt-<pid>-XXXXXX/merged`, so
 * that a later run can find the ones a killed run left behind (in /proc/self/mountinfo), report them, and
 * unmount them when the process that made them is gone.
 */
export const MOUNT_DIR_PREFIX = 'layerscope-mnt-';
const MOUNT_DIR_RE = /(?:^|\/)layerscope-mnt-(\d+)-[A-Za-z0-9]{6}$/;

export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** `major:minor` of the filesystem (the same for every bind mount of it). */
  device?: string;
  /**
   * Mount point, octal escapes decoded, as text (UTF-8, as the paths we compare it with and hand to umount are;
   * bytes that are not UTF-8 read U+FFFD: such a mount point is never one of ours).
   */
  mountPoint: string;
  root: string;
  fsType: string;
  source: string;
  mountOptions: string;
  superOptions: string;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parse the text of /proc/<pid>/mountinfo (proc(5)). Lines that do not parse are skipped. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || sep + 2 >= f.length) continue;
    out.push({
      mountId: Number(f[0]),
      parentId: Number(f[1]),
      device: f[2]!,
      root: unescape(f[3]!),
      mountPoint: unescape(f[4]!),
      mountOptions: f[5]!,
      fsType: f[sep + 1] ?? '',
      source: unescape(f[sep + 2] ?? ''),
      superOptions: f[sep + 3] ?? '',
    });
  }
  return out;
}

export function readMountInfo(file = '/proc/self/mountinfo'): MountInfoEntry[] {
  try {
    // UTF-8: the escapes are ASCII (space, tab, newline, backslash); a non-ASCII mount point (/mnt/évidence) must
    // compare equal to the path the user gave and be handed back to umount as that path.
    return parseMountInfo(fs.readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

/** Mounts at `dir` or below it, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string, entries: MountInfoEntry[] = readMountInfo()): MountInfoEntry[] {
  const d = dir.replace(/\/+$/, '');
  return entries.filter((e) => e.mountPoint === d || e.mountPoint.startsWith(d + '/')).sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}

/** The pid encoded in one of our private dir names, or null when the path is not one of ours. */
export function pidOfMountDir(dir: string): number | null {
  const m = MOUNT_DIR_RE.exec(dir.replace(/\/+$/, ''));
  return m ? Number(m[1]) : null;
}

/** True when a process with this pid exists (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Leftover {
  /** The private dir (`<tmpdir>/layerscope-mnt-<pid>-XXXXXX`). */
  dir: string;
  pid: number;
  /** Whether the run that made it is still alive (then it is not ours to touch). */
  alive: boolean;
  /** Mount points below the dir (deepest first), empty for a dir whose mounts are already gone. */
  mounts: string[];
}

/**
 * Private dirs (with or without a live mount) that earlier runs left, found through /proc/self/mountinfo (any
 * mount point named like ours, unless `anywhere` is false) and a listing of the temp dir. `ownDirs` are this
 * run's live dirs (never reported).
 */
export function findLeftovers(opts: { tmpDir?: string; mountInfo?: MountInfoEntry[]; alive?: (pid: number) => boolean; ownDirs?: Set<string>; anywhere?: boolean } = {}): Leftover[] {
  const tmp = (opts.tmpDir ?? os.tmpdir()).replace(/\/+$/, '');
  const alive = opts.alive ?? ((pid: number) => pid !== process.pid && pidAlive(pid));
  const entries = opts.mountInfo ?? readMountInfo();
  const byDir = new Map<string, Leftover>();
  const consider = (dir: string): Leftover | null => {
    if (opts.ownDirs?.has(dir)) return null;
    // By default mounts of ours are found wherever they are (a run with another TMPDIR); `anywhere: false`
    // keeps to this temp dir.
    if (opts.anywhere === false && path.posix.dirname(dir) !== tmp) return null;
    const pid = pidOfMountDir(dir);
    if (pid === null) return null;
    let l = byDir.get(dir);
    if (!l) {
      l = { dir, pid, alive: alive(pid), mounts: [] };
      byDir.set(dir, l);
    }
    return l;
  };
  for (const e of entries) {
    // A mount point of ours is <dir>/merged (or, in the user-namespace helper, never visible here).
    const dir = path.posix.dirname(e.mountPoint);
    const l = consider(dir);
    if (l && !l.mounts.includes(e.mountPoint)) l.mounts.push(e.mountPoint);
  }
  let names: string[] = [];
  try {
    names = fs.readdirSync(tmp);
  } catch {}
  for (const n of names) if (n.startsWith(MOUNT_DIR_PREFIX)) consider(`${tmp}/${n}`);
  return [...byDir.values()].sort((a, b) => a.dir.localeCompare(b.dir));
}
