import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { storeOf, type Source } from '../../model/source.js';
import type { Problem } from '../../model/types.js';
import { LayerscopeError } from '../../model/errors.js';
import { contentReader } from '../../export/content.js';
import { OutputError, evidenceLocations, refuseExisting, refuseOverlap, resolveOutput } from '../../output/index.js';
import { execaRunner, type Runner } from './runner.js';
import { InterruptedError, MountSession, isPermission, removeWorkspace, unmountPoint } from './session.js';
import { mountsUnder, pidAlive, readMountInfo, type MountInfoEntry } from './mountinfo.js';
import { mountArgv } from './options.js';
import { stackViewOf, stackedLayers, type StackSpec } from './stacks.js';
import { newUnpackCache, stackLowers } from './lowers.js';
import { planBinds, type BindPlan, type BindSkip } from './binds.js';
import { MountState, STATE_DIR, type StateRecord } from './state.js';

/**
 * `layerscope mount`: a stack (a container, or an image at a layer) mounted read-only at a directory the user
 * names, left in place after the process exits; `layerscope umount` undoes it.
 *
 * The mount is the mount check's (options.ts: lowerdir only, no upper or work dir, `ro,nosuid,nodev,noexec`,
 * `index=off`, short `l/` names past a page; lowers.ts: how layers reach the kernel), with two differences:
 * - its source string in /proc/self/mountinfo is `layerscope-<id>` (`<id>` = `<pid>-<6 chars>`), which is
 *   how `umount` and `umount --all` recognise our mounts from the mount table alone;
 * - what must outlive the process lives in a workspace `<tmpdir>/layerscope-mount-<id>/` (the filler lower of a
 *   one-layer stack, archive layers unpacked with their bytes, staging points for binds), named by a state
 *   record in a root-only directory (/run/layerscope/mounts/<id>.json, state.ts) together with the mount points
 *   and the directories the run created. Without the record, `umount --all` still finds the workspace by name.
 *
 * Nothing is half-done: until the last step succeeds, any failure, a kernel refusal or a signal (SIGINT,
 * SIGTERM, SIGHUP) undoes every mount made so far (binds first), removes the directories and the workspace the
 * run created and deletes the record. A SIGKILL cannot be caught: what it leaves is found by `umount --all`.
 *
 * Volumes and binds (`volumes: true`, binds.ts) are bind-mounted read-only without ever being writable where a
 * user can see them: bound first onto a staging point in the 0700 workspace, remounted
 * `ro,nosuid,nodev,noexec` there, then bound from there to their destination (a bind of a read-only mount is
 * read-only) and the staging mount removed. Each step is checked against the inode that was lstat'ed.
 */

export const MOUNT_FSNAME_PREFIX = 'layerscope-';
export const MOUNT_WORKSPACE_PREFIX = 'layerscope-mount-';
const ID_RE = /^(\d+)-([A-Za-z0-9]{6})$/;
const FSNAME_RE = /^layerscope-(\d+-[A-Za-z0-9]{6})$/;

export class MountCommandError extends LayerscopeError {
  override name = 'MountCommandError';
}

export interface MountTarget {
  spec: StackSpec;
  /** The mount point as the user named it (created when missing; must be empty). */
  at: string;
}

export interface PersistentMountOptions {
  runner?: Runner;
  /** Also bind-mount the container's volumes and binds (from the evidence), read-only. */
  volumes?: boolean;
  /** Where the original host's / is (binds from anywhere on the host map below it). */
  hostRoot?: string | null;
  tmpDir?: string;
  stateDir?: string;
  pageSize?: number;
  indexOff?: boolean;
  isRoot?: boolean;
  mountInfo?: () => MountInfoEntry[];
  /** Called before each stack (progress). */
  onStack?: (spec: StackSpec, done: number, total: number) => void;
}

export interface MountedBind {
  destination: string;
  source: string;
  kind: 'volume' | 'bind';
  name: string | null;
  mountPoint: string;
}

export interface MountedStack {
  mountPoint: string;
  kind: 'image' | 'container';
  label: string;
  imageId: string | null;
  /** Image stacks: the top layer's index. */
  layer: number | null;
  containerId: string | null;
  containerName: string | null;
  /** The mount's source in the mount table. */
  fsname: string;
  options: string;
  form: 'absolute' | 'short';
  /** The directory short names are relative to (short form). */
  cwd: string | null;
  /** Nearest first, as the kernel stacks them. */
  lowerdirs: { dir: string; role: 'image' | 'init' | 'rw' | 'filler'; index: number | null }[];
  origin: 'data-root' | 'directories' | 'unpacked';
  binds: MountedBind[];
  skipped: BindSkip[];
  notes: string[];
}

export interface MountResult {
  id: string;
  workspace: string;
  stateFile: string | null;
  mounts: MountedStack[];
  createdDirs: string[];
  problems: Problem[];
}

/** The id of a mount of ours from its mount-table entry, or null. */
export function idOfMount(e: MountInfoEntry): string | null {
  if (e.fsType !== 'overlay') return null;
  const m = FSNAME_RE.exec(e.source);
  return m ? m[1]! : null;
}

/** Every mount of ours in the mount table. */
export function ourMounts(info: MountInfoEntry[] = readMountInfo()): (MountInfoEntry & { id: string })[] {
  return info.flatMap((e) => {
    const id = idOfMount(e);
    return id ? [{ ...e, id }] : [];
  });
}

/**
 * Check a mount point before anything is created: resolved as the kernel would (resolve.ts), not in and not
 * holding the evidence, not a symlink, a directory or missing (then created), empty, and not a mount point.
 */
export function checkMountPoint(given: string, evidence: string[], info: MountInfoEntry[], stateDir: string = STATE_DIR): { real: string; missing: string[]; anchor: string } {
  const r = resolveOutput(given, 'dir');
  refuseOverlap(r, evidence, { mounts: info });
  // Our own records (and where they live) are no mount point: a mount there would hide them from umount --all.
  const state = path.resolve(stateDir);
  if (r.resolved === state || r.resolved.startsWith(state + '/') || state.startsWith(r.resolved + '/')) {
    throw new OutputError('output.evidence', given, `it is (or holds) layerscope's own mount records (${state}); choose another directory`);
  }
  refuseExisting(r);
  if (r.existing) {
    const names = fs.readdirSync(r.anchor);
    if (names.length) throw new OutputError('output.exists', given, `it is not empty (${names.length} entr${names.length === 1 ? 'y' : 'ies'}); a mount point must be an empty directory, so that nothing is hidden by the mount`);
    if (info.some((e) => e.mountPoint === r.anchor)) throw new OutputError('output.exists', given, 'it is a mount point already; unmount it first (layerscope umount DIR)');
  }
  return { real: r.resolved, missing: r.missing, anchor: r.anchor };
}

/**
 * Mount every target (checked first, all of them, before anything is made). Resolves when all are mounted and
 * recorded; otherwise everything made is undone and the error rethrown (InterruptedError after a signal).
 */
export async function mountStacks(source: Source, targets: MountTarget[], opts: PersistentMountOptions = {}): Promise<MountResult> {
  const runner = opts.runner ?? execaRunner;
  const readInfo = opts.mountInfo ?? (() => readMountInfo());
  if (!(opts.isRoot ?? process.getuid?.() === 0)) {
    throw new MountCommandError(
      'mount.not-root',
      'layerscope mount needs root: it makes a real overlay mount (CAP_SYS_ADMIN in the initial user namespace) that stays after the command ends, and reads data roots that only root can read. Run it with sudo. (verify mounts without root, inside a user namespace that dies with it.)',
      null,
    );
  }
  const evidence = evidenceLocations(source.location);
  const tmpDir = opts.tmpDir ?? os.tmpdir();
  const info = readInfo();
  // Archive layers are unpacked in the temp dir: never beside (or inside) the evidence.
  // (A workspace is a new dir in it: the temp dir may hold the evidence, the workspace may not be inside it.)
  refuseOverlap(resolveOutput(path.join(tmpDir, `${MOUNT_WORKSPACE_PREFIX}${process.pid}-XXXXXX`), 'dir'), evidence, { mounts: info });
  const stateDir = opts.stateDir ?? STATE_DIR;
  const points = targets.map((t) => ({ target: t, ...checkMountPoint(t.at, evidence, info, stateDir) }));
  const seen = new Set<string>();
  for (const p of points) {
    if (seen.has(p.real)) throw new OutputError('output.exists', p.target.at, 'named twice');
    seen.add(p.real);
  }
  const guard = new SignalGuard();
  const session = MountSession.create({ runner, mode: 'root', tmpDir, pageSize: opts.pageSize, indexOff: opts.indexOff, mountInfo: readInfo, prefix: `${MOUNT_WORKSPACE_PREFIX}${process.pid}-` });
  const id = path.basename(session.dir).slice(MOUNT_WORKSPACE_PREFIX.length);
  const fsname = `${MOUNT_FSNAME_PREFIX}${id}`;
  const state = new MountState(stateDir);
  const record: StateRecord = { schema: 'layerscope.mount-state/v1', id, pid: process.pid, status: 'mounting', workspace: session.dir, source: source.location, mountPoints: [], createdDirs: [], created: new Date().toISOString() };
  const result: MountResult = { id, workspace: session.dir, stateFile: null, mounts: [], createdDirs: record.createdDirs, problems: [] };
  try {
    result.stateFile = state.write(record);
    guard.check();
    for (const p of points) createMissing(p.anchor, p.missing, record.createdDirs);
    state.write(record);
    const cache = newUnpackCache();
    let done = 0;
    for (const p of points) {
      guard.check();
      opts.onStack?.(p.target.spec, done++, points.length);
      const m = await mountOne(source, p.target.spec, p.real, session, cache, fsname, runner, guard);
      record.mountPoints.push(p.real);
      state.write(record);
      result.mounts.push(m);
      if (opts.volumes && p.target.spec.container) {
        const plan = planBinds(source, p.target.spec.container, opts.hostRoot ?? null);
        result.problems.push(...plan.problems);
        m.skipped.push(...plan.skipped);
        for (const b of plan.binds) {
          guard.check();
          const r = await bindOne(b, p.real, session, runner, readInfo);
          if (typeof r === 'string') m.skipped.push({ destination: b.destination, reason: r });
          else m.binds.push(r);
        }
      }
    }
    guard.check();
    record.status = 'mounted';
    state.write(record);
    return result;
  } catch (err) {
    const undo = await rollback(runner, readInfo, session, record, state).catch((e: Error) => e.message);
    if (typeof undo === 'string') (err as Error).message += `; undoing what was made failed: ${undo} (layerscope umount --all cleans up)`;
    throw guard.signal ? new InterruptedError(guard.signal) : err;
  } finally {
    guard.remove();
  }
}

function createMissing(anchor: string, missing: string[], created: string[]): void {
  let cur = anchor;
  for (const m of missing) {
    cur = path.posix.join(cur, m);
    // `mount --all DIR`: DIR is missing for every target; made once.
    if (created.includes(cur)) continue;
    // not an output: the user's mount point (checked above by checkMountPoint: resolveOutput, refuseOverlap); a
    // plain mkdir, never through a symlink (it did not exist).
    try {
      fs.mkdirSync(cur, { mode: 0o755 });
    } catch (err) {
      throw new OutputError('output.failed', cur, `cannot create the mount point: ${(err as Error).message}`);
    }
    created.push(cur);
  }
}

async function mountOne(source: Source, spec: StackSpec, at: string, session: MountSession, cache: ReturnType<typeof newUnpackCache>, fsname: string, runner: Runner, guard: SignalGuard): Promise<MountedStack> {
  const stack = await stackViewOf(source, spec);
  guard.check();
  const image = spec.image;
  // Archives are laid out in the workspace with their files' bytes (a mount is for reading them).
  const storeKind = storeOf(source, image ?? spec.container).kind;
  const reader = storeKind === 'docker-root' || storeKind === 'containerd-root' || !image ? null : contentReader(source, image);
  let sl;
  try {
    sl = await stackLowers(source, spec, stack.tables, session, cache, reader && image ? (index) => ({ reader, image, layer: index }) : undefined);
  } catch (err) {
    throw new MountCommandError('mount.layers', `${spec.label}: ${(err as Error).message}`, null);
  }
  if (sl.origin === 'unpacked' && !reader) {
    throw new MountCommandError('mount.no-content', `${spec.label}: this ${source.kind} source (${source.location}) cannot be read again for the files' bytes (stdin, docker:REF or an archive compressed as a whole): save it to a file first`, null);
  }
  guard.check();
  const mo = await session.options(sl.lowers, sl.shortCwd);
  const argv = mountArgv(mo, at, fsname);
  const r = await runner.run(argv, mo.cwd ? { cwd: mo.cwd, timeoutMs: 60_000 } : { timeoutMs: 60_000 });
  if (r.exitCode !== 0) {
    const why = r.stderr.trim() || r.stdout.trim() || `exit ${r.exitCode}`;
    throw new MountCommandError(isPermission(r.stderr) ? 'mount.permission' : 'mount.refused', `the kernel refused to mount ${spec.label} at ${at}: ${why}`, at);
  }
  const refs = stackedLayers(spec);
  const lowerdirs: MountedStack['lowerdirs'] = sl.lowers.map((l, i) => ({ dir: l.dir, role: refs[i]?.role ?? 'filler', index: refs[i]?.index ?? null }));
  if (sl.lowers.length === 1) lowerdirs.push({ dir: session.subdir('empty'), role: 'filler', index: null });
  return {
    mountPoint: at,
    kind: spec.kind,
    label: spec.label,
    imageId: image?.id ?? null,
    layer: spec.top,
    containerId: spec.container?.id ?? null,
    containerName: spec.container?.name ?? null,
    fsname,
    options: mo.options,
    form: mo.form,
    cwd: mo.cwd,
    lowerdirs,
    origin: sl.origin,
    binds: [],
    skipped: [],
    notes: sl.notes,
  };
}

/**
 * The mount point of a bind below the stack's mount point: every component lstat'ed inside our read-only
 * overlay, never a symlink (a container's /data may be a symlink to /etc, or `../../..`); it must exist (the
 * overlay cannot create it) and be of the source's type.
 */
function bindTarget(at: string, destination: string, isDir: boolean): { path: string; dev: number; ino: number } {
  let cur = at;
  let checked: fs.Stats | null = null;
  const comps = destination.split('/').filter(Boolean);
  for (let i = 0; i < comps.length; i++) {
    cur += '/' + comps[i];
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch {
      throw new Error(`${destination} does not exist in the container's tree: the read-only overlay cannot create a mount point (the engine creates it when the container starts)`);
    }
    if (st.isSymbolicLink()) throw new Error(`${path.posix.join('/', ...comps.slice(0, i + 1))} is a symlink in the container's tree; not followed`);
    const last = i === comps.length - 1;
    if (!last && !st.isDirectory()) throw new Error(`${path.posix.join('/', ...comps.slice(0, i + 1))} is not a directory in the container's tree`);
    if (last && (isDir ? !st.isDirectory() : !st.isFile())) throw new Error(`${destination} in the container's tree is not a ${isDir ? 'directory' : 'regular file'} like its source`);
    checked = st;
  }
  if (!checked) throw new Error(`${destination}: a bind over the container's / is not made`);
  return { path: cur, dev: checked.dev, ino: checked.ino };
}

/**
 * The checked destination, opened without following a symlink at its end, and confirmed to be the inode that was
 * checked, on the overlay's file system. The bind is then made onto `/proc/<pid>/fd/<fd>` with mount's
 * --no-canonicalize: the kernel binds onto the opened dentry itself, so a path that changes between the check and
 * the mount (a live container swapping a dir of its RW layer for a symlink to /etc) cannot redirect it.
 */
function openTarget(at: string, t: { path: string; dev: number; ino: number }, isDir: boolean): number {
  const overlayDev = fs.statSync(at).dev;
  const fd = fs.openSync(t.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | (isDir ? fs.constants.O_DIRECTORY : 0));
  const st = fs.fstatSync(fd);
  if (st.dev !== t.dev || st.ino !== t.ino || st.dev !== overlayDev) {
    fs.closeSync(fd);
    throw new Error(`the mount point changed while it was checked (now another inode${st.dev !== overlayDev ? ', outside the mounted tree' : ''}); not bound`);
  }
  return fd;
}

/** One bind, read-only from the start where anyone can see it. Returns why it was skipped, as a string. */
async function bindOne(b: BindPlan, at: string, session: MountSession, runner: Runner, readInfo: () => MountInfoEntry[]): Promise<MountedBind | string> {
  let target: { path: string; dev: number; ino: number };
  try {
    target = bindTarget(at, b.destination, b.isDir);
  } catch (err) {
    return (err as Error).message;
  }
  const dest = target.path;
  const stageDir = session.subdir('binds');
  // not an output: staging points in our own workspace (the temp dir, never beside the evidence).
  const stage = fs.mkdtempSync(path.join(stageDir, 'b'));
  const point = b.isDir ? stage : path.join(stage, 'f');
  if (!b.isDir) fs.closeSync(fs.openSync(point, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600));
  const run = async (argv: string[], what: string): Promise<void> => {
    const r = await runner.run(argv, { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new MountCommandError('mount.bind', `${what} for ${b.destination}: ${r.stderr.trim() || `exit ${r.exitCode}`}`, b.source);
  };
  const mounted = (p: string) => readInfo().some((e) => e.mountPoint === p);
  await run(['mount', '--bind', b.source, point], `bind ${b.source}`);
  try {
    await run(['mount', '-o', 'remount,bind,ro,nosuid,nodev,noexec', point], 'read-only remount');
    // Out of the evidence mount's peer group: nothing mounted later below the evidence shows up here, or back.
    await run(['mount', '--make-private', point], 'private propagation');
    const st = fs.statSync(point);
    if (st.dev !== b.dev || st.ino !== b.ino) throw new MountCommandError('mount.bind', `bind ${b.source} for ${b.destination} shows another inode than the one checked (the evidence changed, or a symlink was followed); undone`, b.source);
    let fd: number;
    try {
      fd = openTarget(at, target, b.isDir);
    } catch (err) {
      return (err as Error).message;
    }
    const before = new Set(readInfo().map((e) => e.mountId));
    try {
      await run(['mount', '--no-canonicalize', '--bind', point, `/proc/${process.pid}/fd/${fd}`], `bind to ${dest}`);
    } finally {
      fs.closeSync(fd);
    }
    // Whatever this bind made, wherever it landed: exactly one new mount, at dest, read-only; else all undone.
    const made = readInfo().filter((e) => !before.has(e.mountId));
    const top = made.find((e) => e.mountPoint === dest);
    if (made.length !== 1 || !top || !/(^|,)ro(,|$)/.test(top.mountOptions)) {
      for (const e of made.reverse()) await unmountPoint(runner, e.mountPoint, () => readInfo().some((x) => x.mountId === e.mountId));
      throw new MountCommandError('mount.bind', `the bind for ${b.destination} did not land at ${dest} read-only (${made.map((e) => e.mountPoint).join(', ') || 'nowhere'}); undone`, dest);
    }
  } finally {
    if (mounted(point)) await unmountPoint(runner, point, () => mounted(point));
  }
  return { destination: b.destination, source: b.source, kind: b.kind, name: b.name, mountPoint: dest };
}

/** Undo a mount run that did not finish: its mounts (deepest first), the dirs it created, its workspace, its record. */
async function rollback(runner: Runner, readInfo: () => MountInfoEntry[], session: MountSession, record: StateRecord, state: MountState): Promise<void> {
  const fsname = `${MOUNT_FSNAME_PREFIX}${record.id}`;
  const tops = readInfo().filter((e) => e.source === fsname && e.fsType === 'overlay').map((e) => e.mountPoint);
  for (const mp of [...new Set([...tops, ...record.mountPoints])]) await unmountTree(runner, mp, readInfo);
  await unmountTree(runner, session.dir, readInfo, true);
  removeWorkspace(session.dir, readInfo());
  removeCreatedDirs(record.createdDirs, readInfo());
  state.remove(record.id);
}

/** Unmount everything at or below `dir`, deepest first (`below`: only what is strictly below). */
async function unmountTree(runner: Runner, dir: string, readInfo: () => MountInfoEntry[], below = false): Promise<{ mountPoint: string; how: 'unmounted' | 'detached' }[]> {
  const out: { mountPoint: string; how: 'unmounted' | 'detached' }[] = [];
  for (;;) {
    const m = mountsUnder(dir, readInfo()).filter((e) => !below || e.mountPoint !== dir.replace(/\/+$/, ''))[0];
    if (!m) return out;
    const how = await unmountPoint(runner, m.mountPoint, () => readInfo().some((e) => e.mountPoint === m.mountPoint && e.mountId === m.mountId));
    out.push({ mountPoint: m.mountPoint, how });
  }
}

/** rmdir (never recursive) of the dirs a run created, deepest first; what is not empty or is a mount point stays. */
function removeCreatedDirs(dirs: string[], info: MountInfoEntry[]): string[] {
  const removed: string[] = [];
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    if (info.some((e) => e.mountPoint === d)) continue;
    try {
      const st = fs.lstatSync(d);
      if (!st.isDirectory()) continue;
      // not an output: a dir this tool created for a mount point (never recursive: what is not empty stays).
      fs.rmdirSync(d);
      removed.push(d);
    } catch {
      /* gone already, or not empty: left as it is */
    }
  }
  return removed;
}

export interface UnmountResult {
  unmounted: { mountPoint: string; how: 'unmounted' | 'detached' }[];
  /** Workspaces, created dirs and state records removed. */
  removed: string[];
  /** What was left, and why (a run still in progress, a mount that would not go). */
  left: { what: string; reason: string }[];
}

export interface UnmountOptions {
  runner?: Runner;
  tmpDir?: string;
  stateDir?: string;
  mountInfo?: () => MountInfoEntry[];
  isRoot?: boolean;
  alive?: (pid: number) => boolean;
}

function requireRoot(opts: UnmountOptions): void {
  if (!(opts.isRoot ?? process.getuid?.() === 0)) throw new MountCommandError('mount.not-root', 'layerscope umount needs root (unmounting is a privileged operation): run it with sudo', null);
}

/** `umount DIR`: every mount of ours at or below DIR, everything below each of them, then what each run left. */
export async function unmountAt(dir: string, opts: UnmountOptions = {}): Promise<UnmountResult> {
  requireRoot(opts);
  const runner = opts.runner ?? execaRunner;
  const readInfo = opts.mountInfo ?? (() => readMountInfo());
  let real: string;
  try {
    real = fs.realpathSync.native(dir);
  } catch (err) {
    throw new MountCommandError('mount.not-mounted', `${dir}: ${(err as Error).message}`, dir);
  }
  const mine = ourMounts(readInfo()).filter((e) => e.mountPoint === real || e.mountPoint.startsWith(real === '/' ? '/' : real + '/'));
  if (!mine.length) throw new MountCommandError('mount.not-mounted', `nothing that layerscope mounted is at or below ${dir}`, dir);
  const res: UnmountResult = { unmounted: [], removed: [], left: [] };
  for (const m of mine.sort((a, b) => b.mountPoint.length - a.mountPoint.length)) res.unmounted.push(...(await unmountTree(runner, m.mountPoint, readInfo)));
  const state = new MountState(opts.stateDir ?? STATE_DIR);
  for (const id of new Set(mine.map((m) => m.id))) await finishId(id, runner, readInfo, state, opts.tmpDir ?? os.tmpdir(), res, () => false, mine.filter((m) => m.id === id).map((m) => m.mountPoint));
  return res;
}

/**
 * `umount --all`: every mount of ours in the mount table (with everything below it), then every run's leftovers:
 * state records, and workspaces in the temp dir found by name (a run killed before its record was written, or
 * a record that is gone). A run still in progress (its pid alive, nothing mounted yet) is left alone.
 */
export async function unmountAll(opts: UnmountOptions = {}): Promise<UnmountResult> {
  requireRoot(opts);
  const runner = opts.runner ?? execaRunner;
  const readInfo = opts.mountInfo ?? (() => readMountInfo());
  const alive = opts.alive ?? ((pid: number) => pid !== process.pid && pidAlive(pid));
  const tmpDir = opts.tmpDir ?? os.tmpdir();
  const res: UnmountResult = { unmounted: [], removed: [], left: [] };
  const mine = ourMounts(readInfo()).sort((a, b) => b.mountPoint.length - a.mountPoint.length);
  for (const m of mine) {
    try {
      res.unmounted.push(...(await unmountTree(runner, m.mountPoint, readInfo)));
    } catch (err) {
      res.left.push({ what: m.mountPoint, reason: (err as Error).message });
    }
  }
  const state = new MountState(opts.stateDir ?? STATE_DIR);
  const ids = new Set<string>(mine.map((m) => m.id));
  for (const id of state.ids()) ids.add(id);
  for (const n of safeReaddir(tmpDir)) if (n.startsWith(MOUNT_WORKSPACE_PREFIX) && ID_RE.test(n.slice(MOUNT_WORKSPACE_PREFIX.length))) ids.add(n.slice(MOUNT_WORKSPACE_PREFIX.length));
  const hadMount = new Set(mine.map((m) => m.id));
  for (const id of ids) await finishId(id, runner, readInfo, state, tmpDir, res, (pid) => !hadMount.has(id) && alive(pid), mine.filter((m) => m.id === id).map((m) => m.mountPoint));
  return res;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * A run's leftovers once its mounts are gone: its workspace (with any staging mount below it), the dirs it
 * created, its record. Nothing while a mount of that id remains, or while `inProgress(pid)` says its run is
 * still working.
 */
async function finishId(id: string, runner: Runner, readInfo: () => MountInfoEntry[], state: MountState, tmpDir: string, res: UnmountResult, inProgress: (pid: number) => boolean, unmounted: string[]): Promise<void> {
  const m = ID_RE.exec(id);
  if (!m) return;
  const rec = state.read(id);
  const remaining = ourMounts(readInfo()).filter((e) => e.id === id);
  // Mount points this command unmounted that the run created: removed even when other mounts of the run stay.
  const createdHere = (rec?.createdDirs ?? []).filter((d) => unmounted.includes(d));
  if (remaining.length) {
    res.removed.push(...removeCreatedDirs(createdHere, readInfo()));
    return;
  }
  if (inProgress(Number(m[1])) && rec?.status !== 'mounted') {
    res.left.push({ what: `run ${id}`, reason: `process ${m[1]} is still running and has mounted nothing yet (a mount in progress)` });
    return;
  }
  const wsName = `${MOUNT_WORKSPACE_PREFIX}${id}`;
  const candidates = new Set<string>([path.join(tmpDir, wsName)]);
  // The record's workspace is used only when it is exactly one of ours by name (a record is not trusted further).
  if (rec && path.basename(rec.workspace) === wsName && path.isAbsolute(rec.workspace)) candidates.add(rec.workspace);
  for (const ws of candidates) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(ws);
    } catch {
      continue;
    }
    if (!st.isDirectory() || st.uid !== 0) {
      res.left.push({ what: ws, reason: 'not a directory of root\'s; not removed' });
      continue;
    }
    try {
      res.unmounted.push(...(await unmountTree(runner, ws, readInfo, true)));
      removeWorkspace(ws, readInfo());
      res.removed.push(ws);
    } catch (err) {
      res.left.push({ what: ws, reason: (err as Error).message });
    }
  }
  if (rec) {
    // The dirs the run created for its mount points: all of them when it never finished (nobody used them), else
    // only those of mount points this command unmounted (a dir the user went on using after a plain `umount` stays).
    const mine = rec.status === 'mounting' ? rec.createdDirs : rec.createdDirs.filter((d) => unmounted.some((mp) => mp === d || mp.startsWith(d + '/')));
    res.removed.push(...removeCreatedDirs(mine, readInfo()));
    state.remove(id);
    res.removed.push(state.file(id));
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * While a mount run works: a signal is remembered (not acted on at once: the step in flight finishes), the
 * next check throws, and the caller undoes everything before the error reaches the CLI (exit 130).
 */
class SignalGuard {
  signal: NodeJS.Signals | null = null;
  private readonly handler = (sig: NodeJS.Signals): void => {
    this.signal ??= sig;
  };
  constructor() {
    for (const s of SIGNALS) process.on(s, this.handler);
  }
  check(): void {
    if (this.signal) throw new InterruptedError(this.signal);
  }
  remove(): void {
    for (const s of SIGNALS) process.removeListener(s, this.handler);
  }
}
