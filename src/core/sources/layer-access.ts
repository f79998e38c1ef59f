import type { ReadOptions, Source } from '../model/source.js';
import type { LayerTable } from '../model/layer-table.js';
import { NotFoundError } from '../model/errors.js';

/**
 * `readLayer` / `readContainerLayer` for sources whose layers live at a location each (a diff dir, a snapshot,
 * a blob): both reduce to reading one location, which `read` does (and caches).
 */
export function layerAccess(read: (location: string | null, what: string, opts?: ReadOptions) => Promise<LayerTable>): Pick<Source, 'readLayer' | 'readContainerLayer'> {
  return {
    readLayer(image, index, opts) {
      const layer = image.layers[index];
      if (!layer) return Promise.reject(new NotFoundError('layer.not-found', `image ${image.id} has no layer ${index}`));
      return read(layer.location, `layer ${index} (${layer.chainId})`, opts);
    },
    readContainerLayer(container, which, opts) {
      return read(which === 'rw' ? container.rwDir : container.initDir, `container ${container.name} ${which} layer`, opts);
    },
  };
}
