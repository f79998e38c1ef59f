/**
 * The `.wh.` naming rules of layer tars and of aufs branches (moby pkg/archive whiteouts.go; the aufs kernel
 * module writes the same names on its RW branch): one reading for the tar reader (tar/layer-changes.ts) and the
 * layer-dir walk of aufs diff dirs (walk/layer-dir.ts), so the two never disagree on what a name means.
 *
 * - `<dir>/.wh.<name>`        -> a whiteout of `<dir>/<name>`;
 * - `<dir>/.wh..wh..opq`      -> `<dir>` is opaque (hides every lower child);
 * - `.wh..wh.<x>` at the layer root (other than the opaque marker) -> aufs bookkeeping, not content:
 *   `.wh..wh.aufs` (the file every whiteout of a RW branch is a hard link to), `.wh..wh.plnk/` (pseudo-links of
 *   copied-up hard-linked files while the branch is mounted), `.wh..wh.orph/` (removed-but-open files). moby's
 *   layer unpacker and containerd test the whole member name, so a `.wh..wh.x` deeper down is an ordinary
 *   whiteout of `.wh.x`;
 * - `.wh.`, `.wh..` and `.wh...` name nothing: invalid.
 */

export const WH_PREFIX = '.wh.';
export const WH_META_PREFIX = '.wh..wh.';
export const WH_OPAQUE = '.wh..wh..opq';
/** aufs's hard-link pool directory (moby's WhiteoutLinkDir). */
export const WH_PLNK = '.wh..wh.plnk';
/** The aufs whiteout base: every whiteout on a RW branch is a hard link to it. */
export const WH_BASE = '.wh..wh.aufs';
/** aufs's dir of removed files still open while the branch was mounted. */
export const WH_ORPH = '.wh..wh.orph';

export type WhiteoutName =
  | { kind: 'plain' }
  | { kind: 'whiteout'; target: string }
  | { kind: 'opaque' }
  | { kind: 'meta' }
  | { kind: 'invalid' };

/** What the last component `base` of a layer path means; `atRoot`: it is a child of the layer root. */
export function whiteoutName(base: string, atRoot: boolean): WhiteoutName {
  if (!base.startsWith(WH_PREFIX)) return { kind: 'plain' };
  if (base === WH_OPAQUE) return { kind: 'opaque' };
  if (atRoot && base.startsWith(WH_META_PREFIX)) return { kind: 'meta' };
  const target = base.slice(WH_PREFIX.length);
  if (target === '' || target === '.' || target === '..') return { kind: 'invalid' };
  return { kind: 'whiteout', target };
}
