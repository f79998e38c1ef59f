import type { ImageAnalysis } from '../core/analysis/analyze.js';
import type { PathNode, Version } from '../core/analysis/stack.js';
import { displayPath, textToPath } from '../core/model/path.js';

/** One path that matched a search, with its whole history across the layers. */
export interface SearchHit {
  path: string;
  versions: Version[];
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
      re = new RegExp(query);
    } catch (err) {
      res.error = (err as Error).message;
      return res;
    }
    test = (p) => re.test(shown(p));
  } else {
    const raw = textToPath(query);
    test = (p) => ('/' + p).includes(raw) || (NEEDS_ESCAPE.test(p) && shown(p).includes(query));
  }
  const stack: [PathNode, string][] = [];
  const kids = (n: PathNode, path: string) => {
    if (!n.children) return;
    const names = [...n.children.keys()].sort().reverse();
    for (const name of names) stack.push([n.children.get(name)!, path === '' ? name : path + '/' + name]);
  };
  kids(a.stack.root, '');
  while (stack.length) {
    const [n, path] = stack.pop()!;
    if (n.versions.some((v) => !v.implicit) && test(path)) {
      if (res.hits.length >= limit) {
        res.truncated = true;
        break;
      }
      res.hits.push({ path, versions: n.versions });
    }
    kids(n, path);
  }
  return res;
}

/** The layer to show for a hit: where it died when it did, else where it was last written. */
export function hitLayer(h: SearchHit): number {
  const last = h.versions[h.versions.length - 1]!;
  if (last.kind === 'put' && last.until !== Infinity) return last.until;
  return last.layer;
}
