import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, statSync, symlinkSync, writeFileSync, linkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TarFileReader, readTarStream, TarError, type TarEntry } from '../../../src/core/sources/tar/index.js';
import { tempDir, run, hasTool, tar, paxRecord, header } from './helpers.js';

function listFile(path: string): TarEntry[] {
  const fd = openSync(path, 'r');
  try {
    return [...new TarFileReader(fd, { end: statSync(path).size, label: path }).entries()];
  } finally {
    closeSync(fd);
  }
}

async function listStream(buf: Buffer, chunk = 777): Promise<TarEntry[]> {
  const chunks = async function* () {
    for (let i = 0; i < buf.length; i += chunk) yield buf.subarray(i, i + chunk);
  };
  const out: TarEntry[] = [];
  for await (const e of readTarStream(chunks())) out.push({ ...e });
  return out;
}

function strip(e: TarEntry) {
  const { headerOffset, dataOffset, pax, ...rest } = e as TarEntry & { body?: unknown; readBody?: unknown };
  delete (rest as Record<string, unknown>).body;
  delete (rest as Record<string, unknown>).readBody;
  void pax;
  return { ...rest, headerOffset, dataOffset, xattrs: Object.fromEntries([...e.xattrs].map(([k, v]) => [k, v.toString('hex')])) };
}

/** The same tar through the seek reader and the stream reader gives the same entries. */
async function both(path: string): Promise<TarEntry[]> {
  const a = listFile(path);
  const b = await listStream(readFileSync(path));
  assert.deepEqual(b.map(strip), a.map(strip));
  return a;
}

function makeTree(dir: string): string {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'd', 'sub'), { recursive: true });
  const long = 'L'.repeat(120);
  const deep = Array.from({ length: 12 }, (_, i) => `dir${i}-${'x'.repeat(20)}`).join('/');
  mkdirSync(join(root, deep), { recursive: true });
  writeFileSync(join(root, deep, 'f.txt'), 'deep');
  mkdirSync(join(root, 'p'.repeat(60)));
  writeFileSync(join(root, 'p'.repeat(60), 'q'.repeat(80)), 'prefix split');
  writeFileSync(join(root, 'd', long), 'long name body');
  writeFileSync(join(root, 'd', 'f'), 'hello');
  linkSync(join(root, 'd', 'f'), join(root, 'd', 'hard'));
  symlinkSync('../' + 'T'.repeat(150), join(root, 'd', 'lnk'));
  writeFileSync(Buffer.from(join(root, 'd') + '/bad\xffname', 'latin1'), 'x');
  return root;
}

for (const format of ['gnu', 'pax', 'ustar'] as const) {
  test(`GNU tar --format=${format}: names, long names, links agree in both readers`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const root = makeTree(dir);
    const out = join(dir, 't.tar');
    const args = ['-C', root, `--format=${format}`, '-cf', out, '.'];
    try {
      run('tar', args);
    } catch (e) {
      // ustar cannot hold a 150-byte symlink target; GNU tar still writes the rest and exits 2
      if (format !== 'ustar') throw e;
    }
    const entries = await both(out);
    const names = entries.map((e) => e.name);
    assert.ok(names.includes('./' + 'p'.repeat(60) + '/' + 'q'.repeat(80)), 'ustar prefix + name');
    if (format !== 'ustar') {
      assert.ok(names.includes('./d/' + 'L'.repeat(120)), 'long name');
      assert.ok(names.some((n) => n.endsWith('/f.txt') && n.length > 255), 'deep name');
    }
    assert.ok(names.includes('./d/bad\xffname'), 'non-UTF-8 name kept as bytes');
    const hard = entries.find((e) => e.name === './d/hard' || e.name === './d/f' && e.type === 'hardlink');
    assert.ok(hard && hard.type === 'hardlink');
    if (format !== 'ustar') {
      const lnk = entries.find((e) => e.name === './d/lnk')!;
      assert.equal(lnk.linkname, '../' + 'T'.repeat(150));
    }
    const f = entries.find((e) => e.name === './' + 'p'.repeat(60) + '/' + 'q'.repeat(80))!;
    assert.equal(f.size, 12);
    assert.equal(f.type, 'file');
    // tar -tv agrees on the count
    const tv = run('tar', ['-tf', out]).toString('latin1').trim().split('\n');
    assert.equal(entries.length, tv.length);
  });
}

test('PAX xattrs are byte-exact, including a value that is not UTF-8', async (t) => {
  if (!hasTool('setfattr')) return t.skip('setfattr missing');
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const root = join(dir, 'r');
  mkdirSync(root);
  writeFileSync(join(root, 'f'), 'x');
  run('setfattr', ['-n', 'user.bin', '-v', '0xff00fe80', join(root, 'f')]);
  run('setfattr', ['-n', 'user.txt', '-v', 'héllo', join(root, 'f')]);
  const out = join(dir, 'x.tar');
  run('tar', ['-C', root, '--format=pax', '--xattrs', '--xattrs-include=*', '-cf', out, 'f']);
  const [e] = await both(out);
  assert.equal(e!.xattrs.get('user.bin')!.toString('hex'), 'ff00fe80');
  assert.equal(e!.xattrs.get('user.txt')!.toString('utf8'), 'héllo');
});

test('PAX mtime with fraction, size/uid/gid override; a global header is a member of its own that changes nothing (as Go reads it)', async () => {
  const t = tar([
    { name: 'g', type: 'g', body: paxRecord('uname', 'globaluser') },
    { name: 'a', body: Buffer.from('abc'), pax: [paxRecord('mtime', '1700000000.123456789'), paxRecord('uid', '4000000000'), paxRecord('path', 'pax/path/\xe9')] },
    { name: 'neg', pax: [paxRecord('mtime', '-1.25')] },
  ]);
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 't.tar'), t);
    const [g, a, neg] = await both(join(dir, 't.tar'));
    assert.equal(g!.typeflag, 'g');
    assert.equal(g!.type, 'other');
    assert.equal(g!.size, 0);
    assert.equal(g!.pax?.get('uname')?.toString(), 'globaluser');
    assert.equal(a!.name, Buffer.from('pax/path/\xe9', 'utf8').toString('latin1'));
    assert.equal(a!.mtime, 1700000000);
    assert.equal(a!.mtimeNsec, 123456789);
    assert.equal(a!.uid, 4000000000);
    assert.notEqual(a!.uname, 'globaluser');
    assert.equal(neg!.mtime, -2);
    assert.equal(neg!.mtimeNsec, 750000000);
    assert.notEqual(neg!.uname, 'globaluser');
  } finally {
    cleanup();
  }
});

test('base-256 numeric fields: python GNU uid, hand-made base-256 size', async (t) => {
  if (!hasTool('python3')) return t.skip('python3 missing');
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const out = join(dir, 'p.tar');
  run('python3', ['-c', `
import tarfile, io
with tarfile.open(${JSON.stringify(out)}, 'w', format=tarfile.GNU_FORMAT) as t:
    i = tarfile.TarInfo('bigid'); i.uid = 2**40; i.gid = 3; i.size = 4; i.mtime = 2**36
    t.addfile(i, io.BytesIO(b'abcd'))
`]);
  const [e] = await both(out);
  assert.equal(e!.uid, 2 ** 40);
  assert.equal(e!.mtime, 2 ** 36);
  assert.equal(e!.size, 4);
  const hand = join(dir, 'h.tar');
  writeFileSync(hand, tar([{ name: 'b256', body: Buffer.from('hello'), base256Size: true, magic: 'gnu' }, { name: 'next', body: Buffer.from('x') }]));
  const es = await both(hand);
  assert.deepEqual(es.map((x) => [x.name, x.size]), [['b256', 5], ['next', 1]]);
});

test('bad checksum: typed error naming member and offset, in both readers', async () => {
  const t = tar([{ name: 'ok', body: Buffer.from('1') }, { name: 'evil', body: Buffer.from('2'), badChecksum: true }]);
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'c.tar'), t);
    assert.throws(() => listFile(join(dir, 'c.tar')), (e: unknown) => e instanceof TarError && e.code === 'tar.checksum' && e.offset === 1024 && e.member === 'evil');
    await assert.rejects(listStream(t), (e: unknown) => e instanceof TarError && e.code === 'tar.checksum' && e.offset === 1024);
  } finally {
    cleanup();
  }
});

test('truncated tar: inside a body, inside a header, and an absurd size', async () => {
  const full = tar([{ name: 'a', body: Buffer.alloc(3000, 1) }, { name: 'b', body: Buffer.from('x') }]);
  const { dir, cleanup } = tempDir();
  try {
    for (const cut of [1500, 512 * 7 + 100]) {
      const p = join(dir, `t${cut}.tar`);
      writeFileSync(p, full.subarray(0, cut));
      assert.throws(() => listFile(p), (e: unknown) => e instanceof TarError && e.code === 'tar.truncated', `file cut at ${cut}`);
      await assert.rejects(listStream(full.subarray(0, cut)), (e: unknown) => e instanceof TarError && e.code === 'tar.truncated', `stream cut at ${cut}`);
    }
    const absurd = Buffer.concat([header({ name: 'huge', size: 2 ** 50, base256Size: true, magic: 'gnu' }), Buffer.alloc(1024)]);
    writeFileSync(join(dir, 'absurd.tar'), absurd);
    assert.throws(() => listFile(join(dir, 'absurd.tar')), (e: unknown) => e instanceof TarError && e.code === 'tar.truncated' && /huge/.test(e.message));
    await assert.rejects(listStream(absurd), (e: unknown) => e instanceof TarError && e.code === 'tar.truncated');
    // an end marker at a member boundary is optional
    const noEnd = tar([{ name: 'a', body: Buffer.from('1') }], { end: false });
    writeFileSync(join(dir, 'noend.tar'), noEnd);
    assert.equal(listFile(join(dir, 'noend.tar')).length, 1);
  } finally {
    cleanup();
  }
});

test('stream bodies: read, partially read, or skipped', async () => {
  const t = tar([{ name: 'a', body: Buffer.from('hello world') }, { name: 'b', body: Buffer.alloc(5000, 7) }, { name: 'c', body: Buffer.from('end') }]);
  const got: string[] = [];
  for await (const e of readTarStream([t.subarray(0, 700), t.subarray(700, 3000), t.subarray(3000)])) {
    if (e.name === 'a') got.push((await e.readBody(100)).toString());
    if (e.name === 'b') {
      for await (const c of e.body()) {
        got.push(String(c.length > 0));
        break;
      }
    }
    if (e.name === 'c') got.push((await e.readBody(100)).toString());
  }
  assert.deepEqual(got, ['hello world', 'true', 'end']);
});

test('withSha256: digest of a member body read once', async () => {
  const { withSha256 } = await import('../../../src/core/sources/tar/index.js');
  const { createHash } = await import('node:crypto');
  const body = Buffer.alloc(70000, 3);
  const t = tar([{ name: 'x', body }]);
  for await (const e of readTarStream([t])) {
    const h = withSha256(e.body());
    assert.equal(h.digest(), null);
    let n = 0;
    for await (const c of h.stream) n += c.length;
    assert.equal(n, body.length);
    assert.equal(h.digest(), 'sha256:' + createHash('sha256').update(body).digest('hex'));
  }
});

test("tars Go's archive/tar refuses are refused here too (the engine cannot load them), and what it takes is taken", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const both = async (name: string, buf: Buffer): Promise<{ file: TarEntry[] | TarError; stream: TarEntry[] | TarError }> => {
      const p = join(dir, name);
      writeFileSync(p, buf);
      const settle = async (f: () => TarEntry[] | Promise<TarEntry[]>) => {
        try {
          return await f();
        } catch (e) {
          if (e instanceof TarError) return e;
          throw e;
        }
      };
      return { file: await settle(() => listFile(p)), stream: await settle(() => listStream(buf)) };
    };
    const refused = async (name: string, buf: Buffer, code: string) => {
      const r = await both(name, buf);
      for (const how of ['file', 'stream'] as const) {
        const x = r[how];
        assert.ok(x instanceof TarError && x.code === code, `${name} (${how} reader): ${x instanceof TarError ? x.code + ' ' + x.message : 'read ' + x.map((e) => e.name).join(',')}`);
      }
    };
    const file = { name: 'etc/cron.d/evil', body: Buffer.from('* * * * * root sh\n') };
    // an extension body over 1 MiB (Go's maxSpecialFileSize)
    await refused('bigpax.tar', tar([{ ...file, pax: [paxRecord('comment', 'c'.repeat(1 << 20))] }]), 'tar.size');
    // NUL in a PAX path; a key holding NUL
    await refused('nulpath.tar', tar([{ ...file, pax: [paxRecord('path', Buffer.from('a\0b'))] }]), 'tar.pax');
    await refused('nulkey.tar', tar([{ ...file, pax: [paxRecord('comm\0ent', 'x')] }]), 'tar.pax');
    // a bad atime or ctime (Go's mergePAX parses them)
    await refused('atime.tar', tar([{ ...file, pax: [paxRecord('atime', 'yesterday')] }]), 'tar.pax');
    await refused('ctime.tar', tar([{ ...file, pax: [paxRecord('ctime', '1.2.3')] }]), 'tar.pax');
    // an old GNU sparse member in a ustar block
    await refused('sparse-ustar.tar', tar([{ name: 'sp', type: 'S', body: Buffer.alloc(0) }]), 'tar.header');
    // one zero block, then part of a block: "unexpected EOF" to Go
    await refused('partial.tar', Buffer.concat([tar([file], { end: false }), Buffer.alloc(512), Buffer.alloc(100)]), 'tar.truncated');

    // taken: a PAX length with a '+' (strconv.ParseInt), times with '+'
    const plus = Buffer.from('+15 path=etc/x\n'); // 15 bytes, counted with its '+'
    const r = await both('plus.tar', tar([{ ...file, pax: [plus, paxRecord('atime', '+5.5')] }]));
    for (const how of ['file', 'stream'] as const) {
      const x = r[how];
      assert.ok(!(x instanceof TarError), `plus.tar (${how}): ${x instanceof TarError ? x.message : ''}`);
      assert.deepEqual((x as TarEntry[]).map((e) => e.name), ['etc/x'], how);
    }
  } finally {
    cleanup();
  }
});
