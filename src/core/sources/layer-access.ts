import type { Source } from '../model/source.js';
import type { LayerChanges } from '../model/types.js';
import { NotFoundError } from '../model/errors.js';

/**
 * `readLayer` / `readContainerLayer` for sources whose layers live at a location each (a diff dir, a snapshot,
 * a blob): both reduce to reading one location, which `read` does (and caches).
 */
export function layerAccess(read: (location: string | null, what: string) => Promise<LayerChanges>): Pick<Source, 'readLayer' | 'readContainerLayer'> {
  return {
    readLayer(image, index) {
      const layer = image.layers[index];
      if (!layer) return Promise.reject(new NotFoundError('layer.not-found', `image ${image.id} has no layer ${index}`));
      return read(layer.location, `layer ${index} (${layer.chainId})`);
    },
    readContainerLayer(container, which) {
      return read(which === 'rw' ? container.rwDir : container.initDir, `container ${container.name} ${which} layer`);
    },
  };
}
