import { storeOf, type Source } from '../../model/source.js';
import { LayerTable } from '../../model/layer-table.js';
import { mergedRows, type MergedRow } from '../../analysis/views.js';
import { stackTables } from '../../analysis/analyze.js';
import { pathToBytes } from '../../model/path.js';
import { compareViews, type MountDifference } from './compare.js';
import { execaRunner, type Runner } from './runner.js';
import { InterruptedError, MountError, MountSession, sweepLeftovers, type MountMode, type SweepResult } from './session.js';
import type { MountInfoEntry } from './mountinfo.js';
import { imageStacks, stackViewOf, type StackSpec } from './stacks.js';
import type { StackView } from '../../analysis/stack.js';
import { LowersSkip, newUnpackCache, stackLowers, type StackLowers } from './lowers.js';
import { hashFile, type WalkResult } from './walk.js';
import { readAsBuiltLayer, type AsBuiltLayer } from './asbuilt.js';

export { imageStacks, containerStack, type StackSpec, type StackLayerRef } from './stacks.js';
export { compareViews, type MountDifference, type MountDiffKind } from './compare.js';
export { execaRunner, type Runner, type RunOptions, type RunResult } from './runner.js';
export { sweepLeftovers, MountSession, InterruptedError, type MountMode, type SweepResult } from './session.js';
export { findLeftovers, parseMountInfo, type Leftover } from './mountinfo.js';
export { buildMountOptions, mountArgv, type MountOptions } from './options.js';
export { directLowers, stackLowers, newUnpackCache, type StackLowers, type UnpackCache } from './lowers.js';
export { mountStacks, unmountAt, unmountAll, checkMountPoint, ourMounts, MountCommandError, MOUNT_FSNAME_PREFIX, MOUNT_WORKSPACE_PREFIX, type MountTarget, type PersistentMountOptions, type MountResult, type MountedStack, type MountedBind, type UnmountResult, type UnmountOptions } from './persistent.js';
export { planBinds, type BindPlan, type BindSkip } from './binds.js';
export { STATE_DIR } from './state.js';
export { walkTree, parseFindOutput, type KernelEntry } from './walk.js';

/**
 * The mount check: mount each stack with a real, read-only overlay mount and compare the kernel's view with
 * ours, entry by entry (path, type, size, mode, owner, symlink target, device numbers; with `hash`, content).
 *
 * - How layers reach the kernel: data roots mount the diff dirs themselves (short `l/<link>` names, checked, past
 *   a page); the containerd store mounts its snapshot dirs (names relative to their parent past a page);
 *   archives are laid out in overlay form in our workspace first (unpack.ts; files sparse, since sources give no
 *   bytes). See options.ts for the exact options, session.ts for privilege, cleanup and leftovers.
 * - Two comparisons: with our reading of the disk (mergedRows of the layers as read from their dirs: does the
 *   kernel stack them as we do?) and, for data roots, with the image as built (tar-split headers and CRC-64:
 *   are the files the kernel shows the ones the image was built with?). The second is what makes tampering in
 *   a diff dir visible here, in exactly the stacks where it shows.
 * - Expected kernel behaviour that is not a difference: see compare.ts (hardlinks, whiteouts, opaque dirs,
 *   dir sizes, the root).
 * - Without root: a user namespace (`unshare -Urm`, `userxattr`; owners and device numbers not comparable), else
 *   the check is skipped with the reason. As root without overlay privilege: found by a probe mount first.
 */

export interface MountCheckOptions {
  runner?: Runner;
  /** 'auto' (default): root → real mount; otherwise an unprivileged user namespace if the kernel allows it. */
  mode?: MountMode | 'auto';
  tmpDir?: string;
  /** Leftovers of killed runs: look for them anywhere in the mount table (default), or only in tmpDir. */
  sweepAnywhere?: boolean;
  pageSize?: number;
  indexOff?: boolean;
  /** Also hash every regular file through the mount and compare with the bytes of the layer that holds it. */
  hash?: boolean;
  /**
   * Data roots: also compare the kernel's view with the view as built (layers decoded from tar-split),
   * which catches files added, removed, chmod'ed, re-pointed (and, with hash, rewritten) in a diff dir.
   * Default true.
   */
  asBuilt?: boolean;
  /** Override for tests. */
  mountInfo?: () => MountInfoEntry[];
  isRoot?: boolean;
  /** Called before each stack (progress). */
  onStack?: (spec: StackSpec, done: number, total: number) => void;
}

export type StackStatus = 'agree' | 'disagree' | 'error' | 'skipped';

export interface StackMountResult {
  id: string;
  kind: 'image' | 'container';
  label: string;
  /** Image stacks: the top layer's index and chainID. */
  top: number | null;
  chainId: string | null;
  containerId: string | null;
  status: StackStatus;
  mode: MountMode | null;
  form: 'absolute' | 'short' | null;
  lowerCount: number;
  entries: { ours: number; kernel: number };
  /** Kernel view vs our view of the disk (mergedRows of the layers as read from their dirs). */
  differences: MountDifference[];
  /**
   * Kernel view vs the view as built (image layers from tar-split; init/RW layers, listed in `fromDisk`, from
   * disk). Null when not compared (archives, --no-as-built, unreadable tar-split: see `notes`).
   */
  asBuilt: { differences: MountDifference[]; entries: number; fromDisk: string[] } | null;
  message: string | null;
  notes: string[];
}

export interface MountCheckReport {
  /** How stacks were mounted; null when the check was skipped. */
  mode: MountMode | null;
  /** Why the whole check was skipped (no privilege, no user namespaces...). */
  skipped: string | null;
  /** What earlier, killed runs left behind, and what we did about it. */
  leftovers: SweepResult[];
  stacks: StackMountResult[];
  notes: string[];
}

/** Decide how to mount: root, or an unprivileged user namespace where `unshare -Urm` works. */
export async function detectMountMode(runner: Runner, isRoot = process.getuid?.() === 0): Promise<{ mode: MountMode | null; reason: string | null }> {
  if (isRoot) return { mode: 'root', reason: null };
  const r = await runner.run(['unshare', '-Urm', 'true'], { timeoutMs: 10_000 }).catch((err: Error) => ({ exitCode: 127, stderr: err.message, stdout: '' }));
  if (r.exitCode === 0) return { mode: 'userns', reason: 'not root: mounting inside an unprivileged user namespace (owners are not comparable there)' };
  return { mode: null, reason: `not root, and unprivileged user namespaces are not available (${r.stderr.trim() || `unshare exited ${r.exitCode}`}): the mount check needs root; only the integrity check ran` };
}

export async function checkStacks(source: Source, specs: StackSpec[], opts: MountCheckOptions = {}): Promise<MountCheckReport> {
  const runner = opts.runner ?? execaRunner;
  const notes: string[] = [];
  const leftovers = await sweepLeftovers(runner, { tmpDir: opts.tmpDir, mountInfo: opts.mountInfo, anywhere: opts.sweepAnywhere });
  let mode: MountMode | null;
  let reason: string | null = null;
  if (opts.mode && opts.mode !== 'auto') mode = opts.mode;
  else ({ mode, reason } = await detectMountMode(runner, opts.isRoot));
  if (reason) notes.push(reason);
  if (!mode) return { mode: null, skipped: reason, leftovers, stacks: [], notes };

  let session = MountSession.create({ runner, mode, tmpDir: opts.tmpDir, pageSize: opts.pageSize, indexOff: opts.indexOff, mountInfo: opts.mountInfo });
  if (mode === 'root' && specs.length) {
    // Root, but maybe no privilege for overlay (a container without CAP_SYS_ADMIN, a kernel without overlay):
    // find out with a mount of two empty dirs of ours, before anything is laid out for this mode.
    const err = await session.probe().catch((e: Error) => e);
    if (err) {
      await session.close();
      const alt = opts.mode === 'root' || !(err instanceof MountError && err.permission) ? { mode: null, reason: null } : await detectMountMode(runner, false);
      if (!alt.mode) {
        const why = `overlay cannot be mounted here (${err.message}): the mount check was skipped; only the integrity check ran`;
        notes.push(why);
        return { mode: null, skipped: why, leftovers, stacks: [], notes };
      }
      notes.push(`mounting as root was refused (${err.message}); mounting inside an unprivileged user namespace instead (owners are not comparable there)`);
      mode = alt.mode;
      session = MountSession.create({ runner, mode, tmpDir: opts.tmpDir, pageSize: opts.pageSize, indexOff: opts.indexOff, mountInfo: opts.mountInfo });
    }
  }
  const results: StackMountResult[] = [];
  const unpacked = newUnpackCache();
  const asBuiltCache = new Map<string, Promise<AsBuiltLayer & { table?: LayerTable }>>();
  // The as-built stack of an image is built once for all of its layer-N stacks; only the current image's is kept
  // (specs come image by image). The disk view comes from the source's shared model.
  let lastAsBuilt = null as { id: string; ab: Awaited<ReturnType<typeof asBuiltStack>> } | null;
  try {
    let done = 0;
    for (const spec of specs) {
      opts.onStack?.(spec, done++, specs.length);
      const res = blank(spec, session.opts.mode);
      results.push(res);
      let stack: { view: StackView; top: number; tables: LayerTable[] };
      try {
        stack = await stackViewOf(source, spec);
      } catch (err) {
        res.status = 'error';
        res.message = `cannot read the stack's layers: ${(err as Error).message}`;
        continue;
      }
      const changes = stack.tables;
      // Our view: the merged view of the shared model at the stack's top.
      const expected = mergedRows(stack.view, stack.top);
      res.entries.ours = expected.length;

      // How each layer reaches the kernel (lowers.ts).
      let sl: StackLowers;
      try {
        sl = await stackLowers(source, spec, changes, session, unpacked);
      } catch (err) {
        res.status = err instanceof LowersSkip ? 'skipped' : 'error';
        res.message = (err as Error).message;
        continue;
      }
      const { lowers, shortCwd, ignore, longerThan } = sl;
      res.notes.push(...sl.notes);
      let canHash = !!opts.hash;
      if (sl.origin === 'unpacked') {
        if (canHash) res.notes.push('hashing skipped: the archive source gives no file bytes (files were laid out sparse)');
        canHash = false;
      }
      res.lowerCount = lowers.length;

      let listing: WalkResult;
      try {
        const mo = await session.options(lowers, shortCwd);
        res.form = mo.form;
        listing = await session.mountAndList(mo, { hash: canHash });
      } catch (err) {
        if (err instanceof InterruptedError) throw err;
        res.status = 'error';
        res.message = (err as Error).message;
        continue;
      }
      res.entries.kernel = listing.entries.length;
      for (const e of listing.errors) res.notes.push(`kernel view: ${e.path}: ${e.error}`);
      const layerDirs = lowers.map((l) => l.dir).reverse();
      let diffs = compareViews(expected, listing.entries, {
        ignoreOwner: res.mode === 'userns',
        ignoreDevices: res.mode === 'userns',
        idMap: storeOf(source, spec.image ?? spec.container).idMap,
        expectedContent: canHash ? (row: MergedRow) => safeHash(layerDirs[row.layer], row.path) : undefined,
      });
      if (ignore.size || longerThan < Infinity) diffs = diffs.filter((d) => !ignore.has(d.path) && d.path.length <= longerThan);
      res.differences = diffs;
      if (storeOf(source, spec.image ?? spec.container).kind === 'docker-root' && opts.asBuilt !== false) {
        let ab: Awaited<ReturnType<typeof asBuiltStack>>;
        if (spec.kind === 'image' && spec.image) {
          if (lastAsBuilt?.id !== spec.image.id) {
            const whole = imageStacks(spec.image, false)[0]!;
            lastAsBuilt = { id: spec.image.id, ab: await asBuiltStack(source, whole.layers, (await stackViewOf(source, whole)).tables, asBuiltCache) };
          }
          ab = lastAsBuilt!.ab;
        } else ab = await asBuiltStack(source, spec.layers, changes, asBuiltCache);
        if ('error' in ab) res.notes.push(`not compared with the image as built: ${ab.error}`);
        else {
          const abRows = mergedRows(ab.view, stack.top);
          const d = compareViews(abRows, listing.entries, {
            ignoreOwner: res.mode === 'userns',
            ignoreDevices: res.mode === 'userns',
            idMap: storeOf(source, spec.image ?? spec.container).idMap,
            expectedContent: canHash ? (row: MergedRow) => asBuiltContent(ab.crc[row.layer] ?? null, layerDirs[row.layer], row.path) : undefined,
          });
          // An entry the image was not built with: name the layer whose dir holds it (from our disk view).
          const diskLayer = new Map(expected.map((r) => [r.path, r.layer]));
          for (const x of d) if (x.kind === 'extra') x.layer = diskLayer.get(x.path) ?? null;
          res.asBuilt = { differences: d, entries: abRows.length, fromDisk: ab.fromDisk };
        }
      }
      res.status = diffs.length || listing.errors.length || res.asBuilt?.differences.length ? 'disagree' : 'agree';
      if (res.mode === 'userns') res.notes.push('user namespace: owners and device numbers were not compared');
    }
  } finally {
    await session.close();
  }
  return { mode: results.some((r) => r.mode === 'userns') ? 'userns' : mode, skipped: null, leftovers, stacks: results, notes };
}

function blank(spec: StackSpec, mode: MountMode): StackMountResult {
  return {
    id: spec.id,
    kind: spec.kind,
    label: spec.label,
    top: spec.top,
    chainId: spec.top !== null ? spec.layers[spec.top]?.chainId ?? null : null,
    containerId: spec.container?.id ?? null,
    status: 'skipped',
    mode,
    form: null,
    lowerCount: 0,
    entries: { ours: 0, kernel: 0 },
    differences: [],
    asBuilt: null,
    message: null,
    notes: [],
  };
}

function safeHash(dir: string | undefined, rel: string): { sha256: string } | null {
  if (!dir) return null;
  try {
    return { sha256: hashFile(Buffer.concat([Buffer.from(dir + '/', 'utf8'), pathToBytes(rel)])).sha256 };
  } catch {
    return null;
  }
}

function asBuiltContent(crc: Map<string, string> | null, dir: string | undefined, rel: string): { crc64?: string; sha256?: string } | null {
  if (!crc) return safeHash(dir, rel); // init/RW layer: its own bytes on disk
  const c = crc.get(rel);
  return c ? { crc64: c } : null; // empty files (no CRC stored) and hardlink names: size is compared instead
}

/**
 * The stack's view as built: image layers from their tar-split headers, the container's init and RW layers
 * (which have no tar-split: they are meant to change) from disk. Null, with a note, when a layer's tar-split
 * cannot be read.
 */
async function asBuiltStack(source: Source, layers: StackSpec['layers'], diskChanges: LayerTable[], cache: Map<string, Promise<AsBuiltLayer & { table?: LayerTable }>>): Promise<{ view: StackView; crc: (Map<string, string> | null)[]; fromDisk: string[] } | { error: string }> {
  const changes: LayerTable[] = [];
  const crc: (Map<string, string> | null)[] = [];
  const fromDisk: string[] = [];
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i]!;
    if (l.role !== 'image' || !l.chainId || !l.tarSplit) {
      changes.push(diskChanges[i]!);
      crc.push(null);
      fromDisk.push(`${l.role} layer`);
      continue;
    }
    let p = cache.get(l.chainId);
    if (!p) {
      p = readAsBuiltLayer(l.tarSplit, `layer ${l.index}`);
      p.catch(() => {});
      cache.set(l.chainId, p);
    }
    try {
      const a = await p;
      // Interned in the source's table, so that the as-built view and the disk view name paths alike.
      a.table ??= LayerTable.fromEntries(source.paths, a.changes.entries, a.changes.problems);
      changes.push(a.table);
      crc.push(a.crc);
    } catch (err) {
      return { error: `layer ${l.index} (${l.chainId}): tar-split cannot be read: ${(err as Error).message}` };
    }
  }
  return { view: stackTables(changes, source.paths), crc, fromDisk };
}
