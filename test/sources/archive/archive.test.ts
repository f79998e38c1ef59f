import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, mkdirSync, readdirSync, statSync, writeFileSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants as zc } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { openArchive } from '../../../src/core/sources/archive/index.js';
import type { Source } from '../../../src/core/model/source.js';
import type { ImageInfo, LayerChanges } from '../../../src/core/model/types.js';
import { SourceError, NotFoundError } from '../../../src/core/model/errors.js';
import { tempDir, tar, paxRecord, hasTool } from '../tar/helpers.js';
import { zlibZstdWorks, zstdImplementation } from '../../../src/core/sources/tar/index.js';

const FIX = fileURLToPath(new URL('../../fixtures/archives/', import.meta.url));

async function dump(s: Source) {
  const images = [];
  for (const img of s.images) {
    const layers: LayerChanges[] = [];
    for (const l of img.layers) {
      const t = await s.readLayer(img, l.index);
      layers.push({ entries: t.entries, problems: t.problems });
    }
    images.push({ img, layers });
  }
  return images;
}
/** What must agree between formats: everything but id, tags and location (skopeo rewrites the config). */
function comparable(img: ImageInfo) {
  // parent: a save records it only when the parent image is saved too (and skopeo never), so it is not compared
  const { id, tags, digests, config, layers, parent, ...rest } = img;
  void id; void tags; void digests; void config; void parent;
  return { ...rest, layers: layers.map(({ location, ...l }) => (void location, l)) };
}

test('committed fixtures: every format loads, with the expected kind, tags and no problems', async () => {
  const want: Record<string, [string, string[][]]> = {
    'legacy-20.10.tar': ['docker-archive', [['lsa-tiny2:1'], ['lsa-tiny:1']]],
    'docker26.tar': ['docker-archive', [['lsa-tiny2:1'], ['lsa-tiny:1']]],
    'containerd-multi.tar': ['docker-archive', [['lsa-multi:1']]],
    'skopeo-oci.tar': ['oci-archive', [['lsa-tiny:1']]],
    'skopeo-docker.tar': ['docker-archive', [['lsa-tiny:1']]],
  };
  for (const [file, [kind, tags]] of Object.entries(want)) {
    const s = await openArchive(join(FIX, file), { verify: true });
    try {
      assert.equal(s.kind, kind, file);
      assert.deepEqual(s.images.map((i) => i.tags), tags, file);
      assert.deepEqual(s.problems.filter((p) => p.severity !== 'info'), [], file);
      assert.deepEqual(s.containers, []);
      for (const { layers } of await dump(s)) for (const l of layers) assert.deepEqual(l.problems, [], file);
      await assert.rejects(s.readContainerLayer({} as never, 'rw'), NotFoundError);
    } finally {
      await s.close();
    }
  }
});

test('the same image agrees across legacy, Docker 26, containerd-store, skopeo oci and docker archives', async () => {
  const pick = async (file: string, tag: string) => {
    const s = await openArchive(join(FIX, file), { verify: true });
    const all = await dump(s);
    await s.close();
    const x = all.find((i) => i.img.tags.includes(tag))!;
    return { info: comparable(x.img), layers: x.layers };
  };
  const ref = await pick('legacy-20.10.tar', 'lsa-tiny:1');
  for (const [file, tag] of [['docker26.tar', 'lsa-tiny:1'], ['containerd-multi.tar', 'lsa-multi:1'], ['skopeo-oci.tar', 'lsa-tiny:1'], ['skopeo-docker.tar', 'lsa-tiny:1']]) {
    const got = await pick(file!, tag!);
    assert.deepEqual(got.layers, ref.layers, file);
    assert.deepEqual(got.info, ref.info, file);
  }
  // manifest.json Parent: the saved parent image (lsa-tiny2 was built FROM lsa-tiny)
  for (const file of ['legacy-20.10.tar', 'docker26.tar']) {
    const s = await openArchive(join(FIX, file));
    const tiny = s.images.find((i) => i.tags.includes('lsa-tiny:1'))!;
    const tiny2 = s.images.find((i) => i.tags.includes('lsa-tiny2:1'))!;
    assert.equal(tiny2.parent, tiny.id, file);
    assert.equal(tiny.parent, null, file);
    await s.close();
  }
  const tiny2a = await pick('legacy-20.10.tar', 'lsa-tiny2:1');
  const tiny2b = await pick('docker26.tar', 'lsa-tiny2:1');
  assert.deepEqual(tiny2a, tiny2b);
});

test('file, stdin, gzip-compressed and zstd-compressed archive, and an OCI dir give the same result', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = join(FIX, 'docker26.tar');
  const base = await openArchive(file);
  const ref = await dump(base);
  await base.close();
  const gz = join(dir, 'a.tar.gz');
  writeFileSync(gz, gzipSync(readFileSync(file)));
  const variants: [string, () => Promise<Source>][] = [
    ['stdin', () => openArchive('-', { stdin: createReadStream(file) })],
    ['gzip', () => openArchive(gz)],
    ['gzip on stdin', () => openArchive('-', { stdin: createReadStream(gz) })],
  ];
  if (hasTool('zstd')) {
    const zs = join(dir, 'a.tar.zst');
    execFileSync('zstd', ['-q', '-o', zs, file]);
    variants.push([`zstd (default: ${await zstdImplementation()})`, () => openArchive(zs)]);
    // and each implementation this machine has, forced: node:zlib's (where it works: Node 24) and its fallbacks
    if (await zlibZstdWorks()) variants.push(['zstd (zlib)', () => openArchive(zs, { decompress: { zstd: 'zlib' } })]);
    variants.push(['zstd (system)', () => openArchive(zs, { decompress: { zstd: 'system' } })]);
    variants.push(['zstd (js)', () => openArchive(zs, { decompress: { zstd: 'js' } })]);
  }
  for (const [name, open] of variants) {
    const s = await open();
    const got = await dump(s);
    await s.close();
    assert.deepEqual(got, ref, name);
  }
  // OCI layout directory: unpack skopeo's oci-archive
  const ociDir = join(dir, 'oci');
  mkdirSync(ociDir);
  execFileSync('tar', ['-C', ociDir, '-xf', join(FIX, 'skopeo-oci.tar')]);
  const a = await openArchive(join(FIX, 'skopeo-oci.tar'));
  const b = await openArchive(ociDir, { verify: true });
  assert.equal(b.kind, 'oci-dir');
  assert.deepEqual(await dump(b), await dump(a));
  await a.close();
  await b.close();
});

test('multi-platform index: host platform by default, choice recorded, attestation skipped, other platforms missing', async () => {
  const file = join(FIX, 'containerd-multi.tar');
  const s = await openArchive(file, { platform: 'linux/amd64' });
  assert.equal(s.images.length, 1);
  const chosen = s.problems.find((p) => p.code === 'oci.platform.chosen')!;
  assert.match(chosen.message, /chose linux\/amd64 .*available: linux\/amd64, linux\/arm64\/v8; 1 attestation/);
  await s.close();
  const arm = await openArchive(file, { platform: 'linux/arm64' });
  assert.equal(arm.images.length, 0);
  assert.ok(arm.problems.some((p) => p.code === 'archive.blob.missing' && p.severity === 'error'));
  await arm.close();
  const none = await openArchive(file, { platform: 'linux/s390x' });
  assert.equal(none.images.length, 0);
  assert.ok(none.problems.some((p) => p.code === 'oci.platform.unavailable'));
  await none.close();
});

// ---------------------------------------------------------------------------------------------------------
// hostile archives

const layerTar = (members: Parameters<typeof tar>[0]) => tar(members);
function legacyArchive(layers: Buffer[], extra: Parameters<typeof tar>[0] = [], manifestOverride?: string): Buffer {
  const { createHash } = require_crypto();
  const diffIds = layers.map((l) => 'sha256:' + createHash('sha256').update(l).digest('hex'));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, history: layers.map((_, i) => ({ created_by: `step ${i}` })) }));
  const cfgName = createHash('sha256').update(config).digest('hex') + '.json';
  const manifest = manifestOverride ?? JSON.stringify([{ Config: cfgName, RepoTags: ['docker.io/library/evil:1'], Layers: layers.map((_, i) => `l${i}/layer.tar`) }]);
  return tar([
    ...layers.map((l, i) => ({ name: `l${i}/layer.tar`, body: l })),
    ...extra,
    { name: cfgName, body: config },
    { name: 'manifest.json', body: Buffer.from(manifest) },
  ]);
}
import * as cryptoMod from 'node:crypto';
function require_crypto() {
  return cryptoMod;
}

async function openBuf(buf: Buffer, dir: string, name = 'a.tar', opts = {}) {
  const p = join(dir, name);
  writeFileSync(p, buf);
  return openArchive(p, opts);
}

test('hostile layer members: ../ escapes, absolute names, hardlink escapes, a 10,000-deep path', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const deep = Array.from({ length: 10_000 }, () => 'd').join('/') + '/f';
  const layer = layerTar([
    { name: '../../x', body: Buffer.from('x') },
    { name: '/etc/passwd', body: Buffer.from('root') },
    { name: 'evil', type: '1', linkname: '../../../etc/shadow' },
    { name: 'placeholder', body: Buffer.from('deep'), pax: [paxRecord('path', deep)] },
  ]);
  const before = readdirSync(dir);
  const t0 = Date.now();
  for (const mode of ['file', 'stdin'] as const) {
    const archive = legacyArchive([layer]);
    const s = mode === 'file' ? await openBuf(archive, dir) : await openArchive('-', { stdin: bufStream(archive) });
    assert.deepEqual(s.images[0]!.tags, ['evil:1']);
    const c = await s.readLayer(s.images[0]!, 0);
    assert.deepEqual(c.entries.map((e) => (e.path === deep ? 'DEEP' : e.path)), ['DEEP', 'etc/passwd']);
    assert.ok(c.problems.some((p) => p.code === 'layer.path.unsafe' && p.path!.includes('../../x')));
    assert.ok(c.problems.some((p) => p.code === 'layer.hardlink.unsafe' && p.path!.endsWith(':evil')));
    assert.ok(c.problems.some((p) => p.code === 'layer.path.absolute'));
    await s.close();
  }
  assert.ok(Date.now() - t0 < 5000);
  assert.deepEqual(readdirSync(dir).sort(), [...before, 'a.tar'].sort(), 'nothing written beside the evidence');
});

function bufStream(b: Buffer) {
  return (async function* () {
    for (let i = 0; i < b.length; i += 4096) yield b.subarray(i, i + 4096);
  })() as unknown as import('node:stream').Readable;
}

test('layer paths that are symlinks: resolved inside the archive, loops and escapes refused', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const good = layerTar([{ name: 'hello', body: Buffer.from('hi') }]);
  const { createHash } = cryptoMod;
  const d = 'sha256:' + createHash('sha256').update(good).digest('hex');
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [d, d, d, d] } }));
  const manifest = JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['real/layer.tar', 'via/layer.tar', 'loop1/layer.tar', 'out/layer.tar'] }]);
  const archive = tar([
    { name: 'real/layer.tar', body: good },
    { name: 'via/layer.tar', type: '2', linkname: '../real/layer.tar' },
    { name: 'loop1/layer.tar', type: '2', linkname: '../loop2/layer.tar' },
    { name: 'loop2/layer.tar', type: '2', linkname: '../loop1/layer.tar' },
    { name: 'out/layer.tar', type: '2', linkname: '../../../../etc/passwd' },
    { name: 'c.json', body: config },
    { name: 'manifest.json', body: Buffer.from(manifest) },
  ]);
  for (const s of [await openBuf(archive, dir), await openArchive('-', { stdin: bufStream(archive) })]) {
    const img = s.images[0]!;
    const [l0, l1, l2, l3] = await Promise.all([0, 1, 2, 3].map((i) => s.readLayer(img, i)));
    assert.deepEqual(l0!.entries.map((e) => e.path), ['hello']);
    assert.deepEqual(l1, l0);
    assert.equal(l2!.problems[0]!.code, 'archive.link.loop');
    assert.equal(l3!.problems[0]!.code, 'archive.link.unsafe');
    assert.equal(l2!.entries.length + l3!.entries.length, 0);
    await s.close();
  }
});

test('missing blob, invalid JSON, truncated archive, truncated layer, wrong diffId', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const l0 = layerTar([{ name: 'a', body: Buffer.from('a') }]);
  const l1 = layerTar([{ name: 'b', body: Buffer.alloc(3000, 1) }]);
  const { createHash } = cryptoMod;
  const h = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
  const mkcfg = (ids: string[]) => Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: ids } }));
  const c1 = mkcfg([h(l0)]);
  const c2 = mkcfg([h(l0), h(l1)]);
  // two images; the second's second layer is missing
  const manifest = JSON.stringify([
    { Config: 'c1.json', RepoTags: ['ok:1'], Layers: ['l0.tar'] },
    { Config: 'c2.json', RepoTags: ['broken:1'], Layers: ['l0.tar', 'missing.tar'] },
    { Config: 'nope.json', RepoTags: ['gone:1'], Layers: [] },
  ]);
  const arch = tar([{ name: 'l0.tar', body: l0 }, { name: 'c1.json', body: c1 }, { name: 'c2.json', body: c2 }, { name: 'manifest.json', body: Buffer.from(manifest) }]);
  const s = await openBuf(arch, dir);
  assert.deepEqual(s.images.map((i) => i.tags[0]).sort(), ['broken:1', 'ok:1']);
  assert.ok(s.problems.some((p) => p.code === 'archive.blob.missing' && p.path === 'missing.tar' && p.severity === 'error'));
  assert.ok(s.problems.some((p) => p.code === 'archive.blob.missing' && p.path === 'nope.json'));
  const broken = s.images.find((i) => i.tags[0] === 'broken:1')!;
  assert.equal((await s.readLayer(broken, 1)).problems[0]!.code, 'archive.member.missing');
  assert.deepEqual((await s.readLayer(broken, 0)).entries.map((e) => e.path), ['a']);
  await s.close();

  // invalid JSON in the only list of images: nothing is recognised, opening fails and says why
  await assert.rejects(
    openBuf(tar([{ name: 'manifest.json', body: Buffer.from('[{"Config": ') }]), dir, 'bad.tar'),
    (e: unknown) => e instanceof SourceError && e.code === 'archive.json.invalid' && /"manifest\.json" is not valid JSON/.test(e.message),
  );

  // not an archive at all / v1
  await assert.rejects(openBuf(tar([{ name: 'hello', body: Buffer.from('x') }]), dir, 'n.tar'), (e: unknown) => e instanceof SourceError && e.code === 'archive.unrecognised');

  // truncated outer archive: members before the cut still count, the cut is an error problem
  const full = tar([{ name: 'c1.json', body: c1 }, { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'c1.json', Layers: ['l0.tar'] }])) }, { name: 'l0.tar', body: l0 }]);
  const cut = full.subarray(0, full.length - 1024 - 700);
  for (const tr of [await openBuf(cut, dir, 'cut.tar'), await openArchive('-', { stdin: bufStream(cut) })]) {
    assert.ok(tr.problems.some((p) => p.code === 'archive.truncated' && p.severity === 'error'), tr.location);
    assert.equal(tr.images.length, 1);
    const c = await tr.readLayer(tr.images[0]!, 0);
    assert.equal(c.problems[0]!.severity, 'error');
    await tr.close();
  }

  // a layer whose bytes do not hash to its diffId (tampered), detected when read (verify or stream)
  const tampered = layerTar([{ name: 'a', body: Buffer.from('A') }]);
  const arch2 = tar([{ name: 'l0.tar', body: tampered }, { name: 'c1.json', body: c1 }, { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'c1.json', Layers: ['l0.tar'] }])) }]);
  for (const tr of [await openBuf(arch2, dir, 't.tar', { verify: true }), await openArchive('-', { stdin: bufStream(arch2) })]) {
    const c = await tr.readLayer(tr.images[0]!, 0);
    assert.ok(c.problems.some((p) => p.code === 'layer.diffid.mismatch' && p.severity === 'error'), tr.location);
    await tr.close();
  }
});

test('gzip bomb: stopped by the ratio guard, the output cap, and the default limits, with bounded memory', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  // 64 MiB of zeros deflated, repeated as gzip members: each ~65 KB, 1032:1
  const member = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9, memLevel: 9, strategy: zc.Z_DEFAULT_STRATEGY });
  const bomb = Buffer.concat(Array.from({ length: 20 }, () => member)); // ~1.3 MB -> 1.25 GiB
  const { createHash } = cryptoMod;
  const cfg = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: ['sha256:' + '0'.repeat(64)] } }));
  const arch = tar([{ name: 'bomb.tar.gz', body: bomb }, { name: 'c.json', body: cfg }, { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'c.json', Layers: ['bomb.tar.gz'] }])) }]);
  void createHash;
  const rss0 = process.memoryUsage().rss;
  const cases: [string, object][] = [
    ['ratio', { decompress: { ratioAfter: 8 * 1024 * 1024, maxRatio: 100 } }],
    ['cap', { decompress: { maxOutput: 32 * 1024 * 1024 } }],
    ['default', {}],
  ];
  for (const [name, opts] of cases) {
    const t0 = Date.now();
    const s = await openBuf(arch, dir, 'bomb.tar', opts);
    const c = await s.readLayer(s.images[0]!, 0);
    assert.ok(c.problems.some((p) => p.code === 'compression.bomb' && p.severity === 'error'), `${name}: ${JSON.stringify(c.problems)}`);
    assert.ok(Date.now() - t0 < 15000, `${name} took ${Date.now() - t0} ms`);
    await s.close();
  }
  // the whole archive gzipped as a bomb, on stdin
  const outer = Buffer.concat(Array.from({ length: 4 }, () => member));
  await openArchive('-', { stdin: bufStream(outer), decompress: { maxOutput: 100 * 1024 * 1024 } }).then(
    () => assert.fail('expected an error'),
    (e: unknown) => assert.ok(e instanceof SourceError, String(e)),
  );
  assert.ok(process.memoryUsage().rss - rss0 < 400 * 1024 * 1024, 'memory stays bounded');
});

test('xz and bzip2 layers: clear unsupported-compression problems', async (t) => {
  if (!hasTool('xz') || !hasTool('bzip2')) return t.skip('xz/bzip2 missing');
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const l = layerTar([{ name: 'a', body: Buffer.from('a') }]);
  for (const tool of ['xz', 'bzip2']) {
    const z = execFileSync(tool, ['-c'], { input: l });
    const cfg = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: ['sha256:' + cryptoMod.createHash('sha256').update(l).digest('hex')] } }));
    const s = await openBuf(tar([{ name: 'l', body: z }, { name: 'c.json', body: cfg }, { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: 'c.json', Layers: ['l'] }])) }]), dir, tool + '.tar');
    const c = await s.readLayer(s.images[0]!, 0);
    assert.equal(c.problems[0]!.code, 'compression.unsupported', tool);
    assert.match(c.problems[0]!.message, new RegExp(`unsupported compression ${tool}`));
    await s.close();
  }
});

test('docker:REF runs the engine CLI (DOCKER_HOST honoured) and a failing save is a clear error', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  // a fake `docker` that records its argv and DOCKER_HOST, then writes a fixture to stdout
  const fake = join(dir, 'docker');
  writeFileSync(fake, `#!/bin/sh\necho "$@ $DOCKER_HOST" > ${dir}/argv\nif [ "$3" = nosuch ]; then echo 'Error: No such image: nosuch' >&2; exit 1; fi\ncat ${join(FIX, 'docker26.tar')}\n`, { mode: 0o755 });
  const s = await openArchive('docker:lsa-tiny:1', { dockerCommand: fake, env: { ...process.env, DOCKER_HOST: 'unix:///x.sock' } });
  assert.equal(readFileSync(join(dir, 'argv'), 'utf8').trim(), 'save -- lsa-tiny:1 unix:///x.sock');
  assert.equal(s.images.length, 2);
  assert.equal(s.location, 'docker:lsa-tiny:1');
  await s.close();
  await assert.rejects(openArchive('docker:nosuch', { dockerCommand: fake }), (e: unknown) => e instanceof SourceError && /No such image: nosuch/.test(e.message));
  await assert.rejects(openArchive('podman:x', { podmanCommand: join(dir, 'does-not-exist') }), (e: unknown) => e instanceof SourceError && e.code === 'engine.unavailable');
  void spawn; void statSync; void symlinkSync;
});
