#!/usr/bin/env node
// Reading a layer directory (what `report` does for every layer of a data root) against `find` printing the
// same facts (size, mode, owner, mtime, link target). Default tree: /usr (read-only, warm cache after the
// first pass); `node bench/walk.mjs DIR` for another. Prints the ratio: lower is better, 1.0 = as fast as find.
import { execFileSync } from 'node:child_process';
import { readDiffDirSync } from '../dist/core/sources/diffdir.js';

const dir = process.argv[2] ?? '/usr';
const time = (fn) => {
  const t = process.hrtime.bigint();
  const r = fn();
  return { s: Number(process.hrtime.bigint() - t) / 1e9, r };
};
const find = () => execFileSync('find', [dir, '-printf', '%s %m %U %G %T@ %l\n'], { maxBuffer: 1 << 30 }).length;
find(); // warm the cache
const best = (fn, n = 3) => Array.from({ length: n }, () => time(fn)).sort((a, b) => a.s - b.s)[0];
const f = best(find);
const ours = best(() => readDiffDirSync(dir).entries.length);
const noX = best(() => readDiffDirSync(dir, { xattrs: false }).entries.length);
const rss = process.memoryUsage().rss;
console.log(`walk ${dir}: ${ours.r} entries`);
console.log(`  find -printf            ${f.s.toFixed(2)} s`);
console.log(`  layerscope (xattrs)     ${ours.s.toFixed(2)} s   ratio ${(ours.s / f.s).toFixed(2)}x   ${Math.round(ours.r / ours.s)} entries/s`);
console.log(`  layerscope (no xattrs)  ${noX.s.toFixed(2)} s   ratio ${(noX.s / f.s).toFixed(2)}x`);
console.log(`  rss ${(rss / 2 ** 20).toFixed(0)} MiB`);
