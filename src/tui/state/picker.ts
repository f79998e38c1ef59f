import type { ImageInfo } from '../../core/model/types.js';
import type { State } from './types.js';

const pickerCache = new WeakMap<ImageInfo[], { all: ImageInfo[]; shown: ImageInfo[] }>();

/**
 * The images the picker lists: tagged ones first (by name), then untagged ones; without `showAllImages`,
 * untagged images whose top layer is a layer of a tagged image (the builder's intermediate images) are left
 * out, as `docker images` leaves them out without -a.
 */
export function pickerImages(s: Pick<State, 'images' | 'showAllImages'>): ImageInfo[] {
  let c = pickerCache.get(s.images);
  if (!c) {
    const name = (i: ImageInfo) => i.tags[0] ?? i.digests[0] ?? '';
    // A source of several stores (--image-root) lists each store's images together, in the order of its stores.
    const store = (i: ImageInfo) => i.store?.relative ?? '';
    const all = [...s.images].sort((a, b) => (store(a) < store(b) ? -1 : store(a) > store(b) ? 1 : 0) || Number(!a.tags.length) - Number(!b.tags.length) || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
    const underTagged = new Set<string>();
    for (const img of s.images) if (img.tags.length || img.digests.length) for (const l of img.layers) underTagged.add(l.chainId);
    const shown = all.filter((i) => i.tags.length || i.digests.length || i.layers.length === 0 || !underTagged.has(i.layers[i.layers.length - 1]!.chainId));
    c = { all, shown };
    pickerCache.set(s.images, c);
  }
  return s.showAllImages ? c.all : c.shown;
}

