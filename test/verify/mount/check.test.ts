/**
 * checkStacks with a fake runner (no root, no engine needed): the decisions around the mount, and the exact
 * commands. A tiny archive-like source: L0 puts etc/ and etc/passwd, L1 deletes etc/passwd and adds etc/shadow.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkStacks, imageStacks } from '../../../src/core/verify/mount/index.js';
import type { Source } from '../../../src/core/model/source.js';
import type { Attrs, ImageInfo, LayerChanges } from '../../../src/core/model/types.js';
import { FakeRunner } from './fake-runner.js';
import { tableSource } from '../../support/tables.js';

const a = (x: Partial<Attrs>): Attrs => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, mtimeNsec: 0, ...x });
const layers: LayerChanges[] = [
  { entries: [{ kind: 'put', path: 'etc', attrs: a({ type: 'dir', mode: 0o755 }) }, { kind: 'put', path: 'etc/passwd', attrs: a({ size: 10 }) }], problems: [] },
  { entries: [{ kind: 'whiteout', path: 'etc/passwd' }, { kind: 'put', path: 'etc/shadow', attrs: a({ size: 5, mode: 0o600 }) }], problems: [] },
];
const image: ImageInfo = {
  id: 'sha256:' + '1'.repeat(64),
  tags: ['t:1'],
  digests: [],
  created: null,
  os: 'linux',
  architecture: 'amd64',
  emptyHistory: 0,
  config: {},
  layers: [0, 1].map((i) => ({ index: i, diffId: 'sha256:' + String(i + 2).repeat(64), chainId: 'sha256:' + String(i + 4).repeat(64), cacheId: null, createdBy: null, created: null, comment: null, location: `blobs/${i}`, storedSize: null })),
};
const source: Source = tableSource({ kind: 'docker-archive', location: 'x.tar', images: [image], containers: [], problems: [], readLayer: async (_i, n) => layers[n]!, readContainerLayer: async () => ({ entries: [], problems: [] }), close: async () => {} });

/** `find -printf` output of the kernel's view of a stack with `n` layers (what the fake unshare answers). */
function findOutput(n: number): string {
  const rows = n === 1 ? [['d', '755', '0', '0', '4096', '2', 'etc', ''], ['f', '644', '0', '0', '10', '1', 'etc/passwd', '']] : [['d', '755', '0', '0', '4096', '2', 'etc', ''], ['f', '600', '0', '0', '5', '1', 'etc/shadow', '']];
  return rows.map((r) => r.join('\0') + '\0').join('');
}

test('root without privilege for overlay: probe fails, falls back to a user namespace (user.overlay xattrs, userxattr), and agrees', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-check-'));
  const runner = new FakeRunner((argv) => {
    if (argv[0] === 'getconf') return { stdout: '4096\n' };
    if (argv[0] === 'mount') return { exitCode: 32, stderr: 'mount: /x: permission denied.' };
    if (argv[0] === 'mknod') fs.writeFileSync(argv[3]!, '');
    if (argv[0] === 'unshare' && argv[2] === 'true') return {};
    if (argv[0] === 'unshare') {
      const lower = /lowerdir=([^,]*)/.exec(argv[8]!)![1]!.split(':');
      return { stdout: findOutput(lower.length === 2 && lower[1]!.endsWith('/empty') ? 1 : lower.length) };
    }
  });
  const r = await checkStacks(source, imageStacks(image, true), { runner, isRoot: true, tmpDir: tmp, mountInfo: () => [], indexOff: true });
  assert.equal(r.mode, 'userns');
  assert.match(r.notes.join('\n'), /mounting as root was refused .*permission denied.*unprivileged user namespace/);
  assert.deepEqual(r.stacks.map((s) => s.message).filter(Boolean), []);
  assert.deepEqual(r.stacks.map((s) => [s.label, s.status, s.mode, s.differences.length]), [
    ['t:1 layer 0', 'agree', 'userns', 0],
    ['t:1 layer 1', 'agree', 'userns', 0],
  ]);
  const mounts = runner.argvs('mount');
  assert.equal(mounts.length, 1, 'only the probe was tried as root');
  assert.match(mounts[0]![4]!, /^ro,nosuid,nodev,noexec,index=off,lowerdir=\/.*\/probe\/a:\/.*\/probe\/b$/);
  const listings = runner.argvs('unshare').filter((x) => x[2] !== 'true');
  assert.equal(listings.length, 2);
  // Layer 1 first (nearest), as relative names from our workspace.
  assert.match(listings[1]![8]!, /^ro,nosuid,nodev,noexec,index=off,userxattr,lowerdir=\/.*layers\/1:\/.*layers\/0$/);
  // The whiteout of L1 was laid out with mknod (char 0:0) before mounting.
  assert.ok(runner.argvs('mknod').some((x) => x[x.length - 3] === 'c' && x[x.length - 2] === '0' && x[x.length - 1] === '0' && x[3]!.endsWith('/etc/passwd')));
  assert.deepEqual(fs.readdirSync(tmp), [], 'workspace removed');
  fs.rmSync(tmp, { recursive: true });
});

test('overlay not mountable at all (no user namespaces either): skipped, with the reason', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-check-'));
  const runner = new FakeRunner((argv) => {
    if (argv[0] === 'mount') return { exitCode: 32, stderr: "mount: unknown filesystem type 'overlay'." };
  });
  const r = await checkStacks(source, imageStacks(image, true), { runner, isRoot: true, tmpDir: tmp, mountInfo: () => [], indexOff: true, pageSize: 4096 });
  assert.equal(r.mode, null);
  assert.match(r.skipped!, /overlay cannot be mounted here .*unknown filesystem type 'overlay'.*only the integrity check ran/);
  assert.deepEqual(r.stacks, []);
  assert.deepEqual(fs.readdirSync(tmp), []);
  fs.rmSync(tmp, { recursive: true });
});
