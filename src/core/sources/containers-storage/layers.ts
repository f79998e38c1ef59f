import * as fs from 'node:fs';
import { LayerTable } from '../../model/layer-table.js';
import type { PathTable } from '../../model/paths.js';
import type { IdMapping, IdRange, LayerEntry, PutEntry, WhiteoutEntry } from '../../model/types.js';
import { mapHostId } from '../../model/types.js';

/**
 * What a containers/storage layer dir needs beyond an overlay upper dir: fuse-overlayfs's own markers, and the
 * id mapping of rootless stores.
 */

const OPAQUE_FILE = '.wh..wh..opq';
/** The xattrs fuse-overlayfs reads as "opaque" besides trusted.overlay.opaque (which the walk already reads). */
const FUSE_OPAQUE_XATTRS = ['user.fuseoverlayfs.opaque', 'user.overlay.opaque'];

/**
 * A layer dir of a store mounted through fuse-overlayfs, read as fuse-overlayfs reads it: a `.wh.NAME` file
 * deletes NAME (containers/storage extracts layers so when the kernel's overlay is not used, and fuse-overlayfs
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

/** Every uid and gid of a table through a mapping (host ids on disk to the ids the container sees). */
export function mapIds(t: LayerTable, m: IdMapping): LayerTable {
  const uid = (id: number) => mapHostId(m.uid, id);
  const gid = (id: number) => mapHostId(m.gid, id);
  const uids = new Uint32Array(t.n);
  const gids = new Uint32Array(t.n);
  for (let i = 0; i < t.n; i++) {
    uids[i] = uid(t.uids[i]!);
    gids[i] = gid(t.gids[i]!);
  }
  const extra = new Map(t.extra);
  for (const [i, x] of extra) if (x.uid !== undefined || x.gid !== undefined) extra.set(i, { ...x, ...(x.uid !== undefined ? { uid: uid(x.uid) } : {}), ...(x.gid !== undefined ? { gid: gid(x.gid) } : {}) });
  return new LayerTable(t.paths, t.n, t.pathIds, t.types, t.flags, t.modes, uids, gids, t.sizes, t.mtimes, t.nsecs, t.linkAt, t.linkArena, extra, t.problems);
}

export interface HostIdMap {
  map: IdMapping;
  description: string;
}

/**
 * How a rootless podman maps ids: the store's owner is the container's root, and the owner's subordinate range
 * (/etc/subuid, /etc/subgid: `newuidmap`'s source) is the container's 1..n. The store does not record the
 * range: it is this host's, read from its files. Ids outside both are what the kernel shows for unmapped ids.
 */
export function hostIdMap(ownerUid: number, ownerGid: number, etc = '/etc'): HostIdMap {
  const name = userName(ownerUid, etc);
  const sub = (file: string) => {
    const text = readHostFile(`${etc}/${file}`);
    for (const line of text.split('\n')) {
      const [who, start, count] = line.trim().split(':');
      if ((who === name || who === String(ownerUid)) && /^\d{1,10}$/.test(start ?? '') && /^\d{1,10}$/.test(count ?? '') && Number(count) > 0) return { start: Number(start), count: Number(count) };
    }
    return null;
  };
  const su = sub('subuid');
  const sg = sub('subgid');
  const ranges = (owner: number, r: { start: number; count: number } | null): IdRange[] => [{ containerId: 0, hostId: owner, size: 1 }, ...(r ? [{ containerId: 1, hostId: r.start, size: r.count }] : [])];
  const range = (r: { start: number; count: number } | null) => (r ? `${r.start}-${r.start + r.count - 1} → 1-${r.count}` : `no subordinate range on this host (other ids shown as 65534)`);
  return {
    map: { uid: ranges(ownerUid, su), gid: ranges(ownerGid, sg) },
    description:
      `a rootless store (owned by uid ${ownerUid}${name ? ` ${name}` : ''}): its files carry host ids; owners are shown as the container sees them (what podman export writes): ` +
      `uid ${ownerUid} → 0, ${range(su)}; gid ${ownerGid} → 0, ${range(sg)}. The ranges are this host's (/etc/subuid, /etc/subgid); the store does not record them`,
  };
}

function userName(uid: number, etc: string): string | null {
  for (const line of readHostFile(`${etc}/passwd`).split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[2] === String(uid)) return f[0] ?? null;
  }
  return null;
}

/** A small host configuration file (not evidence), bounded; '' when absent. */
function readHostFile(p: string): string {
  try {
    const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const buf = Buffer.alloc(1 << 20);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return buf.toString('utf8', 0, n);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
