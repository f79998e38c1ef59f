import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { TarWriter, paxRecord } from '../../src/core/export/tar-writer.js';
import { readTarStream } from '../../src/core/sources/tar/index.js';

async function* bytes(b: Buffer) {
  // Split in odd chunks to exercise the streaming path.
  for (let i = 0; i < b.length; i += 7777) yield b.subarray(i, i + 7777);
}

async function build(): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (d) => parts.push(d));
  const w = new TarWriter(out);
  const big = Buffer.alloc(100_000, 0x61);
  const longDir = 'd/'.repeat(70);
  await w.add({ path: 'dir', type: 'dir', mode: 0o1777, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 });
  await w.add({ path: 'dir/suid', type: 'file', mode: 0o4755, uid: 1000, gid: 2000, size: big.length, mtime: 1_700_000_001, mtimeNsec: 5, xattrs: { 'security.capability': '0100000200000000000000000000000000000000', 'user.bin': 'ff00fe' } }, bytes(big));
  await w.add({ path: longDir + 'a-long-name-' + 'n'.repeat(150), type: 'file', mode: 0o600, uid: 4_000_000, gid: 0, size: 2, mtime: 0 }, bytes(Buffer.from('hi')));
  await w.add({ path: 'dir/hard', type: 'hardlink', mode: 0o4755, uid: 1000, gid: 2000, size: 0, mtime: 1, linkname: 'dir/suid' });
  await w.add({ path: 'dir/sym', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1, linkname: '/' + 't'.repeat(140) });
  await w.add({ path: 'dir/null', type: 'char', mode: 0o666, uid: 0, gid: 0, size: 0, mtime: 1, devMajor: 1, devMinor: 3 });
  await w.add({ path: 'dir/blk', type: 'block', mode: 0o660, uid: 0, gid: 6, size: 0, mtime: 1, devMajor: 8, devMinor: 1 });
  await w.add({ path: 'dir/fifo', type: 'fifo', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1 });
  await w.add({ path: 'dir/bad-\xff\xfe\x1b[31m', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 1 }, bytes(Buffer.from('x')));
  // A body shorter than announced: padded with zeros, and the shortfall is returned.
  const short = await w.add({ path: 'dir/short', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10, mtime: 1 }, bytes(Buffer.from('abc')));
  assert.equal(short, -7);
  await w.finish();
  out.end();
  await new Promise((r) => out.on('end', r));
  const tar = Buffer.concat(parts);
  assert.equal(tar.length % 512, 0);
  assert.equal(w.written, tar.length);
  return tar;
}

test('PAX records count their own length', () => {
  for (const n of [1, 80, 89, 90, 91, 985, 994, 995, 996, 9990]) {
    const r = paxRecord('path', Buffer.alloc(n, 0x61));
    assert.equal(Number(r.toString('latin1').split(' ')[0]), r.length, `value length ${n}`);
  }
});

test('tar writer: our own reader sees every member exactly (long names, PAX numbers, xattrs, links, devices, raw names)', async () => {
  const tar = await build();
  const got: Record<string, { type: string; mode: number; uid: number; gid: number; size: number; mtime: number; nsec: number; link: string; dev: string; x: string[] }> = {};
  for await (const e of readTarStream([tar], { label: 'test' })) {
    await e.readBody(1 << 20);
    got[e.name] = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, mtime: e.mtime, nsec: e.mtimeNsec, link: e.linkname, dev: `${e.devMajor}:${e.devMinor}`, x: [...e.xattrs.keys()].sort() };
  }
  const long = 'd/'.repeat(70) + 'a-long-name-' + 'n'.repeat(150);
  assert.equal(got['dir/']?.mode, 0o1777);
  assert.deepEqual(got['dir/suid'], { type: 'file', mode: 0o4755, uid: 1000, gid: 2000, size: 100_000, mtime: 1_700_000_001, nsec: 5, link: '', dev: '0:0', x: ['security.capability', 'user.bin'] });
  assert.equal(got[long]?.uid, 4_000_000);
  assert.equal(got['dir/hard']?.type, 'hardlink');
  assert.equal(got['dir/hard']?.link, 'dir/suid');
  assert.equal(got['dir/sym']?.link, '/' + 't'.repeat(140));
  assert.equal(got['dir/null']?.dev, '1:3');
  assert.equal(got['dir/blk']?.type, 'block');
  assert.equal(got['dir/fifo']?.type, 'fifo');
  assert.ok(got['dir/bad-\xff\xfe\x1b[31m'], 'raw non-UTF-8 name kept byte for byte');
  assert.equal(got['dir/short']?.size, 10);
});

test('tar writer: GNU tar extracts it (xattrs, hardlink, modes, long names)', { skip: process.getuid?.() !== 0 ? 'needs root for devices' : false }, async () => {
  const tar = await build();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-wf-tar-'));
  try {
    fs.writeFileSync(path.join(dir, 'a.tar'), tar);
    fs.mkdirSync(path.join(dir, 'x'));
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xpf', path.join(dir, 'a.tar'), '-C', path.join(dir, 'x')]);
    const x = (p: string) => path.join(dir, 'x', p);
    assert.equal(fs.statSync(x('dir/suid')).mode & 0o7777, 0o4755);
    assert.equal(fs.statSync(x('dir/suid')).size, 100_000);
    assert.equal(fs.statSync(x('dir/suid')).ino, fs.statSync(x('dir/hard')).ino);
    assert.equal(fs.readlinkSync(x('dir/sym')), '/' + 't'.repeat(140));
    assert.ok(fs.statSync(x('dir/null')).isCharacterDevice());
    assert.equal(fs.readFileSync(x('d/'.repeat(70) + 'a-long-name-' + 'n'.repeat(150)), 'utf8'), 'hi');
    const list = execFileSync('tar', ['--xattrs', '-tvvf', path.join(dir, 'a.tar')]).toString('latin1');
    assert.match(list, /user\.bin/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
