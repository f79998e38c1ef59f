#!/usr/bin/env node
// A real Docker host at real size, through the CLI (so that it keeps measuring across rewrites of the core).
//
//   npm run bench host                 (or: node bench/host.mjs [flags] after `npm run build`)
//   node bench/host.mjs --runs 5 --json /tmp/host.json
//
//   --runs N           timed runs of each command (best and median are printed); default 3 (env LAYERSCOPE_BENCH_RUNS)
//   --tui-runs N       TUI runs (default: --runs)
//   --tui-timeout S    give up waiting for the TUI's figures after S seconds (default 300): said so, not faked
//   --keys N           keypresses per TUI run (default 30, one every ~100 ms)
//   --verify           also time verify ROOT --image hb-app-01:1 --no-mount against sha256sum (opt-in: slow today)
//   --no-tui, --no-check    leave out the TUI, the report sanity check (one untimed whole-host report, also a warm-up)
//   --rebuild          rebuild the fixture even when the cache holds it
//   --build-only       build (or find) the fixture, then stop
//   --keep             keep the restored data root (its path is printed) instead of deleting it
//   --json FILE        also write every figure (and every run) as JSON
//   --repo DIR         measure the CLI of another checkout (DIR/bin/layerscope.js, DIR/dist built), e.g. an export
//                      of main next to a branch; default: this checkout
//
// The fixture (bench/lib/host-fixture.mjs, which is the recipe and is hashed into the cache key): a Docker 20.10
// overlay2 data root holding hb-base:1 (an imported ~300,000-file, ~1.3 GB /usr-like tree) and hb-app-01:1 ..
// hb-app-20:1 (each FROM it, one RUN deleting a different /usr/share/<pkg> dir and adding /app-k), built once by
// a private engine and cached in /var/cache/layerscope/bench/host-<key>.dataroot.tar. Every run unpacks it into a
// fresh temp dir (/tmp/lsbench-host-*) and deletes that at the end. Nothing is written into the data root.
//
// Measured (warm cache; each command a fresh process; runs interleaved round-robin so that load drifts hit all
// commands alike; wall from fork to exit, CPU and peak RSS from /usr/bin/time's wait4 rusage):
//   - find ROOT/overlay2 -printf '%s\n' (whole host), find <the selected images' overlay2/<cache-id>/diff> likewise
//   - layerscope report ROOT --format json (whole host), and with --image for 1, 5 and 20 app images: wall, ratio
//     to find over the same dirs, peak RSS, RSS per unique entry (entries = `find DIR | wc -l` summed over the
//     unique layer dirs), also net of the fixed cost (peak RSS of `report demo/demo.tar`, a tiny source)
//   - scaling: report time for 5 and 20 images over the same base / time for 1 image
//   - TUI in tmux (140x40): start -> image list on screen, start -> every image's figures filled in, and keypress
//     latency (Down/Up every ~100 ms while figures load; an end-to-end upper bound including tmux polling)
//   - verify ROOT --image hb-app-01:1 --no-mount vs sha256sum over the same layers' files
// Without root, dockerd or busybox it says why (loudly) and exits 0, so that the other bench cases still run.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  APPS,
  BASE_TAG,
  CACHE_DIR,
  TAG_RE,
  appTag,
  buildFixture,
  cacheFiles,
  cacheKey,
  children,
  cleanupDir,
  makeTempDir,
  restoreFixture,
  stopEngine,
  sweepStale,
  unavailableReason,
} from './lib/host-fixture.mjs';

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TINY = path.join(HERE, 'demo/demo.tar');
const TIME = '/usr/bin/time';
const TMUX = ['/usr/bin/tmux', '/usr/local/bin/tmux'].find((p) => fs.existsSync(p)) ?? null;
const TUI_COLS = 140;
const TUI_ROWS = 40;
const POLL_MS = 20; // screen polling while waiting for the list and the figures
const KEY_POLL_MS = 5; // screen polling while waiting for a keypress to show
const KEY_EVERY_MS = 100;
const KEY_TIMEOUT_MS = 20_000;

// ------------------------------------------------------------------------------------------------------------
// arguments
// ------------------------------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
const flag = (n) => argv.includes(n);
const opt = (n, d) => {
  const i = argv.indexOf(n);
  if (i < 0) return d;
  if (i + 1 >= argv.length) usage(`${n} needs a value`);
  return argv[i + 1];
};
function usage(msg) {
  process.stderr.write(`bench/host.mjs: ${msg}\n(see the comment at the top of bench/host.mjs for the flags)\n`);
  process.exit(2);
}
const KNOWN = new Set(['--repo', '--runs', '--tui-runs', '--tui-timeout', '--keys', '--json', '--no-tui', '--verify', '--no-check', '--rebuild', '--build-only', '--keep']);
for (let i = 0; i < argv.length; i++) {
  if (!KNOWN.has(argv[i])) usage(`unknown argument ${argv[i]}`);
  if (['--repo', '--runs', '--tui-runs', '--tui-timeout', '--keys', '--json'].includes(argv[i])) i++;
}
const posInt = (n, v) => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 1) usage(`${n} wants a positive integer, not ${v}`);
  return x;
};
const RUNS = posInt('--runs', opt('--runs', process.env.LAYERSCOPE_BENCH_RUNS || '3'));
const TUI_RUNS = posInt('--tui-runs', opt('--tui-runs', String(RUNS)));
const TUI_TIMEOUT_S = posInt('--tui-timeout', opt('--tui-timeout', '300'));
const KEYS = posInt('--keys', opt('--keys', '30'));
const JSON_OUT = opt('--json', null);
/** The checkout whose CLI is measured (its bin/layerscope.js and built dist/): this one unless --repo says. */
const REPO = path.resolve(opt('--repo', HERE));
const BIN = path.join(REPO, 'bin/layerscope.js');

// ------------------------------------------------------------------------------------------------------------
// logging
// ------------------------------------------------------------------------------------------------------------
const T0 = Date.now();
let interrupted = false; // a signal arrived: start nothing new; the handler cleans up and exits
const LOAD_START = os.loadavg();
const secs = (ms) => (ms / 1000).toFixed(1) + ' s';
const log = (m) => process.stderr.write(`[host ${secs(Date.now() - T0).padStart(7)}] ${m}\n`);
const loud = (m) => {
  if (interrupted) return;
  const bar = '!'.repeat(100);
  process.stdout.write(`\n${bar}\n!!! ${m.split('\n').join('\n!!! ')}\n${bar}\n`);
  process.stderr.write(`[host ${secs(Date.now() - T0).padStart(7)}] !!! ${m.split('\n')[0]} (more on stdout)\n`);
};
const phases = {};
async function phase(name, fn) {
  const t = Date.now();
  log(`${name}...`);
  try {
    const r = await fn();
    if (interrupted) throw new Error('interrupted');
    return r;
  } finally {
    phases[name] = +((Date.now() - t) / 1000).toFixed(1);
    log(`${name}: ${secs(Date.now() - t)}${interrupted ? ' (interrupted)' : ''}`);
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// ------------------------------------------------------------------------------------------------------------
// cleanup on every path
// ------------------------------------------------------------------------------------------------------------
let tmpDir = null;
let buildDir = null;
const buildState = { engine: null };
let tmuxSock = null;
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    for (const c of children) try { c.kill('SIGTERM'); } catch {}
    if (tmuxSock) spawnSync(TMUX, ['-S', tmuxSock, 'kill-server'], { stdio: 'ignore' });
    if (buildState.engine) await stopEngine(buildState.engine, log);
    if (buildDir) await cleanupDir(buildDir, log);
    if (tmpDir && !flag('--keep')) {
      const t = Date.now();
      await cleanupDir(tmpDir, log);
      log(`removed ${tmpDir} in ${secs(Date.now() - t)}`);
    }
  })();
  return cleaning;
}
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: cleaning up`);
    setTimeout(() => process.exit(code), 120_000).unref();
    cleanup().finally(() => process.exit(code));
  });
}

// ------------------------------------------------------------------------------------------------------------
// running and timing commands
// ------------------------------------------------------------------------------------------------------------
/** The CLI as the binary runs itself: node, the V8 flags of bin/layerscope.js's shebang, the script. */
function cliPrefix() {
  const first = fs.readFileSync(BIN, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  const flags = m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
  return [process.execPath, ...flags, BIN];
}
const CLI = cliPrefix();
const COMMIT = spawnSync('git', ['-C', REPO, 'rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).stdout?.toString().trim() || null;
const CLI_ENV = { ...process.env, NODE_ENV: 'production' };
const HAVE_TIME = fs.existsSync(TIME);

/**
 * Run argv once with stdout to /dev/null. Wall: from spawn to exit (hrtime). CPU and peak RSS: wait4 rusage,
 * from GNU time (-f '%e %U %S %M', %M = max RSS in KiB) when /usr/bin/time exists, else not measured (null).
 */
function timed(cmdArgv, { okCodes = [0], env = CLI_ENV } = {}) {
  return new Promise((resolve, reject) => {
    if (interrupted) return reject(new Error('interrupted'));
    const tf = path.join(tmpDir, `time.${process.pid}.out`);
    const full = HAVE_TIME ? [TIME, '-o', tf, '-f', '%e %U %S %M', ...cmdArgv] : cmdArgv;
    const se = [];
    const t = nowMs();
    const child = spawn(full[0], full.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    child.stderr.on('data', (d) => se.length < 1000 && se.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wall = (nowMs() - t) / 1000;
      children.delete(child);
      const stderr = Buffer.concat(se).toString();
      let cpu = null;
      let rssKiB = null;
      if (HAVE_TIME) {
        const lines = fs.readFileSync(tf, 'utf8').trim().split('\n');
        const m = /^([\d.]+) ([\d.]+) ([\d.]+) (\d+)$/.exec(lines.at(-1));
        if (m) {
          cpu = Number(m[2]) + Number(m[3]);
          rssKiB = Number(m[4]);
        }
      }
      if (signal || !okCodes.includes(code)) {
        reject(new Error(`${cmdArgv.join(' ')}: exit ${code ?? signal}\n${stderr.trim().split('\n').slice(-10).join('\n')}`));
        return;
      }
      resolve({ wall, cpu, rssKiB, code });
    });
  });
}

/** Run and collect stdout (untimed helpers). */
function capture(cmd, args, { env, input } = {}) {
  return new Promise((resolve) => {
    if (interrupted) return resolve({ code: 130, stdout: Buffer.alloc(0), stderr: 'interrupted' });
    const child = spawn(cmd, args, { env: env ?? process.env, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    children.add(child);
    const so = [];
    const se = [];
    child.stdout.on('data', (d) => so.push(d));
    child.stderr.on('data', (d) => se.push(d));
    if (input) child.stdin.end(input);
    child.on('error', (e) => se.push(Buffer.from(String(e))));
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout: Buffer.concat(so), stderr: Buffer.concat(se).toString() });
    });
  });
}

/** Count the lines `find DIR` prints (= `find DIR | wc -l`), without keeping them. */
function countEntries(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn('find', [dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let n = 0;
    child.stdout.on('data', (d) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) n++;
    });
    child.on('close', (code) => {
      children.delete(child);
      code === 0 ? resolve(n) : reject(new Error(`find ${dir} failed (exit ${code})`));
    });
  });
}

// ------------------------------------------------------------------------------------------------------------
// reading the data root (our own small reader: the bench must not trust the code it measures)
// ------------------------------------------------------------------------------------------------------------
const HEX64 = /^[0-9a-f]{64}$/;
function chainIds(diffIds) {
  const out = [];
  for (const d of diffIds) out.push(out.length ? 'sha256:' + createHash('sha256').update(`${out.at(-1)} ${d}`).digest('hex') : d);
  return out;
}
function readRoot(root) {
  const store = path.join(root, 'image/overlay2');
  const repos = JSON.parse(fs.readFileSync(path.join(store, 'repositories.json'), 'utf8')).Repositories ?? {};
  const byTag = new Map();
  for (const refs of Object.values(repos)) for (const [ref, id] of Object.entries(refs)) byTag.set(ref, id);
  const images = new Map(); // id -> { id, tags, diffIds, dirs }
  for (const hex of fs.readdirSync(path.join(store, 'imagedb/content/sha256'))) {
    if (!HEX64.test(hex)) continue;
    const cfg = JSON.parse(fs.readFileSync(path.join(store, 'imagedb/content/sha256', hex), 'utf8'));
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    const dirs = chainIds(diffIds).map((c) => {
      const cacheId = fs.readFileSync(path.join(store, 'layerdb/sha256', c.slice(7), 'cache-id'), 'utf8').trim();
      if (!HEX64.test(cacheId)) throw new Error(`cache-id of ${c} is not 64 hex digits`);
      return path.join(root, 'overlay2', cacheId, 'diff');
    });
    images.set('sha256:' + hex, { id: 'sha256:' + hex, tags: [], diffIds, dirs });
  }
  for (const [ref, id] of byTag) images.get(id)?.tags.push(ref);
  return { byTag, images };
}

// ------------------------------------------------------------------------------------------------------------
// the TUI through tmux
// ------------------------------------------------------------------------------------------------------------
/**
 * What the picker shows of our images. THE ONE PLACE THAT KNOWS THE TUI'S SCREEN; change it when the TUI does.
 * Today (src/tui/rows.ts imageRow/pickerLines, src/tui/state.ts imageStats, src/tui/session.ts), the picker has one
 * row per tagged image, "<▶ if selected><tag padded to 30> <short id> <Size> <Hidden> <Layers>"; Size and Hidden
 * show '…' until the background analysis of that image has dispatched its figures (Size may show layerdb's
 * stored size before that; Hidden never does). So:
 *   listed   = how many of the expected tags are on screen       (the image list is up when all are)
 *   pending  = how many of those rows still hold the '…' marker   (every figure is filled in when 0)
 *   cursor   = the tag on the row holding the cursor mark '▶'     (what a Down/Up key moves)
 */
const FIGURE_PENDING_MARK = '…';
const CURSOR_MARK = '▶';
function readPicker(screen, expectedTags) {
  const want = new Set(expectedTags);
  const seen = new Set();
  let pending = 0;
  let cursor = null;
  for (const line of screen.split('\n')) {
    const tags = (line.match(TAG_RE) ?? []).filter((t) => want.has(t));
    if (tags.length !== 1) continue; // an image row names one image (headers and footers name none)
    if (seen.has(tags[0])) continue;
    seen.add(tags[0]);
    if (line.includes(FIGURE_PENDING_MARK)) pending++;
    if (line.includes(CURSOR_MARK)) cursor = tags[0];
  }
  return { listed: seen.size, pending, cursor, complete: seen.size === want.size, filled: seen.size === want.size && pending === 0 };
}

const TMUX_ENV = { ...process.env };
delete TMUX_ENV.TMUX; // a bench started inside tmux still gets its own server (-S)
delete TMUX_ENV.TMUX_PANE;
function tmux(...args) {
  return capture(TMUX, ['-S', tmuxSock, ...args], { env: TMUX_ENV });
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return null;
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
}

/** One TUI run: start, list, figures, keypresses. Returns figures (null where not reached, with a reason). */
async function tuiRun(root, tags, runIndex) {
  tmuxSock = path.join(tmpDir, `tmux-${runIndex}.sock`);
  const hold = await tmux('-f', '/dev/null', '-u', 'new-session', '-d', '-s', 'hb', '-x', String(TUI_COLS), '-y', String(TUI_ROWS), 'exec sleep 100000');
  if (hold.code !== 0) throw new Error(`tmux new-session failed: ${hold.stderr}`);
  await tmux('set-option', '-g', 'remain-on-exit', 'on');
  await tmux('set-option', '-g', 'status', 'off');
  const size = (await tmux('display-message', '-p', '-t', 'hb', '#{pane_width}x#{pane_height}')).stdout.toString().trim();
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `exec env NODE_ENV=production LC_ALL=C.UTF-8 TERM=tmux-256color ${[...CLI, root].map(q).join(' ')}`;
  const res = { run: runIndex + 1, pane: size, listSeconds: null, filledSeconds: null, filledAtTimeout: null, keys: [], peakRssKiB: null, notes: [] };

  let last = { text: '', at: 0, pick: readPicker('', tags), dead: false };
  let stop = false;
  let fast = false;
  const waiters = new Set();
  const poller = (async () => {
    while (!stop && !interrupted) {
      const r = await tmux('capture-pane', '-p', '-t', 'hb', ';', 'display-message', '-p', '-t', 'hb', '#{pane_dead} #{pane_dead_status}');
      const at = nowMs();
      const out = r.stdout.toString().replace(/\n$/, '');
      const cut = out.lastIndexOf('\n');
      const text = out.slice(0, cut);
      const dead = out.slice(cut + 1).startsWith('1');
      last = { text, at, pick: readPicker(text, tags), dead, status: out.slice(cut + 1) };
      for (const w of [...waiters]) w(last);
      if (dead) break;
      await sleep(fast ? KEY_POLL_MS : POLL_MS);
    }
  })();
  const until = (pred, timeoutMs) =>
    new Promise((resolve) => {
      if (pred(last) || last.dead) return resolve(last);
      const w = (s) => {
        if (pred(s) || s.dead) {
          waiters.delete(w);
          clearTimeout(timer);
          resolve(s);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        resolve(null);
      }, timeoutMs);
      waiters.add(w);
    });

  const t0 = nowMs();
  const sp = await tmux('respawn-pane', '-k', '-t', 'hb', cmd);
  if (sp.code !== 0) throw new Error(`tmux respawn-pane failed: ${sp.stderr}`);
  const pid = Number((await tmux('display-message', '-p', '-t', 'hb', '#{pane_pid}')).stdout.toString().trim());
  const hwm = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  };
  const deadline = t0 + TUI_TIMEOUT_S * 1000;
  const listed = await until((s) => s.pick.complete, deadline - nowMs());
  if (listed && !listed.dead) res.listSeconds = (listed.at - t0) / 1000;
  else res.notes.push(listed?.dead ? `the TUI exited (${listed.status}) before listing the images:\n${listed.text}` : `the image list did not appear within ${TUI_TIMEOUT_S} s`);

  // Keypresses while the figures load: Down, turning to Up at the end of the list and back at the top. The
  // next key goes KEY_EVERY_MS after the previous one was sent, or once that one showed, whichever is later.
  if (res.listSeconds !== null) {
    const order = [...tags].sort(); // the picker lists tagged images by name
    let pos = order.indexOf(last.pick.cursor);
    if (pos < 0) res.notes.push('no cursor mark on the image list: keypresses not measured');
    let dir = 'Down';
    let nextAt = nowMs();
    fast = true;
    for (let i = 0; pos >= 0 && i < KEYS && nowMs() < deadline; i++) {
      if (nowMs() < nextAt) await sleep(nextAt - nowMs());
      if (pos === order.length - 1) dir = 'Up';
      else if (pos === 0) dir = 'Down';
      pos += dir === 'Down' ? 1 : -1;
      const target = order[pos];
      const loading = !last.pick.filled;
      const ts = nowMs();
      nextAt = ts + KEY_EVERY_MS;
      await tmux('send-keys', '-t', 'hb', dir);
      const moved = await until((s) => s.pick.cursor === target, KEY_TIMEOUT_MS);
      if (!moved || moved.dead || moved.pick.cursor !== target) {
        res.keys.push({ key: dir, ms: null, loading });
        res.notes.push(`key ${i + 1} (${dir}): the cursor did not reach ${target} within ${KEY_TIMEOUT_MS / 1000} s; keypresses stopped there`);
        break;
      }
      res.keys.push({ key: dir, ms: moved.at - ts, loading });
    }
    fast = false;
  }
  if (res.listSeconds !== null) {
    const filled = await until((s) => s.pick.filled, deadline - nowMs());
    if (filled && !filled.dead) res.filledSeconds = (filled.at - t0) / 1000;
    else {
      res.filledAtTimeout = `${last.pick.listed - last.pick.pending} of ${tags.length}`;
      res.notes.push(filled?.dead ? `the TUI exited (${filled.status}) before filling the figures` : `figures not all filled in within ${TUI_TIMEOUT_S} s (${res.filledAtTimeout} images had them)`);
    }
  }
  res.peakRssKiB = hwm();
  res.lastScreen = last.text;
  stop = true;
  await tmux('send-keys', '-t', 'hb', 'q');
  await until((s) => s.dead, 5000);
  await poller;
  await tmux('kill-server');
  tmuxSock = null;
  return res;
}

// ------------------------------------------------------------------------------------------------------------
// main
// ------------------------------------------------------------------------------------------------------------
const stat = (xs) => {
  const s = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (!s.length) return { best: null, median: null };
  return { best: s[0], median: s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 };
};
const fx = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));
const MiB = (kib) => (kib === null ? null : kib / 1024);

async function main() {
  const why = unavailableReason();
  if (why) {
    loud(`bench/host.mjs SKIPPED: ${why}.\nThis case needs root and Docker 20.10 (bash test/setup.sh); nothing was measured.`);
    if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ schema: 'layerscope.bench.host/v1', skipped: why }, null, 2) + '\n');
    return 0;
  }
  if (!fs.existsSync(path.join(REPO, 'dist/cli/main.js'))) {
    loud(`bench/host.mjs: ${REPO}/dist is not built: run \`npm run build\` there (npm run bench does)`);
    return 1;
  }
  await sweepStale(log);

  // 1. the fixture
  const key = cacheKey();
  const files = cacheFiles(key);
  let meta = null;
  if (!flag('--rebuild') && fs.existsSync(files.tar) && fs.existsSync(files.meta)) {
    meta = JSON.parse(fs.readFileSync(files.meta, 'utf8'));
    log(`fixture: ${files.tar} (built ${meta.builtAt} in ${meta.buildSeconds} s)`);
  } else {
    log(`fixture: building (${flag('--rebuild') ? '--rebuild' : `nothing cached for recipe ${key} in ${CACHE_DIR}`}); about 5-10 minutes on 2 cores`);
    buildDir = makeTempDir();
    meta = await phase('build fixture', () => buildFixture(buildDir, key, log, buildState));
    await cleanupDir(buildDir, log);
    buildDir = null;
  }
  if (flag('--build-only')) {
    console.log(`fixture ready: ${files.tar} (${(meta.tarBytes / 1e9).toFixed(2)} GB), ${files.meta}`);
    return 0;
  }

  // 2. a fresh copy of the data root
  tmpDir = makeTempDir();
  const restored = await phase('restore data root', () => restoreFixture(files.tar, tmpDir, { entries: meta.base.entries, log }));
  const root = restored.root;
  log(`data root: ${root} (${restored.fs})`);
  if (flag('--keep')) log(`--keep: the data root stays in ${root} (until the next run sweeps it; or: umount ${path.dirname(root)} && rm -rf ${tmpDir})`);

  // 3. layer dirs and entries, read from the data root itself (checked against docker's answers at build time)
  const apps = Array.from({ length: APPS }, (_, i) => appTag(i + 1));
  const allTags = [BASE_TAG, ...apps];
  const { byTag, images } = readRoot(root);
  const problems = [];
  for (const m of meta.images) {
    const img = images.get(byTag.get(m.tag));
    if (!img) problems.push(`${m.tag}: not in repositories.json/imagedb`);
    else if (img.id !== m.id || JSON.stringify(img.diffIds) !== JSON.stringify(m.layers)) problems.push(`${m.tag}: image id or layers differ from docker's`);
    else if (m.upperDir && m.upperDir.replace(/^.*\/overlay2\//, '') !== img.dirs.at(-1).replace(/^.*\/overlay2\//, '')) problems.push(`${m.tag}: top layer dir differs from docker's`);
  }
  const selections = [
    { name: '1 image', tags: apps.slice(0, 1) },
    { name: '5 images', tags: apps.slice(0, 5) },
    { name: `${APPS} images`, tags: apps },
  ];
  const dirsOf = (tags) => [...new Set(tags.flatMap((t) => images.get(byTag.get(t)).dirs))];
  for (const s of selections) s.dirs = dirsOf(s.tags);
  const hostDirs = [...new Set([...images.values()].flatMap((i) => i.dirs))];
  const entries = new Map();
  await phase('count entries', async () => {
    for (const d of hostDirs) entries.set(d, await countEntries(d));
  });
  const sumEntries = (dirs) => dirs.reduce((a, d) => a + entries.get(d), 0);
  const hostEntries = sumEntries(hostDirs);
  log(`host: ${images.size} images, ${hostDirs.length} unique layer dirs, ${hostEntries} entries; selections: ${selections.map((s) => `${s.name}: ${s.dirs.length} dirs, ${sumEntries(s.dirs)} entries`).join('; ')}`);

  // 4. warm the cache (metadata of every file; report reads no file bodies) and check the report once
  await phase('warm cache', async () => {
    await timed(['find', root, '-printf', '%s %m %U %T@ %l\n'], { env: process.env });
  });
  let check = null;
  if (!flag('--no-check')) {
    check = await phase('check report', async () => {
      const r = await capture(CLI[0], [...CLI.slice(1), 'report', root, '--format', 'json'], { env: CLI_ENV });
      if (r.code !== 0 && r.code !== 4) return { ok: false, errors: [`report exited ${r.code}: ${r.stderr.trim().slice(0, 500)}`] };
      const errors = [];
      let j;
      try {
        j = JSON.parse(r.stdout.toString());
      } catch (err) {
        return { ok: false, errors: [`report output is not JSON: ${err.message}`] };
      }
      const byT = new Map();
      for (const im of j.images ?? []) for (const t of im.tags ?? []) byT.set(t, im);
      const base = byT.get(BASE_TAG);
      if (!base) errors.push(`${BASE_TAG} missing`);
      else {
        const want = entries.get(images.get(byTag.get(BASE_TAG)).dirs[0]) - 1; // find counts the layer's root dir
        if (base.layers?.[0]?.entries !== want) errors.push(`${BASE_TAG} layer 0: ${base.layers?.[0]?.entries} entries, find says ${want}`);
      }
      for (const [i, t] of apps.entries()) {
        const im = byT.get(t);
        if (!im) {
          errors.push(`${t} missing`);
          continue;
        }
        if (im.layers?.length !== 2) errors.push(`${t}: ${im.layers?.length} layers, want 2`);
        else if (!(im.layers[1].deleted >= 1)) errors.push(`${t}: no whiteout in layer 1 (deleted ${meta.apps[i].deleted})`);
        if (!(im.hiddenBytes > 0)) errors.push(`${t}: hiddenBytes ${im.hiddenBytes}, want > 0`);
      }
      const errs = (j.problems ?? []).filter((p) => p.severity === 'error');
      if (errs.length) errors.push(`${errs.length} error problems, e.g. ${errs[0].code}: ${errs[0].message}`);
      return { ok: errors.length === 0, exit: r.code, images: (j.images ?? []).length, errors };
    });
    if (!check.ok) loud(`CHECK FAILED: layerscope's report disagrees with the fixture; its timings below may not mean what they seem:\n${check.errors.join('\n')}`);
    else log(`check: report lists ${check.images} images; base layer entries and every app's whiteout and hidden bytes as built`);
  }
  if (problems.length) loud(`the data root disagrees with docker's answers at build time:\n${problems.join('\n')}`);

  // 5. timed CLI runs, round-robin
  const reportArgs = (tags) => ['report', root, ...tags.flatMap((t) => ['--image', t]), '--format', 'json'];
  const cases = [
    { id: 'find-host', label: 'find ROOT/overlay2', argv: ['find', path.join(root, 'overlay2'), '-printf', '%s\n'], env: process.env },
    { id: 'report-host', label: 'report ROOT (whole host)', argv: [...CLI, ...reportArgs([])], ok: [0, 4], baseline: 'find-host', entries: hostEntries, dirs: hostDirs.length },
  ];
  for (const s of selections) {
    const n = s.tags.length;
    cases.push({ id: `find-${n}`, label: `find diff dirs of ${s.name}`, argv: ['find', ...s.dirs, '-printf', '%s\n'], env: process.env });
    cases.push({ id: `report-${n}`, label: `report --image x${n}`, argv: [...CLI, ...reportArgs(s.tags)], ok: [0, 4], baseline: `find-${n}`, entries: sumEntries(s.dirs), dirs: s.dirs.length });
  }
  cases.push({ id: 'report-tiny', label: 'report demo/demo.tar (fixed cost)', argv: [...CLI, 'report', TINY, '--format', 'json'], ok: [0, 4] });
  for (const c of cases) c.runs = [];
  await phase(`timed runs (${RUNS} x ${cases.length} commands)`, async () => {
    for (let r = 0; r < RUNS; r++) {
      for (const c of cases) {
        try {
          const x = await timed(c.argv, { okCodes: c.ok ?? [0], env: c.env ?? CLI_ENV });
          c.runs.push(x);
          log(`run ${r + 1}/${RUNS} ${c.label}: ${x.wall.toFixed(2)} s wall, ${fx(x.cpu)} s cpu, ${fx(MiB(x.rssKiB), 0)} MiB`);
        } catch (err) {
          if (interrupted) throw err;
          c.error = String(err.message || err);
          log(`run ${r + 1}/${RUNS} ${c.label}: FAILED ${c.error}`);
        }
      }
    }
  });
  for (const c of cases) {
    c.wall = stat(c.runs.map((x) => x.wall));
    c.cpu = stat(c.runs.map((x) => x.cpu));
    c.rss = stat(c.runs.map((x) => x.rssKiB)); // KiB
  }
  const byId = Object.fromEntries(cases.map((c) => [c.id, c]));
  const fixedKiB = byId['report-tiny'].rss.median;

  // 6. TUI
  const tui = { runs: [], skipped: null };
  if (flag('--no-tui')) tui.skipped = '--no-tui';
  else if (!TMUX) tui.skipped = 'no tmux (bash test/setup.sh installs it)';
  else {
    await phase(`TUI (${TUI_RUNS} runs)`, async () => {
      for (let r = 0; r < TUI_RUNS; r++) {
        const x = await tuiRun(root, allTags, r);
        tui.runs.push(x);
        const k = x.keys.filter((y) => y.ms !== null).map((y) => y.ms);
        log(`TUI run ${r + 1}: pane ${x.pane}, list ${fx(x.listSeconds)} s, figures ${x.filledSeconds !== null ? fx(x.filledSeconds) + ' s' : 'NOT filled (' + x.filledAtTimeout + ')'}, keys p50 ${fx(pct(k, 0.5), 0)} ms p95 ${fx(pct(k, 0.95), 0)} ms (n=${k.length}), peak RSS ${fx(MiB(x.peakRssKiB), 0)} MiB`);
        for (const n of x.notes) log(`TUI run ${r + 1}: ${n}`);
        if (x.listSeconds === null) break;
      }
    });
  }

  // 6b. The main thread while the host loads, inside the process (no tmux): what the key latencies above are made
  // of, our part; and the model's resident bytes per unique entry.
  const lag = { runs: [] };
  await phase('main-thread gaps while the host loads (in-process)', async () => {
    for (let r = 0; r < RUNS; r++) {
      const out = await capture(process.execPath, [path.join(HERE, 'bench/lib/load-lag.mjs'), REPO, root], { env: CLI_ENV });
      try {
        lag.runs.push(JSON.parse(out.stdout.toString().trim().split('\n').pop()));
      } catch {
        lag.runs.push({ skipped: `no result: ${out.stderr.toString().slice(0, 200)}` });
      }
    }
  });

  // 7. verify vs sha256sum (one image: its 2 layers)
  const ver = { skipped: null };
  if (!flag('--verify')) ver.skipped = 'opt-in: --verify (today a run takes about a minute)';
  else {
    await phase(`verify vs sha256sum (${RUNS} runs each)`, async () => {
      const sel = selections[0];
      let bytes = 0;
      let filesN = 0;
      const list = path.join(tmpDir, 'verify-files.list');
      const out = fs.openSync(list, 'w');
      for (const d of sel.dirs) {
        const r = await capture('find', [d, '-type', 'f', '-printf', '%s %p\\0']);
        for (const rec of r.stdout.toString('latin1').split('\0')) {
          if (!rec) continue;
          const sp = rec.indexOf(' ');
          bytes += Number(rec.slice(0, sp));
          filesN++;
          fs.writeSync(out, Buffer.from(rec.slice(sp + 1) + '\0', 'latin1'));
        }
      }
      fs.closeSync(out);
      Object.assign(ver, { image: sel.tags[0], files: filesN, bytes, verify: [], sha: [] });
      const vArgv = [...CLI, 'verify', root, '--image', sel.tags[0], '--no-mount'];
      const sArgv = ['sh', '-c', `xargs -0 sha256sum < '${list}'`];
      await timed(sArgv, { env: process.env }); // warm the bodies into the page cache
      for (let r = 0; r < RUNS; r++) {
        try {
          ver.sha.push(await timed(sArgv, { env: process.env }));
          ver.verify.push(await timed(vArgv));
          log(`run ${r + 1}/${RUNS}: sha256sum ${ver.sha.at(-1).wall.toFixed(2)} s, verify ${ver.verify.at(-1).wall.toFixed(2)} s`);
        } catch (err) {
          if (interrupted) throw err;
          ver.error = String(err.message || err);
          log(`verify/sha256sum FAILED: ${ver.error}`);
          break;
        }
      }
    });
  }

  // 8. output
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const L = [];
  const p = (s = '') => L.push(s);
  p(`host: Docker ${meta.engine.version} ${meta.engine.driver} data root, ${images.size} images (${BASE_TAG} + ${APPS} apps FROM it), ${hostDirs.length} unique layer dirs, ${hostEntries.toLocaleString('en')} entries`);
  p(`      base: ${meta.base.files.toLocaleString('en')} files (${(meta.base.fileBytes / 1e9).toFixed(2)} GB), ${meta.base.dirs.toLocaleString('en')} dirs, ${meta.base.symlinks.toLocaleString('en')} symlinks, ${meta.base.hardlinks.toLocaleString('en')} hardlinks; each app: RUN rm -rf /usr/share/<pkg> && echo k > /app-k`);
  p(`fixture: ${files.tar}`);
  p(`CLI: ${CLI.map((a) => (a === process.execPath ? 'node' : a === BIN ? path.relative(REPO, BIN) : a)).join(' ')} (NODE_ENV=production) in ${REPO}${COMMIT ? ` at ${COMMIT.slice(0, 12)}` : ''}; ${RUNS} runs each, interleaved; warm cache`);
  p(`machine: ${os.cpus().length} CPUs, load average at start ${LOAD_START.map((x) => x.toFixed(2)).join(' ')}, now ${load}; wall times scale with load`);
  if (check) p(`check: ${check.ok ? 'report output agrees with the fixture' : 'FAILED: ' + check.errors.join('; ')}`);
  p();
  const hdr = ['command', 'best s', 'median s', 'cpu s', 'find s', 'ratio', 'ratio med', 'cpu ratio', 'RSS MiB', 'entries', 'B/entry', 'net B/entry'];
  const w = [36, 7, 8, 7, 7, 7, 9, 9, 8, 10, 8, 11];
  const row = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join(' ');
  p(row(hdr));
  for (const c of cases) {
    const b = c.baseline ? byId[c.baseline] : null;
    const rssB = c.rss.median === null ? null : c.rss.median * 1024;
    const perEntry = c.entries && rssB !== null ? rssB / c.entries : null;
    const net = c.entries && rssB !== null && fixedKiB !== null ? (rssB - fixedKiB * 1024) / c.entries : null;
    c.ratio = b && b.wall.best ? c.wall.best / b.wall.best : null;
    c.ratioMedian = b && b.wall.median ? c.wall.median / b.wall.median : null;
    c.cpuRatio = b && b.cpu.best && c.cpu.best !== null ? c.cpu.best / b.cpu.best : null;
    c.rssPerEntry = perEntry;
    c.rssNetPerEntry = net;
    p(row([
      c.label + (c.error ? ' (FAILED)' : ''),
      fx(c.wall.best), fx(c.wall.median), fx(c.cpu.best),
      b ? fx(b.wall.best) : '',
      c.ratio !== null ? fx(c.ratio, 1) + 'x' : '',
      c.ratioMedian !== null ? fx(c.ratioMedian, 1) + 'x' : '',
      c.cpuRatio !== null ? fx(c.cpuRatio, 1) + 'x' : '',
      fx(MiB(c.rss.median), 0),
      c.entries ? c.entries.toLocaleString('en') : '',
      perEntry !== null ? fx(perEntry, 0) : '',
      net !== null ? fx(net, 0) : '',
    ]));
  }
  p(`  ratio = report best / find best over the same dirs (whole host: find ROOT/overlay2); ratio med = the same with medians;`);
  p(`  cpu ratio = best user+sys / find's (steadier than wall on a shared machine; a parallel reader may use more cpu than wall)`);
  p(`  RSS = peak RSS (wait4 maxrss), median of runs; B/entry = RSS / entries; net = (RSS - RSS of report demo/demo.tar) / entries`);
  p(`  entries = find DIR | wc -l, summed over the unique layer dirs (overlay2/<cache-id>/diff) of what is reported`);
  for (const c of cases) if (c.error) p(`  ${c.label} FAILED: ${c.error.split('\n')[0]}`);
  p();
  const r1 = byId['report-1'];
  const scaling = {};
  const scaleParts = [];
  for (const s of selections) {
    const c = byId[`report-${s.tags.length}`];
    scaling[s.tags.length] = { best: c.wall.best && r1.wall.best ? c.wall.best / r1.wall.best : null, median: c.wall.median && r1.wall.median ? c.wall.median / r1.wall.median : null };
    scaleParts.push(`x${s.tags.length}: ${fx(scaling[s.tags.length].best)} (median ${fx(scaling[s.tags.length].median)})`);
  }
  p(`scaling, report --image for N app images over one shared base, time / time for 1 image (best):  ${scaleParts.join('   ')}`);
  p(`  (selections made with repeated --image on the whole data root; flat = the shared base is read once)`);
  p();
  if (tui.skipped) p(`TUI: not measured (${tui.skipped})`);
  else {
    const okRuns = tui.runs;
    const list = stat(okRuns.map((x) => x.listSeconds));
    const filled = stat(okRuns.map((x) => x.filledSeconds));
    const keysLoading = okRuns.flatMap((x) => x.keys.filter((k) => k.loading && k.ms !== null).map((k) => k.ms));
    const keysAll = okRuns.flatMap((x) => x.keys.filter((k) => k.ms !== null).map((k) => k.ms));
    const lost = okRuns.flatMap((x) => x.keys.filter((k) => k.ms === null)).length;
    Object.assign(tui, { list, filled, keys: { loading: { n: keysLoading.length, p50: pct(keysLoading, 0.5), p95: pct(keysLoading, 0.95), max: pct(keysLoading, 1) }, all: { n: keysAll.length, p50: pct(keysAll, 0.5), p95: pct(keysAll, 0.95) }, noResponse: lost } });
    p(`TUI (layerscope ROOT in tmux ${TUI_COLS}x${TUI_ROWS}, pane ${okRuns[0]?.pane ?? '?'}; ${okRuns.length} runs; screen polled every ${POLL_MS} ms):`);
    p(`  start -> image list on screen     best ${fx(list.best)} s   median ${fx(list.median)} s${list.best === null ? '   NOT MEASURED: ' + (okRuns[0]?.notes[0] ?? '') : ''}`);
    const notFilled = okRuns.filter((x) => x.filledSeconds === null);
    p(`  start -> every image's figures    best ${fx(filled.best)} s   median ${fx(filled.median)} s${notFilled.length ? `   (${notFilled.length} of ${okRuns.length} runs NOT filled within ${TUI_TIMEOUT_S} s: ${notFilled.map((x) => x.filledAtTimeout ?? '?').join(', ')} images had figures)` : ''}`);
    p(`  keypress -> cursor moved, while figures load: p50 ${fx(tui.keys.loading.p50, 0)} ms  p95 ${fx(tui.keys.loading.p95, 0)} ms  max ${fx(tui.keys.loading.max, 0)} ms (n=${keysLoading.length})`);
    p(`  keypress -> cursor moved, all keys:           p50 ${fx(tui.keys.all.p50, 0)} ms  p95 ${fx(tui.keys.all.p95, 0)} ms (n=${keysAll.length})${lost ? `; ${lost} key(s) got NO response within ${KEY_TIMEOUT_MS / 1000} s` : ''}`);
    p(`  (end-to-end upper bounds: tmux send-keys, the app, tmux, and capture-pane polling every ${KEY_POLL_MS} ms; Down/Up, a key every`);
    p(`   ${KEY_EVERY_MS} ms or when the previous one showed, whichever is later; "while figures load" = some '…' was on screen when sent)`);
    const hw = stat(okRuns.map((x) => x.peakRssKiB));
    p(`  TUI peak RSS (VmHWM at the end): median ${fx(MiB(hw.median), 0)} MiB`);
    p(`  detection: picker rows matching ${TAG_RE.source}; figures pending while a row shows '…' (readPicker in bench/host.mjs)`);
  }
  p();
  const lagOk = lag.runs.filter((x) => !x.skipped);
  if (!lagOk.length) p(`main thread while the host loads: not measured (${lag.runs[0]?.skipped ?? 'no run'})`);
  else {
    const med = (f) => stat(lagOk.map(f)).median;
    p(`main thread while the host loads (in-process, every image asked for at once, layers stacked in slices; ${lagOk.length} runs, medians):`);
    p(`  loaded in ${fx(med((x) => x.loadMs) / 1000)} s; gaps between ticks of a 5 ms timer: p50 ${fx(med((x) => x.gaps.p50), 1)} ms  p95 ${fx(med((x) => x.gaps.p95), 1)} ms  p99 ${fx(med((x) => x.gaps.p99), 1)} ms  max ${fx(med((x) => x.gaps.max), 1)} ms`);
    const m = lagOk[0].model;
    p(`  resident model: ${fx(m.bytes / 2 ** 20, 1)} MiB for ${m.paths.toLocaleString('en')} paths and ${m.rows.toLocaleString('en')} rows = ${fx(m.bytes / hostEntries, 0)} B per unique entry (paths ${fx(m.pathsBytes / hostEntries, 0)}, layer tables ${fx(m.tableBytes / hostEntries, 0)}, stacking ${fx(m.storeBytes / hostEntries, 0)})`);
    p(`  (peak RSS above adds Node itself, the walk workers' heaps and buffers in flight: fixed costs, not per entry)`);
  }
  p();
  if (ver.skipped) p(`verify: not measured (${ver.skipped})`);
  else if (!ver.verify?.length) p(`verify: not measured (${ver.error ?? 'failed'})`);
  else {
    const v = stat(ver.verify.map((x) => x.wall));
    const s = stat(ver.sha.map((x) => x.wall));
    const vr = stat(ver.verify.map((x) => x.rssKiB));
    Object.assign(ver, { verifyWall: v, shaWall: s, ratio: v.best / s.best, verifyMBps: ver.bytes / 1e6 / v.best, shaMBps: ver.bytes / 1e6 / s.best });
    p(`verify ROOT --image ${ver.image} --no-mount vs sha256sum over its 2 layers' ${ver.files.toLocaleString('en')} files (${(ver.bytes / 1e9).toFixed(2)} GB):`);
    p(`  verify     best ${fx(v.best)} s  median ${fx(v.median)} s  ${fx(ver.verifyMBps, 0)} MB/s  peak RSS ${fx(MiB(vr.median), 0)} MiB`);
    p(`  sha256sum  best ${fx(s.best)} s  median ${fx(s.median)} s  ${fx(ver.shaMBps, 0)} MB/s   (xargs -0 sha256sum, one file list)`);
    p(`  ratio verify / sha256sum: ${fx(ver.ratio, 2)}x (time)${ver.error ? `; FAILED later: ${ver.error.split('\n')[0]}` : ''}`);
  }
  console.log(L.join('\n'));

  if (JSON_OUT) {
    const j = {
      schema: 'layerscope.bench.host/v1',
      at: new Date().toISOString(),
      commit: COMMIT,
      repo: REPO,
      machine: { cpus: os.cpus().length, loadavgStart: LOAD_START, loadavgEnd: os.loadavg(), node: process.version },
      fixture: { tar: files.tar, key, ...meta, images: undefined, imagesFromDocker: meta.images },
      host: { images: images.size, layerDirs: hostDirs.length, entries: hostEntries },
      cli: CLI,
      runs: RUNS,
      check,
      cases: cases.map((c) => ({ id: c.id, label: c.label, argv: c.argv, baseline: c.baseline ?? null, entries: c.entries ?? null, dirs: c.dirs ?? null, wall: c.wall, cpu: c.cpu, rssKiB: c.rss, ratio: c.ratio ?? null, ratioMedian: c.ratioMedian ?? null, cpuRatio: c.cpuRatio ?? null, rssPerEntry: c.rssPerEntry ?? null, rssNetPerEntry: c.rssNetPerEntry ?? null, error: c.error ?? null, all: c.runs })),
      scaling,
      tui: { ...tui, size: `${TUI_COLS}x${TUI_ROWS}`, pollMs: POLL_MS, keyPollMs: KEY_POLL_MS, timeoutSeconds: TUI_TIMEOUT_S },
      verify: ver,
      loadLag: lag,
      phases,
    };
    fs.writeFileSync(JSON_OUT, JSON.stringify(j, null, 2) + '\n');
    log(`JSON written to ${JSON_OUT}`);
  }
  const failed = cases.some((c) => c.error) || (check && !check.ok);
  return failed ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  loud(`bench/host.mjs failed: ${err.stack || err}`);
  code = 1;
} finally {
  if (!interrupted) await cleanup();
}
log(`total ${secs(Date.now() - T0)} (phases: ${Object.entries(phases).map(([k, v]) => `${k} ${v} s`).join(', ')})`);
if (!interrupted) process.exit(code);
