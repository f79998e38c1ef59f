import type * as fs from 'node:fs';
import type { EntryType } from '../model/types.js';

/** The entry type of an lstat result. */
export function entryTypeOf(st: fs.BigIntStats | fs.Stats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}
