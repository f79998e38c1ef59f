/**
 * `--image-root DIR`: every store of a mounted disk found, from the host's configs, the defaults, the rootless
 * places and a bounded scan, on hand-made disks (no engine needed; the engine suite image-root.engine.test.ts
 * compares with real engines). Symlinks are said, never followed; bad configs are problems naming the file and
 * the rest goes on; nothing found is a SourceError (exit 3); nothing under the image root is written.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { hashTree } from '../support/tree.js';
import { cli, classicRoot, metaDb, writeTree, type Files } from '../support/roots.js';
import { discoverStores, tomlString } from '../../src/core/sources/image-root.js';
import { openSource } from '../../src/core/sources/open.js';
import { SourceError } from '../../src/core/model/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-imgroot-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const mk = (files: Files) => writeTree(path.join(tmp, `d${n++}`), files);

/** A store's files placed under `at` on the disk. */
const under = (at: string, files: Files): Files => Object.fromEntries(Object.entries(files).map(([k, v]) => [`${at}/${k}`, v]));
const docker = (at: string) => under(at, classicRoot('overlay2', { 'overlay2/l': null }));
const containerd = (at: string) => under(at, { 'io.containerd.metadata.v1.bolt/meta.db': metaDb({ 'k8s.io': {} }) });

async function found(root: string) {
  const d = await discoverStores(root);
  return { d, where: Object.fromEntries(d.stores.map((s) => [s.relative, { kind: s.kind, how: s.how, owner: s.owner ?? null, label: s.label }])) };
}

test('defaults: var/lib/docker and var/lib/containerd, as container-explorer reads them', async () => {
  const root = mk({ ...docker('var/lib/docker'), ...containerd('var/lib/containerd') });
  const { d, where } = await found(root);
  assert.deepEqual(where['var/lib/docker'], { kind: 'docker-root', how: ['default /var/lib/docker', 'found by scan'], owner: null, label: 'docker' });
  assert.deepEqual(where['var/lib/containerd'], { kind: 'containerd-root', how: ['default /var/lib/containerd', 'found by scan'], owner: null, label: 'containerd' });
  assert.equal(d.stores.length, 2);
  assert.deepEqual(d.problems, []);
});

test("daemon.json data-root elsewhere is honoured (and the default still looked at)", async () => {
  const root = mk({ 'etc/docker/daemon.json': JSON.stringify({ 'data-root': '/data/docker', 'log-driver': 'json-file' }), ...docker('data/docker'), ...docker('var/lib/docker') });
  const { where } = await found(root);
  assert.deepEqual(where['data/docker']!.how, ['etc/docker/daemon.json data-root', 'found by scan']);
  assert.equal(where['data/docker']!.label, 'docker');
  assert.deepEqual(where['var/lib/docker']!.how, ['default /var/lib/docker', 'found by scan']);
  assert.equal(where['var/lib/docker']!.label, 'docker#2');
});

test('the legacy graph key of daemon.json; a path with .. stays under the image root', async () => {
  const root = mk({ 'etc/docker/daemon.json': JSON.stringify({ graph: '/../../srv/docker' }), ...docker('srv/docker') });
  const { where } = await found(root);
  assert.deepEqual(where['srv/docker']!.how, ['etc/docker/daemon.json graph', 'found by scan']);
});

test('a data-root that is a symlink is not followed: said, with where it points; the scan finds the real dir', async () => {
  const root = mk({ 'etc/docker/daemon.json': JSON.stringify({ 'data-root': '/data/docker' }), ...docker('mnt/big/docker'), data: null });
  fs.symlinkSync('/mnt/big/docker', path.join(root, 'data/docker'));
  // A symlink out of the image root: never followed, whatever it points at.
  fs.symlinkSync('/var/lib/docker', path.join(root, 'data/escape'));
  const { d, where } = await found(root);
  const p = d.problems.find((x) => x.code === 'image-root.symlink');
  assert.ok(p, JSON.stringify(d.problems));
  assert.equal(p.path, path.join(root, 'data/docker'));
  assert.match(p.message, /etc\/docker\/daemon.json data-root: \/data\/docker is a symlink to "\/mnt\/big\/docker"; not followed/);
  assert.deepEqual(Object.keys(where), ['mnt/big/docker']);
  assert.deepEqual(where['mnt/big/docker']!.how, ['found by scan']);
});

test('a daemon.json that is not JSON: a problem naming it, the defaults still tried', async () => {
  const root = mk({ 'etc/docker/daemon.json': '{"data-root": "/data/docker",', ...docker('var/lib/docker') });
  const { d, where } = await found(root);
  assert.ok(where['var/lib/docker']);
  const p = d.problems.find((x) => x.code === 'image-root.config-invalid');
  assert.equal(p?.path, path.join(root, 'etc/docker/daemon.json'));
  assert.match(p!.message, /is not valid JSON/);
  // Through the CLI: the stores found are reported, the problem is in the report, exit 0 (a warning).
  const r = await cli(['report', '--image-root', root, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(j.problems.some((x: any) => x.code === 'image-root.config-invalid' && x.path === path.join(root, 'etc/docker/daemon.json')));
  assert.deepEqual(j.source.stores.map((s: any) => s.relative), ['var/lib/docker']);
});

test('containerd config.toml root (top-level key only, comments and tables around it)', async () => {
  const toml = ['# containerd config', 'version = 2', "root = '/data/containerd' # moved", 'state = "/run/containerd"', '', '[plugins."io.containerd.grpc.v1.cri"]', '  root = "/not/this"'].join('\n');
  const root = mk({ 'etc/containerd/config.toml': toml, ...containerd('data/containerd') });
  const { where } = await found(root);
  assert.deepEqual(where['data/containerd']!.how, ['etc/containerd/config.toml root', 'found by scan']);
  assert.equal(tomlString(toml, null, 'root'), '/data/containerd');
  assert.equal(tomlString(toml, 'plugins.io.containerd.grpc.v1.cri', 'root'), '/not/this');
  assert.equal(tomlString('[storage]\ndriver = "overlay"\ngraphroot = "/a\\"b"\n', 'storage', 'graphroot'), '/a"b');
});

test('storage.conf graphroot is followed to a containers-storage store (recognised by its own reader)', async () => {
  const cs = under('data/storage', { 'overlay-images/images.json': '[]', 'overlay-layers/layers.json': '[]', 'overlay/l': null });
  const root = mk({ 'etc/containers/storage.conf': '[storage]\ndriver = "overlay"\ngraphroot = "/data/storage"\n', ...cs });
  const { d } = await found(root);
  const s = d.stores.find((x) => x.relative === 'data/storage');
  const named = d.problems.find((x) => x.path === path.join(root, 'data/storage'));
  // Until recogniseSource knows containers-storage, the store is named by a problem (never silently dropped).
  assert.ok(s ? s.how.includes('etc/containers/storage.conf graphroot') : named && /storage.conf graphroot/.test(named.message), JSON.stringify(d));
});

test('rootless stores under home/<user>/ and root/, and a user storage.conf graphroot', async () => {
  const root = mk({
    ...docker('home/alice/.local/share/docker'),
    ...containerd('root/.local/share/containerd-copy'),
    ...docker('root/.local/share/docker'),
    'home/bob/.config/docker/daemon.json': JSON.stringify({ 'data-root': '/home/bob/dockerdata' }),
    ...docker('home/bob/dockerdata'),
  });
  const { where } = await found(root);
  assert.deepEqual(where['home/alice/.local/share/docker'], { kind: 'docker-root', how: ['default ~alice/.local/share/docker (rootless Docker)', 'found by scan'], owner: 'alice', label: 'alice:docker' });
  assert.deepEqual(where['root/.local/share/docker']!.owner, 'root');
  assert.deepEqual(where['home/bob/dockerdata']!.how, ['home/bob/.config/docker/daemon.json data-root', 'found by scan']);
  assert.equal(where['home/bob/dockerdata']!.label, 'bob:docker');
  assert.deepEqual(where['root/.local/share/containerd-copy'], { kind: 'containerd-root', how: ['found by scan'], owner: 'root', label: 'root:containerd' });
});

test('a store only the scan finds (copied elsewhere); a Docker data root found by its managed containerd', async () => {
  const root = mk({
    ...docker('srv/backup/2024/docker'),
    ...under('opt/d2', { 'containerd/daemon/io.containerd.metadata.v1.bolt/meta.db': metaDb({ moby: { images: {} } }), containers: null, volumes: null }),
  });
  const { where } = await found(root);
  assert.deepEqual(where['srv/backup/2024/docker']!.how, ['found by scan']);
  assert.equal(where['opt/d2']!.kind, 'docker-root');
});

test('nothing found: a SourceError (exit 3), never "0 images"', async () => {
  const root = mk({ 'etc/hostname': 'x', 'var/lib/docker': null, 'home/alice/notes.txt': 'hi' });
  await assert.rejects(openSource(`image-root:${root}`), (e: unknown) => e instanceof SourceError && e.code === 'source.no-stores');
  const r = await cli(['report', '--image-root', root]);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /no container store found/);
  const missing = await cli(['report', '--image-root', path.join(root, 'nope')]);
  assert.equal(missing.code, 3);
  const both = await cli(['report', root, '--image-root', root]);
  assert.equal(both.code, 2, 'a SOURCE and --image-root: a usage error');
});

test('a symlink loop and a deep tree do not hang the scan (no link followed, depth bounded)', async () => {
  const deep = Array.from({ length: 40 }, (_, i) => `d${i}`).join('/');
  const root = mk({ [`${deep}/image/overlay2/repositories.json`]: '{}', loop: null, ...docker('var/lib/docker') });
  fs.symlinkSync('.', path.join(root, 'loop/self'));
  fs.symlinkSync('..', path.join(root, 'loop/up'));
  const t0 = Date.now();
  const { d, where } = await found(root);
  assert.ok(Date.now() - t0 < 10_000);
  assert.deepEqual(Object.keys(where), ['var/lib/docker']);
  assert.equal(d.scan?.depth, 8);
});

test('one store reached by two paths (a bind mount on a live host) is one store, both paths said', async (t) => {
  if (process.getuid?.() !== 0) {
    process.stderr.write(`SKIPPED (not root): ${t.name}: a bind mount needs root\n`);
    t.skip('SKIPPED (not root): a bind mount needs root');
    return;
  }
  const root = mk({ ...docker('var/lib/docker'), 'srv/docker': null });
  await execa('mount', ['--bind', path.join(root, 'var/lib/docker'), path.join(root, 'srv/docker')]);
  try {
    const { d } = await found(root);
    assert.equal(d.stores.length, 1, JSON.stringify(d.stores));
    const how = d.stores[0]!.how.join('; ');
    assert.match(how, /default \/var\/lib\/docker/);
    assert.match(how, /found by scan \(as \/(srv|var\/lib)\/docker\)/);
  } finally {
    await execa('umount', [path.join(root, 'srv/docker')]);
  }
});

test('as a user who may not read everything: what is refused is a problem naming it, the rest is read', async (t) => {
  if (process.getuid?.() !== 0) {
    process.stderr.write(`SKIPPED (not root): ${t.name}: needs root to run as another user\n`);
    t.skip('SKIPPED (not root): needs root to run as another user');
    return;
  }
  const root = mk({ ...containerd('var/lib/containerd'), ...docker('home/alice/.local/share/docker') });
  // Readable by all but alice's home (0700, root's): as on a disk whose owners are not the investigator.
  fs.chmodSync(tmp, 0o755);
  for (const p of [root, ...fs.readdirSync(root, { recursive: true }).map((r) => path.join(root, String(r)))]) fs.chmodSync(p, fs.statSync(p).isDirectory() ? 0o755 : 0o644);
  fs.chmodSync(path.join(root, 'home/alice'), 0o700);
  const before = await hashTree(root);
  const r = await cli(['report', '--image-root', root, '--format', 'json'], { user: 65534 });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.source.stores.map((s: any) => s.relative), ['var/lib/containerd']);
  assert.ok(j.problems.some((p: any) => p.code === 'image-root.unreadable' && p.path === path.join(root, 'home/alice/.local/share/docker')), JSON.stringify(j.problems));
  assert.ok(j.problems.some((p: any) => p.code === 'image-root.scan-unreadable' && /could not read 1 directory/.test(p.message)), JSON.stringify(j.problems));
  assert.equal(await hashTree(root), before);
});

test('the scan is bounded in time: past its budget it stops, and says so', async () => {
  const files: Files = { ...docker('var/lib/docker') };
  for (let i = 0; i < 300; i++) files[`wide/d${i}/x/y`] = null;
  const root = mk(files);
  const d = await discoverStores(root, { scanMs: 0 });
  const p = d.problems.find((x) => x.code === 'image-root.scan-time');
  assert.ok(p, JSON.stringify(d.problems));
  assert.equal(p.path, root);
  // The default place is still looked at.
  assert.deepEqual(d.stores.map((s) => [s.relative, s.how]), [['var/lib/docker', ['default /var/lib/docker']]]);
});

test('the composite source: each image and container names its store; nothing under the image root is written', async () => {
  const root = mk({ ...docker('var/lib/docker'), ...containerd('var/lib/containerd'), 'etc/docker/daemon.json': '[1]' });
  const before = await hashTree(root);
  const s = await openSource(`image-root:${root}`);
  try {
    assert.equal(s.kind, 'image-root');
    assert.deepEqual(s.stores!.map((x) => [x.label, x.relative, x.images, x.containers]), [['containerd', 'var/lib/containerd', 0, 0], ['docker', 'var/lib/docker', 0, 0]]);
    assert.ok(s.problems.some((p) => p.code === 'image-root.config-invalid' && /not a JSON object/.test(p.message)));
  } finally {
    await s.close();
  }
  assert.equal(await hashTree(root), before);
});

test('the scan reads names as bytes: stores under a name with a newline or bytes that are not UTF-8 are found, a symlink so named is not followed', async () => {
  const root = mk({ ...containerd('srv/new\nline/containerd'), ...containerd('srv/tmp1/containerd'), ...containerd('srv/tmp2'), ...containerd('elsewhere/containerd') });
  const bytes = (rel: string) => Buffer.concat([Buffer.from(root + '/'), Buffer.from(rel, 'latin1')]);
  // Names that are not UTF-8 (0xff never is): a parent directory, a store directory itself, and a symlink.
  fs.renameSync(path.join(root, 'srv/tmp1'), bytes('srv/lat\xffin'));
  fs.renameSync(path.join(root, 'srv/tmp2'), bytes('srv/ctd\xff'));
  fs.symlinkSync(path.join(root, 'elsewhere'), bytes('srv/l\xffnk'));
  const before = await hashTree(root);
  const { d, where } = await found(root);
  assert.deepEqual(where['srv/new\nline/containerd']!.how, ['found by scan']);
  // Shown escaped (displayPath); its real path kept as bytes, for opening it.
  const odd = d.stores.find((s) => s.relative === 'srv/lat\\xffin/containerd');
  assert.ok(odd, JSON.stringify(Object.keys(where)));
  assert.equal(odd.bytes, Buffer.concat([bytes('srv/lat\xffin/containerd')]).toString('latin1'));
  assert.ok(d.problems.some((p) => p.code === 'image-root.name-not-utf8' && p.severity === 'warning' && p.path === path.join(root, 'srv/lat\\xffin/containerd')));
  // A store whose own name is not UTF-8 cannot be opened by a text path: an error naming it, never silence.
  assert.ok(d.problems.some((p) => p.code === 'image-root.name-not-utf8' && p.severity === 'error' && p.path === path.join(root, 'srv/ctd\\xff')), JSON.stringify(d.problems));
  // The symlink is not followed: the store behind it is found once, where it really is.
  assert.deepEqual(d.stores.map((s) => s.relative).sort(), ['elsewhere/containerd', 'srv/lat\\xffin/containerd', 'srv/new\nline/containerd']);

  // Opened through a private link (outside the disk), removed on close; nothing under the disk is written.
  const links = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('layerscope-store-')).sort();
  const linksBefore = links();
  const s = await openSource(`image-root:${root}`);
  try {
    assert.deepEqual(s.stores!.map((x) => [x.relative, x.images]), [['elsewhere/containerd', 0], ['srv/lat\\xffin/containerd', 0], ['srv/new\nline/containerd', 0]]);
    assert.ok(!s.problems.some((p) => p.code === 'image-root.store-unreadable'), JSON.stringify(s.problems));
    assert.equal(links().length, linksBefore.length + 1, 'one private link while the source is open');
  } finally {
    await s.close();
  }
  assert.deepEqual(links(), linksBefore, 'the private link is removed on close');
  assert.equal(await hashTree(root), before);
});
