/**
 * A tiny bbolt writer for tests: builds a database file from a tree of buckets and values, in the on-disk
 * format bbolt itself writes (two meta pages, an empty freelist page, one leaf page per bucket; see the format
 * notes in src/core/sources/containerd/bbolt.ts). Only for small trees: every bucket must fit in one page.
 * It lets tests craft containerd databases that no engine would write (no namespaces, hostile records).
 */
import { fnv64a } from '../../src/core/sources/containerd/bbolt.js';

/** A bucket: keys map to values (bytes or text) or to nested buckets. */
export interface BoltTree {
  [key: string]: Buffer | string | BoltTree;
}

const PAGE = 4096;
const HEADER = 16;
const ELEMENT = 16;

export function buildBolt(root: BoltTree): Buffer {
  const pages: Buffer[] = [];
  // Pages 0, 1: meta; 2: freelist. Buckets are laid out from page 3, the root bucket first.
  let next = 3;
  const layout: { id: number; tree: BoltTree }[] = [];
  const assign = (tree: BoltTree): number => {
    const id = next++;
    layout.push({ id, tree });
    for (const k of Object.keys(tree).sort(byBytes)) {
      const v = tree[k]!;
      if (typeof v === 'object' && !Buffer.isBuffer(v)) assign(v);
    }
    return id;
  };
  const rootId = assign(root);
  // Bucket page ids are known once every bucket has one: assign in the same order again to map trees to ids.
  const idOf = new Map<BoltTree, number>(layout.map((l) => [l.tree, l.id]));
  const total = next;
  for (let i = 0; i < total; i++) pages.push(Buffer.alloc(PAGE));
  for (const which of [0, 1] as const) writeMeta(pages[which]!, which, rootId, total);
  header(pages[2]!, 2, 0x10, 0);
  for (const { id, tree } of layout) {
    const keys = Object.keys(tree).sort(byBytes);
    const p = pages[id]!;
    header(p, id, 0x02, keys.length);
    let data = HEADER + keys.length * ELEMENT;
    keys.forEach((k, i) => {
      const v = tree[k]!;
      const isBucket = typeof v === 'object' && !Buffer.isBuffer(v);
      const key = Buffer.from(k, 'utf8');
      let value: Buffer;
      if (isBucket) {
        value = Buffer.alloc(16);
        value.writeBigUInt64LE(BigInt(idOf.get(v as BoltTree)!), 0);
      } else value = Buffer.isBuffer(v) ? v : Buffer.from(v as string, 'utf8');
      const e = HEADER + i * ELEMENT;
      p.writeUInt32LE(isBucket ? 1 : 0, e);
      p.writeUInt32LE(data - e, e + 4);
      p.writeUInt32LE(key.length, e + 8);
      p.writeUInt32LE(value.length, e + 12);
      if (data + key.length + value.length > PAGE) throw new Error('buildBolt: bucket does not fit in one page');
      key.copy(p, data);
      value.copy(p, data + key.length);
      data += key.length + value.length;
    });
  }
  return Buffer.concat(pages);
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function header(p: Buffer, id: number, flags: number, count: number): void {
  p.writeBigUInt64LE(BigInt(id), 0);
  p.writeUInt16LE(flags, 8);
  p.writeUInt16LE(count, 10);
  p.writeUInt32LE(0, 12);
}

function writeMeta(p: Buffer, which: 0 | 1, rootId: number, total: number): void {
  header(p, which, 0x04, 0);
  const m = p.subarray(HEADER, HEADER + 64);
  m.writeUInt32LE(0xed0cdaed, 0);
  m.writeUInt32LE(2, 4);
  m.writeUInt32LE(PAGE, 8);
  m.writeUInt32LE(0, 12);
  m.writeBigUInt64LE(BigInt(rootId), 16);
  m.writeBigUInt64LE(0n, 24);
  m.writeBigUInt64LE(2n, 32);
  m.writeBigUInt64LE(BigInt(total), 40);
  m.writeBigUInt64LE(BigInt(which + 1), 48);
  m.writeBigUInt64LE(fnv64a(m.subarray(0, 56)), 56);
}

/** Go binary.PutUvarint. */
export function uvarintBytes(n: number | bigint): Buffer {
  let x = BigInt(n);
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Buffer.from(out);
}

/** A protobuf Any { 1: type_url, 2: value } (how containerd stores a container's runtime spec). */
export function protoAny(typeUrl: string, value: Buffer | string): Buffer {
  const field = (n: number, b: Buffer) => Buffer.concat([Buffer.from([(n << 3) | 2]), uvarintBytes(b.length), b]);
  return Buffer.concat([field(1, Buffer.from(typeUrl)), field(2, Buffer.isBuffer(value) ? value : Buffer.from(value))]);
}
