/**
 * The proof that sharing changes nothing: every image (and container) of a source, stacked on the source's
 * shared chain tree, gives exactly what stacking it alone on a store of its own gives, layer by layer:
 * figures, hidden files, each layer's changes, the merged view at every layer, docker diff.
 */
import assert from 'node:assert/strict';
import { analyzeTables, stackTables } from '../../src/core/analysis/analyze.js';
import { dockerDiff } from '../../src/core/analysis/docker-diff.js';
import { modelOf } from '../../src/core/analysis/model.js';
import { layerChangeRows, mergedRows } from '../../src/core/analysis/views.js';
import type { Source } from '../../src/core/model/source.js';

export interface SharingReport {
  images: number;
  containers: number;
  /** Chain nodes the shared store applied, and layers the images and containers have in all. */
  applies: number;
  layersInAll: number;
}

export async function assertSharingChangesNothing(source: Source, label: string): Promise<SharingReport> {
  const model = modelOf(source);
  // Everything at once, as the report does: the model decides what is shared.
  const images = await Promise.all(source.images.map((i) => model.image(i)));
  const containers = await Promise.all(source.containers.map((c) => model.container(c)));
  let layersInAll = 0;
  for (const a of images) {
    const what = `${label} ${a.image.tags[0] ?? a.image.id}`;
    layersInAll += a.tables.length;
    const alone = analyzeTables(a.image, a.tables);
    assert.deepEqual(a.layers, alone.layers, `${what}: per-layer figures`);
    assert.deepEqual([a.bytes, a.visibleBytes, a.hiddenBytes, a.efficiency], [alone.bytes, alone.visibleBytes, alone.hiddenBytes, alone.efficiency], `${what}: totals`);
    assert.deepEqual(a.hidden, alone.hidden, `${what}: hidden files`);
    for (let n = 0; n < a.tables.length; n++) {
      assert.deepEqual(mergedRows(a.view, n), mergedRows(alone.view, n), `${what}: merged view at layer ${n}`);
      assert.deepEqual(layerChangeRows(a, n), layerChangeRows(alone, n), `${what}: changes of layer ${n}`);
    }
  }
  for (const c of containers) {
    const what = `${label} container ${c.container.name}`;
    const tables = c.view.nodes.map((n) => n.table);
    layersInAll += tables.length;
    const alone = stackTables(tables);
    assert.deepEqual(c.changes, dockerDiff(alone), `${what}: docker diff`);
    assert.deepEqual(mergedRows(c.view), mergedRows(alone), `${what}: merged view`);
  }
  return { images: images.length, containers: containers.length, applies: model.store.stats.applies, layersInAll };
}
