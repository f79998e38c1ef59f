#!/usr/bin/env node
// Reading a layer directory (what `report` does for every layer of a data root) against `find` printing the
// same facts (size, mode, owner, mtime, link target). Default tree: /usr (read-only, warm cache after the
// first pass); `node bench/walk.mjs DIR` for another. Prints the ratio: lower is better, 1.0 = as fast as find.
// Our walk runs in the walk workers (both cores: one lists, every worker lstat's); find runs on one core.
import { execFileSync } from 'node:child_process';
import { readLayerDir } from '../dist/core/sources/walk/layer-dir.js';
import { walkPool } from '../dist/core/sources/walk/pool.js';
import { PathTable } from '../dist/core/model/paths.js';

const dir = process.argv[2] ?? '/usr';
const time = async (fn) => {
  const t = process.hrtime.bigint();
  const r = await fn();
  return { s: Number(process.hrtime.bigint() - t) / 1e9, r };
};
const find = () => execFileSync('find', [dir, '-printf', '%s %m %U %G %T@ %l\n'], { maxBuffer: 1 << 30 }).length;
const findSize = () => execFileSync('find', [dir, '-printf', '%s\n'], { maxBuffer: 1 << 30 }).length;
find(); // warm the cache
const best = async (fn, n = 5) => {
  const runs = [];
  for (let i = 0; i < n; i++) runs.push(await time(fn));
  return runs.sort((a, b) => a.s - b.s)[0];
};
const f = await best(find);
const fs1 = await best(findSize);
const ours = await best(async () => (await readLayerDir(dir, new PathTable())).n);
const noX = await best(async () => (await readLayerDir(dir, new PathTable(), { xattrs: false })).n);
const rss = process.memoryUsage().rss;
console.log(`walk ${dir}: ${ours.r} entries (${walkPool().size} walk workers)`);
console.log(`  find -printf '%s\\n'        ${fs1.s.toFixed(2)} s`);
console.log(`  find -printf (all facts)   ${f.s.toFixed(2)} s`);
console.log(`  layerscope                 ${ours.s.toFixed(2)} s   ratio ${(ours.s / fs1.s).toFixed(2)}x find '%s'   ${Math.round(ours.r / ours.s)} entries/s  (lstat, readlink, xattrs)`);
console.log(`  layerscope (no xattrs)     ${noX.s.toFixed(2)} s   ratio ${(noX.s / fs1.s).toFixed(2)}x`);
console.log(`  rss ${(rss / 2 ** 20).toFixed(0)} MiB`);
await walkPool().close();
