import * as fs from 'node:fs';
import * as path from 'node:path';
import { storeOf, type Source } from '../../model/source.js';
import type { LayerTable } from '../../model/layer-table.js';
import type { LowerDir } from './options.js';
import type { MountSession } from './session.js';
import { dataRootLowers, type StackSpec } from './stacks.js';
import { unpackLayer, type LayerContent } from './unpack.js';

/**
 * How each layer of a stack reaches the kernel, for the mount check (`verify`) and for `mount` alike:
 * - data roots: the diff dirs themselves (short `l/<link>` names, checked, past a page);
 * - stores with real layer directories (containerd snapshots): those dirs where they are, with names relative
 *   to their deepest common parent past a page (containerd's own compactLowerdirOption);
 * - archives: each layer laid out in overlay form in the session's workspace (once per layer: `unpacked` is
 *   shared by the stacks of one session).
 */

export interface StackLowers {
  /** Nearest (top) first. */
  lowers: LowerDir[];
  shortCwd: string;
  /** How the layers were had: in place, or laid out in our workspace. */
  origin: 'data-root' | 'directories' | 'unpacked';
  /** Layer paths that could not be laid out (archives), and the longest path laid out (see UnpackResult). */
  ignore: Set<string>;
  longerThan: number;
  notes: string[];
}

export interface UnpackCache {
  map: Map<string, { short: string; skipped: string[]; longerThan: number | null }>;
  counter: number;
}

export function newUnpackCache(): UnpackCache {
  return { map: new Map(), counter: 0 };
}

export class LowersError extends Error {}

/** A stack this kernel cannot build from the store's own dirs: the stack is skipped, with this reason. */
export class LowersSkip extends LowersError {}

/**
 * aufs branches keep whiteouts as `.wh.` files, which overlayfs shows as files: stacking them as lower dirs would
 * show deleted files, and no aufs module is on a current kernel. The check is skipped rather than laid out from
 * our own reading (which would compare our reading with itself).
 */
export function aufsSkipReason(filesystems = readFilesystems()): string {
  const why = 'overlayfs would read their .wh. whiteout files as files';
  // Only Ubuntu's old kernels carried the module; the check mounts overlayfs, never aufs, either way.
  return /\baufs\b/.test(filesystems) ? `aufs layers are not stacked: the mount check mounts overlayfs only, and ${why}; not mounted` : `aufs layers cannot be stacked by this kernel (no aufs): ${why}; not mounted`;
}

function readFilesystems(): string {
  try {
    return fs.readFileSync('/proc/filesystems', 'latin1');
  } catch {
    return '';
  }
}

/**
 * `tables` are the stack's layers (base first, as spec.layers lists them). `content`, for archives, fills the
 * laid-out files with their bytes (a mount a user reads); without it files are laid out sparse (the mount check
 * compares metadata only).
 */
export async function stackLowers(
  source: Source,
  spec: StackSpec,
  tables: LayerTable[],
  session: MountSession,
  cache: UnpackCache,
  content?: (index: number) => LayerContent | undefined,
): Promise<StackLowers> {
  const out: StackLowers = { lowers: [], shortCwd: '', origin: 'data-root', ignore: new Set(), longerThan: Infinity, notes: [] };
  let direct: ReturnType<typeof directLowers> = null;
  // The image's (or container's) own store: a source of several stores (--image-root) has one per image.
  const store = storeOf(source, spec.image ?? spec.container);
  if (store.kind === 'docker-root') {
    if (spec.layers.some((l) => l.layout === 'aufs')) throw new LowersSkip(aufsSkipReason());
    const dl = dataRootLowers(store.location, spec);
    if (dl.missing.length) throw new LowersError(`layer directories missing: ${dl.missing.join(', ')}`);
    out.lowers = dl.lowers;
    out.shortCwd = dl.shortCwd;
    out.notes.push(...dl.notes);
    return out;
  }
  if (store.kind === 'containerd-root' && (direct = directLowers(spec, store.location))) {
    out.lowers = direct.lowers;
    out.shortCwd = direct.shortCwd;
    out.origin = 'directories';
    return out;
  }
  out.origin = 'unpacked';
  out.shortCwd = session.dir;
  const runner = session.opts.runner;
  try {
    for (let i = spec.layers.length - 1; i >= 0; i--) {
      const l = spec.layers[i]!;
      const key = l.chainId ?? `${spec.id}:${l.role}`;
      let u = cache.map.get(key);
      if (!u) {
        const short = `layers/${cache.counter++}`;
        const r = await unpackLayer(tables[i]!, path.join(session.dir, short), {
          runner,
          xattrNamespace: session.opts.mode === 'userns' ? 'user' : 'trusted',
          chown: session.opts.mode === 'root',
          content: l.index !== null ? content?.(l.index) : undefined,
        });
        u = { short, skipped: r.skipped, longerThan: r.longerThan };
        cache.map.set(key, u);
        out.notes.push(...r.notes.map((n) => `layer ${l.index ?? l.role}: ${n}`));
      }
      for (const p of u.skipped) out.ignore.add(p);
      if (u.longerThan !== null) out.longerThan = Math.min(out.longerThan, u.longerThan);
      out.lowers.push({ dir: path.join(session.dir, u.short), short: u.short });
    }
  } catch (err) {
    throw new LowersError(`cannot lay the archive's layers out for mounting: ${(err as Error).message}`);
  }
  return out;
}

/**
 * Lower dirs of a stack whose layers all live in real directories on this host (absolute paths, every
 * component a real directory, never a symlink), nearest first, with names relative to their deepest common
 * parent. Null when any layer is not such a directory (then the stack is laid out from its changesets).
 */
export function directLowers(spec: StackSpec, root: string): { lowers: LowerDir[]; shortCwd: string } | null {
  const dirs: string[] = [];
  const base = path.resolve(root);
  for (const l of [...spec.layers].reverse()) {
    if (!l.dir || !path.isAbsolute(l.dir) || path.normalize(l.dir) !== l.dir.replace(/\/+$/, '')) return null;
    const d = l.dir.replace(/\/+$/, '');
    // Only directories inside the source's root, reached through real directories from there.
    if (!d.startsWith(base + '/') || !realDirPath(base, d.slice(base.length + 1))) return null;
    dirs.push(d);
  }
  let common = path.dirname(dirs[0]!);
  for (const d of dirs) while (common !== '/' && !d.startsWith(common + '/')) common = path.dirname(common);
  return { lowers: dirs.map((d) => ({ dir: d, short: common === '/' ? null : d.slice(common.length + 1) })), shortCwd: common };
}

function realDirPath(base: string, rel: string): boolean {
  let cur = base;
  for (const c of rel.split('/').filter(Boolean)) {
    cur += '/' + c;
    try {
      if (!fs.lstatSync(cur).isDirectory()) return false;
    } catch {
      return false;
    }
  }
  return true;
}
