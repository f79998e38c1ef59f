#!/usr/bin/env node
// TUI benchmark on a synthetic image of 1,000,000 files (LayerChanges built in memory, no I/O):
//   - analysis (stacking) time, for reference;
//   - time from analysis done to the first frame on screen (target < 1 s);
//   - keypress-to-redraw latency, p50/p95/max (target p95 < 16 ms), for cursor moves, and separately for
//     switching layer / view (which builds a new flat index the first time).
// Run after `npm run build`: NODE_ENV=production node bench/tui.mjs [files]
//
// V8 flags: the bench re-runs itself with --max-semi-space-size=64 (a young generation big enough for Ink's
// per-frame garbage: with a 1 GB analysis in the old generation, the default 16 MB one makes keypresses ~2x
// slower) and a large old space. LAYERSCOPE_BENCH_V8_FLAGS overrides them ('' = Node's defaults).
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

process.env.NODE_ENV ??= 'production';
if (!process.env.LAYERSCOPE_BENCH_CHILD) {
  const flags = (process.env.LAYERSCOPE_BENCH_V8_FLAGS ?? '--max-semi-space-size=64 --max-old-space-size=8192').split(' ').filter(Boolean);
  console.log(`node ${flags.join(' ')} (NODE_ENV=${process.env.NODE_ENV})`);
  const r = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, LAYERSCOPE_BENCH_CHILD: '1' } });
  process.exit(r.status ?? 1);
}
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(ROOT, 'dist', p));

const N = Number(process.argv[2] ?? 1_000_000);
const FANOUT = 1000;
const T = 1704067200;

const React = (await import('react')).default;
const { render } = await import('ink');
const { analyzeChanges } = await dist('core/analysis/analyze.js');
const { App } = await dist('tui/components/App.js');
const { imageState } = await dist('tui/state/index.js');

function attrs(type, size, mode = 0o644) {
  return { type, mode, uid: 0, gid: 0, size, mtime: T, mtimeNsec: 0 };
}

function syntheticChanges(n) {
  const l0 = [];
  const dirs = Math.ceil(n / FANOUT);
  for (let d = 0; d < dirs; d++) {
    const dp = `usr/d${String(d).padStart(5, '0')}`;
    if (d === 0) l0.push({ kind: 'put', path: 'usr', attrs: attrs('dir', 0, 0o755) });
    l0.push({ kind: 'put', path: dp, attrs: attrs('dir', 0, 0o755) });
    for (let f = 0; f < FANOUT && d * FANOUT + f < n; f++) l0.push({ kind: 'put', path: `${dp}/f${String(f).padStart(5, '0')}`, attrs: attrs('file', (f * 7919) % 200_000) });
  }
  // L1: rewrites 1000 files in one dir, deletes 100 in another.
  const l1 = [{ kind: 'put', path: 'usr', attrs: attrs('dir', 0, 0o755) }, { kind: 'put', path: 'usr/d00002', attrs: attrs('dir', 0, 0o755) }];
  for (let f = 0; f < FANOUT; f++) l1.push({ kind: 'put', path: `usr/d00002/f${String(f).padStart(5, '0')}`, attrs: attrs('file', 10) });
  l1.push({ kind: 'put', path: 'usr/d00003', attrs: attrs('dir', 0, 0o755) });
  for (let f = 0; f < 100; f++) l1.push({ kind: 'whiteout', path: `usr/d00003/f${String(f).padStart(5, '0')}` });
  // L2: rm -rf a whole dir (1000 files).
  const l2 = [{ kind: 'put', path: 'usr', attrs: attrs('dir', 0, 0o755) }, { kind: 'whiteout', path: 'usr/d00004' }];
  return [l0, l1, l2].map((entries) => ({ entries, problems: [] }));
}

const image = {
  id: 'sha256:' + 'b'.repeat(64),
  tags: ['synthetic:1m'],
  digests: [],
  created: null,
  os: 'linux',
  architecture: 'amd64',
  layers: [0, 1, 2].map((i) => ({ index: i, diffId: 'sha256:' + String(i).repeat(64), chainId: 'sha256:' + String(i + 3).repeat(64), cacheId: null, createdBy: ['ADD rootfs', 'RUN rewrite', 'RUN rm -rf /usr/d00004'][i], created: null, comment: null, location: null, storedSize: null })),
  emptyHistory: 0,
  config: {},
};

// A terminal stand-in: Ink writes frames here; we time when they arrive.
class FakeStdout extends EventEmitter {
  columns = 120;
  rows = 40;
  isTTY = false;
  frames = 0;
  lastAt = 0;
  waiters = [];
  write(s) {
    if (typeof s === 'string' && s.length > 0) {
      this.lastText = s;
      this.frames++;
      this.lastAt = performance.now();
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f(this.lastAt);
    }
    return true;
  }
  nextFrame() {
    return new Promise((r) => this.waiters.push(r));
  }
}
class FakeStdin extends EventEmitter {
  isTTY = true;
  data = null;
  setRawMode() {}
  setEncoding() {}
  resume() {}
  pause() {}
  ref() {}
  unref() {}
  read = () => {
    const d = this.data;
    this.data = null;
    return d;
  };
  write(d) {
    this.data = d;
    this.emit('readable');
    this.emit('data', d);
  }
}

const t0 = performance.now();
const changes = syntheticChanges(N);
const t1 = performance.now();
const analysis = analyzeChanges(image, changes);
const t2 = performance.now();
console.log(`synthetic image: ${N.toLocaleString('en')} files in ${changes.length} layers (built in ${(t1 - t0).toFixed(0)} ms)`);
console.log(`analysis (stacking, hidden bytes): ${(t2 - t1).toFixed(0)} ms`);

const stdout = new FakeStdout();
const stdin = new FakeStdin();
const stderr = new FakeStdout();
const first = stdout.nextFrame();
const tr = performance.now();
// From layer 0's own changes, as the figures have always been taken (the app opens on the whole image; the
// tree of the top layer is the same million rows).
const LAYER0 = { layer: 'base', mode: 'changes', collapse: { all: false, paths: new Set() } };
const state = imageState(analysis, stdout.columns, stdout.rows - 1, 'synthetic', LAYER0);
// The viewer's bytes: a 1 GiB file served in 1 MiB chunks (one buffer, yielded again and again: the viewer keeps
// its first 4 MiB and hashes the rest while keys are timed), as the driver would read it from a diff dir.
const { readForViewer } = await dist('tui/viewer.js');
const VIEW_FILE_MIB = 1024;
const chunk = Buffer.alloc(1 << 20);
for (let i = 0; i < chunk.length; i++) chunk[i] = i % 97 === 96 ? 0x0a : 0x61 + (i % 26);
let viewing = -1;
let hashedAt = 0;
const driver = {
  start() {},
  stop() {},
  request(want, dispatch) {
    if (want.kind === 'viewStop') viewing = -1;
    if (want.kind !== 'view') return;
    const seq = (viewing = want.seq);
    const body = (async function* () {
      for (let i = 0; i < VIEW_FILE_MIB; i++) yield chunk;
    })();
    void readForViewer(body, {
      window: (content) => dispatch({ type: 'viewerLoaded', seq, from: want.entry.layer, recorded: VIEW_FILE_MIB << 20, content }),
      progress: (hashed) => dispatch({ type: 'viewerHashed', seq, hashed }),
      alive: () => viewing === seq,
    }).then((r) => {
      if (r) (hashedAt = performance.now()), dispatch({ type: 'viewerHashed', seq, hashed: r.size, sha256: r.sha256, size: r.size });
    });
  },
};
let latest = null;
const inst = render(React.createElement(App, { initial: state, color: false, followTerminal: false, driver, onState: (s) => (latest = s) }), { stdout, stdin, stderr, exitOnCtrlC: false, patchConsole: false, maxFps: 1000 });
const tf = await first;
const firstFrameMs = tf - tr;
console.log(`analysis done -> first frame: ${firstFrameMs.toFixed(0)} ms (target < 1000 ms)`);
// Large layers get their file index right after the first frame: time until the tree is on screen.
const treeShown = await new Promise((resolve) => {
  const check = () => (stdout.lastText?.includes('indexing') ? stdout.nextFrame().then(check) : resolve(performance.now()));
  check();
});
console.log(`analysis done -> layer 0's ${N.toLocaleString('en')}-entry tree on screen: ${(treeShown - tr).toFixed(0)} ms`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function timeKey(key) {
  const p = stdout.nextFrame();
  const ts = performance.now();
  stdin.write(key);
  const te = await Promise.race([p, sleep(5000).then(() => NaN)]);
  return te - ts;
}
function stats(xs) {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: q(0.5), p95: q(0.95), max: s[s.length - 1] };
}
const fmt = (x) => `p50 ${x.p50.toFixed(2)} ms, p95 ${x.p95.toFixed(2)} ms, max ${x.max.toFixed(2)} ms (n=${x.n})`;

// A person reads the first screen before pressing keys: let the post-build garbage collection settle.
await sleep(1500);
// Focus the files pane, then move around the 1M-row tree.
await timeKey('\t');
const moves = [];
const keys = ['j', 'j', 'j', 'k', '\u001B[6~', 'j', '\u001B[5~', 'j'];
for (let i = 0; i < 200; i++) {
  moves.push(await timeKey(keys[i % keys.length]));
  await sleep(2);
}
moves.push(await timeKey('\u001B[F')); // End: the last of a million rows
for (let i = 0; i < 20; i++) moves.push(await timeKey('k'));
const m = stats(moves);
console.log(`keypress redraw, cursor moves in a ${N.toLocaleString('en')}-row tree: ${fmt(m)} (target p95 < 16 ms)`);

// Switching to a layer whose big index is not built yet: a frame at once (the tree pane says "indexing"),
// then the tree when its index is built (a moment later, so that holding a key does not build every layer).
async function timeSwitch(key) {
  const p = stdout.nextFrame();
  const ts = performance.now();
  stdin.write(key);
  const frame = (await p) - ts;
  let ready = frame;
  while (stdout.lastText?.includes('indexing')) ready = (await stdout.nextFrame()) - ts;
  return [frame, ready];
}
const switches = [];
for (const k of [']', ']', 'v', '[', '[', 'v', ']', 'v']) switches.push(await timeSwitch(k));
console.log(`layer/view switches, first visit (frame / tree on screen): ${switches.map(([f, r]) => `${f.toFixed(0)}/${r.toFixed(0)}`).join(', ')} ms`);
const again = [];
for (let i = 0; i < 20; i++) again.push((await timeSwitch(i % 2 ? '[' : ']'))[1]);
console.log(`layer switches, indexes cached: ${fmt(stats(again))}`);
const collapse = [];
for (let i = 0; i < 10; i++) collapse.push(await timeKey(' '));
console.log(`collapse/expand (space): ${fmt(stats(collapse))}`);
// The file viewer open on a 1 GiB file (its first 4 MiB held, the rest hashed in the background meanwhile):
// scrolling and paging it, and the tree's keys after it is closed.
let viewerStats = null;
{
  for (let i = 0; i < 5 && !(latest?.viewer?.status === 'ready'); i++) {
    if (latest?.viewer) await timeKey('\u001B');
    await timeKey('j');
    await timeKey('o');
    for (let w = 0; w < 100 && latest?.viewer?.status === 'loading'; w++) await sleep(10);
  }
  if (latest?.viewer?.status !== 'ready') throw new Error('the viewer did not open on a file');
  const opened = performance.now();
  const vk = ['j', 'j', 'k', '\u001B[6~', 'j', '\u001B[5~', 'G', 'g', 'l', 'h'];
  const times = [];
  let during = 0;
  for (let i = 0; i < 200; i++) {
    times.push(await timeKey(vk[i % vk.length]));
    if (!latest.viewer.sha256) during++;
    await sleep(2);
  }
  viewerStats = stats(times);
  console.log(`keypress redraw, viewer open on a ${VIEW_FILE_MIB} MiB file (${during} of ${times.length} keys while it was being hashed): ${fmt(viewerStats)} (target p95 < 16 ms)`);
  while (!latest.viewer.sha256) await sleep(50);
  console.log(`viewer: 1 GiB hashed in ${((hashedAt - opened) / 1000).toFixed(1)} s after the window was shown; window held: ${(latest.viewer.content.window.length / 2 ** 20).toFixed(0)} MiB`);
  const idle = [];
  for (let i = 0; i < 100; i++) {
    idle.push(await timeKey(vk[i % vk.length]));
    await sleep(2);
  }
  const vi = stats(idle);
  console.log(`keypress redraw, viewer open, hashing done: ${fmt(vi)}`);
  viewerStats = { ...viewerStats, p95: Math.max(viewerStats.p95, vi.p95) };
  await timeKey('\u001B');
}
// Our share of a keypress: the reducer and the row builders alone (no React, no Ink), same image.
{
  const st = await dist('tui/state/index.js');
  const rows = await dist('tui/rows.js');
  let s = st.reduce(st.reduce(imageState(analysis, 120, 39, 'synthetic', LAYER0), { type: 'filesReady' }), { type: 'focusPane', pane: 'files' });
  const own = [];
  for (let i = 0; i < 1000; i++) {
    const t = performance.now();
    s = st.reduce(s, i % 10 === 5 ? { type: 'page', delta: 1 } : { type: 'move', delta: 1 });
    const cv = st.currentView(s);
    rows.fileLines(cv.tree, cv.view, s.fileCursor, s.fileScroll, 36, true);
    rows.layerLines(analysis, s.layer, s.layerScroll, 5);
    rows.summaryLines(analysis, 0, 0, 6, false);
    own.push(performance.now() - t);
  }
  console.log(`reducer + row builders per keypress (no React/Ink): ${fmt(stats(own))}`);
}
const mem = process.memoryUsage();
const os = await import('node:os');
console.log(`machine: ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (figures scale with load)`);
console.log(`memory: rss ${(mem.rss / 1e6).toFixed(0)} MB, heap used ${(mem.heapUsed / 1e6).toFixed(0)} MB`);
inst.unmount();
const ok = firstFrameMs < 1000 && m.p95 < 16 && viewerStats.p95 < 16;
console.log(ok ? 'OK: every target met' : 'MISSED a target');
process.exitCode = ok ? 0 : 1;
