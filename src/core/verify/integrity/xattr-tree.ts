import * as fs from 'node:fs';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import { joinPath } from '../../model/path.js';
import { readXattrsBytes, type TreeXattrs } from '../../sources/xattrs.js';
import type { HostPaths } from '../../sources/walk/host-paths.js';

/**
 * Every xattr of a diff dir, entry by entry, for when one `getfattr -R` run cannot give them (no getfattr, or a
 * tree it cannot walk: it gives up on paths longer than PATH_MAX). Iterative (a stack, never recursion: a diff
 * dir can nest thousands of levels), through HostPaths (/proc/self/fd anchors past PATH_MAX), never following a
 * symlink (l*xattr; symlinked dirs are not entered). `onError` gets each entry that cannot be listed or read,
 * `onSkip` each one whose xattrs cannot be read at all (a name that is not UTF-8 and no getfattr to pass it).
 */
export function readTreeXattrs(paths: HostPaths, onError: (rel: string, err: unknown) => void, onSkip: (rel: string, why: string) => void): TreeXattrs {
  const out: TreeXattrs = new Map();
  const read = (rel: string) => {
    try {
      const p = paths.host(rel);
      const x = readOne(p);
      if (x === null) onSkip(rel, isAnchored(p) ? 'its name is not UTF-8 and its path is too long to hand to getfattr' : 'its name is not UTF-8 and getfattr is not available');
      else if (x.size > 0) out.set(rel, x);
    } catch (err) {
      onError(rel, err);
    }
  };
  read('');
  const stack: string[] = [''];
  while (stack.length > 0) {
    const d = stack.pop()!;
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(paths.host(d), { encoding: 'latin1', withFileTypes: true }) as unknown as fs.Dirent[];
    } catch (err) {
      onError(d, err);
      continue;
    }
    for (const e of names) {
      const rel = joinPath(d, e.name);
      read(rel);
      if (e.isDirectory()) stack.push(rel);
    }
  }
  return out;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const ANCHOR = '/proc/self/fd/';

/** A host path that goes through one of our /proc/self/fd anchors (past PATH_MAX). */
function isAnchored(p: string | Buffer): boolean {
  return typeof p === 'string' ? p.startsWith(ANCHOR) : p.subarray(0, ANCHOR.length).toString('latin1') === ANCHOR;
}

function readOne(p: string | Buffer): Map<string, Buffer> | null {
  let text: string | null = typeof p === 'string' ? p : null;
  if (text === null) {
    try {
      text = utf8Strict.decode(p as Buffer);
    } catch {
      // Not UTF-8: only getfattr (a child process) can pass the bytes, and a /proc/self/fd anchor is ours, not its.
      return isAnchored(p) ? null : readXattrsBytes(p as Buffer);
    }
  }
  const out = new Map<string, Buffer>();
  for (const n of listAttributesSync(text)) {
    const v = getAttributeSync(text, n);
    if (v !== null) out.set(n, v);
  }
  return out;
}
