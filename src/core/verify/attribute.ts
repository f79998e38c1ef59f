import * as path from 'node:path';
import type { Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo, LayerLayout } from '../model/types.js';
import { baseName, cleanLayerPath, joinPath, parentPath, quotedPath, textToPath } from '../model/path.js';
import type { EndReason, StackView } from '../analysis/stack.js';
import { Evidence } from '../sources/evidence.js';
import { GRAPH_DRIVERS } from '../sources/drivers.js';
import { whiteoutName } from '../sources/whiteout-names.js';
import { stackViewOf, containerStack, imageStacks } from './mount/stacks.js';

/**
 * Attribution: given a host path under a data root (typically a scanner's hit, e.g.
 * /var/lib/docker/overlay2/<id>/diff/usr/bin/x), say which layer it belongs to (chainID, diffID, index), which
 * images (tags) and containers (RW layer, init layer, or an image layer below them) use that layer, and whether
 * the file is visible in each image's and container's final view, or hidden (by which layer, and how).
 *
 * The path is never resolved on the host (no realpath: the evidence may hold symlinks); it is taken apart as
 * text. An `overlay2/l/<link>/...` path is resolved through the link after checking it points to `../<id>/diff`.
 */

/** What the path is: layer content, a container's layer, a record, something else under the root, or outside it. */
export type Where = 'layer' | 'container-rw' | 'container-init' | 'container-merged' | 'layerdb' | 'container-config' | 'unknown' | 'outside';

export interface Visibility {
  /**
   * visible: this layer's version is what the final view shows; hidden: a later layer ended it; whiteout: the
   * path is a whiteout marker in this layer (it deletes the lower path); absent: the layer's changeset has no
   * such path (not on disk, or not part of the layer's content).
   */
  state: 'visible' | 'hidden' | 'whiteout' | 'absent';
  /** For hidden: the layer (index in that stack) that hid it, how, and what that layer is. */
  hiddenBy?: { layer: number; reason: EndReason; what: string };
}

export interface ImageUse {
  id: string;
  tags: string[];
  /** Index of the layer in this image. */
  index: number;
  visibility: Visibility | null;
}

export interface ContainerUse {
  id: string;
  name: string;
  state: string;
  /** How the container uses the layer: its own RW or init layer, or an image layer under them. */
  role: 'rw' | 'init' | 'image-layer';
  /** Index of the layer in the container's stack (image layers, then init, then RW). */
  index: number;
  visibility: Visibility | null;
}

export interface Attribution {
  input: string;
  root: string;
  where: Where;
  /** overlay2 dir name (cache-id, mount-id, mount-id-init). */
  overlayId: string | null;
  /** Path inside the layer (byte string; '' for the layer root); null when the input is not inside a layer's content. */
  layerPath: string | null;
  layer: { chainId: string; diffId: string; cacheId: string | null } | null;
  images: ImageUse[];
  containers: ContainerUse[];
  notes: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;
const LINK_ID = /^[A-Z2-7]{26}$/;

/**
 * The data root a host path names by its own layout (a scanner hit on a mounted disk image:
 * `/mnt/evidence/var/lib/docker/containers/<id>/config.v2.json`), or null when nothing in it is a data root's
 * layout. Recognised below a root: `overlay2/<id>[-init]`, `overlay2/l/<LINK>`, the layer dirs of the other
 * graph drivers (`vfs/dir/<id>`, `aufs/diff/<id>`, ...), `image/<driver>/{imagedb,layerdb,repositories.json,
 * distribution}`, `containers/<id>`, `volumes/<name>/_data` and `volumes/metadata.db`, the engine's containerd
 * store `containerd/daemon/`; and a containerd root's `io.containerd.*` dirs. The outermost match wins (a data
 * root copied into a layer or a volume is content of the outer one). Pure: nothing is read.
 */
export function dataRootOf(p: string): string | null {
  const parts = path.resolve(p).split('/').filter(Boolean);
  const drivers = new Map(GRAPH_DRIVERS.map((d) => [d.name, d.layers]));
  const ID = /^[0-9a-f]{64}(?:-init)?$/;
  const at = (i: number): boolean => {
    const [a, b, c] = [parts[i], parts[i + 1], parts[i + 2]];
    if (!a || b === undefined) return false;
    if (a === 'overlay2' && (ID.test(b) || (b === 'l' && c !== undefined && LINK_ID.test(c)))) return true;
    if (a === 'containers' && HEX64.test(b)) return true;
    if (a === 'volumes' && (b === 'metadata.db' || (c === '_data' && b !== '_data'))) return true;
    if (a === 'image' && drivers.has(b) && c !== undefined && ['imagedb', 'layerdb', 'repositories.json', 'distribution'].includes(c)) return true;
    if (a === 'containerd' && b === 'daemon') return true;
    // A containerd root (/var/lib/containerd): its plugin dirs.
    if (/^io\.containerd\.(snapshotter|content|metadata|runtime)\.v\d+/.test(a)) return true;
    const sub = drivers.get(a);
    if (sub !== undefined && a !== 'overlay2') return sub === '' ? ID.test(b) : b === sub && c !== undefined && ID.test(c);
    return false;
  };
  // At least one component above the layout: / itself is never taken for a data root.
  for (let i = 1; i < parts.length; i++) if (at(i)) return '/' + parts.slice(0, i).join('/');
  return null;
}

export async function attributePath(source: Source, input: string, opts: { cwd?: string } = {}): Promise<Attribution> {
  const root = path.resolve(source.location);
  const abs = path.resolve(opts.cwd ?? process.cwd(), input);
  const out: Attribution = { input, root, where: 'unknown', overlayId: null, layerPath: null, layer: null, images: [], containers: [], notes: [] };
  if (source.kind !== 'docker-root' && source.kind !== 'containerd-root') {
    out.notes.push(`attribution needs a data root (Docker or containerd); ${source.location} is a ${source.kind}`);
    return out;
  }
  const rel = abs === root ? '' : abs.startsWith(root + '/') ? abs.slice(root.length + 1) : null;
  if (rel === null) {
    out.where = 'outside';
    out.notes.push(`${abs} is not under the data root ${root}`);
    return out;
  }
  const parts = rel.split('/').filter(Boolean);
  const ev = new Evidence(root);
  const inner = (from: number): string => cleanLayerPath(textToPath(parts.slice(from).join('/')));

  if (source.kind === 'docker-root' && parts[0] === 'overlay2' && parts[1]) {
    let id = parts[1];
    let sub = parts[2];
    let from = 3;
    if (id === 'l' && parts[2]) {
      const link = parts[2];
      let target: string | null = null;
      try {
        target = LINK_ID.test(link) ? ev.readlink('overlay2', 'l', link) : null;
      } catch (err) {
        out.notes.push(`overlay2/l/${link}: ${(err as Error).message}`);
      }
      const m = target ? /^\.\.\/([0-9a-f]{64}(?:-init)?)\/diff$/.exec(target) : null;
      if (!m) {
        out.notes.push(`overlay2/l/${link} ${target === null ? 'is not a link of this store' : `points to ${JSON.stringify(target)}, not ../<id>/diff`}; not followed`);
        return out;
      }
      id = m[1]!;
      sub = 'diff';
      from = 3;
      out.notes.push(`overlay2/l/${link} is the short name of overlay2/${id}/diff`);
    }
    out.overlayId = id;
    if (sub !== 'diff' && sub !== 'merged') {
      out.notes.push(sub ? `overlay2/${id}/${sub} is bookkeeping of the overlay driver, not layer content` : `overlay2/${id} is the layer's driver dir; its content is in diff/`);
    } else {
      out.layerPath = inner(from);
    }
    if (sub === 'merged') {
      const c = source.containers.find((x) => x.mountId === id);
      if (c) {
        out.where = 'container-merged';
        out.notes.push(`overlay2/${id}/merged is the live mount of container ${c.name}: the path is in its final view, whichever layer holds it`);
        out.containers.push({ id: c.id, name: c.name, state: c.state, role: 'rw', index: -1, visibility: null });
        await attributeInContainers(source, out, (cc) => cc === c, 'rw');
        return out;
      }
    }
    const layerHit = findLayerByCacheId(source, id);
    if (layerHit) {
      out.where = 'layer';
      out.layer = { chainId: layerHit.chainId, diffId: layerHit.diffId, cacheId: id };
      await attributeLayer(source, out, layerHit.chainId);
      return out;
    }
    const rw = source.containers.find((c) => c.mountId === id);
    if (rw) {
      out.where = 'container-rw';
      await attributeInContainers(source, out, (c) => c === rw, 'rw');
      return out;
    }
    const init = source.containers.find((c) => c.initId === id);
    if (init) {
      out.where = 'container-init';
      await attributeInContainers(source, out, (c) => c === init, 'init');
      return out;
    }
    out.notes.push(`overlay2/${id} belongs to no image layer and no container of this data root (orphaned storage?)`);
    return out;
  }
  if (parts[0] === 'image' && GRAPH_DRIVERS.some((d) => d.name === parts[1]) && parts[2] === 'layerdb' && parts[3] === 'sha256' && parts[4] && HEX64.test(parts[4])) {
    out.where = 'layerdb';
    const chainId = 'sha256:' + parts[4];
    const l = source.images.flatMap((i) => i.layers).find((x) => x.chainId === chainId);
    if (l) {
      out.layer = { chainId, diffId: l.diffId, cacheId: l.cacheId };
      await attributeLayer(source, out, chainId);
    } else out.notes.push(`layer ${chainId} is used by no image of this data root`);
    return out;
  }
  if (parts[0] === 'containers' && parts[1] && HEX64.test(parts[1])) {
    const c = source.containers.find((x) => x.id === parts[1]);
    out.where = 'container-config';
    if (c) out.containers.push({ id: c.id, name: c.name, state: c.state, role: 'rw', index: -1, visibility: null });
    else out.notes.push(`container ${parts[1]} is not in this data root`);
    out.notes.push('containers/<id>/ holds the container\'s config, logs and bind-mounted files, not layer content');
    return out;
  }
  // Any other store (containerd snapshots: .../snapshots/<n>/fs/...): the layer or container layer whose
  // directory holds the path.
  const within = (dir: string | null): string | null => {
    if (!dir) return null;
    const d = path.resolve(dir);
    return abs === d ? '' : abs.startsWith(d + '/') ? abs.slice(d.length + 1) : null;
  };
  for (const img of source.images) {
    for (const l of img.layers) {
      const r = within(l.location);
      if (r === null) continue;
      out.where = 'layer';
      out.layerPath = aufsMarked(out, cleanLayerPath(textToPath(r)), l.layout);
      let owner = l;
      if (l.layout === 'full' && out.layerPath !== null) {
        // A whole tree (vfs, btrfs, overlay's root) holds every file as of this layer: the path belongs to the
        // layer that last wrote it, at or below this one.
        const { view } = await stackViewOf(source, imageStacks(img, false)[0]!);
        const id = view.lookup(out.layerPath);
        const v = id < 0 ? -1 : view.versionAt(id, l.index);
        if (v >= 0 && !view.store.isWhiteout(v)) owner = img.layers[view.layerOf(v)] ?? l;
        out.notes.push(`${l.location} holds the whole file system as of layer ${l.index}, not only its changes: ${owner === l ? 'this layer wrote the path' : `the path there is layer ${owner.index}'s version`}`);
      }
      out.layer = { chainId: owner.chainId, diffId: owner.diffId, cacheId: owner.cacheId };
      await attributeLayer(source, out, owner.chainId);
      return out;
    }
  }
  for (const c of source.containers) {
    for (const role of ['rw', 'init'] as const) {
      const r = within(role === 'rw' ? c.rwDir : c.initDir);
      if (r === null) continue;
      out.where = role === 'rw' ? 'container-rw' : 'container-init';
      // An overlay2 dir name (shown as overlay2/<id>); other drivers' dirs are named by their path.
      if (path.resolve(role === 'rw' ? c.rwDir! : c.initDir!).startsWith(root + '/overlay2/')) out.overlayId = role === 'rw' ? c.mountId : c.initId;
      out.layerPath = aufsMarked(out, cleanLayerPath(textToPath(r)), c.layout);
      await attributeInContainers(source, out, (x) => x === c, role);
      return out;
    }
  }
  out.notes.push('the path is not inside a layer, a container layer or a layer record of this data root');
  return out;
}

/**
 * In an aufs branch a whiteout or an opaque marker is a `.wh.` file of its own name: the path it stands for is
 * the one attributed (what it hides, its dir), and said so; its bookkeeping (`.wh..wh.aufs`...) is no layer path.
 */
function aufsMarked(out: Attribution, layerPath: string, layout: LayerLayout | undefined): string | null {
  if (layout !== 'aufs' || layerPath === '') return layerPath;
  const dir = parentPath(layerPath);
  const wn = whiteoutName(baseName(layerPath), dir === '');
  switch (wn.kind) {
    case 'whiteout':
      out.notes.push(`an aufs whiteout: it deletes ${quotedPath(joinPath(dir, wn.target))} from the layers below`);
      return joinPath(dir, wn.target);
    case 'opaque':
      out.notes.push(`an aufs opaque marker: ${dir === '' ? 'the layer root' : quotedPath(dir)} hides every lower child`);
      return dir === '' ? layerPath : dir;
    case 'meta':
      out.notes.push('aufs bookkeeping of the branch, not a path of the layer');
      return null;
    default:
      return layerPath;
  }
}

function findLayerByCacheId(source: Source, cacheId: string): { chainId: string; diffId: string } | null {
  for (const img of source.images) for (const l of img.layers) if (l.cacheId === cacheId) return { chainId: l.chainId, diffId: l.diffId };
  return null;
}

async function attributeLayer(source: Source, out: Attribution, chainId: string): Promise<void> {
  for (const img of source.images) {
    const index = img.layers.findIndex((l) => l.chainId === chainId);
    if (index < 0) continue;
    let visibility: Visibility | null = null;
    if (out.layerPath !== null) {
      const spec = imageStacks(img, false)[0]!;
      const { view } = await stackViewOf(source, spec);
      visibility = visibilityOf(view, index, out.layerPath, (n) => layerWhat(img, null, n));
    }
    out.images.push({ id: img.id, tags: img.tags, index, visibility });
  }
  await attributeInContainers(source, out, (c) => {
    const img = source.images.find((i) => i.id === c.image);
    return !!img && img.layers.some((l) => l.chainId === chainId);
  }, 'image-layer', chainId);
}

async function attributeInContainers(source: Source, out: Attribution, pick: (c: ContainerInfo) => boolean, role: ContainerUse['role'], chainId?: string): Promise<void> {
  for (const c of source.containers) {
    if (!pick(c)) continue;
    const spec = containerStack(source, c);
    const index = role === 'image-layer' ? spec.layers.findIndex((l) => l.chainId === chainId) : spec.layers.findIndex((l) => l.role === role);
    let visibility: Visibility | null = null;
    if (out.layerPath !== null && index >= 0) {
      const { view } = await stackViewOf(source, spec);
      visibility = visibilityOf(view, index, out.layerPath, (n) => layerWhat(spec.image, spec.layers[n]?.role ?? null, n));
    }
    const existing = out.containers.find((x) => x.id === c.id && x.index === -1);
    if (existing) {
      existing.role = role;
      existing.index = index;
      existing.visibility = visibility;
    } else out.containers.push({ id: c.id, name: c.name, state: c.state, role, index, visibility });
  }
}

function layerWhat(image: ImageInfo | null, role: string | null, n: number): string {
  if (role === 'init') return 'the container\'s init layer';
  if (role === 'rw') return 'the container\'s RW layer';
  const by = image?.layers[n]?.createdBy;
  return by ? `layer ${n}: ${by.replace(/^\/bin\/sh -c (#\(nop\) )?/, '').slice(0, 100)}` : `layer ${n}`;
}

/** Whether the version layer `index` wrote for `layerPath` is what the stack's final view shows. */
export function visibilityOf(view: StackView, index: number, layerPath: string, what: (n: number) => string = (n) => `layer ${n}`): Visibility {
  const id = view.lookup(layerPath);
  const v = id < 0 ? -1 : view.versionIn(id, index);
  if (v < 0) return { state: 'absent' };
  if (view.store.isWhiteout(v)) return { state: 'whiteout' };
  const until = view.until(v);
  if (until === Infinity) return { state: 'visible' };
  return { state: 'hidden', hiddenBy: { layer: until, reason: view.endReason(v) ?? 'overwritten', what: what(until) } };
}
