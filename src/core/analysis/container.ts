import type { Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo, LayerInfo, Problem } from '../model/types.js';
import type { LayerTable } from '../model/layer-table.js';
import { dockerDiff, layerDiff, type DockerChange } from './docker-diff.js';
import { summarize, type ImageAnalysis } from './analyze.js';
import { modelOf } from './model.js';
import { containerRisks, type ContainerRisks } from './risk.js';
import type { StackView } from './stack.js';

export interface ContainerAnalysis {
  container: ContainerInfo;
  image: ImageInfo | null;
  /** The container's stack: image layers, then its init layer when it has one, then its RW layer (the top). */
  view: StackView;
  rw: LayerTable;
  /** Exactly what `docker diff` reports (as a set; the engine's order is random). */
  changes: DockerChange[];
  counts: { added: number; changed: number; deleted: number };
  problems: Problem[];
  /** What gives the container power over its host (null when the source keeps no docker-inspect data for it). */
  risks: ContainerRisks | null;
}

/** Stack a container on the source's shared chain tree (its image's layers are read once for all). */
export async function analyzeContainer(source: Source, container: ContainerInfo): Promise<ContainerAnalysis> {
  return modelOf(source).container(container);
}

/** The figures of a container whose stack is built. */
export function analyzeContainerView(container: ContainerInfo, image: ImageInfo | null, view: StackView, extraProblems: Problem[]): ContainerAnalysis {
  const problems: Problem[] = [...extraProblems];
  const rw = view.table(view.top);
  // The image's layer problems belong to the image; the container adds those of its own layers.
  for (const n of view.nodes.slice(image ? image.layers.length : 0)) problems.push(...n.table.problems);
  // The engine's diff leaves some paths out (podman's placeholders): so do we, to show what it shows.
  const hides = container.diffHides?.length ? new Set(container.diffHides) : null;
  const all = container.diffMethod === 'layer' ? layerDiff(view, rw) : dockerDiff(view, rw);
  const changes = hides ? all.filter((c) => !hides.has(c.path)) : all;
  const counts = { added: 0, changed: 0, deleted: 0 };
  for (const c of changes) {
    if (c.kind === 'A') counts.added++;
    else if (c.kind === 'C') counts.changed++;
    else counts.deleted++;
  }
  return { container, image, view, rw, changes, counts, problems, risks: containerRisks(container) };
}

const stacks = new WeakMap<ContainerAnalysis, ImageAnalysis>();

/** What the layer list says of a container's own layers (they have no history entry, no diffID, no chainID). */
export const INIT_LAYER_COMMAND = 'container init layer';
export const RW_LAYER_COMMAND = 'container RW layer';

/**
 * The container's whole stack (image layers, init layer, RW layer) as an image analysis, so that every view of
 * an image (layer list, trees with their marks, hidden bytes, search) shows a container too. Its own layers
 * get a LayerInfo that says what they are; the image ID is the container's, prefixed so that it is never taken
 * for an image's. Hidden bytes include what the container deleted or overwrote: still on disk in the image.
 */
export function containerStackAnalysis(ca: ContainerAnalysis): ImageAnalysis {
  let a = stacks.get(ca);
  if (a) return a;
  const c = ca.container;
  const below = ca.image?.layers ?? [];
  const own = ca.view.nodes.length - below.length;
  const ownLayer = (index: number, rw: boolean): LayerInfo => ({
    index,
    diffId: '',
    chainId: '',
    cacheId: rw ? c.mountId : c.initId,
    createdBy: rw ? RW_LAYER_COMMAND : INIT_LAYER_COMMAND,
    created: rw ? c.created : null,
    comment: rw ? 'what the container did (docker diff reads it)' : "the engine's placeholders: /etc/hosts, /etc/resolv.conf, /etc/hostname, /dev/...",
    location: rw ? c.rwDir : c.initDir,
    storedSize: null,
    layout: c.layout,
  });
  const layers = [...below.slice(0, ca.view.nodes.length)];
  for (let i = 0; i < own; i++) layers.push(ownLayer(layers.length, i === own - 1));
  const image: ImageInfo = {
    id: `container:${c.id}`,
    tags: [c.name],
    digests: [],
    created: c.created,
    os: ca.image?.os ?? null,
    architecture: ca.image?.architecture ?? null,
    layers,
    emptyHistory: 0,
    config: ca.image?.config ?? {},
  };
  // The container's problems (its own layers', its config's) are the analysis's; the image's stay the image's.
  a = summarize(image, ca.view, []);
  a = { ...a, problems: ca.problems };
  stacks.set(ca, a);
  return a;
}
