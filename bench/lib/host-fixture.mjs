// The fixture of bench/host.mjs: a real Docker host at real size, built once with a real Docker 20.10 engine
// and cached as a tar of its data root.
//
// THIS FILE IS THE RECIPE: its whole text is hashed into the cache key (with busybox, dockerd, containerd and
// runc), so any edit here rebuilds the fixture on the next run; edits to bench/host.mjs (the measuring) do not.
//
// What it builds, on a private engine (own data root, exec root and socket under a temp dir; overlay2;
// --iptables=false --bridge=none, as /work/shared/docs/engine.md says):
//   hb-base:1      `docker import` of a generated tree shaped like a distro's /usr: ~300,000 regular files in
//                  thousands of dirs (packages: usr/share/<pkg>/..., usr/lib/<pkg>/..., usr/include/<pkg>/,
//                  usr/lib/x86_64-linux-gnu/lib*.so* with .so symlinks, usr/bin, man pages, locales, docs),
//                  mostly 0..16 KiB files and a few large ones (~1.3 GB in all), some symlinks and hardlinks,
//                  and /bin/busybox (Debian's busybox-static) with /bin/sh and a few applets. The tar stream is
//                  written by this process straight into `docker import` (no temp tree, no process per file);
//                  it is fully deterministic (seeded PRNG, fixed mtimes, fixed entry order).
//   hb-app-01:1 .. hb-app-20:1
//                  `DOCKER_BUILDKIT=0 docker build --network=none` of
//                    FROM hb-base:1
//                    RUN rm -rf /usr/share/<pkg k> && echo k > /app-k
//                  (20 different package dirs of 200..5000 files each: real whiteouts, real hidden bytes).
// The engine is then stopped and its data root tarred (xattrs, devices, hardlinks, owners, times) into
// CACHE_DIR/host-<key>.dataroot.tar, with host-<key>.json beside it (what was built, docker's own answers).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive, cleanupDir, makeScratchDir, sweepStale as sweepScratch } from '../../test/support/scratch.mjs';

export const CACHE_DIR = process.env.LAYERSCOPE_BENCH_CACHE || '/var/cache/layerscope/bench';
export const TMP_PREFIX = '/tmp/lsbench-host-';
export const APPS = 20;
export const BASE_TAG = 'hb-base:1';
/** hb-app-01:1 .. hb-app-20:1: short (the TUI's name column is 30 wide) and easy to grep. */
export const appTag = (k) => `hb-app-${String(k).padStart(2, '0')}:1`;
export const TAG_RE = /hb-(?:base|app-\d\d):1/g;

const DOCKERD = '/usr/sbin/dockerd';
const DOCKER = '/usr/bin/docker';
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p)) ?? null;
const TAR_XATTRS = ['--xattrs', '--xattrs-include=*', '--numeric-owner'];

// The generated tree: parameters.
const SEED = 0x1a7e55c0;
const TARGET_FILES = 300_000; // regular files (hardlinks and symlinks come on top)
const TARGET_BYTES = 1.3e9; // regular-file bytes, busybox included
const LARGE_FILES = 48; // the few large ones; they take whatever TARGET_BYTES leaves after the small ones
const MTIME = 1_700_000_000;

const secs = (ms) => (ms / 1000).toFixed(1) + ' s';

// ------------------------------------------------------------------------------------------------------------
// processes
// ------------------------------------------------------------------------------------------------------------
export const children = new Set();

/** Run a command; resolve {code, stdout (Buffer), stderr (string)}. Never rejects on exit code. */
export function run(cmd, args, { env, timeoutMs = 600_000, stdin, cwd } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: env ?? process.env, cwd, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    children.add(child);
    const so = [];
    const se = [];
    child.stdout.on('data', (d) => so.push(d));
    child.stderr.on('data', (d) => se.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => se.push(Buffer.from(String(err))));
    if (stdin) stdin(child.stdin).catch((err) => {
      se.push(Buffer.from(`\n(writing stdin failed: ${err?.message ?? err})`));
      child.kill('SIGKILL');
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({
        code: code ?? 128,
        signal,
        stdout: Buffer.concat(so),
        stderr: Buffer.concat(se).toString('utf8') + (timedOut ? `\n(timed out after ${secs(timeoutMs)})` : ''),
      });
    });
  });
}

export async function must(label, cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${label} failed (exit ${r.code}): ${cmd} ${args.join(' ')}\n${r.stderr.trim().split('\n').slice(-20).join('\n')}`);
  return r;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------------------
// temp dirs: created with an owner.pid; a later run removes those whose owner died (SIGKILL, power loss)
// ------------------------------------------------------------------------------------------------------------
export { alive, cleanupDir };
export const makeTempDir = () => makeScratchDir(TMP_PREFIX);
export const sweepStale = (log) => sweepScratch(TMP_PREFIX, log);

// ------------------------------------------------------------------------------------------------------------
// cache key
// ------------------------------------------------------------------------------------------------------------
function binaryId(p) {
  try {
    const st = fs.statSync(p);
    return `${p}:${st.size}:${Math.round(st.mtimeMs)}`;
  } catch {
    return `${p}:missing`;
  }
}

export function cacheKey() {
  const h = createHash('sha256');
  h.update(fs.readFileSync(fileURLToPath(import.meta.url)));
  if (BUSYBOX) h.update(fs.readFileSync(BUSYBOX));
  for (const b of [DOCKERD, '/usr/bin/containerd', '/usr/sbin/runc', '/usr/bin/runc']) h.update(binaryId(b) + '|');
  return h.digest('hex').slice(0, 20);
}

export const cacheFiles = (key) => ({
  tar: path.join(CACHE_DIR, `host-${key}.dataroot.tar`),
  meta: path.join(CACHE_DIR, `host-${key}.json`),
});

/** Why this machine cannot build or run the fixture (null when it can). */
export function unavailableReason() {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root: a private Docker engine and its data root (0700 files) need root';
  if (!fs.existsSync(DOCKERD) || !fs.existsSync(DOCKER)) return `no ${DOCKERD} or ${DOCKER} (run: bash test/setup.sh)`;
  if (!BUSYBOX) return 'no busybox-static (/bin/busybox) for the base image (run: bash test/setup.sh)';
  return null;
}

// ------------------------------------------------------------------------------------------------------------
// the generated tree
// ------------------------------------------------------------------------------------------------------------
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYL = ['ab', 'ac', 'al', 'ar', 'ba', 'be', 'bi', 'co', 'cu', 'da', 'de', 'di', 'el', 'en', 'ex', 'fa', 'fi', 'fo', 'ga', 'gi', 'gl', 'gt', 'ha', 'he', 'id', 'in', 'jo', 'ka', 'ke', 'la', 'le', 'li', 'lo', 'ma', 'me', 'mi', 'mo', 'na', 'ne', 'no', 'nu', 'ob', 'od', 'on', 'or', 'pa', 'pe', 'pi', 'po', 'py', 'qt', 'ra', 're', 'ri', 'ro', 'sa', 'se', 'si', 'so', 'su', 'ta', 'te', 'ti', 'to', 'tu', 'ul', 'un', 'va', 've', 'vi', 'wa', 'xe', 'xi', 'ya', 'za', 'ze', 'zo'];
const EXT = ['', '.py', '.pm', '.h', '.txt', '.json', '.xml', '.svg', '.png', '.gz', '.conf', '.so', '.js', '.css', '.html', '.mo', '.dat', '.pyc', '.rb', '.tcl'];
const LANGS = ['af', 'ar', 'ast', 'be', 'bg', 'bn', 'bs', 'ca', 'cs', 'cy', 'da', 'de', 'el', 'en_GB', 'eo', 'es', 'et', 'eu', 'fa', 'fi', 'fr', 'ga', 'gl', 'he', 'hi', 'hr', 'hu', 'id', 'it', 'ja', 'ka', 'kk', 'ko', 'lt', 'lv', 'mk', 'ms', 'nb', 'nl', 'pl', 'pt', 'pt_BR', 'ro', 'ru', 'sk', 'sl', 'sr', 'sv', 'ta', 'th', 'tr', 'uk', 'vi', 'zh_CN', 'zh_TW'];

/**
 * Plan the tree: the whole entry list in order (dirs before what they hold, a hardlink after its target).
 * Entries: { type: 'dir'|'file'|'symlink'|'link', path, mode, size?, off?, target? }. Returns the list, the
 * package dirs the apps delete, and counts.
 */
export function planTree() {
  const rnd = mulberry32(SEED);
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const word = (n) => Array.from({ length: n }, () => pick(SYL)).join('');
  const entries = [];
  const dirs = new Set();
  let files = 0;
  let fileBytes = 0;
  const modes = new Map(); // file path -> mode, for hardlinks
  const mkdirp = (p) => {
    if (!p || dirs.has(p)) return;
    const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
    mkdirp(parent);
    dirs.add(p);
    entries.push({ type: 'dir', path: p, mode: p === 'tmp' ? 0o1777 : 0o755 });
  };
  // Small files: 0..16 KiB, skewed to the small end (mean ~3.6 KiB), as a distro's /usr is.
  const smallSize = () => Math.floor(16384 * rnd() ** 3.5);
  const file = (p, size = smallSize(), mode = 0o644) => {
    mkdirp(p.slice(0, p.lastIndexOf('/')));
    const e = { type: 'file', path: p, mode, size, off: 0 };
    entries.push(e);
    modes.set(p, mode);
    files++;
    fileBytes += size;
    return e;
  };
  const symlink = (p, target) => {
    mkdirp(p.slice(0, p.lastIndexOf('/')));
    entries.push({ type: 'symlink', path: p, mode: 0o777, target });
  };
  const hardlink = (p, target) => {
    if (target.length > 100) return; // ustar's link name field
    mkdirp(p.slice(0, p.lastIndexOf('/')));
    // The link's header carries the inode's mode, as GNU tar writes it: dockerd chmods the inode to the mode of
    // a hardlink's header, so a different one would make the disk disagree with the layer's tar-split.
    entries.push({ type: 'link', path: p, mode: modes.get(target), target });
  };

  // The bits a shell needs (the apps' RUN steps), and the usual top-level dirs.
  for (const d of ['bin', 'dev', 'etc', 'home', 'proc', 'root', 'sys', 'tmp', 'var/lib', 'var/log', 'var/cache', 'usr/local/bin', 'usr/sbin']) mkdirp(d);
  const bb = file('bin/busybox', fs.statSync(BUSYBOX).size, 0o755);
  bb.fromFile = BUSYBOX;
  for (const a of ['sh', 'ash', 'rm', 'ls', 'cat', 'echo', 'mkdir', 'true', 'env', 'cp', 'mv']) symlink(`bin/${a}`, 'busybox');
  file('etc/passwd', 0);
  file('etc/group', 0);
  file('etc/os-release', 0);

  const large = []; // the large files, sized at the end
  const usedPkg = new Set();
  const pkgs = [];
  const shareTrees = []; // [dir, files] candidates for the apps to delete
  const tree = (dir, n, depth) => {
    // n files under dir: some here, the rest split among 2..8 subdirs (names unique within dir).
    mkdirp(dir);
    const here = n <= 40 || depth >= 5 ? n : int(5, 20);
    const names = new Set();
    const made = [];
    for (let i = 0; i < here; i++) {
      let name;
      do name = word(int(1, 3)) + pick(EXT);
      while (names.has(name) || name.startsWith('.'));
      names.add(name);
      const p = `${dir}/${name}`;
      const r = rnd();
      if (r < 0.02 && made.length) symlink(p, made[made.length - 1].slice(dir.length + 1));
      else if (r < 0.025 && made.length) hardlink(p, made[int(0, made.length - 1)]);
      else made.push(file(p).path);
    }
    let rest = n - here;
    if (rest <= 0) return;
    const k = int(2, 8);
    const w = Array.from({ length: k }, () => rnd() + 0.1);
    const tw = w.reduce((a, b) => a + b, 0);
    for (let i = 0; i < k && rest > 0; i++) {
      const m = i === k - 1 ? rest : Math.min(rest, Math.round(((n - here) * w[i]) / tw));
      rest -= m;
      let name;
      do name = word(int(1, 2));
      while (names.has(name));
      names.add(name);
      if (m > 0) tree(`${dir}/${name}`, m, depth + 1);
    }
  };

  while (files < TARGET_FILES) {
    let name;
    do name = word(int(2, 3)) + (rnd() < 0.2 ? String(int(1, 9)) : '');
    while (usedPkg.has(name));
    usedPkg.add(name);
    pkgs.push(name);
    const r = rnd();
    let budget = r < 0.7 ? int(5, 40) : r < 0.95 ? int(40, 400) : int(400, 8000);
    // docs: as Debian ships them, or a symlink to another package's (dependency packages do that)
    if (pkgs.length > 10 && rnd() < 0.1) symlink(`usr/share/doc/${name}`, pick(pkgs.slice(0, -1)));
    else {
      file(`usr/share/doc/${name}/copyright`);
      file(`usr/share/doc/${name}/changelog.Debian.gz`);
      budget -= 2;
    }
    if (rnd() < 0.5) {
      const nb = int(1, 5);
      for (let i = 0; i < nb; i++) {
        const bin = i ? `${name}-${word(1)}${i}` : name;
        if (usedPkg.has(`bin:${bin}`)) continue;
        usedPkg.add(`bin:${bin}`);
        const b = file(`usr/bin/${bin}`, smallSize(), 0o755);
        if (rnd() < 0.01) large.push(b);
        file(`usr/share/man/man1/${bin}.1.gz`);
        if (rnd() < 0.02) hardlink(`usr/bin/${bin}.real`, b.path);
        else if (rnd() < 0.05) symlink(`usr/bin/${bin}-alias`, bin);
        budget -= 2;
      }
    }
    if (rnd() < 0.4) {
      const so = `lib${name}.so.${int(0, 9)}`;
      const full = `${so}.${int(0, 30)}.${int(0, 9)}`;
      const l = file(`usr/lib/x86_64-linux-gnu/${full}`);
      if (rnd() < 0.03) large.push(l);
      symlink(`usr/lib/x86_64-linux-gnu/${so}`, full);
      symlink(`usr/lib/x86_64-linux-gnu/lib${name}.so`, so);
      const nh = int(3, 40);
      for (let i = 0; i < nh; i++) {
        const h = `usr/include/${name}/${word(int(1, 3))}${i}.h`;
        file(h);
      }
      budget -= 1 + nh;
    }
    if (rnd() < 0.2) {
      const nl = int(10, LANGS.length);
      const start = int(0, LANGS.length - nl);
      for (let i = 0; i < nl; i++) file(`usr/share/locale/${LANGS[start + i]}/LC_MESSAGES/${name}.mo`);
      budget -= nl;
    }
    if (budget > 0) {
      const inShare = rnd() < 0.6;
      const dir = inShare ? `usr/share/${name}` : `usr/lib/${name}`;
      const before = files;
      tree(dir, budget, 1);
      if (inShare && budget >= 200 && budget <= 5000) shareTrees.push(dir);
      if (budget > 1000 && rnd() < 0.5) {
        // a big data file in a big package
        large.push(file(`${dir}/${word(2)}.dat`));
      }
      void before;
    }
  }
  // The large files take what the small ones leave of TARGET_BYTES (weights from the PRNG).
  while (large.length < LARGE_FILES) large.push(file(`usr/lib/x86_64-linux-gnu/lib${word(3)}${large.length}.so.1`));
  const chosen = large.slice(0, LARGE_FILES);
  for (const e of chosen) fileBytes -= e.size;
  const left = Math.max(LARGE_FILES * 65536, TARGET_BYTES - fileBytes);
  const w = chosen.map(() => 0.2 + rnd() ** 2);
  const tw = w.reduce((a, b) => a + b, 0);
  for (let i = 0; i < chosen.length; i++) {
    chosen[i].size = Math.floor((left * w[i]) / tw);
    fileBytes += chosen[i].size;
  }
  // Content offsets into the pool (any bytes do: overlay2 stores every file whole).
  for (const e of entries) if (e.type === 'file' && !e.fromFile) e.off = Math.floor(rnd() * POOL_BYTES);

  // The dirs the apps delete: 20 different packages' usr/share trees of 200..5000 files, chosen by the PRNG.
  const deleted = [];
  const cand = [...shareTrees];
  while (deleted.length < APPS && cand.length) deleted.push('/' + cand.splice(Math.floor(rnd() * cand.length), 1)[0]);
  if (deleted.length < APPS) throw new Error(`only ${deleted.length} package dirs of 200..5000 files to delete; need ${APPS}`);
  const count = (t) => entries.filter((e) => e.type === t).length;
  return {
    entries,
    deleted,
    counts: { entries: entries.length, dirs: count('dir'), files, symlinks: count('symlink'), hardlinks: count('link'), fileBytes, packages: pkgs.length, largeFiles: LARGE_FILES },
  };
}

const POOL_BYTES = 64 << 20;

function makePool() {
  const pool = Buffer.allocUnsafe(POOL_BYTES + 16 * 1024 * 1024 + 8);
  const rnd = mulberry32(SEED ^ 0x5eed);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE((rnd() * 4294967296) >>> 0, i);
  return pool;
}

// ------------------------------------------------------------------------------------------------------------
// ustar writer (paths here are ASCII and < 100 bytes, or split into prefix/name at a '/')
// ------------------------------------------------------------------------------------------------------------
function octal(buf, off, len, n) {
  buf.write(n.toString(8).padStart(len - 1, '0') + '\0', off, len, 'ascii');
}

function header(e, size) {
  const h = Buffer.alloc(512);
  let name = e.type === 'dir' ? e.path + '/' : e.path;
  let prefix = '';
  if (name.length > 100) {
    // ustar: prefix (<= 155) + '/' + name (<= 100), cut at the first '/' that fits
    let best = -1;
    for (let i = name.indexOf('/'); i >= 0 && i <= 155; i = name.indexOf('/', i + 1)) {
      if (name.length - i - 1 <= 100 && i < name.length - 1) {
        best = i;
        break;
      }
    }
    if (best < 0) throw new Error(`path too long for ustar: ${name}`);
    prefix = name.slice(0, best);
    name = name.slice(best + 1);
  }
  if (e.target && e.target.length > 100) throw new Error(`link target too long for ustar: ${e.target}`);
  h.write(name, 0, 100, 'ascii');
  octal(h, 100, 8, e.mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, MTIME);
  h.write(' '.repeat(8), 148, 8, 'ascii');
  h.write({ file: '0', link: '1', symlink: '2', dir: '5' }[e.type], 156, 1, 'ascii');
  if (e.target) h.write(e.target, 157, 100, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  octal(h, 329, 8, 0);
  octal(h, 337, 8, 0);
  h.write(prefix, 345, 155, 'ascii');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/** Write the planned tree as a tar into a writable stream, with backpressure. */
export async function writeTar(plan, out) {
  const pool = makePool();
  const zero = Buffer.alloc(1024);
  let batch = [];
  let batched = 0;
  const flush = async () => {
    if (!batched) return;
    const ok = out.write(Buffer.concat(batch, batched));
    batch = [];
    batched = 0;
    if (!ok) await once(out, 'drain'); // rejects on 'error'
  };
  const push = async (b) => {
    batch.push(b);
    batched += b.length;
    if (batched >= 4 << 20) await flush();
  };
  for (const e of plan.entries) {
    if (e.type !== 'file') {
      await push(header(e, 0));
      continue;
    }
    await push(header(e, e.size));
    if (e.fromFile) {
      const body = fs.readFileSync(e.fromFile);
      if (body.length !== e.size) throw new Error(`${e.fromFile} changed size while the tar was written`);
      await push(body);
    } else {
      // large files: the pool over and over (offsets move, so no two large files are equal)
      for (let done = 0; done < e.size; ) {
        const n = Math.min(e.size - done, 16 << 20);
        const off = (e.off + done) % POOL_BYTES;
        await push(pool.subarray(off, off + n));
        done += n;
      }
    }
    const pad = (512 - (e.size % 512)) % 512;
    if (pad) await push(zero.subarray(0, pad));
  }
  await push(zero);
  await flush();
  await new Promise((r) => out.end(r));
}

// ------------------------------------------------------------------------------------------------------------
// the engine
// ------------------------------------------------------------------------------------------------------------
export function engineEnv(dir) {
  const env = { ...process.env, DOCKER_HOST: `unix://${dir}/docker.sock`, DOCKER_CONFIG: path.join(dir, 'client'), DOCKER_BUILDKIT: '0' };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  delete env.DOCKER_CERT_PATH;
  return env;
}

async function startEngine(dir, dataRoot) {
  const e = { dir, dataRoot, env: engineEnv(dir), proc: null };
  for (const d of [e.dataRoot, path.join(dir, 'exec'), path.join(dir, 'client')]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(dir, 'daemon.json'), '{}\n');
  const logFd = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
  e.proc = spawn(
    DOCKERD,
    [
      `--data-root=${e.dataRoot}`,
      `--exec-root=${dir}/exec`,
      `--host=unix://${dir}/docker.sock`,
      `--pidfile=${dir}/docker.pid`,
      `--config-file=${dir}/daemon.json`,
      '--iptables=false',
      '--bridge=none',
      '--shutdown-timeout=2',
      '--storage-driver=overlay2',
    ],
    { env: e.env, stdio: ['ignore', logFd, logFd], detached: true },
  );
  fs.closeSync(logFd);
  let exited = null;
  e.proc.on('exit', (code, signal) => (exited = { code, signal }));
  const tail = () => fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-15).join('\n');
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`dockerd exited during start (${JSON.stringify(exited)}):\n${tail()}`);
    if (Date.now() > deadline) throw new Error(`dockerd did not answer within 60 s:\n${tail()}`);
    const r = await run(DOCKER, ['version', '--format', '{{.Server.Version}}'], { env: e.env, timeoutMs: 5000 });
    if (r.code === 0) {
      e.version = r.stdout.toString().trim();
      break;
    }
    await sleep(200);
  }
  const info = await must('docker info', DOCKER, ['info', '--format', '{{.Driver}}|{{json .DriverStatus}}'], { env: e.env, timeoutMs: 20000 });
  const [driver, status] = info.stdout.toString().trim().split('|');
  e.driver = driver;
  e.driverStatus = Object.fromEntries(JSON.parse(status || '[]'));
  if (driver !== 'overlay2') throw new Error(`the engine chose storage driver ${driver}, not overlay2`);
  return e;
}

export async function stopEngine(e, log = () => {}) {
  if (!e?.proc || e.proc.exitCode !== null || e.proc.signalCode !== null) return;
  const gone = new Promise((r) => e.proc.once('exit', r));
  try {
    process.kill(e.proc.pid, 'SIGTERM');
  } catch {}
  const ok = await Promise.race([gone.then(() => true), sleep(30000).then(() => false)]);
  if (!ok) {
    log('dockerd did not stop in 30 s; killing it');
    try { process.kill(-e.proc.pid, 'SIGKILL'); } catch {}
    await Promise.race([gone, sleep(5000)]);
  }
}

// ------------------------------------------------------------------------------------------------------------
// build, cache, restore
// ------------------------------------------------------------------------------------------------------------
/**
 * Build the fixture in a fresh engine under `dir` and tar its data root to the cache. Returns the meta object.
 * `state.engine` is set while the engine runs, so that a signal handler can stop it.
 */
export async function buildFixture(dir, key, log, state = {}) {
  const t0 = Date.now();
  const phases = {};
  const phase = (name, t) => {
    phases[name] = +((Date.now() - t) / 1000).toFixed(1);
    log(`build: ${name} ${secs(Date.now() - t)}`);
  };
  let t = Date.now();
  const plan = planTree();
  const c = plan.counts;
  phase('plan', t);
  log(`build: base tree: ${c.files} files (${(c.fileBytes / 1e9).toFixed(2)} GB), ${c.dirs} dirs, ${c.symlinks} symlinks, ${c.hardlinks} hardlinks, ${c.packages} packages`);

  t = Date.now();
  // The data root on a private ext4 too: 330,000 files are made (import) and deleted (cleanup) in seconds.
  const mnt = await privateExt4(dir, 8 * 2 ** 30, Math.max(800_000, 2 * c.entries), log);
  const e = await startEngine(dir, path.join(mnt ?? dir, 'root'));
  state.engine = e;
  phase('engine start', t);
  log(`build: Docker ${e.version}, ${e.driver} (${JSON.stringify(e.driverStatus)})`);

  t = Date.now();
  await must('docker import', DOCKER, ['import', '-', BASE_TAG], { env: e.env, stdin: (w) => writeTar(plan, w), timeoutMs: 1_200_000 });
  phase('import base', t);

  t = Date.now();
  const buildOne = async (k) => {
    const ctx = path.join(dir, `ctx-${k}`);
    fs.mkdirSync(ctx, { recursive: true });
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${BASE_TAG}\nRUN rm -rf ${plan.deleted[k - 1]} && echo ${k} > /app-${k}\n`);
    const tb = Date.now();
    await must(`docker build ${appTag(k)}`, DOCKER, ['build', '--network=none', '--rm', '--force-rm', '-q', '-t', appTag(k), ctx], { env: e.env, timeoutMs: 600_000 });
    log(`build: ${appTag(k)} in ${secs(Date.now() - tb)}`);
  };
  // Two builds at a time (2 cores; each build is mostly the engine diffing the container layer).
  const queue = Array.from({ length: APPS }, (_, i) => i + 1);
  await Promise.all([0, 1].map(async () => {
    for (let k; (k = queue.shift()) !== undefined; ) await buildOne(k);
  }));
  phase('build apps', t);

  // Docker's own answers, for the bench to check its reading of the data root against.
  const tags = [BASE_TAG, ...Array.from({ length: APPS }, (_, i) => appTag(i + 1))];
  const insp = JSON.parse((await must('docker image inspect', DOCKER, ['image', 'inspect', ...tags], { env: e.env })).stdout.toString());
  const images = insp.map((x, i) => ({ tag: tags[i], id: x.Id, layers: x.RootFS.Layers, upperDir: x.GraphDriver?.Data?.UpperDir ?? null }));
  const all = (await must('docker images -aq', DOCKER, ['images', '-aq', '--no-trunc'], { env: e.env })).stdout.toString().trim().split('\n').filter(Boolean);

  t = Date.now();
  await stopEngine(e, log);
  state.engine = null;
  phase('engine stop', t);

  t = Date.now();
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const { tar, meta: metaFile } = cacheFiles(key);
  const tmp = `${tar}.${process.pid}.tmp`;
  const r = await run('tar', ['-C', e.dataRoot, ...TAR_XATTRS, '--sparse', '-cf', tmp, '.'], { timeoutMs: 1_200_000 });
  if (r.code !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`tar of the data root failed: ${r.stderr.trim()}`);
  }
  fs.renameSync(tmp, tar);
  phase('cache tar', t);
  const meta = {
    key,
    builtAt: new Date().toISOString(),
    engine: { version: e.version, driver: e.driver, driverStatus: e.driverStatus },
    base: { tag: BASE_TAG, ...c, seed: SEED },
    apps: Array.from({ length: APPS }, (_, i) => ({ tag: appTag(i + 1), deleted: plan.deleted[i] })),
    images,
    imageCount: all.length,
    tarBytes: fs.statSync(tar).size,
    buildSeconds: +((Date.now() - t0) / 1000).toFixed(1),
    phases,
  };
  fs.writeFileSync(metaFile + '.tmp', JSON.stringify(meta, null, 2) + '\n');
  fs.renameSync(metaFile + '.tmp', metaFile);
  // Older fixtures (another recipe) go: each is ~1.5 GB. Stale .tmp files of killed runs too.
  for (const old of fs.readdirSync(CACHE_DIR)) {
    const p = path.join(CACHE_DIR, old);
    if (!old.startsWith('host-') || p === tar || p === metaFile) continue;
    if (old.endsWith('.tmp')) {
      const pid = Number(old.split('.').at(-2));
      if (Number.isInteger(pid) && alive(pid)) continue;
    }
    log(`build: removing old fixture ${p}`);
    fs.rmSync(p, { force: true });
  }
  return meta;
}

/**
 * Unpack a cached data root under dir; returns { root, fs }. The copy goes into a fresh ext4 file system (no
 * journal) on a loop device whose image file lives in dir: on these VMs creating ~330,000 files on the shared
 * disk's ext4 takes 30 s (idle) to 2 minutes (busy), and deleting them as long again; in a private ext4 both
 * take seconds (umount + rm of one file), and the reads the bench measures still go through ext4, as on a host's
 * /var/lib/docker. Falls back to a plain directory in dir when mkfs.ext4 or the loop mount is not available.
 */
/**
 * A fresh ext4 (no journal) on a loop device, its sparse image file in dir, mounted at dir/mnt; null (and the
 * reason logged) when mkfs.ext4 or the loop mount is not available.
 */
async function privateExt4(dir, bytes, inodes, log) {
  const mnt = path.join(dir, 'mnt');
  const img = path.join(dir, 'ext4.img');
  fs.mkdirSync(mnt, { recursive: true });
  fs.writeFileSync(img, '');
  fs.truncateSync(img, bytes);
  const mk = await run('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-N', String(inodes), '-L', 'lsbench', img], { timeoutMs: 120_000 });
  const mo = mk.code === 0 ? await run('mount', ['-o', 'loop', img, mnt], { timeoutMs: 60_000 }) : mk;
  if (mo.code === 0) return mnt;
  log(`WARNING: no private ext4 (${mo.stderr.trim().split('\n')[0]}); using a plain directory (slow to fill and to delete)`);
  fs.rmSync(img, { force: true });
  return null;
}

export async function restoreFixture(tarFile, dir, { entries = 400_000, log = () => {} } = {}) {
  const tarBytes = fs.statSync(tarFile).size;
  const mnt = await privateExt4(dir, Math.max(6 * 2 ** 30, 3 * tarBytes), Math.max(600_000, 2 * entries), log);
  const where = mnt ?? dir;
  const how = mnt ? 'ext4 (no journal) on a loop device, image in the temp dir' : `plain directory in ${path.dirname(dir)}`;
  const root = path.join(where, 'root');
  fs.mkdirSync(root, { recursive: true });
  fs.chmodSync(root, 0o710);
  const r = await run('tar', ['-C', root, ...TAR_XATTRS, '-xpf', tarFile], { timeoutMs: 1_200_000 });
  if (r.code !== 0) throw new Error(`restoring ${tarFile} failed: ${r.stderr.trim()}`);
  const now = new Date();
  try {
    fs.utimesSync(tarFile, now, now);
  } catch {}
  return { root, fs: how };
}
