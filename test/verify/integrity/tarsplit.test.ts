/**
 * verifyLayerIntegrity against layers we make ourselves: a tree -> GNU tar (pax, gnu and ustar formats) ->
 * tar-split.json.gz (test/verify/integrity/gen.ts, written like vbatts/tar-split) + an overlay-form diff dir
 * (as moby's native overlay2 apply leaves it). Then every kind of tampering, one at a time, each with the
 * attacker's timestamp cover-up (parent dir and file mtimes put back), must give exactly the expected finding.
 * Needs root (owners, devices, trusted.* xattrs, security.capability).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { verifyLayerIntegrity, type IntegrityResult } from '../../../src/core/verify/integrity/index.js';
import { integrityThread, threadsUsable } from '../../../src/core/verify/integrity/threads.js';
import { applyLayerTar, encodeTarSplit, sha256, tarToTarSplit, type TarSplitLine } from './gen.js';
import { diffManifests, treeManifest } from '../../support/tree.js';

const isRoot = process.getuid?.() === 0;
const T0 = '2001-02-03 04:05:06 UTC';
const CAP = '0100000200200000000000000000000000000000'; // cap_net_raw+ep, as setcap writes it
const LONG = 'long/' + 'd'.repeat(70) + '/' + 'e'.repeat(70) + '/' + 'f'.repeat(40); // > 100 bytes, < 255
const BAD = Buffer.from('names/bad-\xff\xfe-utf8', 'latin1'); // not valid UTF-8
const CAFE = 'names/café';

let tmp = '';
let seq = 0;

interface Layer {
  dir: string;
  diffDir: string;
  tarSplitPath: string;
  diffId: string;
  lines: TarSplitLine[];
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'latin1' });
}

/** The source tree of the layer: every entry type, odd names, owners, modes, xattrs, whiteouts, an opaque dir. */
function makeSource(src: string): void {
  const w = (rel: string | Buffer, data: string | Buffer, mode = 0o644) => {
    const p = typeof rel === 'string' ? path.join(src, rel) : Buffer.concat([Buffer.from(src + '/'), rel]);
    fs.writeFileSync(p, data, { mode });
    fs.chmodSync(p, mode);
  };
  for (const d of ['bin', 'etc', 'dev', 'run', 'opq/sub', 'del', 'names', path.dirname(LONG)]) fs.mkdirSync(path.join(src, d), { recursive: true });
  w('bin/big', randomBytes(2_500_000 + 123), 0o755); // > 1 MiB: the double-buffered read path
  w('bin/tool', '#!/bin/sh\nping\n', 0o755);
  w('bin/suid', '#!/bin/sh\nid\n', 0o4755);
  sh('setfattr', ['-n', 'security.capability', '-v', '0x' + CAP, path.join(src, 'bin/tool')]);
  w('etc/conf', 'conf\n', 0o640);
  fs.chownSync(path.join(src, 'etc/conf'), 1000, 1001);
  w('etc/empty', '');
  fs.symlinkSync('conf', path.join(src, 'etc/link'));
  fs.symlinkSync('../' + 't'.repeat(150), path.join(src, 'etc/longlink')); // PAX linkpath / GNU 'K' (not in ustar)
  fs.linkSync(path.join(src, 'etc/conf'), path.join(src, 'etc/hard'));
  sh('mknod', ['-m', '0666', path.join(src, 'dev/null-like'), 'c', '1', '3']);
  sh('mkfifo', ['-m', '0600', path.join(src, 'run/fifo')]);
  w('opq/.wh..wh..opq', '', 0o755); // OCI opaque marker: becomes trusted.overlay.opaque=y on opq/
  w('opq/sub/new', 'new\n');
  w('del/.wh.gone', '', 0o600); // OCI whiteout: becomes char 0:0 named del/gone
  fs.lchownSync(path.join(src, 'del/.wh.gone'), 1000, 1000);
  w(LONG, 'long\n');
  w(BAD, 'bad name\n');
  w(CAFE, 'café\n');
  sh('setfattr', ['-n', 'user.note', '-v', '0x0001ff', path.join(src, 'names')]); // binary xattr on a dir
  sh('find', [src, '-exec', 'touch', '-h', '-d', T0, '{}', '+']);
}

let srcDir = '';

function makeLayer(format: 'pax' | 'gnu' | 'ustar' = 'pax', editTar?: (tarPath: string) => void): Layer {
  const dir = path.join(tmp, `layer-${format}-${seq++}`);
  fs.mkdirSync(dir);
  const tarPath = path.join(dir, 'layer.tar');
  const x = format === 'pax' ? ['--xattrs', '--xattrs-include=*'] : [];
  const ex = format === 'ustar' ? ['--exclude=./etc/longlink'] : []; // ustar cannot hold a 150-byte link target
  execFileSync('tar', ['-c', `--format=${format}`, ...x, ...ex, '--numeric-owner', '--sort=name', '-f', tarPath, '-C', srcDir, '.']);
  editTar?.(tarPath);
  const tar = fs.readFileSync(tarPath);
  const lines = tarToTarSplit(tar);
  const tarSplitPath = path.join(dir, 'tar-split.json.gz');
  fs.writeFileSync(tarSplitPath, encodeTarSplit(lines));
  const diffDir = path.join(dir, 'diff');
  applyLayerTar(tarPath, diffDir);
  return { dir, diffDir, tarSplitPath, diffId: sha256(tar), lines };
}

/**
 * Verify with the bodies read on this thread and again in the worker thread: both must give exactly the same
 * result (findings in the same order, notes, stats, computed diffId). Returns it.
 */
async function verify(l: Layer, diffId = l.diffId): Promise<IntegrityResult> {
  const opts = { tarSplitPath: l.tarSplitPath, diffDir: l.diffDir, diffId };
  const inline = await verifyLayerIntegrity({ ...opts, threads: 'inline' });
  const threaded = await verifyLayerIntegrity({ ...opts, threads: 'threads' });
  assert.deepEqual(threaded, inline, 'the worker thread and the inline reader disagree');
  return inline;
}

/** Findings as "kind path" lines, for exact comparison. */
const brief = (r: IntegrityResult): string[] => r.findings.map((f) => `${f.kind} ${f.path}`);

/** Run an edit, then put back the mtimes (and atimes) of `keep`, as a careful attacker would. */
function covered(l: Layer, keep: string[], edit: (p: (rel: string) => string) => void): void {
  const p = (rel: string) => path.join(l.diffDir, rel);
  const times = keep.map((rel) => [rel, fs.lstatSync(p(rel))] as const);
  edit(p);
  for (const [rel, st] of times) fs.lutimesSync(p(rel), st.atime, st.mtime);
}

before(() => {
  if (!isRoot) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-integrity-'));
  srcDir = path.join(tmp, 'src');
  fs.mkdirSync(srcDir);
  makeSource(srcDir);
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('untouched layers verify', { skip: !isRoot && 'needs root' }, () => {
  for (const format of ['pax', 'gnu', 'ustar'] as const) {
    test(`${format} format: computed diffId equals the tar's sha256, no findings`, async () => {
      const l = makeLayer(format);
      const r = await verify(l);
      assert.deepEqual(brief(r), []);
      assert.equal(r.computedDiffId, l.diffId);
      assert.equal(r.ok, true);
      assert.ok(r.stats.bytesRead > 2_500_000);
      // the non-UTF-8 name came as name_raw and was read through a Buffer path
      assert.ok(l.lines.some((x) => x.name_raw === Buffer.concat([Buffer.from('./'), BAD]).toString('base64')));
      if (format === 'gnu') assert.ok(fs.readFileSync(l.tarSplitPath).length > 0 && l.lines.some((x) => x.type === 2 && Buffer.from(x.payload!, 'base64').includes(Buffer.from('././@LongLink'))));
    });
  }

  test('a member repeated with other attributes: the last one is what is on disk, no finding', async () => {
    const l = makeLayer('pax', (tarPath) => {
      const again = path.join(path.dirname(tarPath), 'again');
      fs.mkdirSync(path.join(again, 'etc'), { recursive: true });
      fs.chmodSync(path.join(again, 'etc'), 0o700);
      fs.writeFileSync(path.join(again, 'etc/empty'), '', { mode: 0o600 });
      fs.chmodSync(path.join(again, 'etc/empty'), 0o600);
      execFileSync('touch', ['-d', '2011-01-01 00:00 UTC', path.join(again, 'etc/empty'), path.join(again, 'etc')]);
      execFileSync('tar', ['-r', '--format=pax', '--numeric-owner', '--no-recursion', '-f', tarPath, '-C', again, './etc', './etc/empty']);
    });
    assert.equal(l.lines.filter((x) => x.name === './etc/empty').length, 2);
    assert.equal(fs.statSync(path.join(l.diffDir, 'etc')).mode & 0o7777, 0o700);
    const r = await verify(l);
    assert.deepEqual(brief(r), []);
    assert.equal(r.ok, true);
    assert.ok(r.notes.some((n) => /more than once/.test(n)));
  });

  test('reading leaves the diff dir and tar-split exactly as they were (ctime and inodes included)', async () => {
    const l = makeLayer();
    const before = await treeManifest(l.dir, { strict: true });
    const r = await verify(l);
    assert.equal(r.ok, true);
    const afterM = await treeManifest(l.dir, { strict: true });
    assert.equal(diffManifests(before, afterM), '');
  });
});

describe('each tampering is caught and named, and nothing else is flagged', { skip: !isRoot && 'needs root' }, () => {
  const cases: [string, string[], (l: Layer) => void][] = [
    ['file bytes changed (same size, mtime restored)', ['content bin/big'], (l) =>
      covered(l, ['bin/big'], (p) => {
        const fd = fs.openSync(p('bin/big'), 'r+');
        fs.writeSync(fd, Buffer.from('XX'), 0, 2, 1_500_000);
        fs.closeSync(fd);
      })],
    ['file grown by one byte', ['size bin/suid'], (l) => covered(l, ['bin/suid'], (p) => fs.appendFileSync(p('bin/suid'), '#'))],
    ['file truncated', ['size bin/big'], (l) => covered(l, ['bin/big'], (p) => fs.truncateSync(p('bin/big'), 1000))],
    ['zero-size file given content', ['size etc/empty'], (l) => covered(l, ['etc/empty'], (p) => fs.writeFileSync(p('etc/empty'), 'x')) ],
    ['chmod', ['mode etc/conf'], (l) => fs.chmodSync(path.join(l.diffDir, 'etc/conf'), 0o4777)],
    ['chown', ['owner etc/conf'], (l) => fs.chownSync(path.join(l.diffDir, 'etc/conf'), 0, 4242)],
    ['chown of a setuid file (the kernel drops the setuid bit too)', ['mode bin/suid', 'owner bin/suid'], (l) => fs.chownSync(path.join(l.diffDir, 'bin/suid'), 0, 4242)],
    ['mtime only', ['mtime etc/conf'], (l) => fs.utimesSync(path.join(l.diffDir, 'etc/conf'), new Date(), new Date())],
    ['symlink retargeted', ['linkname etc/link'], (l) =>
      covered(l, ['etc'], (p) => {
        fs.unlinkSync(p('etc/link'));
        fs.symlinkSync('/etc/shadow', p('etc/link'));
        fs.lutimesSync(p('etc/link'), new Date(T0), new Date(T0));
      })],
    ['long symlink target changed by one byte', ['linkname etc/longlink'], (l) =>
      covered(l, ['etc'], (p) => {
        fs.unlinkSync(p('etc/longlink'));
        fs.symlinkSync('../' + 't'.repeat(149) + 'u', p('etc/longlink'));
        fs.lutimesSync(p('etc/longlink'), new Date(T0), new Date(T0));
      })],
    ['file added', ['added etc/evil'], (l) => covered(l, ['etc'], (p) => fs.writeFileSync(p('etc/evil'), 'evil'))],
    ['whiteout added (hides a lower file)', ['added etc/passwd'], (l) => covered(l, ['etc'], (p) => sh('mknod', [p('etc/passwd'), 'c', '0', '0']))],
    // finding paths are byte strings (UTF-8 bytes, one char each)
    ['file deleted', [`missing ${Buffer.from(CAFE).toString('latin1')}`], (l) => covered(l, ['names'], (p) => fs.unlinkSync(p(CAFE)))],
    ['zero-size file deleted', ['missing etc/empty'], (l) => covered(l, ['etc'], (p) => fs.unlinkSync(p('etc/empty')))],
    ['non-UTF-8 name: bytes changed', [`content ${BAD.toString('latin1')}`], (l) => {
      const p = Buffer.concat([Buffer.from(l.diffDir + '/'), BAD]);
      const st = fs.lstatSync(p);
      fs.writeFileSync(p, 'BAD NAME\n');
      fs.utimesSync(p, st.atime, st.mtime);
    }],
    ['hardlink broken (same bytes, separate inode)', ['linkname etc/hard'], (l) =>
      covered(l, ['etc'], (p) => {
        fs.unlinkSync(p('etc/hard'));
        fs.copyFileSync(p('etc/conf'), p('etc/hard'));
      })],
    ['a hardlink to a layer file kept outside the diff dir', ['linkname bin/big'], (l) => fs.linkSync(path.join(l.diffDir, 'bin/big'), path.join(l.dir, 'handle'))],
    ['device numbers changed', ['type dev/null-like'], (l) =>
      covered(l, ['dev'], (p) => {
        fs.unlinkSync(p('dev/null-like'));
        sh('mknod', ['-m', '0666', p('dev/null-like'), 'c', '1', '5']);
        fs.utimesSync(p('dev/null-like'), new Date(T0), new Date(T0));
      })],
    ['fifo replaced by a file', ['type run/fifo'], (l) =>
      covered(l, ['run'], (p) => {
        fs.unlinkSync(p('run/fifo'));
        fs.writeFileSync(p('run/fifo'), '', { mode: 0o600 });
      })],
    ['whiteout removed (the lower file shows again)', ['missing del/gone'], (l) => covered(l, ['del'], (p) => fs.unlinkSync(p('del/gone')))],
    ['whiteout re-owned', ['owner del/gone'], (l) => fs.lchownSync(path.join(l.diffDir, 'del/gone'), 0, 0)],
    ['opaque marker removed', ['xattr opq'], (l) => sh('setfattr', ['-x', 'trusted.overlay.opaque', path.join(l.diffDir, 'opq')])],
    ['opaque marker added (hides every lower file below)', ['xattr etc'], (l) => sh('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(l.diffDir, 'etc')])],
    ['capability changed', ['xattr bin/tool'], (l) => sh('setfattr', ['-n', 'security.capability', '-v', '0x01000002ffffffff000000000000000000000000', path.join(l.diffDir, 'bin/tool')])],
    ['capability removed', ['xattr bin/tool'], (l) => sh('setfattr', ['-x', 'security.capability', path.join(l.diffDir, 'bin/tool')])],
    ['capability added', ['xattr bin/suid'], (l) => sh('setfattr', ['-n', 'security.capability', '-v', '0x' + CAP, path.join(l.diffDir, 'bin/suid')])],
    ['binary dir xattr changed', ['xattr names'], (l) => sh('setfattr', ['-n', 'user.note', '-v', '0x0001fe', path.join(l.diffDir, 'names')])],
  ];
  for (const [name, want, edit] of cases) {
    test(name, async () => {
      const l = makeLayer();
      edit(l);
      const r = await verify(l);
      assert.deepEqual(brief(r), want, JSON.stringify(r.findings, null, 1));
      assert.equal(r.ok, false);
      for (const f of r.findings) assert.ok(f.message.length > 10);
    });
  }

  test('a dir replaced by a symlink to a faithful copy is refused, not followed', async () => {
    const l = makeLayer();
    const etc = path.join(l.diffDir, 'etc');
    const decoy = path.join(l.dir, 'decoy');
    execFileSync('cp', ['-a', etc, decoy]);
    covered(l, [''], () => {
      fs.renameSync(etc, path.join(l.dir, 'moved-away'));
      fs.symlinkSync(decoy, etc);
    });
    const r = await verify(l);
    assert.equal(r.ok, false);
    const kinds = new Map(r.findings.map((f) => [f.path, f.kind]));
    assert.equal(kinds.get('etc'), 'type');
    for (const child of ['etc/conf', 'etc/empty', 'etc/link', 'etc/hard']) {
      assert.equal(kinds.get(child), 'unsafe', child);
      assert.match(r.findings.find((f) => f.path === child)!.message, /symlink/);
    }
    assert.notEqual(r.computedDiffId, l.diffId); // the decoy's bytes were never read into the hash
  });
});

describe('without getfattr (xattrs read entry by entry)', { skip: !isRoot && 'needs root' }, () => {
  const withoutGetfattr = async <T>(fn: () => Promise<T>): Promise<T> => {
    const path0 = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      return await fn();
    } finally {
      process.env.PATH = path0;
    }
  };
  test('an untouched layer verifies; the non-UTF-8 name is noted, not blamed', async () => {
    const l = makeLayer();
    const r = await withoutGetfattr(() => verify(l));
    assert.deepEqual(brief(r), []);
    assert.equal(r.ok, true);
    assert.ok(r.notes.some((n) => /not UTF-8/.test(n)), r.notes.join('\n'));
  });
  test('capability, opaque and dir xattr changes are still caught', async () => {
    const l = makeLayer();
    sh('setfattr', ['-x', 'security.capability', path.join(l.diffDir, 'bin/tool')]);
    sh('setfattr', ['-x', 'trusted.overlay.opaque', path.join(l.diffDir, 'opq')]);
    sh('setfattr', ['-n', 'user.note', '-v', '0x0001fe', path.join(l.diffDir, 'names')]);
    const r = await withoutGetfattr(() => verify(l));
    assert.deepEqual(brief(r), ['xattr bin/tool', 'xattr names', 'xattr opq']);
  });
});

describe('tar-split itself', { skip: !isRoot && 'needs root' }, () => {
  const rewrite = (l: Layer, lines: TarSplitLine[]) => fs.writeFileSync(l.tarSplitPath, encodeTarSplit(lines));

  test('an entry renamed to point reassembly at an untouched copy: diffId still matches, the edit is caught', async () => {
    const l = makeLayer();
    // The attacker keeps the original bytes as bin/.tool.orig, backdoors bin/tool, and edits only the
    // (unhashed) tar-split entry name: plain reassembly reproduces the diffID.
    execFileSync('cp', ['-a', path.join(l.diffDir, 'bin/big'), path.join(l.diffDir, 'bin/.big.orig')]);
    fs.writeFileSync(path.join(l.diffDir, 'bin/big'), 'backdoor');
    const lines = l.lines.map((x) => (x.name === './bin/big' ? { ...x, name: './bin/.big.orig' } : x));
    rewrite(l, lines);
    const r = await verify(l);
    assert.equal(r.ok, false);
    const b = brief(r);
    assert.ok(b.includes('unsafe bin/big'), b.join('\n'));
    assert.ok(b.includes('size bin/big'), b.join('\n'));
    assert.ok(b.includes('added bin/.big.orig'), b.join('\n'));
  });

  test('names that climb out or are absolute are refused and reported, never opened', async () => {
    const l = makeLayer();
    const lines = structuredClone(l.lines);
    // Rewrite one header's name in its raw segment (and fix the checksum), as a crafted layer would have it.
    const i = lines.findIndex((x) => x.name === './etc/conf');
    const j = lines.findIndex((x) => x.name === './bin/suid');
    for (const [k, name] of [[i, '../../escape'], [j, '/abs/olute']] as const) {
      const seg = Buffer.from(lines[k - 1]!.payload!, 'base64');
      const hdr = seg.length - 512; // ustar header of the member (pax records for these short names: none)
      seg.fill(0, hdr, hdr + 100);
      seg.write(name, hdr, 'latin1');
      seg.fill(0x20, hdr + 148, hdr + 156);
      let sum = 0;
      for (let n = hdr; n < hdr + 512; n++) sum += seg[n]!;
      seg.write(sum.toString(8).padStart(6, '0') + '\0 ', hdr + 148, 'latin1');
      lines[k - 1]!.payload = seg.toString('base64');
      lines[k]!.name = name;
    }
    rewrite(l, lines);
    const r = await verify(l);
    const b = brief(r);
    assert.ok(b.includes('unsafe ../../escape'), b.join('\n'));
    assert.ok(b.includes('unsafe /abs/olute'), b.join('\n'));
    assert.equal(r.ok, false);
  });

  test('corrupt gzip: unreadable, no diffId claimed', async () => {
    const l = makeLayer();
    const gz = fs.readFileSync(l.tarSplitPath);
    gz[gz.length - 20] ^= 0xff;
    fs.writeFileSync(l.tarSplitPath, gz);
    const r = await verify(l);
    assert.equal(r.ok, false);
    assert.equal(r.computedDiffId, null);
    assert.ok(r.findings.some((f) => f.kind === 'unreadable'));
  });

  test('a tar-split that is a symlink is not followed', async () => {
    const l = makeLayer();
    const real = l.tarSplitPath + '.real';
    fs.renameSync(l.tarSplitPath, real);
    fs.symlinkSync(real, l.tarSplitPath);
    const r = await verify(l);
    assert.equal(r.ok, false);
    assert.equal(r.computedDiffId, null);
  });

  test('a diff dir that is a symlink is not followed', async () => {
    const l = makeLayer();
    const real = l.diffDir + '.real';
    fs.renameSync(l.diffDir, real);
    fs.symlinkSync(real, l.diffDir);
    const r = await verify(l);
    assert.equal(r.ok, false);
    assert.equal(r.computedDiffId, null);
    assert.deepEqual(brief(r), ['unsafe ']);
  });

  test('a wrong expected diffId: computed differs, ok is false, no file is blamed', async () => {
    const l = makeLayer();
    const r = await verify(l, 'sha256:' + '0'.repeat(64));
    assert.equal(r.ok, false);
    assert.equal(r.computedDiffId, l.diffId);
    assert.deepEqual(brief(r), []);
  });

  test('a 1 MB PAX global header (one tar-split line far longer than a gzip chunk; Go takes up to 1 MiB) is streamed and hashed', async () => {
    const l = makeLayer();
    const tar = fs.readFileSync(path.join(l.dir, 'layer.tar'));
    const value = 'x'.repeat(1000 << 10);
    let rec = ` comment=${value}\n`;
    rec = `${rec.length + String(rec.length).length}${rec}`;
    rec = `${rec.length}${rec.slice(rec.indexOf(' '))}`; // the length counts its own digits
    const body = Buffer.from(rec, 'latin1');
    const hdr = Buffer.alloc(512);
    hdr.write('pax_global_header', 0, 'latin1');
    hdr.write('0000644\0', 100, 'latin1');
    hdr.write(body.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    hdr.write('00000000000\0', 136, 'latin1');
    hdr.write('g', 156, 'latin1');
    hdr.write('ustar\x0000', 257, 'latin1');
    hdr.fill(0x20, 148, 156);
    let sum = 0;
    for (const c of hdr) sum += c;
    hdr.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const big = Buffer.concat([hdr, body, Buffer.alloc((512 - (body.length % 512)) % 512), tar]);
    const lines = tarToTarSplit(big);
    assert.ok(lines[0]!.payload!.length > 1 << 20);
    rewrite(l, lines);
    const r = await verify(l, sha256(big));
    assert.deepEqual(brief(r), []);
    assert.equal(r.computedDiffId, sha256(big));
    assert.equal(r.ok, true);
  });

  test('tar-split is streamed: segments split at odd places reassemble the same', async () => {
    const l = makeLayer();
    const lines: TarSplitLine[] = [];
    for (const x of l.lines) {
      if (x.type !== 2 || !x.payload) {
        lines.push(x);
        continue;
      }
      const b = Buffer.from(x.payload, 'base64');
      for (let o = 0; o < b.length; o += 77) lines.push({ type: 2, payload: b.subarray(o, o + 77).toString('base64'), position: 0 });
    }
    rewrite(l, lines);
    const r = await verify(l);
    assert.deepEqual(brief(r), []);
    assert.equal(r.ok, true);
  });
});

describe('deep trees and long paths: no recursion, no PATH_MAX failure, bounded time', () => {
  let deep = '';
  before(() => {
    deep = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-integrity-deep-'));
  });
  after(() => {
    // GNU rm, not fs.rmSync: Node's recursive rm recurses, and overflows its stack on this tree.
    if (deep) execFileSync('rm', ['-rf', '--', deep]);
  });

  /** Run fn with the working directory at diffDir/<levels x "d/">, so paths past PATH_MAX stay short. */
  const atDepth = (diffDir: string, levels: number, fn: () => void) => {
    const home = process.cwd();
    try {
      process.chdir(diffDir);
      for (let left = levels; left > 0; left -= 1000) process.chdir('d/'.repeat(Math.min(1000, left)));
      fn();
    } finally {
      process.chdir(home);
    }
  };

  test('a diff dir nested 5,000 levels (paths of 10 KB) verifies, and a changed file at the bottom is named', async () => {
    const LEVELS = 5000;
    const dir = path.join(deep, 'nested');
    const diffDir = path.join(dir, 'diff');
    fs.mkdirSync(diffDir, { recursive: true });
    const home = process.cwd();
    try {
      process.chdir(diffDir);
      for (let i = 0; i < LEVELS; i++) {
        fs.mkdirSync('d');
        process.chdir('d');
      }
      fs.writeFileSync('f', 'the bottom\n');
      fs.symlinkSync('f', 'link');
    } finally {
      process.chdir(home);
    }
    const tarPath = path.join(dir, 'layer.tar');
    execFileSync('tar', ['-c', '--format=pax', '--numeric-owner', '--sort=name', '-f', tarPath, '-C', diffDir, '.']);
    const tar = fs.readFileSync(tarPath);
    const lines = tarToTarSplit(tar);
    const tarSplitPath = path.join(dir, 'tar-split.json.gz');
    fs.writeFileSync(tarSplitPath, encodeTarSplit(lines));
    const bottom = 'd/'.repeat(LEVELS) + 'f';
    assert.ok(lines.some((x) => x.name === './' + bottom), 'tar-split names the 10 KB path');
    const layer: Layer = { dir, diffDir, tarSplitPath, diffId: sha256(tar), lines };

    let t = Date.now();
    const r = await verify(layer); // inline and in the worker thread
    const clean = Date.now() - t;
    assert.deepEqual(brief(r), []);
    assert.equal(r.computedDiffId, layer.diffId);
    assert.equal(r.ok, true);
    assert.equal(r.stats.members, LEVELS + 3); // ./, the dirs, f, link
    assert.equal(r.stats.filesRead, 1);

    // Same size, other bytes, mtime put back.
    atDepth(diffDir, LEVELS, () => {
      const st = fs.lstatSync('f');
      fs.writeFileSync('f', 'THE BOTTOM\n');
      fs.utimesSync('f', st.atime, st.mtime);
    });
    t = Date.now();
    const r2 = await verify(layer);
    const tampered = Date.now() - t;
    assert.deepEqual(brief(r2), [`content ${bottom}`]);
    assert.equal(r2.ok, false);
    // Linear, not quadratic: ~4 s for both runs (inline and threaded) on a loaded 2-core host; 41 s for one
    // run before, with 2,961 'unreadable' findings.
    assert.ok(clean < 60_000 && tampered < 60_000, `took ${clean} ms and ${tampered} ms`);
  });

  test('a tar-split naming a path of 10,000 components that is not on disk: one finding, bounded time', async () => {
    const dir = path.join(deep, 'long-name');
    const diffDir = path.join(dir, 'diff');
    fs.mkdirSync(diffDir, { recursive: true });
    const name = 'a/'.repeat(9_999) + 'f';
    const tar = Buffer.concat([...paxMember(name, Buffer.from('hello')), Buffer.alloc(1024)]);
    const lines = tarToTarSplit(tar);
    assert.equal(lines.filter((x) => x.type === 1).length, 1);
    const tarSplitPath = path.join(dir, 'tar-split.json.gz');
    fs.writeFileSync(tarSplitPath, encodeTarSplit(lines));
    const layer: Layer = { dir, diffDir, tarSplitPath, diffId: sha256(tar), lines };
    const t = Date.now();
    const r = await verify(layer);
    const took = Date.now() - t;
    assert.deepEqual(brief(r), [`missing ${name}`]);
    assert.match(r.findings[0]!.message, /its ancestor "a" does not exist/);
    assert.equal(r.ok, false);
    assert.ok(took < 30_000, `took ${took} ms`);
  });
});

describe('the body reader thread', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-integrity-many-'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A layer of `n` small files in 10 dirs, its tar-split's segments cut in 77-byte lines; the tree is the diff dir. */
  function manyFiles(name: string, n: number): Layer {
    const layerDir = path.join(dir, name);
    const diffDir = path.join(layerDir, 'diff');
    for (let i = 0; i < n; i++) {
      const d = path.join(diffDir, `d${i % 10}`);
      if (i < 10) fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, `f${i}`), randomBytes(1 + ((i * 7919) % 700)));
    }
    const tarPath = path.join(layerDir, 'layer.tar');
    execFileSync('tar', ['-c', '--format=pax', '--numeric-owner', '--sort=name', '-f', tarPath, '-C', diffDir, '.']);
    const tar = fs.readFileSync(tarPath);
    const lines: TarSplitLine[] = [];
    for (const x of tarToTarSplit(tar)) {
      if (x.type !== 2 || !x.payload) {
        lines.push(x);
        continue;
      }
      const b = Buffer.from(x.payload, 'base64');
      for (let o = 0; o < b.length; o += 77) lines.push({ type: 2, payload: b.subarray(o, o + 77).toString('base64'), position: 0 });
    }
    const tarSplitPath = path.join(layerDir, 'tar-split.json.gz');
    fs.writeFileSync(tarSplitPath, encodeTarSplit(lines));
    return { dir: layerDir, diffDir, tarSplitPath, diffId: sha256(tar), lines };
  }

  test('3,000 files, headers in 77-byte pieces across many batches: the same result inline and threaded, tampering named', async () => {
    const l = manyFiles('a', 3000);
    assert.ok(fs.statSync(l.tarSplitPath).size >= 64 << 10, 'big enough for the thread by default');
    const r = await verify(l);
    assert.deepEqual(brief(r), []);
    assert.equal(r.ok, true);
    assert.equal(r.stats.filesRead, 3000);
    // the default (auto) takes the thread here, and agrees too
    assert.deepEqual(await verifyLayerIntegrity({ tarSplitPath: l.tarSplitPath, diffDir: l.diffDir, diffId: l.diffId }), r);

    const at = (rel: string) => path.join(l.diffDir, rel);
    const st = fs.lstatSync(at('d3/f1503'));
    const b = fs.readFileSync(at('d3/f1503'));
    b[0] ^= 0xff;
    fs.writeFileSync(at('d3/f1503'), b);
    fs.utimesSync(at('d3/f1503'), st.atime, st.mtime);
    fs.chmodSync(at('d7/f2997'), 0o600);
    const d0 = fs.lstatSync(at('d0'));
    fs.unlinkSync(at('d0/f10'));
    fs.utimesSync(at('d0'), d0.atime, d0.mtime);
    const r2 = await verify(l);
    assert.deepEqual(brief(r2), ['missing d0/f10', 'content d3/f1503', 'mode d7/f2997']);
  });

  test('a thread that dies mid-layer: the layer is verified again on the calling thread, and says so', async () => {
    const l = manyFiles('b', 2000);
    const opts = { tarSplitPath: l.tarSplitPath, diffDir: l.diffDir, diffId: l.diffId };
    const pending = verifyLayerIntegrity({ ...opts, threads: 'threads' });
    // The session is open (verifyLayerIntegrity runs to its first await synchronously): kill the thread under it.
    const t = integrityThread('bodies') as unknown as { worker: { terminate(): Promise<number> } };
    await t.worker.terminate();
    const r = await pending;
    assert.ok(r.notes.some((n) => /thread (exited|failed).*verified again without it/.test(n)), r.notes.join('\n'));
    const again = await verifyLayerIntegrity({ ...opts, threads: 'inline' });
    assert.deepEqual({ ...r, notes: [] }, { ...again, notes: [] });
    assert.equal(threadsUsable(), false, 'later layers do not count on the thread');
  });
});

/** A PAX 'x' header naming `name`, then a ustar regular-file header and the body (padded): one tar member. */
function paxMember(name: string, body: Buffer): Buffer[] {
  let rec = ` path=${name}\n`;
  rec = `${rec.length + String(rec.length).length}${rec}`;
  rec = `${rec.length}${rec.slice(rec.indexOf(' '))}`; // the length counts its own digits
  const data = Buffer.from(rec, 'latin1');
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  return [ustarHeader('PaxHeaders/f', data.length, 'x'), data, pad(data.length), ustarHeader('f', body.length, '0'), body, pad(body.length)];
}

function ustarHeader(name: string, size: number, type: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'latin1');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('14000000000\0', 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write('ustar\x0000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of h) sum += c;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}
