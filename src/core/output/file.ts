import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { MountInfoEntry } from '../verify/mount/mountinfo.js';
import { OutputError, errnoText } from './errors.js';
import { O_DIR, O_NEWFILE, at, checkName, requireProcFd, restoreMtime } from './fsat.js';
import { checkOutput, type FileId } from './resolve.js';

/**
 * An output file (`export -o FILE`, `ci --junit FILE`): the only way layerscope creates a single file for the
 * user.
 *
 * - `OutputFile.prepare` resolves FILE and refuses: any overlap with the evidence (FILE inside it, or FILE being
 *   it), anything existing at FILE (a file, a symlink: never replaced, never followed), a parent directory that
 *   does not exist. Nothing is created yet.
 * - `open()`/`writeAll()` create it O_CREAT|O_EXCL|O_NOFOLLOW (0666 before umask) relative to its directory's
 *   fd (opened when prepared, and checked to be the directory resolved), then put that directory's mtime back
 *   (creating a name moved it; the directory existed before the run).
 */

export interface OutputFileOptions {
  evidence: readonly string[];
  mounts?: MountInfoEntry[];
}

const idOf = (st: fs.BigIntStats): FileId => ({ dev: st.dev, ino: st.ino });

export class OutputFile {
  readonly given: string;
  readonly resolved: string;
  readonly warnings: string[] = [];
  /** The first error writing through the stream (then `finish()` throws it). */
  error: OutputError | null = null;
  private dirFd: number | null;
  private fd: number | null = null;
  private stream: fs.WriteStream | null = null;
  private readonly name: Buffer;
  private readonly dirMtimeNs: bigint;
  private readonly dirAtimeNs: bigint;

  static prepare(given: string, opts: OutputFileOptions): OutputFile {
    const r = checkOutput(given, 'file', opts.evidence, opts.mounts ? { mounts: opts.mounts } : {});
    requireProcFd(given);
    let fd: number;
    try {
      fd = fs.openSync(r.anchor, O_DIR);
    } catch (err) {
      throw new OutputError('output.failed', given, `cannot open its directory ${r.anchor}: ${errnoText(err)}`);
    }
    const st = fs.fstatSync(fd, { bigint: true });
    const id = idOf(st);
    if (id.dev !== r.anchorId.dev || id.ino !== r.anchorId.ino) {
      fs.closeSync(fd);
      throw new OutputError('output.changed', given, `its directory ${r.anchor} was replaced after it was checked`);
    }
    return new OutputFile(given, r.resolved, fd, Buffer.from(r.missing[0]!, 'utf8'), st);
  }

  private constructor(given: string, resolved: string, dirFd: number, name: Buffer, dirStat: fs.BigIntStats) {
    this.given = given;
    this.resolved = resolved;
    this.dirFd = dirFd;
    this.name = name;
    checkName(name, given);
    this.dirMtimeNs = dirStat.mtimeNs;
    this.dirAtimeNs = dirStat.atimeNs;
  }

  /** Create the file; returns its fd (owned by this object: closed by finish()/abort()). */
  open(): number {
    if (this.fd !== null) return this.fd;
    if (this.dirFd === null) throw new Error('output file already finished');
    try {
      this.fd = fs.openSync(at(this.dirFd, this.name), O_NEWFILE, 0o666);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ELOOP') throw new OutputError(code === 'ELOOP' ? 'output.symlink' : 'output.exists', this.given, 'it appeared after it was checked; an existing file is never replaced, and a symlink never followed');
      throw new OutputError('output.failed', this.given, `cannot create it: ${errnoText(err)}`);
    }
    return this.fd;
  }

  /** The directory's mtime, moved by the new name, put back (once the file is written, before the fds close). */
  private async putDirBack(): Promise<void> {
    if (this.dirFd === null || this.fd === null) return;
    try {
      const st = fs.fstatSync(this.dirFd, { bigint: true });
      if (st.mtimeNs !== this.dirMtimeNs && (await restoreMtime(this.dirFd, this.dirMtimeNs, this.dirAtimeNs)) === 'approximate') {
        this.warnings.push(`${this.resolved}: its directory's mtime was put back to the microsecond only (GNU touch unavailable)`);
      }
    } catch (err) {
      this.warnings.push(`${this.resolved}: its directory's mtime (moved by the new name) could not be put back: ${errnoText(err)}`);
    }
  }

  /** Create the file and write `data` whole. */
  async writeAll(data: string | Uint8Array): Promise<void> {
    const fd = this.open();
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    try {
      try {
        while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
      } catch (err) {
        throw new OutputError('output.failed', this.given, `write failed: ${errnoText(err)}`);
      }
      await this.putDirBack();
    } finally {
      this.closeFds();
    }
  }

  /**
   * Create the file and return a stream into it. A write error is kept in `error` (and ends the stream), never
   * thrown asynchronously; `finish()` reports it.
   */
  writable(): Writable {
    if (this.stream) return this.stream;
    const fd = this.open();
    const s = fs.createWriteStream(this.resolved, { fd, autoClose: false });
    s.on('error', (err) => {
      this.error ??= new OutputError('output.failed', this.given, `write failed: ${errnoText(err)}`);
    });
    this.stream = s;
    return s;
  }

  /** Flush and close; throws the write error if there was one. Returns `warnings`. */
  async finish(): Promise<string[]> {
    const s = this.stream;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once('error', () => resolve());
        s.end(() => resolve());
      });
    }
    await this.putDirBack();
    this.closeFds();
    if (this.error) throw this.error;
    return this.warnings;
  }

  /** Close what is open; the file stays as far as it got. */
  abort(): void {
    this.stream?.destroy();
    this.closeFds();
  }

  private closeFds(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    if (this.dirFd !== null) fs.closeSync(this.dirFd);
    this.dirFd = null;
  }
}
