#!/usr/bin/env node
// Test orchestrator (plain Node ESM).
//
//   node test/run.mjs                       all test/**/*.test.ts[x] (node_modules excluded)
//   node test/run.mjs test/a.test.ts ...    only these files (other args starting with -- go to `node --test`)
//   LAYERSCOPE_KEEP_ENGINE=1                leave the engines running afterwards and print their env
//   LAYERSCOPE_REQUIRE_ENGINE=1             (CI) a missing engine is an error, not a skip
//   LAYERSCOPE_NO_ENGINE=1                  do not start engines (engine tests skip, or fail when required)
//   LAYERSCOPE_ENGINES=docker20,docker26    start only these engines (default: all available)
//   LAYERSCOPE_FIXTURE_CACHE=0|<dir>        data-root snapshot cache (default /var/cache/layerscope/fixtures)
//   LAYERSCOPE_TEST_NODES=/a/node,/b/node   run the files under each of these Node binaries in turn, against the
//                                           same engines (default: the node running this script); each run has
//                                           its binary's directory first in PATH, so tests that spawn `node` get it
//
// As root with dockerd available it starts private engines, each with its own data root, exec root and socket
// under one temp dir (flags from /work/shared/docs/engine.md):
//   docker20   Debian bookworm docker.io 20.10, overlay2                                  (always)
//   docker26   Debian trixie docker.io 26 unpacked in /opt/layerscope/docker26, overlay2   (when present)
//   docker26c  the same with {"features":{"containerd-snapshotter":true}}                 (when present)
// builds the fixtures (test/fixtures/images/build.sh; names in test/support/fixtures-manifest.mjs; each Docker 26
// engine builds its own and also gets docker20's as ls-*:from20), caches each engine's data root right after the
// image builds (restored on later runs: LAYERSCOPE_FIXTURE_CACHE), creates the containers (build.sh, then
// test/fixtures/containers/*.sh), and runs
//   node --import tsx --test <files>
// with LAYERSCOPE_TEST_ENGINES = JSON { docker20: {host, dataRoot, version, ...}, docker26?: ..., docker26c?: ... }
// and LAYERSCOPE_TEST_ENGINES_UNAVAILABLE = JSON { <name>: <reason> } for engines that could not be had.
// Engines are stopped and the temp dir (with any mounts left under it) removed on exit, failure and signals.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { quickFingerprint } from './support/fingerprint.mjs';
import { cleanupDir, makeScratchDir, sweepStale } from './support/scratch.mjs';
import { findTests, usesEngines } from './support/test-files.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = path.join(ROOT, 'test/fixtures/images');
const D26 = process.env.LAYERSCOPE_DOCKER26_DIR || '/opt/layerscope/docker26';
const ENGINE_START_TIMEOUT_MS = 60_000;
const BUILD_TIMEOUT_MS = 900_000; // one fixture build step (80 RUN layers on a loaded 2-core machine: ~2 min)
const TMP_PREFIX = '/tmp/lse-';
const KEEP = process.env.LAYERSCOPE_KEEP_ENGINE === '1';
const REQUIRE = process.env.LAYERSCOPE_REQUIRE_ENGINE === '1';

const t0 = Date.now();
const secs = (ms) => (ms / 1000).toFixed(1) + ' s';
const log = (msg) => process.stderr.write(`[run] ${msg}\n`);
const loud = (msg) => {
  const bar = '!'.repeat(100);
  process.stderr.write(`\n${bar}\n!!! ${msg.split('\n').join('\n!!! ')}\n${bar}\n\n`);
};

// ------------------------------------------------------------------------------------------------------------
// child processes (all tracked, so signals and cleanup can end them)
// ------------------------------------------------------------------------------------------------------------
const children = new Set();
let exiting = false; // a signal arrived: start nothing new, the handler cleans up and exits

/** Run a command; resolve {code, stdout, stderr} (Buffers for stdout). Never rejects on exit code. */
function run(cmd, args, { env, input, timeoutMs = BUILD_TIMEOUT_MS, stdoutFile, cwd, always = false } = {}) {
  return new Promise((resolve) => {
    if (exiting && !always) {
      resolve({ code: 130, signal: 'SIGINT', timedOut: false, stdout: Buffer.alloc(0), stderr: 'interrupted' });
      return;
    }
    const out = stdoutFile ? fs.openSync(stdoutFile, 'w') : 'pipe';
    const inp = input && typeof input === 'object' && 'fd' in input ? input.fd : input !== undefined ? 'pipe' : 'ignore';
    const child = spawn(cmd, args, { env: env ?? process.env, cwd: cwd ?? ROOT, stdio: [inp, out, 'pipe'] });
    children.add(child);
    const so = [];
    const se = [];
    child.stdout?.on('data', (d) => so.push(d));
    child.stderr.on('data', (d) => se.push(d));
    if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => se.push(Buffer.from(String(err))));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (stdoutFile) fs.closeSync(out);
      resolve({
        code: code ?? (signal ? 128 : 1),
        signal,
        timedOut,
        stdout: Buffer.concat(so),
        stderr: Buffer.concat(se).toString('utf8') + (timedOut ? `\n(timed out after ${secs(timeoutMs)})` : ''),
      });
    });
  });
}

async function must(label, cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${label} failed (exit ${r.code}): ${cmd} ${args.join(' ')}\n${r.stderr.trim()}`);
  return r;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------------------
// engines
// ------------------------------------------------------------------------------------------------------------
/** @type {Map<string, {name:string, dir:string, host:string, dataRoot:string, execRoot:string, client:string, env:NodeJS.ProcessEnv, proc:import('node:child_process').ChildProcess|null, version?:string, storage?:string}>} */
const engines = new Map();
let tmpBase = null;

function engineSpecs() {
  const specs = [];
  const only = process.env.LAYERSCOPE_ENGINES ? new Set(process.env.LAYERSCOPE_ENGINES.split(',')) : null;
  const unavailable = {};
  const want = (n) => {
    if (!only || only.has(n)) return true;
    unavailable[n] = `not requested (LAYERSCOPE_ENGINES=${process.env.LAYERSCOPE_ENGINES})`;
    return false;
  };
  if (want('docker20')) {
    specs.push({
      name: 'docker20',
      dockerd: '/usr/sbin/dockerd',
      client: '/usr/bin/docker',
      pathPrefix: [],
      args: ['--storage-driver=overlay2'],
      config: {},
    });
  }
  const d26ok = fs.existsSync(path.join(D26, 'usr/sbin/dockerd')) && fs.existsSync(path.join(D26, 'usr/bin/docker'));
  for (const [name, args, config] of [
    ['docker26', ['--storage-driver=overlay2'], {}],
    ['docker26c', [], { features: { 'containerd-snapshotter': true } }],
  ]) {
    if (!want(name)) continue;
    if (!d26ok) {
      unavailable[name] = `Docker 26 is not unpacked in ${D26} (run: bash test/setup.sh)`;
      continue;
    }
    specs.push({
      name,
      dockerd: path.join(D26, 'usr/sbin/dockerd'),
      client: path.join(D26, 'usr/bin/docker'),
      pathPrefix: [path.join(D26, 'usr/bin'), path.join(D26, 'usr/sbin')],
      args,
      config,
    });
  }
  return { specs, unavailable };
}

function prepareEngine(spec) {
  const dir = path.join(tmpBase, spec.name);
  const e = {
    name: spec.name,
    spec,
    dir,
    host: `unix://${dir}/docker.sock`,
    dataRoot: path.join(dir, 'root'),
    execRoot: path.join(dir, 'exec'),
    client: spec.client,
    proc: null,
  };
  engines.set(spec.name, e);
  fs.mkdirSync(e.dataRoot, { recursive: true });
  fs.mkdirSync(e.execRoot, { recursive: true });
  fs.mkdirSync(path.join(dir, 'client'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify(spec.config) + '\n');
  const PATH = [...spec.pathPrefix, process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'].join(':');
  e.env = { ...process.env, PATH, DOCKER_HOST: e.host, DOCKER_CONFIG: path.join(dir, 'client'), DOCKER_BUILDKIT: '0' };
  delete e.env.DOCKER_CONTEXT;
  delete e.env.DOCKER_TLS_VERIFY;
  delete e.env.DOCKER_CERT_PATH;
  return e;
}

/** Start dockerd for a prepared engine and wait (at most 60 s) until `docker version`/`docker info` answer. */
async function launchEngine(e) {
  const { spec, dir } = e;
  const logFd = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
  const args = [
    `--data-root=${e.dataRoot}`,
    `--exec-root=${e.execRoot}`,
    `--host=${e.host}`,
    `--pidfile=${dir}/docker.pid`,
    `--config-file=${dir}/daemon.json`,
    '--iptables=false',
    '--bridge=none',
    '--shutdown-timeout=2',
    ...spec.args,
  ];
  // Own process group: a Ctrl-C in the terminal reaches us, and we stop the engine in order.
  const proc = spawn(spec.dockerd, args, { env: e.env, stdio: ['ignore', logFd, logFd], detached: true });
  fs.closeSync(logFd);
  e.proc = proc;
  let exited = null;
  proc.on('exit', (code, signal) => (exited = { code, signal }));
  proc.on('error', (err) => (exited = { code: -1, signal: String(err) }));
  const deadline = Date.now() + ENGINE_START_TIMEOUT_MS;
  const tail = () => {
    try {
      return fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-15).join('\n');
    } catch {
      return '(no log)';
    }
  };
  for (;;) {
    if (exited) throw new Error(`${spec.name}: dockerd exited during start (${JSON.stringify(exited)}); log:\n${tail()}`);
    if (exiting) throw new Error('interrupted');
    if (Date.now() > deadline) {
      throw new Error(`${spec.name}: dockerd did not answer \`docker info\` within ${ENGINE_START_TIMEOUT_MS / 1000} s; log:\n${tail()}`);
    }
    const r = await run(e.client, ['version', '--format', '{{.Server.Version}}|{{.Server.APIVersion}}'], {
      env: e.env,
      timeoutMs: 5000,
    });
    if (r.code === 0) {
      const [version, api] = r.stdout.toString().trim().split('|');
      e.version = version;
      e.api = api;
      break;
    }
    await sleep(150);
  }
  const info = await must(`${spec.name} docker info`, e.client, ['info', '--format', '{{.Driver}}'], { env: e.env, timeoutMs: 10000 });
  e.storage = info.stdout.toString().trim();
  return e;
}

async function buildFixtures(e, what = 'all') {
  const r = await run('bash', [path.join(FIXTURES, 'build.sh'), what], {
    env: { ...e.env, DOCKER: e.client, LS_ENGINE_NAME: e.name },
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  process.stderr.write(r.stderr.split('\n').filter((l) => l.startsWith('[fixtures')).map((l) => `[run] ${l}\n`).join(''));
  if (r.code !== 0) throw new Error(`${e.name}: fixture build (${what}) failed:\n${r.stderr.trim()}`);
}

/**
 * The containers planted for `inspect`, its risk findings, `logs` and volumes: every test/fixtures/containers/*.sh,
 * in name order. Outside FIXTURES, so that they stay out of the image cache key: containers are made anew on
 * every run.
 */
async function plantContainers(e) {
  const dir = path.join(ROOT, 'test/fixtures/containers');
  for (const script of fs.readdirSync(dir).filter((f) => f.endsWith('.sh')).sort()) {
    const r = await run('bash', [path.join(dir, script)], {
      env: { ...e.env, DOCKER: e.client, LS_ENGINE_NAME: e.name },
      timeoutMs: BUILD_TIMEOUT_MS,
    });
    process.stderr.write(r.stderr.split('\n').filter((l) => l.startsWith('[fixtures')).map((l) => `[run] ${l}\n`).join(''));
    if (r.code !== 0) throw new Error(`${e.name}: planting containers (${script}) failed:\n${r.stderr.trim()}`);
  }
}

// Fixture cache: a snapshot (tar with xattrs, devices, hardlinks, owners, times) of each engine's data root
// right after its fixture images were built (and, for the Docker 26 engines, docker20's images loaded as
// :from20), taken with the engine stopped. A later run with the same engine binary, fixture sources and busybox
// restores it before starting dockerd: the same state as a fresh build (intermediate images, parent links,
// build-time metadata and all) in about a second instead of minutes. Containers are always created anew.
// LAYERSCOPE_FIXTURE_CACHE=0 disables it; a directory path moves it.
const CACHE_DIR = process.env.LAYERSCOPE_FIXTURE_CACHE ?? '/var/cache/layerscope/fixtures';
const CACHE_ON = CACHE_DIR !== '0' && CACHE_DIR !== '';
const TAR_XATTRS = ['--xattrs', '--xattrs-include=*', '--numeric-owner'];
// Bump when what this file does to an engine before the snapshot changes (e.g. the :from20 copies).
const FIXTURE_PIPELINE_VERSION = 1;

function fixtureSourcesDigest() {
  const h = createHash('sha256');
  const walk = (dir) => {
    for (const n of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, n);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) h.update(path.relative(FIXTURES, p)).update('\0').update(fs.readFileSync(p)).update('\0');
    }
  };
  walk(FIXTURES);
  h.update(`pipeline:${FIXTURE_PIPELINE_VERSION}`);
  for (const bb of ['/bin/busybox', '/usr/bin/busybox']) {
    try {
      h.update(fs.readFileSync(bb));
      break;
    } catch {}
  }
  return h.digest('hex');
}

/** Identity of a binary without running it (running `dockerd --version` can time out on a loaded machine). */
function binaryId(p) {
  try {
    const st = fs.statSync(p);
    return `${p}:${st.size}:${Math.round(st.mtimeMs)}`;
  } catch {
    return `${p}:missing`;
  }
}

async function cacheKey(spec, sourcesDigest, extra = '') {
  const containerd = spec.pathPrefix.length ? path.join(spec.pathPrefix[0], 'containerd') : '/usr/bin/containerd';
  return createHash('sha256')
    .update(`${spec.name}|${binaryId(spec.dockerd)}|${binaryId(containerd)}|${binaryId('/usr/sbin/runc')}|`)
    .update(`${JSON.stringify(spec.args)}|${JSON.stringify(spec.config)}|${sourcesDigest}|${extra}`)
    .digest('hex')
    .slice(0, 20);
}

const cacheFile = (name, key) => path.join(CACHE_DIR, `${name}-${key}.dataroot.tar`);

async function restoreSnapshot(e, file) {
  const r = await run('tar', ['-C', e.dataRoot, ...TAR_XATTRS, '-xpf', file], { timeoutMs: 120000 });
  if (r.code !== 0) throw new Error(`restoring ${file} failed: ${r.stderr.trim()}`);
  try {
    const now = new Date();
    fs.utimesSync(file, now, now); // most recently used
  } catch {}
}

/** Snapshot a STOPPED engine's data root into the cache (atomically; older snapshots of this engine removed). */
async function saveSnapshot(e, file) {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const r = await run('tar', ['-C', e.dataRoot, ...TAR_XATTRS, '--sparse', '-cf', tmp, '.'], { timeoutMs: 120000 });
  if (r.code !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`snapshot failed: ${r.stderr.trim()}`);
  }
  fs.renameSync(tmp, file);
  // Keep the 3 most recently used snapshots per engine (runs with other engine sets or fixture versions share
  // the machine); drop snapshots in progress that a killed run left (older than an hour).
  const mine = [];
  for (const old of fs.readdirSync(CACHE_DIR)) {
    if (!old.startsWith(`${e.name}-`)) continue;
    const p = path.join(CACHE_DIR, old);
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (old.endsWith('.tmp')) {
      if (Date.now() - st.mtimeMs > 3600_000) fs.rmSync(p, { force: true });
    } else mine.push([st.mtimeMs, p]);
  }
  mine.sort((x, y) => y[0] - x[0]);
  for (const [, p] of mine.slice(3)) if (p !== file) fs.rmSync(p, { force: true });
}

/**
 * Copy docker20's fixture images into a Docker 26 engine that already holds its own (same names): load
 * docker20's tar (which moves the ls-*:1 tags to docker20's images), tag those :from20, then put the :1 tags
 * back on the engine's own images. Containers refer to images by ID and are not affected.
 */
async function copyFromDocker20(tar, dst, manifest) {
  // Hold the engine's own images under temporary tags meanwhile: the containerd store deletes an image whose
  // last name moves away.
  const hold = (name) => `${name.split(':')[0]}:ls-own-hold`;
  for (const name of Object.values(manifest.IMAGES)) {
    await must(`${dst.name} tag`, dst.client, ['tag', name, hold(name)], { env: dst.env });
  }
  await must(`${dst.name} load docker20 images`, dst.client, ['load', '-q', '-i', tar], { env: dst.env });
  for (const [key, name] of Object.entries(manifest.IMAGES)) {
    await must(`${dst.name} tag`, dst.client, ['tag', name, manifest.IMAGES_FROM20[key]], { env: dst.env });
    await must(`${dst.name} tag`, dst.client, ['tag', hold(name), name], { env: dst.env });
    await must(`${dst.name} untag`, dst.client, ['rmi', hold(name)], { env: dst.env });
  }
}

/** A cheap fingerprint of a data root (names, types, sizes, mtimes; no content), to see whether it still changes. */

/**
 * Wait until the engine stops writing into its data root (containerd garbage-collects snapshots and content
 * a little after builds and loads): two listings 1 s apart must agree. At most ~20 s.
 */
async function settle(e) {
  let prev = quickFingerprint(e.dataRoot);
  for (let i = 1; i <= 20; i++) {
    await sleep(1000);
    const cur = quickFingerprint(e.dataRoot);
    if (cur === prev) return i;
    prev = cur;
  }
  log(`WARNING: ${e.name} still writes into ${e.dataRoot} after 20 s`);
  return -1;
}

// ------------------------------------------------------------------------------------------------------------
// cleanup: engines, stray processes, mounts, temp dir
// ------------------------------------------------------------------------------------------------------------
async function stopEngine(e) {
  if (!e.proc || e.proc.exitCode !== null || e.proc.signalCode !== null) return;
  const pid = e.proc.pid;
  const gone = new Promise((r) => e.proc.once('exit', r));
  // Kill running containers first: dockerd would otherwise wait for each to stop (PID 1 ignores SIGTERM).
  const ps = await run(e.client, ['ps', '-q'], { env: e.env, timeoutMs: 5000, always: true });
  const ids = ps.stdout.toString().split(/\s+/).filter(Boolean);
  if (ps.code === 0 && ids.length) await run(e.client, ['kill', ...ids], { env: e.env, timeoutMs: 10000, always: true });
  try {
    process.kill(pid, 'SIGTERM');
  } catch {}
  const ok = await Promise.race([gone.then(() => true), sleep(20000).then(() => false)]);
  if (!ok) {
    log(`${e.name}: dockerd did not stop in 20 s; killing it`);
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
    await Promise.race([gone, sleep(5000)]);
  }
}

let cleaning = null;
function cleanup() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    for (const c of children) {
      try { c.kill('SIGTERM'); } catch {}
    }
    if (!tmpBase) return;
    if (KEEP) return;
    await Promise.all([...engines.values()].map(stopEngine));
    await cleanupDir(tmpBase, log);
  })();
  return cleaning;
}

let testChild = null;
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(sig, () => {
    if (exiting) return;
    exiting = true;
    log(`${sig}: stopping tests and engines`);
    if (testChild && testChild.exitCode === null) {
      try { testChild.kill(sig); } catch {}
    }
    const force = setTimeout(() => process.exit(code), 60000);
    force.unref();
    cleanup().finally(() => process.exit(code));
  });
}

// ------------------------------------------------------------------------------------------------------------
// main
// ------------------------------------------------------------------------------------------------------------
async function setupEngines() {
  const unavailable = {};
  const reasonAll = (reason) => {
    for (const n of ['docker20', 'docker26', 'docker26c']) unavailable[n] ??= reason;
  };
  if (process.env.LAYERSCOPE_NO_ENGINE === '1') {
    reasonAll('LAYERSCOPE_NO_ENGINE=1');
    return { engines: {}, unavailable };
  }
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    reasonAll('not root: private Docker engines need root (run as root, after `bash test/setup.sh`)');
    return { engines: {}, unavailable };
  }
  if (!fs.existsSync('/usr/sbin/dockerd') || !fs.existsSync('/usr/bin/docker')) {
    reasonAll('no /usr/sbin/dockerd or /usr/bin/docker (run: bash test/setup.sh)');
    return { engines: {}, unavailable };
  }
  await sweepStale(TMP_PREFIX, log);
  const { specs, unavailable: un26 } = engineSpecs();
  Object.assign(unavailable, un26);
  if (!specs.length) return { engines: {}, unavailable };

  const manifest = await import('./support/fixtures-manifest.mjs');
  tmpBase = makeScratchDir(TMP_PREFIX);
  if (KEEP) fs.writeFileSync(path.join(tmpBase, 'KEEP'), '');
  const tStart = Date.now();
  const digest = fixtureSourcesDigest();
  const bySpec = new Map(specs.map((sp) => [sp.name, prepareEngine(sp)]));
  const d20 = bySpec.get('docker20');
  const d20key = d20 ? await cacheKey(d20.spec, digest) : 'none';

  // Cache keys first: whether a Docker 26 engine must build decides whether docker20 must hand over its images.
  const keys = new Map();
  for (const e of bySpec.values()) {
    keys.set(e.name, await cacheKey(e.spec, digest, e.name === 'docker20' ? '' : `from20:${d20key}`));
  }
  const hit = (e) => CACHE_ON && fs.existsSync(cacheFile(e.name, keys.get(e.name)));
  const needD20Tar = !!d20 && [...bySpec.values()].some((e) => e.name !== 'docker20' && !hit(e));
  // docker20's images as a `docker save` tar, made by docker20's pipeline before it stops for its snapshot.
  let d20TarResolve, d20TarReject;
  const d20Tar = new Promise((res, rej) => ((d20TarResolve = res), (d20TarReject = rej)));
  d20Tar.catch(() => {});
  if (!d20) d20TarReject(new Error('docker20 is not started'));
  const handOver = async () => {
    if (!needD20Tar) return d20TarResolve(null);
    const tar = path.join(tmpBase, 'docker20-images.tar');
    await must('docker20 save', d20.client, ['save', '-o', tar, ...Object.values(manifest.IMAGES)], { env: d20.env });
    d20TarResolve(tar);
  };

  const pipeline = async (e) => {
    const t1 = Date.now();
    const file = cacheFile(e.name, keys.get(e.name));
    let how;
    let restored = false;
    if (CACHE_ON && fs.existsSync(file)) {
      try {
        await restoreSnapshot(e, file);
        await launchEngine(e);
        await must(`${e.name} image inspect`, e.client, ['image', 'inspect', '--format', '{{.Id}}', ...Object.values(manifest.IMAGES)], {
          env: e.env,
        });
        restored = true;
      } catch (err) {
        if (exiting) throw err;
        loud(`${e.name}: the cached fixtures ${file} did not work (${String(err.message || err).split('\n')[0]}); rebuilding`);
        await stopEngine(e);
        await cleanupDir(e.dataRoot, log);
        fs.mkdirSync(e.dataRoot, { recursive: true });
        try { fs.rmSync(file, { force: true }); } catch {}
      }
    }
    if (restored) {
      how = `restored from ${file} in ${secs(Date.now() - t1)}`;
      if (e.name === 'docker20') await handOver();
    } else {
      await launchEngine(e);
      await buildFixtures(e, 'images');
      let complete = true;
      if (e.name === 'docker20') await handOver();
      else if (d20) {
        try {
          const tc = Date.now();
          let tar = await d20Tar;
          if (!tar) {
            // not handed over (this engine's cached snapshot was expected to work): ask docker20 once it is done
            await d20Done;
            tar = await (lateD20Tar ??= (async () => {
              const f = path.join(tmpBase, 'docker20-images-late.tar');
              await must('docker20 save', d20.client, ['save', '-o', f, ...Object.values(manifest.IMAGES)], { env: d20.env });
              return f;
            })());
          }
          await copyFromDocker20(tar, e, manifest);
          log(`${e.name}: docker20 images loaded as :from20 in ${secs(Date.now() - tc)}`);
        } catch (err) {
          complete = false;
          loud(`${e.name}: docker20 images could not be copied in (no ${Object.values(manifest.IMAGES_FROM20).join(', ')}):\n${err.message || err}`);
        }
      }
      how = `built in ${secs(Date.now() - t1)}`;
      if (CACHE_ON && complete) {
        const ts = Date.now();
        try {
          await stopEngine(e);
          await saveSnapshot(e, file);
          how += `; cached as ${file} in ${secs(Date.now() - ts)}`;
        } catch (err) {
          log(`${e.name}: could not cache fixtures: ${err.message || err}`);
        }
        if (!e.proc || e.proc.exitCode !== null || e.proc.signalCode !== null) await launchEngine(e);
      }
    }
    await buildFixtures(e, 'containers');
    await plantContainers(e);
    return how;
  };
  let lateD20Tar = null;
  let d20DoneResolve, d20DoneReject;
  const d20Done = new Promise((res, rej) => ((d20DoneResolve = res), (d20DoneReject = rej)));
  d20Done.catch(() => {});
  if (!d20) d20DoneReject(new Error('docker20 is not started'));
  const results = await Promise.allSettled(
    [...bySpec.values()].map((e) =>
      pipeline(e).then(
        (how) => {
          if (e.name === 'docker20') d20DoneResolve();
          return how;
        },
        (err) => {
          if (e.name === 'docker20') {
            d20TarReject(err);
            d20DoneReject(err);
          }
          throw err;
        },
      ),
    ),
  );
  const ready = [];
  [...bySpec.values()].forEach((e, i) => {
    const r = results[i];
    if (r.status === 'fulfilled') {
      ready.push(e);
      log(`${e.name}: Docker ${e.version} (API ${e.api}, ${e.storage}) at ${e.host}: fixtures ${r.value}`);
    } else unavailable[e.name] = String(r.reason?.message || r.reason);
  });
  log(`engines and fixtures ready in ${secs(Date.now() - tStart)}`);
  for (const e of bySpec.values()) {
    if (!ready.includes(e)) await stopEngine(e);
  }
  if (exiting) return { engines: {}, unavailable };
  const tSettle = Date.now();
  const rounds = await Promise.all(ready.map(settle));
  log(`data roots settled in ${secs(Date.now() - tSettle)} (${ready.map((e, i) => `${e.name}: ${rounds[i]}`).join(', ')} rounds)`);
  const out = {};
  for (const e of ready) {
    out[e.name] = {
      host: e.host,
      dataRoot: e.dataRoot,
      execRoot: e.execRoot,
      version: e.version,
      apiVersion: e.api,
      storageDriver: e.storage,
      client: e.client,
      dockerConfig: e.env.DOCKER_CONFIG,
      path: e.env.PATH,
      pid: e.proc?.pid,
    };
  }
  return { engines: out, unavailable };
}

async function main() {
  const argv = process.argv.slice(2);
  const passFlags = argv.filter((a) => a.startsWith('-'));
  const given = argv.filter((a) => !a.startsWith('-')).map((f) => path.resolve(f));
  const files = given.length ? given : findTests();
  if (!files.length) {
    log('no test files found under test/');
    if (!KEEP) return 0;
  }

  // Files named on the command line that use no engine (neither they nor the test modules they import) run
  // without starting any: a unit test file takes a second, not the engines' setup.
  const needEngines = !given.length || given.some((f) => usesEngines(f));
  if (!needEngines) log('no selected test uses an engine: engines not started');
  const res = needEngines
    ? await setupEngines().catch((err) => ({ engines: {}, unavailable: { docker20: `engine setup failed: ${err.stack || err}` } }))
    : { engines: {}, unavailable: {} };
  const found = res.engines ?? {};
  const unavailable = res.unavailable ?? {};
  for (const n of Object.keys(found)) delete unavailable[n];
  if (exiting) await new Promise(() => {}); // the signal handler finishes the job
  const setupMs = Date.now() - t0;
  const names = Object.keys(found);
  log(`engine setup took ${secs(setupMs)}${names.length ? ` (${names.join(', ')})` : ''}`);
  const missing = Object.entries(unavailable);
  if (missing.length) {
    loud(
      `ENGINES UNAVAILABLE${REQUIRE ? ' (LAYERSCOPE_REQUIRE_ENGINE=1: their tests will FAIL)' : ': their tests will be SKIPPED'}\n` +
        missing.map(([n, why]) => `${n}: ${why}`).join('\n'),
    );
  }

  const env = { ...process.env };
  env.LAYERSCOPE_TEST_ENGINES = JSON.stringify(found);
  env.LAYERSCOPE_TEST_ENGINES_UNAVAILABLE = JSON.stringify(unavailable);

  if (KEEP && names.length) {
    process.stderr.write(`\n[run] LAYERSCOPE_KEEP_ENGINE=1: engines stay up. To use them:\n`);
    process.stderr.write(`export LAYERSCOPE_TEST_ENGINES='${env.LAYERSCOPE_TEST_ENGINES}'\n`);
    for (const n of names) {
      const e = found[n];
      process.stderr.write(`#   ${n}: DOCKER_HOST=${e.host} ${e.client} ps -a      (data root ${e.dataRoot})\n`);
    }
    process.stderr.write(`# stop: kill ${names.map((n) => found[n].pid).join(' ')}; then umount what is left under ${tmpBase} and rm -rf it\n\n`);
  }

  let code = 0;
  // The Node lines other than the machine's are tested by test/node-matrix.mjs through this: engines and
  // fixtures are set up once (about a minute) and every runtime's tests run against them in turn.
  const nodes = (process.env.LAYERSCOPE_TEST_NODES || process.execPath).split(',').filter(Boolean);
  const results = [];
  for (const bin of files.length ? nodes : []) {
    if (exiting) break;
    const version = await run(bin, ['--version'], { timeoutMs: 30000 });
    const label = version.code === 0 ? `node ${version.stdout.toString().trim()} (${bin})` : bin;
    if (version.code !== 0) {
      loud(`${bin} does not run: ${version.stderr.trim()}`);
      results.push([label, 1, 0]);
      code = 1;
      continue;
    }
    const nodeArgs = ['--import', 'tsx', '--test', ...passFlags, ...files];
    log(`${label}: node ${nodeArgs.join(' ')}`);
    // A bare name (`node`) is found along PATH already; a path's directory goes first.
    const binDir = bin.includes('/') ? path.dirname(path.resolve(bin)) : null;
    const childEnv = { ...env, PATH: [binDir, env.PATH].filter(Boolean).join(':') };
    const tRun = Date.now();
    testChild = spawn(bin, nodeArgs, { cwd: ROOT, env: childEnv, stdio: 'inherit' });
    const c = await new Promise((resolve) => {
      testChild.on('exit', (c, s) => resolve(c ?? (s ? 1 : 1)));
      testChild.on('error', (err) => {
        log(`could not start the test runner: ${err}`);
        resolve(1);
      });
    });
    results.push([label, c, Date.now() - tRun]);
    if (c !== 0) code = c;
  }
  for (const [label, c, ms] of results) log(`${label}: ${files.length} files ${c === 0 ? 'passed' : `FAILED (exit ${c})`} in ${secs(ms)}`);
  if (REQUIRE && !found.docker20) {
    loud('LAYERSCOPE_REQUIRE_ENGINE=1 and the docker20 engine was not available: failing the run');
    if (code === 0) code = 1;
  }
  return code;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  log(`fatal: ${err.stack || err}`);
  exitCode = 1;
} finally {
  if (!exiting) {
    const tc = Date.now();
    await cleanup();
    if (tmpBase && !KEEP) log(`engines stopped and ${tmpBase} removed in ${secs(Date.now() - tc)}`);
  }
}
if (!exiting) process.exit(exitCode);
