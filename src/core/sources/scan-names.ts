import * as fs from 'node:fs';
import type fg from 'fast-glob';
import { pathToText } from '../model/path.js';

/**
 * Names of the evidence as fast-glob can match them. Names are bytes; fast-glob (and picomatch) take strings,
 * and two kinds of name defeat them: bytes that are not UTF-8 (a string read by Node decodes them as U+FFFD, and
 * that string names another file, or none), and names holding a newline or another control character
 * (picomatch's `*` and `**` are regexes in which `.` stops at a newline: the path never matches, silently).
 * Each such name is given to fast-glob as an alias, `\x01<n>\x01`, and every path fast-glob hands back to the
 * file system adapter is mapped back to its real bytes. An alias holds a control character, so it can never be
 * the name of a real entry that is passed through as it is.
 */
export class ByteNames {
  private readonly byAlias = new Map<string, Buffer>();
  private readonly byBytes = new Map<string, string>();

  /** The name fast-glob sees for the bytes of a directory entry. */
  name(bytes: Buffer): string {
    // Most names are printable ASCII: said as they are without decoding (the scan lists every name of a disk).
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b < 0x20 || b >= 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return bytes.toString('latin1');
    const text = pathToText(bytes.toString('latin1'));
    if (text !== null && !/[\x00-\x1f\x7f-\x9f]/.test(text)) return text;
    const key = bytes.toString('latin1');
    let alias = this.byBytes.get(key);
    if (alias === undefined) {
      alias = `\x01${this.byBytes.size}\x01`;
      this.byBytes.set(key, alias);
      this.byAlias.set(alias, Buffer.from(bytes));
    }
    return alias;
  }

  /** The real bytes of a path made of names this object gave out (aliases mapped back). */
  bytes(p: string): Buffer {
    if (!p.includes('\x01')) return Buffer.from(p, 'utf8');
    const parts: Buffer[] = [];
    p.split('/').forEach((c, i) => {
      if (i) parts.push(SLASH);
      parts.push(this.byAlias.get(c) ?? Buffer.from(c, 'utf8'));
    });
    return Buffer.concat(parts);
  }
}

const SLASH = Buffer.from('/');

type Cb<T> = (err: NodeJS.ErrnoException | null, value?: T) => void;

/**
 * A fast-glob file system adapter reading names as bytes (see ByteNames), never through a symlink: `stat` is
 * lstat, so a symlink is an entry of its own and never a way into another directory. `readdir` lists with file
 * types in Buffer form; fast-glob builds every later path from the names it got, aliases included.
 */
export function byteNameFs(names: ByteNames): fg.FileSystemAdapter {
  const rename = (dirents: fs.Dirent<Buffer>[]): fs.Dirent[] =>
    dirents.map((d) => {
      // Dirent's type methods read an internal field, not the name: renaming it keeps them right.
      (d as unknown as { name: string }).name = names.name(d.name);
      return d as unknown as fs.Dirent;
    });
  const lstat = (p: string, cb: Cb<fs.Stats>): void => fs.lstat(names.bytes(p), cb);
  const lstatSync = (p: string): fs.Stats => fs.lstatSync(names.bytes(p));
  const readdir = (p: string, ...rest: unknown[]): void => {
    const cb = rest[rest.length - 1] as Cb<unknown>;
    const withTypes = typeof rest[0] === 'object' && rest[0] !== null && (rest[0] as { withFileTypes?: boolean }).withFileTypes === true;
    fs.readdir(names.bytes(p), { encoding: 'buffer', withFileTypes: true }, (err, dirents) => {
      if (err) return cb(err);
      const named = rename(dirents);
      cb(null, withTypes ? named : named.map((d) => d.name));
    });
  };
  const readdirSync = (p: string, opts?: { withFileTypes?: boolean }): unknown => {
    const named = rename(fs.readdirSync(names.bytes(p), { encoding: 'buffer', withFileTypes: true }));
    return opts?.withFileTypes ? named : named.map((d) => d.name);
  };
  return { lstat, stat: lstat, lstatSync, statSync: lstatSync, readdir, readdirSync } as unknown as fg.FileSystemAdapter;
}
