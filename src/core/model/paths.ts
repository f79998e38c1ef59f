import { LimitError, LIMITS } from './limits.js';

/**
 * Every path a source's layers mention, interned once: one id per path, shared by every layer and every image
 * of the source, so that twenty images over one base cost the base's paths once.
 *
 * A compact trie in typed arrays (no object per path): `parent`, the name's bytes in one arena, a sorted
 * first-child/next-sibling list, and an open-addressing hash on (parent, name) for lookups. About 30 bytes per
 * path plus its name's bytes; nothing here is ever traced by the garbage collector.
 *
 * Names are byte strings (see path.ts): every char code is one byte. Children are kept sorted by name bytes, so
 * that a depth-first walk visits paths in walk order (compareWalkOrder) without sorting anything.
 */

export const ROOT_PATH = 0;
const EMPTY = -1;

export class PathTable {
  private n = 1;
  private cap: number;
  private parentOf: Int32Array;
  /** Name of node i is arena[nameAt[i], nameAt[i + 1]): names are appended in node order. */
  private nameAt: Uint32Array;
  private first: Int32Array;
  private next: Int32Array;
  /** The child found or inserted last under each node: walk-ordered input inserts at or after it. */
  private hint: Int32Array;
  /** Each node's hash: rehashing reinserts without reading names (a 300k-path table in a few ms). */
  private hashes: Uint32Array;
  private arena: Uint8Array;
  private arenaView: Buffer;
  private arenaLen = 0;
  private slots: Int32Array;
  private mask: number;

  constructor(capacity = 1024) {
    this.cap = Math.max(16, capacity);
    this.parentOf = new Int32Array(this.cap);
    this.nameAt = new Uint32Array(this.cap + 1);
    this.first = new Int32Array(this.cap).fill(EMPTY);
    this.next = new Int32Array(this.cap).fill(EMPTY);
    this.hint = new Int32Array(this.cap).fill(EMPTY);
    this.hashes = new Uint32Array(this.cap);
    this.parentOf[ROOT_PATH] = EMPTY;
    this.arena = new Uint8Array(this.cap * 12);
    this.arenaView = Buffer.from(this.arena.buffer, this.arena.byteOffset, this.arena.byteLength);
    const slots = nextPow2(this.cap * 2);
    this.slots = new Int32Array(slots);
    this.mask = slots - 1;
  }

  /** Number of paths (the root included). Ids are 0..count-1. */
  get count(): number {
    return this.n;
  }

  /** Bytes held (for the memory benchmarks). */
  get byteSize(): number {
    return this.parentOf.byteLength + this.nameAt.byteLength + this.first.byteLength + this.next.byteLength + this.hint.byteLength + this.hashes.byteLength + this.arena.byteLength + this.slots.byteLength;
  }

  parent(id: number): number {
    return this.parentOf[id]!;
  }

  firstChild(id: number): number {
    return this.first[id]!;
  }

  nextSibling(id: number): number {
    return this.next[id]!;
  }

  /** The last component of a path (byte string); '' for the root. */
  name(id: number): string {
    return this.arenaView.toString('latin1', this.nameAt[id]!, this.nameAt[id + 1]!);
  }

  nameLength(id: number): number {
    return this.nameAt[id + 1]! - this.nameAt[id]!;
  }

  /** Depth of a path: 0 for the root, 1 for a top-level name. */
  depth(id: number): number {
    let d = 0;
    for (let p = id; p !== ROOT_PATH; p = this.parentOf[p]!) d++;
    return d;
  }

  /** The layer path of an id ('a/b/c', '' for the root). */
  path(id: number): string {
    if (id === ROOT_PATH) return '';
    const parts: string[] = [];
    for (let p = id; p !== ROOT_PATH; p = this.parentOf[p]!) parts.push(this.name(p));
    parts.reverse();
    return parts.join('/');
  }

  /** True when `id` is `ancestor` or lies below it. */
  isWithin(id: number, ancestor: number): boolean {
    for (let p = id; p !== EMPTY; p = this.parentOf[p]!) if (p === ancestor) return true;
    return false;
  }

  /** The child of `parent` named `name`, or -1. Never creates. */
  child(parent: number, name: string): number {
    const h = this.hashOf(parent, name);
    let s = h & this.mask;
    for (;;) {
      const id = this.slots[s]!;
      if (id === 0) return EMPTY;
      if (this.hashes[id] === h && this.parentOf[id] === parent && this.nameEquals(id, name)) return id;
      s = (s + 1) & this.mask;
    }
  }

  /** The id of a layer path, or -1 when no layer mentions it. */
  lookup(path: string): number {
    if (path === '') return ROOT_PATH;
    let id = ROOT_PATH;
    let start = 0;
    for (;;) {
      const slash = path.indexOf('/', start);
      id = this.child(id, slash < 0 ? path.slice(start) : path.slice(start, slash));
      if (id === EMPTY || slash < 0) return id;
      start = slash + 1;
    }
  }

  /** The child of `parent` named `name`, created (in sorted position) when new. */
  intern(parent: number, name: string): number {
    const h = this.hashOf(parent, name);
    let s = h & this.mask;
    for (;;) {
      const id = this.slots[s]!;
      if (id === 0) break;
      if (this.hashes[id] === h && this.parentOf[id] === parent && this.nameEquals(id, name)) {
        this.hint[parent] = id;
        return id;
      }
      s = (s + 1) & this.mask;
    }
    const id = this.newId(parent);
    this.hashes[id] = h;
    this.appendName(id, name);
    this.link(parent, id);
    this.slots[s] = id;
    if (this.n * 2 > this.slots.length) this.rehash();
    return id;
  }

  /**
   * intern() for a name given as bytes[start, end) of a buffer (what the walk workers send): no string is made,
   * so a million names cost no garbage.
   */
  internBytes(parent: number, bytes: Uint8Array, start: number, end: number): number {
    let h = Math.imul(0x811c9dc5 ^ parent, 0x01000193);
    for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    h ^= h >>> 15;
    const hash = Math.imul(h, 0x2c1b3c6d) >>> 0;
    let s = hash & this.mask;
    const len = end - start;
    const arena = this.arena;
    for (;;) {
      const id = this.slots[s]!;
      if (id === 0) break;
      if (this.hashes[id] === hash && this.parentOf[id] === parent && this.nameAt[id + 1]! - this.nameAt[id]! === len) {
        const a = this.nameAt[id]!;
        let k = 0;
        while (k < len && arena[a + k] === bytes[start + k]) k++;
        if (k === len) {
          this.hint[parent] = id;
          return id;
        }
      }
      s = (s + 1) & this.mask;
    }
    const id = this.newId(parent);
    this.hashes[id] = hash;
    const at = this.reserveName(id, len);
    this.arena.set(bytes.subarray(start, end), at);
    this.link(parent, id);
    this.slots[s] = id;
    if (this.n * 2 > this.slots.length) this.rehash();
    return id;
  }

  private newId(parent: number): number {
    if (this.n >= LIMITS.paths) throw new LimitError('limit.paths', `more than ${LIMITS.paths} distinct paths in one source`);
    if (this.n + 1 >= this.cap) this.grow();
    const id = this.n++;
    this.parentOf[id] = parent;
    return id;
  }

  // The path interned last, and the id of each of its prefixes: walk-ordered input shares long prefixes.
  private lastPath = '';
  private lastEnds: number[] = [];
  private lastIds: number[] = [];

  /** The id of a layer path ('a/b/c'), creating what is missing. Fastest when paths come in walk order. */
  internPath(path: string): number {
    if (path === '') return ROOT_PATH;
    // Components shared with the previous path are not hashed again.
    const last = this.lastPath;
    const max = Math.min(path.length, last.length);
    let k = 0;
    while (k < max && path.charCodeAt(k) === last.charCodeAt(k)) k++;
    let depth = 0;
    const ends = this.lastEnds;
    while (depth < ends.length && ends[depth]! <= k && (ends[depth] === path.length || path.charCodeAt(ends[depth]!) === 0x2f)) depth++;
    ends.length = depth;
    this.lastIds.length = depth;
    let id = depth ? this.lastIds[depth - 1]! : ROOT_PATH;
    let start = depth ? ends[depth - 1]! + 1 : 0;
    while (start <= path.length) {
      let slash = path.indexOf('/', start);
      if (slash < 0) slash = path.length;
      id = this.intern(id, path.slice(start, slash));
      ends.push(slash);
      this.lastIds.push(id);
      start = slash + 1;
    }
    this.lastPath = path;
    return id;
  }

  /** Children of a path, sorted by name bytes. */
  *children(id: number): Generator<number> {
    for (let c = this.first[id]!; c !== EMPTY; c = this.next[c]!) yield c;
  }

  /** Compare the name of `id` with `name` by bytes: <0, 0, >0. */
  compareName(id: number, name: string): number {
    const a = this.nameAt[id]!;
    const len = this.nameAt[id + 1]! - a;
    const n = Math.min(len, name.length);
    const arena = this.arena;
    for (let i = 0; i < n; i++) {
      const d = arena[a + i]! - name.charCodeAt(i);
      if (d !== 0) return d;
    }
    return len - name.length;
  }

  /** Compare the names of two paths by bytes. */
  compareNames(a: number, b: number): number {
    const sa = this.nameAt[a]!;
    const sb = this.nameAt[b]!;
    const la = this.nameAt[a + 1]! - sa;
    const lb = this.nameAt[b + 1]! - sb;
    const n = Math.min(la, lb);
    const arena = this.arena;
    for (let i = 0; i < n; i++) {
      const d = arena[sa + i]! - arena[sb + i]!;
      if (d !== 0) return d;
    }
    return la - lb;
  }

  /** Whether the name of `id` is `name`. */
  hasName(id: number, name: string): boolean {
    return this.nameEquals(id, name);
  }

  private nameEquals(id: number, name: string): boolean {
    const a = this.nameAt[id]!;
    if (this.nameAt[id + 1]! - a !== name.length) return false;
    const arena = this.arena;
    for (let i = 0; i < name.length; i++) if (arena[a + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  /** FNV-1a over (parent, name bytes), finished so that the low bits (what the mask keeps) depend on all. */
  private hashOf(parent: number, name: string): number {
    let h = Math.imul(0x811c9dc5 ^ parent, 0x01000193);
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    h ^= h >>> 15;
    return Math.imul(h, 0x2c1b3c6d) >>> 0;
  }

  private appendName(id: number, name: string): void {
    // Reserve first: it may move the arena (write into the new one).
    const at = this.reserveName(id, name.length);
    this.arenaView.write(name, at, 'latin1');
  }

  /** Room for the `len` bytes of node id's name at the end of the arena; returns where they go. */
  private reserveName(id: number, len: number): number {
    const start = this.arenaLen;
    const end = start + len;
    if (end > this.arena.length) {
      const bigger = new Uint8Array(Math.max(end, Math.ceil(this.arena.length * 1.5)));
      bigger.set(this.arena.subarray(0, this.arenaLen));
      this.arena = bigger;
      this.arenaView = Buffer.from(bigger.buffer, bigger.byteOffset, bigger.byteLength);
    }
    this.arenaLen = end;
    this.nameAt[id] = start;
    this.nameAt[id + 1] = end;
    return start;
  }

  /** Insert `id` (its name already in the arena) among the children of `parent` in name order, from the hint. */
  private link(parent: number, id: number): void {
    let prev = EMPTY;
    let cur = this.first[parent]!;
    const h = this.hint[parent]!;
    if (h !== EMPTY && this.compareNames(h, id) < 0) {
      prev = h;
      cur = this.next[h]!;
    }
    while (cur !== EMPTY && this.compareNames(cur, id) < 0) {
      prev = cur;
      cur = this.next[cur]!;
    }
    this.next[id] = cur;
    if (prev === EMPTY) this.first[parent] = id;
    else this.next[prev] = id;
    this.hint[parent] = id;
  }

  private grow(): void {
    const cap = Math.ceil(this.cap * 1.5) + 16;
    const g = <T extends Int32Array | Uint32Array>(a: T, size: number, fill?: number): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      if (fill !== undefined) b.fill(fill);
      b.set(a);
      return b;
    };
    this.parentOf = g(this.parentOf, cap);
    this.nameAt = g(this.nameAt, cap + 1);
    this.first = g(this.first, cap, EMPTY);
    this.next = g(this.next, cap, EMPTY);
    this.hint = g(this.hint, cap, EMPTY);
    this.hashes = g(this.hashes, cap);
    this.cap = cap;
  }

  private rehash(): void {
    const size = this.slots.length * 2;
    const slots = new Int32Array(size);
    const mask = size - 1;
    for (let id = 1; id < this.n; id++) {
      let s = this.hashes[id]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = id;
    }
    this.slots = slots;
    this.mask = mask;
  }
}

function nextPow2(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}
