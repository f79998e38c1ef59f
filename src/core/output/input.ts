import * as fs from 'node:fs';
import { InputFileError, errnoText } from './errors.js';
import { describeType } from './resolve.js';

/**
 * A small file the user names, read whole (`ci --config FILE`, a daemon.json): only a regular file, at most
 * `max` bytes. A FIFO, a device (/dev/zero), a directory or a socket is refused before it is opened (opening a
 * FIFO would wait for a writer, reading /dev/zero would never end); the open is non-blocking and the opened file
 * is checked again (it may have been swapped), and no more than `max` + 1 bytes are ever read. Symlinks are
 * followed: the user named this file, it is not evidence.
 */
export function readInputFile(file: string, opts: { max: number; label: string }): Buffer {
  const what = `${opts.label} ${file}`;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputFileError('input.missing', file, `${what}: ENOENT (no such file)`);
    throw new InputFileError('input.unreadable', file, `${what}: ${errnoText(err)}`);
  }
  const refuse = (s: fs.Stats) => {
    if (!s.isFile()) throw new InputFileError('input.not-a-file', file, `${what}: not a regular file (${describeType(s)}); give a file`);
    if (s.size > opts.max) throw new InputFileError('input.too-large', file, `${what}: ${s.size} bytes, more than the ${opts.max} bytes such a file may hold`);
  };
  refuse(st);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw new InputFileError('input.unreadable', file, `${what}: ${errnoText(err)}`);
  }
  try {
    refuse(fs.fstatSync(fd));
    const buf = Buffer.alloc(opts.max + 1);
    let n = 0;
    while (n < buf.length) {
      const r = fs.readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
    }
    if (n > opts.max) throw new InputFileError('input.too-large', file, `${what}: more than the ${opts.max} bytes such a file may hold`);
    return buf.subarray(0, n);
  } catch (err) {
    if (err instanceof InputFileError) throw err;
    throw new InputFileError('input.unreadable', file, `${what}: ${errnoText(err)}`);
  } finally {
    fs.closeSync(fd);
  }
}
