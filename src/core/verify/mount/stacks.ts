import type { Source } from '../../model/source.js';
import type { ContainerInfo, ImageInfo, LayerInfo, LayerLayout } from '../../model/types.js';
import type { IdMap } from '../../model/idmap.js';
import type { LayerTable } from '../../model/layer-table.js';
import type { StackView } from '../../analysis/stack.js';
import { modelOf } from '../../analysis/model.js';
import { Evidence } from '../../sources/evidence.js';
import type { LowerDir } from './options.js';

/**
 * Which layer stacks the mount check mounts, and how each layer reaches the kernel.
 *
 * - An image at layer N: image layers 0..N; lower order N, N-1, ..., 0 (nearest first). Stacks are keyed by
 *   the chainID of layer N, so a base shared by several images is mounted once.
 * - A container: its RW layer, its init layer, then the image top..base (moby's own `lower` order).
 */

export interface StackLayerRef {
  role: 'image' | 'init' | 'rw';
  /** Index in the image (image layers only). */
  index: number | null;
  chainId: string | null;
  diffId: string | null;
  /** overlay2 dir name (cache-id, mount-id, mount-id-init), for data roots. */
  overlayId: string | null;
  /** Host path of the layer's diff dir (data roots); null for archives or when it is missing. */
  dir: string | null;
  /** How `dir` holds the layer (LayerInfo.layout; absent = 'diff'). */
  layout?: LayerLayout;
  /** The store's tar-split of the layer (image layers of stores that keep one). */
  tarSplit?: string | null;
  /** LayerInfo.idMap (image layers), ContainerInfo.idMap (init and RW). */
  idMap?: IdMap | null;
  /** LayerInfo.whiteoutFiles (image layers). */
  whiteoutFiles?: boolean;
}

export interface StackSpec {
  /** `image:<chainId of the top layer>` or `container:<id>`. */
  id: string;
  kind: 'image' | 'container';
  label: string;
  image: ImageInfo | null;
  container: ContainerInfo | null;
  /** For image stacks: index of the top layer. */
  top: number | null;
  /** Base first. */
  layers: StackLayerRef[];
}

function imageLabel(image: ImageInfo): string {
  return image.tags[0] ?? image.id.slice(7, 19);
}

/** Stacks of one image: every layer's top-of-stack (`every`), or only the image's top. */
export function imageStacks(image: ImageInfo, every: boolean): StackSpec[] {
  const out: StackSpec[] = [];
  const refs: StackLayerRef[] = image.layers.map(imageLayerRef);
  const from = every ? 0 : image.layers.length - 1;
  for (let n = Math.max(0, from); n < image.layers.length; n++) {
    out.push({ id: `image:${image.layers[n]!.chainId}`, kind: 'image', label: `${imageLabel(image)} layer ${n}`, image, container: null, top: n, layers: refs.slice(0, n + 1) });
  }
  return out;
}

function imageLayerRef(l: LayerInfo): StackLayerRef {
  return { role: 'image', index: l.index, chainId: l.chainId, diffId: l.diffId, overlayId: l.cacheId, dir: l.location, layout: l.layout, tarSplit: l.tarSplit ?? null, idMap: l.idMap ?? null, whiteoutFiles: l.whiteoutFiles ?? false };
}

/** The id map the kernel's view of a stack is read through: its top layer's (one store's layers share theirs). */
export function stackIdMap(spec: StackSpec): IdMap | null {
  for (let i = spec.layers.length - 1; i >= 0; i--) if (spec.layers[i]!.idMap) return spec.layers[i]!.idMap!;
  return null;
}

export function containerStack(source: Source, c: ContainerInfo): StackSpec {
  const image = source.images.find((i) => i.id === c.image) ?? null;
  const layers: StackLayerRef[] = image ? image.layers.map(imageLayerRef) : [];
  if (c.initId || c.initDir) layers.push({ role: 'init', index: null, chainId: null, diffId: null, overlayId: c.initId, dir: c.initDir, layout: c.layout, idMap: c.idMap ?? null });
  layers.push({ role: 'rw', index: null, chainId: null, diffId: null, overlayId: c.mountId, dir: c.rwDir, layout: c.layout, idMap: c.idMap ?? null });
  return { id: `container:${c.id}`, kind: 'container', label: `container ${c.name}`, image, container: c, top: null, layers };
}

/**
 * A stack's view from the source's shared model (each layer read once, each chain stacked once): for an image
 * stack at layer N, the whole image's view (ask it at layer `top`); for a container, its own. `tables` are the
 * stack's layers, base first, as spec.layers lists them.
 */
export async function stackViewOf(source: Source, spec: StackSpec): Promise<{ view: StackView; top: number; tables: LayerTable[] }> {
  const model = modelOf(source);
  if (spec.kind === 'image') {
    const view = await model.imageView(spec.image!);
    const top = spec.top ?? view.top;
    return { view, top, tables: view.nodes.slice(0, top + 1).map((n) => n.table) };
  }
  const view = (await model.container(spec.container!)).view;
  return { view, top: view.top, tables: view.nodes.map((n) => n.table) };
}

const LINK_ID = /^[A-Z2-7]{26}$/;
const OVERLAY_ID = /^[0-9a-f]{64}(-init)?$/;

/**
 * Lower dirs of a data-root stack, nearest first, each with its short `l/<link>` name when the evidence
 * backs it: overlay2/<id>/link must hold a valid link id, and overlay2/l/<link> must be a symlink whose target
 * is exactly `../<id>/diff`, with overlay2/l and overlay2/<id>/diff real directories (never trust the
 * evidence: a planted l/<link> would make the kernel mount some other directory). Why a short name was refused
 * is returned in `notes`; the short form is only needed, and only fails, for stacks too deep for a page.
 */
export function dataRootLowers(root: string, spec: StackSpec): { lowers: LowerDir[]; shortCwd: string; notes: string[]; missing: string[] } {
  const ev = new Evidence(root.replace(/\/+$/, '') || '/');
  const notes: string[] = [];
  const missing: string[] = [];
  const lowers: LowerDir[] = [];
  const overlay2 = ev.path('overlay2') + '/';
  for (const l of stackedLayers(spec)) {
    if (!l.dir) {
      missing.push(l.role === 'image' ? `layer ${l.index} (${l.chainId})` : `${l.role} layer`);
      continue;
    }
    lowers.push({ dir: l.dir, short: l.dir.startsWith(overlay2) ? shortName(ev, l, notes) : null });
  }
  return { lowers, shortCwd: ev.path('overlay2'), notes, missing };
}

/**
 * The layers of a data-root stack the kernel is given, nearest first. A layer kept as a whole tree ('full':
 * vfs, btrfs, the first overlay driver's root) is the whole file system as of itself: the layers below it add
 * nothing, so it is the last lower. Over one, a container's upper dir is mounted as the first overlay driver
 * mounts it: the RW upper alone over the image's top tree (its init layer's upper was copied into it when it
 * was made; mounting the init upper below too would bring back init files the container deleted).
 */
export function stackedLayers(spec: StackSpec): StackLayerRef[] {
  const out: StackLayerRef[] = [];
  const fullBelow = spec.layers.some((l) => l.role === 'image' && l.layout === 'full');
  const rw = spec.layers.find((l) => l.role === 'rw');
  for (const l of [...spec.layers].reverse()) {
    if (l.role === 'init' && fullBelow && rw && (rw.layout ?? 'diff') === 'diff') continue;
    out.push(l);
    if (l.layout === 'full') break;
  }
  return out;
}

function shortName(ev: Evidence, l: StackLayerRef, notes: string[]): string | null {
  const id = l.overlayId;
  const what = l.role === 'image' ? `layer ${l.index}` : `${l.role} layer`;
  if (!id || !OVERLAY_ID.test(id)) {
    notes.push(`${what}: no valid overlay2 id; no short name`);
    return null;
  }
  try {
    const link = ev.readText(1024, 'overlay2', id, 'link');
    if (link === null || !LINK_ID.test(link)) {
      notes.push(`${what}: overlay2/${id}/link ${link === null ? 'is missing' : 'is not 26 base32 characters'}; no short name`);
      return null;
    }
    if (!ev.isDir('overlay2', 'l')) {
      notes.push('overlay2/l is not a real directory; no short names');
      return null;
    }
    const target = ev.readlink('overlay2', 'l', link);
    if (target !== `../${id}/diff`) {
      notes.push(`${what}: overlay2/l/${link} points to ${JSON.stringify(target)}, not ../${id}/diff; refused`);
      return null;
    }
    if (!ev.isDir('overlay2', id, 'diff')) {
      notes.push(`${what}: overlay2/${id}/diff is not a real directory; refused`);
      return null;
    }
    return `l/${link}`;
  } catch (err) {
    notes.push(`${what}: ${(err as Error).message}; no short name`);
    return null;
  }
}
