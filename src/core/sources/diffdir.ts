import * as fs from 'node:fs';
import { listAttributesSync, getAttributeSync } from '@napi-rs/xattr';
import { pathToText, joinPath, displayPath } from '../model/path.js';
import type { Attrs, EntryType, LayerChanges, LayerEntry, Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { describeFsError } from './evidence.js';

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

export async function readDiffDir(dir: string, opts: DiffDirOptions = {}): Promise<LayerChanges> {
  return readDiffDirSync(dir, opts);
}

export function readDiffDirSync(dir: string, opts: DiffDirOptions = {}): LayerChanges {
  const withXattrs = opts.xattrs !== false;
  const entries: LayerEntry[] = [];
  const problems: Problem[] = [];
  const dirBytes = Buffer.from(dir, 'utf8');
  const firstNameOfInode = new Map<bigint, string>();

  let rootStat: fs.BigIntStats;
  try {
    rootStat = fs.lstatSync(dir, { bigint: true });
  } catch (err) {
    problems.push(problem('error', 'layer.dir.unreadable', `layer directory cannot be read: ${describeFsError(err)}`, dir));
    return { entries, problems };
  }
  if (!rootStat.isDirectory()) {
    problems.push(problem('error', 'layer.dir.not-a-dir', rootStat.isSymbolicLink() ? 'layer directory is a symlink; not followed' : 'layer directory is not a directory', dir));
    return { entries, problems };
  }

  // Explicit stack (not recursion): evidence may hold paths thousands of levels deep.
  // Each frame is a directory whose children are still to be visited, in sorted order.
  interface Frame { rel: string; names: string[]; next: number; xwhiteouts: boolean }
  const stack: Frame[] = [];
  const open = (rel: string, xwhiteouts: boolean): void => {
    const host = rel === '' ? dirBytes : Buffer.concat([dirBytes, SLASH, Buffer.from(rel, 'latin1')]);
    let names: string[];
    try {
      names = (fs.readdirSync(host, { encoding: 'latin1' }) as string[]).sort();
    } catch (err) {
      problems.push(problem('error', 'layer.dir.unreadable', `directory cannot be listed: ${describeFsError(err)}`, hostDisplay(dir, rel)));
      names = [];
    }
    stack.push({ rel, names, next: 0, xwhiteouts });
  };
  open('', false);

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
    const type = entryType(st);

    if (type === 'char' && st.rdev === 0n) {
      entries.push({ kind: 'whiteout', path: rel, uid: Number(st.uid), gid: Number(st.gid) });
      continue;
    }

    let xattrs: Map<string, Buffer> | null = null;
    if (withXattrs && (type === 'dir' || type === 'file')) xattrs = readXattrs(dir, rel, problems);

    if (type === 'file' && xattrs && st.size === 0n && (xattrs.has('trusted.overlay.whiteout') || xattrs.has('user.overlay.whiteout'))) {
      entries.push({ kind: 'whiteout', path: rel, uid: Number(st.uid), gid: Number(st.gid) });
      if (!frame.xwhiteouts) {
        problems.push(problem('warning', 'overlay.xwhiteout.unmarked', 'xattr whiteout in a directory without the opaque="x" marker: the kernel may still list it', hostDisplay(dir, rel)));
      }
      continue;
    }

    const attrs: Attrs = {
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === 'char' || type === 'block' || type === 'fifo' || type === 'socket' ? 0 : Number(st.size),
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

    const put: LayerEntry = { kind: 'put', path: rel, attrs };
    let xwhiteouts = false;
    if (xattrs) {
      const content: Record<string, string> = {};
      let hasContent = false;
      for (const [k, v] of xattrs) {
        if (OVERLAY_XATTR.test(k)) continue;
        content[k] = v.toString('hex');
        hasContent = true;
      }
      if (hasContent) attrs.xattrs = content;
      const opaque = xattrs.get('trusted.overlay.opaque') ?? xattrs.get('user.overlay.opaque');
      if (type === 'dir' && opaque) {
        const v = opaque.toString('latin1');
        if (v === 'y') put.opaque = true;
        else if (v === 'x') xwhiteouts = true;
        else problems.push(problem('warning', 'overlay.opaque.unknown', `unknown overlay.opaque value ${JSON.stringify(v)}; treated as not opaque`, hostDisplay(dir, rel)));
      }
      if (type === 'dir' && (xattrs.has('trusted.overlay.whiteouts') || xattrs.has('user.overlay.whiteouts'))) xwhiteouts = true;
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
    entries.push(put);
    if (type === 'dir') open(rel, xwhiteouts);
  }
  return { entries, problems };
}

const SLASH = Buffer.from('/');

function entryType(st: fs.BigIntStats): EntryType {
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

/**
 * All xattrs of an entry, without following symlinks (the binding uses l*xattr). The binding takes UTF-8
 * strings, so a name that is not valid UTF-8 cannot be passed through it: that is reported, not guessed.
 */
function readXattrs(dir: string, rel: string, problems: Problem[]): Map<string, Buffer> | null {
  const text = pathToText(rel);
  if (text === null) {
    problems.push(problem('warning', 'layer.xattrs.unreadable', 'name is not valid UTF-8; its extended attributes (opaque marker, capabilities) were not read', hostDisplay(dir, rel)));
    return null;
  }
  const p = dir + '/' + text;
  try {
    const names = listAttributesSync(p);
    if (names.length === 0) return null;
    const out = new Map<string, Buffer>();
    for (const n of names) {
      const v = getAttributeSync(p, n);
      if (v !== null) out.set(n, v);
    }
    return out;
  } catch (err) {
    problems.push(problem('warning', 'layer.xattrs.unreadable', `cannot read extended attributes: ${(err as Error).message}`, hostDisplay(dir, rel)));
    return null;
  }
}
