import type { Attrs, LayerChanges } from '../model/types.js';
import { LayerStack, type PathNode } from './stack.js';

/**
 * `docker diff`, offline: the A/C/D lines the engine reports for a container, from the container's RW
 * changeset and the changesets below it.
 *
 * The engine's overlay2 driver answers `docker diff` with its "naive" diff (checked on Docker 20.10: a parent
 * dir is reported C when anything inside it changed, even with its own stat unchanged): it mounts the
 * container's rootfs and its parent's (image + init layer) and compares the two merged trees
 * (moby `archive.ChangesDirs`). We compare the same two merged views, taken from one LayerStack:
 * - a path in the new view and not the old is A, and so is everything below it;
 * - a path in both is C when mode (type and permission bits), uid, gid or rdev differ, or, for non-dirs, when
 *   size or mtime differ (equal, or equal seconds when either side has no nanoseconds), or when
 *   security.capability differs. Content is not compared: a copy-up that changes nothing is not a change;
 * - a path in the old view and not the new is D (its children are not listed);
 * - a dir with any change inside is reported C once, before its children, unless reported already.
 * The engine's order is Go map order (random from one call to the next); ours is walk order.
 * The init layer counts as part of the parent, so its placeholders (/etc/hosts...) never show as changes.
 */
export interface DockerChange {
  kind: 'A' | 'C' | 'D';
  /** Absolute, as docker prints it. Byte string. */
  path: string;
}

/** `lowers` base first: the image layers, then the init layer. */
export function dockerDiff(rw: LayerChanges, lowers: readonly LayerChanges[]): DockerChange[] {
  const stack = new LayerStack();
  for (const l of lowers) stack.apply(l.entries);
  stack.apply(rw.entries);
  const top = lowers.length;
  // Only subtrees the RW layer touched can differ; mark them (and their ancestors).
  const touched = new Set<PathNode>();
  for (const e of rw.entries) {
    for (let n = stack.lookup(e.path); n && !touched.has(n); n = n.parent) touched.add(n);
  }
  touched.add(stack.root);
  const out: DockerChange[] = [];
  visit(stack.root, true, false, true, top, touched, out);
  return out;
}

/**
 * Compare a node's children in the two views. `isNew`: the node did not exist before (its whole subtree is
 * added). `reported`: the node itself was already reported (A or C), so it needs no C for its children.
 */
function visit(node: PathNode, isDir: boolean, isNew: boolean, reported: boolean, top: number, touched: Set<PathNode>, out: DockerChange[]): void {
  const start = out.length;
  if (isDir && node.children && (isNew || touched.has(node))) {
    for (const name of [...node.children.keys()].sort()) {
      const child = node.children.get(name)!;
      const now = child.versionAt(top);
      const before = isNew ? null : child.versionAt(top - 1);
      if (now) {
        let childReported = false;
        if (!before) {
          out.push({ kind: 'A', path: '/' + child.path });
          childReported = true;
        } else if (statDifferent(before.attrs!, now.attrs!)) {
          out.push({ kind: 'C', path: '/' + child.path });
          childReported = true;
        }
        visit(child, now.attrs!.type === 'dir', !before, childReported, top, touched, out);
      } else if (before) {
        out.push({ kind: 'D', path: '/' + child.path });
      }
    }
  }
  // A dir with changes inside is reported itself, before them, unless it was reported as A or C already.
  if (out.length > start && isDir && !reported) out.splice(start, 0, { kind: 'C', path: '/' + node.path });
}

function typeOf(a: Attrs): string {
  return a.type === 'hardlink' ? 'file' : a.type;
}

function statDifferent(a: Attrs, b: Attrs): boolean {
  if (typeOf(a) !== typeOf(b) || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return true;
  if ((a.devMajor ?? 0) !== (b.devMajor ?? 0) || (a.devMinor ?? 0) !== (b.devMinor ?? 0)) return true;
  if (a.type !== 'dir' && (!sameFsTime(a, b) || a.size !== b.size)) return true;
  return (a.xattrs?.['security.capability'] ?? '') !== (b.xattrs?.['security.capability'] ?? '');
}

/** Go's sameFsTimeSpec: equal seconds, and equal nanoseconds unless either side has none (tar-applied files). */
function sameFsTime(a: Attrs, b: Attrs): boolean {
  return a.mtime === b.mtime && (a.mtimeNsec === b.mtimeNsec || a.mtimeNsec === 0 || b.mtimeNsec === 0);
}
