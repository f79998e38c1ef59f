/**
 * The overlay mount options of the mount check, built the way the engine builds them (moby
 * daemon/graphdriver/overlay2/overlay.go), minus everything that would write:
 * - `lowerdir` only: no upperdir, no workdir, so the kernel has nowhere to write and the mount is read-only
 *   by construction (docker-explorer mounts the same way);
 * - flags `ro,nosuid,nodev,noexec`; `index=off` where /sys/module/overlay/parameters/index exists (as moby
 *   does: with the index on, a lower that is some running container's upper dir makes the mount fail EBUSY);
 * - lower order: the nearest layer first (the top of the stack), down to the base;
 * - when the option data would not fit in a page (70+ layers with absolute paths), the short form: names
 *   relative to a directory (`l/<link>` relative to `<root>/overlay2` for a data root), and `mount` run with
 *   that directory as its cwd, which is what the engine's `mountFrom` does.
 * The kernel refuses a lowerdir-only mount with a single lower layer ("at least 2 lowerdir are needed while
 * upperdir nonexistent"): a one-layer stack gets an empty dir of our own below it, which adds nothing to the
 * view (the root dir's attributes come from the uppermost layer).
 */

export interface LowerDir {
  /** Absolute host path of the layer's directory. */
  dir: string;
  /** The same directory relative to the plan's `shortCwd`, e.g. `l/ABC...`; null when there is none. */
  short: string | null;
}

export interface MountOptionsInput {
  /** Nearest (top) first. */
  lowers: LowerDir[];
  /** Directory the short names are relative to (`<root>/overlay2`, or our unpack dir). */
  shortCwd: string | null;
  /** Add `index=off` (the module has an index parameter). */
  indexOff: boolean;
  /** Page size of the machine (the kernel copies at most one page of mount data). */
  pageSize: number;
  /** Extra data options (`userxattr` in a user namespace). */
  extra?: string[];
}

export interface MountOptions {
  /** The full `-o` argument. */
  options: string;
  /** The data part the kernel receives (what must fit in a page). */
  data: string;
  form: 'absolute' | 'short';
  /** Working directory for the mount process (short form only). */
  cwd: string | null;
}

export class MountOptionsError extends Error {
  readonly code = 'mount.options';
}

export const MOUNT_FLAGS = ['ro', 'nosuid', 'nodev', 'noexec'];

/** Characters that cannot be passed inside a lowerdir list without escaping (we refuse rather than escape). */
const BAD_IN_OPTION = /[,:\\\s\0"']/;

export function buildMountOptions(input: MountOptionsInput): MountOptions {
  if (input.lowers.length < 2) throw new MountOptionsError(`an overlay mount without an upper dir needs at least 2 lower dirs, got ${input.lowers.length}`);
  const head = [...(input.indexOff ? ['index=off'] : []), ...(input.extra ?? [])];
  for (const l of input.lowers) {
    if (BAD_IN_OPTION.test(l.dir)) throw new MountOptionsError(`layer directory ${JSON.stringify(l.dir)} contains a character (',' ':' '\\' quote or white space) that cannot go into overlay mount options`);
  }
  const absData = [...head, 'lowerdir=' + input.lowers.map((l) => l.dir).join(':')].join(',');
  if (absData.length <= input.pageSize - 1) {
    return { options: [...MOUNT_FLAGS, absData].join(','), data: absData, form: 'absolute', cwd: null };
  }
  const missing = input.lowers.filter((l) => !l.short);
  if (!input.shortCwd || missing.length) {
    throw new MountOptionsError(`the mount options are ${absData.length} bytes, more than a page (${input.pageSize}) can hold, and ${missing.length ? `${missing.length} layer(s) have no short name` : 'there is no directory for short names'}`);
  }
  for (const l of input.lowers) {
    if (BAD_IN_OPTION.test(l.short!) || l.short!.startsWith('/')) throw new MountOptionsError(`short name ${JSON.stringify(l.short)} is not a plain relative path`);
  }
  const data = [...head, 'lowerdir=' + input.lowers.map((l) => l.short!).join(':')].join(',');
  if (data.length > input.pageSize - 1) throw new MountOptionsError(`even with short names the mount options are ${data.length} bytes, more than a page (${input.pageSize}) can hold`);
  return { options: [...MOUNT_FLAGS, data].join(','), data, form: 'short', cwd: input.shortCwd };
}

/**
 * argv of the mount process. `fsname` is the mount's source as /proc/self/mountinfo shows it: `overlay` for
 * the mount check, `layerscope-<id>` for `layerscope mount` (how `umount --all` recognises its mounts).
 */
export function mountArgv(opts: MountOptions, mountPoint: string, fsname = 'overlay'): string[] {
  return ['mount', '-t', 'overlay', '-o', opts.options, fsname, mountPoint];
}
