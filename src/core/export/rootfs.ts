import type { ImageAnalysis } from '../analysis/analyze.js';
import { eachMerged, type MergedRow } from '../analysis/views.js';
import type { StackView } from '../analysis/stack.js';
import type { Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { displayPath, isWithin } from '../model/path.js';
import { viewLayer, type ContentReader } from './content.js';
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
export function subtreeAt(view: StackView, root: string, layer: number): Iterable<MergedRow> {
  return eachMerged(view, layer, root);
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
  /**
   * One file member. `claimed` is the model's size (lstat when analysed, or a tar header's size or GNU sparse
   * realsize, which an archive may set to anything); `stored` is what the evidence really holds for it, known
   * before the header is written. The member gets min(claimed, stored) bytes: never more than the evidence has,
   * so a claim of a terabyte over ten stored bytes costs ten bytes, not a terabyte of zeros. Any difference is
   * an error problem.
   */
  const writeFile = async (r: MergedRow, content: Content) => {
    const claimed = r.attrs.size;
    const at = '/' + displayPath(r.path);
    const stored = 'body' in content ? content.stored : 0;
    const size = Math.min(claimed, stored);
    let readErr: Error | null = null;
    const body =
      'body' in content
        ? (async function* () {
            try {
              yield* content.body;
            } catch (e) {
              readErr = e as Error;
            }
          })()
        : undefined;
    const delta = await tar.add({ ...header(r), type: 'file', size }, body);
    const err = (code: string, msg: string) => res.problems.push(problem('error', code, `layer ${r.layer}: ${msg}`, at));
    if ('missing' in content) err('export.content', `no content found; written empty (the layer records ${claimed} bytes)`);
    else if ('error' in content) err('export.content', `${content.error.message}; written empty (the layer records ${claimed} bytes)`);
    else {
      if (content.sparse) err('export.sparse', `a GNU sparse member standing for ${claimed} bytes: sparse files are not reconstructed, its ${stored} stored bytes are written as its content${stored < claimed ? ` (${size} bytes, not ${claimed})` : ''}`);
      else if (stored < claimed) err('export.size', `the layer records ${claimed} bytes, the evidence holds ${stored}: ${size} written, no zeros added`);
      else if (stored > claimed) err('export.size', `the evidence holds ${stored} bytes, the layer records ${claimed}: the first ${claimed} written`);
      const e = readErr as Error | null;
      if (e) err('export.content', `${e.message}${delta < 0 ? `; ${-delta} missing bytes written as zeros` : ''}`);
      else if (delta < 0) err('export.size', `${size + delta} bytes read of the ${size} the evidence held when opened (it shrank): ${-delta} zero bytes written to keep the tar whole`);
    }
    res.files++;
    res.bytes += size;
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
      case 'char':
      case 'block':
      case 'fifo': {
        // Names of one inode (same layer): the first visible one is written as itself, the others link to it, as
        // the engine's tar writer does for any non-directory of several links (pkg/archive addTarFile).
        const inode = `${r.layer}\0${at.sameInodeAs ?? r.path}`;
        const first = written.get(inode);
        if (first !== undefined) await tar.add({ ...header(r), type: 'hardlink', size: 0, linkname: first });
        else {
          written.set(inode, r.path);
          if (at.type === 'symlink') await tar.add({ ...header(r), type: 'symlink', size: 0, linkname: at.linkname ?? '' });
          else if (at.type === 'fifo') await tar.add({ ...header(r), type: 'fifo', size: 0 });
          else await tar.add({ ...header(r), type: at.type, size: 0, devMajor: at.devMajor ?? 0, devMinor: at.devMinor ?? 0 });
        }
        break;
      }
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
        await writeFile(r, await openContent(reader, a.image, reader.kind === 'diff-dir' ? viewLayer(a.image, r.layer, layer, content) : r.layer, content, at.size));
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
        missing = await reader.forEach!(a.image, l, new Set(want.keys()), async (p, body, stored) => {
          // The reader's chunks are only valid until the next one is pulled; the tar stream may keep them longer.
          await writeFile(want.get(p)!, { stored: stored.size, sparse: stored.sparse, body: copied(body) });
        });
      } catch (e) {
        res.problems.push(problem('error', 'export.content', `layer ${l}: ${(e as Error).message}`, null));
        throw e;
      }
      for (const p of missing) await writeFile(want.get(p)!, { missing: true });
    }
    for (const { row, first } of links) {
      await tar.add({ ...header(row), type: 'hardlink', size: 0, linkname: first });
      res.entries++;
    }
  }
  return res;
}

type Content = { stored: number; sparse: boolean; body: AsyncIterable<Buffer> } | { error: Error } | { missing: true };

/** Most a reader that cannot tell a file's size first may make us hold in memory to learn it. */
export const GATHER_LIMIT = 256 << 20;

/**
 * A file's content with its stored size known before a byte is written. Readers with `open` say it (a diff dir
 * file's size on disk); for one without (a source's own openLayerFile), the bytes are gathered first, at most
 * min(claimed, GATHER_LIMIT) + 1 of them, so a size claimed by the evidence never sets how much is read.
 */
async function openContent(reader: ContentReader, image: ImageAnalysis['image'], layer: number, path: string, claimed: number): Promise<Content> {
  try {
    if (reader.open) {
      const o = await reader.open(image, layer, path);
      return { stored: o.size, sparse: false, body: o.body };
    }
    const cap = Math.min(claimed, GATHER_LIMIT);
    const chunks: Buffer[] = [];
    let n = 0;
    const it = reader.read(image, layer, path)[Symbol.asyncIterator]();
    try {
      while (n <= cap) {
        const c = await it.next();
        if (c.done) break;
        chunks.push(Buffer.from(c.value));
        n += c.value.length;
      }
    } finally {
      await it.return?.();
    }
    if (n > cap && cap < claimed) return { error: new Error(`more than ${GATHER_LIMIT} bytes from a reader that cannot give the size first: not exported`) };
    return { stored: n, sparse: false, body: (async function* () { yield* chunks; })() };
  } catch (e) {
    return { error: e as Error };
  }
}

async function* copied(body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  for await (const c of body) yield Buffer.from(c);
}
