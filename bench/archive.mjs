#!/usr/bin/env node
// Archive reading speed against GNU tar (the yardstick users have).
//
//   node --import tsx bench/archive.mjs [DIR]      (or plain node after `npm run build`: uses dist/, or
//   LAYERSCOPE_DIST=/path/to/compiled/dist node bench/archive.mjs)
//
// Makes, once, in DIR (default /tmp/ls-bench-archive): tree/ of random files (>= 1 GiB, many small files and a few
// large ones), big.tar (GNU tar, uncompressed), big.tar.gz, and save.tar (a docker-save-like archive holding
// big.tar as its one layer). Then prints wall times (best of 3, each run a fresh process) and ratios:
//   1. listing big.tar (GNU tar --format=pax: a PAX header per member, the costly case) and big-gnu.tar:
//      our seek reader                              vs  tar -tvf
//   2. listing big.tar.gz: our stream reader + zlib vs  gzip -dc big.tar.gz | tar -t
//   3. openArchive(save.tar) + readLayer           vs  tar -tvf big.tar (same layer, no hashing: seek mode)
//   4. the same with verify (sha256 of the layer)  (for information: sha256 bound)
import { spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function load(rel) {
  // LAYERSCOPE_DIST: a compiled tree elsewhere (e.g. `tsc --outDir /tmp/x/dist`), so as not to touch dist/.
  const dist = path.join(process.env.LAYERSCOPE_DIST || path.join(ROOT, 'dist'), rel + '.js');
  if (fs.existsSync(dist)) return import(dist);
  try {
    return await import(path.join(ROOT, 'src', rel + '.ts'));
  } catch (err) {
    console.error(`cannot load ${rel}: run \`npm run build\` first, or run this with \`node --import tsx\` (${err.message})`);
    process.exit(2);
  }
}

// ------------------------------------------------------------------------------------------------------------
// child modes: one measurement per process, so every run pays the same startup as `tar`
const mode = process.argv[2];
if (mode === '--list') {
  const { TarFileReader } = await load('core/sources/tar/index');
  const fd = fs.openSync(process.argv[3], 'r');
  let n = 0;
  let bytes = 0;
  for (const e of new TarFileReader(fd, { end: fs.fstatSync(fd).size }).entries()) {
    n++;
    bytes += e.size;
  }
  process.stdout.write(`${n} ${bytes}\n`);
  process.exit(0);
}
if (mode === '--list-gz') {
  const { readTarStream, decompress } = await load('core/sources/tar/index');
  let n = 0;
  for await (const e of readTarStream(decompress(fs.createReadStream(process.argv[3], { highWaterMark: 1 << 20 }), 'gzip'))) {
    void e;
    n++;
  }
  process.stdout.write(`${n}\n`);
  process.exit(0);
}
if (mode === '--open' || mode === '--open-verify') {
  const { openArchive } = await load('core/sources/archive/index');
  const s = await openArchive(process.argv[3], { verify: mode === '--open-verify' });
  let n = 0;
  const problems = [];
  for (const img of s.images) {
    for (const l of img.layers) {
      const c = await s.readLayer(img, l.index);
      n += c.entries.length;
      problems.push(...c.problems.filter((p) => p.severity === 'error'));
    }
  }
  await s.close();
  if (problems.length) {
    console.error(JSON.stringify(problems));
    process.exit(1);
  }
  process.stdout.write(`${n}\n`);
  process.exit(0);
}

// ------------------------------------------------------------------------------------------------------------
const DIR = process.argv[2] || '/tmp/ls-bench-archive';
fs.mkdirSync(DIR, { recursive: true });
const tree = path.join(DIR, 'tree');
const big = path.join(DIR, 'big.tar');
const bigGnu = path.join(DIR, 'big-gnu.tar');
const gz = path.join(DIR, 'big.tar.gz');
const save = path.join(DIR, 'save.tar');

function makeInputs() {
  if (!fs.existsSync(big)) {
    console.error(`generating ${tree} (random files, >= 1 GiB)...`);
    fs.rmSync(tree, { recursive: true, force: true });
    let total = 0;
    let files = 0;
    let seed = 1;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const block = crypto.randomBytes(8 << 20);
    const text = Buffer.from('layerscope bench line 0123456789 abcdefghijklmnopqrstuvwxyz\n'.repeat(200000));
    for (let d = 0; total < 1.1 * 1024 ** 3; d++) {
      const dir = path.join(tree, `d${Math.floor(d / 50)}`, `s${d % 50}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 40; i++) {
        // mostly small files (0-16 KiB), some medium (0-512 KiB), a few large (8-40 MiB): ~30k files per GiB
        const r = rnd();
        const size = r < 0.98 ? Math.floor(rnd() * 16384) : r < 0.999 ? Math.floor(rnd() * 524288) : Math.floor((8 + rnd() * 32) * 1048576);
        const src = rnd() < 0.5 ? block : text;
        const fd = fs.openSync(path.join(dir, `f${i}`), 'w');
        for (let off = 0; off < size; off += src.length) fs.writeSync(fd, src, 0, Math.min(src.length, size - off));
        fs.closeSync(fd);
        total += size;
        files++;
      }
    }
    console.error(`  ${files} files, ${(total / 1024 ** 3).toFixed(2)} GiB; tar...`);
    execFileSync('tar', ['-C', tree, '--format=pax', '-cf', big, '.']);
  }
  if (!fs.existsSync(bigGnu)) execFileSync('tar', ['-C', tree, '--format=gnu', '-cf', bigGnu, '.']);
  if (!fs.existsSync(gz)) {
    console.error('gzip -1 ...');
    execFileSync('sh', ['-c', `gzip -1 -c '${big}' > '${gz}.tmp' && mv '${gz}.tmp' '${gz}'`]);
  }
  if (!fs.existsSync(save)) {
    console.error('docker-save-like archive (sha256 of the layer)...');
    const h = crypto.createHash('sha256');
    const fd = fs.openSync(big, 'r');
    const buf = Buffer.allocUnsafe(8 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
    fs.closeSync(fd);
    const diffId = 'sha256:' + h.digest('hex');
    const w = path.join(DIR, 'save');
    fs.rmSync(w, { recursive: true, force: true });
    fs.mkdirSync(path.join(w, 'abc'), { recursive: true });
    fs.linkSync(big, path.join(w, 'abc', 'layer.tar'));
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'bench' }] });
    const cfgName = crypto.createHash('sha256').update(config).digest('hex') + '.json';
    fs.writeFileSync(path.join(w, cfgName), config);
    fs.writeFileSync(path.join(w, 'manifest.json'), JSON.stringify([{ Config: cfgName, RepoTags: ['bench:1'], Layers: ['abc/layer.tar'] }]));
    execFileSync('tar', ['-C', w, '-cf', save, cfgName, 'abc', 'manifest.json']);
    fs.rmSync(w, { recursive: true, force: true });
  }
}

/**
 * Best of 5 runs, wall and CPU (user+sys, from /usr/bin/time): on a shared, loaded machine the CPU time is the
 * steadier measure; both are printed.
 */
function time(cmd, args, discard = false) {
  let best = Infinity;
  let bestCpu = Infinity;
  let out = '';
  for (let i = 0; i < 5; i++) {
    const r = spawnSync('/usr/bin/time', ['-f', '@@%e %U %S', cmd, ...args], { stdio: ['ignore', discard ? 'ignore' : 'pipe', 'pipe'], maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    const m = /@@([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr.toString());
    if (!m) throw new Error(`no timing from /usr/bin/time: ${r.stderr}`);
    out = r.stdout?.toString() ?? '';
    best = Math.min(best, Number(m[1]) * 1000);
    bestCpu = Math.min(bestCpu, (Number(m[2]) + Number(m[3])) * 1000);
  }
  return { ms: best, cpu: bestCpu, out };
}

makeInputs();
const self = fileURLToPath(import.meta.url);
const node = [...process.execArgv, self];
const sizes = { big: fs.statSync(big).size, gz: fs.statSync(gz).size };
console.log(`inputs: big.tar ${(sizes.big / 1024 ** 3).toFixed(2)} GiB, big.tar.gz ${(sizes.gz / 1024 ** 3).toFixed(2)} GiB (${DIR})`);
// warm the page cache
time('cat', [big], true);
time('cat', [gz], true);

const rows = [];
const tarTv = time('tar', ['-tvf', big]);
const ours = time(process.execPath, [...node, '--list', big]);
const entries = tarTv.out.trim().split('\n').length;
if (Number(ours.out.split(' ')[0]) !== entries) throw new Error(`entry count differs: ours ${ours.out.trim()} vs tar ${entries}`);
rows.push(['list big.tar (PAX, seek)', ours, 'tar -tvf', tarTv]);
const tarTvGnu = time('tar', ['-tvf', bigGnu]);
const oursGnu = time(process.execPath, [...node, '--list', bigGnu]);
rows.push(['list big-gnu.tar (GNU, seek)', oursGnu, 'tar -tvf', tarTvGnu]);

const gzTar = time('sh', ['-c', `gzip -dc '${gz}' | tar -t`]);
const oursGz = time(process.execPath, [...node, '--list-gz', gz]);
if (Number(oursGz.out.trim()) !== entries) throw new Error(`gz entry count differs: ${oursGz.out.trim()} vs ${entries}`);
rows.push(['list big.tar.gz (stream)', oursGz, 'gzip -dc | tar -t', gzTar]);

const open = time(process.execPath, [...node, '--open', save]);
rows.push(['openArchive+readLayer save.tar', open, 'tar -tvf (layer)', tarTv]);
const openV = time(process.execPath, [...node, '--open-verify', save]);
const sha = time('sha256sum', [big]);
rows.push(['same, verify (sha256)', openV, 'sha256sum big.tar', sha]);

console.log(`entries: ${entries}`);
const f = (ms) => (ms / 1000).toFixed(3).padStart(7);
console.log(`${''.padEnd(32)} ${'wall s'.padStart(7)} ${'cpu s'.padStart(7)}   ${'reference'.padEnd(18)} ${'wall s'.padStart(7)} ${'cpu s'.padStart(7)}   ratio wall / cpu`);
for (const [what, a, ref, b] of rows) {
  console.log(`${what.padEnd(32)} ${f(a.ms)} ${f(a.cpu)}   ${ref.padEnd(18)} ${f(b.ms)} ${f(b.cpu)}   ${(a.ms / b.ms).toFixed(2)}x / ${(a.cpu / b.cpu).toFixed(2)}x`);
}
const loadavg = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`(load average during the run: ${loadavg}; ${(await import('node:os')).cpus().length} CPUs)`);
