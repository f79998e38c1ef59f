import type { ReadOptions, Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo } from '../model/types.js';
import { LayerTable } from '../model/layer-table.js';
import type { PathTable } from '../model/paths.js';
import { NotFoundError } from '../model/errors.js';
import { problem } from '../model/types.js';
import { walkPool } from './walk/pool.js';

/**
 * One read per location, cached (images share layers); a location asked for again by someone waiting (a
 * priority) moves its queued reads up the walk queue. A missing location is a table holding one error.
 */
export function cachedLocations(paths: PathTable, missing: string, read: (location: string, opts?: ReadOptions) => Promise<LayerTable>) {
  const cache = new Map<string, Promise<LayerTable>>();
  return {
    read(location: string | null, what: string, opts?: ReadOptions): Promise<LayerTable> {
      if (!location) return Promise.resolve(LayerTable.empty(paths, [problem('error', 'layer.missing', `${what}: ${missing}`, null)]));
      let p = cache.get(location);
      if (p && opts?.priority) walkPool().raise(location, opts.priority);
      if (!p) cache.set(location, (p = read(location, opts)));
      return p;
    },
    clear: () => cache.clear(),
  };
}

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

/**
 * `readLayer` / `readContainerLayer` of a source made of several (a data root's two stores, the stores of a
 * disk): each image and container is read by the store it came from.
 */
export function routedAccess(owner: ReadonlyMap<ImageInfo, Source>, cOwner: ReadonlyMap<ContainerInfo, Source>): Pick<Source, 'readLayer' | 'readContainerLayer'> {
  return {
    readLayer(image, index, ro) {
      const s = owner.get(image);
      return s ? s.readLayer(image, index, ro) : Promise.reject(new NotFoundError('image.not-found', `image ${image.id} is not from this source`));
    },
    readContainerLayer(c, which, ro) {
      const s = cOwner.get(c);
      return s ? s.readContainerLayer(c, which, ro) : Promise.reject(new NotFoundError('container.not-found', `container ${c.name} is not from this source`));
    },
  };
}
