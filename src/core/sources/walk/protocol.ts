/**
 * Messages between the walk pool (main thread) and its workers. Everything bulky travels in typed arrays that
 * are transferred, never copied: a chunk of a million-entry layer is a few buffers, not a million objects.
 */

/** Entries per chunk: big enough that messages cost nothing, small enough that both workers stay busy. */
export const CHUNK = 4096;

/** A slice of a layer dir's listing, in walk order (dirs before their contents, names sorted by bytes). */
export interface ListChunk {
  seq: number;
  /** Global index of the first entry of this chunk in the layer's listing. */
  first: number;
  count: number;
  /** Each entry's path relative to the layer root, latin1 bytes: rel[i] = relBytes[relAt[i], relAt[i+1]). */
  relBytes: Uint8Array;
  relAt: Uint32Array;
  /** Where each entry's last component starts in relBytes. */
  nameAt: Uint32Array;
  /** Global index of each entry's parent dir entry; -1 for entries of the layer root. */
  parent: Int32Array;
}

export interface WalkProblem {
  severity: 'error' | 'warning' | 'info';
  code: string;
  message: string;
  /** Relative path in the layer ('' for the root). */
  rel: string;
}

/** What lstat (and readlink, and the xattr calls) said of each entry of a chunk. */
export interface StatChunk {
  seq: number;
  /** 0 = ok; 1 = gone or unreadable (see problems). */
  failed: Uint8Array;
  /** st_mode (type and permission bits). */
  mode: Uint32Array;
  uid: Uint32Array;
  gid: Uint32Array;
  size: Float64Array;
  mtime: Float64Array;
  nsec: Uint32Array;
  nlink: Uint32Array;
  /** Inode and device, as decimal strings, only for regular files with nlink > 1 (hard links); else ''. */
  inodeKey: string[];
  rdevMajor: Uint32Array;
  rdevMinor: Uint32Array;
  /** Symlink targets: link[i] = linkBytes[linkAt[i], linkAt[i+1]). */
  linkBytes: Uint8Array;
  linkAt: Uint32Array;
  /** Entries that have extended attributes: index in the chunk, then name/value pairs (values raw). */
  xattrs: { index: number; attrs: [string, Uint8Array][] }[];
  problems: WalkProblem[];
  /** The chunk's own buffers, handed back. */
  list: ListChunk;
}

export type Job =
  | { op: 'list'; id: number; root: string }
  | { op: 'stat'; id: number; root: string; xattrs: boolean; chunk: ListChunk }
  /** `below`: a byte string (latin1) under `root` to size instead of root itself (names read from the evidence). */
  | { op: 'size'; id: number; root: string; below: string; maxEntries: number; count: 'files' | 'df' };

export type Reply =
  | { id: number; kind: 'chunk'; chunk: ListChunk }
  | { id: number; kind: 'listed'; entries: number; problems: WalkProblem[]; rootXattrs: [string, Uint8Array][] | null }
  | { id: number; kind: 'stat'; stat: StatChunk }
  | { id: number; kind: 'size'; bytes: number; files: number; entries: number; problems: WalkProblem[] }
  | { id: number; kind: 'error'; code: string; message: string };

/** A StatChunk for `c` with every column zero (the worker fills it; a failed job reports it as is). */
export function emptyStat(c: ListChunk): StatChunk {
  const n = c.count;
  return {
    seq: c.seq,
    failed: new Uint8Array(n),
    mode: new Uint32Array(n),
    uid: new Uint32Array(n),
    gid: new Uint32Array(n),
    size: new Float64Array(n),
    mtime: new Float64Array(n),
    nsec: new Uint32Array(n),
    nlink: new Uint32Array(n),
    inodeKey: new Array<string>(n).fill(''),
    rdevMajor: new Uint32Array(n),
    rdevMinor: new Uint32Array(n),
    linkBytes: new Uint8Array(0),
    linkAt: new Uint32Array(n + 1),
    xattrs: [],
    problems: [],
    list: c,
  };
}
