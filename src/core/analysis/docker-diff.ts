import type { Attrs } from '../model/types.js';
import type { LayerTable } from '../model/layer-table.js';
import { ROOT_PATH } from '../model/paths.js';
import { stackTables } from './analyze.js';
import type { StackView } from './stack.js';

/**
 * `docker diff`, offline: the A/C/D lines the engine reports for a container, from the container's RW
 * changeset and the changesets below it.
 *
 * The engine's overlay2 driver answers `docker diff` with its "naive" diff (checked on Docker 20.10: a parent
 * dir is reported C when anything inside it changed, even with its own stat unchanged): it mounts the
 * container's rootfs and its parent's (image + init layer) and compares the two merged trees
 * (moby `archive.ChangesDirs`). We compare the same two merged views, the stack at its top and one below:
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

/** The changes of a stack's top layer against the layers below it (`rw` is the top layer's table). */
export function dockerDiff(view: StackView, rw: LayerTable = view.table(view.top)): DockerChange[] {
  if (view.top < 0) return [];
  const paths = view.paths;
  const top = view.top;
  // Only subtrees the top layer touched can differ; mark them (and their ancestors).
  const touched = new Set<number>([ROOT_PATH]);
  for (let i = 0; i < rw.n; i++) for (let p = rw.pathIds[i]!; p !== ROOT_PATH && !touched.has(p); p = paths.parent(p)) touched.add(p);
  const attrsOf = new Map<number, Attrs>();
  const attrs = (v: number): Attrs => {
    let a = attrsOf.get(v);
    if (!a) attrsOf.set(v, (a = view.store.attrs(v)));
    return a;
  };
  // Depth-first, without recursion (evidence may nest thousands of dirs). A dir reserves a slot before its
  // children; the slot becomes its C line when something inside changed and it was not reported itself.
  const out: (DockerChange | null)[] = [];
  interface Frame { path: number; name: string; isNew: boolean; reported: boolean; slot: number; start: number; next: number }
  const frames: Frame[] = [{ path: ROOT_PATH, name: '', isNew: false, reported: true, slot: -1, start: 0, next: paths.firstChild(ROOT_PATH) }];
  while (frames.length) {
    const f = frames[frames.length - 1]!;
    const child = f.next;
    if (child < 0) {
      frames.pop();
      if (f.slot >= 0 && !f.reported && out.length > f.start) out[f.slot] = { kind: 'C', path: '/' + f.name };
      continue;
    }
    f.next = paths.nextSibling(child);
    const now = view.versionAt(child, top);
    const before = f.isNew ? -1 : view.versionAt(child, top - 1);
    const path = f.name === '' ? paths.name(child) : f.name + '/' + paths.name(child);
    if (now < 0) {
      if (before >= 0) out.push({ kind: 'D', path: '/' + path });
      continue;
    }
    let reported = false;
    if (before < 0) {
      out.push({ kind: 'A', path: '/' + path });
      reported = true;
    } else if (statDifferent(attrs(before), attrs(now))) {
      out.push({ kind: 'C', path: '/' + path });
      reported = true;
    }
    const isNew = before < 0;
    if (view.store.isDir(now) && (isNew || touched.has(child)) && paths.firstChild(child) >= 0) {
      const slot = out.length;
      out.push(null);
      frames.push({ path: child, name: path, isNew, reported, slot, start: slot + 1, next: paths.firstChild(child) });
    }
  }
  return out.filter((c): c is DockerChange => c !== null);
}

/** dockerDiff of an RW changeset over lower changesets (base first), on a stack of their own. */
export function dockerDiffOf(rw: LayerTable, lowers: readonly LayerTable[]): DockerChange[] {
  return dockerDiff(stackTables([...lowers, rw], rw.paths), rw);
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

/**
 * The changes of a container's RW layer as containers/storage's overlay driver reports them with its native
 * diff (podman diff on a kernel overlay store; pkg/archive `changes` over the upper dir, checked on podman
 * 4.3), from the RW changeset alone and the merged view below it:
 * - a whiteout is D; an opaque dir that exists below is D (it was deleted and made again), its children A or C;
 * - any other path is A, or C when it exists below, except a dir whose mode and mtime are those of the dir
 *   below (a copy-up because something inside changed), which is not listed;
 * - the parent of an A or D is C, unless it is listed already (a dir not listed for itself is listed for this).
 * A store mounted through fuse-overlayfs uses the naive diff instead ({@link dockerDiff}).
 */
export function layerDiff(view: StackView, rw: LayerTable = view.table(view.top)): DockerChange[] {
  if (view.top < 0) return [];
  const paths = view.paths;
  const below = view.top - 1;
  const out = new Map<number, DockerChange['kind']>();
  const changedDirs = new Set<number>();
  for (let i = 0; i < rw.n; i++) {
    const p = rw.pathIds[i]!;
    if (p === ROOT_PATH) continue;
    const prev = below >= 0 ? view.versionAt(p, below) : -1;
    let kind: DockerChange['kind'];
    if (rw.isWhiteout(i)) kind = 'D';
    else {
      const a = rw.attrs(i);
      const isDir = a.type === 'dir';
      if (isDir && rw.isOpaque(i) && prev >= 0) kind = 'D';
      else if (prev < 0) kind = 'A';
      else {
        const b = view.store.attrs(prev);
        if (isDir && b.type === 'dir' && a.mode === b.mode && sameFsTime(a, b)) continue;
        kind = 'C';
      }
      if (isDir) changedDirs.add(p);
    }
    if (kind !== 'C') {
      const parent = paths.parent(p);
      if (parent !== ROOT_PATH && !changedDirs.has(parent)) {
        if (!out.has(parent)) out.set(parent, 'C');
        changedDirs.add(parent);
      }
    }
    out.set(p, kind);
  }
  return [...out].map(([p, kind]) => ({ kind, path: '/' + paths.path(p) }));
}
