/**
 * Stacks of thousands of layers: stacked whole up to LIMITS.chainLayers (work counted, not timed), and past it
 * a problem that names the image, with the layers above left unstacked, never an out-of-memory crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { modelOf } from '../../src/core/analysis/model.js';
import type { ImageInfo, LayerChanges } from '../../src/core/model/types.js';
import { tableSource } from '../support/tables.js';

const hex = (n: number, c: string) => 'sha256:' + (c.repeat(64) + n.toString(16)).slice(-64);

function tallImage(n: number): { source: ReturnType<typeof tableSource>; image: ImageInfo; layers: LayerChanges[] } {
  const attrs = (type: 'dir' | 'file', size = 0) => ({ type, mode: 0o644, uid: 0, gid: 0, size, mtime: 1, mtimeNsec: 0 });
  // Every layer writes the same dir and a file in it, and deletes the previous layer's file: the worst case for
  // per-path version lists (one path written by every layer).
  const layers: LayerChanges[] = Array.from({ length: n }, (_, i) => ({
    entries: [{ kind: 'put', path: 'etc', attrs: attrs('dir') }, ...(i ? [{ kind: 'whiteout' as const, path: `etc/f${i - 1}` }] : []), { kind: 'put', path: `etc/f${i}`, attrs: attrs('file', 10) }],
    problems: [],
  }));
  const image: ImageInfo = { id: hex(1, 'e'), tags: ['tall:1'], digests: [], created: null, os: 'linux', architecture: 'amd64', emptyHistory: 0, config: {}, layers: layers.map((_, i) => ({ index: i, diffId: hex(i, 'd'), chainId: hex(i, 'c'), cacheId: null, createdBy: null, created: null, comment: null, location: `l${i}`, storedSize: null })) };
  const source = tableSource({ kind: 'docker-archive', location: 'tall.tar', images: [image], containers: [], problems: [], readLayer: async (_img, i) => layers[i]!, readContainerLayer: async () => ({ entries: [], problems: [] }), close: async () => {} });
  return { source, image, layers };
}

test('a stack of 3,000 layers that all write one dir is stacked whole: each layer applied once, each file hidden once', async () => {
  const { source, image } = tallImage(3000);
  const model = modelOf(source);
  const a = await model.image(image);
  assert.equal(model.store.stats.applies, 3000);
  assert.equal(a.layers.length, 3000);
  assert.equal(a.hidden.length, 2999, 'every file but the last deleted by the next layer');
  assert.ok(a.hidden.every((h) => h.by === h.layer + 1 && h.reason === 'deleted'));
  assert.deepEqual(a.problems, []);
});

test('past LIMITS.chainLayers: a problem naming the image, the layers below the bound stacked, bounded work', () => {
  const body = `
    const { modelOf } = await import(${JSON.stringify(new URL('../../src/core/analysis/model.ts', import.meta.url).href)});
    const { tableSource } = await import(${JSON.stringify(new URL('../support/tables.ts', import.meta.url).href)});
    const hex = (n, c) => 'sha256:' + (c.repeat(64) + n.toString(16)).slice(-64);
    const layers = Array.from({ length: 500 }, (_, i) => ({ entries: [{ kind: 'put', path: 'f' + i, attrs: { type: 'file', mode: 420, uid: 0, gid: 0, size: 1, mtime: 1, mtimeNsec: 0 } }], problems: [] }));
    const image = { id: hex(1, 'e'), tags: ['tall:1'], digests: [], created: null, os: 'linux', architecture: 'amd64', emptyHistory: 0, config: {}, layers: layers.map((_, i) => ({ index: i, diffId: hex(i, 'd'), chainId: hex(i, 'c'), cacheId: null, createdBy: null, created: null, comment: null, location: 'l' + i, storedSize: null })) };
    const source = tableSource({ kind: 'docker-archive', location: 'tall.tar', images: [image], containers: [], problems: [], readLayer: async (_i, i) => layers[i], readContainerLayer: async () => ({ entries: [], problems: [] }), close: async () => {} });
    const model = modelOf(source);
    const a = await model.image(image);
    console.log(JSON.stringify({ layers: a.layers.length, applies: model.store.stats.applies, problems: a.problems.map((p) => [p.code, p.message]) }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], {
    env: { ...process.env, LAYERSCOPE_TEST_LIMITS: JSON.stringify({ chainLayers: 100 }) },
    encoding: 'utf8',
    cwd: new URL('../..', import.meta.url).pathname,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(out.layers, 100);
  assert.equal(out.applies, 100);
  assert.deepEqual(out.problems.map((p: string[]) => p[0]), ['limit.chain-layers']);
  assert.match(out.problems[0][1], /tall:1 has 500 layers, more than the 100 read/);
});

test('a layer tar past LIMITS.layerEntries: the rest counted, not kept, and an error says so (file and stdin)', async () => {
  const { legacySave, layerTar } = await import('../sources/archive/hostile-helpers.js');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const files: Record<string, string> = {};
  for (let i = 0; i < 3000; i++) files[`f${String(i).padStart(5, '0')}`] = '';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-limit-'));
  const file = path.join(dir, 'wide.tar');
  fs.writeFileSync(file, legacySave([{ tag: 'wide:1', layers: [layerTar(files)] }]));
  const bin = new URL('../../bin/layerscope.js', import.meta.url).pathname;
  const env = { ...process.env, LAYERSCOPE_TEST_LIMITS: JSON.stringify({ layerEntries: 1000 }) };
  for (const args of [['report', file, '--format', 'json'], ['report', '-', '--format', 'json']]) {
    const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', input: args[1] === '-' ? fs.readFileSync(file) : undefined });
    assert.equal(r.status, 4, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.deepEqual(rep.problems.filter((p: { code: string }) => p.code === 'limit.layer-entries').length, 1);
    assert.equal(rep.images[0].layers[0].entries, 1000);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
