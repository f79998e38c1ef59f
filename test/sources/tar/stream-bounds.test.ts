/**
 * The tar reader on endless or hostile streams: every way of never yielding a member, or of making us hold
 * ever more, stops at a bound with a TarError (in-process, on generators that never end), and the CLI turns it
 * into a clear error on stdin. After the end marker: at most the asked number of bytes is read, non-zero
 * trailing bytes are located, and the source is cancelled when it goes on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteSource, readTarStream, TarError, type TarStreamState } from '../../../src/core/sources/tar/index.js';
import { MAX_EXTENSIONS_IN_A_ROW, MAX_SPARSE_BLOCKS } from '../../../src/core/sources/tar/header.js';
import { header, paxRecord, tar } from './helpers.js';
import { assertBuilt, assertNoCrash, runCli } from '../archive/hostile-helpers.js';

function padded(b: Buffer): Buffer {
  const r = b.length % 512;
  return r ? Buffer.concat([b, Buffer.alloc(512 - r)]) : b;
}

async function drain(gen: AsyncIterable<Buffer>, opts: Parameters<typeof readTarStream>[1] = {}): Promise<{ n: number; err: unknown; pulled: number }> {
  let pulled = 0;
  const counted = (async function* () {
    for await (const c of gen) {
      pulled++;
      yield c;
    }
  })();
  let n = 0;
  try {
    for await (const e of readTarStream(counted, opts)) {
      void e;
      n++;
    }
    return { n, err: null, pulled };
  } catch (err) {
    return { n, err, pulled };
  }
}

test('endless PAX headers without a member: stopped after a bounded run', async () => {
  async function* gen(): AsyncGenerator<Buffer> {
    for (let i = 0; ; i++) {
      const body = paxRecord(`LIBARCHIVE.k${i}`, 'v');
      yield header({ name: 'PaxHeaders/x', type: 'x', size: body.length });
      yield padded(body);
    }
  }
  const r = await drain(gen());
  assert.ok(r.err instanceof TarError && r.err.code === 'tar.header', String(r.err));
  assert.match((r.err as Error).message, new RegExp(`more than ${MAX_EXTENSIONS_IN_A_ROW} extension headers in a row`));
  assert.ok(r.pulled < 4 * MAX_EXTENSIONS_IN_A_ROW);
});

test('PAX global headers do not pile up: each is a member of its own (as Go reads them), its records applied to nothing', async () => {
  const big = 'v'.repeat(1000 * 1024); // just under Go's 1 MiB limit for one extension body
  let made = 0;
  async function* gen(): AsyncGenerator<Buffer> {
    for (let i = 0; ; i++) {
      made++;
      const body = paxRecord(`k${i}`, big);
      yield header({ name: 'g', type: 'g', size: body.length });
      yield padded(body);
      yield header({ name: `f${i}`, size: 0 });
    }
  }
  const heap = process.memoryUsage().heapUsed;
  let seen = 0;
  for await (const e of readTarStream(gen())) {
    if (seen % 2 === 0) {
      assert.equal(e.typeflag, 'g');
      assert.equal(e.size, 0);
    } else {
      assert.equal(e.name, `f${(seen - 1) / 2}`);
      assert.equal(e.pax, null, 'no global record reaches the member after it');
    }
    if (++seen === 400) break;
  }
  assert.equal(made, 200);
  // 200 MB of records went by; none is kept.
  assert.ok(process.memoryUsage().heapUsed - heap < 64 * 1024 * 1024);
});

test('an old GNU sparse map that never ends: bounded', async () => {
  async function* gen(): AsyncGenerator<Buffer> {
    const h = header({ name: 'sparse', type: 'S', size: 0, magic: 'gnu' });
    // isextended (offset 482) set, checksum recomputed
    h[482] = 1;
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const c of h) sum += c;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    yield h;
    const cont = Buffer.alloc(512);
    cont[504] = 1;
    const batch = Buffer.concat(Array.from({ length: 1024 }, () => cont));
    for (;;) yield batch;
  }
  const r = await drain(gen());
  assert.ok(r.err instanceof TarError && r.err.code === 'tar.header', String(r.err));
  assert.match((r.err as Error).message, new RegExp(`more than ${MAX_SPARSE_BLOCKS} continuation blocks`));
});

test('a member claiming more than the stream allows: refused at its header, its body never read', async () => {
  async function* gen(): AsyncGenerator<Buffer> {
    yield header({ name: 'huge', size: 2 ** 45, base256Size: true });
    for (;;) yield Buffer.alloc(1024 * 1024);
  }
  const r = await drain(gen(), { maxMemberSize: 64 * 1024 ** 3 });
  assert.ok(r.err instanceof TarError && r.err.code === 'tar.member-too-large', String(r.err));
  assert.ok(r.pulled <= 2);
});

test('after the end marker: at most `max` bytes, non-zero bytes located, the endless source cancelled', async () => {
  const archive = tar([{ name: 'a', body: Buffer.from('x') }]);
  let cancelled = false;
  async function* endless(tail: Buffer): AsyncGenerator<Buffer> {
    try {
      yield archive;
      yield tail;
      for (;;) yield Buffer.alloc(65536);
    } finally {
      cancelled = true;
    }
  }
  const state: TarStreamState = { endMarker: false };
  const src = new ByteSource(endless(Buffer.from('\0\0\0hidden')));
  let n = 0;
  for await (const e of readTarStream(src, { afterEnd: { max: 1024 * 1024 }, state })) {
    void e;
    n++;
  }
  assert.equal(n, 1);
  assert.equal(state.endMarker, true);
  assert.equal(state.trailing!.stopped, true);
  assert.equal(state.trailing!.bytes, 1024 * 1024);
  assert.equal(state.trailing!.endOffset, 1024);
  assert.equal(state.trailing!.firstNonZero, archive.length + 3, 'the offset of the first non-zero byte after the marker');
  assert.equal(cancelled, true, 'the source was released');
  // a finite tail within the bound: read to its end, not stopped
  const s2: TarStreamState = { endMarker: false };
  for await (const e of readTarStream([archive, Buffer.alloc(10240)], { afterEnd: { max: 1024 * 1024 }, state: s2 })) void e;
  assert.deepEqual({ ...s2.trailing }, { endOffset: 1024, bytes: 512 + 10240, firstNonZero: null, stopped: false });
});

test('CLI: endless extension headers on stdin end with exit 3 and the reason', async () => {
  assertBuilt();
  async function* gen(): AsyncGenerator<Buffer> {
    for (let i = 0; ; i++) {
      const body = paxRecord(`k${i}`, 'v');
      yield Buffer.concat([header({ name: 'x', type: 'x', size: body.length }), padded(body)]);
    }
  }
  const r = await runCli(['report', '-'], { stdin: gen, timeoutMs: 30_000 });
  assertNoCrash(r);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /more than 64 extension headers in a row without a member/);
});
