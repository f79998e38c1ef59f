import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMountInfo, type MountInfoEntry } from '../verify/mount/mountinfo.js';
import { OutputError, errnoText } from './errors.js';

/**
 * Where an output really lands, decided before anything is written, and whether it touches the evidence.
 *
 * The path is resolved as the kernel would resolve it: the longest prefix that exists is given to realpath(3)
 * (`fs.realpathSync.native`: `ROOT/..` and `link/..` mean what they mean to the kernel, not what a lexical
 * `path.resolve` makes of them); what follows must be plain names that do not exist yet. The output is then
 * compared with every evidence location, in both directions (output inside the evidence, evidence inside the
 * output), three ways:
 * - real paths;
 * - device+inode of the ancestors: the output's nearest existing directory and each of its ancestors against
 *   the evidence root, and the evidence and each of its ancestors against an existing output (a bind mount of
 *   the evidence, or of one of its parents, has the same device and inode under another path);
 * - mounts (/proc/self/mountinfo): each side is placed in its filesystem (device, path inside it), so a bind
 *   mount of a directory *inside* the evidence, or a mount below the output that shows the evidence (or that
 *   the evidence shows), is seen too.
 */

export type OutputKind = 'file' | 'dir';

export interface FileId {
  dev: bigint;
  ino: bigint;
}

export interface ResolvedOutput {
  /** As the user gave it. */
  given: string;
  kind: OutputKind;
  /** Real path of the nearest existing directory at or above the output (the output itself when it exists). */
  anchor: string;
  anchorId: FileId;
  /** Names to create below the anchor, outermost first (empty when the output exists). */
  missing: string[];
  /** anchor + missing: where the output is, symlinks resolved. */
  resolved: string;
  /** lstat of the output itself when something exists there. */
  existing: fs.BigIntStats | null;
}

/** The evidence locations of a source (a data root, an archive file, an OCI layout dir); none for stdin or docker:REF. */
export function evidenceLocations(...locations: (string | null | undefined)[]): string[] {
  return locations.filter((l): l is string => !!l && l !== '-' && !/^(docker|podman):/.test(l));
}

const idOf = (st: fs.BigIntStats): FileId => ({ dev: st.dev, ino: st.ino });
const sameId = (a: FileId, b: FileId) => a.dev === b.dev && a.ino === b.ino;

function within(p: string, root: string): boolean {
  return p === root || root === '/' || p.startsWith(root.endsWith('/') ? root : root + '/');
}

function describeType(st: fs.BigIntStats | fs.Stats): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'something other than a file';
}
export { describeType };

function lstatOrNull(p: string): fs.BigIntStats | null {
  try {
    return fs.lstatSync(p, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Resolve an output path (nothing is created). Refuses: an existing symlink at the output path; for a file
 * output, anything existing there, or a parent directory that does not exist; for a dir output, an existing
 * non-directory; names that cannot be created ('.', '..' below a missing directory).
 */
export function resolveOutput(given: string, kind: OutputKind): ResolvedOutput {
  if (given === '') throw new OutputError('output.bad-path', '""', 'an empty path');
  if (given.includes('\0')) throw new OutputError('output.bad-path', JSON.stringify(given), 'a NUL byte in the path');
  const abs = given.startsWith('/') ? given : process.cwd() + '/' + given;
  const comps = abs.split('/').filter((c) => c !== '');
  let i = comps.length;
  let anchor: string | null = null;
  for (; i >= 0; i--) {
    const p = '/' + comps.slice(0, i).join('/');
    try {
      anchor = fs.realpathSync.native(p);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        // A dangling symlink exists but does not resolve: never followed, never replaced.
        const lst = lstatOrNull(p);
        if (lst?.isSymbolicLink()) throw new OutputError('output.symlink', given, `${p} is a symlink that points nowhere; outputs are never written through symlinks`);
        continue;
      }
      if (code === 'ENOTDIR') throw new OutputError('output.not-dir', given, `a component of the path is not a directory (${p})`);
      if (code === 'ELOOP') throw new OutputError('output.symlink', given, `too many levels of symlinks at ${p}`);
      throw new OutputError('output.failed', given, `cannot resolve ${p}: ${errnoText(err)}`);
    }
  }
  if (anchor === null) throw new OutputError('output.failed', given, 'cannot resolve /');
  const missing = comps.slice(i);
  for (const m of missing) {
    if (m === '.' || m === '..') throw new OutputError('output.bad-path', given, `"${m}" below ${anchor}/${missing[0]}, which does not exist`);
  }
  let existing: fs.BigIntStats | null = null;
  if (!missing.length) {
    // The output exists: what is it, itself (not what a symlink there points to)?
    existing = fs.lstatSync(abs, { bigint: true });
  }
  const anchorStat = fs.statSync(anchor, { bigint: true });
  const resolved = missing.length ? path.posix.join(anchor, ...missing) : anchor;
  if (!existing && !anchorStat.isDirectory()) throw new OutputError('output.not-dir', given, `${anchor} is ${describeType(anchorStat)}, not a directory`);
  return { given, kind, anchor, anchorId: idOf(anchorStat), missing, resolved, existing };
}

/** Refusals that do not depend on the evidence: what exists at the output path. */
export function refuseExisting(r: ResolvedOutput): void {
  const st = r.existing;
  if (r.kind === 'file') {
    if (st) {
      const what = describeType(st);
      throw new OutputError(st.isSymbolicLink() ? 'output.symlink' : 'output.exists', r.given, `it exists (${what}${st.isSymbolicLink() ? ` to ${safeReadlink(r.given)}` : ''}); an existing file is never replaced, and a symlink never followed`);
    }
    if (r.missing.length > 1) throw new OutputError('output.not-dir', r.given, `its directory ${path.posix.join(r.anchor, ...r.missing.slice(0, -1))} does not exist`);
    return;
  }
  if (st?.isSymbolicLink()) throw new OutputError('output.symlink', r.given, `it is a symlink (to ${safeReadlink(r.given)}); outputs are never written through symlinks: name the real directory`);
  if (st && !st.isDirectory()) throw new OutputError('output.not-dir', r.given, `it exists and is ${describeType(st)}, not a directory`);
}

function safeReadlink(p: string): string {
  try {
    return JSON.stringify(fs.readlinkSync(p));
  } catch {
    return '?';
  }
}

/** The path's own stat and each ancestor's, up to '/'. */
function ancestry(real: string): { path: string; id: FileId }[] {
  const out: { path: string; id: FileId }[] = [];
  for (let p = real; ; p = path.posix.dirname(p)) {
    try {
      out.push({ path: p, id: idOf(fs.statSync(p, { bigint: true })) });
    } catch {
      /* an ancestor we cannot stat: the path comparison still applies */
    }
    if (p === '/') break;
  }
  return out;
}

interface FsPlace {
  device: string;
  /** Path inside that filesystem (the mount's root plus the rest). */
  inFs: string;
}

/** The mount holding `real` (the last-listed among the longest matches: the one on top), and the path inside it. */
export function placeInFs(real: string, mounts: MountInfoEntry[]): FsPlace | null {
  let best: MountInfoEntry | null = null;
  for (const m of mounts) {
    if (!m.device) continue;
    if (!within(real, m.mountPoint)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  if (!best) return null;
  const rest = best.mountPoint === '/' ? real : real.slice(best.mountPoint.length);
  return { device: best.device!, inFs: rest && rest !== '/' ? path.posix.join(best.root, rest) : best.root };
}

export interface OverlapOptions {
  /** Mount table (tests); default /proc/self/mountinfo. */
  mounts?: MountInfoEntry[];
}

/**
 * Refuse any overlap between the output and an evidence location, in either direction.
 * Throws OutputError('output.evidence') naming both, or 'output.unresolved' when an evidence location
 * cannot be resolved (then no overlap can be ruled out).
 */
export function refuseOverlap(r: ResolvedOutput, evidence: readonly string[], opts: OverlapOptions = {}): void {
  if (!evidence.length) return;
  // Where the output really is. An existing output was resolved whole (anchor = its real path): for a symlink,
  // where it points, so that the message says "is the evidence" rather than only "is a symlink".
  const outReal = r.existing ? r.anchor : r.resolved;
  const outId: FileId | null = r.existing ? r.anchorId : null;
  const outIsDir = r.kind === 'dir' || (r.existing !== null && fs.statSync(r.anchor).isDirectory());
  const mounts = opts.mounts ?? readMountInfo();
  const outAnc = ancestry(r.existing ? outReal : r.anchor);
  for (const ev of evidence) {
    let evReal: string;
    let evId: FileId;
    try {
      evReal = fs.realpathSync.native(ev);
      evId = idOf(fs.statSync(evReal, { bigint: true }));
    } catch (err) {
      throw new OutputError('output.unresolved', r.given, `cannot resolve the evidence location ${ev} (${errnoText(err)}), so an overlap with it cannot be ruled out`);
    }
    const inside = (how: string) => new OutputError('output.evidence', r.given, `it is ${outReal === evReal ? 'the evidence' : 'inside the evidence'} (${ev}${how}); nothing is ever written into the evidence`);
    const contains = (how: string) => new OutputError('output.evidence', r.given, `the evidence ${ev} is inside it${how}; an output may not contain the evidence it reads (writing there could change it): choose a directory that does not hold ${evReal}`);
    // 1. Real paths.
    if (within(outReal, evReal)) throw inside('');
    if (outIsDir && r.existing && within(evReal, outReal)) throw contains('');
    // 2. Device+inode of the ancestors.
    const hit = outAnc.find((a) => sameId(a.id, evId));
    if (hit) throw inside(`: ${hit.path} is the same directory as ${evReal}, a bind mount or another name of it`);
    if (outIsDir && outId) {
      const evAnc = ancestry(evReal);
      const up = evAnc.find((a) => sameId(a.id, outId!));
      if (up) throw contains(` (${up.path} is the same directory as ${outReal})`);
    }
    // 3. Mounts: both sides placed in their filesystems.
    const evPlace = placeInFs(evReal, mounts);
    const outPlace = placeInFs(outReal, mounts);
    if (evPlace && outPlace && evPlace.device === outPlace.device) {
      if (within(outPlace.inFs, evPlace.inFs)) throw inside(`: ${outReal} is ${outPlace.inFs} of device ${outPlace.device}, inside the evidence's ${evPlace.inFs} (a bind mount)`);
      if (outIsDir && r.existing && within(evPlace.inFs, outPlace.inFs)) throw contains(` (through a bind mount: ${evReal} is ${evPlace.inFs} of device ${evPlace.device}, inside ${outReal}'s ${outPlace.inFs})`);
    }
    if (evPlace && outPlace) {
      for (const m of mounts) {
        if (!m.device) continue;
        // A mount below the output that shows the evidence, or part of it (or a filesystem holding it).
        if (outIsDir && r.existing && m.mountPoint !== outReal && within(m.mountPoint, outReal) && m.device === evPlace.device && (within(m.root, evPlace.inFs) || within(evPlace.inFs, m.root))) {
          throw contains(` (the mount at ${m.mountPoint} shows ${m.root} of device ${m.device}, which holds or is part of the evidence)`);
        }
        // A mount inside the evidence that shows the output's place.
        if (m.mountPoint !== evReal && within(m.mountPoint, evReal) && m.device === outPlace.device && within(outPlace.inFs, m.root)) {
          throw inside(`: the mount at ${m.mountPoint}, inside the evidence, shows ${m.root} of device ${m.device}, where the output is`);
        }
      }
    }
  }
}

/** resolveOutput + refuseOverlap + refuseExisting, in the order that gives the most telling message. */
export function checkOutput(given: string, kind: OutputKind, evidence: readonly string[], opts: OverlapOptions = {}): ResolvedOutput {
  const r = resolveOutput(given, kind);
  refuseOverlap(r, evidence, opts);
  refuseExisting(r);
  return r;
}
