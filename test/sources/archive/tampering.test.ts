/**
 * Hostile evidence, class 1: a layer whose bytes are not the bytes the image was built from.
 *
 * An uncompressed layer in a seekable archive is listed by seeking over its file bodies, so nothing reads its
 * bytes unless asked. Every verdict hashes it: `verify` (integrity ok / tampered per layer, findings naming the
 * blob and the digest that differs), `ci`, and `report/changes/files --verify`. Without hashing, `report` says
 * so (info `archive.layers.not-hashed`, "layer integrity: NOT CHECKED") instead of looking clean. Compressed
 * layers and streams are hashed anyway, and the result is used. Run on the BUILT CLI, as a process; the archive
 * is byte-identical afterwards.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { tar } from '../tar/helpers.js';
import {
  assertBuilt,
  assertNoCrash,
  fingerprint,
  layerTar,
  legacySave,
  ociArchive,
  ociMembers,
  reportJson,
  runCli,
  sha256,
  tamperLayer,
  tempDir,
  type ImageSpec,
} from './hostile-helpers.js';

before(assertBuilt);

const L0 = layerTar({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n', 'bin/sh': Buffer.alloc(4000, 7) });
const L1 = layerTar({ 'app/run': '#!/bin/sh\necho hello\n' });
const L2 = layerTar({ 'app/config': 'listen 80\n', 'app/data': Buffer.alloc(70_000, 3) });

type VerifyJson = {
  ok: boolean;
  integrity: { ran: boolean; skipped: string | null };
  layers: { diffId: string; verdict: string; integrity: { status: string; computedDiffId: string | null; findings: number }; usedBy: { images: { tags: string[] }[] } }[];
  findings: { check: string; kind: string; member?: string; expected?: string; actual?: string; message: string; usedBy: { images: { tags: string[] }[] } }[];
};

async function verifyJson(file: string): Promise<{ code: number | null; v: VerifyJson; stdout: string }> {
  const r = await runCli(['verify', file, '--no-mount', '--format', 'json']);
  assertNoCrash(r);
  return { code: r.code, v: JSON.parse(r.stdout) as VerifyJson, stdout: r.stdout };
}

test('legacy docker save, first layer tampered: report says "not hashed", --verify / verify / ci catch it and name the blob', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const img: ImageSpec = { tag: 'app:1', layers: [L0, L1, L2], stored: [tamperLayer(L0, 'etc/passwd')] };
  const file = join(dir, 'save.tar');
  writeFileSync(file, legacySave([img]));
  const fp = fingerprint(file);

  // Without hashing: exit 0, but it says so (and never "integrity check not run" under an OK).
  const plain = await reportJson(['report', file]);
  assert.equal(plain.code, 0, plain.stderr);
  const nh = plain.json!.problems.find((p) => p.code === 'archive.layers.not-hashed')!;
  assert.equal(nh.severity, 'info');
  assert.match(nh.message, /3 of 3 layer blob\(s\), stored uncompressed, .* not checked against their DiffIDs.*--verify.*layerscope verify/);
  const text = await runCli(['report', file]);
  assert.match(text.stdout, /^layer integrity: NOT CHECKED/m);

  // report --verify: the layer is hashed, the mismatch is an error naming the member: exit 4.
  const ver = await reportJson(['report', file, '--verify']);
  assert.equal(ver.code, 4, ver.stderr);
  const mm = ver.json!.problems.filter((p) => p.code === 'layer.diffid.mismatch');
  assert.equal(mm.length, 1, JSON.stringify(ver.json!.problems));
  assert.equal(mm[0]!.path, 'app10/layer.tar');
  assert.match(mm[0]!.message, new RegExp(`layer 0 "app10/layer.tar" \\(uncompressed\\) hashes to ${sha256(img.stored![0]!)}, not to its DiffID ${sha256(L0)}`));
  assert.ok(!ver.json!.problems.some((p) => p.code === 'archive.layers.not-hashed'));

  // verify: integrity runs on an archive now; layer 0 tampered, the others ok; exit 1.
  const { code, v } = await verifyJson(file);
  assert.equal(code, 1);
  assert.equal(v.integrity.ran, true);
  assert.equal(v.integrity.skipped, null);
  assert.equal(v.ok, false);
  assert.deepEqual(v.layers.map((l) => [l.verdict, l.integrity.status]), [['failed', 'tampered'], ['ok', 'ok'], ['ok', 'ok']]);
  assert.equal(v.layers[0]!.integrity.computedDiffId, sha256(img.stored![0]!));
  assert.deepEqual(v.findings.map((f) => [f.check, f.kind, f.member, f.expected, f.actual]), [['integrity', 'diffid', 'app10/layer.tar', sha256(L0), sha256(img.stored![0]!)]]);
  const vt = await runCli(['verify', file, '--no-mount']);
  assert.match(vt.stdout, /FAIL .*integrity tampered/);
  assert.match(vt.stdout, /integrity\/diffid archive member "app10\/layer.tar"/);
  assert.match(vt.stdout, /^FAILED: 1 failed/m);
  assert.doesNotMatch(vt.stdout, /integrity check (not run|skipped)/);

  // ci hashes without being asked: the tampered layer is an error (exit 4: evidence errors; the rules pass).
  const ci = await runCli(['ci', file, '--lowest-efficiency', '0', '--highest-user-wasted-percent', 'disabled']);
  assertNoCrash(ci);
  assert.equal(ci.code, 4, ci.stdout + ci.stderr);
  assert.match(ci.stdout, /layer\.diffid\.mismatch/);

  // files/changes --verify: exit 4 and the mismatch on stderr
  const files = await runCli(['files', file, '--verify']);
  assert.equal(files.code, 4);
  assert.match(files.stderr, /layer\.diffid\.mismatch/);
  const changes = await runCli(['changes', file, '--image', 'app:1', '--layer', '2', '--verify']);
  assert.equal(changes.code, 4);
  assert.equal((await runCli(['changes', file, '--image', 'app:1', '--layer', '2'])).code, 0, 'without --verify nothing is hashed');

  assert.equal(fingerprint(file), fp, 'the archive is untouched');
});

test('an untouched archive verifies OK, hashed in one sequential pass (bytes read ~ once the archive)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  // a 24 MB layer of 3000 small files: listing by seeking reads ~all of it, a second pass would read it twice
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 3000; i++) files[`d/f${i}`] = Buffer.alloc(8000, i % 251);
  const big = layerTar(files);
  const file = join(dir, 'big.tar');
  writeFileSync(file, legacySave([{ tag: 'big:1', layers: [L0, big] }]));
  const tiny = join(dir, 'tiny.tar');
  writeFileSync(tiny, legacySave([{ tag: 'tiny:1', layers: [L0] }]));
  const base = await runCli(['verify', tiny, '--no-mount']);
  assert.equal(base.code, 0, base.stdout + base.stderr);
  const r = await runCli(['verify', file, '--no-mount']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^OK: 2 layer\(s\)/m);
  const extra = r.rchar - base.rchar;
  assert.ok(extra > big.length * 0.9, `the layer was read (${extra} bytes)`);
  assert.ok(extra < big.length * 1.3, `read once, not twice: ${extra} bytes for a ${big.length}-byte layer`);
  // --verify on report shares the pass: listing and hashing are one read
  const rep = await runCli(['report', file, '--verify']);
  assert.equal(rep.code, 0);
  assert.ok(rep.rchar - base.rchar < big.length * 1.3, `report --verify read ${rep.rchar - base.rchar} bytes`);
});

test('OCI archive, LAST layer tampered (uncompressed): blob digest and DiffID both named; also as an OCI dir and on stdin', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const bad = tamperLayer(L2, 'app/config');
  const img: ImageSpec = { tag: 'oci:1', layers: [L0, L1, L2], stored: [undefined, undefined, bad] };
  const file = join(dir, 'oci.tar');
  writeFileSync(file, ociArchive([img], { dockerManifest: true }));
  const fp = fingerprint(file);
  const { code, v } = await verifyJson(file);
  assert.equal(code, 1);
  assert.deepEqual(v.layers.map((l) => l.integrity.status), ['ok', 'ok', 'tampered']);
  const kinds = v.findings.map((f) => [f.kind, f.member]);
  assert.deepEqual(kinds, [['blob-digest', `blobs/sha256/${sha256(L2).slice(7)}`], ['diffid', `blobs/sha256/${sha256(L2).slice(7)}`]]);
  assert.equal(v.findings[0]!.expected, sha256(L2));
  assert.equal(v.findings[0]!.actual, sha256(bad));

  // the same layout as a directory
  const ociDir = join(dir, 'layout');
  mkdirSync(join(ociDir, 'blobs/sha256'), { recursive: true });
  for (const m of ociMembers([img])) if (m.body) writeFileSync(join(ociDir, String(m.name)), m.body);
  const d = await verifyJson(ociDir);
  assert.equal(d.code, 1);
  assert.deepEqual(d.v.layers.map((l) => l.integrity.status), ['ok', 'ok', 'tampered']);
  const dr = await reportJson(['report', ociDir]);
  assert.ok(dr.json!.problems.some((p) => p.code === 'archive.layers.not-hashed'));

  // on stdin the archive is read once and every layer is hashed: report catches it without --verify
  const s = await reportJson(['report', '-'], { stdin: file });
  assert.equal(s.code, 4);
  assert.ok(s.json!.problems.some((p) => p.code === 'blob.digest.mismatch' && p.severity === 'error'));
  assert.ok(s.json!.problems.some((p) => p.code === 'layer.diffid.mismatch' && p.severity === 'error'));
  assert.ok(!s.json!.problems.some((p) => p.code === 'archive.layers.not-hashed'));
  assert.equal(fingerprint(file), fp);
});

test('a layer two images share, stored twice: only the tampered copy fails, and the finding names both users', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const a: ImageSpec = { tag: 'a:1', layers: [L0, L1] };
  const b: ImageSpec = { tag: 'b:1', layers: [L0, L2], stored: [tamperLayer(L0, 'bin/sh')] };
  const file = join(dir, 'shared.tar');
  writeFileSync(file, legacySave([a, b]));
  const { code, v } = await verifyJson(file);
  assert.equal(code, 1);
  const base = v.layers.find((l) => l.diffId === sha256(L0))!;
  assert.equal(base.integrity.status, 'tampered');
  assert.equal(base.integrity.findings, 1);
  assert.deepEqual(base.usedBy.images.map((i) => i.tags[0]).sort(), ['a:1', 'b:1']);
  assert.deepEqual(v.findings.map((f) => f.member), ['b10/layer.tar'], 'the copy a:1 uses is fine, b:1\'s is not');
  // the same base layer, symlinked as docker save does for a repeat: one blob, hashed once, ok
  const linked = tar([
    { name: 'x0/layer.tar', body: L0 },
    { name: 'y0/layer.tar', type: '2', linkname: '../x0/layer.tar' },
    { name: 'ca.json', body: Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [sha256(L0)] } })) },
    { name: 'cb.json', body: Buffer.from(JSON.stringify({ os: 'linux', architecture: 'arm64', rootfs: { type: 'layers', diff_ids: [sha256(L0)] } })) },
    { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'ca.json', RepoTags: ['x:1'], Layers: ['x0/layer.tar'] }, { Config: 'cb.json', RepoTags: ['y:1'], Layers: ['y0/layer.tar'] }])) },
  ]);
  const lf = join(dir, 'linked.tar');
  writeFileSync(lf, linked);
  const ok = await verifyJson(lf);
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(ok.v.layers.length, 1);
});

test('one image in two manifest entries naming different blobs: the blobs of the entry not listed are checked too', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  // same config (same image ID) -> one image with tags a:1 and b:1; b:1's entry stores a tampered base layer
  const file = join(dir, 'twice.tar');
  writeFileSync(file, legacySave([{ tag: 'a:1', layers: [L0, L1] }, { tag: 'b:1', layers: [L0, L1], stored: [tamperLayer(L0, 'bin/sh')] }]));
  const fp = fingerprint(file);
  const rep = await reportJson(['report', file, '--verify']);
  assert.equal(rep.code, 4);
  assert.deepEqual(rep.json!.images.map((i) => i.tags), [['a:1', 'b:1']]);
  assert.deepEqual(rep.json!.problems.filter((p) => p.code === 'layer.diffid.mismatch').map((p) => p.path), ['b10/layer.tar']);
  const { code, v } = await verifyJson(file);
  assert.equal(code, 1);
  assert.deepEqual(v.layers.map((l) => l.integrity.status), ['tampered', 'ok']);
  assert.deepEqual(v.findings.map((f) => f.member), ['b10/layer.tar']);
  assert.equal(fingerprint(file), fp);
});

test('gzip layer with one byte flipped: hashed while decompressing, caught by report (no --verify needed) and verify', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  for (const [name, flipAt] of [['middle', 0.5], ['crc', -6]] as const) {
    const gz = gzipSync(L2);
    const bad = Buffer.from(gz);
    const at = flipAt < 0 ? bad.length + flipAt : Math.floor(bad.length * flipAt);
    bad[at] ^= 0x20;
    const img: ImageSpec = { tag: 'gz:1', layers: [L0, L2], stored: [undefined, bad] };
    const file = join(dir, `${name}.tar`);
    writeFileSync(file, ociArchive([img], { gzip: true }));
    const fp = fingerprint(file);
    const r = await reportJson(['report', file]);
    assert.equal(r.code, 4, name);
    assert.ok(r.json!.problems.some((p) => p.code === 'blob.digest.mismatch' && p.severity === 'error'), `${name}: ${JSON.stringify(r.json!.problems)}`);
    assert.ok(!r.json!.problems.some((p) => p.code === 'archive.layers.not-hashed'), 'compressed layers are hashed anyway');
    const { code, v } = await verifyJson(file);
    assert.equal(code, 1, name);
    assert.deepEqual(v.layers.map((l) => l.integrity.status), ['ok', 'tampered'], name);
    assert.ok(v.findings.some((f) => f.kind === 'blob-digest'), name);
    assert.equal(fingerprint(file), fp);
  }
  // legacy layout with a gzip layer (no blob digest to compare): corruption alone must fail the layer
  const gz = gzipSync(L1);
  gz[gz.length - 6] ^= 0xff; // the CRC-32 trailer
  const file = join(dir, 'legacy-gz.tar');
  writeFileSync(file, legacySave([{ tag: 'lg:1', layers: [L0, L1], stored: [undefined, gz] }]));
  const { code, v } = await verifyJson(file);
  assert.equal(code, 1);
  assert.deepEqual(v.layers.map((l) => l.integrity.status), ['ok', 'tampered']);
  assert.match(v.findings[0]!.kind, /^(corrupt|diffid)$/);
});

test('a tampered layer in a compressed archive (read once, as a stream): caught without --verify', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const img: ImageSpec = { tag: 'z:1', layers: [L0, L1], stored: [undefined, tamperLayer(L1, 'app/run')] };
  const gz = join(dir, 'save.tar.gz');
  writeFileSync(gz, gzipSync(legacySave([img])));
  const r = await reportJson(['report', gz]);
  assert.equal(r.code, 4);
  assert.ok(r.json!.problems.some((p) => p.code === 'layer.diffid.mismatch' && p.path === 'z11/layer.tar'));
  const { code, v } = await verifyJson(gz);
  assert.equal(code, 1);
  assert.deepEqual(v.layers.map((l) => l.integrity.status), ['ok', 'tampered']);
});
