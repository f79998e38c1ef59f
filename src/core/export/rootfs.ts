import type { ImageAnalysis } from '../analysis/analyze.js';
import { mergedRows, type MergedRow } from '../analysis/views.js';
import type { LayerStack } from '../analysis/stack.js';
import type { Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { displayPath, isWithin } from '../model/path.js';
import type { ContentReader } from './content.js';
import type { TarWriter } from './tar-writer.js';

/**
 * The merged filesystem of an image at layer N, as a tar: what `docker export` gives for a container of the
 * image, minus the container's init layer (/etc/hosts, /.dockerenv...) and RW layer. Written in walk order,
 * directories before their contents, hardlinks after the file they link to.
 *
 * Hardlinks: the model records, per layer, the other names of an inode as 'hardlink' entries pointing at the
 * first name. In the merged view a name survives only if no later layer hid it; so the first *visible* name of an
 * inode is written as the file and the other visible names as links to it (the target itself may be gone).
 * Sockets cannot go in a tar and are skipped (reported).
 */

export interface RootfsResult {
  entries: number;
  files: number;
  bytes: number;
  skipped: { path: string; reason: string }[];
  problems: Problem[];
}

/** The merged view rows below `root` at `layer` (root itself first when it is not the image root). */
export function subtreeAt(stack: LayerStack, root: string, layer: number): MergedRow[] {
  if (root === '') return mergedRows(stack, layer);
  const node = stack.lookup(root);
  const v = node?.versionAt(layer);
  if (!node || !v) return [];
  const rows: MergedRow[] = [{ path: root, attrs: v.attrs!, layer: v.layer }];
  if (v.attrs!.type !== 'dir') return rows;
  // mergedRows walks from the image root; restrict it here without re-walking unrelated trees.
  const walk = (n: typeof node): void => {
    if (!n.children) return;
    for (const name of [...n.children.keys()].sort()) {
      const c = n.children.get(name)!;
      const cv = c.versionAt(layer);
      if (!cv) continue;
      rows.push({ path: c.path, attrs: cv.attrs!, layer: cv.layer });
      if (cv.attrs!.type === 'dir') walk(c);
    }
  };
  walk(node);
  return rows;
}

export async function writeRootfs(a: ImageAnalysis, layer: number, reader: ContentReader, tar: TarWriter, opts: { root?: string } = {}): Promise<RootfsResult> {
  const res: RootfsResult = { entries: 0, files: 0, bytes: 0, skipped: [], problems: [] };
  const rows = subtreeAt(a.stack, opts.root ?? '', layer);
  /** `${layer}\0${first name}` of an inode → the name it was written under. */
  const written = new Map<string, string>();
  for (const r of rows) {
    if (opts.root && !isWithin(r.path, opts.root)) continue;
    const at = r.attrs;
    const base = { path: r.path, mode: at.mode, uid: at.uid, gid: at.gid, mtime: at.mtime, mtimeNsec: at.mtimeNsec, ...(at.xattrs ? { xattrs: at.xattrs } : {}) };
    switch (at.type) {
      case 'socket':
        res.skipped.push({ path: r.path, reason: 'socket (a tar cannot hold one)' });
        continue;
      case 'dir':
        await tar.add({ ...base, type: 'dir', size: 0 });
        break;
      case 'symlink':
        await tar.add({ ...base, type: 'symlink', size: 0, linkname: at.linkname ?? '' });
        break;
      case 'char':
      case 'block':
        await tar.add({ ...base, type: at.type, size: 0, devMajor: at.devMajor ?? 0, devMinor: at.devMinor ?? 0 });
        break;
      case 'fifo':
        await tar.add({ ...base, type: 'fifo', size: 0 });
        break;
      case 'file':
      case 'hardlink': {
        const inode = `${r.layer}\0${at.type === 'hardlink' ? (at.linkname ?? r.path) : r.path}`;
        const first = written.get(inode);
        if (first !== undefined) {
          await tar.add({ ...base, type: 'hardlink', size: 0, linkname: first });
          break;
        }
        written.set(inode, r.path);
        const image = a.image;
        let err: Error | null = null;
        const body = (async function* () {
          try {
            yield* reader.read(image, r.layer, r.path, at.size);
          } catch (e) {
            err = e as Error;
          }
        })();
        const delta = await tar.add({ ...base, type: 'file', size: at.size }, body);
        if (err) res.problems.push(problem('error', 'export.content', `layer ${r.layer}: ${(err as Error).message}${delta < 0 ? `; ${-delta} missing bytes written as zeros` : ''}`, '/' + displayPath(r.path)));
        else if (delta !== 0) res.problems.push(problem('error', 'export.size', `layer ${r.layer}: content is ${at.size + delta} bytes, the layer records ${at.size}`, '/' + displayPath(r.path)));
        res.files++;
        res.bytes += at.size;
        break;
      }
    }
    res.entries++;
  }
  return res;
}
