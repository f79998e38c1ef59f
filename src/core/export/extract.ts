import * as fs from 'node:fs';
import type { ImageAnalysis } from '../analysis/analyze.js';
import type { MergedRow } from '../analysis/views.js';
import type { Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { displayPath, isWithin, pathToBytes } from '../model/path.js';
import { LayerscopeError, NotFoundError } from '../model/errors.js';
import type { ContentReader } from './content.js';
import { subtreeAt } from './rootfs.js';

/**
 * Copy files out of an image, as they are at a layer, into a directory we own.
 *
 * What is copied (planExtract):
 * - merged view at layer N (default: the top): the path and, for a directory, everything below it that is visible
 *   at N; each file's bytes come from the layer that owns its visible version. Files deleted in a later layer are
 *   still there at N: `--layer 3 /data/big.bin` recovers a file that layer 5 deleted.
 * - `layerOnly`: only what layer N itself holds under the path (its own changeset), nothing from below.
 *
 * How it is written (extractTo), never outside `outDir`:
 * - targets are outDir + the layer path (layer paths have no '..' and no empty components, see model/path.ts);
 * - every parent below outDir is lstat'ed: it must be a real directory (one we made, or one that was there);
 *   a symlink there is refused, never followed; so a symlink extracted earlier cannot redirect a later write;
 * - files are created O_CREAT|O_EXCL|O_NOFOLLOW: an existing name is refused, never overwritten or followed;
 * - symlinks are recreated as symlinks with their stored target (never dereferenced, whatever they point at);
 * - modes (setuid/setgid/sticky included) and mtimes are kept (directories get theirs after their contents);
 *   owners too when `owners` is set (needs root);
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
      rows = subtreeAt(a.view, p, opts.layer);
      if (!rows.length) throw new NotFoundError('extract.not-found', `/${displayPath(p)} is not in the merged view at layer ${opts.layer}; ${whereElse(a, p, opts.layer)}`);
    }
    resolved.push({ path: p, items: rows.length, mode: opts.layerOnly ? 'layer' : 'merged' });
    for (const r of rows) push(r);
  }
  return { items, resolved };
}

export interface ExtractResult {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
  skipped: { path: string; reason: string }[];
  problems: Problem[];
}

export class ExtractError extends LayerscopeError {
  override name = 'ExtractError';
}

const SLASH = Buffer.from('/');

export async function extractTo(a: ImageAnalysis, plan: ExtractPlan, reader: ContentReader, outDir: string, opts: { owners?: boolean } = {}): Promise<ExtractResult> {
  const res: ExtractResult = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0, skipped: [], problems: [] };
  fs.mkdirSync(outDir, { recursive: true });
  const rootStat = fs.lstatSync(outDir);
  if (!rootStat.isDirectory()) throw new ExtractError('extract.out-not-dir', 'output is not a directory (or is a symlink)', outDir);
  const root = Buffer.from(fs.realpathSync(outDir), 'utf8');
  const host = (p: string) => Buffer.concat([root, SLASH, pathToBytes(p)]);
  const show = (p: string) => '/' + displayPath(p);
  /** Make sure every parent of p below root is a real directory; create missing ones (0700 until fixed). */
  const ensureParents = (p: string) => {
    const parts = p.split('/');
    let cur = root;
    for (let i = 0; i < parts.length - 1; i++) {
      cur = Buffer.concat([cur, SLASH, pathToBytes(parts[i]!)]);
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(cur);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (!st) fs.mkdirSync(cur, { mode: 0o700 });
      else if (!st.isDirectory()) throw new ExtractError('extract.unsafe-parent', st.isSymbolicLink() ? 'a parent in the output is a symlink; refusing to write through it' : 'a parent in the output is not a directory', show(parts.slice(0, i + 1).join('/')));
    }
  };
  const dirsToFix: ExtractItem[] = [];
  /** `${layer}\0${content path}` of an inode → the name its bytes were written under. */
  const inodes = new Map<string, string>();
  const files = new Map<number, Map<string, ExtractItem>>();
  const links: { it: ExtractItem; first: string }[] = [];
  const fail = (err: unknown, it: ExtractItem) => {
    if (err instanceof ExtractError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EEXIST') throw new ExtractError('extract.exists', 'already exists in the output; not overwritten', show(it.path));
    res.problems.push(problem('error', 'extract.failed', `layer ${it.layer}: ${e.message}`, show(it.path)));
  };
  // 1. Directories, symlinks, and the plan of which bytes go where.
  for (const it of plan.items) {
    const at = it.attrs;
    try {
      ensureParents(it.path);
      const target = host(it.path);
      switch (at.type) {
        case 'dir': {
          let st: fs.Stats | null = null;
          try {
            st = fs.lstatSync(target);
          } catch {
            /* absent */
          }
          if (st && !st.isDirectory()) throw new ExtractError('extract.exists', st.isSymbolicLink() ? 'exists in the output as a symlink; refusing to write through it' : 'exists in the output and is not a directory', show(it.path));
          if (!st) fs.mkdirSync(target, { mode: 0o700 });
          dirsToFix.push(it);
          res.dirs++;
          break;
        }
        case 'symlink':
          fs.symlinkSync(pathToBytes(at.linkname ?? ''), target);
          if (opts.owners) fs.lchownSync(target, at.uid, at.gid);
          fs.lutimesSync(target, at.mtime + at.mtimeNsec / 1e9, at.mtime + at.mtimeNsec / 1e9);
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
  const writeFile = async (it: ExtractItem, body: AsyncIterable<Buffer>) => {
    const at = it.attrs;
    ensureParents(it.path);
    const fd = fs.openSync(host(it.path), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      let n = 0;
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
        n += chunk.length;
      }
      if (n !== at.size) res.problems.push(problem('error', 'extract.size', `layer ${it.layer}: ${n} bytes read, the layer records ${at.size}`, show(it.path)));
      if (opts.owners) fs.fchownSync(fd, at.uid, at.gid);
      fs.fchmodSync(fd, at.mode & 0o7777);
      fs.futimesSync(fd, at.mtime + at.mtimeNsec / 1e9, at.mtime + at.mtimeNsec / 1e9);
      res.bytes += n;
    } finally {
      fs.closeSync(fd);
    }
    res.files++;
  };
  for (const layer of [...files.keys()].sort((x, y) => x - y)) {
    const want = files.get(layer)!;
    if (reader.forEach) {
      const missing = await reader.forEach(a.image, layer, new Set(want.keys()), async (p, body) => {
        const it = want.get(p)!;
        try {
          await writeFile(it, body);
        } catch (err) {
          fail(err, it);
        }
      });
      for (const p of missing) res.problems.push(problem('error', 'extract.missing', `layer ${layer} holds no content for this file`, show(want.get(p)!.path)));
    } else {
      for (const [content, it] of want) {
        try {
          await writeFile(it, reader.read(a.image, layer, content, it.attrs.size));
        } catch (err) {
          fail(err, it);
        }
      }
    }
  }
  // 3. The other names of an inode, as hardlinks.
  for (const { it, first } of links) {
    try {
      ensureParents(it.path);
      fs.linkSync(host(first), host(it.path));
      res.hardlinks++;
    } catch (err) {
      fail(err, it);
    }
  }
  // Directories last, deepest first: their modes may forbid writing, their mtimes move with every write.
  for (const d of dirsToFix.reverse()) {
    const t = host(d.path);
    try {
      if (opts.owners) fs.lchownSync(t, d.attrs.uid, d.attrs.gid);
      fs.chmodSync(t, d.attrs.mode & 0o7777);
      fs.utimesSync(t, d.attrs.mtime + d.attrs.mtimeNsec / 1e9, d.attrs.mtime + d.attrs.mtimeNsec / 1e9);
    } catch (err) {
      res.problems.push(problem('warning', 'extract.dir-attrs', (err as Error).message, show(d.path)));
    }
  }
  return res;
}
