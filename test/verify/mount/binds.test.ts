/**
 * Which volumes and binds `mount --volumes` shows, and from where (binds.ts), on a data root built here: never
 * through a symlink in the evidence, never from outside it unless --host-root says where the host's / is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { planBinds, originalDataRoot, cleanDestination } from '../../../src/core/verify/mount/binds.js';
import type { Source } from '../../../src/core/model/source.js';
import type { ContainerInfo } from '../../../src/core/model/types.js';

const ID = 'a'.repeat(64);
const ORIG = '/var/lib/docker';

function fixture() {
  const host = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-binds-'));
  const root = path.join(host, 'var/lib/docker');
  fs.mkdirSync(path.join(root, 'volumes/good/_data'), { recursive: true });
  fs.mkdirSync(path.join(root, 'volumes/linked'), { recursive: true });
  fs.symlinkSync('/etc', path.join(root, 'volumes/linked/_data'));
  fs.mkdirSync(path.join(root, 'volumes/viadir'), { recursive: true });
  fs.symlinkSync(path.join(root, 'volumes/good'), path.join(root, 'volumes/hop'));
  fs.mkdirSync(path.join(root, 'inside/dir'), { recursive: true });
  fs.writeFileSync(path.join(root, 'inside/file'), 'x');
  fs.mkdirSync(path.join(host, 'srv/data'), { recursive: true });
  return { host, root };
}

function container(mounts: ContainerInfo['mounts']): ContainerInfo {
  return {
    id: ID, name: 'c', image: 'sha256:' + 'b'.repeat(64), imageRef: null, state: 'exited', pid: null, exitCode: 0, startedAt: null, finishedAt: null,
    created: null, driver: 'overlay2', mountId: null, initId: null, parentChainId: null, rwDir: null, initDir: null, mounts,
    inspect: { Id: ID, ResolvConfPath: `${ORIG}/containers/${ID}/resolv.conf`, HostConfig: null, Mounts: [] },
  };
}

const src = (root: string) => ({ location: root }) as unknown as Source;
const vol = (name: string, destination: string) => ({ destination, source: `${ORIG}/volumes/${name}/_data`, name, type: 'volume', rw: true });
const bind = (source: string, destination: string) => ({ destination, source, name: null, type: 'bind', rw: false });

test('volumes come from the evidence; a symlinked _data or volume dir is refused with a problem', () => {
  const { host, root } = fixture();
  try {
    const r = planBinds(src(root), container([vol('good', '/data'), vol('linked', '/etc-now'), vol('hop', '/hop'), vol('../x', '/bad'), vol('viadir', '/empty')]), null);
    assert.deepEqual(r.binds.map((b) => [b.destination, b.source, b.isDir]), [['/data', path.join(root, 'volumes/good/_data'), true]]);
    const why = Object.fromEntries(r.skipped.map((s) => [s.destination, s.reason]));
    assert.match(why['/etc-now']!, /symlink; not followed/);
    assert.match(why['/hop']!, /symlink/);
    assert.match(why['/bad']!, /not a valid volume name/);
    assert.match(why['/empty']!, /does not exist in the evidence/);
    assert.deepEqual(r.problems.map((p) => p.code).sort(), ['mount.volume.refused', 'mount.volume.symlink']);
  } finally {
    fs.rmSync(host, { recursive: true, force: true });
  }
});

test('binds: inside the original data root they map into ours; elsewhere only with --host-root', () => {
  const { host, root } = fixture();
  try {
    const c = container([bind(`${ORIG}/inside/dir`, '/d'), bind(`${ORIG}/inside/file`, '/f'), bind('/srv/data', '/srv'), bind('/', '/host')]);
    let r = planBinds(src(root), c, null);
    assert.deepEqual(r.binds.map((b) => [b.destination, b.source, b.isDir]), [['/d', path.join(root, 'inside/dir'), true], ['/f', path.join(root, 'inside/file'), false]]);
    assert.match(r.skipped.find((s) => s.destination === '/srv')!.reason, /outside the evidence.*--host-root/);
    r = planBinds(src(root), c, host);
    assert.deepEqual(r.binds.map((b) => b.source).sort(), [path.join(host, 'srv/data'), path.join(host, 'var/lib/docker/inside/dir'), path.join(host, 'var/lib/docker/inside/file')].sort());
    assert.match(r.skipped.find((s) => s.destination === '/host')!.reason, /whole host/);
  } finally {
    fs.rmSync(host, { recursive: true, force: true });
  }
});

test('the original data root is read from the container\'s own paths; destinations must be plain', () => {
  assert.equal(originalDataRoot(container([])), ORIG);
  const other = container([]);
  other.inspect!.ResolvConfPath = `/x/containers/${'c'.repeat(64)}/resolv.conf`;
  assert.equal(originalDataRoot(other), null);
  assert.equal(cleanDestination('/data/'), '/data');
  for (const d of ['data', '/', '/a/../etc', '/a/./b', '/a//b']) assert.equal(cleanDestination(d), null, d);
});
