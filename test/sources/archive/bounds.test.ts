/**
 * Hostile evidence, class 3: bounded work. The CLI runs as a process with a 256 MiB heap and a probe that
 * reports the bytes it read (rchar) and its peak RSS; the bounds asserted are ones a regression blows:
 * - 60 manifest entries naming one 31 MB config: read, hashed and parsed once (was 1.9 GB);
 * - JSON-looking members in a one-pass read (stdin, a gzip archive): at most 64 MiB of them kept, the rest an
 *   error naming the member (forty 32 MiB members took 1.4 GB);
 * - an endless source: /dev/zero on stdin or named as the source, a FIFO fed an archive and then zeros, an
 *   archive followed by endless zeros: at most 4 MiB read after the end-of-archive marker, then a problem;
 * - a member whose header claims 1 TiB in a stream: refused at its header (the cap is the decompressor's
 *   64 GiB output limit), and an endless stream of members: stopped at 200,000 headers.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants as zc } from 'node:zlib';
import { header, tar, type RawMember } from '../tar/helpers.js';
import { assertBuilt, assertNoCrash, configOf, fingerprint, hex, layerTar, legacySave, reportJson, runCli, sha256, tempDir, type ImageSpec } from './hostile-helpers.js';

before(assertBuilt);

const L0 = layerTar({ 'etc/hostname': 'box\n' });
const MiB = 1024 * 1024;

function pad512(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

/** The bytes of a small valid archive (one image), for streams that go on after it. */
function smallSave(): Buffer {
  return legacySave([{ tag: 'small:1', layers: [L0] }]);
}

/** What a CLI run costs at least (node, our modules) on a tiny archive: the baseline for read bounds. */
let baseline = 0;
before(async () => {
  const { dir, cleanup } = tempDir();
  const f = join(dir, 'small.tar');
  writeFileSync(f, smallSave());
  const r = await runCli(['report', f]);
  assert.equal(r.code, 0, r.stderr);
  baseline = r.rchar;
  cleanup();
});

test('60 manifest entries naming one 31 MB config: read, hashed and parsed once, within a 256 MiB heap', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const img: ImageSpec = { tag: 'fat:0', layers: [L0], extra: { config: { Labels: { padding: 'x'.repeat(31 * 1000 * 1000) } } } };
  const cfg = configOf(img);
  const cfgName = hex(sha256(cfg)) + '.json';
  const manifest = Array.from({ length: 60 }, (_, i) => ({ Config: cfgName, RepoTags: [`fat:${i}`], Layers: ['l0/layer.tar'] }));
  const file = join(dir, 'fat.tar');
  writeFileSync(file, tar([{ name: 'l0/layer.tar', body: L0 }, { name: cfgName, body: cfg }, { name: 'manifest.json', body: Buffer.from(JSON.stringify(manifest)) }]));
  const fp = fingerprint(file);
  const r = await reportJson(['report', file], { heapMB: 256 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json!.images.length, 1);
  assert.equal(r.json!.images[0]!.tags.length, 60);
  const read = r.rchar - baseline;
  assert.ok(read < 1.5 * cfg.length, `the config was read once: ${read} bytes read for a ${cfg.length}-byte config (60 reads would be ${60 * cfg.length})`);
  assert.ok(r.maxRSS < 700 * MiB, `peak RSS ${r.maxRSS}`);
  // the same archive in one pass (stdin): the config is kept once, within the JSON budget
  const s = await reportJson(['report', '-'], { stdin: file, heapMB: 256 });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.json!.images[0]!.tags.length, 60);
  assert.ok(s.maxRSS < 700 * MiB, `peak RSS ${s.maxRSS}`);
  assert.equal(fingerprint(file), fp);
});

test('forty 32 MiB JSON-looking members on stdin: 64 MiB kept, the rest an error naming the member, memory bounded', async () => {
  const save = smallSave();
  const N = 40;
  const SIZE = 32 * MiB;
  async function* gen(): AsyncGenerator<Buffer> {
    yield save.subarray(0, save.length - 1024); // the image first, without its end marker
    const chunk = Buffer.alloc(MiB, 0x61);
    for (let i = 0; i < N; i++) {
      yield header({ name: `junk${i}.json`, size: SIZE });
      yield Buffer.from('{"x":"');
      for (let left = SIZE - 8; left > 0; left -= chunk.length) yield chunk.subarray(0, Math.min(left, chunk.length));
      yield Buffer.from('"}');
      yield pad512(SIZE);
    }
    yield Buffer.alloc(1024);
  }
  const r = await reportJson(['report', '-'], { stdin: gen, heapMB: 256, timeoutMs: 120_000 });
  assert.equal(r.code, 4, r.stderr);
  assert.deepEqual(r.json!.images.map((i) => i.tags), [['small:1']]);
  const budget = r.json!.problems.filter((p) => p.code === 'archive.json.budget');
  assert.equal(budget[0]!.severity, 'error');
  // the image's own manifest.json and config came first and count: one 32 MiB member fits beside them, not two
  assert.equal(budget[0]!.path, 'junk1.json');
  assert.match(budget[0]!.message, /JSON member "junk1\.json" \(33554432 bytes, offset \d+\) not kept/);
  assert.equal(budget.length, 21, '20 named, then a count');
  assert.match(budget[20]!.message, /^19 more JSON members not kept/);
  assert.ok(r.maxRSS < 400 * MiB, `peak RSS ${r.maxRSS} (all forty kept would be 1.3 GB)`);
});

test('the same in a gzip archive (a one-pass read of a file): bounded, and a needed member over budget is named', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  // three 32 MiB JSON members first, then the image: its config comes after the budget is spent
  const big = (i: number): RawMember => ({ name: `pad${i}.json`, body: Buffer.concat([Buffer.from('{"x":"'), Buffer.alloc(32 * MiB - 8, 0x62), Buffer.from('"}')]) });
  const save = smallSave();
  const archive = Buffer.concat([tar([big(0), big(1), big(2)], { end: false }), save]);
  const file = join(dir, 'padded.tar.gz');
  writeFileSync(file, gzipSync(archive, { level: 1, strategy: zc.Z_DEFAULT_STRATEGY }));
  const fp = fingerprint(file);
  const r = await runCli(['report', file], { heapMB: 256 });
  assertNoCrash(r);
  // manifest.json itself is over the budget: nothing can be recognised, and the message says why
  assert.equal(r.code, 3, r.stdout);
  assert.match(r.stderr, /manifest\.json cannot be read: "manifest\.json" \(\d+ bytes\) was not kept: the JSON members before it in the stream had spent the 67108864-byte budget/);
  assert.ok(r.maxRSS < 400 * MiB, `peak RSS ${r.maxRSS}`);
  assert.equal(fingerprint(file), fp);
});

test('/dev/zero on stdin and as the source: stops after 4 MiB past the end marker, exit 3, says why', async () => {
  for (const [name, args, stdin] of [
    ['stdin', ['report', '-'], '/dev/zero'],
    ['path', ['report', '/dev/zero'], undefined],
  ] as const) {
    const r = await runCli([...args], { stdin, timeoutMs: 30_000 });
    assertNoCrash(r);
    assert.equal(r.code, 3, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /not an image archive/);
    assert.match(r.stderr, /goes on past 4194304 bytes after the end-of-archive marker \(offset 0\): reading stopped there \(all zeros so far\)/, name);
    assert.ok(r.rchar - baseline < 32 * MiB, `${name}: read ${r.rchar - baseline} bytes`);
  }
});

test('an archive followed by endless zeros (stdin, and a FIFO): the images are read, the tail is a warning', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const save = smallSave();
  async function* gen(): AsyncGenerator<Buffer> {
    yield save;
    const z = Buffer.alloc(MiB);
    for (;;) yield z;
  }
  const r = await reportJson(['report', '-'], { stdin: gen, timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json!.images.map((i) => i.tags), [['small:1']]);
  const w = r.json!.problems.find((p) => p.code === 'archive.trailing-data')!;
  assert.equal(w.severity, 'warning');
  assert.match(w.message, /goes on past 4194304 bytes after the end-of-archive marker/);

  // a FIFO named as the source, fed by a writer that never stops
  const fifo = join(dir, 'fifo');
  const mk = spawn('mkfifo', [fifo]);
  await new Promise((res) => mk.on('close', res));
  const src = join(dir, 'save.tar');
  writeFileSync(src, save);
  const writer = spawn('sh', ['-c', `cat '${src}' /dev/zero > '${fifo}'`], { stdio: 'ignore' });
  const writerDone = new Promise((res) => writer.on('close', () => res(true)));
  t.after(() => writer.kill('SIGKILL'));
  const f = await reportJson(['report', fifo], { timeoutMs: 30_000 });
  assert.equal(f.code, 0, f.stderr);
  assert.deepEqual(f.json!.images.map((i) => i.tags), [['small:1']]);
  assert.ok(f.json!.problems.some((p) => p.code === 'archive.trailing-data'));
  // the writer saw its reader go (EPIPE): it ends by itself
  const ended = await Promise.race([writerDone, new Promise((res) => setTimeout(() => res(false), 10_000))]);
  assert.equal(ended, true, 'the FIFO writer was released');

  // non-zero bytes after the marker, in a file: a warning naming the offset
  const tail = Buffer.concat([save, Buffer.from('hidden second archive')]);
  const tf = join(dir, 'tail.tar');
  writeFileSync(tf, tail);
  const tr = await reportJson(['report', tf]);
  assert.equal(tr.code, 0);
  const tw = tr.json!.problems.find((p) => p.code === 'archive.trailing-data')!;
  assert.match(tw.message, new RegExp(`first non-zero byte at offset ${save.length}`));
});

test('docker:REF whose save never ends: the engine CLI is released, the images read, the tail a warning', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const src = join(dir, 'save.tar');
  writeFileSync(src, smallSave());
  // a fake engine CLI on PATH: `docker save x:1` writes the archive, then zeros forever
  writeFileSync(join(dir, 'docker'), `#!/bin/sh\ncat '${src}' /dev/zero\n`, { mode: 0o755 });
  const r = await reportJson(['report', 'docker:x:1'], { env: { PATH: `${dir}:${process.env.PATH}` }, timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json!.images.map((i) => i.tags), [['small:1']]);
  assert.ok(r.json!.problems.some((p) => p.code === 'archive.trailing-data' && /reading stopped there/.test(p.message)));
});

test('a stream member whose header claims 1 TiB, followed by endless zeros: refused at its header, at once', async () => {
  const cfg = configOf({ tag: 'huge:1', layers: [L0] });
  const head = tar(
    [
      { name: 'c.json', body: cfg },
      { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['huge:1'], Layers: ['huge/layer.tar'] }])) },
    ],
    { end: false },
  );
  async function* gen(): AsyncGenerator<Buffer> {
    yield head;
    yield header({ name: 'huge/layer.tar', size: 2 ** 40, base256Size: true });
    const z = Buffer.alloc(MiB);
    for (;;) yield z;
  }
  const r = await reportJson(['report', '-'], { stdin: gen, timeoutMs: 30_000 });
  assert.equal(r.code, 4, r.stderr);
  const p = r.json!.problems.find((x) => x.code === 'tar.member-too-large')!;
  assert.equal(p.severity, 'error');
  assert.match(p.message, /member claims 1099511627776 bytes, more than the 68719476736 bytes allowed for one member of a stream.*member "huge\/layer.tar"/);
  assert.ok(r.ms < 20_000);
  assert.ok(r.rchar - baseline < 64 * MiB, `read ${r.rchar - baseline} bytes`);
});

test('an endless stream of members: listing stops at 200,000 headers with an error', async () => {
  async function* gen(): AsyncGenerator<Buffer> {
    const h = header({ name: 'x', size: 0 });
    const batch = Buffer.concat(Array.from({ length: 2048 }, () => h));
    for (;;) yield batch;
  }
  const r = await runCli(['report', '-'], { stdin: gen, timeoutMs: 60_000 });
  assertNoCrash(r);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /more than 200000 members .* listing stopped at offset 102400000/);
});
