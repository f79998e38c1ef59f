/**
 * The output writer (src/core/output) and every command that writes through it, against hostile destinations:
 * outputs overlapping the evidence (ancestor, equal, symlink to it, below it through a symlinked parent, bind
 * mounts either way), names planted in the output (files, symlinks), `-o /` (dry: refused before anything is
 * written), existing directories (kept exactly as they were), --junit at a symlink, --config at /dev/zero or a
 * FIFO, and export of an archive member claiming a terabyte. Each case checks the exit code, the message, and
 * that the evidence and everything outside the output hash the same before and after (test/support/tree.ts).
 *
 * Evidence here: an OCI layout directory (the skopeo fixture, unpacked: a directory source like a data root)
 * and hand-made archives. Engine-backed data-root cases are in outputs.engine.test.ts.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { treeManifest, diffManifests, hashTree } from '../support/tree.js';
import { tar as rawTar, paxRecord } from '../sources/tar/helpers.js';
import { readTarStream } from '../../src/core/sources/tar/index.js';
import { EXIT } from '../../src/cli/command.js';
import { ciCommand } from '../../src/cli/commands/ci.js';
import { extractCommand } from '../../src/cli/commands/extract.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { OutputDir, OutputError, OutputFile, InputFileError, readInputFile, checkOutput } from '../../src/core/output/index.js';
import { UsageError } from '../../src/core/model/errors.js';
import { runCmd } from './helpers.js';

const FIX = fileURLToPath(new URL('../fixtures/archives/', import.meta.url));
const ROOT_USER = process.getuid?.() === 0;

interface Case {
  tmp: string;
  /** The evidence: an OCI layout dir (image lsa-tiny:1: /etc/passwd, /data/{f,hard,lnk,one,sub/s,sub/two}). */
  ev: string;
  cleanup(): void;
}

function newCase(t: TestContext): Case {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-out-'));
  const ev = path.join(tmp, 'evidence');
  fs.mkdirSync(ev);
  execFileSync('tar', ['-xf', path.join(FIX, 'skopeo-oci.tar'), '-C', ev]);
  const c = { tmp, ev, cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
  t.after(() => c.cleanup());
  return c;
}

/** The whole temp tree, minus the output (its own lines and everything below it), and the evidence alone. */
async function snapshot(c: Case, output?: string): Promise<{ outside: string[]; evidence: string }> {
  const rel = output ? path.relative(c.tmp, output) : null;
  const quoted = rel ? JSON.stringify(Buffer.from(rel).toString('latin1')) : null;
  const lines = (await treeManifest(c.tmp)).filter((l) => {
    if (!quoted) return true;
    const p = JSON.parse(l.slice(0, l.indexOf('" ') + 1)) as string;
    return !(p === rel || p.startsWith(rel + '/'));
  });
  return { outside: lines, evidence: await hashTree(c.ev) };
}

async function assertUnchanged(c: Case, before: { outside: string[]; evidence: string }, output?: string): Promise<void> {
  const after = await snapshot(c, output);
  assert.equal(after.evidence, before.evidence, 'the evidence changed');
  assert.equal(diffManifests(before.outside, after.outside), '', 'something outside the output changed');
}

const x = (...argv: string[]) => runCmd(extractCommand, argv);

// ------------------------------------------------------------------------------------------------------------
// extract -o DIR overlapping the evidence
// ------------------------------------------------------------------------------------------------------------

test('extract: an output that overlaps the evidence is refused (exit 2), and nothing anywhere changes', async (t) => {
  const c = newCase(t);
  fs.symlinkSync(c.ev, path.join(c.tmp, 'to-evidence'));
  fs.symlinkSync(path.join(c.ev, 'blobs'), path.join(c.tmp, 'to-blobs'));
  const before = await snapshot(c);
  const cases: [string, string, RegExp][] = [
    ['ancestor: EVIDENCE/..', c.ev + '/..', /the evidence .* is inside it/],
    ['ancestor: the temp dir', c.tmp, /the evidence .* is inside it/],
    ['equal to the evidence', c.ev, /it is the evidence/],
    ['equal, with a trailing /.', c.ev + '/.', /it is the evidence/],
    ['a symlink to the evidence', path.join(c.tmp, 'to-evidence'), /it is the evidence/],
    ['below a symlink to the evidence', path.join(c.tmp, 'to-evidence', 'x'), /inside the evidence/],
    ['below the evidence through a symlinked parent', path.join(c.tmp, 'to-blobs', 'new', 'deeper'), /inside the evidence/],
    ['inside the evidence, new', path.join(c.ev, 'out'), /inside the evidence/],
    ['inside the evidence, an existing dir', path.join(c.ev, 'blobs', 'sha256'), /inside the evidence/],
    // (String paths: path.join would fold the '..' away lexically, which is the very mistake checked here.)
    ['.. through a symlink (kernel, not lexical, resolution)', `${c.tmp}/to-blobs/..`, /it is the evidence/],
  ];
  for (const [label, out, re] of cases) {
    const r = await x(c.ev, '/data', '-o', out);
    assert.equal(r.code, EXIT.usage, `${label}: ${r.stderr}`);
    assert.match(r.stderr, re, label);
    assert.match(r.stderr, /refusing to write/, label);
  }
  await assertUnchanged(c, before);
  // The same output relative to the working directory.
  const cwd = process.cwd();
  process.chdir(c.ev);
  try {
    const r = await x('.', '/data', '-o', '..');
    assert.equal(r.code, EXIT.usage, r.stderr);
    const r2 = await x('.', '/data', '-o', 'sub/dir');
    assert.equal(r2.code, EXIT.usage, r2.stderr);
  } finally {
    process.chdir(cwd);
  }
  await assertUnchanged(c, before);
});

test('extract -o /: refused before anything is written (the evidence is inside it)', async (t) => {
  const c = newCase(t);
  const before = await snapshot(c);
  const marker = '/data/sub/two';
  const existed = fs.existsSync(marker);
  const r = await x(c.ev, '/data', '-o', '/');
  assert.equal(r.code, EXIT.usage, r.stderr);
  assert.match(r.stderr, /refusing to write \/: the evidence .* is inside it/);
  assert.equal(fs.existsSync(marker), existed, 'nothing extracted into /');
  await assertUnchanged(c, before);
});

test('extract into an existing tree (a fake root): existing dirs keep mode, owner and mtime; nothing existing changes', async (t) => {
  const c = newCase(t);
  const root = path.join(c.tmp, 'fakeroot');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(root, 'data', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc', 'hostname'), 'host\n');
  fs.chmodSync(path.join(root, 'etc'), 0o750);
  fs.chmodSync(path.join(root, 'data'), 0o701);
  fs.chmodSync(path.join(root, 'data', 'sub'), 0o2770);
  if (ROOT_USER) {
    fs.chownSync(path.join(root, 'etc'), 1234, 4321);
    fs.chownSync(path.join(root, 'data', 'sub'), 99, 98);
  }
  // Nanosecond mtimes that a double cannot carry: they must come back exactly.
  for (const [p, ns] of [['etc', '1000000000.123456789'], ['data', '1100000000.987654321'], ['data/sub', '1200000000.000000001'], ['', '1300000000.5']] as const) {
    execFileSync('touch', ['-h', '-d', `@${ns}`, path.join(root, p)]);
  }
  const stats = (p: string) => {
    const s = fs.lstatSync(path.join(root, p), { bigint: true });
    return { mode: s.mode, uid: s.uid, gid: s.gid, mtimeNs: s.mtimeNs };
  };
  const kept = ['', 'etc', 'data', 'data/sub'].map((p) => [p, stats(p)] as const);
  const existing = (await treeManifest(root)).filter((l) => !l.startsWith('"" '));
  const before = await snapshot(c, root);
  const r = await x(c.ev, '/etc', '/data', '-o', root);
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.match(r.stdout, /3 dirs existed already: used as they were/);
  for (const [p, s] of kept) assert.deepEqual(stats(p), s, `${p || 'DIR'}: mode, owner and mtime as they were`);
  // The new entries are there, with the image's attributes.
  assert.equal(fs.readFileSync(path.join(root, 'data/sub/two'), 'utf8'), 'two\n');
  assert.equal(fs.readlinkSync(path.join(root, 'data/lnk')), 'f');
  assert.equal(fs.statSync(path.join(root, 'data/f')).ino, fs.statSync(path.join(root, 'data/hard')).ino);
  assert.equal(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8'), 'host\n');
  // Every line of what existed is still there, byte for byte (and the parent of the fake root is untouched).
  const after = await treeManifest(root);
  for (const l of existing) assert.ok(after.includes(l), `changed: ${l}`);
  await assertUnchanged(c, before, root);
});

test('extract: the parent of a new output, and every dir it existed in, keep their mtime exactly', async (t) => {
  const c = newCase(t);
  const parent = path.join(c.tmp, 'cases');
  fs.mkdirSync(parent);
  execFileSync('touch', ['-d', '@1500000000.111111111', parent]);
  const before = await snapshot(c, path.join(parent, 'new'));
  const r = await x(c.ev, '/data', '-o', path.join(parent, 'new', 'deeper'));
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.equal(fs.lstatSync(parent, { bigint: true }).mtimeNs, 1500000000111111111n);
  await assertUnchanged(c, before, path.join(parent, 'new'));
});

test('extract: names planted in the output (file, symlink as file, symlink as dir, symlinked DIR) are refused, never followed or replaced', async (t) => {
  const c = newCase(t);
  const outside = path.join(c.tmp, 'outside');
  fs.mkdirSync(outside);
  const passwd = path.join(c.tmp, 'passwd');
  fs.writeFileSync(passwd, 'root:x:0:0::/root:/bin/sh\n');
  fs.chmodSync(passwd, 0o644);
  const plant = (name: string, fn: (out: string) => void) => {
    const out = path.join(c.tmp, name);
    fs.mkdirSync(path.join(out, 'data'), { recursive: true });
    fn(out);
    return out;
  };
  const file = plant('o-file', (o) => fs.writeFileSync(path.join(o, 'data/one'), 'mine'));
  const linkFile = plant('o-link-file', (o) => fs.symlinkSync(passwd, path.join(o, 'data/one')));
  const linkDir = plant('o-link-dir', (o) => fs.symlinkSync(outside, path.join(o, 'data/sub')));
  const linkParent = path.join(c.tmp, 'o-link-parent');
  fs.mkdirSync(linkParent);
  fs.symlinkSync(outside, path.join(linkParent, 'data'));
  const dangling = plant('o-dangling', (o) => fs.symlinkSync(path.join(c.tmp, 'nowhere'), path.join(o, 'data/f')));
  fs.symlinkSync(outside, path.join(c.tmp, 'o-is-link'));
  const before = await snapshot(c);
  const expect: [string, string[], RegExp][] = [
    [file, ['/data'], /data\/one: it exists already \(a regular file\); nothing is overwritten/],
    [linkFile, ['/data'], /data\/one: it exists in the output as a symlink; never followed/],
    [linkDir, ['/data'], /data\/sub: it exists in the output as a symlink/],
    [linkDir, ['/data/sub/two'], /data\/sub: a parent in the output is a symlink; refusing to write through it/],
    [linkParent, ['/data/f'], /data: a parent in the output is a symlink/],
    [dangling, ['/data'], /data\/f: it exists in the output as a symlink/],
    [path.join(c.tmp, 'o-is-link'), ['/data'], /it is a symlink \(to .*\); outputs are never written through symlinks/],
  ];
  for (const [out, paths, re] of expect) {
    const r = await x(c.ev, ...paths, '-o', out);
    assert.equal(r.code, EXIT.usage, `${out}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  assert.equal(fs.readFileSync(passwd, 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
  assert.equal(fs.readFileSync(path.join(file, 'data/one'), 'utf8'), 'mine');
  assert.deepEqual(fs.readdirSync(outside), []);
  // What the refused runs left: only new entries inside their own output dirs, nothing else moved.
  const after = await snapshot(c);
  assert.equal(after.evidence, before.evidence);
  const changed = diffManifests(before.outside, after.outside, 1000)
    .split('\n')
    .filter(Boolean)
    .filter((l) => !/^\+ "o-[a-z-]+\/data\//.test(l));
  assert.deepEqual(changed, [], 'only new names inside the output dirs');
  // A symlink among DIR's *parents* is the user's business (resolved once, then held by fd): allowed.
  const r = await x(c.ev, '/data/one', '-o', path.join(c.tmp, 'o-is-link', 'new'));
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.equal(fs.readFileSync(path.join(outside, 'new/data/one'), 'utf8'), 'one\n');
});

test('extract -o -: a usage error (a directory cannot go to stdout)', async (t) => {
  const c = newCase(t);
  const r = await x(c.ev, '/data', '-o', '-');
  assert.equal(r.code, EXIT.usage);
  assert.match(r.stderr, /-o - \(stdout\) is not possible/);
});

// ------------------------------------------------------------------------------------------------------------
// bind mounts: the same directory under another path (root only)
// ------------------------------------------------------------------------------------------------------------

function canMount(): boolean {
  if (!ROOT_USER) return false;
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-out-m-'));
  try {
    fs.mkdirSync(path.join(d, 'a'));
    fs.mkdirSync(path.join(d, 'b'));
    if (spawnSync('mount', ['--bind', path.join(d, 'a'), path.join(d, 'b')]).status !== 0) return false;
    spawnSync('umount', [path.join(d, 'b')]);
    return true;
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
}

test('bind mounts: of the evidence, of a dir inside it, of its parent, and one below the output showing it', { skip: canMount() ? false : 'needs root and mount --bind' }, async (t) => {
  const c = newCase(t);
  const mounts: string[] = [];
  const bind = (src: string, dst: string) => {
    fs.mkdirSync(dst, { recursive: true });
    execFileSync('mount', ['--bind', src, dst]);
    mounts.unshift(dst);
  };
  try {
    await bindCases(c, bind);
  } finally {
    // Before the temp dir is removed (a recursive rm through a bind mount would empty its source).
    for (const m of mounts) execFileSync('umount', [m]);
  }
});

async function bindCases(c: Case, bind: (src: string, dst: string) => void): Promise<void> {
  const parent = path.join(c.tmp, 'p');
  fs.mkdirSync(parent);
  fs.renameSync(c.ev, path.join(parent, 'evidence'));
  c.ev = path.join(parent, 'evidence');
  bind(c.ev, path.join(c.tmp, 'b-ev'));
  bind(path.join(c.ev, 'blobs'), path.join(c.tmp, 'b-blobs'));
  bind(parent, path.join(c.tmp, 'b-parent'));
  const holder = path.join(c.tmp, 'holder');
  bind(c.ev, path.join(holder, 'inner', 'm'));
  const before = await hashTree(c.ev);
  const cases: [string, RegExp][] = [
    [path.join(c.tmp, 'b-ev'), /the evidence|inside the evidence|it is the evidence/],
    [path.join(c.tmp, 'b-ev', 'new'), /inside the evidence .*same directory|inside the evidence/],
    [path.join(c.tmp, 'b-blobs', 'new'), /inside the evidence.*bind mount/],
    [path.join(c.tmp, 'b-blobs'), /inside the evidence.*bind mount/],
    [path.join(c.tmp, 'b-parent'), /the evidence .* is inside it/],
    [holder, /the evidence .* is inside it .*the mount at/],
  ];
  for (const [out, re] of cases) {
    const r = await x(c.ev, '/data', '-o', out);
    assert.equal(r.code, EXIT.usage, `${out}: ${r.stderr}`);
    assert.match(r.stderr, re, out);
    const f = await runCmd(exportCommand, [c.ev, '-o', path.join(out, 'x.tar')]);
    if (out !== path.join(c.tmp, 'b-parent') && out !== holder) assert.equal(f.code, EXIT.usage, `export into ${out}: ${f.stderr}`);
  }
  assert.equal(await hashTree(c.ev), before);
  assert.ok(!fs.existsSync(path.join(c.ev, 'new')) && !fs.existsSync(path.join(c.ev, 'blobs', 'new')));
}

// ------------------------------------------------------------------------------------------------------------
// export -o FILE and ci --junit FILE
// ------------------------------------------------------------------------------------------------------------

test('export -o FILE and ci --junit FILE: inside the evidence, existing, symlinked (to a passwd-like file) are refused', async (t) => {
  const c = newCase(t);
  const passwd = path.join(c.tmp, 'passwd');
  fs.writeFileSync(passwd, 'root:x:0:0::/root:/bin/sh\n');
  const link = path.join(c.tmp, 'report.xml');
  fs.symlinkSync(passwd, link);
  const dangling = path.join(c.tmp, 'dangling.xml');
  fs.symlinkSync(path.join(c.tmp, 'would-be-created'), dangling);
  const existing = path.join(c.tmp, 'existing.tar');
  fs.writeFileSync(existing, 'keep');
  fs.symlinkSync(c.ev, path.join(c.tmp, 'to-evidence'));
  const before = await snapshot(c);
  const outs: [string, RegExp][] = [
    [link, /it exists \(a symlink to ".*passwd"\)/],
    [dangling, /symlink/],
    [existing, /it exists \(a regular file\)/],
    [path.join(c.ev, 'x.out'), /inside the evidence/],
    [path.join(c.tmp, 'to-evidence', 'x.out'), /inside the evidence/],
    [path.join(c.ev, 'index.json'), /inside the evidence/],
    [path.join(c.tmp, 'no-such-dir', 'x.out'), /its directory .*no-such-dir does not exist/],
    [c.tmp, /the evidence .* is inside it|it exists \(a directory\)/],
  ];
  for (const [out, re] of outs) {
    const e = await runCmd(exportCommand, [c.ev, '-o', out]);
    assert.equal(e.code, EXIT.usage, `export -o ${out}: ${e.stderr}`);
    assert.match(e.stderr, re, `export -o ${out}`);
    const j = await runCmd(ciCommand, [c.ev, '--lowest-efficiency', '0', '--junit', out]);
    assert.equal(j.code, EXIT.usage, `ci --junit ${out}: ${j.stderr}`);
    assert.match(j.stderr, re, `ci --junit ${out}`);
  }
  assert.equal(fs.readFileSync(passwd, 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
  assert.equal(fs.readFileSync(existing, 'utf8'), 'keep');
  await assertUnchanged(c, before);
  assert.equal((await runCmd(ciCommand, [c.ev, '--junit', '-'])).code, EXIT.usage);
  // An archive source: the archive itself is the evidence.
  const arch = path.join(c.tmp, 'a.tar');
  fs.copyFileSync(path.join(FIX, 'docker26.tar'), arch);
  const self = await runCmd(exportCommand, [arch, '--image', 'lsa-tiny:1', '-o', arch]);
  assert.equal(self.code, EXIT.usage);
  assert.match(self.stderr, /it is the evidence/);
});

test('export -o FILE and ci --junit FILE: written when allowed, the directory keeps its mtime, stdout stays allowed', async (t) => {
  const c = newCase(t);
  const dir = path.join(c.tmp, 'reports');
  fs.mkdirSync(dir);
  execFileSync('touch', ['-d', '@1600000000.000000123', dir]);
  const before = await snapshot(c, path.join(dir, 'rootfs.tar'));
  const e = await runCmd(exportCommand, [c.ev, '-o', path.join(dir, 'rootfs.tar')]);
  assert.equal(e.code, EXIT.ok, e.stderr);
  const names: string[] = [];
  for await (const m of readTarStream([fs.readFileSync(path.join(dir, 'rootfs.tar'))], { label: 't' })) names.push(m.name);
  assert.ok(names.includes('data/sub/two'));
  assert.equal(fs.lstatSync(dir, { bigint: true }).mtimeNs, 1600000000000000123n);
  await assertUnchanged(c, before, path.join(dir, 'rootfs.tar'));
  const j = await runCmd(ciCommand, [c.ev, '--lowest-efficiency', '0', '--highest-user-wasted-percent', 'disabled', '--junit', path.join(dir, 'ci.xml')]);
  assert.equal(j.code, EXIT.ok, j.stderr);
  assert.match(fs.readFileSync(path.join(dir, 'ci.xml'), 'utf8'), /<testsuites name="layerscope ci"/);
  assert.equal(fs.lstatSync(dir, { bigint: true }).mtimeNs, 1600000000000000123n);
  const s = await runCmd(exportCommand, [c.ev, '-o', '-']);
  assert.equal(s.code, EXIT.ok, s.stderr);
  assert.ok(s.stdoutBuffer.length > 1024);
});

// ------------------------------------------------------------------------------------------------------------
// ci --config: only a small regular file
// ------------------------------------------------------------------------------------------------------------

test('ci --config: /dev/zero, a FIFO, a directory, a huge file are refused at once (exit 2); the implicit .dive-ci too', async (t) => {
  const c = newCase(t);
  const fifo = path.join(c.tmp, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const big = path.join(c.tmp, 'big.yaml');
  fs.writeFileSync(big, 'rules:\n' + ' '.repeat(1 << 20));
  const cases: [string, RegExp][] = [
    ['/dev/zero', /--config \/dev\/zero: not a regular file \(a character device\)/],
    [fifo, /not a regular file \(a FIFO\)/],
    [c.tmp, /not a regular file \(a directory\)/],
    [big, /more than the 1048576 bytes/],
    [path.join(c.tmp, 'missing.yaml'), /ENOENT/],
  ];
  for (const [cfg, re] of cases) {
    const t0 = Date.now();
    const r = await runCmd(ciCommand, [c.ev, '--config', cfg]);
    assert.equal(r.code, EXIT.usage, `${cfg}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.ok(Date.now() - t0 < 5000, `${cfg}: answered at once`);
  }
  // Found in the working dir: a FIFO named .dive-ci is an error too (never waited on, never skipped silently).
  const cwd = process.cwd();
  const wd = path.join(c.tmp, 'wd');
  fs.mkdirSync(wd);
  execFileSync('mkfifo', [path.join(wd, '.dive-ci')]);
  process.chdir(wd);
  try {
    const r = await runCmd(ciCommand, [c.ev]);
    assert.equal(r.code, EXIT.usage, r.stderr);
    assert.match(r.stderr, /rules file .*\.dive-ci: not a regular file \(a FIFO\)/);
  } finally {
    process.chdir(cwd);
  }
  // The reader itself: a bound of N bytes reads N, refuses N + 1.
  const f = path.join(c.tmp, 'ten');
  fs.writeFileSync(f, '0123456789');
  assert.equal(readInputFile(f, { max: 10, label: 'x' }).toString(), '0123456789');
  assert.throws(() => readInputFile(f, { max: 9, label: 'x' }), (e: unknown) => e instanceof InputFileError && e.reason === 'input.too-large');
  const follow = path.join(c.tmp, 'cfg-link');
  fs.symlinkSync(f, follow);
  assert.equal(readInputFile(follow, { max: 10, label: 'x' }).length, 10, 'a symlink the user names is followed (not evidence)');
});

// ------------------------------------------------------------------------------------------------------------
// export: sizes claimed by the evidence are bounded by what it stores
// ------------------------------------------------------------------------------------------------------------

/** A docker-save archive with one layer (diffIDs right). */
function saveArchive(layer: Buffer): Buffer {
  const diffId = 'sha256:' + createHash('sha256').update(layer).digest('hex');
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'crafted' }] }));
  const cfg = createHash('sha256').update(config).digest('hex') + '.json';
  return rawTar([
    { name: 'l0/layer.tar', body: layer },
    { name: cfg, body: config },
    { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: cfg, RepoTags: ['crafted:1'], Layers: ['l0/layer.tar'] }])) },
  ]);
}

test('export: a member claiming a terabyte (GNU sparse realsize) writes its stored bytes, not a terabyte of zeros; an error says so', { timeout: 60_000 }, async (t) => {
  const c = newCase(t);
  const TB = 2 ** 40;
  const stored = Buffer.concat([Buffer.from('1\n0\n16\n'), Buffer.alloc(505), Buffer.from('sixteen bytes!!\n')]);
  const layer = rawTar([
    { name: 'data/', type: '5', mode: 0o755 },
    { name: 'data/ok', body: Buffer.from('fine\n') },
    {
      name: 'GNUSparseFile.0/big',
      body: stored,
      pax: [paxRecord('GNU.sparse.major', '1'), paxRecord('GNU.sparse.minor', '0'), paxRecord('GNU.sparse.name', 'data/big'), paxRecord('GNU.sparse.realsize', String(TB))],
    },
    { name: 'data/big-link', type: '1', linkname: 'data/big' },
  ]);
  const arch = path.join(c.tmp, 'crafted.tar');
  fs.writeFileSync(arch, saveArchive(layer));
  const outs = path.join(c.tmp, 'outs');
  fs.mkdirSync(outs);
  const out = path.join(outs, 'out.tar');
  const before = await snapshot(c, outs);
  const t0 = Date.now();
  const r = await runCmd(exportCommand, [arch, '-o', out]);
  assert.equal(r.code, EXIT.evidenceProblems, r.stderr);
  assert.ok(Date.now() - t0 < 30_000);
  assert.match(r.stderr, new RegExp(`error (export|extract)\\.sparse: layer 0: a GNU sparse member standing for ${TB} bytes: sparse files are not reconstructed, its ${stored.length} stored bytes are written as its content`));
  assert.ok(fs.statSync(out).size < 64 * 1024, `the tar is small (${fs.statSync(out).size} bytes)`);
  const members = new Map<string, { size: number; body: Buffer }>();
  for await (const m of readTarStream([fs.readFileSync(out)], { label: 't' })) members.set(m.name, { size: m.size, body: m.type === 'file' ? await m.readBody(1 << 20) : Buffer.alloc(0) });
  assert.equal(members.get('data/big')?.size, stored.length);
  assert.deepEqual(members.get('data/big')?.body, stored);
  assert.equal(members.get('data/ok')?.body.toString(), 'fine\n');
  assert.ok(members.has('data/big-link'));
  // The same member to stdout: bounded the same way.
  const s = await runCmd(exportCommand, [arch, '-o', '-']);
  assert.equal(s.code, EXIT.evidenceProblems);
  assert.ok(s.stdoutBuffer.length < 64 * 1024);
  // extract writes what is stored, and says the size differs.
  const xo = path.join(outs, 'x-big');
  const xr = await x(arch, '/data', '-o', xo);
  assert.equal(xr.code, EXIT.evidenceProblems, xr.stderr);
  assert.equal(fs.statSync(path.join(xo, 'data/big')).size, stored.length);
  assert.match(xr.stderr, new RegExp(`error (export|extract)\\.sparse: layer 0: a GNU sparse member standing for ${TB} bytes: sparse files are not reconstructed, its ${stored.length} stored bytes were written`));
  await assertUnchanged(c, before, outs);
});

// ------------------------------------------------------------------------------------------------------------
// the writer itself
// ------------------------------------------------------------------------------------------------------------

test('OutputDir: existing dirs used as they are, attributes only on what it created, links only to its own files', async (t) => {
  const c = newCase(t);
  const dir = path.join(c.tmp, 'w');
  fs.mkdirSync(path.join(dir, 'old'), { recursive: true });
  fs.chmodSync(path.join(dir, 'old'), 0o711);
  fs.writeFileSync(path.join(dir, 'old', 'theirs'), 'theirs');
  const oldStat = fs.lstatSync(path.join(dir, 'old'), { bigint: true });
  const w = OutputDir.prepare(dir, { evidence: [c.ev] });
  const attrs = { mode: 0o4750, uid: 0, gid: 0, mtime: 1_000_000_000, mtimeNsec: 0 };
  try {
    assert.equal(w.mkdir('old', { ...attrs, mode: 0o777 }), 'existing');
    assert.equal(w.mkdir('new', { ...attrs, mode: 0o751 }), 'created');
    assert.equal(await w.writeFile('new/f', Buffer.from('abc'), attrs), 3);
    assert.equal(await w.writeFile('old/mine', (async function* () { yield Buffer.from('x'); })(), attrs), 1);
    w.symlink('new/l', '../../../etc/passwd', attrs);
    w.link('new/f', 'old/f2');
    assert.throws(() => w.link('old/theirs', 'new/t'), (e: unknown) => e instanceof OutputError && /only point to a file this run wrote/.test(e.message));
    await assert.rejects(w.writeFile('old/theirs', Buffer.from('no')), (e: unknown) => e instanceof OutputError && e.reason === 'output.exists');
    assert.throws(() => w.symlink('new/f', 'x'), (e: unknown) => e instanceof OutputError && e.reason === 'output.exists');
    assert.throws(() => w.mkdir('new/f'), (e: unknown) => e instanceof OutputError && e.reason === 'output.not-dir');
    assert.throws(() => w.mkdir('a/../b'), (e: unknown) => e instanceof OutputError && e.reason === 'output.bad-path');
    // A directory this run made, swapped for a symlink behind its back: refused, not followed.
    fs.mkdirSync(path.join(c.tmp, 'elsewhere'));
    assert.equal(w.mkdir('swap'), 'created');
    fs.rmdirSync(path.join(dir, 'swap'));
    fs.symlinkSync(path.join(c.tmp, 'elsewhere'), path.join(dir, 'swap'));
    // Still held open by the writer: it writes into the directory it made (now unlinked), never through the link.
    await assert.rejects(w.writeFile('swap/f', Buffer.from('x')), (e: unknown) => e instanceof OutputError);
    // Opened again (the walk went elsewhere meanwhile): the symlink is refused.
    w.mkdir('new');
    await assert.rejects(w.writeFile('swap/g', Buffer.from('x')), (e: unknown) => e instanceof OutputError && e.reason === 'output.symlink');
    assert.deepEqual(fs.readdirSync(path.join(c.tmp, 'elsewhere')), []);
  } finally {
    await w.close();
  }
  const st = (p: string) => fs.lstatSync(path.join(dir, p));
  assert.equal(st('new').mode & 0o7777, 0o751);
  assert.equal(st('new/f').mode & 0o7777, 0o4750);
  assert.equal(st('new/f').mtimeMs, 1e12);
  assert.equal(st('new/l').mtimeMs, 1e12);
  assert.equal(fs.readlinkSync(path.join(dir, 'new/l')), '../../../etc/passwd');
  assert.equal(st('old/f2').ino, st('new/f').ino);
  const o = fs.lstatSync(path.join(dir, 'old'), { bigint: true });
  assert.deepEqual([o.mode, o.uid, o.gid, o.mtimeNs], [oldStat.mode, oldStat.uid, oldStat.gid, oldStat.mtimeNs]);
  assert.equal(fs.readFileSync(path.join(dir, 'old/theirs'), 'utf8'), 'theirs');
  assert.deepEqual(w.existingDirs, ['old']);
});

test('OutputFile and checkOutput: refusals are typed (OutputError is a UsageError: exit 2) and name the path', async (t) => {
  const c = newCase(t);
  const err = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return e as OutputError;
    }
    assert.fail('expected a refusal');
  };
  const e1 = err(() => OutputFile.prepare(path.join(c.ev, 'index.json'), { evidence: [c.ev] }));
  assert.ok(e1 instanceof UsageError);
  assert.equal(e1.reason, 'output.evidence');
  assert.ok(e1.message.includes(path.join(c.ev, 'index.json')));
  const e2 = err(() => checkOutput(`${c.tmp}/new/../x`, 'dir', [c.ev]));
  assert.equal(e2.reason, 'output.bad-path');
  const e3 = err(() => checkOutput(path.join(c.ev, 'oci-layout', 'x'), 'dir', []));
  assert.equal(e3.reason, 'output.not-dir');
  const e4 = err(() => checkOutput(c.tmp, 'dir', [path.join(c.tmp, 'gone')]));
  assert.equal(e4.reason, 'output.unresolved');
  // Appears between prepare and open: still never replaced.
  const f = OutputFile.prepare(path.join(c.tmp, 'late.txt'), { evidence: [c.ev] });
  fs.symlinkSync('/etc/passwd', path.join(c.tmp, 'late.txt'));
  const e5 = await f.writeAll('x').then(
    () => assert.fail('writeAll wrote through a name that appeared'),
    (e: unknown) => e as OutputError,
  );
  assert.equal(e5.reason, 'output.exists');
  f.abort();
  assert.equal(fs.readlinkSync(path.join(c.tmp, 'late.txt')), '/etc/passwd');
});

// ------------------------------------------------------------------------------------------------------------
// the writer is the only code path that writes
// ------------------------------------------------------------------------------------------------------------

test('every filesystem write under src/ goes through src/core/output, or says why it is not an output', () => {
  const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
  const SYNC = 'writeFileSync|appendFileSync|mkdirSync|mkdtempSync|symlinkSync|linkSync|renameSync|copyFileSync|cpSync|rmSync|rmdirSync|unlinkSync|truncateSync|ftruncateSync|chmodSync|lchmodSync|fchmodSync|chownSync|lchownSync|fchownSync|utimesSync|lutimesSync|futimesSync|setAttributeSync|createWriteStream';
  const ASYNC = 'writeFile|appendFile|mkdir|mkdtemp|symlink|link|rename|copyFile|cp|rm|rmdir|unlink|truncate|chmod|lchmod|chown|lchown|utimes|lutimes|open';
  const WRITE = new RegExp(`\\b(${SYNC})\\s*\\(|\\b(fs|fsp|promises)\\.(${ASYNC})\\s*\\(|openSync\\([^)]*(O_WRONLY|O_RDWR|O_CREAT|'[wa]x?\\+?')`);
  const bad: string[] = [];
  const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : /\.tsx?$/.test(e.name) ? [path.join(d, e.name)] : []));
  for (const file of walk(SRC)) {
    const rel = path.relative(SRC, file);
    if (rel.startsWith('core/output/')) continue;
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.forEach((l, i) => {
      if (!WRITE.test(l) || /^\s*(\*|\/\/)/.test(l)) return;
      const context = lines.slice(Math.max(0, i - 4), i + 1).join('\n');
      if (!/not an output:/.test(context) && !/not an output:/.test(fs.readFileSync(file, 'utf8').slice(0, 4000))) bad.push(`${rel}:${i + 1}: ${l.trim()}`);
    });
  }
  assert.deepEqual(bad, [], 'write outside src/core/output without a "not an output:" reason');
});
