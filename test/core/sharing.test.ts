/**
 * Images that share their first k layers share the stacking of those k layers, and nothing changes for it:
 * hand-made images that diverge in every way a layer can (deleting, overwriting, making a dir opaque,
 * replacing a dir with a file, deleting one name of a hard-linked inode or both) give, on the shared chain
 * tree, exactly what each gives stacked alone. And the work done is the work of the unique layers: counted,
 * not timed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelOf } from '../../src/core/analysis/model.js';
import type { Attrs, ContainerInfo, ImageInfo, LayerChanges, LayerEntry } from '../../src/core/model/types.js';
import { tableSource } from '../support/tables.js';
import { assertSharingChangesNothing } from '../support/sharing.js';

const A = (type: Attrs['type'], size = 0, extra: Partial<Attrs> = {}): Attrs => ({ type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size, mtime: 1700000000, mtimeNsec: 0, ...extra });
const f = (path: string, size: number, extra: Partial<Attrs> = {}): LayerEntry => ({ kind: 'put', path, attrs: A('file', size, extra) });
const d = (path: string, opaque = false): LayerEntry => ({ kind: 'put', path, attrs: A('dir'), ...(opaque ? { opaque: true } : {}) });
const hl = (path: string, target: string, size: number): LayerEntry => ({ kind: 'put', path, attrs: A('hardlink', size, { linkname: target }) });
const w = (path: string): LayerEntry => ({ kind: 'whiteout', path });
const L = (...entries: LayerEntry[]): LayerChanges => ({ entries, problems: [] });

const hex = (n: number, c: string) => 'sha256:' + (c.repeat(64) + n.toString(16)).slice(-64);
let next = 0;
function image(tag: string, layers: LayerChanges[]): { info: ImageInfo; layers: LayerChanges[] } {
  const id = hex(++next, 'e');
  return {
    info: {
      id,
      tags: [tag],
      digests: [],
      created: null,
      os: 'linux',
      architecture: 'amd64',
      emptyHistory: 0,
      config: {},
      // chainIDs as a real source computes them: equal prefixes, equal chainIDs.
      layers: layers.map((l, i) => ({ index: i, diffId: hex(all.indexOf(l), 'd'), chainId: hex(layers.slice(0, i + 1).map((x) => all.indexOf(x)).reduce((a, b) => a * 31 + b + 1, 7), 'c'), cacheId: null, createdBy: null, created: null, comment: null, location: `layer-${all.indexOf(l)}`, storedSize: null })),
    },
    layers,
  };
}

const base = L(d('a'), f('a/x', 100), d('a/sub'), f('a/sub/y', 5), d('h'), f('h/f', 1000), hl('h/g', 'h/f', 1000), d('d'), f('d/k', 7), d('o'), f('o/p', 9), d('r'), f('r/q', 3), f('same', 4));
const del1 = L(w('a'));
const del2 = L(d('h'), w('h/f'));
const rep1 = L(f('r', 1), d('o', true), f('o/new', 2));
const rep2 = L(d('h'), w('h/g'));
const both = L(d('h'), w('h/f'), w('h/g'));
const back = L(d('a'), f('a/x', 50), f('same', 4));
const more = L(d('d'), w('d/k'), f('x/y/z', 6));
const all = [base, del1, del2, rep1, rep2, both, back, more];

function host() {
  next = 0;
  const images = [
    image('deletes:1', [base, del1, del2]),
    image('replaces:1', [base, rep1, rep2]),
    image('both-links:1', [base, both, back]),
    image('deeper:1', [base, del1, del2, more]),
    image('twin:1', [base, del1, del2]),
    image('base:1', [base]),
  ];
  const ct = (name: string, img: ImageInfo, rw: LayerChanges): { info: ContainerInfo; rw: LayerChanges } => ({
    info: { id: hex(++next, 'f').slice(7), name, image: img.id, imageRef: img.tags[0]!, state: 'exited', pid: null, exitCode: 0, startedAt: null, finishedAt: null, created: null, driver: 'overlay2', mountId: null, initId: null, parentChainId: null, rwDir: `rw-${name}`, initDir: null, mounts: [] },
    rw,
  });
  const containers = [ct('web', images[0]!.info, L(d('a'), f('a/new', 1), w('same'))), ct('db', images[1]!.info, L(d('o'), w('o/new'), d('h'), w('h/g')))];
  const byId = new Map(images.map((i) => [i.info.id, i.layers]));
  const init = L();
  const source = tableSource({
    kind: 'docker-root',
    location: '/fake-host',
    images: images.map((i) => i.info),
    containers: containers.map((c) => c.info),
    problems: [],
    readLayer: async (img, i) => byId.get(img.id)![i]!,
    readContainerLayer: async (c, which) => (which === 'init' ? init : containers.find((x) => x.info.id === c.id)!.rw),
    close: async () => {},
  });
  return { source, images, containers };
}

test('shared stacking gives exactly what each image and container gives stacked alone', async () => {
  const { source } = host();
  const r = await assertSharingChangesNothing(source, 'hand-made host');
  assert.equal(r.images, 6);
  assert.equal(r.containers, 2);
});

test('each shared chain is stacked once: applies follow the unique layers, not the images', async () => {
  const { source } = host();
  const model = modelOf(source);
  await Promise.all(source.images.map((i) => model.image(i)));
  await Promise.all(source.containers.map((c) => model.container(c)));
  // Chain nodes: base; deletes L1, L2 (twin has the same chain); replaces L1, L2; both-links L1, L2; deeper L3;
  // each container its RW layer (no init layer here).
  assert.equal(model.store.stats.applies, 1 + 2 + 2 + 2 + 1 + 2);
  const rows = [base, del1, del2, rep1, rep2, both, back, more].reduce((n, l) => n + l.entries.length, 0) + 3 + 4;
  assert.equal(model.store.stats.rowsApplied, rows);
  // Each changeset was turned into a table once (one read per layer).
  assert.equal(source.tablesMade(), all.length + 2);
});

test('a synthetic host: twenty images over one base of 20,000 files cost the base once', async () => {
  next = 0;
  const files: LayerEntry[] = [];
  for (let i = 0; i < 200; i++) {
    files.push(d(`usr/d${String(i).padStart(3, '0')}`));
    for (let k = 0; k < 100; k++) files.push(f(`usr/d${String(i).padStart(3, "0")}/f${k}`, k * 10 + 1));
  }
  const big = L(d('usr'), ...files);
  all.push(big);
  const apps = Array.from({ length: 20 }, (_, k) => {
    const layer = L(d('usr'), w(`usr/d${String(k * 3).padStart(3, '0')}`), f(`app-${k}`, 1000 + k));
    all.push(layer);
    return image(`app:${k}`, [big, layer]);
  });
  const byId = new Map(apps.map((i) => [i.info.id, i.layers]));
  const source = tableSource({ kind: 'docker-root', location: '/synthetic', images: apps.map((a) => a.info), containers: [], problems: [], readLayer: async (img, i) => byId.get(img.id)![i]!, readContainerLayer: async () => L(), close: async () => {} });
  const model = modelOf(source);
  const results = await Promise.all(source.images.map((i) => model.image(i)));
  assert.equal(model.store.stats.applies, 21, 'the base once, then each app layer');
  assert.equal(model.store.stats.rowsApplied, big.entries.length + apps.reduce((n, a) => n + a.layers[1]!.entries.length, 0));
  assert.equal(source.tablesMade(), 21);
  // Each app deleted a different dir of 100 files: 100 hidden files, the dir's bytes, by layer 1.
  for (const [k, a] of results.entries()) {
    assert.equal(a.hidden.length, 100, `app:${k}`);
    assert.ok(a.hidden.every((h) => h.by === 1 && h.reason === 'deleted' && h.path.startsWith(`usr/d${String(k * 3).padStart(3, '0')}/`)));
  }
  all.splice(all.indexOf(big));
});
