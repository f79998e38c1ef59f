import * as fs from 'node:fs';

/**
 * Host paths for paths inside a layer dir (byte strings, see model/path.ts), as fs calls take them: a string
 * when the name is ASCII (the fast, common case), else the exact bytes in a Buffer (fs reads strings as UTF-8).
 *
 * Paths longer than the kernel's PATH_MAX go through /proc/self/fd anchors: a directory opened part-way down
 * (O_DIRECTORY|O_NOFOLLOW), then the rest relative to it. So evidence nested thousands of levels deep is read,
 * not refused with ENAMETOOLONG. Walk-ordered paths share their anchors.
 */

const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
/** Paths longer than this go through an anchor (PATH_MAX is 4096 with the NUL). */
const LONG = 3500;
/** Size of the relative part after an anchor. */
const SEGMENT = 2000;
const NON_ASCII = /[^\x00-\x7f]/;

export class HostPaths {
  private readonly rootBuf: Buffer;
  /** The anchor chain of the last deep path: anchors[k] is an fd for rel.slice(0, ends[k]). */
  private ends: number[] = [];
  private fds: number[] = [];
  private anchorOf = '';

  constructor(readonly root: string) {
    this.rootBuf = Buffer.from(root, 'utf8');
  }

  /** What fs calls take for `rel` ('' = the root): a string when ASCII, else the exact bytes. */
  host(rel: string): string | Buffer {
    if (rel === '') return this.root;
    if (this.root.length + rel.length + 1 < LONG) return NON_ASCII.test(rel) ? Buffer.concat([this.rootBuf, SLASH, Buffer.from(rel, 'latin1')]) : this.root + '/' + rel;
    return this.anchored(rel);
  }

  /** `rel` through /proc/self/fd: open dirs along it every SEGMENT bytes (reusing the previous path's). */
  private anchored(rel: string): string | Buffer {
    // Keep the anchors that are prefixes of rel.
    let keep = 0;
    while (keep < this.ends.length && rel.startsWith(this.anchorOf.slice(0, this.ends[keep]!)) && rel.charCodeAt(this.ends[keep]!) === 0x2f) keep++;
    for (let k = keep; k < this.fds.length; k++) fs.closeSync(this.fds[k]!);
    this.fds.length = keep;
    this.ends.length = keep;
    let start = keep ? this.ends[keep - 1]! + 1 : 0;
    while (rel.length - start >= SEGMENT) {
      // Cut at the last '/' that leaves the segment under SEGMENT bytes.
      let cut = rel.lastIndexOf('/', start + SEGMENT);
      if (cut <= start) cut = rel.indexOf('/', start + 1);
      if (cut < 0) break;
      const seg = rel.slice(start, cut);
      const base = this.fds.length ? `/proc/self/fd/${this.fds[this.fds.length - 1]}` : this.root;
      const fd = fs.openSync(join(base, seg), O_DIR);
      this.fds.push(fd);
      this.ends.push(cut);
      start = cut + 1;
    }
    this.anchorOf = rel;
    const base = this.fds.length ? `/proc/self/fd/${this.fds[this.fds.length - 1]}` : this.root;
    return join(base, rel.slice(start));
  }

  close(): void {
    for (const fd of this.fds) fs.closeSync(fd);
    this.fds = [];
    this.ends = [];
  }
}

const SLASH = Buffer.from('/');

function join(base: string, rel: string): string | Buffer {
  return NON_ASCII.test(rel) ? Buffer.concat([Buffer.from(base, 'utf8'), SLASH, Buffer.from(rel, 'latin1')]) : base + '/' + rel;
}


