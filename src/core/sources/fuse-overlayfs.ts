import { LayerTable } from '../model/layer-table.js';
import type { PathTable } from '../model/paths.js';
import type { LayerEntry, PutEntry, WhiteoutEntry } from '../model/types.js';

/**
 * What a layer dir of a store mounted through fuse-overlayfs needs beyond an overlay upper dir: fuse-overlayfs's
 * own markers. Docker's fuse-overlayfs driver and a containers/storage store with a mount program both keep them.
 */

const OPAQUE_FILE = '.wh..wh..opq';
/** The xattrs fuse-overlayfs reads as "opaque" besides trusted.overlay.opaque (which the walk already reads). */
const FUSE_OPAQUE_XATTRS = ['user.fuseoverlayfs.opaque', 'user.overlay.opaque'];

/**
 * A layer dir of a store mounted through fuse-overlayfs, read as fuse-overlayfs reads it: a `.wh.NAME` file
 * deletes NAME (Docker's driver and containers/storage extract layers so when the kernel's overlay is not used, and fuse-overlayfs
 * makes them where it may not create a 0:0 device), a `.wh..wh..opq` file or a user.fuseoverlayfs.opaque /
 * user.overlay.opaque xattr makes its directory opaque, and any other `.wh.` name (a 0:0 device fuse-overlayfs
 * makes over a marker it removed) is its bookkeeping, never shown in the container.
 */
export function fuseLayer(t: LayerTable, paths: PathTable): LayerTable {
  let marked = false;
  for (let i = 0; i < t.n && !marked; i++) {
    const name = paths.name(t.pathId(i));
    if (name.startsWith('.wh.')) marked = true;
    else if (!t.isWhiteout(i) && t.attrs(i).xattrs && FUSE_OPAQUE_XATTRS.some((k) => t.attrs(i).xattrs![k] !== undefined)) marked = true;
  }
  if (!marked) return t;
  const opaqueDirs = new Set<string>();
  const out: LayerEntry[] = [];
  for (const e of t.entries) {
    const slash = e.path.lastIndexOf('/');
    const parent = slash < 0 ? '' : e.path.slice(0, slash);
    const base = e.path.slice(slash + 1);
    if (base.startsWith('.wh.')) {
      if (e.kind === 'put' && base === OPAQUE_FILE) opaqueDirs.add(parent);
      else if (e.kind === 'put' && e.attrs.type === 'file' && base.length > 4) {
        const w: WhiteoutEntry = { kind: 'whiteout', path: (parent ? parent + '/' : '') + base.slice(4), uid: e.attrs.uid, gid: e.attrs.gid };
        out.push(w);
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
      const put: PutEntry = { ...e, attrs: { ...e.attrs, xattrs: Object.keys(x).length ? x : undefined } };
      if (opaque && e.attrs.type === 'dir') put.opaque = true;
      out.push(put);
      continue;
    }
    out.push(e);
  }
  for (const e of out) if (e.kind === 'put' && e.attrs.type === 'dir' && opaqueDirs.has(e.path)) e.opaque = true;
  // The ignored-namespace warnings were about the xattrs read above: fuse-overlayfs does read them.
  const problems = t.problems.filter((p) => p.code !== 'overlay.xattr.ignored');
  return LayerTable.fromEntries(paths, out, problems);
}
