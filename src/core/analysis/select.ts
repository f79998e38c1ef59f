import type { Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo } from '../model/types.js';
import { NotFoundError } from '../model/errors.js';

/** Familiar form of a reference: `docker.io/library/nginx:latest` → `nginx:latest`, `docker.io/x/y` → `x/y`. */
export function familiarRef(ref: string): string {
  return ref.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}

function withDefaultTag(ref: string): string {
  const lastSlash = ref.lastIndexOf('/');
  return ref.includes('@') || ref.slice(lastSlash + 1).includes(':') ? ref : ref + ':latest';
}

/** Resolve an image reference as docker does: a tag (`:latest` implied), a full ID, or a unique ID prefix. */
export function findImage(source: Pick<Source, 'images'>, ref: string): ImageInfo {
  const want = withDefaultTag(familiarRef(ref));
  const byTag = source.images.filter((i) => i.tags.some((t) => withDefaultTag(familiarRef(t)) === want) || i.digests.some((d) => familiarRef(d) === familiarRef(ref)));
  if (byTag.length === 1) return byTag[0]!;
  const hex = ref.replace(/^sha256:/, '').toLowerCase();
  if (/^[0-9a-f]{1,64}$/.test(hex)) {
    // The config digest (classic store), or, on the containerd store where `docker images` shows the
    // manifest/index digest, any digest the image is known by.
    const byId = source.images.filter((i) => i.id.slice(7).startsWith(hex) || i.digests.some((d) => d.replace(/^.*@/, '').replace(/^sha256:/, '').startsWith(hex)));
    if (byId.length === 1) return byId[0]!;
    if (byId.length > 1) throw new NotFoundError('image.ambiguous', `image ID prefix ${JSON.stringify(ref)} matches ${byId.length} images${inStores(byId) || '; give more digits'}`);
  }
  if (byTag.length > 1) throw new NotFoundError('image.ambiguous', `reference ${JSON.stringify(ref)} matches ${byTag.length} images${inStores(byTag)}`);
  const known = source.images.flatMap((i) => (i.tags.length ? i.tags : [i.id.slice(7, 19)])).slice(0, 12);
  throw new NotFoundError('image.not-found', `no image ${JSON.stringify(ref)} in this source${known.length ? `; it holds: ${known.join(', ')}` : ' (it holds no images)'}`);
}

/** Resolve a container by name (with or without '/'), full ID or unique ID prefix. */
export function findContainer(source: Pick<Source, 'containers'>, ref: string): ContainerInfo {
  const name = ref.replace(/^\//, '');
  const byName = source.containers.filter((c) => c.name === name);
  // One name in two stores (--image-root: two engines, or a copy of a store): never pick one silently.
  if (byName.length > 1) throw new NotFoundError('container.ambiguous', `container name ${JSON.stringify(name)} matches ${byName.length} containers${inStores(byName)}`);
  if (byName[0]) return byName[0];
  if (/^[0-9a-f]{1,64}$/.test(ref)) {
    const byId = source.containers.filter((c) => c.id.startsWith(ref));
    if (byId.length === 1) return byId[0]!;
    if (byId.length > 1) throw new NotFoundError('container.ambiguous', `container ID prefix ${JSON.stringify(ref)} matches ${byId.length} containers`);
  }
  const known = source.containers.map((c) => c.name).slice(0, 12);
  throw new NotFoundError('container.not-found', `no container ${JSON.stringify(ref)} in this source${known.length ? `; it holds: ${known.join(', ')}` : ' (it holds no containers)'}`);
}

/**
 * For matches in different stores of one source (--image-root): which stores, and how to name one. Empty when
 * the matches are not from several stores.
 */
function inStores(matches: { store?: { label: string; location: string } }[]): string {
  const stores = [...new Map(matches.filter((m) => m.store).map((m) => [m.store!.location, m.store!])).values()];
  if (stores.length < 2) return '';
  return ` in ${stores.length} stores (${stores.map((st) => `${st.label}: ${st.location}`).join(', ')}); name one store as SOURCE to choose`;
}
