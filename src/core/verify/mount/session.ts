import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Runner } from './runner.js';
import { MOUNT_DIR_PREFIX, findLeftovers, mountsUnder, readMountInfo, type Leftover, type MountInfoEntry } from './mountinfo.js';
import { buildMountOptions, mountArgv, type LowerDir, type MountOptions } from './options.js';
import { FIND_FORMAT, parseFindOutput, walkTree, type WalkResult } from './walk.js';

/**
 * One run's private workspace and its mounts: `<tmpdir>/layerscope-mnt-<pid>-XXXXXX/` (mode 0700) holding
 * `merged/` (the mount point, one mount at a time), `empty/` (the filler lower of one-layer stacks) and
 * `layers/` (archive layers unpacked in overlay form). Nothing is ever created in the evidence.
 *
 * Cleanup is guaranteed on every path we control: `withMount` unmounts in `finally`; while a mount is live,
 * SIGINT/SIGTERM/SIGHUP handlers unmount, remove the workspace and then re-raise the signal (handlers are removed
 * again as soon as the mount is gone). A SIGKILL cannot be caught: the next run finds the leftover by its name
 * in /proc/self/mountinfo (`sweepLeftovers`) and unmounts it when its pid is dead.
 */

export type MountMode = 'root' | 'userns';

export interface SessionOptions {
  runner: Runner;
  mode: MountMode;
  /** Default os.tmpdir(). */
  tmpDir?: string;
  /** Default: detected (`getconf PAGESIZE`, else 4096). */
  pageSize?: number;
  /** Default: whether /sys/module/overlay/parameters/index exists. */
  indexOff?: boolean;
  /** Read mountinfo (tests fake it). */
  mountInfo?: () => MountInfoEntry[];
  /**
   * Workspace name before mkdtemp's 6 characters. Default `layerscope-mnt-<pid>-` (the mount check's, swept by
   * later runs when its pid is dead); `layerscope mount` uses its own (its mounts outlive the process).
   */
  prefix?: string;
}

export class MountError extends Error {
  constructor(
    message: string,
    readonly argv: string[],
    readonly stderr: string,
    /** The kernel/mount said "permission denied" or "must be superuser": no privilege for overlay. */
    readonly permission: boolean,
  ) {
    super(message);
    this.name = 'MountError';
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The run was interrupted by a signal; the mount was undone and the workspace removed before this is thrown. */
export class InterruptedError extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'InterruptedError';
  }
}

export class MountSession {
  readonly dir: string;
  readonly mountPoint: string;
  private live = false;
  private pageSize: number | null;
  private readonly indexOff: boolean;
  private readonly readInfo: () => MountInfoEntry[];
  private signalHandler: ((sig: NodeJS.Signals) => void) | null = null;
  private closed = false;
  /** Set as soon as a signal asks us to stop (before the async cleanup runs), with the cleanup's promise. */
  private closing: { signal: NodeJS.Signals; cleanup: Promise<void> } | null = null;
  /** The mount command while it runs (a signal may land between the kernel mounting and the command returning). */
  private inflight: Promise<unknown> | null = null;

  private constructor(readonly opts: SessionOptions, dir: string) {
    this.dir = dir;
    this.mountPoint = path.join(dir, 'merged');
    this.pageSize = opts.pageSize ?? null;
    this.indexOff = opts.indexOff ?? fs.existsSync('/sys/module/overlay/parameters/index');
    this.readInfo = opts.mountInfo ?? (() => readMountInfo());
  }

  static create(opts: SessionOptions): MountSession {
    const tmp = opts.tmpDir ?? os.tmpdir();
    // not an output: our private workspace (mkdtemp: a fresh name, never an existing one; 0700; removed after).
    const dir = fs.mkdtempSync(path.join(tmp, opts.prefix ?? `${MOUNT_DIR_PREFIX}${process.pid}-`));
    fs.chmodSync(dir, 0o700);
    fs.mkdirSync(path.join(dir, 'merged'), { mode: 0o700 });
    return new MountSession(opts, dir);
  }

  /** A directory of our own inside the workspace (created on first use). */
  subdir(...parts: string[]): string {
    const p = path.join(this.dir, ...parts);
    // not an output: inside our own workspace.
    fs.mkdirSync(p, { recursive: true, mode: 0o700 });
    return p;
  }

  async getPageSize(): Promise<number> {
    if (this.pageSize !== null) return this.pageSize;
    let n = 4096;
    try {
      const r = await this.opts.runner.run(['getconf', 'PAGESIZE'], { timeoutMs: 10_000 });
      const v = Number(r.stdout.trim());
      if (r.exitCode === 0 && Number.isInteger(v) && v >= 4096) n = v;
    } catch {}
    this.pageSize = n;
    return n;
  }

  /** Mount options for these lowers (nearest first), with the filler lower for a one-layer stack. */
  async options(lowers: LowerDir[], shortCwd: string | null): Promise<MountOptions> {
    const all = lowers.length === 1 ? [...lowers, { dir: this.subdir('empty'), short: null }] : lowers;
    return buildMountOptions({
      lowers: all,
      shortCwd,
      indexOff: this.indexOff,
      pageSize: await this.getPageSize(),
      extra: this.opts.mode === 'userns' ? ['userxattr'] : [],
    });
  }

  /** Mount two empty dirs of ours read-only and unmount: rejects with the MountError when overlay cannot be mounted. */
  async probe(): Promise<void> {
    const lowers = [{ dir: this.subdir('probe', 'a'), short: null }, { dir: this.subdir('probe', 'b'), short: null }];
    if (this.opts.mode === 'userns') {
      await this.mountAndList(await this.options(lowers, null));
      return;
    }
    await this.withMount(await this.options(lowers, null), async () => {});
  }

  /** After a signal: wait until the handler has unmounted and cleaned up, then stop the caller. */
  private async interrupted(): Promise<never> {
    const c = this.closing!;
    await c.cleanup;
    throw new InterruptedError(c.signal);
  }

  /**
   * Mount, list the kernel's view, unmount. In 'root' mode the listing is our own lstat walk of the mount; in
   * 'userns' mode the mount exists only inside `unshare -Urm` and the listing comes back from `find -printf`.
   */
  async mountAndList(mo: MountOptions, walk: { hash?: boolean } = {}): Promise<WalkResult> {
    if (this.closing) return this.interrupted();
    if (this.closed) throw new Error('mount session closed');
    if (this.opts.mode === 'userns') return this.listInUserns(mo);
    return this.withMount(mo, async () => walkTree(this.mountPoint, walk));
  }

  async withMount<T>(mo: MountOptions, fn: (mountPoint: string) => Promise<T>): Promise<T> {
    if (this.live) throw new Error('a mount of this session is already live');
    const argv = mountArgv(mo, this.mountPoint);
    this.installSignalHandlers();
    let mounted = false;
    try {
      const p = this.opts.runner.run(argv, mo.cwd ? { cwd: mo.cwd, timeoutMs: 60_000 } : { timeoutMs: 60_000 });
      this.inflight = p;
      const r = await p.finally(() => {
        this.inflight = null;
      });
      // A signal while the mount command ran: the handler undoes the mount (it waited for the command).
      if (this.closing) return await this.interrupted();
      if (r.exitCode !== 0) {
        // mount(8) may have mounted and then failed (rare); make sure nothing stays.
        if (this.isMounted()) {
          this.live = true;
          mounted = true;
        }
        throw new MountError(`mount failed (exit ${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`, argv, r.stderr, isPermission(r.stderr));
      }
      this.live = true;
      mounted = true;
      const out = await fn(this.mountPoint);
      if (this.closing) return await this.interrupted();
      return out;
    } finally {
      try {
        if (mounted && !this.closing) await this.unmount();
      } finally {
        this.removeSignalHandlers();
      }
    }
  }

  private async listInUserns(mo: MountOptions): Promise<WalkResult> {
    // The mount lives in a private mount namespace and disappears with it: nothing to clean up here.
    const script = 'mount -t overlay -o "$1" overlay "$2" || exit 90; find "$2" -mindepth 1 -printf "$3"; rc=$?; umount "$2"; exit $rc';
    const argv = ['unshare', '-Urm', '--propagation', 'private', 'sh', '-c', script, 'sh', mo.options, this.mountPoint, FIND_FORMAT];
    const r = await this.opts.runner.run(argv, mo.cwd ? { cwd: mo.cwd, timeoutMs: 300_000 } : { timeoutMs: 300_000 });
    if (r.exitCode === 90) throw new MountError(`overlay mount in a user namespace failed: ${r.stderr.trim()}`, argv, r.stderr, true);
    if (r.exitCode !== 0) throw new MountError(`listing the overlay in a user namespace failed (exit ${r.exitCode}): ${r.stderr.trim()}`, argv, r.stderr, isPermission(r.stderr));
    return parseFindOutput(r.stdout);
  }

  private isMounted(): boolean {
    return this.readInfo().some((e) => e.mountPoint === this.mountPoint);
  }

  /** Unmount the live mount (or one the kernel shows at our mount point); retries on EBUSY, then detaches lazily. */
  async unmount(): Promise<void> {
    if (!this.live && !this.isMounted()) return;
    await unmountPoint(this.opts.runner, this.mountPoint, () => this.isMounted());
    this.live = false;
  }

  /** Unmount (if needed) and remove the workspace. Safe to call twice. Never removes anything below a mount. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.unmount();
    this.removeSignalHandlers();
    removeWorkspace(this.dir, this.readInfo());
  }

  private installSignalHandlers(): void {
    if (this.signalHandler) return;
    const handler = (sig: NodeJS.Signals): void => {
      // A second signal while we clean up: the cleanup already runs (our listener stays installed until it is
      // done, so that neither a repeated Ctrl-C nor another library's "last listener" logic kills us mid-way).
      if (this.closing) return;
      const cleanup = (async () => {
        try {
          // A mount command still running may mount after we look: let it finish first.
          await this.inflight?.catch(() => {});
          await this.close();
        } catch (err) {
          process.stderr.write(`layerscope: cleanup after ${sig} failed: ${(err as Error).message}\n`);
        }
      })();
      this.closing = { signal: sig, cleanup };
      // Then let the signal do what it would have done (other listeners, the CLI's, were already called by
      // Node and decide for themselves; the caller gets an InterruptedError).
      void cleanup.then(() => {
        for (const s of SIGNALS) process.removeListener(s, handler);
        if (this.signalHandler === handler) this.signalHandler = null;
        if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
      });
    };
    this.signalHandler = handler;
    for (const s of SIGNALS) process.on(s, handler);
  }

  private removeSignalHandlers(): void {
    if (!this.signalHandler || this.closing) return;
    for (const s of SIGNALS) process.removeListener(s, this.signalHandler);
    this.signalHandler = null;
  }
}

/**
 * Unmount one mount point: `umount` (retried on EBUSY), then `umount -l` (detach lazily: gone from the mount
 * table, released when its last user lets go). Resolves 'unmounted' or 'detached'; throws when it stays.
 */
export async function unmountPoint(runner: Runner, mountPoint: string, isMounted: () => boolean): Promise<'unmounted' | 'detached'> {
  let last = '';
  for (let i = 0; i < 4; i++) {
    const r = await runner.run(['umount', mountPoint], { timeoutMs: 30_000 });
    if (r.exitCode === 0 || !isMounted()) return 'unmounted';
    last = r.stderr.trim();
    await new Promise((res) => setTimeout(res, 100 * (i + 1)));
  }
  const r = await runner.run(['umount', '-l', mountPoint], { timeoutMs: 30_000 });
  if (r.exitCode === 0 || !isMounted()) return 'detached';
  throw new Error(`cannot unmount ${mountPoint}: ${last || r.stderr.trim()}`);
}

export function isPermission(stderr: string): boolean {
  return /permission denied|must be superuser|operation not permitted|only root/i.test(stderr);
}

/** rm -rf of one of our workspaces, refused while anything is mounted below it. */
export function removeWorkspace(dir: string, info: MountInfoEntry[] = readMountInfo()): void {
  const below = mountsUnder(dir, info);
  if (below.length) throw new Error(`not removing ${dir}: ${below.map((m) => m.mountPoint).join(', ')} still mounted`);
  // not an output: removes our own workspace (its mounts undone first).
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface SweepResult extends Leftover {
  /** What we did: left alone (its run is alive), unmounted and removed, or failed. */
  action: 'left-alone' | 'cleaned' | 'failed';
  error?: string;
}

/**
 * Find what killed runs left behind and clean it up when their process is dead. Only our own recognisable
 * dirs are touched; a dir with a mount that cannot be unmounted is left and reported.
 */
export async function sweepLeftovers(runner: Runner, opts: { tmpDir?: string; mountInfo?: () => MountInfoEntry[]; alive?: (pid: number) => boolean; ownDirs?: Set<string>; anywhere?: boolean } = {}): Promise<SweepResult[]> {
  const readInfo = opts.mountInfo ?? (() => readMountInfo());
  const found = findLeftovers({ tmpDir: opts.tmpDir, mountInfo: readInfo(), alive: opts.alive, ownDirs: opts.ownDirs, anywhere: opts.anywhere });
  const out: SweepResult[] = [];
  for (const l of found) {
    if (l.alive) {
      out.push({ ...l, action: 'left-alone' });
      continue;
    }
    try {
      for (const mp of l.mounts) {
        let r = await runner.run(['umount', mp], { timeoutMs: 30_000 });
        if (r.exitCode !== 0 && readInfo().some((e) => e.mountPoint === mp)) r = await runner.run(['umount', '-l', mp], { timeoutMs: 30_000 });
        if (r.exitCode !== 0 && readInfo().some((e) => e.mountPoint === mp)) throw new Error(`umount ${mp}: ${r.stderr.trim()}`);
      }
      removeWorkspace(l.dir, readInfo());
      out.push({ ...l, action: 'cleaned' });
    } catch (err) {
      out.push({ ...l, action: 'failed', error: (err as Error).message });
    }
  }
  return out;
}
