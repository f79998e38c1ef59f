import * as fs from 'node:fs';
import { displayPath } from '../model/path.js';
import type { MountInfoEntry } from '../verify/mount/mountinfo.js';
import { OutputError, errnoText } from './errors.js';
import { O_DIR, O_NEWFILE, at, checkName, requireProcFd, restoreMtime, seconds } from './fsat.js';
import { checkOutput, describeType, type FileId } from './resolve.js';

/**
 * An output directory (`extract -o DIR`): the only way layerscope creates directories, files, symlinks and
 * hardlinks for the user.
 *
 * - `OutputDir.prepare` resolves DIR and refuses any overlap with the evidence (resolve.ts) and an existing
 *   symlink or non-directory at DIR. Nothing is created until the first entry is written.
 * - Every entry is created relative to a directory fd (fsat.ts), each directory on the way opened
 *   O_DIRECTORY|O_NOFOLLOW: a symlink at or below DIR is refused (ELOOP), never followed; a non-directory where
 *   a directory is needed is refused.
 * - Directories: mkdir; when one exists already it is used as it is (listed in `existingDirs`) and never
 *   re-moded, re-owned or re-timed. Files: O_CREAT|O_EXCL|O_NOFOLLOW, so an existing name (file, symlink,
 *   anything) is refused, never replaced or followed. Symlinks and hardlinks: symlink(2)/link(2), which fail
 *   on an existing name.
 * - Modes, owners (with `owners`) and times go only to what this run created: files through their fd
 *   (fchown, fchmod, futimes), symlinks by lchown/lutimes on the name we just made, directories through their
 *   fd in `close()`, deepest first (their modes may forbid writing into them; their mtimes move with each entry).
 * - Directories that existed before and got new entries have their mtime put back in `close()`, exactly
 *   (their ctime, which no one can set, is the only trace); their mode and owner are never touched.
 * - A directory opened on the way that is the evidence root (same device and inode) is refused.
 *
 * Paths given to the methods are byte strings relative to DIR (layer paths, see model/path.ts): no leading '/',
 * no '', '.' or '..' components.
 */

export interface EntryAttrs {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  mtimeNsec: number;
}

export interface OutputDirOptions {
  /** Host paths of the evidence this run reads (evidenceLocations()). */
  evidence: readonly string[];
  /** Set owners too (needs root). */
  owners?: boolean;
  /** Mount table (tests); default /proc/self/mountinfo. */
  mounts?: MountInfoEntry[];
}

interface Created {
  id: FileId;
  kind: 'dir' | 'file' | 'symlink';
  attrs?: EntryAttrs;
}

interface Before {
  id: FileId;
  mtimeNs: bigint;
  atimeNs: bigint;
  modified: boolean;
}

const idOf = (st: fs.BigIntStats): FileId => ({ dev: st.dev, ino: st.ino });
const sameId = (a: FileId, b: FileId) => a.dev === b.dev && a.ino === b.ino;
const errno = (err: unknown) => (err as NodeJS.ErrnoException)?.code;

export class OutputDir {
  /** As the user gave it. */
  readonly given: string;
  /** Where it is (symlinks in its parents resolved). */
  readonly resolved: string;
  /** Paths (relative to DIR) asked for with mkdir that existed already: used as they were. */
  readonly existingDirs: string[] = [];
  /** What could not be done to what this run created (an attribute), or undone to what existed (an mtime). */
  readonly warnings: string[] = [];
  private readonly owners: boolean;
  private readonly anchor: string;
  private anchorFd: number | null = null;
  private readonly anchorId: FileId;
  /** Names from the anchor down to DIR that do not exist yet (byte strings). */
  private readonly rootParts: string[];
  private readonly evidenceIds: FileId[] = [];
  /** Directories open from the anchor down, for the path last walked (with their node ids). */
  private stack: { name: string; fd: number; id: number }[] = [];
  /**
   * Paths from the anchor as nodes (0 is the anchor): a node is its parent and its name, so a path N levels deep
   * costs N small records, not N keys of up to N components each (an entry 16,000 levels deep is legal).
   */
  private readonly nodeParent: number[] = [-1];
  private readonly nodeName: string[] = [''];
  private readonly nodeDepth: number[] = [0];
  private readonly nodeIds = new Map<string, number>();
  private readonly created = new Map<number, Created>();
  private readonly before = new Map<number, Before>();
  private closed = false;

  static prepare(given: string, opts: OutputDirOptions): OutputDir {
    const r = checkOutput(given, 'dir', opts.evidence, opts.mounts ? { mounts: opts.mounts } : {});
    requireProcFd(given);
    return new OutputDir(given, r.resolved, r.anchor, r.anchorId, r.missing, opts);
  }

  private constructor(given: string, resolved: string, anchor: string, anchorId: FileId, missing: string[], opts: OutputDirOptions) {
    this.given = given;
    this.resolved = resolved;
    this.anchor = anchor;
    this.anchorId = anchorId;
    this.owners = !!opts.owners;
    this.rootParts = missing.map((m) => Buffer.from(m, 'utf8').toString('latin1'));
    for (const ev of opts.evidence) {
      try {
        this.evidenceIds.push(idOf(fs.statSync(fs.realpathSync.native(ev), { bigint: true })));
      } catch {
        /* checkOutput refused what it could not resolve */
      }
    }
  }

  /** The anchor (nearest existing dir at or above DIR), opened on first use and checked to be the one resolved. */
  private base(): number {
    if (this.closed) throw new Error('output directory already closed');
    if (this.anchorFd !== null) return this.anchorFd;
    let fd: number;
    try {
      fd = fs.openSync(this.anchor, O_DIR);
    } catch (err) {
      throw new OutputError(errno(err) === 'ELOOP' ? 'output.symlink' : 'output.failed', this.given, `cannot open ${this.anchor}: ${errnoText(err)}`);
    }
    const st = fs.fstatSync(fd, { bigint: true });
    if (!sameId(idOf(st), this.anchorId)) {
      fs.closeSync(fd);
      throw new OutputError('output.changed', this.given, `${this.anchor} was replaced after it was checked`);
    }
    this.anchorFd = fd;
    this.before.set(0, { id: this.anchorId, mtimeNs: st.mtimeNs, atimeNs: st.atimeNs, modified: false });
    return fd;
  }

  /** The node of `name` in the directory node `parent` (made on first use). */
  private node(parent: number, name: string): number {
    const k = `${parent}/${name}`;
    let id = this.nodeIds.get(k);
    if (id === undefined) {
      id = this.nodeParent.length;
      this.nodeParent.push(parent);
      this.nodeName.push(name);
      this.nodeDepth.push(this.nodeDepth[parent]! + 1);
      this.nodeIds.set(k, id);
    }
    return id;
  }

  /** Components from the anchor down to a node. */
  private pathOf(id: number): string[] {
    const out: string[] = [];
    for (let n = id; n > 0; n = this.nodeParent[n]!) out.push(this.nodeName[n]!);
    return out.reverse();
  }

  /** Host path of a node (or of components from the anchor), for messages: built only when one is shown. */
  private host(at: number | string[]): string {
    const key = (typeof at === 'number' ? this.pathOf(at) : at).join('/');
    return key === '' ? this.anchor : `${this.anchor === '/' ? '' : this.anchor}/${displayPath(key)}`;
  }

  /** DIR-relative byte-string path → components from the anchor. */
  private parts(rel: string): string[] {
    const all = rel === '' ? [...this.rootParts] : [...this.rootParts, ...rel.split('/')];
    for (let i = this.rootParts.length; i < all.length; i++) {
      const c = all[i]!;
      if (c === '' || c === '.' || c === '..' || c.includes('\0')) checkName(Buffer.from(c, 'latin1'), this.host(all));
    }
    return all;
  }

  /** The node of the directory last walked to `depth` components (0: the anchor). */
  private walked(depth: number): number {
    return depth === 0 ? 0 : this.stack[depth - 1]!.id;
  }

  private modifying(parent: number): void {
    const b = this.before.get(parent);
    if (b) b.modified = true;
  }

  /**
   * The fd of the directory at `parts` (from the anchor), every component opened O_DIRECTORY|O_NOFOLLOW;
   * missing ones are created when `create` (DIR and its missing parents 0777 before umask, directories inside
   * DIR 0700 until close() gives them their own mode). `last` says what the final component is to the caller
   * (for messages).
   */
  private walk(parts: string[], create: boolean, last: 'target' | 'parent' = 'parent'): number {
    const base = this.base();
    let k = 0;
    while (k < this.stack.length && k < parts.length && this.stack[k]!.name === parts[k]) k++;
    while (this.stack.length > k) fs.closeSync(this.stack.pop()!.fd);
    for (let i = k; i < parts.length; i++) {
      const parentFd = i === 0 ? base : this.stack[i - 1]!.fd;
      const mode = !create ? null : i < this.rootParts.length ? 0o777 : 0o700;
      const id = this.node(this.walked(i), parts[i]!);
      const fd = this.enterDir(parentFd, id, mode, i === parts.length - 1 ? last : 'parent');
      this.stack.push({ name: parts[i]!, fd, id });
    }
    return parts.length ? this.stack[parts.length - 1]!.fd : base;
  }

  private enterDir(parentFd: number, key: number, mode: number | null, role: 'target' | 'parent'): number {
    const parentKey = this.nodeParent[key]!;
    const nameBytes = Buffer.from(this.nodeName[key]!, 'latin1');
    checkName(nameBytes, this.host(key));
    const p = at(parentFd, nameBytes);
    let made = false;
    for (let attempt = 0; ; attempt++) {
      let fd: number;
      try {
        fd = fs.openSync(p, O_DIR);
      } catch (err) {
        if (errno(err) === 'ENOENT' && mode !== null && attempt < 3) {
          this.modifying(parentKey);
          try {
            fs.mkdirSync(p, { mode });
            made = true;
          } catch (m) {
            if (errno(m) !== 'EEXIST') throw new OutputError('output.failed', this.host(key), `cannot create the directory: ${errnoText(m)}`);
          }
          continue;
        }
        throw this.inTheWay(err, parentFd, nameBytes, key, role, 'a directory');
      }
      const st = fs.fstatSync(fd, { bigint: true });
      const id = idOf(st);
      const c = this.created.get(key);
      if (made) this.created.set(key, { id, kind: 'dir' });
      else if (c) {
        if (!sameId(c.id, id)) {
          fs.closeSync(fd);
          throw new OutputError('output.changed', this.host(key), 'a directory this run created was replaced while it ran');
        }
      } else {
        if (this.evidenceIds.some((e) => sameId(e, id))) {
          fs.closeSync(fd);
          throw new OutputError('output.evidence', this.host(key), 'it is the evidence (same device and inode: a bind mount or another name of it); nothing is ever written into the evidence');
        }
        if (!this.before.has(key)) this.before.set(key, { id, mtimeNs: st.mtimeNs, atimeNs: st.atimeNs, modified: false });
      }
      return fd;
    }
  }

  /** The error for a name that cannot be used as `wanted`: what is there, in words. */
  private inTheWay(err: unknown, parentFd: number, name: Buffer, key: number, role: 'target' | 'parent', wanted: string): OutputError {
    const code = errno(err);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(at(parentFd, name));
    } catch {
      /* gone again */
    }
    const where = this.host(key);
    if (code === 'ELOOP' || st?.isSymbolicLink()) {
      return new OutputError('output.symlink', where, role === 'parent' ? 'a parent in the output is a symlink; refusing to write through it (symlinks in the output are never followed)' : 'it exists in the output as a symlink; never followed, never replaced');
    }
    if (code === 'EEXIST') return new OutputError('output.exists', where, `it exists already (${st ? describeType(st) : 'something'}); nothing is overwritten`);
    if (code === 'ENOTDIR' || (st && !st.isDirectory())) {
      return new OutputError('output.not-dir', where, `${role === 'parent' ? 'a parent in the output' : 'it'} exists and is ${st ? describeType(st) : 'not a directory'}, where ${wanted} is needed`);
    }
    return new OutputError('output.failed', where, errnoText(err));
  }

  /** Make sure DIR exists (creating it and its missing parents). */
  root(): void {
    this.walk(this.parts(''), true, 'target');
  }

  /**
   * A directory at `rel`. Created (0700 until close(), then `attrs`) when missing; an existing one is used as it
   * is: 'existing' is returned and `attrs` are not applied. `attrs` given again for a directory this run created
   * replace the earlier ones.
   */
  mkdir(rel: string, attrs?: EntryAttrs): 'created' | 'existing' {
    const parts = this.parts(rel);
    this.walk(parts, true, 'target');
    const c = this.created.get(this.walked(parts.length));
    if (c) {
      if (attrs) c.attrs = attrs;
      return 'created';
    }
    this.existingDirs.push(rel);
    return 'existing';
  }

  /**
   * A new regular file at `rel` with the bytes of `body` (missing parents created). Returns the number of bytes
   * written. Errors from `body` (reading the evidence) propagate as they are, the file then stays as far as it
   * got; errors writing are OutputErrors.
   */
  async writeFile(rel: string, body: AsyncIterable<Uint8Array> | Uint8Array, attrs?: EntryAttrs): Promise<number> {
    const parts = this.parts(rel);
    const name = parts.pop();
    if (name === undefined) throw new OutputError('output.bad-path', this.given, 'a file cannot be the output directory itself');
    const dirFd = this.walk(parts, true);
    const parentKey = this.walked(parts.length);
    const key = this.node(parentKey, name);
    const nameBytes = Buffer.from(name, 'latin1');
    this.modifying(parentKey);
    let fd: number;
    try {
      fd = fs.openSync(at(dirFd, nameBytes), O_NEWFILE, attrs ? 0o600 : 0o666);
    } catch (err) {
      throw this.inTheWay(err, dirFd, nameBytes, key, 'target', 'a new file');
    }
    let n = 0;
    try {
      this.created.set(key, { id: idOf(fs.fstatSync(fd, { bigint: true })), kind: 'file' });
      const put = (chunk: Uint8Array) => {
        let off = 0;
        try {
          while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
        } catch (err) {
          throw new OutputError('output.failed', this.host(key), `write failed: ${errnoText(err)}`);
        }
        n += chunk.length;
      };
      if (body instanceof Uint8Array) put(body);
      else for await (const chunk of body) put(chunk);
      if (attrs) this.setFileAttrs(fd, key, attrs);
    } finally {
      fs.closeSync(fd);
    }
    return n;
  }

  private setFileAttrs(fd: number, key: number, a: EntryAttrs): void {
    try {
      // chown first: it clears setuid/setgid, which fchmod then sets.
      if (this.owners) fs.fchownSync(fd, a.uid, a.gid);
      fs.fchmodSync(fd, a.mode & 0o7777);
      const t = seconds(a.mtime, a.mtimeNsec);
      fs.futimesSync(fd, t, t);
    } catch (err) {
      throw new OutputError('output.failed', this.host(key), `cannot set mode/owner/time: ${errnoText(err)}`);
    }
  }

  /** A new symlink at `rel` pointing at `target` (byte string, stored as it is, never resolved). */
  symlink(rel: string, target: string, attrs?: EntryAttrs): void {
    const parts = this.parts(rel);
    const name = parts.pop();
    if (name === undefined) throw new OutputError('output.bad-path', this.given, 'a symlink cannot be the output directory itself');
    const dirFd = this.walk(parts, true);
    const parentKey = this.walked(parts.length);
    const key = this.node(parentKey, name);
    const nameBytes = Buffer.from(name, 'latin1');
    const p = at(dirFd, nameBytes);
    this.modifying(parentKey);
    try {
      fs.symlinkSync(Buffer.from(target, 'latin1'), p);
    } catch (err) {
      throw this.inTheWay(err, dirFd, nameBytes, key, 'target', 'a new symlink');
    }
    this.created.set(key, { id: idOf(fs.lstatSync(p, { bigint: true })), kind: 'symlink' });
    if (!attrs) return;
    try {
      // l*: the link itself, never what it points to.
      if (this.owners) fs.lchownSync(p, attrs.uid, attrs.gid);
      const t = seconds(attrs.mtime, attrs.mtimeNsec);
      fs.lutimesSync(p, t, t);
    } catch (err) {
      throw new OutputError('output.failed', this.host(key), `cannot set the symlink's owner/time: ${errnoText(err)}`);
    }
  }

  /** A new name `rel` for the file this run wrote at `existing` (a hardlink). */
  link(existing: string, rel: string): void {
    const from = this.parts(existing);
    const fromKey = this.find(from);
    const fromName = from.pop();
    const c = fromKey === null ? undefined : this.created.get(fromKey);
    if (fromName === undefined || !c || c.kind !== 'file') throw new OutputError('output.bad-path', this.host([...from, fromName ?? '']), 'a hardlink may only point to a file this run wrote');
    const parts = this.parts(rel);
    const name = parts.pop();
    if (name === undefined) throw new OutputError('output.bad-path', this.given, 'a hardlink cannot be the output directory itself');
    // The existing name's directory, opened apart from the walk (which is about to move to the new name's).
    const fromFd = this.openExisting(from);
    try {
      const src = at(fromFd, Buffer.from(fromName, 'latin1'));
      const st = fs.lstatSync(src, { bigint: true });
      if (!st.isFile() || !sameId(idOf(st), c.id)) throw new OutputError('output.changed', this.host(fromKey!), 'a file this run wrote was replaced while it ran');
      const dirFd = this.walk(parts, true);
      const parentKey = this.walked(parts.length);
      const key = this.node(parentKey, name);
      const nameBytes = Buffer.from(name, 'latin1');
      const dst = at(dirFd, nameBytes);
      this.modifying(parentKey);
      try {
        fs.linkSync(src, dst);
      } catch (err) {
        throw this.inTheWay(err, dirFd, nameBytes, key, 'target', 'a new hardlink');
      }
      const made = idOf(fs.lstatSync(dst, { bigint: true }));
      if (!sameId(made, c.id)) throw new OutputError('output.changed', this.host(key), 'the hardlink made is not to the file this run wrote (replaced while it ran)');
      this.created.set(key, { id: made, kind: 'file' });
    } finally {
      fs.closeSync(fromFd);
    }
  }

  /** The node of components from the anchor, when this run has been there; null otherwise. */
  private find(parts: string[]): number | null {
    let id = 0;
    for (const name of parts) {
      const next = this.nodeIds.get(`${id}/${name}`);
      if (next === undefined) return null;
      id = next;
    }
    return id;
  }

  /** A directory this run has already reached, opened component by component (O_NOFOLLOW), not cached. */
  private openExisting(parts: string[]): number {
    // Re-opening our own fd's /proc link is a dup: the same directory, whatever its path has become.
    let fd = fs.openSync(`/proc/self/fd/${this.base()}`, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    for (const p of parts) {
      let next: number;
      try {
        next = fs.openSync(at(fd, Buffer.from(p, 'latin1')), O_DIR);
      } catch (err) {
        fs.closeSync(fd);
        throw new OutputError(errno(err) === 'ELOOP' ? 'output.symlink' : 'output.changed', this.host(parts), `changed while this run wrote into it: ${errnoText(err)}`);
      }
      fs.closeSync(fd);
      fd = next;
    }
    return fd;
  }

  /**
   * Finish: directories this run created get their mode, owner (with `owners`) and mtime, deepest first; the
   * directories that existed and got new entries get their mtime back. Closes every fd. Returns `warnings`.
   * Safe to call more than once, and after an error (call it in `finally`).
   */
  close(): Promise<string[]> {
    return (this.closing ??= this.finishAndClose());
  }

  private closing: Promise<string[]> | null = null;

  private async finishAndClose(): Promise<string[]> {
    if (this.closed) return this.warnings;
    try {
      if (this.anchorFd !== null) {
        const dirs = [...this.created].filter(([, c]) => c.kind === 'dir' && c.attrs).sort(([a], [b]) => this.nodeDepth[b]! - this.nodeDepth[a]!);
        for (const [key, c] of dirs) {
          try {
            const fd = this.walk(this.pathOf(key), false);
            const a = c.attrs!;
            if (this.owners) fs.fchownSync(fd, a.uid, a.gid);
            fs.fchmodSync(fd, a.mode & 0o7777);
            const t = seconds(a.mtime, a.mtimeNsec);
            fs.futimesSync(fd, t, t);
          } catch (err) {
            this.warnings.push(`${this.host(key)}: mode/owner/time not set: ${err instanceof OutputError ? err.message : errnoText(err)}`);
          }
        }
        for (const [key, b] of this.before) {
          if (!b.modified) continue;
          try {
            const fd = key === 0 ? this.anchorFd : this.walk(this.pathOf(key), false);
            const st = fs.fstatSync(fd, { bigint: true });
            if (!sameId(idOf(st), b.id)) throw new Error('replaced while this run wrote into it');
            if (st.mtimeNs !== b.mtimeNs && (await restoreMtime(fd, b.mtimeNs, b.atimeNs)) === 'approximate') {
              this.warnings.push(`${this.host(key)}: existed before; its mtime was put back to the microsecond only (GNU touch unavailable)`);
            }
          } catch (err) {
            this.warnings.push(`${this.host(key)}: existed before; its mtime (moved by the entries added) could not be put back: ${err instanceof Error && !(err as NodeJS.ErrnoException).code ? err.message : errnoText(err)}`);
          }
        }
      }
    } finally {
      this.closed = true;
      while (this.stack.length) fs.closeSync(this.stack.pop()!.fd);
      if (this.anchorFd !== null) fs.closeSync(this.anchorFd);
      this.anchorFd = null;
    }
    return this.warnings;
  }
}
