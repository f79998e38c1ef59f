/**
 * The layer-dir walk (walk workers): overlay form read into a normalised table, nothing followed, deep trees
 * read through /proc/self/fd anchors, every bound of model/limits.ts met with a problem and bounded work.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { setAttributeSync } from '@napi-rs/xattr';
import { readLayerDir, treeBytes } from '../../src/core/sources/walk/layer-dir.js';
import { PathTable } from '../../src/core/model/paths.js';
import { hashTree, requireRoot } from '../support/engine.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-walk-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function mk(dir: string, files: Record<string, string | null>): void {
  for (const [rel, body] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(body === null ? p : path.dirname(p), { recursive: true });
    if (body !== null) fs.writeFileSync(p, body);
  }
}

test('overlay form: whiteouts, opaque dirs, xattr whiteouts, capabilities, hard links; symlinks recorded, never followed', async (t) => {
  if (!requireRoot(t)) return;
  const d = path.join(tmp, 'overlay');
  mk(d, { 'a/x': 'abc', 'o/kept': 'k', 'x/': null, 'bin/ping': 'ELF' });
  fs.linkSync(path.join(d, 'a/x'), path.join(d, 'a/hard'));
  fs.symlinkSync('/', path.join(d, 'root-link'));
  fs.symlinkSync('../../../../etc', path.join(d, 'a/up'));
  execFileSync('mknod', [path.join(d, 'gone'), 'c', '0', '0']);
  setAttributeSync(path.join(d, 'o'), 'trusted.overlay.opaque', Buffer.from('y'));
  setAttributeSync(path.join(d, 'x'), 'trusted.overlay.opaque', Buffer.from('x'));
  fs.writeFileSync(path.join(d, 'x/wh'), '');
  execFileSync('setfattr', ['-n', 'trusted.overlay.whiteout', path.join(d, 'x/wh')]);
  setAttributeSync(path.join(d, 'bin/ping'), 'security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex'));
  fs.writeFileSync(path.join(d, 'odd-\n-\xff-name'), '');
  const before = await hashTree(d);
  const t0 = await readLayerDir(d, new PathTable());
  const rows = t0.entries.map((e) => (e.kind === 'whiteout' ? `W ${e.path}` : `${e.attrs.type} ${e.path}${e.opaque ? ' opaque' : ''}${e.attrs.linkname !== undefined ? ` -> ${e.attrs.linkname}` : ''}${e.attrs.xattrs ? ' ' + JSON.stringify(e.attrs.xattrs) : ''}`));
  assert.deepEqual(rows, [
    'dir a',
    // The first name in walk order is the file, the others link to it (as a tar of the dir would).
    'file a/hard',
    'symlink a/up -> ../../../../etc',
    'hardlink a/x -> a/hard',
    'dir bin',
    'file bin/ping {"security.capability":"0100000200200000000000000000000000000000"}',
    'W gone',
    'dir o opaque',
    'file o/kept',
    'file odd-\n-\xc3\xbf-name',
    'symlink root-link -> /',
    'dir x',
    'W x/wh',
  ]);
  assert.deepEqual(t0.problems, []);
  assert.equal(await hashTree(d), before, "nothing written");
});

test('a layer dir that is a symlink is refused, not followed; a file is not a layer dir', async () => {
  const link = path.join(tmp, 'diff-link');
  fs.symlinkSync('/etc', link);
  const a = await readLayerDir(link, new PathTable());
  assert.equal(a.n, 0);
  assert.deepEqual(a.problems.map((p) => p.code), ['layer.dir.not-a-dir']);
  assert.match(a.problems[0]!.message, /symlink; not followed/);
  fs.writeFileSync(path.join(tmp, 'plain'), 'x');
  assert.deepEqual((await readLayerDir(path.join(tmp, 'plain'), new PathTable())).problems.map((p) => p.code), ['layer.dir.not-a-dir']);
});

test('a tree nested 3,000 levels deep (paths past PATH_MAX) is read whole, without recursion', async () => {
  const d = path.join(tmp, 'deep');
  let p = d;
  const levels = 3000;
  fs.mkdirSync(d);
  // mkdir one level at a time relative to the previous (paths past PATH_MAX cannot be named whole).
  let fd = fs.openSync(d, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  for (let i = 0; i < levels; i++) {
    fs.mkdirSync(`/proc/self/fd/${fd}/dd`);
    const next = fs.openSync(`/proc/self/fd/${fd}/dd`, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    fs.closeSync(fd);
    fd = next;
  }
  fs.writeFileSync(`/proc/self/fd/${fd}/leaf`, 'bottom');
  fs.closeSync(fd);
  void p;
  const paths = new PathTable();
  const t0 = await readLayerDir(d, paths);
  assert.equal(t0.n, levels + 1);
  assert.deepEqual(t0.problems, []);
  const leaf = t0.entry(t0.n - 1);
  assert.equal(leaf.path, 'dd/'.repeat(levels) + 'leaf');
  assert.equal(leaf.kind === 'put' && leaf.attrs.size, 6);
  assert.equal(paths.depth(t0.pathIds[t0.n - 1]!), levels + 1);
  // rm -rf cannot name it whole either: remove through the anchors too.
  spawnSync('rm', ['-rf', d]);
});

test('bounds: a directory past LIMITS.dirEntries stops there with a problem; depth past LIMITS.pathDepth too', async () => {
  const d = path.join(tmp, 'wide');
  fs.mkdirSync(path.join(d, 'many'), { recursive: true });
  for (let i = 0; i < 3000; i++) fs.writeFileSync(path.join(d, 'many', `f${i}`), '');
  let deep = path.join(d, 'deep');
  for (let i = 0; i < 40; i++) deep = path.join(deep, 'x');
  fs.mkdirSync(deep, { recursive: true });
  // The bounds are lowered for this run (they can only be lowered): 3,000 names stand for ten million.
  const script = `
    import { readLayerDir } from ${JSON.stringify(new URL('../../src/core/sources/walk/layer-dir.ts', import.meta.url).href)};
    import { PathTable } from ${JSON.stringify(new URL('../../src/core/model/paths.ts', import.meta.url).href)};
    const t = await readLayerDir(${JSON.stringify(d)}, new PathTable());
    console.log(JSON.stringify({ n: t.n, problems: t.problems.map((p) => [p.code, p.path]), rss: process.memoryUsage().rss }));
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, LAYERSCOPE_TEST_LIMITS: JSON.stringify({ dirEntries: 1000, bigDirBytes: 4096, pathDepth: 20 }) },
    encoding: 'utf8',
    cwd: new URL('../..', import.meta.url).pathname,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const codes = out.problems.map((p: [string, string]) => p[0]).sort();
  assert.deepEqual(codes, ['limit.dir-entries', 'limit.path-depth']);
  assert.ok(out.problems.some((p: [string, string]) => p[0] === 'limit.dir-entries' && p[1] === path.join(d, 'many')), JSON.stringify(out.problems));
  // many/ read up to the bound, the deep chain down to the bound.
  assert.ok(out.n <= 1000 + 25, `${out.n} rows`);
});

test('sizing never follows a link: a symlink to / is reported, not walked; links inside are not entered', async () => {
  const link = path.join(tmp, 'orphan-link');
  fs.symlinkSync('/', link);
  const a = await treeBytes(link);
  assert.equal(a.bytes, 0);
  assert.deepEqual(a.problems.map((p) => p.code), ['evidence.symlink']);
  const d = path.join(tmp, 'orphan-dir');
  mk(d, { 'a/b': '12345', 'c': '678' });
  fs.symlinkSync('/', path.join(d, 'to-root'));
  fs.symlinkSync('/proc', path.join(d, 'a/to-proc'));
  fs.linkSync(path.join(d, 'c'), path.join(d, 'c2'));
  const b = await treeBytes(d);
  assert.equal(b.bytes, 8, 'a/b and one name of c: links neither followed nor counted twice');
  assert.deepEqual(b.problems, []);
});

test('the walk queue: a group someone waits for moves up, ahead of work queued before it', async () => {
  const { WalkPool } = await import('../../src/core/sources/walk/pool.js');
  const pool = new WalkPool(1);
  const d = path.join(tmp, 'queue');
  mk(d, { a: 'x' });
  const order: string[] = [];
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 12; i++) {
    jobs.push(
      new Promise((resolve) =>
        pool.submit(
          { op: 'size', root: d, maxEntries: 100 },
          () => {
            order.push(`g${i}`);
            resolve();
            return true;
          },
          0,
          `g${i}`,
        ),
      ),
    );
  }
  // g0 is running (one worker); g9 is raised above g1..g8.
  pool.raise('g9', 10);
  await Promise.all(jobs);
  await pool.close();
  assert.equal(order[0], 'g0');
  assert.equal(order[1], 'g9', order.join(' '));
  assert.deepEqual(order.slice(2), ['g1', 'g2', 'g3', 'g4', 'g5', 'g6', 'g7', 'g8', 'g10', 'g11']);
});
