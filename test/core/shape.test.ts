/**
 * The shape checker every metadata JSON read goes through (src/core/sources/shape.ts), and the config.v2.json
 * and image config readers built on it: every wrong shape is recorded with where it is and what it was, reads
 * as absent, and never throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonDoc, MAX_JSON_DEPTH, jsonKind, parseJson } from '../../src/core/sources/shape.js';
import { readConfigV2 } from '../../src/core/sources/container-config.js';
import { parseConfig, imageFromConfig } from '../../src/core/sources/config.js';

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

test('parseJson: syntax errors and nesting deeper than the bound are reasons, never exceptions', () => {
  assert.deepEqual(parseJson('{"a":[1,{"b":null}]}'), { ok: true, value: { a: [1, { b: null }] } });
  assert.deepEqual(parseJson('null'), { ok: true, value: null });
  const bad = parseJson('{"a":');
  assert.equal(bad.ok, false);
  assert.match((bad as { reason: string }).reason, /JSON/);
  assert.equal(parseJson(deep(MAX_JSON_DEPTH)).ok, true);
  assert.deepEqual(parseJson(deep(MAX_JSON_DEPTH + 1)), { ok: false, reason: `nested more than ${MAX_JSON_DEPTH} levels deep` });
  // A million levels: refused before JSON.parse (which would build it, and JSON.stringify would then overflow).
  assert.equal(parseJson(deep(1_000_000)).ok, false);
  // Brackets inside strings (escaped quotes included) are text, not nesting.
  assert.equal(parseJson(JSON.stringify({ s: '\\"' + '['.repeat(10_000) })).ok, true);
  assert.equal(parseJson(Buffer.from('{"x": 1}')).ok, true);
});

test('accessors: absent and null read as null silently; wrong types are recorded with their path', () => {
  const doc = new JsonDoc('/root/containers/x/config.v2.json', 'config.v2.json');
  const root = doc.root({ Name: 5, Image: null, State: [true], Config: { Image: 'app:1', Labels: { a: 1, b: 'x' } }, Pid: 1.5, RW: 'yes', MountPoints: { '/data': null, '/ok': { Destination: '/ok' } }, list: [null, {}, 'x'], Created: 1 })!;
  assert.ok(root);
  assert.equal(root.str('Name'), null);
  assert.equal(root.str('Image'), null);
  assert.equal(root.str('Missing'), null);
  assert.equal(root.obj('State'), null);
  assert.equal(root.obj('Config')!.str('Image'), 'app:1');
  assert.deepEqual(root.obj('Config')!.obj('Labels')!.strs(), [['b', 'x']]);
  assert.equal(root.int('Pid'), null);
  assert.equal(root.num('Pid'), 1.5);
  assert.equal(root.bool('RW'), null);
  assert.deepEqual(root.obj('MountPoints')!.objs().map(([k, o]) => [k, o.str('Destination')]), [['/ok', '/ok']]);
  assert.deepEqual(root.arr('list')!.objects().map((o) => o !== null), [false, true, false]);
  // Reading a wrong field again is still one finding.
  root.str('Name');
  root.str('Created');
  const p = doc.problem('containers.config.bad-shape')!;
  assert.equal(p.severity, 'error');
  assert.equal(p.path, '/root/containers/x/config.v2.json');
  for (const part of [
    'Name is a number (5), expected a string',
    'State is an array, expected an object',
    'Config.Labels.a is a number (1), expected a string',
    'Pid is a number (1.5), expected an integer',
    'RW is a string ("yes"), expected a boolean',
    'MountPoints["/data"] is null, expected an object',
    'list[0] is null, expected an object',
  ]) {
    assert.ok(p.message.includes(part), `${part} in: ${p.message}`);
  }
  assert.match(p.message, /and 1 more$/, 'at most 8 listed, the rest counted');
  assert.equal(p.message.match(/Name is/g)?.length, 1);
});

test('a document that is no object: one problem, nothing read; a well-formed one: no problem', () => {
  for (const [value, kind] of [[null, 'null'], [[1], 'an array'], ['s', 'a string ("s")'], [3, 'a number (3)'], [true, 'a boolean (true)']] as const) {
    const doc = new JsonDoc('/f', 'repositories.json');
    assert.equal(doc.root(value), null);
    assert.equal(doc.problem('repositories.bad-shape')!.message, `repositories.json is unusable: the document is ${kind}, expected a JSON object`);
  }
  const ok = new JsonDoc('/f');
  ok.root({ a: 1 })!.num('a');
  assert.equal(ok.problem('x'), null);
  assert.equal(jsonKind({}), 'an object');
});

test('config.v2.json: null, arrays, strings, numbers and wrong fields never throw; the container keeps what was well-formed', () => {
  const f = '/r/containers/c/config.v2.json';
  for (const text of ['null', '[]', '"x"', '7', 'true']) {
    const r = readConfigV2(Buffer.from(text), f, 'c');
    assert.equal(r.config, null, text);
    assert.deepEqual(r.problems.map((p) => [p.code, p.path]), [['containers.config.bad-shape', f]], text);
    assert.match(r.problems[0]!.message, /unusable, the container is left out: the document is/);
  }
  const deepDoc = readConfigV2(Buffer.from(`{"State":${deep(100_000)}}`), f, 'c');
  assert.equal(deepDoc.config, null);
  assert.deepEqual(deepDoc.problems.map((p) => p.code), ['containers.config.invalid-json']);
  const r = readConfigV2(
    Buffer.from(JSON.stringify({ Name: 42, Image: 'sha256:' + 'a'.repeat(64), State: [1], MountPoints: 'x', Config: { Image: 'app:1' }, Driver: 'overlay2', Created: 5 })),
    f,
    'c',
  );
  const { inspect, ...fields } = r.config!;
  // Wrong types read as null in docker inspect's form too (the problem says what was there).
  assert.deepEqual(inspect, { Id: 'c', Created: null, Image: 'sha256:' + 'a'.repeat(64), Name: null, Driver: 'overlay2', HostConfig: null, Mounts: [], Config: { Image: 'app:1' } });
  assert.deepEqual(
    { ...fields, mounts: r.config!.mounts },
    { name: null, image: 'sha256:' + 'a'.repeat(64), imageRef: 'app:1', state: 'created', pid: null, exitCode: null, startedAt: null, finishedAt: null, created: null, driver: 'overlay2', seccompProfile: null, mounts: [] },
  );
  assert.deepEqual(r.problems.map((p) => p.code), ['containers.config.bad-shape']);
  for (const part of ['Name is a number (42)', 'State is an array', 'MountPoints is a string ("x")', 'Created is a number (5)']) assert.ok(r.problems[0]!.message.includes(part), part);
  // A running container's state, and mounts with null members.
  const run = readConfigV2(
    Buffer.from(JSON.stringify({ Name: '/web', State: { Running: true, Pid: 42, StartedAt: '2024-01-01T00:00:00Z', Paused: 'no' }, MountPoints: { '/a': null, '/b': { Destination: '/b', RW: true, Name: 'vol', Type: 'volume', Source: 7 } } })),
    f,
    'c',
  );
  assert.equal(run.config!.name, 'web');
  assert.equal(run.config!.state, 'running');
  assert.equal(run.config!.pid, 42);
  assert.deepEqual(run.config!.mounts, [{ destination: '/b', source: null, name: 'vol', type: 'volume', rw: true }]);
  assert.match(run.problems[0]!.message, /State\.Paused is a string \("no"\), expected a boolean.*MountPoints\["\/a"\] is null.*MountPoints\["\/b"\]\.Source is a number/);
  // A well-formed config: no problem.
  assert.deepEqual(readConfigV2(Buffer.from(JSON.stringify({ Name: '/ok', State: { StartedAt: '2024-01-01T00:00:00Z' } })), f, 'c').problems, []);
});

test('image config: wrong shapes are one config.bad-shape problem; wrong diff_ids leave no config', () => {
  const d = 'sha256:' + 'b'.repeat(64);
  const good = parseConfig(Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [d] }, history: [{ created_by: 'x' }] })), '/c');
  assert.deepEqual(good.problems, []);
  for (const doc of ['null', '[]', '"s"']) assert.deepEqual(parseConfig(Buffer.from(doc), '/c').problems.map((p) => p.code), ['config.bad-shape']);
  assert.deepEqual(parseConfig(Buffer.from(JSON.stringify({ rootfs: 'x' })), '/c').problems.map((p) => p.code), ['config.bad-shape', 'config.no-diff-ids']);
  assert.deepEqual(parseConfig(Buffer.from(JSON.stringify({ rootfs: { diff_ids: [d, 5] } })), '/c').problems.map((p) => p.code), ['config.bad-diff-id']);
  assert.deepEqual(parseConfig(Buffer.from(`{"rootfs":{"diff_ids":["${d}"]},"x":${deep(10_000)}}`), '/c').problems.map((p) => p.code), ['config.invalid-json']);
  const odd = parseConfig(Buffer.from(JSON.stringify({ rootfs: { diff_ids: [d] }, os: 7, created: [], history: [null, { created_by: 9, empty_layer: 'yes' }], config: { Labels: { a: null } } })), '/c');
  assert.ok(odd.config);
  assert.deepEqual(odd.problems.map((p) => p.code), ['config.bad-shape']);
  assert.match(odd.problems[0]!.message, /history\[0\] is null.*history\[1\]\.empty_layer is a string.*history\[1\]\.created_by is a number.*os is a number.*config\.Labels\.a is null/s);
  const built = imageFromConfig({ id: d, tags: [], digests: [], config: odd.config!, diffIds: odd.diffIds, where: '/c', place: () => ({ cacheId: null, location: null, storedSize: null }) });
  assert.equal(built.image.os, null);
  assert.equal(built.image.created, null);
  // Two history entries make layers (a null one, and one whose empty_layer is not a boolean) for one layer.
  assert.deepEqual(built.problems.map((p) => p.code), ['config.history.misaligned']);
});

test("fields are found as Go's encoding/json finds them (case folded, the last matching key wins); maps keep exact keys", () => {
  const doc = new JsonDoc(null, 'x');
  const o = doc.root(JSON.parse('{"Privileged": false, "privileged": true, "capadd": ["SYS_ADMIN"], "Labels": {"a": "1", "A": "2"}, "\u212aey": "kelvin"}'))!;
  assert.equal(o.bool('Privileged'), true);
  assert.deepEqual(o.arr('CapAdd') && o.arr('CapAdd')!.raw(0), 'SYS_ADMIN');
  assert.deepEqual(o.obj('labels')!.strs(), [['a', '1'], ['A', '2']]);
  assert.equal(o.str('key'), 'kelvin');
  assert.equal(o.str('Absent'), null);
});
