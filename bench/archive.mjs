#!/usr/bin/env node
// Archive reading speed against GNU tar (the yardstick users have).
//
//   node --import tsx bench/archive.mjs [DIR]      (or plain node after `npm run build`: uses dist/)
//
// Makes, once, in DIR (default /tmp/ls-bench-archive): tree/ of random files (>= 1 GiB, many small files and a few
// large ones), big.tar (GNU tar, uncompressed), big.tar.gz, and save.tar (a docker-save-like archive holding
// big.tar as its one layer). Then prints wall times (best of 3, each run a fresh process) and ratios:
//   1. listing big.tar: our seek reader            vs  tar -tvf big.tar
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
  const dist = path.join(ROOT, 'dist', rel + '.js');
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
        // mostly small files (0-32 KiB), some medium (1 MiB), a few large (8-40 MiB)
        const r = rnd();
        const size = r < 0.9 ? Math.floor(rnd() * 32768) : r < 0.995 ? Math.floor(rnd() * 1048576) : Math.floor((8 + rnd() * 32) * 1048576);
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

function time(cmd, args) {
  let best = Infinity;
  let out = '';
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    out = r.stdout.toString();
    best = Math.min(best, ms);
  }
  return { ms: best, out };
}

makeInputs();
const self = fileURLToPath(import.meta.url);
const node = [...process.execArgv, self];
const sizes = { big: fs.statSync(big).size, gz: fs.statSync(gz).size };
console.log(`inputs: big.tar ${(sizes.big / 1024 ** 3).toFixed(2)} GiB, big.tar.gz ${(sizes.gz / 1024 ** 3).toFixed(2)} GiB (${DIR})`);
// warm the page cache
time('cat', [big]);
time('cat', [gz]);

const rows = [];
const tarTv = time('tar', ['-tvf', big]);
const ours = time(process.execPath, [...node, '--list', big]);
const entries = tarTv.out.trim().split('\n').length;
if (Number(ours.out.split(' ')[0]) !== entries) throw new Error(`entry count differs: ours ${ours.out.trim()} vs tar ${entries}`);
rows.push(['list big.tar (seek)', ours.ms, 'tar -tvf', tarTv.ms]);

const gzTar = time('sh', ['-c', `gzip -dc '${gz}' | tar -t`]);
const oursGz = time(process.execPath, [...node, '--list-gz', gz]);
if (Number(oursGz.out.trim()) !== entries) throw new Error(`gz entry count differs: ${oursGz.out.trim()} vs ${entries}`);
rows.push(['list big.tar.gz (stream)', oursGz.ms, 'gzip -dc | tar -t', gzTar.ms]);

const open = time(process.execPath, [...node, '--open', save]);
rows.push(['openArchive+readLayer save.tar', open.ms, 'tar -tvf (layer)', tarTv.ms]);
const openV = time(process.execPath, [...node, '--open-verify', save]);
const sha = time('sha256sum', [big]);
rows.push(['same, verify (sha256)', openV.ms, 'sha256sum big.tar', sha.ms]);

console.log(`entries: ${entries}`);
for (const [what, a, ref, b] of rows) {
  console.log(`${what.padEnd(34)} ${(a / 1000).toFixed(3).padStart(8)} s   ${ref.padEnd(20)} ${(b / 1000).toFixed(3).padStart(8)} s   ratio ${(a / b).toFixed(2)}x`);
}
