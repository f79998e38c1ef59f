/**
 * The parts of the containers/storage reader that need no podman: big-data file names as containers/storage
 * makes them, parent chains (cycles, missing parents, the chain bound), fuse-overlayfs markers, id maps, and
 * podman's native overlay diff on hand-made changesets.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { bigDataFileName, layerChain, type CsLayer } from '../../../src/core/sources/containers-storage/store.js';
import { fuseLayer } from '../../../src/core/sources/fuse-overlayfs.js';
import { rootlessIdMap } from '../../../src/core/sources/rootless.js';
import { LayerTable } from '../../../src/core/model/layer-table.js';
import { PathTable } from '../../../src/core/model/paths.js';
import type { Attrs, LayerEntry } from '../../../src/core/model/types.js';
import { dockerDiffOf, layerDiff } from '../../../src/core/analysis/docker-diff.js';
import { stackTables } from '../../../src/core/analysis/analyze.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const attrs = (type: Attrs['type'], extra: Partial<Attrs> = {}): Attrs => ({ type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: 0, mtime: 100, mtimeNsec: 0, ...extra });
const put = (p: string, type: Attrs['type'] = 'file', extra: Partial<Attrs> = {}, opaque = false): LayerEntry => ({ kind: 'put', path: p, attrs: attrs(type, extra), ...(opaque ? { opaque } : {}) });
const wh = (p: string): LayerEntry => ({ kind: 'whiteout', path: p });

test('big-data file names: the key itself when it is [.0-9a-z]*, else = and its base64 (images.go makeBigDataBaseName)', () => {
  assert.equal(bigDataFileName('manifest'), 'manifest');
  const key = 'sha256:d415b88daa556ee98449a9e9fb640fdaad39d7f11d2a06efadfde157b187ce14';
  // The name podman 4.3 wrote for this config (seen in a real store).
  assert.equal(bigDataFileName(key), '=c2hhMjU2OmQ0MTViODhkYWE1NTZlZTk4NDQ5YTllOWZiNjQwZmRhYWQzOWQ3ZjExZDJhMDZlZmFkZmRlMTU3YjE4N2NlMTQ=');
  assert.equal(bigDataFileName('Manifest'), '=' + Buffer.from('Manifest').toString('base64'));
});

test('layer chains: base first; a cycle, a missing parent and the chain bound stop the walk with a problem', () => {
  const id = (c: string) => c.repeat(64);
  const layer = (i: string, parent: string | null): CsLayer => ({ id: id(i), parent: parent && id(parent), names: [], created: null, diffDigest: null, diffSize: null, compressedDigest: null, uidmap: [], gidmap: [], volatile: false, where: 'layers.json' });
  const notes: string[] = [];
  const note = (_s: string, code: string) => void notes.push(code);
  const ok = new Map([layer('a', null), layer('b', 'a'), layer('c', 'b')].map((l) => [l.id, l]));
  const r = layerChain(ok, id('c'), 'layers.json', note, 'image x');
  assert.deepEqual(r.chain.map((l) => l.id[0]), ['a', 'b', 'c']);
  assert.equal(r.complete, true);
  const cyc = new Map([layer('a', 'c'), layer('b', 'a'), layer('c', 'b')].map((l) => [l.id, l]));
  const c = layerChain(cyc, id('c'), 'layers.json', note, 'image x');
  assert.equal(c.complete, false);
  assert.equal(c.chain.length, 3);
  const miss = new Map([layer('b', 'a'), layer('c', 'b')].map((l) => [l.id, l]));
  assert.equal(layerChain(miss, id('c'), 'layers.json', note, 'image x').chain.length, 2);
  assert.deepEqual(notes, ['layers.cycle', 'layers.missing']);
});

test('fuse-overlayfs markers: .wh. files are whiteouts, .wh..wh..opq and user.fuseoverlayfs.opaque make dirs opaque', () => {
  const paths = new PathTable();
  const t = LayerTable.fromEntries(paths, [
    put('a', 'dir'),
    put('a/.wh.gone'),
    put('b', 'dir'),
    put('b/.wh..wh..opq'),
    put('b/new'),
    put('c', 'dir', { xattrs: { 'user.fuseoverlayfs.opaque': '79', 'user.keep': '01' } }),
    wh('c/.wh..opq'),
    put('d/.wh.x', 'dir'),
  ]);
  const out = fuseLayer(t, paths).entries;
  const lines = out.map((e) => (e.kind === 'whiteout' ? `D ${e.path}` : `P ${e.path}${e.opaque ? ' opaque' : ''}${e.attrs.xattrs ? ' ' + Object.keys(e.attrs.xattrs).join(',') : ''}`));
  assert.deepEqual(lines.sort(), ['D a/gone', 'P a', 'P b opaque', 'P b/new', 'P c opaque user.keep'].sort());
});

test('rootless ids: the owner is 0, its subordinate range 1..n, the rest the overflow id', () => {
  // The system the store is on: its etc/ is found above the store (home/alice/.local/share/containers/storage).
  const disk = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-etc-'));
  try {
    const etc = path.join(disk, 'etc');
    const store = path.join(disk, 'home', 'alice', '.local', 'share', 'containers', 'storage');
    fs.mkdirSync(etc);
    fs.mkdirSync(store, { recursive: true });
    fs.writeFileSync(path.join(etc, 'passwd'), 'root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n');
    fs.writeFileSync(path.join(etc, 'subuid'), 'bob:200000:65536\nalice:100000:65536\n');
    fs.writeFileSync(path.join(etc, 'subgid'), '1001:300000:1000\n');
    const m = rootlessIdMap(store, { uid: 1001, gid: 1001 });
    assert.ok(m.map);
    const paths = new PathTable();
    const t = LayerTable.fromEntries(paths, [put('a', 'file', { uid: 1001, gid: 1001 }), put('b', 'file', { uid: 100999, gid: 300001 }), put('c', 'file', { uid: 5, gid: 400000 })]).withIds(m.map!);
    assert.deepEqual(t.entries.map((e) => (e.kind === 'put' ? `${e.attrs.uid}:${e.attrs.gid}` : '')), ['0:0', '1000:2', '65534:65534']);
    assert.equal(m.map!.describe(), 'uid 0:1001:1,1:100000:65536; gid 0:1001:1,1:300000:1000');
  } finally {
    fs.rmSync(disk, { recursive: true, force: true });
  }
});

test("podman's native diff: unchanged copied-up dirs are no change, the parent of an A or D is C, opaque dirs that existed are D", () => {
  const paths = new PathTable();
  const lower = LayerTable.fromEntries(paths, [put('usr', 'dir'), put('usr/bin', 'dir'), put('usr/bin/x'), put('etc', 'dir'), put('etc/f'), put('opq', 'dir'), put('opq/old')]);
  const rw = LayerTable.fromEntries(paths, [
    put('usr', 'dir'),
    put('usr/bin', 'dir'),
    put('usr/bin/x', 'file', { mode: 0o700 }),
    put('etc', 'dir'),
    put('etc/new'),
    put('opq', 'dir', {}, true),
    put('opq/n'),
    wh('etc/f'),
  ]);
  const view = stackTables([lower, rw], paths);
  const got = layerDiff(view, rw).map((c) => `${c.kind} ${c.path}`).sort();
  assert.deepEqual(got, ['A /etc/new', 'A /opq/n', 'C /etc', 'C /usr/bin/x', 'D /etc/f', 'D /opq'].sort());
  // The naive diff (Docker, fuse-overlayfs) lists the parents of every change.
  assert.ok(dockerDiffOf(rw, [lower]).some((c) => c.path === '/usr/bin' && c.kind === 'C'));
});
