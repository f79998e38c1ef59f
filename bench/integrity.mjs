#!/usr/bin/env node
// Throughput of verifyLayerIntegrity on a big layer vs sha256sum over the same bytes.
//
//   node bench/integrity.mjs [--size-mb 1024] [--dir /tmp/ls-bench-integrity] [--runs 3] [--src] [--small-files]
//                            [--both [--small-size-mb 100]] [--threads auto|threads|inline]
//
// --both measures both layouts in one run, one after the other (the mixed layout of --size-mb in <dir>/big, the
// small-files layout of --small-size-mb in <dir>/small) and prints a JSON line for each. --threads is passed to
// verifyLayerIntegrity (default auto: the body reader thread for layers this big).
//
// Builds (once; reused while --dir exists with the same size) a diff dir of about --size-mb MB: 3/4 of the
// bytes in 16 large files, 1/4 in 4 KiB..64 KiB small files (tens of thousands: per-file costs matter), then
// a real layer tar of it with GNU tar (--small-files: every byte in 512 B..4 KiB files, e.g. --size-mb 100
// for ~50k files: the per-file cost), and from that tar a tar-split.json.gz as moby writes it. The tar itself
// is deleted after the tar-split is made (verification never needs it; its sha256 is the diffID).
// Then, warm cache, best of --runs (times are compared; MB/s are over the tar's bytes for both, though sha256sum
// hashes only the file bodies, ~1-5% fewer bytes than the tar (~45% fewer with --small-files: every member has
// a PAX header), which favours the baseline):
//   baseline: cat <every file, in tar order> | sha256sum   (what a shell user would do to hash the bytes)
//   verify:   verifyLayerIntegrity (sha256 of the reassembled tar + CRC-64 per file + lstat/xattr checks + walk)
// and prints MB/s for both and the ratio (target: verify >= 80% of sha256sum's speed): `ratio` is best time over
// best time, `medianRatio` the median of the runs' own ratios (each run times both, back to back: on a shared
// host whose load comes and goes, the steadier figure), `cpuRatio` compares CPU time (sha256sum's pipeline
// processes; verify's process, without its getfattr child).
//
// Loads dist/ when built (npm run bench builds it), else the TypeScript sources through tsx.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const SIZE_MB = Number(opt('--size-mb', '1024'));
const SMALL_SIZE_MB = Number(opt('--small-size-mb', '100'));
const BASE_DIR = path.resolve(opt('--dir', '/tmp/ls-bench-integrity'));
const RUNS = Number(opt('--runs', '3'));
const BOTH = args.includes('--both');
const THREADS = opt('--threads', 'auto');
/** The layout being measured (set per layout by main). */
let DIR = BASE_DIR;
let SIZE = SIZE_MB;
let SMALL = args.includes('--small-files');

async function load() {
  const dist = path.join(ROOT, 'dist/core/verify/integrity/index.js');
  if (fs.existsSync(dist) && !args.includes('--src')) {
    return {
      ...(await import(pathToFileURL(dist).href)),
      ...(await import(pathToFileURL(path.join(ROOT, 'dist/core/verify/crc64.js')).href)),
      from: 'dist',
    };
  }
  const { register } = await import('tsx/esm/api');
  register();
  return {
    ...(await import(pathToFileURL(path.join(ROOT, 'src/core/verify/integrity/index.ts')).href)),
    ...(await import(pathToFileURL(path.join(ROOT, 'src/core/verify/crc64.ts')).href)),
    from: 'src (tsx)',
  };
}

const log = (m) => process.stderr.write(`[bench] ${m}\n`);

function build(mod) {
  const stamp = path.join(DIR, 'STAMP');
  const stampText = `${SIZE}${SMALL ? ' small' : ''}`;
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === stampText) {
    log(`reusing ${DIR}`);
    return JSON.parse(fs.readFileSync(path.join(DIR, 'meta.json'), 'utf8'));
  }
  fs.rmSync(DIR, { recursive: true, force: true });
  const diff = path.join(DIR, 'diff');
  fs.mkdirSync(diff, { recursive: true });
  const total = SIZE * 1024 * 1024;
  const bigBytes = SMALL ? 0 : Math.floor((total * 3) / 4);
  const buf = Buffer.allocUnsafe(8 << 20);
  let made = 0;
  const t = Date.now();
  for (let i = 0; i < (SMALL ? 0 : 16); i++) {
    fs.mkdirSync(path.join(diff, 'big'), { recursive: true });
    const fd = fs.openSync(path.join(diff, 'big', `blob${String(i).padStart(2, '0')}.bin`), 'w');
    let left = Math.floor(bigBytes / 16) + i * 7; // odd sizes: body padding is exercised
    while (left > 0) {
      const n = Math.min(left, buf.length);
      randomFillSync(buf, 0, n);
      fs.writeSync(fd, buf, 0, n);
      left -= n;
      made += n;
    }
    fs.closeSync(fd);
  }
  let k = 0;
  while (made < total) {
    const d = path.join(diff, 'small', `d${String(Math.floor(k / 500)).padStart(3, '0')}`);
    if (k % 500 === 0) fs.mkdirSync(d, { recursive: true });
    const n = SMALL ? 512 + ((k * 7919) % 3584) : 4096 + ((k * 7919) % 61440);
    randomFillSync(buf, 0, n);
    fs.writeFileSync(path.join(d, `f${k}`), buf.subarray(0, n));
    made += n;
    k++;
  }
  log(`diff dir: ${(made / 1e6).toFixed(0)} MB in ${(SMALL ? 0 : 16) + k} files, made in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const tarPath = path.join(DIR, 'layer.tar');
  execFileSync('tar', ['-c', '--format=pax', '--numeric-owner', '--sort=name', '-f', tarPath, '-C', diff, '.']);
  const meta = tarSplitFromTar(mod, tarPath, path.join(DIR, 'tar-split.json.gz'));
  fs.rmSync(tarPath);
  fs.writeFileSync(path.join(DIR, 'meta.json'), JSON.stringify(meta));
  fs.writeFileSync(stamp, stampText);
  return meta;
}

/** Stream a tar into tar-split JSON lines (header segments + CRC-64 file entries); returns diffId and file order. */
function tarSplitFromTar(mod, tarPath, outPath) {
  const fd = fs.openSync(tarPath, 'r');
  const size = fs.fstatSync(fd).size;
  const sha = createHash('sha256');
  const lines = [];
  const files = [];
  const block = Buffer.alloc(512);
  const body = Buffer.allocUnsafe(8 << 20);
  let off = 0;
  let segStart = 0;
  let pos = 0;
  let paxPath = null;
  const readAt = (b, len, at) => {
    let got = 0;
    while (got < len) got += fs.readSync(fd, b, got, len - got, at + got);
  };
  const seg = (from, to) => {
    const b = Buffer.alloc(to - from);
    if (b.length) readAt(b, b.length, from);
    sha.update(b);
    lines.push(JSON.stringify({ type: 2, payload: b.toString('base64'), position: pos++ }));
  };
  for (;;) {
    readAt(block, 512, off);
    if (block.every((x) => x === 0)) break;
    const type = block[156] === 0 ? '0' : String.fromCharCode(block[156]);
    const sz = parseInt(block.subarray(124, 136).toString('latin1').replace(/[\0 ]/g, '') || '0', 8);
    off += 512;
    if (type === 'x') {
      const data = Buffer.alloc(sz);
      readAt(data, sz, off);
      const m = /\d+ path=([^\n]*)\n/.exec(data.toString('latin1'));
      paxPath = m ? m[1] : null;
      off += Math.ceil(sz / 512) * 512;
      continue;
    }
    seg(segStart, off);
    const raw = block.subarray(0, 100);
    let name = paxPath ?? raw.subarray(0, raw.indexOf(0) < 0 ? 100 : raw.indexOf(0)).toString('latin1');
    const prefix = block.subarray(345, 500);
    if (!paxPath && block.subarray(257, 263).toString('latin1') === 'ustar\0' && prefix[0] !== 0) {
      name = prefix.subarray(0, prefix.indexOf(0) < 0 ? 155 : prefix.indexOf(0)).toString('latin1') + '/' + name;
    }
    paxPath = null;
    const bodyLen = type === '0' ? sz : 0;
    const crc = new mod.Crc64();
    for (let done = 0; done < bodyLen; ) {
      const n = Math.min(body.length, bodyLen - done);
      readAt(body, n, off + done);
      crc.update(body.subarray(0, n));
      sha.update(body.subarray(0, n));
      done += n;
    }
    const e = { type: 1, name: Buffer.from(name, 'latin1').toString('utf8'), payload: bodyLen ? crc.digest().toString('base64') : null, position: pos++ };
    if (sz > 0) e.size = sz;
    lines.push(JSON.stringify(e));
    if (bodyLen) files.push(name);
    off += bodyLen;
    segStart = off;
    off += (512 - (bodyLen % 512)) % 512;
  }
  seg(segStart, size);
  fs.closeSync(fd);
  fs.writeFileSync(outPath, zlib.gzipSync(lines.join('\n') + '\n'));
  const diffId = 'sha256:' + sha.digest('hex');
  fs.writeFileSync(path.join(DIR, 'files.lst'), files.map((f) => path.join(DIR, 'diff', f)).join('\0') + '\0');
  return { diffId, tarBytes: size, files: files.length };
}

function runBaseline() {
  // cat every file in tar order into sha256sum (xargs keeps argv short).
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    // bash's `times` prints the CPU time of the pipeline's processes (second line: children user, sys).
    const p = spawn('bash', ['-c', `xargs -0 cat < '${path.join(DIR, 'files.lst')}' | sha256sum; times`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`baseline exit ${code}`));
      const lines = out.trim().split('\n');
      const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
      const cpu = m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : NaN;
      resolve({ s: Number(process.hrtime.bigint() - t) / 1e9, cpu, out: lines[0] });
    });
  });
}

async function main() {
  const mod = await load();
  log(`code from ${mod.from}, threads: ${THREADS}`);
  if (!BOTH) return measure(mod);
  for (const [dir, size, small] of [[path.join(BASE_DIR, 'small'), SMALL_SIZE_MB, true], [path.join(BASE_DIR, 'big'), SIZE_MB, false]]) {
    DIR = dir;
    SIZE = size;
    SMALL = small;
    log(`--- ${small ? 'small files' : 'mixed (big files)'}: ${size} MB in ${dir}`);
    await measure(mod);
  }
}

async function measure(mod) {
  const meta = build(mod);
  const bytes = meta.tarBytes;
  const mb = (s) => (bytes / 1e6 / s).toFixed(0);
  log(`layer: ${(bytes / 1e6).toFixed(0)} MB tar, ${meta.files} files with content, diffId ${meta.diffId.slice(0, 19)}...`);
  // Wall time is what a user waits; CPU time (all threads / all pipeline processes) is steadier on a busy host.
  const best = { base: Infinity, verify: Infinity, baseCpu: Infinity, verifyCpu: Infinity };
  const ratios = [];
  for (let r = 0; r < RUNS; r++) {
    const b = await runBaseline();
    best.base = Math.min(best.base, b.s);
    best.baseCpu = Math.min(best.baseCpu, b.cpu);
    const t = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const res = await mod.verifyLayerIntegrity({ tarSplitPath: path.join(DIR, 'tar-split.json.gz'), diffDir: path.join(DIR, 'diff'), diffId: meta.diffId, threads: THREADS });
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    if (!res.ok) throw new Error(`verification failed: ${JSON.stringify(res.findings.slice(0, 5))}`);
    best.verify = Math.min(best.verify, s);
    best.verifyCpu = Math.min(best.verifyCpu, cpu);
    ratios.push(b.s / s);
    log(`run ${r + 1}: sha256sum ${b.s.toFixed(2)} s wall / ${b.cpu.toFixed(2)} s cpu (${mb(b.s)} MB/s), verify ${s.toFixed(2)} s wall / ${cpu.toFixed(2)} s cpu (${mb(s)} MB/s)`);
  }
  const ratio = best.base / best.verify;
  const cpuRatio = best.baseCpu / best.verifyCpu;
  const sorted = [...ratios].sort((a, b) => a - b);
  const medianRatio = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  console.log(JSON.stringify({
    layout: SMALL ? 'small-files' : 'mixed',
    threads: THREADS,
    bytes,
    files: meta.files,
    sha256sumSeconds: +best.base.toFixed(3),
    sha256sumMBps: +mb(best.base),
    verifySeconds: +best.verify.toFixed(3),
    verifyMBps: +mb(best.verify),
    ratio: +ratio.toFixed(2),
    medianRatio: +medianRatio.toFixed(2),
    runRatios: ratios.map((r) => +r.toFixed(2)),
    sha256sumCpuSeconds: +best.baseCpu.toFixed(3),
    verifyCpuSeconds: +best.verifyCpu.toFixed(3),
    cpuRatio: +cpuRatio.toFixed(2),
    target: 0.8,
    pass: ratio >= 0.8,
  }));
  log(`data kept in ${DIR} for the next run (rm -rf it to rebuild)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
