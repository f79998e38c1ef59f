#!/usr/bin/env node
// A layer kept as a whole tree (Docker's vfs and btrfs drivers, the first overlay driver's `root`) is read as the
// engine's naive diff of its tree against its parent's: both trees are listed and lstat'ed, then merged. The
// floor is `find` printing the same facts for both trees. This builds two trees of N files (default 200,000: a
// parent, and a copy of it with 1% of its files changed, 0.5% deleted and 0.5% added, as a RUN step leaves
// them), times the diff against `find` over both (best of 3, in one run), and removes them.
// `node bench/tree-diff.mjs [N]`. Lower ratio is better; 1.0 = as fast as find.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readTreeDiff } from '../dist/core/sources/walk/tree-diff.js';
import { readLayerDir } from '../dist/core/sources/walk/layer-dir.js';
import { walkPool } from '../dist/core/sources/walk/pool.js';
import { PathTable } from '../dist/core/model/paths.js';

const N = Number(process.argv[2] ?? 200_000);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-bench-treediff-'));
const parent = path.join(work, 'parent');
const layer = path.join(work, 'layer');

const time = async (fn) => {
  const t = process.hrtime.bigint();
  const r = await fn();
  return { s: Number(process.hrtime.bigint() - t) / 1e9, r };
};
const best = async (fn, n = 3) => {
  const runs = [];
  for (let i = 0; i < n; i++) runs.push(await time(fn));
  return runs.sort((a, b) => a.s - b.s)[0];
};

try {
  const t0 = Date.now();
  // 100 files a dir, 100 dirs a level: a tree shaped like /usr.
  const body = Buffer.alloc(100, 0x61);
  for (let i = 0; i < N; i++) {
    const d = path.join(parent, `d${Math.floor(i / 10_000)}`, `e${Math.floor(i / 100) % 100}`);
    if (i % 100 === 0) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}`), body);
  }
  execFileSync('cp', ['-a', parent, layer]);
  const files = execFileSync('find', [layer, '-type', 'f'], { maxBuffer: 1 << 30 }).toString().split('\n').filter(Boolean);
  let changed = 0;
  for (let i = 0; i < files.length; i += 100) (fs.appendFileSync(files[i], 'x'), changed++);
  let deleted = 0;
  for (let i = 50; i < files.length; i += 200) (fs.rmSync(files[i]), deleted++);
  for (let i = 0; i < N / 200; i++) fs.writeFileSync(path.join(layer, 'd0', 'e0', `new${i}`), body);
  console.log(`tree diff: two trees of ${N} files (${changed} changed, ${deleted} deleted, ${N / 200} added), built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const findBoth = () => execFileSync('find', [parent, layer, '-printf', '%s %m %U %G %T@ %l\n'], { maxBuffer: 1 << 30 }).length;
  findBoth(); // warm the cache
  const f = await best(findBoth);
  const one = await best(async () => (await readLayerDir(layer, new PathTable(), { overlay: false })).n);
  const diff = await best(async () => (await readTreeDiff(layer, parent, new PathTable())).n);
  const rss = process.memoryUsage().rss;
  console.log(`  find -printf, both trees        ${f.s.toFixed(2)} s`);
  console.log(`  layerscope, one tree (a base)   ${one.s.toFixed(2)} s   ${one.r} rows`);
  console.log(`  layerscope, the naive diff      ${diff.s.toFixed(2)} s   ratio ${(diff.s / f.s).toFixed(2)}x find   ${diff.r} rows (the layer's changes)`);
  console.log(`  rss ${(rss / 2 ** 20).toFixed(0)} MiB   load ${os.loadavg()[0].toFixed(1)}`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
  await walkPool().close();
}
