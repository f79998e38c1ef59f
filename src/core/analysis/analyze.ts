import type { Source } from '../model/source.js';
import type { ImageInfo, LayerChanges, Problem } from '../model/types.js';
import { LayerTable } from '../model/layer-table.js';
import { PathTable } from '../model/paths.js';
import { StackStore, type ApplyCounts, type ChainNode, type HiddenEvent, type StackView } from './stack.js';
import { modelOf } from './model.js';

/** Per-layer figures (the report's `layers[]`): what applying the layer did, and what of it ended up hidden. */
export interface LayerSummary extends ApplyCounts {
  index: number;
  /** Of `bytes`, those not visible in the final image. */
  hiddenBytes: number;
}

export interface ImageAnalysis {
  image: ImageInfo;
  /** The image's stack: every question about a path at a layer. */
  view: StackView;
  /** Each layer's rows, base first (shared with every other image that has the layer). */
  tables: LayerTable[];
  layers: LayerSummary[];
  bytes: number;
  visibleBytes: number;
  hiddenBytes: number;
  /** visibleBytes / bytes; 1 when bytes is 0 (an empty image wastes nothing). */
  efficiency: number;
  /** Largest first. */
  hidden: HiddenEvent[];
  problems: Problem[];
}

/** Read an image's layers (each once per source) and stack them on the source's shared chain tree. */
export async function analyzeImage(source: Source, image: ImageInfo): Promise<ImageAnalysis> {
  return modelOf(source).image(image);
}

/** The figures of an image whose stack is built (`top` its top layer's node, null for no layers). */
export function summarize(image: ImageInfo, view: StackView, extraProblems: Problem[] = []): ImageAnalysis {
  const layers: LayerSummary[] = view.nodes.map((n, i) => ({ index: i, ...n.counts!, hiddenBytes: 0 }));
  const problems: Problem[] = [...extraProblems];
  for (const n of view.nodes) for (const p of n.table.problems) problems.push(p);
  const hidden = view.hidden();
  for (const h of hidden) layers[h.layer]!.hiddenBytes += h.bytes;
  const bytes = layers.reduce((a, l) => a + l.bytes, 0);
  const hiddenBytes = layers.reduce((a, l) => a + l.hiddenBytes, 0);
  const visibleBytes = bytes - hiddenBytes;
  hidden.sort((a, b) => b.bytes - a.bytes || a.layer - b.layer || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { image, view, tables: view.nodes.map((n) => n.table), layers, bytes, visibleBytes, hiddenBytes, efficiency: bytes === 0 ? 1 : visibleBytes / bytes, hidden, problems };
}

/**
 * Stack given tables (base first) on a store of their own and derive the figures. For tests and for stacks that
 * are not a source's images (an image as built, from tar-split). Every table must use one PathTable.
 */
export function analyzeTables(image: ImageInfo, tables: LayerTable[]): ImageAnalysis {
  return summarize(image, stackTables(tables));
}

/** A private stack of the given tables (base first). */
export function stackTables(tables: readonly LayerTable[], paths = tables[0]?.paths ?? new PathTable()): StackView {
  const store = new StackStore(paths);
  let top: ChainNode | null = null;
  tables.forEach((t, i) => {
    top = store.chain(top, String(i), t);
    store.apply(top);
  });
  return store.view(top);
}

/** Tables from changesets in object form (tests, hand-made layers), interned in one PathTable. */
export function tablesOf(changes: readonly LayerChanges[], paths = new PathTable()): LayerTable[] {
  return changes.map((c) => LayerTable.fromEntries(paths, c.entries, c.problems));
}

/** analyzeTables for changesets in object form. */
export function analyzeChanges(image: ImageInfo, changes: readonly LayerChanges[]): ImageAnalysis {
  return analyzeTables(image, tablesOf(changes));
}
