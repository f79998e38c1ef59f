import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { OutputError } from './errors.js';

/**
 * *at() semantics without native code: `/proc/self/fd/<dirfd>/<name>` names `<name>` inside the directory the
 * fd holds open, whatever happens to that directory's path meanwhile (a parent renamed or replaced by a
 * symlink cannot redirect us). Every create, open, link, lchown and lutimes of the output writer goes through
 * such a path, relative to a directory fd opened O_DIRECTORY|O_NOFOLLOW.
 */

const PROC_FD = '/proc/self/fd';
let procChecked: boolean | null = null;

export function requireProcFd(target: string): void {
  if (procChecked === null) {
    try {
      procChecked = fs.statSync(PROC_FD).isDirectory();
    } catch {
      procChecked = false;
    }
  }
  if (!procChecked) throw new OutputError('output.failed', target, `${PROC_FD} is not available (is /proc mounted?): outputs are created relative to directory file descriptors, which needs it`);
}

/** The path of `name` (raw bytes, one component) inside the directory open as `dirFd`. */
export function at(dirFd: number, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${PROC_FD}/${dirFd}/`), name]);
}

export const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
/** A new file: never an existing one, never through a symlink. */
export const O_NEWFILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** A component we create: not empty, not '.' or '..', no '/' or NUL. */
export function checkName(name: Buffer, target: string): void {
  const s = name.toString('latin1');
  if (s === '' || s === '.' || s === '..' || s.includes('/') || s.includes('\0')) {
    throw new OutputError('output.bad-path', target, `refusing to create an entry named ${JSON.stringify(s)}`);
  }
}

function nsText(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${String(a % 1_000_000_000n).padStart(9, '0')}`;
}

/**
 * Put a directory's mtime back to `mtimeNs` exactly, through its fd, leaving its atime alone: adding an entry
 * to a directory that existed before the run moves its mtime, and this undoes that. Node can only set times
 * through a double (libuv then keeps microseconds), so the exact value is set by GNU touch on the fd we hand it
 * as its stdout (`touch -`: futimens(1), UTIME_OMIT for the atime). Without touch, falls back to futimes
 * (microseconds, and the atime given) and says so.
 */
export async function restoreMtime(fd: number, mtimeNs: bigint, atimeNs: bigint): Promise<'exact' | 'approximate'> {
  // Spawned, not spawnSync'ed: node 20 with module hooks (tsx, as the tests run it) aborts now and then in a
  // spawnSync that meets its other threads.
  const status = await new Promise<number | null>((resolve) => {
    const child = spawn('touch', ['-c', '-m', '-d', `@${nsText(mtimeNs)}`, '-'], { stdio: ['ignore', fd, 'ignore'], timeout: 10_000 });
    child.on('error', () => resolve(null));
    child.on('close', (code) => resolve(code));
  });
  if (status === 0 && fs.fstatSync(fd, { bigint: true }).mtimeNs === mtimeNs) return 'exact';
  fs.futimesSync(fd, Number(atimeNs) / 1e9, Number(mtimeNs) / 1e9);
  return 'approximate';
}

/** Seconds (with fraction) for futimes/lutimes from the model's mtime + nanoseconds. */
export function seconds(mtime: number, mtimeNsec: number): number {
  return mtime + mtimeNsec / 1e9;
}
