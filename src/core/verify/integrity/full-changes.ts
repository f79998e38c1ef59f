import type { LayerTable } from '../../model/layer-table.js';
import { PathTable } from '../../model/paths.js';
import type { Source } from '../../model/source.js';
import type { ImageInfo } from '../../model/types.js';
import { readTreeDiff } from '../../sources/walk/tree-diff.js';

/**
 * A whole-tree layer's changes against its parent's tree for integrity checking: the engine's naive diff, and
 * also every file whose bytes differ from the parent's copy although its size and mtime do not (a copy rewritten
 * with its times put back: the naive diff, so the source's own reading, misses it; the layer's tar-split does
 * not cover it, as the layer did not change it; yet every container of the image sees the new bytes).
 * Without both dirs on disk, the source's reading (which says what is missing).
 */
export function fullTreeChanges(source: Source, img: ImageInfo, index: number): () => Promise<LayerTable> {
  const dir = img.layers[index]?.location ?? null;
  const parent = index > 0 ? (img.layers[index - 1]?.location ?? null) : null;
  if (dir === null || index === 0 || parent === null) return () => source.readLayer(img, index);
  return () => readTreeDiff(dir, parent, new PathTable(), { compareContent: true });
}
