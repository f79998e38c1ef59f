/**
 * The layer-dir walk in its aufs form (an aufs branch: `.wh.` names, not devices or xattrs): whiteouts and opaque
 * markers become rows of the names they stand for, the branch's bookkeeping is no row and is said, odd `.wh.`
 * entries are problems; and the same tree tarred by GNU tar reads the same through the tar reader (one set of
 * `.wh.` rules for both, whiteout-names.ts).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { setAttributeSync } from '@napi-rs/xattr';
import { readLayerDir } from '../../src/core/sources/walk/layer-dir.js';
import { PathTable } from '../../src/core/model/paths.js';
import { compareWalkOrder } from '../../src/core/model/path.js';
import { readLayerFromFile } from '../../src/core/sources/tar/index.js';
import type { LayerEntry } from '../../src/core/model/types.js';
import { hashTree, requireRoot } from '../support/engine.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-aufs-walk-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function row(e: LayerEntry): string {
  if (e.kind === 'whiteout') return `W ${e.path} ${e.uid}:${e.gid}`;
  const a = e.attrs;
  const dev = a.devMajor !== undefined ? ` ${a.devMajor}:${a.devMinor}` : '';
  return `${a.type} ${e.path}${e.opaque ? ' opaque' : ''}${a.linkname !== undefined ? ` -> ${a.linkname}` : ''}${dev}${a.xattrs ? ' ' + JSON.stringify(a.xattrs) : ''}`;
}

/** A RW branch as the aufs module leaves it: whiteouts and the opaque marker are hard links to .wh..wh.aufs. */
function branch(d: string): void {
  fs.mkdirSync(d, { recursive: true });
  const base = path.join(d, '.wh..wh.aufs');
  fs.writeFileSync(base, '');
  fs.chmodSync(base, 0o444);
  fs.mkdirSync(path.join(d, '.wh..wh.plnk'), { mode: 0o700 });
  fs.mkdirSync(path.join(d, '.wh..wh.orph'), { mode: 0o700 });
  fs.mkdirSync(path.join(d, 'opq'));
  fs.linkSync(base, path.join(d, 'opq/.wh..wh..opq'));
  fs.writeFileSync(path.join(d, 'opq/new'), 'new');
  fs.linkSync(base, path.join(d, '.wh.gone'));
  fs.mkdirSync(path.join(d, 'data'));
  fs.linkSync(base, path.join(d, 'data/.wh.big.bin'));
  // `.wh..wh.x` below the root is a whiteout of `.wh.x`, not bookkeeping (moby tests the whole member name).
  fs.linkSync(base, path.join(d, 'data/.wh..wh.deep'));
  fs.writeFileSync(path.join(d, 'data/f'), 'f');
  fs.linkSync(path.join(d, 'data/f'), path.join(d, 'data/f-link'));
  // Not a whiteout: a character device 0:0 is a device in an aufs branch.
  execFileSync('mknod', [path.join(d, 'dev00'), 'c', '0', '0']);
  // overlay xattrs mean nothing to aufs: content.
  setAttributeSync(path.join(d, 'data'), 'trusted.overlay.opaque', Buffer.from('y'));
  fs.symlinkSync('/', path.join(d, 'root-link'));
}

test('aufs form: .wh. whiteouts and opaque markers are rows of what they stand for; bookkeeping is none (and no finding when clean); a 0:0 device and overlay xattrs are content', async (t) => {
  if (!requireRoot(t)) return;
  const d = path.join(tmp, 'branch');
  branch(d);
  const before = await hashTree(d);
  const table = await readLayerDir(d, new PathTable(), { whiteouts: 'aufs' });
  assert.deepEqual(table.entries.map(row), [
    'dir data {"trusted.overlay.opaque":"79"}',
    'W data/.wh.deep 0:0',
    'W data/big.bin 0:0',
    'file data/f',
    'hardlink data/f-link -> data/f',
    'char dev00 0:0',
    'W gone 0:0',
    'dir opq opaque',
    'file opq/new',
    'symlink root-link -> /',
  ]);
  // What every RW branch holds (.wh..wh.aufs, .wh..wh.plnk/, .wh..wh.orph/, all empty) is no finding.
  assert.deepEqual(table.problems, []);
  assert.equal(await hashTree(d), before, 'the walk wrote to the branch');

  // The same tree as a layer tar (GNU tar, whiteouts as the hard links they are): the tar reader agrees, row
  // for row, except that the tar reader also skips the bookkeeping and says so in its own words.
  const tarFile = path.join(tmp, 'branch.tar');
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', d, '-cf', tarFile, '.']);
  const fd = fs.openSync(tarFile, 'r');
  const fromTar = readLayerFromFile(fd, 0, fs.fstatSync(fd).size, 'branch.tar');
  fs.closeSync(fd);
  // The tar form has no 0:0 device rule either (a tar's devices are devices); overlay xattrs in a tar are the
  // engine's opaque marker, which is where an aufs branch and a tar differ: leave data/ out of that comparison.
  const strip = (rows: string[]) => rows.map((r) => r.replace(/ \{"trusted\.overlay\.opaque":"79"\}| opaque$/, (m) => (m === ' opaque' ? ' opaque' : '')));
  assert.deepEqual(strip(fromTar.entries.map(row)).filter((r) => !r.startsWith('dir data')), strip(table.entries.map(row)).filter((r) => !r.startsWith('dir data')));
});

test('aufs form: odd .wh. entries are problems naming the file; the rest is read', async (t) => {
  if (!requireRoot(t)) return;
  const d = path.join(tmp, 'odd');
  branch(d);
  // A pseudo-link the kernel left (a copied-up hard-linked file while mounted) and an orphan.
  fs.writeFileSync(path.join(d, '.wh..wh.plnk/1234.0'), 'pseudo-link bytes');
  fs.writeFileSync(path.join(d, '.wh..wh.orph/x'), 'orphan');
  // A whiteout that is a directory, with something in it; a whiteout holding bytes; one naming nothing.
  fs.mkdirSync(path.join(d, 'data/.wh.dir'));
  fs.writeFileSync(path.join(d, 'data/.wh.dir/hidden'), 'x'.repeat(100));
  fs.writeFileSync(path.join(d, 'data/.wh.fat'), 'y'.repeat(7));
  fs.writeFileSync(path.join(d, 'data/.wh.'), '');
  // A whiteout and an entry of the same name in one branch: the entry stays, a dir as opaque.
  fs.linkSync(path.join(d, '.wh..wh.aufs'), path.join(d, '.wh.again'));
  fs.mkdirSync(path.join(d, 'again'));
  fs.writeFileSync(path.join(d, 'again/x'), 'x');
  // A root-level opaque marker: ignored, as for a tar. Unknown bookkeeping: said.
  fs.linkSync(path.join(d, '.wh..wh.aufs'), path.join(d, '.wh..wh..opq'));
  fs.writeFileSync(path.join(d, '.wh..wh.other'), '');
  const table = await readLayerDir(d, new PathTable(), { whiteouts: 'aufs' });
  const rows = table.entries.map(row);
  assert.ok(rows.includes('dir again opaque'), rows.join('\n'));
  assert.ok(!rows.some((r) => r.startsWith('W again')), 'the same-layer whiteout is not kept beside the entry');
  assert.ok(rows.includes('W data/dir 0:0') && rows.includes('W data/fat 0:0'));
  assert.ok(!rows.some((r) => r.includes('.wh.') && !r.includes('data/.wh.deep')), `no .wh. names in rows:\n${rows.join('\n')}`);
  assert.ok(!rows.some((r) => r.includes('hidden') || r.includes('1234') || r.includes('orph')));
  const codes = table.problems.map((p) => `${p.severity} ${p.code} ${path.relative(d, p.path ?? '')}`).sort();
  assert.deepEqual(codes, [
    'error aufs.whiteout.invalid data/.wh.',
    'error aufs.whiteout.not-file data/.wh.dir',
    'info layer.whiteout.same-layer .wh.again',
    'warning aufs.bookkeeping.unknown .wh..wh.other',
    'warning aufs.orph.content .wh..wh.orph',
    'warning aufs.plnk.content .wh..wh.plnk',
    'warning aufs.whiteout.content data/.wh.fat',
    'warning layer.opaque.root .wh..wh..opq',
  ]);
  assert.match(table.problems.find((p) => p.code === 'aufs.plnk.content')!.message, /^1 pseudo-link\(s\), 17 bytes/);
  // Rows stay in walk order (the table's contract), whiteouts included.
  const paths = table.entries.map((e) => e.path);
  assert.deepEqual(paths, [...paths].sort(compareWalkOrder));
});

test('aufs form: a layer whose tar carried aufs hard-link pool files (extracted as aufs ApplyDiff does): the linked name is the file, the pool is said', async (t) => {
  if (!requireRoot(t)) return;
  const d = path.join(tmp, 'pool');
  fs.mkdirSync(path.join(d, '.wh..wh.plnk'), { recursive: true });
  fs.mkdirSync(path.join(d, 'usr'));
  fs.writeFileSync(path.join(d, '.wh..wh.plnk/100.1'), 'abc');
  fs.linkSync(path.join(d, '.wh..wh.plnk/100.1'), path.join(d, 'usr/x'));
  const table = await readLayerDir(d, new PathTable(), { whiteouts: 'aufs' });
  assert.deepEqual(table.entries.map(row), ['dir usr', 'file usr/x']);
  assert.equal(table.entries[1]!.kind === 'put' && table.entries[1]!.attrs.size, 3);
  assert.deepEqual(table.problems.map((p) => p.code), ['aufs.plnk.content']);
  // The tar reader, given the same tree as a tar (the pool member first, then the name linked to it), agrees.
  const tarFile = path.join(tmp, 'pool.tar');
  execFileSync('tar', ['--numeric-owner', '-C', d, '-cf', tarFile, '.wh..wh.plnk', 'usr']);
  const fd = fs.openSync(tarFile, 'r');
  const fromTar = readLayerFromFile(fd, 0, fs.fstatSync(fd).size, 'pool.tar');
  fs.closeSync(fd);
  assert.deepEqual(fromTar.entries.map(row), table.entries.map(row));
});

test('aufs form across many chunks: whiteouts among 6,000 entries (chunks of 4,096) land in walk order, as the tar reader reads the same tree', async (t) => {
  if (!requireRoot(t)) return;
  const d = path.join(tmp, 'many');
  for (let i = 0; i < 20; i++) {
    const dir = path.join(d, `d${i}`, 'sub');
    fs.mkdirSync(dir, { recursive: true });
    for (let j = 0; j < 150; j++) {
      fs.writeFileSync(path.join(dir, `f${j}`), '');
      fs.writeFileSync(path.join(dir, `.wh.gone${j}`), '');
    }
    if (i % 3 === 0) fs.writeFileSync(path.join(d, `d${i}`, '.wh..wh..opq'), '');
  }
  const table = await readLayerDir(d, new PathTable(), { whiteouts: 'aufs' });
  const paths = table.entries.map((e) => e.path);
  assert.equal(paths.length, 20 * 2 + 20 * 300);
  assert.deepEqual(paths, [...paths].sort(compareWalkOrder));
  assert.equal(table.entries.filter((e) => e.kind === 'whiteout').length, 20 * 150);
  assert.equal(table.entries.filter((e) => e.kind === 'put' && e.opaque).length, 7);
  const tarFile = path.join(tmp, 'many.tar');
  execFileSync('tar', ['--numeric-owner', '-C', d, '-cf', tarFile, '.']);
  const fd = fs.openSync(tarFile, 'r');
  const fromTar = readLayerFromFile(fd, 0, fs.fstatSync(fd).size, 'many.tar');
  fs.closeSync(fd);
  assert.deepEqual(fromTar.entries.map(row), table.entries.map(row));
});
