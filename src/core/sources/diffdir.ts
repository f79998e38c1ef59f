import * as fs from 'node:fs';
import { joinPath, displayPath, parentPath } from '../model/path.js';
import type { Attrs, EntryType, LayerChanges, LayerEntry, Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { describeFsError } from './evidence.js';
import { collectTreeXattrs, readXattrsBytes } from './xattrs.js';

/**
 * Read an overlay upper dir (overlay2 `diff/`, a containerd snapshot's `fs/`) into a normalised changeset.
 *
 * Overlay form → model:
 * - char device 0:0                                    → whiteout of that name
 * - zero-size file with overlay.whiteout xattr          → whiteout (kernel 6.7+ "xattr whiteouts")
 * - dir with overlay.opaque = "y"                       → opaque dir (hides every lower child)
 * - dir with overlay.opaque = "x" / overlay.whiteouts   → not opaque; children may carry whiteout xattrs
 * - overlay.redirect / overlay.metacopy                 → flagged and reported, never silently misread
 * - several names for one inode                         → the first in walk order is the file, the others
 *                                                         'hardlink' entries pointing at it (as a tar would)
 * Only lstat is used: nothing is followed, nothing is opened for reading, nothing is written.
 * Overlay bookkeeping xattrs (origin, impure, uuid, nlink...) are dropped; other xattrs are content.
 */

export interface DiffDirOptions {
  /** Read xattrs (needed for opaque dirs and capabilities). Default true. */
  xattrs?: boolean;
}

const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;
const BIG_NS = 1_000_000_000n;

/**
 * Read a layer dir. The xattrs of the whole tree come from one `getfattr -R` run beside our lstat walk (a C
 * walk that lists only entries that have xattrs: several times cheaper than one binding call per entry);
 * without getfattr, entry by entry.
 */
export async function readDiffDir(dir: string, opts: DiffDirOptions = {}): Promise<LayerChanges> {
  const tree = opts.xattrs === false ? null : collectTreeXattrs(dir);
  const walked = walk(dir);
  if (opts.xattrs !== false) {
    const all = await tree!;
    applyXattrs(dir, walked, all ? (rel) => all.get(rel) ?? null : (rel) => readOne(dir, rel, walked.problems));
  }
  return { entries: walked.entries, problems: walked.problems };
}

/** The same, synchronously, reading xattrs entry by entry. */
export function readDiffDirSync(dir: string, opts: DiffDirOptions = {}): LayerChanges {
  const walked = walk(dir);
  if (opts.xattrs !== false) applyXattrs(dir, walked, (rel) => readOne(dir, rel, walked.problems));
  return { entries: walked.entries, problems: walked.problems };
}

interface Walked {
  entries: LayerEntry[];
  problems: Problem[];
  /** Indices of the entries whose xattrs matter: dirs (opaque, redirect) and regular files (capabilities...). */
  candidates: number[];
}

/** The lstat walk: every entry in walk order, whiteout devices already turned into whiteouts. */
function walk(dir: string): Walked {
  const entries: LayerEntry[] = [];
  const problems: Problem[] = [];
  const candidates: number[] = [];
  const dirBytes = Buffer.from(dir, 'utf8');
  const firstNameOfInode = new Map<bigint, string>();

  let rootStat: fs.BigIntStats;
  try {
    rootStat = fs.lstatSync(dir, { bigint: true });
  } catch (err) {
    problems.push(problem('error', 'layer.dir.unreadable', `layer directory cannot be read: ${describeFsError(err)}`, dir));
    return { entries, problems, candidates };
  }
  if (!rootStat.isDirectory()) {
    problems.push(problem('error', 'layer.dir.not-a-dir', rootStat.isSymbolicLink() ? 'layer directory is a symlink; not followed' : 'layer directory is not a directory', dir));
    return { entries, problems, candidates };
  }

  // Explicit stack (not recursion): evidence may hold paths thousands of levels deep.
  // Each frame is a directory whose children are still to be visited, in sorted order.
  interface Frame { rel: string; names: string[]; next: number }
  const stack: Frame[] = [];
  const open = (rel: string): void => {
    const host = rel === '' ? dirBytes : Buffer.concat([dirBytes, SLASH, Buffer.from(rel, 'latin1')]);
    let names: string[];
    try {
      names = (fs.readdirSync(host, { encoding: 'latin1' }) as string[]).sort();
    } catch (err) {
      problems.push(problem('error', 'layer.dir.unreadable', `directory cannot be listed: ${describeFsError(err)}`, hostDisplay(dir, rel)));
      names = [];
    }
    stack.push({ rel, names, next: 0 });
  };
  open('');

  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next >= frame.names.length) {
      stack.pop();
      continue;
    }
    const name = frame.names[frame.next++]!;
    const rel = joinPath(frame.rel, name);
    const host = Buffer.concat([dirBytes, SLASH, Buffer.from(rel, 'latin1')]);
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(host, { bigint: true });
    } catch (err) {
      problems.push(problem('error', 'layer.entry.unreadable', `cannot lstat: ${describeFsError(err)}`, hostDisplay(dir, rel)));
      continue;
    }
    const type = entryTypeOf(st);

    if (type === 'char' && st.rdev === 0n) {
      entries.push({ kind: 'whiteout', path: rel, uid: Number(st.uid), gid: Number(st.gid) });
      continue;
    }

    const attrs: Attrs = {
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      // The model's size is content length: a dir's st_size (4096 on ext4) says nothing about it.
      size: type === 'file' || type === 'symlink' ? Number(st.size) : 0,
      mtime: Number(st.mtimeNs / BIG_NS),
      mtimeNsec: Number(st.mtimeNs % BIG_NS),
    };
    if (type === 'symlink') {
      try {
        attrs.linkname = fs.readlinkSync(host, { encoding: 'latin1' }) as string;
      } catch (err) {
        problems.push(problem('error', 'layer.entry.unreadable', `cannot read link: ${describeFsError(err)}`, hostDisplay(dir, rel)));
        attrs.linkname = '';
      }
    } else if (type === 'char' || type === 'block') {
      attrs.devMajor = Number(((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & ~0xfffn));
      attrs.devMinor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & ~0xffn));
    } else if (type === 'file' && st.nlink > 1n) {
      const first = firstNameOfInode.get(st.ino);
      if (first === undefined) firstNameOfInode.set(st.ino, rel);
      else {
        attrs.type = 'hardlink';
        attrs.linkname = first;
      }
    }
    if (type === 'dir' || type === 'file') candidates.push(entries.length);
    entries.push({ kind: 'put', path: rel, attrs });
    if (type === 'dir') open(rel);
  }
  return { entries, problems, candidates };
}

/** Interpret the overlay xattrs of the candidate entries (in place); keep the others as content. */
function applyXattrs(dir: string, w: Walked, xattrsOf: (rel: string) => Map<string, Buffer> | null): void {
  const { entries, problems } = w;
  const marksXwhiteouts = (rel: string): boolean => {
    const x = xattrsOf(rel);
    const o = x?.get('trusted.overlay.opaque') ?? x?.get('user.overlay.opaque');
    return o?.toString('latin1') === 'x' || !!x?.has('trusted.overlay.whiteouts') || !!x?.has('user.overlay.whiteouts');
  };
  for (const i of w.candidates) {
    const put = entries[i]!;
    if (put.kind !== 'put') continue;
    const xattrs = xattrsOf(put.path);
    if (!xattrs || xattrs.size === 0) continue;
    const { attrs, path: rel } = put;
    if (attrs.type === 'file' && attrs.size === 0 && (xattrs.has('trusted.overlay.whiteout') || xattrs.has('user.overlay.whiteout'))) {
      entries[i] = { kind: 'whiteout', path: rel, uid: attrs.uid, gid: attrs.gid };
      if (!marksXwhiteouts(parentPath(rel))) {
        problems.push(problem('warning', 'overlay.xwhiteout.unmarked', 'xattr whiteout in a directory without the opaque="x" marker: the kernel may still list it', hostDisplay(dir, rel)));
      }
      continue;
    }
    const content: Record<string, string> = {};
    let hasContent = false;
    for (const [k, v] of xattrs) {
      if (OVERLAY_XATTR.test(k)) continue;
      content[k] = v.toString('hex');
      hasContent = true;
    }
    if (hasContent) attrs.xattrs = content;
    const opaque = xattrs.get('trusted.overlay.opaque') ?? xattrs.get('user.overlay.opaque');
    if (attrs.type === 'dir' && opaque) {
      const v = opaque.toString('latin1');
      if (v === 'y') put.opaque = true;
      else if (v !== 'x') problems.push(problem('warning', 'overlay.opaque.unknown', `unknown overlay.opaque value ${JSON.stringify(v)}; treated as not opaque`, hostDisplay(dir, rel)));
    }
    const redirect = xattrs.get('trusted.overlay.redirect') ?? xattrs.get('user.overlay.redirect');
    if (redirect) {
      put.redirect = redirect.toString('latin1');
      problems.push(problem('warning', 'overlay.redirect', `renamed directory (overlay redirect to ${JSON.stringify(displayPath(put.redirect))}): its lower children live at the redirect target, which this changeset cannot show`, hostDisplay(dir, rel)));
    }
    if (xattrs.has('trusted.overlay.metacopy') || xattrs.has('user.overlay.metacopy')) {
      put.metacopy = true;
      problems.push(problem('warning', 'overlay.metacopy', 'metadata-only copy-up: the data on disk are a sparse placeholder, the real bytes are in a lower layer', hostDisplay(dir, rel)));
    }
  }
}

function readOne(dir: string, rel: string, problems: Problem[]): Map<string, Buffer> | null {
  const host = rel === '' ? Buffer.from(dir, 'utf8') : Buffer.concat([Buffer.from(dir, 'utf8'), SLASH, Buffer.from(rel, 'latin1')]);
  try {
    const x = readXattrsBytes(host);
    if (x === null) problems.push(problem('warning', 'layer.xattrs.unreadable', 'extended attributes (opaque marker, capabilities) could not be read', hostDisplay(dir, rel)));
    return x;
  } catch (err) {
    problems.push(problem('warning', 'layer.xattrs.unreadable', `cannot read extended attributes: ${(err as Error).message}`, hostDisplay(dir, rel)));
    return null;
  }
}

const SLASH = Buffer.from('/');

/** The entry type of an lstat result. */
export function entryTypeOf(st: fs.BigIntStats | fs.Stats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

function hostDisplay(dir: string, rel: string): string {
  return rel === '' ? dir : dir + '/' + displayPath(rel);
}
