import type { ImageAnalysis } from '../analysis/analyze.js';
import { mergedRows, type MergedRow } from '../analysis/views.js';
import type { StackView } from '../analysis/stack.js';
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
export function subtreeAt(view: StackView, root: string, layer: number): MergedRow[] {
  return mergedRows(view, layer, root);
}

export async function writeRootfs(a: ImageAnalysis, layer: number, reader: ContentReader, tar: TarWriter, opts: { root?: string } = {}): Promise<RootfsResult> {
  const res: RootfsResult = { entries: 0, files: 0, bytes: 0, skipped: [], problems: [] };
  const rows = subtreeAt(a.view, opts.root ?? '', layer);
  // Readers that pay a pass over a layer per file (archives) get every file of a layer in one pass: the tar
  // then holds every non-file in walk order first, then the files layer by layer, then the extra hardlink names.
  const batched = reader.kind === 'archive' && !!reader.forEach;
  /** `${layer}\0${content path}` of an inode → the name it was written under. */
  const written = new Map<string, string>();
  const perLayer = new Map<number, { row: MergedRow; content: string }[]>();
  const links: { row: MergedRow; first: string }[] = [];
  const header = (r: MergedRow) => ({ path: r.path, mode: r.attrs.mode, uid: r.attrs.uid, gid: r.attrs.gid, mtime: r.attrs.mtime, mtimeNsec: r.attrs.mtimeNsec, ...(r.attrs.xattrs ? { xattrs: r.attrs.xattrs } : {}) });
  const writeFile = async (r: MergedRow, body: AsyncIterable<Buffer> | null, err: () => Error | null) => {
    const delta = await tar.add({ ...header(r), type: 'file', size: r.attrs.size }, body ?? undefined);
    const e = err();
    const at = '/' + displayPath(r.path);
    if (e) res.problems.push(problem('error', 'export.content', `layer ${r.layer}: ${e.message}${delta < 0 ? `; ${-delta} missing bytes written as zeros` : ''}`, at));
    else if (!body) res.problems.push(problem('error', 'export.content', `layer ${r.layer}: no content found; ${r.attrs.size} zero bytes written`, at));
    else if (delta !== 0) res.problems.push(problem('error', 'export.size', `layer ${r.layer}: content is ${r.attrs.size + delta} bytes, the layer records ${r.attrs.size}`, at));
    res.files++;
    res.bytes += r.attrs.size;
    res.entries++;
  };
  for (const r of rows) {
    if (opts.root && !isWithin(r.path, opts.root)) continue;
    const at = r.attrs;
    switch (at.type) {
      case 'socket':
        res.skipped.push({ path: r.path, reason: 'socket (a tar cannot hold one)' });
        continue;
      case 'dir':
        await tar.add({ ...header(r), type: 'dir', size: 0 });
        break;
      case 'symlink':
        await tar.add({ ...header(r), type: 'symlink', size: 0, linkname: at.linkname ?? '' });
        break;
      case 'char':
      case 'block':
        await tar.add({ ...header(r), type: at.type, size: 0, devMajor: at.devMajor ?? 0, devMinor: at.devMinor ?? 0 });
        break;
      case 'fifo':
        await tar.add({ ...header(r), type: 'fifo', size: 0 });
        break;
      case 'file':
      case 'hardlink': {
        // A hardlink entry's bytes are its target's (same layer): read them under the target's name.
        const content = at.type === 'hardlink' ? (at.linkname ?? r.path) : r.path;
        const inode = `${r.layer}\0${content}`;
        const first = written.get(inode);
        if (first !== undefined) {
          if (batched) links.push({ row: r, first });
          else await tar.add({ ...header(r), type: 'hardlink', size: 0, linkname: first });
          if (!batched) res.entries++;
          continue;
        }
        written.set(inode, r.path);
        if (batched) {
          const l = perLayer.get(r.layer) ?? [];
          l.push({ row: r, content });
          perLayer.set(r.layer, l);
          continue;
        }
        let err: Error | null = null;
        const body = (async function* () {
          try {
            yield* reader.read(a.image, r.layer, content, at.size);
          } catch (e) {
            err = e as Error;
          }
        })();
        await writeFile(r, body, () => err);
        continue;
      }
    }
    res.entries++;
  }
  if (batched) {
    for (const l of [...perLayer.keys()].sort((x, y) => x - y)) {
      const want = new Map(perLayer.get(l)!.map((x) => [x.content, x.row]));
      let missing: Set<string>;
      try {
        missing = await reader.forEach!(a.image, l, new Set(want.keys()), async (p, body) => {
          // The reader's chunks are only valid until the next one is pulled; the tar stream may keep them longer.
          await writeFile(want.get(p)!, copied(body), () => null);
        });
      } catch (e) {
        res.problems.push(problem('error', 'export.content', `layer ${l}: ${(e as Error).message}`, null));
        throw e;
      }
      for (const p of missing) await writeFile(want.get(p)!, null, () => null);
    }
    for (const { row, first } of links) {
      await tar.add({ ...header(row), type: 'hardlink', size: 0, linkname: first });
      res.entries++;
    }
  }
  return res;
}

async function* copied(body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  for await (const c of body) yield Buffer.from(c);
}
