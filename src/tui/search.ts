import type { ImageAnalysis } from '../core/analysis/analyze.js';
import { userRegExp } from './regex.js';
import type { VersionInfo } from '../core/analysis/stack.js';
import { ROOT_PATH } from '../core/model/paths.js';
import { displayPath, textToPath } from '../core/model/path.js';

/** One path that matched a search, with its whole history across the layers. */
export interface SearchHit {
  path: string;
  versions: VersionInfo[];
}

export interface SearchResult {
  query: string;
  regex: boolean;
  hits: SearchHit[];
  /** More paths matched than were kept. */
  truncated: boolean;
  /** A regex that did not compile. */
  error: string | null;
}

export const SEARCH_LIMIT = 1000;

/** Bytes that displayPath escapes or decodes (controls, DEL, non-ASCII, backslash). */
const NEEDS_ESCAPE = /[\x00-\x1f\x7f-\xff\\]/;

/**
 * Every path that any layer ever wrote or deleted whose name matches: a substring (of the raw bytes, as typed in
 * UTF-8, or of the escaped rendering) or a regular expression (against the escaped rendering `/a/b`).
 */
export function searchPaths(a: ImageAnalysis, query: string, regex: boolean, limit = SEARCH_LIMIT): SearchResult {
  const res: SearchResult = { query, regex, hits: [], truncated: false, error: null };
  if (query === '') return res;
  // Most names render as themselves: escape only those with bytes that displayPath would change.
  const shown = (p: string) => '/' + (NEEDS_ESCAPE.test(p) ? displayPath(p) : p);
  let test: (path: string) => boolean;
  if (regex) {
    let re: RegExp;
    try {
      re = userRegExp(query);
    } catch (err) {
      res.error = (err as Error).message;
      return res;
    }
    test = (p) => re.test(shown(p));
  } else {
    const raw = textToPath(query);
    test = (p) => ('/' + p).includes(raw) || (NEEDS_ESCAPE.test(p) && shown(p).includes(query));
  }
  const view = a.view;
  const paths = view.paths;
  const mine = touched(a);
  // Depth-first in walk order over the paths this image's layers wrote (and their parents).
  const stack: [number, string][] = [];
  const kids = (id: number, path: string) => {
    const c: number[] = [];
    for (let k = paths.firstChild(id); k >= 0; k = paths.nextSibling(k)) if (k < mine.length && mine[k]) c.push(k);
    for (let j = c.length - 1; j >= 0; j--) stack.push([c[j]!, path === '' ? paths.name(c[j]!) : path + '/' + paths.name(c[j]!)]);
  };
  kids(ROOT_PATH, '');
  while (stack.length) {
    const [id, path] = stack.pop()!;
    if (view.mentions(id) && test(path)) {
      if (res.hits.length >= limit) {
        res.truncated = true;
        break;
      }
      res.hits.push({ path, versions: view.versions(id).map((v) => view.info(v)) });
    }
    kids(id, path);
  }
  return res;
}

const touchedCache = new WeakMap<ImageAnalysis, Uint8Array>();

/** Every path a layer of the image has a row for, and their parents, as a bitmap over path ids. */
function touched(a: ImageAnalysis): Uint8Array {
  let m = touchedCache.get(a);
  if (m) return m;
  const paths = a.view.paths;
  m = new Uint8Array(paths.count);
  for (const t of a.tables) {
    for (let i = 0; i < t.n; i++) {
      for (let p = t.pathIds[i]!; p > ROOT_PATH && !m[p]; p = paths.parent(p)) m[p] = 1;
    }
  }
  touchedCache.set(a, m);
  return m;
}

/** The layer to show for a hit: where it died when it did, else where it was last written. */
export function hitLayer(h: SearchHit): number {
  const last = h.versions[h.versions.length - 1]!;
  if (last.kind === 'put' && last.until !== Infinity) return last.until;
  return last.layer;
}
