/**
 * Hostile evidence, class 5: JSON of every shape where manifest.json, index.json, manifests and configs are
 * expected: null, arrays for objects, numbers for strings, objects whose `toString` is not a function, and
 * nesting 100,000 deep (JSON.parse's RangeError). None may crash the CLI (a TypeError or RangeError is exit 1,
 * "internal error"): each is an error problem naming the member (exit 4), or a source error naming the cause
 * when it is the only list of images (exit 3); what is valid loads. Run on the BUILT CLI.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tar, type RawMember } from '../tar/helpers.js';
import { assertBuilt, assertNoCrash, hex, layerTar, reportJson, runCli, sha256, tempDir } from './hostile-helpers.js';

before(assertBuilt);

const L0 = layerTar({ 'etc/hostname': 'box\n' });
const D0 = sha256(L0);
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const GOOD_CFG = { os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [D0] } };

/** A legacy save with this manifest.json and config (strings: raw JSON text). */
function legacy(manifest: string, config: string = JSON.stringify(GOOD_CFG)): Buffer {
  return tar([
    { name: 'l0.tar', body: L0 },
    { name: 'c.json', body: Buffer.from(config) },
    { name: 'manifest.json', body: Buffer.from(manifest) },
  ]);
}
const M = (entry: string) => `[${entry}]`;
const GOOD_ENTRY = '{"Config":"c.json","RepoTags":["ok:1"],"Layers":["l0.tar"]}';

/** An OCI archive whose manifest blob is this raw text (named by its real digest), and optionally index.json. */
function oci(manifest: string, opts: { config?: string; index?: (manifestDigest: string) => string } = {}): Buffer {
  const cfg = Buffer.from(opts.config ?? JSON.stringify(GOOD_CFG));
  const text = manifest.replaceAll('$CFG', sha256(cfg)).replaceAll('$L0SIZE', String(L0.length)).replaceAll('$L0', D0);
  const m = Buffer.from(text);
  const md = sha256(m);
  const index = opts.index ? opts.index(md) : JSON.stringify({ schemaVersion: 2, manifests: [{ digest: md, annotations: { 'io.containerd.image.name': 'docker.io/library/ok:1' } }] });
  const members: RawMember[] = [
    { name: `blobs/sha256/${hex(D0)}`, body: L0 },
    { name: `blobs/sha256/${hex(sha256(cfg))}`, body: cfg },
    { name: `blobs/sha256/${hex(md)}`, body: m },
    { name: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', body: Buffer.from(index) },
  ];
  return tar(members);
}
const GOOD_MANIFEST = '{"schemaVersion":2,"config":{"digest":"$CFG"},"layers":[{"digest":"$L0","size":$L0SIZE}]}';

/** [name, archive, expected exit, a problem code (or a stderr pattern for exit 3) that must be there] */
const CASES: [string, Buffer, 0 | 3 | 4, string | RegExp][] = [
  // manifest.json
  ['manifest.json [null]', legacy('[null]'), 4, 'archive.manifest.invalid'],
  ['manifest.json [1,"x",[]]', legacy('[1,"x",[]]'), 4, 'archive.manifest.invalid'],
  ['manifest.json Config an object with toString', legacy(M('{"Config":{"toString":1},"Layers":[]}')), 4, 'archive.manifest.invalid'],
  ['manifest.json Layers a string', legacy(M('{"Config":"c.json","Layers":"l0.tar"}')), 4, 'archive.manifest.invalid'],
  ['manifest.json Layers of all shapes', legacy(M('{"Config":"c.json","Layers":[1,null,{},["l0.tar"]],"RepoTags":[1,{"a":1},null,"ok:1"],"Parent":{"toString":1}}')), 4, 'archive.manifest.invalid'],
  ['manifest.json RepoTags not an array', legacy(M('{"Config":"c.json","Layers":["l0.tar"],"RepoTags":{"toString":1}}')), 0, 'archive.layers.not-hashed'],
  ['manifest.json Config escaping', legacy(M('{"Config":"../../../etc/passwd","Layers":[]}')), 4, 'archive.manifest.unsafe'],
  ['manifest.json __proto__', legacy(M('{"__proto__":{"Config":"x"},"Config":"c.json","RepoTags":["ok:1"],"Layers":["l0.tar"]}')), 0, 'archive.layers.not-hashed'],
  ['manifest.json nested 100k deep', legacy(deep(100_000)), 3, /"manifest\.json" nests deeper than 128 levels/],
  ['manifest.json entry with a 100k-deep field', legacy(`[{"Config":"c.json","Layers":["l0.tar"],"X":${deep(100_000)}}]`), 3, /"manifest\.json" nests deeper than 128 levels/],
  ['manifest.json a number', legacy('5'), 3, /manifest\.json is 5, not a JSON array/],
  // configs
  ['config null', legacy(M(GOOD_ENTRY), 'null'), 4, 'config.bad-shape'],
  ['config an array', legacy(M(GOOD_ENTRY), '[]'), 4, 'config.bad-shape'],
  ['config a string', legacy(M(GOOD_ENTRY), '"x"'), 4, 'config.bad-shape'],
  ['config rootfs null', legacy(M(GOOD_ENTRY), '{"rootfs":null}'), 4, 'config.no-diff-ids'],
  ['config rootfs an array', legacy(M(GOOD_ENTRY), '{"rootfs":[]}'), 4, 'config.no-diff-ids'],
  ['config diff_ids a string', legacy(M(GOOD_ENTRY), '{"rootfs":{"diff_ids":"x"}}'), 4, 'config.no-diff-ids'],
  ['config diff_ids of numbers', legacy(M(GOOD_ENTRY), '{"rootfs":{"diff_ids":[1,null,{"toString":1}]}}'), 4, 'config.bad-diff-id'],
  [
    'config fields of every wrong type',
    legacy(M(GOOD_ENTRY), JSON.stringify({ ...GOOD_CFG, history: 'x', created: 5, os: { a: 1 }, architecture: [], variant: null, config: [] })),
    // The engine refuses such a config (its JSON does not decode): an error naming each field, the image still read.
    4,
    'config.bad-shape',
  ],
  [
    'config history and config of wrong shapes',
    legacy(M(GOOD_ENTRY), JSON.stringify({ ...GOOD_CFG, history: [null, 1, 'x', { empty_layer: 'yes', created_by: { toString: 1 } }], config: { Env: { a: 1 }, Cmd: 5, Labels: [], Entrypoint: null, WorkingDir: {} } })),
    4,
    'config.bad-shape',
  ],
  ['config 100k deep', legacy(M(GOOD_ENTRY), `{"rootfs":{"diff_ids":["${D0}"]},"x":${deep(100_000)}}`), 4, 'archive.json.too-complex'],
  ['config 129 deep', legacy(M(GOOD_ENTRY), `{"rootfs":{"diff_ids":["${D0}"]},"x":${deep(128)}}`), 4, 'archive.json.too-complex'],
  ['config 100 deep (allowed)', legacy(M(GOOD_ENTRY), `{"os":"linux","rootfs":{"diff_ids":["${D0}"]},"x":${deep(99)}}`), 0, 'archive.layers.not-hashed'],
  [
    'config with 1001 layers',
    legacy(M(`{"Config":"c.json","RepoTags":["ok:1"],"Layers":${JSON.stringify(Array(1001).fill('l0.tar'))}}`), JSON.stringify({ ...GOOD_CFG, rootfs: { type: 'layers', diff_ids: Array(1001).fill(D0) } })),
    4,
    'archive.layers.too-many',
  ],
  ['config with 2M values', legacy(M(GOOD_ENTRY), `{"rootfs":{"diff_ids":["${D0}"]},"x":[${'0,'.repeat(2_000_000)}0]}`), 4, 'archive.json.too-complex'],
  // index.json and manifests
  ['index annotations an array', oci(GOOD_MANIFEST, { index: (d) => JSON.stringify({ manifests: [{ digest: d, annotations: [] }] }) }), 0, 'archive.layers.not-hashed'],
  ['index annotations of wrong types', oci(GOOD_MANIFEST, { index: (d) => JSON.stringify({ manifests: [{ digest: d, annotations: { 'io.containerd.image.name': 5, 'org.opencontainers.image.ref.name': { toString: 1 } } }] }) }), 0, 'archive.layers.not-hashed'],
  ['index digest an object with toString', oci(GOOD_MANIFEST, { index: () => '{"manifests":[{"digest":{"toString":1}}]}' }), 4, 'archive.descriptor.invalid'],
  ['index 100k deep', oci(GOOD_MANIFEST, { index: () => deep(100_000) }), 3, /"index\.json" nests deeper than 128 levels/],
  ['manifest null', oci('null'), 4, 'oci.manifest.invalid'],
  ['manifest config null', oci('{"config":null,"layers":[]}'), 4, 'oci.manifest.invalid'],
  ['manifest config digest a number', oci('{"config":{"digest":5},"layers":[]}'), 4, 'archive.descriptor.invalid'],
  ['manifest layers [null]', oci('{"config":{"digest":"$CFG"},"layers":[null]}'), 4, 'oci.manifest.invalid'],
  ['manifest layers a string', oci('{"config":{"digest":"$CFG"},"layers":"x"}'), 4, 'oci.manifest.invalid'],
  ['manifest layer digest an array', oci('{"config":{"digest":"$CFG"},"layers":[{"digest":["x"]}]}'), 4, 'archive.descriptor.invalid'],
  ['manifest layer size a string (ignored)', oci('{"config":{"digest":"$CFG"},"layers":[{"digest":"$L0","size":"12"}]}'), 0, 'archive.layers.not-hashed'],
  ['manifest layer size wrong', oci('{"config":{"digest":"$CFG"},"layers":[{"digest":"$L0","size":12}]}'), 4, 'blob.size.mismatch'],
  ['manifest "manifests" an object', oci('{"manifests":{"a":1}}'), 4, 'oci.index.invalid'],
  ['nested index of odd platforms', oci('{"manifests":[{"platform":[]},{"platform":{"os":5,"architecture":{"toString":1}}},7]}'), 4, 'oci.platform.unavailable'],
  ['manifest 100k deep', oci(deep(100_000)), 4, 'archive.json.too-complex'],
  ['manifest digest sha512 of other bytes', oci(GOOD_MANIFEST, { index: (d) => JSON.stringify({ manifests: [{ digest: 'sha512:' + '0'.repeat(128) }] }) }), 4, 'archive.blob.missing'],
];

test('JSON of every shape where a document is expected: a problem or a source error naming it, never a crash', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const seen: string[] = [];
  for (const [name, archive, exit, want] of CASES) {
    const file = join(dir, 'a.tar');
    writeFileSync(file, archive);
    const r = await reportJson(['report', file]);
    assert.equal(r.code, exit, `${name}: exit ${r.code}\n${r.stderr}\n${JSON.stringify(r.json?.problems ?? null)}`);
    if (want instanceof RegExp) assert.match(r.stderr, want, name);
    else assert.ok(r.json!.problems.some((p) => p.code === want && (exit === 0 || p.severity === 'error')), `${name}: no ${want} in ${JSON.stringify(r.json!.problems)}`);
    if (exit === 4) assert.ok(r.json!.problems.some((p) => p.severity === 'error' && p.path !== null && p.path !== ''), `${name}: an error names its member`);
    seen.push(name);
  }
  assert.equal(seen.length, CASES.length);
});

test('images whose configs have odd shapes still go through every command that reads them', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const odd = CASES.filter(([name]) => name.startsWith('config') && name.includes('wrong'));
  assert.equal(odd.length, 2);
  for (const [name, archive] of odd) {
    const file = join(dir, 'odd.tar');
    writeFileSync(file, archive);
    for (const args of [['report', file], ['verify', file, '--no-mount'], ['files', file], ['changes', file, '--image', 'ok:1'], ['ci', file], ['timeline', file]]) {
      const r = await runCli(args);
      assertNoCrash(r);
      assert.ok(r.code === 0 || r.code === 4 || (args[0] === 'ci' && r.code === 1) || (args[0] === 'timeline' && r.code === 2), `${name}: ${args.join(' ')} exit ${r.code}\n${r.stderr}`);
    }
  }
});
