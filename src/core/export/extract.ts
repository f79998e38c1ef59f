import type { ImageAnalysis } from '../analysis/analyze.js';
import type { MergedRow } from '../analysis/views.js';
import type { Problem } from '../model/types.js';
import type { LayerTable } from '../model/layer-table.js';
import { problem } from '../model/types.js';
import { displayPath, isWithin } from '../model/path.js';
import { LayerscopeError, NotFoundError } from '../model/errors.js';
import { imageBodies, type ContentReader, type ItemBodies } from './content.js';
import { subtreeAt } from './rootfs.js';
import { OutputError, type OutputDir } from '../output/index.js';

/**
 * Copy files out of an image, as they are at a layer, into a directory we own.
 *
 * What is copied (planExtract):
 * - merged view at layer N (default: the top): the path and, for a directory, everything below it that is visible
 *   at N; each file's bytes come from the layer that owns its visible version. Files deleted in a later layer are
 *   still there at N: `--layer 3 /data/big.bin` recovers a file that layer 5 deleted.
 * - `layerOnly`: only what layer N itself holds under the path (its own changeset), nothing from below.
 *
 * How it is written (extractTo), never outside the output directory: through an OutputDir (core/output), which
 * - puts each entry at DIR + the layer path (layer paths have no '..' and no empty components, see model/path.ts);
 * - opens every directory on the way O_DIRECTORY|O_NOFOLLOW relative to its parent's fd: a symlink there is
 *   refused, never followed; so a symlink extracted earlier cannot redirect a later write;
 * - creates files O_CREAT|O_EXCL|O_NOFOLLOW: an existing name is refused, never overwritten or followed;
 * - uses a directory that exists already as it is: its mode, owner and times are not replaced by the image's;
 * - recreates symlinks as symlinks with their stored target (never dereferenced, whatever they point at);
 * - keeps modes (setuid/setgid/sticky included) and mtimes of what it creates (directories get theirs after
 *   their contents, when the OutputDir is closed); owners too when it was opened with `owners` (needs root);
 * - hardlinked names of one inode become hardlinks again when both are extracted;
 * - devices, fifos and sockets are not created (Node cannot mknod): listed as skipped.
 */

export interface ExtractItem extends MergedRow {}

export interface ExtractPlan {
  items: ExtractItem[];
  /** Per requested path: how it was resolved. */
  resolved: { path: string; items: number; mode: 'merged' | 'layer' }[];
}

/** Explain where a path exists when it is not where the user looked. */
function whereElse(a: ImageAnalysis, path: string, layer = a.view.top): string {
  const view = a.view;
  // A parent that is a symlink at that layer (a merged-/usr /lib -> usr/lib): we never resolve it.
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    const id = view.lookup(p);
    const v = id < 0 ? -1 : view.versionAt(id, layer);
    if (v >= 0 && view.store.attrs(v).type === 'symlink') return `/${displayPath(p)} is a symlink to ${JSON.stringify(displayPath(view.store.attrs(v).linkname ?? ''))} at layer ${layer}, and symlinks are not followed: ask for the path it points to`;
  }
  const id = view.lookup(path);
  if (id < 0) return 'no layer of this image holds it';
  const puts = view.versions(id).filter((v) => !view.store.isWhiteout(v));
  if (!puts.length) return 'no layer of this image holds it (only whiteouts name it)';
  return (
    'present ' +
    puts
      .map((v) => {
        const until = view.until(v);
        const at = view.layerOf(v);
        return until === Infinity ? `from layer ${at} on` : `in layers ${at}..${until - 1} (${view.endReason(v)} by layer ${until})`;
      })
      .join(', ')
  );
}

export function planExtract(a: ImageAnalysis, paths: string[], opts: { layer: number; layerOnly?: boolean }): ExtractPlan {
  const items: ExtractItem[] = [];
  const resolved: ExtractPlan['resolved'] = [];
  const seen = new Set<string>();
  const push = (r: ExtractItem) => {
    if (seen.has(r.path)) return;
    seen.add(r.path);
    items.push(r);
  };
  for (const p of paths) {
    let rows: ExtractItem[];
    if (opts.layerOnly) {
      rows = [];
      const t = a.view.table(opts.layer);
      for (let i = 0; i < t.n; i++) {
        if (t.isWhiteout(i)) continue;
        const path = t.path(i);
        if (!isWithin(path, p) || path === '') continue;
        rows.push({ path, attrs: t.attrs(i), layer: opts.layer });
      }
      if (!rows.length) throw new NotFoundError('extract.not-in-layer', `layer ${opts.layer} itself holds nothing at or below /${displayPath(p)}; ${whereElse(a, p)}`);
    } else {
      rows = [...subtreeAt(a.view, p, opts.layer)];
      if (!rows.length) throw new NotFoundError('extract.not-found', `/${displayPath(p)} is not in the merged view at layer ${opts.layer}; ${whereElse(a, p, opts.layer)}`);
    }
    resolved.push({ path: p, items: rows.length, mode: opts.layerOnly ? 'layer' : 'merged' });
    for (const r of rows) push(r);
  }
  return { items, resolved };
}

export interface ExtractResult {
  files: number;
  /** Directories created. */
  dirs: number;
  /** Directories of the plan that existed in the output already: used as they were (mode, owner, times kept). */
  existingDirs: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
  skipped: { path: string; reason: string }[];
  problems: Problem[];
}

export class ExtractError extends LayerscopeError {
  override name = 'ExtractError';
}

/**
 * Write the plan into `out` (an OutputDir: every create, and every mode/owner/time, goes through it; it refuses
 * symlinks and non-directories in the way and existing names, and leaves directories that were already there
 * as they were). Reading errors become problems and the rest goes on; an OutputError (the destination refused
 * an entry) stops the extraction. The caller closes `out` (which gives directories their attributes).
 */
export async function extractTo(a: ImageAnalysis, plan: ExtractPlan, reader: ContentReader, out: OutputDir): Promise<ExtractResult> {
  return extractItems(plan, imageBodies(reader, a.image), out);
}

/**
 * A plain directory's rows (a volume, a bind source: one table, no whiteouts) at or below `path` ('' = all), as
 * a plan for extractItems; its one "layer" is 0.
 */
export function planTreeExtract(table: LayerTable, paths: string[], what: string): ExtractPlan {
  const resolved: ExtractPlan['resolved'] = [];
  const rows = new Set<number>();
  for (const p of paths) {
    let n = 0;
    for (let i = 0; i < table.n; i++) {
      const path = table.path(i);
      if (path === '' || !isWithin(path, p)) continue;
      n++;
      rows.add(i);
    }
    if (!n) throw new NotFoundError('extract.not-found', `/${displayPath(p)} is not in ${what}${symlinkAbove(table, p)}`);
    resolved.push({ path: p, items: n, mode: 'merged' });
  }
  // In table order, which is walk order (a dir before its contents), whatever order the paths were given in.
  const items = [...rows].sort((x, y) => x - y).map((i): ExtractItem => ({ path: table.path(i), attrs: table.attrs(i), layer: 0 }));
  return { items, resolved };
}

/** ", and /a is a symlink: not followed" when a parent of `path` is a symlink in the table. */
function symlinkAbove(table: LayerTable, path: string): string {
  const parts = path.split('/');
  for (let k = 1; k < parts.length; k++) {
    const p = parts.slice(0, k).join('/');
    for (let i = 0; i < table.n; i++) if (table.path(i) === p && table.attrs(i).type === 'symlink') return `: /${displayPath(p)} is a symlink to ${JSON.stringify(displayPath(table.linkname(i) ?? ''))}, and symlinks are not followed`;
  }
  return '';
}

/** extractTo for any plan whose bytes `bodies` gives (an image's layers, a volume's directory). */
export async function extractItems(plan: ExtractPlan, bodies: ItemBodies, out: OutputDir): Promise<ExtractResult> {
  const res: ExtractResult = { files: 0, dirs: 0, existingDirs: 0, symlinks: 0, hardlinks: 0, bytes: 0, skipped: [], problems: [] };
  const show = (p: string) => '/' + displayPath(p);
  const attrsOf = (it: ExtractItem) => ({ mode: it.attrs.mode, uid: it.attrs.uid, gid: it.attrs.gid, mtime: it.attrs.mtime, mtimeNsec: it.attrs.mtimeNsec });
  /** `${layer}\0${content path}` of an inode → the name its bytes were written under. */
  const inodes = new Map<string, string>();
  const files = new Map<number, Map<string, ExtractItem>>();
  const links: { it: ExtractItem; first: string }[] = [];
  const fail = (err: unknown, it: ExtractItem) => {
    if (err instanceof OutputError || err instanceof ExtractError) throw err;
    res.problems.push(problem('error', 'extract.failed', `layer ${it.layer}: ${(err as Error).message}`, show(it.path)));
  };
  out.root();
  // 1. Directories, symlinks, and the plan of which bytes go where.
  for (const it of plan.items) {
    const at = it.attrs;
    try {
      switch (at.type) {
        case 'dir':
          if (out.mkdir(it.path, attrsOf(it)) === 'existing') res.existingDirs++;
          else res.dirs++;
          break;
        case 'symlink':
          out.symlink(it.path, at.linkname ?? '', attrsOf(it));
          res.symlinks++;
          break;
        case 'file':
        case 'hardlink': {
          // A hardlink entry's bytes are its target's (same layer).
          const content = at.type === 'hardlink' ? (at.linkname ?? it.path) : it.path;
          const inode = `${it.layer}\0${content}`;
          const first = inodes.get(inode);
          if (first !== undefined) {
            links.push({ it, first });
            break;
          }
          inodes.set(inode, it.path);
          const m = files.get(it.layer) ?? new Map<string, ExtractItem>();
          m.set(content, it);
          files.set(it.layer, m);
          break;
        }
        default:
          res.skipped.push({ path: it.path, reason: `${at.type}: not created (cannot mknod from here)` });
      }
    } catch (err) {
      fail(err, it);
    }
  }
  // 2. File contents, layer by layer (one pass per layer for readers that offer it).
  const writeFile = async (it: ExtractItem, body: AsyncIterable<Buffer>, sparse = false) => {
    // What the evidence stores is written, never more (no zeros to make up a claimed size).
    const n = await out.writeFile(it.path, body, attrsOf(it));
    if (sparse) res.problems.push(problem('error', 'extract.sparse', `layer ${it.layer}: a GNU sparse member standing for ${it.attrs.size} bytes: sparse files are not reconstructed, its ${n} stored bytes were written as its content`, show(it.path)));
    else if (n !== it.attrs.size) res.problems.push(problem('error', 'extract.size', `layer ${it.layer}: ${n} bytes read, the layer records ${it.attrs.size}`, show(it.path)));
    res.bytes += n;
    res.files++;
  };
  for (const layer of [...files.keys()].sort((x, y) => x - y)) {
    const want = files.get(layer)!;
    if (bodies.forEach) {
      const missing = await bodies.forEach(layer, new Set(want.keys()), async (p, body, stored) => {
        const it = want.get(p)!;
        try {
          await writeFile(it, body, stored.sparse);
        } catch (err) {
          fail(err, it);
        }
      });
      for (const p of missing) res.problems.push(problem('error', 'extract.missing', `layer ${layer} holds no content for this file`, show(want.get(p)!.path)));
    } else {
      for (const [content, it] of want) {
        try {
          await writeFile(it, bodies.read(layer, content, it.attrs.size));
        } catch (err) {
          fail(err, it);
        }
      }
    }
  }
  // 3. The other names of an inode, as hardlinks.
  for (const { it, first } of links) {
    try {
      out.link(first, it.path);
      res.hardlinks++;
    } catch (err) {
      fail(err, it);
    }
  }
  return res;
}
