/**
 * Hand-made sources for tests: layers written as LayerChanges (objects, easy to read in a test), served as the
 * LayerTables every real source returns, interned in one PathTable per source. Each changeset becomes one table
 * (so that layers shared between images are one layer, as with a real source's cache).
 */
import { LayerTable } from '../../src/core/model/layer-table.js';
import { PathTable } from '../../src/core/model/paths.js';
import type { Source } from '../../src/core/model/source.js';
import type { ContainerInfo, ImageInfo, LayerChanges } from '../../src/core/model/types.js';

export interface ChangesSource extends Omit<Source, 'paths' | 'readLayer' | 'readContainerLayer'> {
  readLayer(image: ImageInfo, index: number): Promise<LayerChanges>;
  readContainerLayer(container: ContainerInfo, which: 'rw' | 'init'): Promise<LayerChanges>;
}

export function tableSource(src: ChangesSource): Source & { tablesMade: () => number } {
  const paths = new PathTable();
  const tables = new Map<LayerChanges, LayerTable>();
  const table = (c: LayerChanges) => {
    let t = tables.get(c);
    if (!t) tables.set(c, (t = LayerTable.fromEntries(paths, c.entries, c.problems)));
    return t;
  };
  return {
    /** Changesets turned into tables so far (each is one read of a layer). */
    tablesMade: () => tables.size,
    ...src,
    paths,
    readLayer: async (image, index) => table(await src.readLayer(image, index)),
    readContainerLayer: async (c, which) => table(await src.readContainerLayer(c, which)),
  };
}

/** One changeset as a table of its own. */
export function tableOf(c: LayerChanges, paths = new PathTable()): LayerTable {
  return LayerTable.fromEntries(paths, c.entries, c.problems);
}
