/**
 * Test support for the integrity check: turn a layer tar (made by GNU tar) into what moby keeps on disk:
 * a tar-split.json.gz (as vbatts/tar-split writes it) and an overlay-form diff dir (as moby's native overlay2
 * apply leaves it: `.wh.<name>` members become char devices 0:0, `.wh..wh..opq` becomes the opaque xattr).
 *
 * The tar parser here is deliberately independent of src/core/verify/integrity/tarheader.ts (it only needs the
 * member name and body size), so the tests do not check the decoder against itself.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { crc64 } from '../../../src/core/verify/crc64.js';

export interface TarSplitLine {
  type: 1 | 2;
  name?: string;
  name_raw?: string;
  size?: number;
  payload: string | null;
  position: number;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** tar bytes -> tar-split JSON lines (segments: previous padding + this member's header blocks; then the file). */
export function tarToTarSplit(tar: Buffer): TarSplitLine[] {
  const lines: TarSplitLine[] = [];
  let pos = 0;
  let off = 0;
  let segStart = 0;
  let longName: Buffer | null = null;
  let paxPath: Buffer | null = null;
  let paxSize: number | null = null;
  for (;;) {
    const block = tar.subarray(off, off + 512);
    if (block.length < 512 || block.every((b) => b === 0)) break;
    const type = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
    let size = parseOctal(block.subarray(124, 136));
    off += 512;
    if (type === 'g') {
      // Go's reader (tar-split's) returns a global header as a member of its own, size 0, its records read:
      // header and records are its segment, their padding opens the next one.
      const data = tar.subarray(off, off + size);
      lines.push({ type: 2, payload: tar.subarray(segStart, off + size).toString('base64'), position: pos++ });
      const line: TarSplitLine = { type: 1, payload: null, position: pos++ };
      setName(line, parsePax(data).find(([k]) => k === 'path')?.[1] ?? cstr(block.subarray(0, 100)));
      lines.push(line);
      segStart = off + size;
      off += Math.ceil(size / 512) * 512;
      longName = paxPath = null;
      paxSize = null;
      continue;
    }
    if (type === 'x' || type === 'L' || type === 'K') {
      const data = tar.subarray(off, off + size);
      if (type === 'L') longName = cstr(data);
      if (type === 'x') {
        for (const [k, v] of parsePax(data)) {
          if (k === 'path') paxPath = v;
          if (k === 'size') paxSize = Number(v.toString());
        }
      }
      off += Math.ceil(size / 512) * 512;
      continue;
    }
    // The member's own header: the raw segment is everything since the last body.
    lines.push({ type: 2, payload: tar.subarray(segStart, off).toString('base64'), position: pos++ });
    let name = cstr(block.subarray(0, 100));
    const magic = block.subarray(257, 263).toString('latin1');
    if (magic === 'ustar\0') {
      const prefix = cstr(block.subarray(345, 500));
      if (prefix.length > 0) name = Buffer.concat([prefix, Buffer.from('/'), name]);
    }
    if (paxPath) name = paxPath;
    if (longName) name = longName; // Go applies the GNU long name after the PAX records
    if (paxSize !== null) size = paxSize;
    longName = paxPath = null;
    paxSize = null;
    const body = type === '0' || type === '7' ? size : 0;
    const content = tar.subarray(off, off + body);
    const line: TarSplitLine = { type: 1, payload: body > 0 ? crc64(content).toString('base64') : null, position: pos++ };
    setName(line, name);
    if (size > 0) line.size = size;
    lines.push(line);
    off += body;
    segStart = off; // padding goes into the next segment, as Go's tar reader reads it with the next header
    off += (512 - (body % 512)) % 512;
  }
  lines.push({ type: 2, payload: tar.subarray(segStart).toString('base64'), position: pos++ });
  return lines;
}

function setName(line: TarSplitLine, name: Buffer): void {
  try {
    line.name = utf8Strict.decode(name);
  } catch {
    line.name_raw = name.toString('base64');
  }
}

export function encodeTarSplit(lines: TarSplitLine[]): Buffer {
  return zlib.gzipSync(Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'));
}

export function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

function parseOctal(b: Buffer): number {
  const s = b.toString('latin1').replace(/[\0 ]+$/g, '').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function cstr(b: Buffer): Buffer {
  const i = b.indexOf(0);
  return Buffer.from(i < 0 ? b : b.subarray(0, i));
}

function parsePax(data: Buffer): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(data.subarray(off, sp).toString());
    const rec = data.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    out.push([rec.subarray(0, eq).toString('latin1'), Buffer.from(rec.subarray(eq + 1))]);
    off += len;
  }
  return out;
}

/**
 * Extract a layer tar into `diffDir` the way moby's native overlay2 apply leaves it: GNU tar for the content
 * (numeric owners, modes, mtimes, xattrs), then whiteouts as char devices 0:0 (mode 0, chowned to the
 * header's owner) and opaque markers as trusted.overlay.opaque=y. Needs root.
 */
export function applyLayerTar(tarPath: string, diffDir: string): void {
  fs.mkdirSync(diffDir, { recursive: true });
  execFileSync('tar', ['-x', '--xattrs', "--xattrs-include=*", '--numeric-owner', '-p', '--exclude=.wh.*', '-f', tarPath, '-C', diffDir]);
  const listing = execFileSync('tar', ['-t', '--numeric-owner', '-v', '-f', tarPath], { encoding: 'latin1' });
  for (const line of listing.split('\n')) {
    // e.g. "-rw------- 1000/1001     0 2020-01-01 00:00 ./d/.wh.gone"
    const m = /^\S+ (\d+)\/(\d+)\s+\d+ \S+ \S+ (.*)$/.exec(line);
    if (!m) continue;
    const name = Buffer.from(m[3]!, 'latin1');
    const base = path.posix.basename(m[3]!);
    if (!base.startsWith('.wh.')) continue;
    const dir = Buffer.concat([Buffer.from(diffDir + '/'), Buffer.from(path.posix.dirname(m[3]!), 'latin1')]);
    if (base === '.wh..wh..opq') {
      execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', dir.toString('latin1')]);
      continue;
    }
    void name;
    const target = dir.toString('latin1') + '/' + base.slice(4);
    execFileSync('mknod', ['-m', '0', target, 'c', '0', '0']);
    fs.lchownSync(target, Number(m[1]), Number(m[2]));
  }
  // Adding whiteouts touched their parent dirs: put the tar's dir mtimes back (moby sets dir times last too).
  execFileSync('tar', ['-x', '--numeric-owner', '-p', '--no-recursion', '--wildcards', '--exclude=.wh.*', '-f', tarPath, '-C', diffDir, ...dirMembers(tarPath)]);
}

function dirMembers(tarPath: string): string[] {
  // Unique: GNU tar extracts every occurrence of a name given once, and fails on a name given twice.
  const dirs = execFileSync('tar', ['-t', '-f', tarPath], { encoding: 'latin1' })
    .split('\n')
    .filter((n) => n.endsWith('/'));
  return [...new Set(dirs)];
}
