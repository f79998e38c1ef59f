#!/usr/bin/env node
// Reading a layer directory (what `report` does for every layer of a data root) against `find` printing the
// same facts (size, mode, owner, mtime, link target). Default tree: /usr (read-only, warm cache after the
// first pass); `node bench/walk.mjs DIR` for another. Prints the ratio: lower is better, 1.0 = as fast as find.
import { execFileSync } from 'node:child_process';
import { readDiffDir, readDiffDirSync } from '../dist/core/sources/diffdir.js';

const dir = process.argv[2] ?? '/usr';
const time = async (fn) => {
  const t = process.hrtime.bigint();
  const r = await fn();
  return { s: Number(process.hrtime.bigint() - t) / 1e9, r };
};
const find = () => execFileSync('find', [dir, '-printf', '%s %m %U %G %T@ %l\n'], { maxBuffer: 1 << 30 }).length;
find(); // warm the cache
const best = async (fn, n = 3) => {
  const runs = [];
  for (let i = 0; i < n; i++) runs.push(await time(fn));
  return runs.sort((a, b) => a.s - b.s)[0];
};
const f = await best(find);
const ours = await best(async () => (await readDiffDir(dir)).entries.length);
const perEntry = await best(() => readDiffDirSync(dir).entries.length);
const noX = await best(() => readDiffDirSync(dir, { xattrs: false }).entries.length);
const rss = process.memoryUsage().rss;
console.log(`walk ${dir}: ${ours.r} entries`);
console.log(`  find -printf            ${f.s.toFixed(2)} s`);
console.log(`  layerscope              ${ours.s.toFixed(2)} s   ratio ${(ours.s / f.s).toFixed(2)}x   ${Math.round(ours.r / ours.s)} entries/s  (xattrs from one getfattr walk)`);
console.log(`  layerscope, per entry   ${perEntry.s.toFixed(2)} s   ratio ${(perEntry.s / f.s).toFixed(2)}x   (xattrs through the binding, no getfattr)`);
console.log(`  layerscope (no xattrs)  ${noX.s.toFixed(2)} s   ratio ${(noX.s / f.s).toFixed(2)}x`);
console.log(`  rss ${(rss / 2 ** 20).toFixed(0)} MiB`);
