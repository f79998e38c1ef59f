/**
 * Volumes of crafted data roots (no engine): a metadata.db that is truncated, huge, not bbolt, or holds hostile
 * names and records; a volume dir or _data that is a symlink; a hostile dir name. Each is a problem naming the
 * file, the other volumes are still listed, sizes and trees never follow a symlink, nothing is written.
 * Plus the rules a volume keeps: no whiteout semantics, size counted as docker system df does, binds placed
 * in the evidence only under the engine's data root.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBolt } from '../support/bolt-writer.js';
import { hashTree } from '../support/tree.js';
import { dockerVolumes, MAX_VOLUME_DB } from '../../src/core/sources/volumes.js';
import type { ContainerInfo } from '../../src/core/model/types.js';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-volumes-unit-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const meta = (name: string, extra: Record<string, unknown> = {}) => JSON.stringify({ Name: name, Driver: 'local', Labels: null, Options: null, ...extra });

/** A data root with volumes/ as the local driver keeps it; `db` is metadata.db's bytes (null: none). */
function dataRoot(name: string, db: Buffer | null, dirs: string[]): string {
  const root = path.join(tmp, name);
  fs.mkdirSync(path.join(root, 'volumes'), { recursive: true });
  if (db) fs.writeFileSync(path.join(root, 'volumes', 'metadata.db'), db);
  for (const d of dirs) fs.mkdirSync(path.join(root, 'volumes', d, '_data'), { recursive: true });
  return root;
}

/** A container record as the data root reader gives it (only what volumes read). */
function container(name: string, root: string, mounts: ContainerInfo['mounts']): ContainerInfo {
  const id = (name + '0'.repeat(64)).slice(0, 64).replace(/[^0-9a-f]/g, 'a');
  return {
    id, name, image: '', imageRef: null, state: 'exited', pid: null, exitCode: 0, startedAt: null, finishedAt: null, created: null, driver: 'overlay2',
    mountId: null, initId: null, parentChainId: null, rwDir: null, initDir: null, mounts,
    inspect: { Id: id, HostConfig: null, Mounts: [], ResolvConfPath: `${root}/containers/${id}/resolv.conf`, LogPath: `${root}/containers/${id}/${id}-json.log` },
  };
}

const codes = (ps: { code: string }[]) => ps.map((p) => p.code).sort();

test('a good volume: a .wh. name is a plain file, sizes count like docker system df, nothing followed', async () => {
  const root = dataRoot('good', buildBolt({ volumes: { data: meta('data', { Labels: { a: 'b' }, Options: {} }) } }), ['data']);
  const d = path.join(root, 'volumes/data/_data');
  fs.mkdirSync(path.join(d, 'x/y'), { recursive: true });
  fs.writeFileSync(path.join(d, '.wh.foo'), 'not a whiteout\n'); // 15 bytes
  fs.writeFileSync(path.join(d, 'x/y/f'), 'abc'); // 3
  fs.linkSync(path.join(d, 'x/y/f'), path.join(d, 'x/hard')); // same inode: counted once
  fs.symlinkSync('/etc/passwd', path.join(d, 'abs')); // 11 bytes of target, never followed
  fs.symlinkSync('..', path.join(d, 'x/up')); // 2
  const before = await hashTree(root);
  const v = dockerVolumes(root, []);
  const l = v.list();
  assert.deepEqual(l.problems, []);
  assert.equal(l.volumes.length, 1);
  const vol = l.volumes[0]!;
  assert.deepEqual([vol.name, vol.driver, vol.scope, vol.labels, vol.options, vol.anonymous], ['data', 'local', 'local', { a: 'b' }, {}, false]);
  assert.equal(vol.mountpoint, `${root}/volumes/data/_data`, 'no container records the engine root: shown under the evidence path');
  assert.match(vol.createdAt!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const size = await v.size(vol);
  assert.deepEqual(size, { bytes: 15 + 3 + 11 + 2, problems: [] });
  const tree = await v.readTree(vol);
  const rows = new Map<string, string>();
  for (let i = 0; i < tree.table.n; i++) rows.set(tree.table.path(i), tree.table.attrs(i).type);
  assert.deepEqual(Object.fromEntries(rows), { '.wh.foo': 'file', abs: 'symlink', x: 'dir', 'x/hard': 'file', 'x/up': 'symlink', 'x/y': 'dir', 'x/y/f': 'hardlink' });
  assert.equal(await hashTree(root), before, 'nothing written');
});

test('hostile names, a symlinked volume dir and _data, records without dirs and dirs without records', async () => {
  const db = buildBolt({
    volumes: {
      kept: meta('kept'),
      '..': meta('..'),
      '../../etc': meta('../../etc'),
      'x\x1b[31mred': meta('x'),
      badjson: '{not json',
      shape: JSON.stringify({ Name: 'shape', Driver: 7, Labels: 'no' }),
      gone: meta('gone'),
      empty: '',
      plugin: meta('plugin', { Driver: 'rexray' }),
      dsym: meta('dsym'),
    },
  });
  const root = dataRoot('hostile', db, ['kept', 'badjson', 'shape', 'orphan', 'empty', 'dsym']);
  fs.symlinkSync('/etc', path.join(root, 'volumes', 'linked'));
  fs.rmSync(path.join(root, 'volumes/dsym/_data'), { recursive: true });
  fs.symlinkSync('/usr', path.join(root, 'volumes/dsym/_data'));
  fs.mkdirSync(path.join(root, 'volumes', 'evil\x1b]0;PWNED\x07'));
  const before = await hashTree(root);
  const v = dockerVolumes(root, []);
  const l = v.list();
  assert.deepEqual(l.volumes.map((x) => x.name), ['badjson', 'dsym', 'empty', 'kept', 'orphan', 'plugin', 'shape']);
  const by = (n: string) => l.volumes.find((x) => x.name === n)!;
  const file = path.join(root, 'volumes/metadata.db');
  const at = (code: string) => l.problems.filter((p) => p.code === code).map((p) => p.path);
  assert.deepEqual(at('volumes.metadata.bad-name'), [file, file, file]);
  assert.deepEqual(at('volumes.metadata.invalid-json'), [file]);
  assert.deepEqual(at('volumes.metadata.bad-shape'), [file]);
  assert.deepEqual(at('volumes.metadata-without-dir'), [file]);
  // A record that is not JSON, or empty, leaves its dir without metadata (the engine lists it bare too).
  assert.deepEqual(at('volumes.dir-without-metadata'), ['badjson', 'empty', 'orphan'].map((n) => path.join(root, 'volumes', n)));
  assert.deepEqual(at('volumes.dir-symlink'), [path.join(root, 'volumes/linked')]);
  assert.deepEqual(at('volumes.data-symlink'), [path.join(root, 'volumes/dsym/_data')]);
  assert.equal(at('volumes.bad-name').length, 1);
  // Names are shown escaped: no raw escape sequence reaches a message or a path.
  for (const p of l.problems) assert.ok(!/[\x00-\x1f]/.test(p.message + (p.path ?? '')), JSON.stringify(p));
  assert.deepEqual([by('badjson').labels, by('badjson').inMetadata], [null, false]);
  assert.equal(by('shape').driver, 'local', 'a Driver that is no string reads as unset: the local driver');
  assert.deepEqual([by('plugin').mountpoint, by('plugin').scope, by('plugin').dataDir], ['', null, null]);
  assert.equal(by('dsym').dataDir, null);
  assert.deepEqual(await v.size(by('dsym')), { bytes: null, problems: [] });
  await assert.rejects(v.readTree(by('dsym')), /no data directory/);
  assert.equal(await hashTree(root), before, 'nothing written');
});

test('metadata.db truncated, huge, or not bbolt: one problem naming it, volumes still listed from their dirs', async () => {
  // (Volume names have two characters at least: the engine refuses one.)
  const good = buildBolt({ volumes: { aa: meta('aa', { Labels: { k: 'v' } }) } });
  const cases: [string, (f: string) => void, string][] = [
    ['truncated', (f) => fs.writeFileSync(f, good.subarray(0, 4096 + 100)), 'volumes.metadata.'],
    ['notbolt', (f) => fs.writeFileSync(f, 'SQLite format 3\0'.repeat(600)), 'volumes.metadata.unreadable'],
    ['huge', (f) => fs.truncateSync((fs.writeFileSync(f, good), f), MAX_VOLUME_DB + 1), 'volumes.metadata.too-large'],
    ['symlink', (f) => fs.symlinkSync('/etc/passwd', f), 'volumes.metadata.not-a-file'],
  ];
  for (const [name, make, code] of cases) {
    const root = dataRoot(`db-${name}`, null, ['aa', 'bb', 'c']);
    const file = path.join(root, 'volumes/metadata.db');
    make(file);
    const before = await hashTree(root);
    const l = dockerVolumes(root, []).list();
    assert.deepEqual(l.volumes.map((x) => x.name), ['aa', 'bb'], name);
    assert.deepEqual(l.problems.filter((p) => p.code === 'volumes.bad-name').map((p) => p.path), [path.join(root, 'volumes/c')], `${name}: a one-character name is none the engine makes`);
    const bad = l.problems.filter((p) => p.path === file && p.severity === 'error');
    assert.ok(bad.length >= 1 && bad.every((p) => p.code.startsWith(code)), `${name}: ${JSON.stringify(l.problems)}`);
    assert.equal(await hashTree(root), before, `${name}: nothing written`);
  }
});

test('binds: under the engine data root (as the containers record it) placed in the evidence; elsewhere outside; symlinks refused', async () => {
  const root = dataRoot('binds', buildBolt({ volumes: { v1: meta('v1') } }), ['v1']);
  fs.mkdirSync(path.join(root, 'containers'));
  fs.symlinkSync('/etc', path.join(root, 'linkdir'));
  const engineRoot = '/var/lib/docker';
  const c = container('web', engineRoot, [
    { destination: '/in', source: `${engineRoot}/volumes/v1/_data`, name: null, type: 'bind', rw: false },
    { destination: '/out', source: '/tmp', name: null, type: 'bind', rw: true },
    { destination: '/sym', source: `${engineRoot}/linkdir`, name: null, type: 'bind', rw: true },
    { destination: '/climb', source: `${engineRoot}/../../etc`, name: null, type: 'bind', rw: true },
    { destination: '/vol', source: `${engineRoot}/volumes/v1/_data`, name: 'v1', type: 'volume', rw: true },
  ]);
  const v = dockerVolumes(root, [c]);
  const l = v.list();
  assert.equal(l.engineRoot, engineRoot);
  assert.equal(l.volumes[0]!.mountpoint, '/var/lib/docker/volumes/v1/_data', 'as the engine reports it');
  assert.deepEqual(l.volumes[0]!.usedBy.map((u) => [u.container, u.destination, u.rw]), [['web', '/vol', true]]);
  const b = Object.fromEntries(l.binds.map((x) => [x.destination, x]));
  assert.equal(b['/in']!.evidencePath, path.join(root, 'volumes/v1/_data'));
  assert.equal(b['/out']!.outside, 'outside the evidence: not read');
  assert.match(b['/sym']!.outside!, /symlink/);
  assert.equal(b['/sym']!.evidencePath, null);
  assert.equal(b['/climb']!.evidencePath, null);
  await assert.rejects(v.readBindTree(b['/out']!), /outside the evidence/);
  assert.deepEqual((await v.bindSize(b['/in']!)).bytes, 0);
});
