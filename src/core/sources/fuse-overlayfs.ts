import { LayerTable } from '../model/layer-table.js';
import type { PathTable } from '../model/paths.js';
import { problem, type LayerEntry, type Problem, type PutEntry, type WhiteoutEntry } from '../model/types.js';
import { quotedPath } from '../model/path.js';
import { whiteoutName } from './whiteout-names.js';

/**
 * What a layer dir of a store mounted through fuse-overlayfs needs beyond an overlay upper dir: fuse-overlayfs's
 * own markers. Docker's fuse-overlayfs driver and a containers/storage store with a mount program both keep them.
 */

/** The xattrs fuse-overlayfs reads as "opaque" besides trusted.overlay.opaque (which the walk already reads). */
const FUSE_OPAQUE_XATTRS = ['user.fuseoverlayfs.opaque', 'user.overlay.opaque'];
/** fuse-overlayfs's own xattrs (origin of a copied-up file...). */
const FUSE_OWN_XATTRS = 'user.fuseoverlayfs.';

/**
 * A layer dir of a store mounted through fuse-overlayfs, read as fuse-overlayfs reads it: a `.wh.NAME` file
 * deletes NAME (Docker's driver and containers/storage extract layers so when the kernel's overlay is not used, and fuse-overlayfs
 * makes them where it may not create a 0:0 device), a `.wh..wh..opq` file or a user.fuseoverlayfs.opaque /
 * user.overlay.opaque xattr makes its directory opaque, and any other `.wh.` name (a 0:0 device fuse-overlayfs
 * makes over a marker it removed) is its bookkeeping, never shown in the container.
 */
export function fuseLayer(t: LayerTable, paths: PathTable, dir: string | null = null): LayerTable {
  let marked = false;
  for (let i = 0; i < t.n && !marked; i++) {
    const name = paths.name(t.pathId(i));
    if (name.startsWith('.wh.')) marked = true;
    else if (!t.isWhiteout(i) && t.attrs(i).xattrs && Object.keys(t.attrs(i).xattrs!).some((k) => FUSE_OPAQUE_XATTRS.includes(k) || k.startsWith(FUSE_OWN_XATTRS))) marked = true;
  }
  if (!marked) return t;
  const opaqueDirs = new Set<string>();
  const out: LayerEntry[] = [];
  const said: Problem[] = [];
  const where = (p: string) => (dir ? `${dir}/${p}` : null);
  // fuse-overlayfs never shows a `.wh.` name, nor anything under one: a `.wh.` directory hides its whole subtree.
  const hidden = new Set<string>();
  for (const e of t.entries) {
    const slash = e.path.lastIndexOf('/');
    const parent = slash < 0 ? '' : e.path.slice(0, slash);
    const base = e.path.slice(slash + 1);
    // Walk order puts a dir before what it holds: below a hidden dir, every entry is hidden too.
    if (hidden.has(parent)) {
      if (e.kind === 'put' && e.attrs.type === 'dir') hidden.add(e.path);
      continue;
    }
    // The `.wh.` names as a layer tar's (whiteout-names.ts); fuse-overlayfs has no root bookkeeping: a
    // `.wh..wh.x` there is a whiteout like any other.
    const wn = whiteoutName(base, false);
    if (wn.kind !== 'plain') {
      if (e.kind === 'put' && wn.kind === 'opaque') opaqueDirs.add(parent);
      else if (wn.kind === 'invalid') said.push(problem('warning', 'fuse.whiteout.invalid', `${quotedPath(e.path)} names nothing to delete; not read as a whiteout (fuse-overlayfs hides it)`, where(e.path)));
      else if (e.kind === 'put' && e.attrs.type === 'file' && wn.kind === 'whiteout') {
        const w: WhiteoutEntry = { kind: 'whiteout', path: (parent ? parent + '/' : '') + wn.target, uid: e.attrs.uid, gid: e.attrs.gid };
        out.push(w);
      } else if (e.kind === 'put' && e.attrs.type === 'dir') {
        hidden.add(e.path);
        said.push(problem('warning', 'fuse.whiteout.dir', `${quotedPath(e.path)} is a directory with a whiteout's name: fuse-overlayfs hides it and everything under it, so it is not shown as content`, where(e.path)));
      }
      continue;
    }
    if (e.kind === 'put' && e.attrs.xattrs) {
      const x = { ...e.attrs.xattrs };
      let opaque = false;
      for (const k of FUSE_OPAQUE_XATTRS) {
        if (x[k] === undefined) continue;
        opaque ||= x[k] === '79'; // "y"
        delete x[k];
      }
      // fuse-overlayfs's own bookkeeping (origin, ...): no content of the layer.
      for (const k of Object.keys(x)) if (k.startsWith(FUSE_OWN_XATTRS)) delete x[k];
      const put: PutEntry = { ...e, attrs: { ...e.attrs, xattrs: Object.keys(x).length ? x : undefined } };
      if (opaque && e.attrs.type === 'dir') put.opaque = true;
      out.push(put);
      continue;
    }
    out.push(e);
  }
  for (const e of out) if (e.kind === 'put' && e.attrs.type === 'dir' && opaqueDirs.has(e.path)) e.opaque = true;
  // The ignored-namespace warnings were about the xattrs read above: fuse-overlayfs does read them.
  const problems = [...t.problems.filter((p) => p.code !== 'overlay.xattr.ignored'), ...said];
  return LayerTable.fromEntries(paths, out, problems);
}
