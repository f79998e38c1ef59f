import type { ImageAnalysis } from '../analysis/analyze.js';
import { displayPath } from '../model/path.js';
import { NotFoundError } from '../model/errors.js';
import type { Attrs } from '../model/types.js';
import { contentPath } from './content.js';

/**
 * Which bytes `cat PATH --layer N` prints: the version of PATH visible after layer N, wherever it was written
 * (N itself or a layer below). A version a later layer deleted or overwrote is still visible at N: that is how
 * an investigator reads what a build removed. Nothing here reads content; it says where to read it from.
 */
export interface CatTarget {
  /** The layer that wrote the version (its bytes are stored there). */
  layer: number;
  /** The path whose bytes to read in that layer (a hardlink entry's are its target's). */
  storedAt: string;
  attrs: Attrs;
}

export function catTarget(a: ImageAnalysis, path: string, layer: number): CatTarget {
  const view = a.view;
  const shown = '/' + displayPath(path);
  const id = view.lookup(path);
  const v = id < 0 ? -1 : view.versionAt(id, layer);
  if (v < 0) throw new NotFoundError('cat.not-found', `${shown} is not in the tree at layer ${layer}${history(a, id, layer)}`);
  const attrs = view.store.attrs(v);
  if (attrs.type === 'dir') throw new NotFoundError('cat.not-a-file', `${shown} is a directory at layer ${layer} (files lists it; extract copies it out)`);
  if (attrs.type === 'symlink') throw new NotFoundError('cat.not-a-file', `${shown} is a symbolic link to ${JSON.stringify(displayPath(attrs.linkname ?? ''))} at layer ${layer}: cat the target's path (links are never followed)`);
  if (attrs.type !== 'file' && attrs.type !== 'hardlink') throw new NotFoundError('cat.not-a-file', `${shown} is a ${attrs.type} at layer ${layer}: it has no content`);
  return { layer: view.layerOf(v), storedAt: contentPath(path, attrs), attrs };
}

/** Where else the path had a version, so the message can say which --layer shows it. */
function history(a: ImageAnalysis, id: number, layer: number): string {
  if (id < 0) return ': no layer of this stack ever wrote it';
  const puts = a.view.versions(id).filter((v) => !a.view.store.isWhiteout(v) && !a.view.store.isImplicit(v));
  if (!puts.length) return ': no layer of this stack ever wrote it';
  const at = puts.map((v) => a.view.layerOf(v));
  const earlier = at.filter((l) => l < layer);
  const later = at.filter((l) => l > layer);
  if (earlier.length) return `: it was removed at or before layer ${layer}; layer ${earlier[earlier.length - 1]} wrote the last version before it (--layer ${earlier[earlier.length - 1]})`;
  return `: it is first written by layer ${later[0]} (--layer ${later[0]})`;
}
