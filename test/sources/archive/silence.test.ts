/**
 * Hostile evidence, class 4: silence. An archive (or OCI layout directory) in which nothing can be recognised
 * as a list of images is a source error (exit 3) whose message names the real cause: index.json missing (only
 * oci-layout), a dangling symlink, a symlink that climbs out, not JSON, the wrong shape, empty. It never reports
 * "0 images, 0 problems". When manifest.json can stand in (Docker >= 25 writes both), it does, with an error
 * about index.json. Other paths to zero images carry an error saying why. Run on the BUILT CLI; the archive is
 * byte-identical afterwards, and nothing is followed outside it.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tar, type RawMember } from '../tar/helpers.js';
import { assertBuilt, assertNoCrash, fingerprint, layerTar, ociMembers, reportJson, runCli, tempDir, type ImageSpec } from './hostile-helpers.js';

before(assertBuilt);

const L0 = layerTar({ 'etc/hostname': 'box\n' });
const IMG: ImageSpec = { tag: 'quiet:1', layers: [L0] };
const LAYOUT = { name: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') };

/** An OCI archive whose index.json is replaced by `index` (null: absent), with or without manifest.json. */
function withIndex(index: RawMember | null, dockerManifest = false): Buffer {
  return tar(ociMembers([IMG], { index, dockerManifest }));
}

const CASES: [string, Buffer, RegExp][] = [
  ['only oci-layout', tar([LAYOUT]), /index\.json is not in the archive \(oci-layout is\): no image can be found in this OCI layout/],
  ['index.json missing, blobs there', withIndex(null), /index\.json is not in the archive \(oci-layout is\): no image can be found in this OCI layout/],
  ['index.json a dangling symlink', withIndex({ name: 'index.json', type: '2', linkname: 'blobs/sha256/nothing-here' }), /"index\.json" leads through the link "index\.json" -> "blobs\/sha256\/nothing-here" to "blobs\/sha256\/nothing-here", which is not in the archive \(a dangling link\)/],
  ['index.json a symlink out of the archive', withIndex({ name: 'index.json', type: '2', linkname: '../../../etc/passwd' }), /link "index\.json" -> "\.\.\/\.\.\/\.\.\/etc\/passwd" points outside the archive \(never followed\)/],
  ['index.json an absolute symlink', withIndex({ name: 'index.json', type: '2', linkname: '/etc/passwd' }), /"index\.json" leads through the link "index\.json" -> "\/etc\/passwd" to "etc\/passwd", which is not in the archive/],
  ['index.json a hardlink to nothing', withIndex({ name: 'index.json', type: '1', linkname: 'gone.json' }), /a dangling link/],
  ['index.json a directory', withIndex({ name: 'index.json/', type: '5' }), /"index\.json" is a dir, not a file/],
  ['index.json not JSON', withIndex({ name: 'index.json', body: Buffer.from('\x7fELF\x02\x01') }), /"index\.json" is not (valid )?JSON/],
  ['index.json empty', withIndex({ name: 'index.json', body: Buffer.alloc(0) }), /"index\.json" is (not valid JSON|empty, not JSON)/],
  ['index.json null', withIndex({ name: 'index.json', body: Buffer.from('null') }), /index\.json is null, not a JSON object/],
  ['index.json an array', withIndex({ name: 'index.json', body: Buffer.from('[1,2]') }), /index\.json is an array, not a JSON object/],
  ['index.json without manifests', withIndex({ name: 'index.json', body: Buffer.from('{"schemaVersion":2}') }), /index\.json has no "manifests" array \(found nothing\)/],
  ['index.json manifests a string', withIndex({ name: 'index.json', body: Buffer.from('{"manifests":"sha256:x"}') }), /no "manifests" array \(found "sha256:x"\)/],
  ['index.json lists nothing', withIndex({ name: 'index.json', body: Buffer.from('{"schemaVersion":2,"manifests":[]}') }), /index\.json lists no manifests/],
  ['manifest.json empty array', tar([{ name: 'manifest.json', body: Buffer.from('[]') }]), /manifest\.json lists no images \(an empty array\)/],
  ['manifest.json a dangling symlink', tar([{ name: 'manifest.json', type: '2', linkname: 'm.json' }]), /"manifest\.json" leads through the link .* which is not in the archive \(a dangling link\)/],
  ['manifest.json an object', tar([{ name: 'manifest.json', body: Buffer.from('{"Config":"c.json"}') }]), /manifest\.json is an object, not a JSON array/],
  ['nothing at all', tar([{ name: 'README', body: Buffer.from('hi') }]), /not an image archive: no manifest\.json, no index\.json\/oci-layout/],
];

test('archives in which nothing is recognised: exit 3, and the message names the cause (archive file and stdin)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  for (const [name, archive, why] of CASES) {
    const file = join(dir, name.replace(/\W+/g, '-') + '.tar');
    writeFileSync(file, archive);
    const fp = fingerprint(file);
    const r = await runCli(['report', file]);
    assertNoCrash(r);
    assert.equal(r.code, 3, `${name}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, why, name);
    assert.doesNotMatch(r.stdout, /0 image\(s\)/, name);
    assert.equal(fingerprint(file), fp, name);
    const s = await runCli(['report', '-'], { stdin: archive });
    assert.equal(s.code, 3, `${name} (stdin)`);
    assert.match(s.stderr, why, `${name} (stdin)`);
  }
});

test('OCI layout directories: only oci-layout, a dangling index.json symlink, one that climbs out: exit 3 with the cause', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const mk = (name: string) => {
    const d = join(dir, name);
    mkdirSync(join(d, 'blobs/sha256'), { recursive: true });
    return d;
  };
  const only = mk('only-layout');
  writeFileSync(join(only, 'oci-layout'), LAYOUT.body);
  const dangling = mk('dangling');
  writeFileSync(join(dangling, 'oci-layout'), LAYOUT.body);
  symlinkSync('blobs/sha256/none', join(dangling, 'index.json'));
  const escaping = mk('escaping');
  symlinkSync('../../../../etc/passwd', join(escaping, 'index.json')); // no oci-layout: recognised by index.json alone
  const absolute = mk('absolute');
  writeFileSync(join(absolute, 'oci-layout'), LAYOUT.body);
  symlinkSync('/etc/hostname', join(absolute, 'index.json'));
  const cases: [string, RegExp][] = [
    [only, /index\.json is not in the archive \(oci-layout is\)/],
    [dangling, /"index\.json" leads through the link "index\.json" -> "blobs\/sha256\/none" .*dangling link/],
    [escaping, /link "index\.json" -> "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" points outside the archive \(never followed\)/],
    [absolute, /-> "\/etc\/hostname" to "etc\/hostname", which is not in the archive/],
  ];
  for (const [d, why] of cases) {
    const r = await runCli(['report', d]);
    assertNoCrash(r);
    assert.equal(r.code, 3, `${d}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, why, d);
    const v = await runCli(['verify', d, '--no-mount']);
    assert.equal(v.code, 3, `verify ${d}`);
  }
});

test('Docker >= 25 archive whose index.json is broken: images read from manifest.json, with an error naming index.json', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  for (const index of [{ name: 'index.json', body: Buffer.from('{"manifests":[]}') }, { name: 'index.json', type: '2', linkname: 'x' }, { name: 'index.json', body: Buffer.from('garbage') }] as RawMember[]) {
    const file = join(dir, 'd25.tar');
    writeFileSync(file, withIndex(index, true));
    const r = await reportJson(['report', file]);
    assert.equal(r.code, 4, r.stderr);
    assert.deepEqual(r.json!.images.map((i) => i.tags), [['quiet:1']]);
    const p = r.json!.problems.find((x) => x.path === 'index.json' && x.severity === 'error')!;
    assert.match(p.message, /images read from manifest\.json instead \(as docker load does\)/);
  }
});

test('index.json with descriptors that lead nowhere: zero images, each reason an error, and a summary error', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const index = { name: 'index.json', body: Buffer.from(JSON.stringify({ manifests: [1, null, 'x', { digest: 'sha256:' + '0'.repeat(64) }, { digest: 'not a digest' }, { digest: { toString: 1 } }] })) };
  const file = join(dir, 'nowhere.tar');
  writeFileSync(file, withIndex(index));
  const r = await reportJson(['report', file]);
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.json!.images.length, 0);
  const codes = r.json!.problems.filter((p) => p.severity === 'error').map((p) => p.code);
  assert.deepEqual(codes, ['oci.descriptor.invalid', 'oci.descriptor.invalid', 'oci.descriptor.invalid', 'archive.blob.missing', 'archive.descriptor.invalid', 'archive.descriptor.invalid', 'archive.no-images']);
  const text = await runCli(['report', file]);
  assert.match(text.stdout, /^0 image\(s\), 0 container\(s\), 7 problem\(s\)$/m);
  assert.match(text.stdout, /ERROR   archive\.no-images: no image could be read from this archive/);
});

test('sources that are not archives at all: a unix socket, /dev/null, an empty file: exit 3, never a crash', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const sock = join(dir, 'sock');
  const server = createServer();
  await new Promise<void>((res) => server.listen(sock, res));
  t.after(() => server.close());
  const empty = join(dir, 'empty.tar');
  writeFileSync(empty, '');
  for (const [src, why] of [
    [sock, /cannot read: ENXIO/],
    ['/dev/null', /not an image archive/],
    [empty, /not an image archive/],
  ] as const) {
    const r = await runCli(['report', src], { timeoutMs: 20_000 });
    assertNoCrash(r);
    assert.equal(r.code, 3, `${src}: ${r.stderr}`);
    assert.match(r.stderr, why, src);
  }
});
