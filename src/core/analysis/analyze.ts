import type { Source } from '../model/source.js';
import type { ImageInfo, LayerChanges, Problem } from '../model/types.js';
import { LayerStack, type ApplyCounts, type HiddenEvent } from './stack.js';

/** Per-layer figures (the report's `layers[]`): what applying the layer did, and what of it ended up hidden. */
export interface LayerSummary extends ApplyCounts {
  index: number;
  /** Of `bytes`, those not visible in the final image. */
  hiddenBytes: number;
}

export interface ImageAnalysis {
  image: ImageInfo;
  stack: LayerStack;
  /** The changesets as read, per layer (shared with the source's cache). */
  changes: LayerChanges[];
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

/** Read every layer of an image from its source and stack them. */
export async function analyzeImage(source: Source, image: ImageInfo): Promise<ImageAnalysis> {
  const changes: LayerChanges[] = [];
  for (let i = 0; i < image.layers.length; i++) changes.push(await source.readLayer(image, i));
  return analyzeChanges(image, changes);
}

/** Pure: stack the given changesets (base first) and derive the figures. */
export function analyzeChanges(image: ImageInfo, changes: LayerChanges[]): ImageAnalysis {
  const stack = new LayerStack();
  const layers: LayerSummary[] = [];
  const problems: Problem[] = [];
  for (let i = 0; i < changes.length; i++) {
    const lc = changes[i]!;
    const s: LayerSummary = { index: i, ...stack.apply(lc.entries), hiddenBytes: 0 };
    layers.push(s);
    for (const p of lc.problems) problems.push(p);
  }
  for (const h of stack.hidden) layers[h.layer]!.hiddenBytes += h.bytes;
  const bytes = layers.reduce((a, l) => a + l.bytes, 0);
  const hiddenBytes = layers.reduce((a, l) => a + l.hiddenBytes, 0);
  const visibleBytes = bytes - hiddenBytes;
  const hidden = [...stack.hidden].sort((a, b) => b.bytes - a.bytes || a.layer - b.layer || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { image, stack, changes, layers, bytes, visibleBytes, hiddenBytes, efficiency: bytes === 0 ? 1 : visibleBytes / bytes, hidden, problems };
}
