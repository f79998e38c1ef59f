/**
 * The bbolt reader against real databases written by containerd 1.7 (Docker 26, containerd image store), with
 * the answers containerd's own `ctr` gave for them (fixtures/make-bolt-fixtures.sh), and against corrupted
 * copies: every corruption must end in a BoltError naming the file, never in a hang or another exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { BoltError, fnv64a, openBolt, readUvarint, readVarint, type BoltDb, type Bucket } from '../../../src/core/sources/containerd/bbolt.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8')) as {
  images: Record<string, string>;
  snapshots: Record<string, { parent: string | null; kind: string }>;
  content: string[];
  containers: string[];
  keeper: { id: string; upperId: number; lowerIds: number[] };
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-bolt-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const metaBytes = gunzipSync(fs.readFileSync(path.join(FIX, 'meta.db.gz')));
const snapBytes = gunzipSync(fs.readFileSync(path.join(FIX, 'metadata.db.gz')));

let n = 0;
function writeTmp(bytes: Uint8Array, name = 'db'): string {
  const p = path.join(tmp, `${name}-${n++}`);
  fs.writeFileSync(p, bytes);
  return p;
}

function withDb<T>(bytes: Uint8Array, fn: (db: BoltDb, file: string) => T): T {
  const file = writeTmp(bytes);
  const db = openBolt(file);
  try {
    return fn(db, file);
  } finally {
    db.close();
  }
}

/** Visit every key, value and nested bucket; returns the number of entries. */
function walkAll(b: Bucket): number {
  let count = 0;
  for (const e of b.entries()) {
    count++;
    if (e.isBucket) count += walkAll(b.bucket(e.key)!);
    else assert.ok(e.value);
  }
  return count;
}

const s = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));
const KIND: Record<number, string> = { 1: 'View', 2: 'Active', 3: 'Committed' };

test('meta.db: image names and targets are those ctr lists (branch pages, inline buckets)', () => {
  withDb(metaBytes, (db) => {
    assert.equal(db.meta.pageSize, 4096);
    const images = db.bucket(['v1', 'moby', 'images'])!;
    assert.ok(images, 'v1/moby/images exists');
    const names = [...images.bucketNames()].map((k) => k.toString('utf8'));
    assert.deepEqual(names, Object.keys(expected.images).sort());
    assert.ok(names.length > 150);
    // 150+ images do not fit one page: the images bucket is a real tree, and each image an inline bucket.
    assert.notEqual(images.rootPage, null);
    for (const name of names) {
      const img = images.bucket(name)!;
      assert.equal(s(img.bucket('target')!.get('digest')), expected.images[name], name);
      assert.equal(s(img.bucket('target')!.get('mediatype')), 'application/vnd.oci.image.manifest.v1+json');
    }
    // bbolt inlines only small buckets without sub-buckets: an image's `target`, not the image itself.
    assert.notEqual(images.bucket('docker.io/library/ls-base:1')!.rootPage, null);
    assert.equal(images.bucket('docker.io/library/ls-base:1')!.bucket('target')!.rootPage, null, 'target is inline');
    // get() on a key in a later leaf works (binary descent), and a bucket key is not a value.
    assert.equal(images.get('docker.io/library/ls-base:1'), null);
    assert.equal(images.bucket('docker.io/library/nope:1'), null);
    assert.equal(db.bucket(['v1', 'moby', 'nope']), null);
    // Top level: version is a Go varint (containerd 1.7: dbVersion 3).
    const version = db.bucket(['v1'])!.get('version')!;
    assert.equal(readVarint(version)!.value, 3n);
  });
});

test('meta.db: content blobs, snapshots and containers match ctr (overflow pages)', () => {
  withDb(metaBytes, (db) => {
    const blobs = [...db.bucket(['v1', 'moby', 'content', 'blob'])!.bucketNames()].map((k) => k.toString());
    assert.deepEqual(blobs, expected.content);
    const snaps = db.bucket(['v1', 'moby', 'snapshots', 'overlayfs'])!;
    const keys = [...snaps.bucketNames()].map((k) => k.toString());
    assert.deepEqual(keys, Object.keys(expected.snapshots).sort());
    for (const key of keys) {
      const parent = s(snaps.bucket(key)!.get('parent'));
      assert.equal(parent, expected.snapshots[key]!.parent, key);
      assert.match(s(snaps.bucket(key)!.get('name'))!, new RegExp(`^moby/\\d+/${key.replace(/[:.]/g, '\\$&')}$`));
    }
    const containers = db.bucket(['v1', 'moby', 'containers'])!;
    assert.deepEqual([...containers.bucketNames()].map((k) => k.toString()), expected.containers);
    // The OCI spec (a protobuf Any holding JSON) is bigger than a page: it lives in overflow pages.
    const spec = containers.bucket(expected.keeper.id)!.get('spec')!;
    assert.ok(spec.length > db.meta.pageSize, `spec is ${spec.length} bytes`);
    const json = spec.toString('latin1');
    assert.ok(json.includes('"ociVersion"') && json.trimEnd().endsWith('}'));
    const text = json.slice(json.indexOf('{'));
    assert.doesNotThrow(() => JSON.parse(text));
  });
});

test('metadata.db: snapshot kinds and the keeper container mount chain match ctr', () => {
  withDb(metaBytes, (meta) =>
    withDb(snapBytes, (db) => {
      const snaps = db.bucket(['v1', 'snapshots'])!;
      const names = meta.bucket(['v1', 'moby', 'snapshots', 'overlayfs'])!;
      for (const [key, want] of Object.entries(expected.snapshots)) {
        const backend = s(names.bucket(key)!.get('name'))!;
        const b = snaps.bucket(backend)!;
        assert.ok(b, backend);
        assert.equal(KIND[b.get('kind')![0]!], want.kind, key);
      }
      const idOf = (backend: string) => Number(readUvarint(snaps.bucket(backend)!.get('id')!)!.value);
      const backend = s(names.bucket(expected.keeper.id)!.get('name'))!;
      assert.equal(idOf(backend), expected.keeper.upperId);
      const lowers: number[] = [];
      for (let p = s(snaps.bucket(backend)!.get('parent')); p !== null; p = s(snaps.bucket(p)!.get('parent'))) lowers.push(idOf(p));
      assert.deepEqual(lowers, expected.keeper.lowerIds);
      // parents index: key = uvarint parent id, 0x00, uvarint child id; value = child backend key.
      const parents = [...db.bucket(['v1', 'parents'])!.values()];
      const upper = parents.find(([, v]) => v.toString() === backend);
      assert.ok(upper, 'parents index names the keeper');
      const pid = readUvarint(upper[0])!;
      assert.equal(Number(pid.value), expected.keeper.lowerIds[0]);
      assert.equal(upper[0][pid.length], 0);
      assert.equal(Number(readUvarint(upper[0], pid.length + 1)!.value), expected.keeper.upperId);
    }),
  );
});

test('iteration is in key order and walks the whole database', () => {
  for (const bytes of [metaBytes, snapBytes]) {
    withDb(bytes, (db) => {
      const total = walkAll(db.root);
      assert.ok(total > 10);
      const images = db.bucket(['v1', 'moby', 'images']);
      if (images) {
        const keys = [...images.entries()].map((e) => e.key);
        for (let i = 1; i < keys.length; i++) assert.ok(Buffer.compare(keys[i - 1]!, keys[i]!) < 0);
      }
    });
  }
});

test('the file is opened read-only and left untouched', () => {
  const file = writeTmp(metaBytes);
  fs.chmodSync(file, 0o444);
  const before = fs.statSync(file);
  const db = openBolt(file);
  walkAll(db.root);
  db.close();
  const after = fs.statSync(file);
  assert.equal(after.mtimeMs, before.mtimeMs);
  assert.equal(after.atimeMs, before.atimeMs, 'O_NOATIME: atime unchanged');
  assert.ok(fs.readFileSync(file).equals(metaBytes));
  assert.throws(() => db.root.get('x'), (e: unknown) => e instanceof BoltError && e.code === 'bolt.closed');
});

// ---------------------------------------------------------------------------------------------------------
// Corruption
// ---------------------------------------------------------------------------------------------------------

const PS = 4096;

function expectBoltError(fn: () => unknown, code: string | RegExp, file?: string): BoltError {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof BoltError, `expected a BoltError, got ${caught instanceof Error ? caught.stack : String(caught)}`);
  if (typeof code === 'string') assert.equal(caught.code, code, caught.message);
  else assert.match(caught.code, code, caught.message);
  if (file) assert.ok(caught.message.startsWith(file + ': '), caught.message);
  return caught;
}

/** Open and walk everything. */
function openAndWalk(file: string): void {
  const db = openBolt(file);
  try {
    walkAll(db.root);
  } finally {
    db.close();
  }
}

/** Rewrite a meta page field and fix its checksum, so that only the field is wrong. */
function patchMeta(bytes: Buffer, which: 0 | 1, patch: (m: Buffer) => void): Buffer {
  const out = Buffer.from(bytes);
  const m = out.subarray(which * PS + 16, which * PS + 16 + 64);
  patch(m);
  m.writeBigUInt64LE(fnv64a(m.subarray(0, 56)), 56);
  return out;
}

function currentMeta(bytes: Buffer): 0 | 1 {
  const tx = (w: number) => bytes.readBigUInt64LE(w * PS + 16 + 48);
  return tx(1) > tx(0) ? 1 : 0;
}

test('truncated files: clear errors naming the file', () => {
  for (const len of [0, 50, PS + 10, 3 * PS, Math.floor(metaBytes.length / 8)]) {
    const file = writeTmp(metaBytes.subarray(0, len), 'trunc');
    expectBoltError(() => openAndWalk(file), /^bolt\.(truncated|meta\.invalid|page\.range)$/, file);
  }
  // A file of zeros or text is not bbolt.
  const zeros = writeTmp(Buffer.alloc(3 * PS), 'zeros');
  const e = expectBoltError(() => openBolt(zeros), 'bolt.meta.invalid', zeros);
  assert.match(e.message, /bad magic/);
  const missing = path.join(tmp, 'missing.db');
  expectBoltError(() => openBolt(missing), 'bolt.open', missing);
});

test('meta pages: bad checksum falls back to the other meta, bad magic in both fails', () => {
  const cur = currentMeta(metaBytes);
  const bad = Buffer.from(metaBytes);
  bad[cur * PS + 16 + 20] ^= 0xff; // inside the root field: checksum no longer matches
  withDb(bad, (db) => {
    assert.equal(db.meta.which, cur === 0 ? 1 : 0);
    walkAll(db.root);
  });
  const both = Buffer.from(metaBytes);
  both.writeUInt32LE(0xdeadbeef, 16);
  both.writeUInt32LE(0xdeadbeef, PS + 16);
  const file = writeTmp(both);
  const e = expectBoltError(() => openBolt(file), 'bolt.meta.invalid', file);
  assert.match(e.message, /bad magic 0xdeadbeef/);
  const v = patchMeta(patchMeta(metaBytes, 0, (m) => m.writeUInt32LE(3, 4)), 1, (m) => m.writeUInt32LE(3, 4));
  const vf = writeTmp(v);
  assert.match(expectBoltError(() => openBolt(vf), 'bolt.meta.invalid', vf).message, /unsupported version 3/);
});

test('page pointers out of range: root, branch child, bucket root', () => {
  const cur = currentMeta(metaBytes);
  // Root beyond the high-water mark (checksum recomputed, so only the pointer is wrong).
  const f1 = writeTmp(patchMeta(metaBytes, cur, (m) => m.writeBigUInt64LE(1n << 40n, 16)));
  expectBoltError(() => openAndWalk(f1), 'bolt.page.range', f1);
  // A branch element pointing past the end.
  const { branch, bucketValueAt } = locate();
  const b2 = Buffer.from(metaBytes);
  b2.writeBigUInt64LE(999_999n, branch * PS + 16 + 16 + 8); // element 1's pgid
  const f2 = writeTmp(b2);
  const e2 = expectBoltError(() => openAndWalk(f2), 'bolt.page.range', f2);
  assert.match(e2.message, /page 999999/);
  // Lookups through the broken branch fail the same way (no crash, no wrong answer).
  const db = openBolt(f2);
  expectBoltError(() => {
    const images = db.bucket(['v1', 'moby', 'images'])!;
    for (const name of Object.keys(expected.images)) images.bucket(name);
  }, 'bolt.page.range', f2);
  db.close();
  // A page whose header names another page.
  const b3 = Buffer.from(metaBytes);
  b3.writeBigUInt64LE(BigInt(branch) + 1n, branch * PS);
  const f3 = writeTmp(b3);
  expectBoltError(() => openAndWalk(f3), 'bolt.page.id', f3);
  // A nested bucket whose root points at a huge page id.
  const b4 = Buffer.from(metaBytes);
  b4.writeBigUInt64LE(1n << 50n, bucketValueAt);
  const f4 = writeTmp(b4);
  expectBoltError(() => openAndWalk(f4), 'bolt.page.range', f4);
});

test('loops: a branch pointing at itself or an ancestor, a bucket reusing its parent root', () => {
  const { branch, bucketValueAt, imagesParentRoot } = locate();
  const b1 = Buffer.from(metaBytes);
  b1.writeBigUInt64LE(BigInt(branch), branch * PS + 16 + 8); // element 0 -> itself
  const f1 = writeTmp(b1);
  expectBoltError(() => openAndWalk(f1), 'bolt.page.loop', f1);
  const db = openBolt(f1);
  // A lookup that would descend forever stops too.
  expectBoltError(() => db.bucket(['v1', 'moby', 'images'])!.get('docker.io/library/ls-base:1'), 'bolt.page.loop', f1);
  db.close();
  // The images bucket's root replaced by the page of an enclosing bucket.
  const b2 = Buffer.from(metaBytes);
  b2.writeBigUInt64LE(imagesParentRoot, bucketValueAt);
  const f2 = writeTmp(b2);
  expectBoltError(() => openAndWalk(f2), 'bolt.page.loop', f2);
});

test('random corruption never hangs and never throws anything but BoltError', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const hw = Number(metaBytes.readBigUInt64LE(currentMeta(metaBytes) * PS + 16 + 40));
  let errors = 0;
  const t0 = Date.now();
  for (let round = 0; round < 300; round++) {
    const b = Buffer.from(metaBytes);
    const flips = 1 + Math.floor(rnd() * 20);
    for (let i = 0; i < flips; i++) {
      // Corrupt live pages (2..high-water mark), mostly headers and element tables.
      const page = 2 + Math.floor(rnd() * (hw - 2));
      const off = page * PS + (rnd() < 0.7 ? Math.floor(rnd() * 256) : Math.floor(rnd() * PS));
      b[off] = Math.floor(rnd() * 256);
    }
    const file = writeTmp(b, 'fuzz');
    try {
      openAndWalk(file);
    } catch (e) {
      assert.ok(e instanceof BoltError, `round ${round}: ${e instanceof Error ? e.stack : String(e)}`);
      assert.ok((e as BoltError).message.startsWith(file + ': '));
      errors++;
    }
    fs.rmSync(file);
  }
  assert.ok(errors > 30, `${errors} of 300 corrupted copies were rejected`);
  assert.ok(Date.now() - t0 < 60_000);
});

/** Find, in the fixture, the images bucket's branch page and where its bucket value sits in the parent leaf. */
function locate(): { branch: number; bucketValueAt: number; imagesParentRoot: bigint } {
  const db = openBolt(writeTmp(metaBytes));
  try {
    const images = db.bucket(['v1', 'moby', 'images'])!;
    const branch = Number(images.rootPage);
    assert.equal(metaBytes.readUInt16LE(branch * PS + 8), 0x01, 'images root is a branch page');
    const parent = db.bucket(['v1', 'moby'])!;
    assert.notEqual(parent.rootPage, null);
    // The 'images' element in v1/moby's leaf page: its value starts with the bucket's root pgid.
    const leaf = Number(parent.rootPage);
    const count = metaBytes.readUInt16LE(leaf * PS + 10);
    for (let i = 0; i < count; i++) {
      const e = leaf * PS + 16 + i * 16;
      const pos = metaBytes.readUInt32LE(e + 4);
      const ksize = metaBytes.readUInt32LE(e + 8);
      const key = metaBytes.subarray(e + pos, e + pos + ksize).toString();
      if (key === 'images') return { branch, bucketValueAt: e + pos + ksize, imagesParentRoot: parent.rootPage! };
    }
    throw new Error('images element not found');
  } finally {
    db.close();
  }
}
