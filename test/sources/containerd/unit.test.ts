/**
 * Engine-free checks of the containerd source: layout recognition (no symlink followed), store detection on
 * synthetic trees and on the real bolt fixtures, value decoders, platform choice, reference naming, and a
 * source opened on databases whose blobs and snapshot dirs are all missing (problems, no crash).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { detectStores, findContainerdLayout, openContainerdRoot, familiarName, _internal } from '../../../src/core/sources/containerd/index.js';
import { goTime, uvarint, varint } from '../../../src/core/sources/containerd/layout.js';
import { SourceError } from '../../../src/core/model/errors.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-ctd-unit-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const metaDb = gunzipSync(fs.readFileSync(path.join(FIX, 'meta.db.gz')));
const snapDb = gunzipSync(fs.readFileSync(path.join(FIX, 'metadata.db.gz')));
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));

let n = 0;
function mk(files: Record<string, string | Buffer | null>): string {
  const root = path.join(tmp, `t${n++}`);
  fs.mkdirSync(root);
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(content === null ? p : path.dirname(p), { recursive: true });
    if (content !== null) fs.writeFileSync(p, content);
  }
  return root;
}
const ctdFiles = (prefix: string) => ({
  [`${prefix}io.containerd.metadata.v1.bolt/meta.db`]: metaDb,
  [`${prefix}io.containerd.snapshotter.v1.overlayfs/metadata.db`]: snapDb,
  [`${prefix}io.containerd.snapshotter.v1.overlayfs/snapshots`]: null,
});

test('decoders: Go varints and time.MarshalBinary', () => {
  assert.equal(uvarint(Buffer.from([0x96, 0x01])), 150n);
  assert.equal(varint(Buffer.from([0x06])), 3n);
  assert.equal(varint(Buffer.from([0x05])), -3n);
  assert.equal(uvarint(Buffer.from([0x80])), null);
  assert.equal(uvarint(null), null);
  const epoch = Buffer.alloc(15);
  epoch[0] = 1;
  epoch.writeBigInt64BE(62135596800n, 1);
  epoch.writeInt32BE(5, 9);
  epoch.writeInt16BE(-1, 13);
  assert.equal(goTime(epoch), '1970-01-01T00:00:00.000000005Z');
  assert.equal(goTime(Buffer.from([9, 9])), null);
  // A createdat from the real fixture (written by containerd 1.7 in Nov 2026).
  assert.match(goTime(Buffer.from('010000000ee29648bd22e4f450ffff', 'hex'))!, /^2026-11-23T14:46:\d\d\.\d{9}Z$/);
});

test('platform choice, attestations, references', () => {
  const { parsePlatform, platformMatches, isAttestation, refOf, protoField } = _internal;
  const amd = parsePlatform('linux/amd64');
  assert.ok(platformMatches({ os: 'linux', architecture: 'amd64' }, amd));
  assert.ok(!platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, amd));
  assert.ok(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, parsePlatform('linux/arm')));
  assert.ok(!platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, parsePlatform('linux/arm/v7')));
  assert.ok(platformMatches({ os: 'linux', architecture: 'arm64' }, parsePlatform('linux/arm64/v8')));
  assert.ok(platformMatches({ os: 'linux', architecture: 'x86_64' }, amd));
  assert.ok(isAttestation({ platform: { os: 'unknown', architecture: 'unknown' } }));
  assert.ok(isAttestation({ annotations: { 'vnd.docker.reference.type': 'attestation-manifest' }, platform: { os: 'linux', architecture: 'amd64' } }));
  assert.ok(!isAttestation({ platform: { os: 'linux', architecture: 'amd64' } }));
  assert.deepEqual(refOf('docker.io/library/nginx:1.27', 'moby'), { kind: 'tag', ref: 'nginx:1.27', repo: 'nginx' });
  assert.deepEqual(refOf('docker.io/library/nginx:1.27', 'k8s.io'), { kind: 'tag', ref: 'docker.io/library/nginx:1.27', repo: 'docker.io/library/nginx' });
  assert.deepEqual(refOf('localhost:5000/app', 'moby'), { kind: 'tag', ref: 'localhost:5000/app', repo: 'localhost:5000/app' });
  assert.equal(refOf('moby-dangling@sha256:' + 'a'.repeat(64), 'moby').kind, 'other');
  assert.equal(refOf('sha256:' + 'a'.repeat(64), 'k8s.io').kind, 'other');
  assert.equal(refOf('registry.k8s.io/pause@sha256:' + 'b'.repeat(64), 'k8s.io').kind, 'digest');
  assert.equal(familiarName('docker.io/library/a/b:1'), 'library/a/b:1');
  assert.equal(familiarName('docker.io/user/app:1'), 'user/app:1');
  // protobuf Any { 1: type_url, 2: value }
  const any = Buffer.concat([Buffer.from([0x0a, 3]), Buffer.from('t/x'), Buffer.from([0x12, 2]), Buffer.from('{}')]);
  assert.equal(protoField(any, 2)?.toString(), '{}');
  assert.equal(protoField(Buffer.from([0x12, 50, 1]), 2), null, 'length past the end');
});

test('layout: containerd root, Docker data root, symlinks not followed', () => {
  const c = mk(ctdFiles(''));
  assert.deepEqual(findContainerdLayout(c), { kind: 'containerd', containerdRoot: c, dockerRoot: null });
  const d = mk(ctdFiles('containerd/daemon/'));
  assert.deepEqual(findContainerdLayout(d + '/'), { kind: 'docker', containerdRoot: path.join(d, 'containerd', 'daemon'), dockerRoot: d });
  assert.equal(findContainerdLayout(mk({ 'x/y': 'z' })), null);
  assert.equal(findContainerdLayout(path.join(tmp, 'nope')), null);
  // A planted symlink for the bolt dir, or for containerd/, is not a store.
  const s1 = mk({});
  fs.symlinkSync(path.join(c, 'io.containerd.metadata.v1.bolt'), path.join(s1, 'io.containerd.metadata.v1.bolt'));
  assert.equal(findContainerdLayout(s1), null);
  const s2 = mk({});
  fs.symlinkSync(path.join(d, 'containerd'), path.join(s2, 'containerd'));
  assert.equal(findContainerdLayout(s2), null);
});

test('detectStores on synthetic roots', () => {
  // Classic: overlay2 data and image metadata.
  const classic = mk({ 'image/overlay2/repositories.json': '{}', 'overlay2/abc/diff/f': 'x', [`containers/${'a'.repeat(64)}/config.v2.json`]: '{"Driver":"overlay2"}' });
  let d = detectStores(classic);
  assert.deepEqual([d.classic, d.containerd, d.engineWouldUse], [true, false, 'classic'], d.reasons.join('; '));
  assert.ok(d.reasons.some((r) => r.includes('overlay2 1')));
  // An empty overlay2/ dir is no prior driver (moby checks for a non-empty dir); vfs never counts.
  d = detectStores(mk({ overlay2: null, 'vfs/dir/x': 'y' }));
  assert.deepEqual([d.classic, d.containerd, d.engineWouldUse], [false, false, 'unknown'], d.reasons.join('; '));
  // Docker root on the containerd store (the fixture: images in namespace moby).
  const docker = mk({ ...ctdFiles('containerd/daemon/'), [`containers/${'b'.repeat(64)}/config.v2.json`]: '{"Driver":"overlayfs"}' });
  d = detectStores(docker);
  assert.deepEqual([d.classic, d.containerd, d.engineWouldUse], [false, true, 'containerd'], d.reasons.join('; '));
  // Both: graphdriver-prior wins unless daemon.json says otherwise.
  const both = mk({ ...ctdFiles('containerd/daemon/'), 'overlay2/abc/diff/f': 'x', 'image/overlay2/repositories.json': '{}' });
  d = detectStores(both);
  assert.deepEqual([d.classic, d.containerd, d.engineWouldUse], [true, true, 'classic'], d.reasons.join('; '));
  const dj = (cfg: unknown) => {
    const f = path.join(tmp, `daemon-${n++}.json`);
    fs.writeFileSync(f, JSON.stringify(cfg));
    return f;
  };
  assert.equal(detectStores(both, { daemonJson: dj({ features: { 'containerd-snapshotter': true } }) }).engineWouldUse, 'containerd');
  assert.equal(detectStores(docker, { daemonJson: dj({ features: { 'containerd-snapshotter': false } }) }).engineWouldUse, 'classic');
  assert.equal(detectStores(both, { daemonJson: dj({ 'storage-driver': 'stargz' }) }).engineWouldUse, 'containerd');
  assert.equal(detectStores(docker, { daemonJson: dj({ 'storage-driver': 'overlay2' }) }).engineWouldUse, 'classic');
  assert.equal(detectStores(both, { daemonJson: path.join(tmp, 'absent.json') }).engineWouldUse, 'classic');
  // A containerd root.
  d = detectStores(mk(ctdFiles('')));
  assert.deepEqual([d.classic, d.containerd, d.engineWouldUse], [false, true, 'containerd'], d.reasons.join('; '));
});

test('a store whose blobs and snapshot dirs are all gone: problems, no crash, nothing invented', async () => {
  const root = mk(ctdFiles(''));
  const src = await openContainerdRoot(root);
  assert.equal(src.kind, 'containerd-root');
  assert.equal(src.images.length, 0);
  const missing = src.problems.filter((p) => p.code === 'containerd.blob.missing');
  assert.equal(new Set(missing.map((p) => p.path)).size, new Set(Object.values(expected.images as Record<string, string>)).size);
  assert.ok(missing.every((p) => p.path!.startsWith(root + '/io.containerd.content.v1.content/blobs/sha256/')));
  // The containerd container record (the fixture's running container) is listed, its snapshot dir missing.
  assert.equal(src.containers.length, 1);
  const c = src.containers[0]!;
  assert.equal(c.id, expected.keeper.id);
  assert.equal(c.mountId, String(expected.keeper.upperId));
  assert.equal(c.rwDir, null);
  assert.ok(src.problems.some((p) => p.code === 'containerd.snapshot.dir-missing' && p.path!.endsWith(`/snapshots/${expected.keeper.upperId}/fs`)));
  assert.ok((await src.readContainerLayer(c, 'rw')).problems.some((p) => p.code === 'layer.missing'));
  // Namespace filter.
  const none = await openContainerdRoot(root, { namespace: 'k8s.io' });
  assert.equal(none.images.length + none.containers.length, 0);
  assert.ok(none.problems.some((p) => p.code === 'containerd.namespace.missing'));
  await none.close();
  await src.close();
  // Orphan snapshot dirs: a numbered dir that metadata.db does not know.
  fs.mkdirSync(path.join(root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots', '9999', 'fs'), { recursive: true });
  fs.writeFileSync(path.join(root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots', '9999', 'fs', 'x'), 'hello');
  const again = await openContainerdRoot(root);
  assert.deepEqual((await again.readStorage!()).orphanDirs, [{ path: path.join(root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots', '9999'), bytes: 5 }]);
  await again.close();
});

test('not a store, or a meta.db that is not bbolt: SourceError naming the file', async () => {
  await assert.rejects(openContainerdRoot(mk({ a: 'b' })), (e: unknown) => e instanceof SourceError && e.code === 'source.no-containerd-store');
  const bad = mk({ 'io.containerd.metadata.v1.bolt/meta.db': Buffer.alloc(8192, 1) });
  await assert.rejects(openContainerdRoot(bad), (e: unknown) => e instanceof SourceError && e.message.startsWith(path.join(bad, 'io.containerd.metadata.v1.bolt', 'meta.db') + ': '));
});
