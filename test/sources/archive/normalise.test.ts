import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LayerChangesBuilder, type TarEntry } from '../../../src/core/sources/tar/index.js';
import type { LayerEntry } from '../../../src/core/model/types.js';

let off = 0;
function te(name: string, o: Partial<TarEntry> = {}): TarEntry {
  return {
    name,
    linkname: '',
    typeflag: '0',
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    realSize: o.size ?? 0,
    mtime: 1,
    mtimeNsec: 0,
    devMajor: 0,
    devMinor: 0,
    uname: '',
    gname: '',
    xattrs: new Map(),
    pax: null,
    format: 'pax',
    sparse: false,
    headerOffset: (off += 512),
    dataOffset: 0,
    ...o,
  };
}
const dir = (name: string, o: Partial<TarEntry> = {}) => te(name, { type: 'dir', typeflag: '5', mode: 0o755, ...o });

function build(entries: TarEntry[]) {
  const b = new LayerChangesBuilder('L');
  for (const e of entries) b.add(e);
  return b.finish();
}
const brief = (e: LayerEntry) => (e.kind === 'whiteout' ? `-${e.path}` : `${e.path}${e.opaque ? ' (opaque)' : ''}`);

test('whiteouts, opaque markers and AUFS metadata are normalised; walk order', () => {
  const c = build([
    dir('./data/'),
    te('./data/.wh.gone'),
    te('data/sub/.wh..wh..opq'),
    dir('data/sub/'),
    te('data/sub/new', { size: 3 }),
    te('data-x'),
    te('other/.wh..wh..opq'),
    te('.wh..wh.plnk/123'),
    dir('.wh..wh.aufs'),
    te('data/.wh.'),
  ]);
  assert.deepEqual(c.entries.map(brief), ['data', '-data/gone', 'data/sub (opaque)', 'data/sub/new', 'data-x', 'other (opaque)']);
  const other = c.entries.find((e) => e.path === 'other')!;
  assert.equal(other.kind === 'put' && other.attrs.mode, 0o755);
  const codes = c.problems.map((p) => p.code).sort();
  assert.deepEqual(codes, ['layer.aufs-metadata', 'layer.opaque.synthesized', 'layer.whiteout.invalid']);
  assert.ok(!c.entries.some((e) => e.path.includes('.wh.')));
});

test('same-layer whiteout + recreated dir = opaque dir; duplicates: last wins', () => {
  const c = build([te('a/.wh.x'), dir('a/x'), te('a/x/y'), te('f', { size: 1 }), te('f', { size: 2, mode: 0o600 })]);
  assert.deepEqual(c.entries.map(brief), ['a/x (opaque)', 'a/x/y', 'f']);
  const f = c.entries.find((e) => e.path === 'f')!;
  assert.ok(f.kind === 'put' && f.attrs.size === 2 && f.attrs.mode === 0o600);
  assert.ok(c.problems.some((p) => p.code === 'layer.duplicate'));
  assert.ok(c.problems.some((p) => p.code === 'layer.whiteout.same-layer'));
});

test('hardlinks: target size in the same layer, cross-layer flagged, escapes refused', () => {
  const c = build([
    te('bin/tool', { size: 1234 }),
    te('bin/alias', { type: 'hardlink', typeflag: '1', linkname: './bin/tool' }),
    te('bin/lower', { type: 'hardlink', typeflag: '1', linkname: 'usr/bin/elsewhere' }),
    te('bin/evil', { type: 'hardlink', typeflag: '1', linkname: '../../etc/shadow' }),
  ]);
  const get = (p: string) => c.entries.find((e) => e.path === p);
  const alias = get('bin/alias')!;
  assert.ok(alias.kind === 'put' && alias.attrs.type === 'hardlink' && alias.attrs.linkname === 'bin/tool' && alias.attrs.size === 1234);
  const lower = get('bin/lower')!;
  assert.ok(lower.kind === 'put' && lower.attrs.size === 0);
  assert.equal(get('bin/evil'), undefined);
  assert.ok(c.problems.some((p) => p.code === 'layer.hardlink.cross-layer' && p.path === 'L:bin/lower'));
  assert.ok(c.problems.some((p) => p.code === 'layer.hardlink.unsafe' && p.path === 'L:bin/evil'));
});

test('unsafe names are problems naming the member, never entries; absolute names are cleaned (as the engine does) and flagged', () => {
  const c = build([te('../../x'), te('a/../../y'), te('ok/../fine'), te('/etc/passwd', { size: 5 }), te('n\0ul')]);
  assert.deepEqual(c.entries.map(brief), ['etc/passwd', 'fine']);
  const unsafe = c.problems.filter((p) => p.code === 'layer.path.unsafe');
  assert.equal(unsafe.length, 3);
  assert.ok(unsafe[0]!.path!.includes('../../x') && /offset \d+/.test(unsafe[0]!.message));
  assert.ok(c.problems.some((p) => p.code === 'layer.path.absolute' && p.path === 'L:/etc/passwd'));
});

test('xattrs: content xattrs kept as hex, overlay ones dropped, trusted.overlay.opaque=y means opaque', () => {
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
  const c = build([
    te('bin/ping', { xattrs: new Map([['security.capability', cap], ['user.bin', Buffer.from([0xff, 0x00])], ['trusted.overlay.origin', Buffer.from('x')]]) }),
    dir('d', { xattrs: new Map([['trusted.overlay.opaque', Buffer.from('y')]]) }),
    te('s', { type: 'symlink', typeflag: '2', linkname: 'tar\xe9get' }),
    te('dev', { type: 'char', typeflag: '3', devMajor: 1, devMinor: 3 }),
  ]);
  const ping = c.entries.find((e) => e.path === 'bin/ping')!;
  assert.ok(ping.kind === 'put');
  assert.deepEqual(ping.attrs.xattrs, { 'security.capability': cap.toString('hex'), 'user.bin': 'ff00' });
  const d = c.entries.find((e) => e.path === 'd')!;
  assert.ok(d.kind === 'put' && d.opaque === true && d.attrs.xattrs === undefined);
  const s = c.entries.find((e) => e.path === 's')!;
  assert.ok(s.kind === 'put' && s.attrs.size === 7 && s.attrs.linkname === 'tar\xe9get');
  const dev = c.entries.find((e) => e.path === 'dev')!;
  assert.ok(dev.kind === 'put' && dev.attrs.devMajor === 1 && dev.attrs.devMinor === 3);
});

test('AUFS metadata is a top-level name only (as moby and containerd test it); skipped content is said; a type-7 member is refused as the engines refuse it', () => {
  const c = build([
    dir('etc/'),
    dir('etc/.wh..wh.cfg/'),
    te('etc/.wh..wh.cfg/evil', { size: 43 }),
    te('.wh..wh.x/evil', { size: 43 }),
    te('.wh..wh.aufs'),
    te('usr/contig', { typeflag: '7', size: 3 }),
  ]);
  // etc/.wh..wh.cfg as a directory entry is a whiteout of etc/.wh.cfg (its base starts with .wh.); the file below it
  // is extracted (under an implied directory, as every engine does; the stack supplies implied parents).
  assert.deepEqual(c.entries.map(brief), ['etc', 'etc/.wh..wh.cfg/evil', '-etc/.wh.cfg']);
  const by = (code: string) => c.problems.filter((p) => p.code === code);
  assert.equal(by('layer.aufs-metadata.content').length, 1, 'the 43-byte file under /.wh..wh.x is a warning; the empty .wh..wh.aufs is not');
  assert.match(by('layer.aufs-metadata.content')[0]!.path ?? '', /\.wh\.\.wh\.x\/evil/);
  assert.equal(by('layer.aufs-metadata.content')[0]!.severity, 'warning');
  assert.equal(by('layer.member.unsupported')[0]?.severity, 'error');
});
