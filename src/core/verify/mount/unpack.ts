import * as fs from 'node:fs';
import { setAttributeSync } from '@napi-rs/xattr';
import type { LayerTable } from '../../model/layer-table.js';
import { displayPath, parentPath, pathToBytes, pathToText } from '../../model/path.js';
import type { Runner } from './runner.js';
import type { ImageInfo } from '../../model/types.js';
import type { ContentReader } from '../../export/content.js';

/**
 * Lay a normalised changeset out as an overlay upper dir, in OUR temp dir (archives have no diff dirs to
 * mount). Whiteouts become char 0:0 devices (`mknod`), opaque dirs get `trusted.overlay.opaque=y`
 * (`user.overlay.opaque` for a user-namespace mount with `userxattr`), hardlinks are real hardlinks.
 *
 * Sources give no file bytes through the Source contract, so regular files are created SPARSE with the right
 * size (truncate): sizes, modes, owners and names are exact, contents are zeros. The mount check compares
 * metadata only, so this is enough; hashing is refused for such stacks.
 *
 * not an output: every write below goes into the mount check's private workspace (MountSession: mkdtemp, 0700,
 * removed after the check), never to a path a user named; so it does not go through core/output.
 */

export interface UnpackOptions {
  runner: Runner;
  /** 'trusted' as root, 'user' for a user-namespace mount. */
  xattrNamespace: 'trusted' | 'user';
  /** Whether we may chown (root). */
  chown: boolean;
  /**
   * Where the layer's file bytes come from, for a mount a user reads (`layerscope mount` of an archive): the
   * files are written with their bytes instead of sparse. Without it, sparse (the mount check compares
   * metadata only).
   */
  content?: LayerContent;
}

export interface LayerContent {
  reader: ContentReader;
  image: ImageInfo;
  /** Index of this layer in the image. */
  layer: number;
}

export interface UnpackResult {
  notes: string[];
  /** Layer paths that could not be laid out (the comparison ignores them). */
  skipped: string[];
  /**
   * Layer paths longer than this many bytes were not laid out: in the workspace they would pass the kernel's
   * PATH_MAX. Null when none was that long. The comparison ignores paths longer than this.
   */
  longerThan: number | null;
}

/** The kernel's PATH_MAX (bytes, with the NUL): the longest path a syscall takes. */
const PATH_MAX = 4096;

const SKIP_PREFIX = /^\.\.?$/;

/** Bytes of a layer path (a latin1 byte string: one char per byte). */
const pathBytes = (rel: string): number => rel.length;

export async function unpackLayer(changes: LayerTable, dest: string, opts: UnpackOptions): Promise<UnpackResult> {
  const notes: string[] = [];
  const skipped: string[] = [];
  const destBytes = Buffer.from(dest, 'utf8');
  const host = (rel: string): Buffer => Buffer.concat([destBytes, Buffer.from('/'), pathToBytes(rel)]);
  fs.mkdirSync(dest, { recursive: true, mode: 0o755 });
  const dirModes: { p: Buffer; mode: number; mtime: number }[] = [];
  // Every parent of an entry must be a real directory of our tree: an archive may put `a -> /etc` and then
  // `a/passwd` (or a hardlink through `a/`), and following that symlink would write outside our temp dir.
  const realDirs = new Set<string>(['']);
  const ensureDirs = (dir: string): boolean => {
    // Missing parents top down, without recursion (a path may be thousands of components deep).
    const missing: string[] = [];
    for (let d = dir; !realDirs.has(d); d = parentPath(d)) missing.push(d);
    for (let i = missing.length - 1; i >= 0; i--) {
      const h = host(missing[i]!);
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(h);
      } catch {
        fs.mkdirSync(h, { mode: 0o755 });
        st = fs.lstatSync(h);
      }
      if (!st.isDirectory()) return false;
      realDirs.add(missing[i]!);
    }
    return true;
  };
  // Room left for a layer path after `dest/` (the names are passed by path: no fd walk here).
  const room = PATH_MAX - 1 - destBytes.length - 1;
  let tooLong = 0;
  const refuse = (rel: string, why: string): void => {
    notes.push(`${displayPath(rel)}: ${why}; not laid out`);
    skipped.push(rel);
  };
  let sparse = 0;
  /** Files to fill with their bytes (content given): layer path -> host path and mtime to restore. */
  const fill = new Map<string, { p: Buffer; mtime: number; size: number }>();
  for (const e of changes.each()) {
    if (e.path === '' || e.path.split('/').some((c) => SKIP_PREFIX.test(c))) continue;
    if (pathBytes(e.path) > room || (e.kind === 'put' && e.attrs.type === 'hardlink' && pathBytes(e.attrs.linkname ?? '') > room)) {
      tooLong++;
      continue;
    }
    const p = host(e.path);
    if (!ensureDirs(parentPath(e.path))) {
      refuse(e.path, 'a parent of it is not a directory (a symlink or a file) in this layer');
      continue;
    }
    if (e.kind === 'whiteout') {
      const text = pathToText(e.path);
      if (text === null) {
        notes.push(`whiteout ${displayPath(e.path)}: name is not UTF-8 and cannot be passed to mknod; not laid out`);
        skipped.push(e.path);
        continue;
      }
      const r = await opts.runner.run(['mknod', '-m', '000', `${dest}/${text}`, 'c', '0', '0']);
      if (r.exitCode !== 0) throw new Error(`mknod whiteout ${displayPath(e.path)}: ${r.stderr.trim()}`);
      if (opts.chown && (e.uid || e.gid)) fs.lchownSync(p, e.uid ?? 0, e.gid ?? 0);
      continue;
    }
    const a = e.attrs;
    switch (a.type) {
      case 'dir':
        try {
          fs.mkdirSync(p, { mode: 0o700 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        if (!fs.lstatSync(p).isDirectory()) {
          refuse(e.path, 'a non-directory already holds this path');
          continue;
        }
        realDirs.add(e.path);
        if (e.opaque) {
          const text = pathToText(e.path);
          if (text === null) notes.push(`opaque dir ${displayPath(e.path)}: name is not UTF-8 and cannot be passed to setxattr; not marked opaque`);
          else setAttributeSync(`${dest}/${text}`, `${opts.xattrNamespace}.overlay.opaque`, 'y');
        }
        break;
      case 'file': {
        const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
        try {
          if (a.size > 0 && !e.metacopy) {
            if (opts.content) fill.set(e.path, { p, mtime: a.mtime, size: a.size });
            else {
              fs.ftruncateSync(fd, a.size);
              sparse++;
            }
          }
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'hardlink': {
        // The target must be a regular file of this layer reached through real dirs only (link(2) follows
        // symlinks in the parents of the target path; its last component is not followed).
        const target = a.linkname ?? '';
        let ok = target !== '' && ensureDirs(parentPath(target));
        if (ok) {
          try {
            ok = fs.lstatSync(host(target)).isFile();
          } catch {
            ok = false;
          }
        }
        if (!ok) {
          refuse(e.path, `hardlink target ${displayPath(target)} is not a regular file laid out in this layer`);
          continue;
        }
        fs.linkSync(host(target), p);
        break;
      }
      case 'symlink':
        fs.symlinkSync(pathToBytes(a.linkname ?? ''), p);
        break;
      case 'char':
      case 'block':
      case 'fifo': {
        const text = pathToText(e.path);
        if (text === null) {
          notes.push(`${a.type} ${displayPath(e.path)}: name is not UTF-8 and cannot be passed to mknod; not laid out`);
          skipped.push(e.path);
          continue;
        }
        const argv = a.type === 'fifo' ? ['mknod', '-m', '600', `${dest}/${text}`, 'p'] : ['mknod', '-m', '600', `${dest}/${text}`, a.type === 'char' ? 'c' : 'b', String(a.devMajor ?? 0), String(a.devMinor ?? 0)];
        const r = await opts.runner.run(argv);
        if (r.exitCode !== 0) {
          // Device nodes need CAP_MKNOD (not available in a user namespace): leave them out, say so.
          notes.push(`${a.type} ${displayPath(e.path)}: mknod failed (${r.stderr.trim()}); not laid out`);
          skipped.push(e.path);
          continue;
        }
        break;
      }
      case 'socket':
        notes.push(`socket ${displayPath(e.path)}: sockets cannot be created from metadata; not laid out`);
        skipped.push(e.path);
        continue;
    }
    if (a.type === 'hardlink') continue;
    if (opts.chown) fs.lchownSync(p, a.uid, a.gid);
    if (a.type === 'dir') dirModes.push({ p, mode: a.mode, mtime: a.mtime });
    else if (a.type !== 'symlink') fs.chmodSync(p, a.mode);
    if (a.type !== 'dir') fs.lutimesSync(p, a.mtime, a.mtime);
  }
  if (opts.content && fill.size) await fillFiles(opts.content, fill, notes);
  // Dir modes last (a 0555 dir would refuse its own children), deepest first.
  for (const d of dirModes.reverse()) {
    fs.chmodSync(d.p, d.mode);
    fs.utimesSync(d.p, d.mtime, d.mtime);
  }
  if (tooLong) notes.push(`${tooLong} entr${tooLong === 1 ? 'y' : 'ies'} with a path longer than ${room} bytes not laid out (in the workspace it would pass PATH_MAX); the comparison leaves such paths out`);
  if (sparse) notes.push(`${sparse} regular file(s) created sparse with their recorded size: the archive source gives no file bytes, so contents were not compared`);
  return { notes, skipped, longerThan: tooLong ? room : null };
}

/**
 * Write the bytes of the laid-out files (created empty above, O_EXCL in our workspace), each with exactly the
 * size the layer records, then put its mtime back. Archives are read in one pass per layer (`forEach`); a file
 * whose bytes cannot be had stays empty and is named in a note.
 */
async function fillFiles(content: LayerContent, fill: Map<string, { p: Buffer; mtime: number; size: number }>, notes: string[]): Promise<void> {
  const { reader, image, layer } = content;
  const write = async (rel: string, body: AsyncIterable<Buffer>): Promise<void> => {
    const f = fill.get(rel)!;
    const fd = fs.openSync(f.p, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
    try {
      let n = 0;
      for await (const chunk of body) {
        const take = Math.min(chunk.length, f.size - n);
        if (take > 0) fs.writeSync(fd, chunk, 0, take, n);
        n += take;
      }
      if (n !== f.size) {
        fs.ftruncateSync(fd, f.size);
        notes.push(`${displayPath(rel)}: ${n} bytes read where the layer records ${f.size}; the rest is zeros`);
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.lutimesSync(f.p, f.mtime, f.mtime);
  };
  if (reader.forEach) {
    const missing = await reader.forEach(image, layer, new Set(fill.keys()), (rel, body) => write(rel, body));
    for (const rel of missing) notes.push(`${displayPath(rel)}: no bytes for it in the layer; left empty`);
    return;
  }
  for (const rel of fill.keys()) {
    try {
      await write(rel, reader.read(image, layer, rel));
    } catch (err) {
      notes.push(`${displayPath(rel)}: ${(err as Error).message}; left empty`);
    }
  }
}
