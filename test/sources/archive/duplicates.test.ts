/**
 * Hostile evidence, class 2: one name, two members. Two `manifest.json`, two copies of a blob, two
 * `<id>/layer.tar`: tools disagree on which copy counts, so an attacker can show one image to us and another to
 * the engine. Each is an error naming the member and the offsets of its copies, and the copy used is stated and
 * deterministic: the LAST one, as docker load uses (it extracts the archive; a later member overwrites an
 * earlier one). File and stdin agree. Run on the BUILT CLI; the archive is byte-identical afterwards.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tar, type RawMember } from '../tar/helpers.js';
import { assertBuilt, configOf, fingerprint, hex, layerTar, ociMembers, reportJson, sha256, tamperLayer, tempDir, type ImageSpec } from './hostile-helpers.js';

before(assertBuilt);

const L0 = layerTar({ 'etc/os-release': 'ID=good\n' });
const L1 = layerTar({ 'usr/bin/tool': Buffer.alloc(3000, 1) });

/** Header offsets of the members named `name`, in the order they appear. */
function offsetsOf(archive: Buffer, name: string): number[] {
  const out: number[] = [];
  for (let off = 0; off + 512 <= archive.length; ) {
    const h = archive.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const n = h.toString('latin1', 0, 100).replace(/\0.*$/s, '');
    const size = parseInt(h.toString('latin1', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
    if (n === name) out.push(off);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

async function bothWays(file: string) {
  const f = await reportJson(['report', file]);
  const s = await reportJson(['report', '-'], { stdin: file });
  return [f, s] as const;
}

test('two manifest.json: an error naming both offsets; the last one is used (file and stdin alike)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const good: ImageSpec = { tag: 'shown:1', layers: [L0] };
  const evil: ImageSpec = { tag: 'hidden:1', layers: [L0, L1] };
  const cg = configOf(good);
  const ce = configOf(evil);
  const members: RawMember[] = [
    { name: 'l0.tar', body: L0 },
    { name: 'l1.tar', body: L1 },
    { name: 'g.json', body: cg },
    { name: 'e.json', body: ce },
    { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'g.json', RepoTags: ['shown:1'], Layers: ['l0.tar'] }])) },
    { name: './manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'e.json', RepoTags: ['hidden:1'], Layers: ['l0.tar', 'l1.tar'] }])) },
  ];
  const archive = tar(members);
  const file = join(dir, 'two-manifests.tar');
  writeFileSync(file, archive);
  const fp = fingerprint(file);
  const [off1] = offsetsOf(archive, 'manifest.json');
  const [off2] = offsetsOf(archive, './manifest.json');
  for (const r of await bothWays(file)) {
    assert.equal(r.code, 4, r.stderr);
    const dup = r.json!.problems.filter((p) => p.code === 'archive.member.duplicate');
    assert.equal(dup.length, 1, JSON.stringify(r.json!.problems));
    assert.equal(dup[0]!.severity, 'error');
    assert.equal(dup[0]!.path, 'manifest.json');
    assert.match(dup[0]!.message, new RegExp(`2 members are named "manifest.json" \\(headers at offsets ${off1}, ${off2}\\): the last copy \\(offset ${off2}\\) is the one used, as docker load`));
    assert.deepEqual(r.json!.images.map((i) => i.tags), [['hidden:1']], 'the last manifest.json decides');
  }
  assert.equal(fingerprint(file), fp);
});

test('two copies of an OCI blob (first good, second tampered): error, the last copy is the one read and hashed', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const img: ImageSpec = { tag: 'blob:1', layers: [L0, L1] };
  const members = ociMembers([img]);
  const blob = `blobs/sha256/${hex(sha256(L1))}`;
  const bad = tamperLayer(L1, 'usr/bin/tool');
  members.push({ name: blob, body: bad });
  const archive = tar(members);
  const file = join(dir, 'blob-twice.tar');
  writeFileSync(file, archive);
  const offs = offsetsOf(archive, blob);
  assert.equal(offs.length, 2);
  const plain = await reportJson(['report', file]);
  assert.equal(plain.code, 4);
  const dup = plain.json!.problems.find((p) => p.code === 'archive.member.duplicate')!;
  assert.equal(dup.path, blob);
  assert.match(dup.message, new RegExp(`offsets ${offs[0]}, ${offs[1]}\\): the last copy \\(offset ${offs[1]}\\)`));
  // hashing reads the copy that is used: the tampered one
  const v = await reportJson(['report', file, '--verify']);
  assert.ok(v.json!.problems.some((p) => p.code === 'layer.diffid.mismatch' && p.path === blob));
  const s = await reportJson(['report', '-'], { stdin: file });
  assert.ok(s.json!.problems.some((p) => p.code === 'archive.member.duplicate' && p.path === blob));
  assert.ok(s.json!.problems.some((p) => p.code === 'layer.diffid.mismatch' && p.path === blob), 'stdin uses the last copy too');
});

test('two <id>/layer.tar in a legacy save, and a symlink and a file under one name: each an error; directories repeated are not', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const cfg = configOf({ tag: 'x:1', layers: [L0] });
  const archive = tar([
    { name: 'abc/', type: '5' },
    { name: 'abc/layer.tar', body: L0 },
    { name: 'abc/', type: '5' }, // a repeated directory entry: harmless, not reported
    { name: 'abc/layer.tar', body: tamperLayer(L0, 'etc/os-release') },
    { name: 'c.json', body: cfg },
    { name: 'c.json', type: '2', linkname: 'abc/layer.tar' },
    { name: 'c2.json', body: cfg },
    { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'c2.json', RepoTags: ['x:1'], Layers: ['abc/layer.tar'] }])) },
  ]);
  const file = join(dir, 'legacy-dup.tar');
  writeFileSync(file, archive);
  const r = await reportJson(['report', file, '--verify']);
  assert.equal(r.code, 4);
  const dups = r.json!.problems.filter((p) => p.code === 'archive.member.duplicate').map((p) => p.path).sort();
  assert.deepEqual(dups, ['abc/layer.tar', 'c.json']);
  assert.ok(r.json!.problems.some((p) => p.code === 'layer.diffid.mismatch' && p.path === 'abc/layer.tar'), 'the last (tampered) copy is the one hashed');
});

test('thousands of duplicates: listed up to a bound, then counted (the report stays small)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const members: RawMember[] = [];
  for (let i = 0; i < 3000; i++) members.push({ name: `junk${i % 1000}`, body: Buffer.from('x') });
  const img: ImageSpec = { tag: 'x:1', layers: [L0] };
  members.push(...ociMembers([img]));
  const file = join(dir, 'many.tar');
  writeFileSync(file, tar(members));
  const r = await reportJson(['report', file]);
  assert.equal(r.code, 4);
  const dups = r.json!.problems.filter((p) => p.code === 'archive.member.duplicate');
  assert.equal(dups.length, 21, 'twenty named, then one count');
  assert.match(dups[20]!.message, /^980 more duplicated member names/);
  assert.ok(r.stdout.length < 100_000);
});
