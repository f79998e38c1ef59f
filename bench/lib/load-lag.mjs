#!/usr/bin/env node
// What the TUI's main thread goes through while a host loads, measured inside the process (no terminal, no
// tmux): the source is opened as the TUI opens it, every image is asked for at once with layers stacked in
// slices (as the TUI's session does), and a 5 ms timer records the gaps between its ticks: a gap past 5 ms is
// time the event loop could not answer a key. Also the model's own bytes per unique entry (its typed arrays).
//   node bench/lib/load-lag.mjs REPO ROOT    -> one JSON line on stdout
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [repo, root] = process.argv.slice(2);
const dist = (p) => import(pathToFileURL(path.join(repo, 'dist', p)).href);
let open, modelOf;
try {
  ({ openSource: open } = await dist('core/sources/open.js'));
  ({ modelOf } = await dist('core/analysis/model.js'));
} catch (err) {
  console.log(JSON.stringify({ skipped: `this build has no shared model (${err.code ?? err.message})` }));
  process.exit(0);
}
const source = await open(root);
const model = modelOf(source, { sliced: true });
const gaps = [];
let last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  gaps.push(now - last);
  last = now;
}, 5);
const t0 = performance.now();
await Promise.all(source.images.map((i) => model.image(i)));
const loadMs = performance.now() - t0;
clearInterval(timer);
gaps.sort((a, b) => a - b);
const q = (p) => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))];
let tableBytes = 0;
let rows = 0;
for (const n of model.store.nodes) {
  tableBytes += n.table.byteSize;
  rows += n.table.n;
}
const modelBytes = source.paths.byteSize + tableBytes + model.store.byteSize;
console.log(JSON.stringify({ loadMs, gaps: { n: gaps.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: gaps[gaps.length - 1] }, model: { bytes: modelBytes, paths: source.paths.count, rows, pathsBytes: source.paths.byteSize, tableBytes, storeBytes: model.store.byteSize } }));
process.exit(0);
