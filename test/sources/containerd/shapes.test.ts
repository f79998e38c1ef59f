/**
 * JSON documents of a containerd root that have the wrong shape (hand-made root: a meta.db written with the
 * test bolt writer, content blobs named by their own digest): manifests and indexes whose fields are of the
 * wrong type or null, runtime specs of container records that are not JSON or hold null mounts. Each is a
 * problem naming the file, the rest of the analysis goes on (the good image and every container are listed),
 * and the evidence is not written.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { hashTree } from '../../support/tree.js';
import { protoAny } from '../../support/bolt-writer.js';
import { cli, metaDb, writeTree, type Files } from '../../support/roots.js';
import type { BoltTree } from '../../support/bolt-writer.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-ctd-shapes-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const BLOBS = 'io.containerd.content.v1.content/blobs/sha256';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

function build() {
  const files: Files = { 'io.containerd.snapshotter.v1.overlayfs/snapshots': null };
  /** Store a blob under its digest; returns the digest. */
  const blob = (value: unknown): string => {
    const bytes = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
    const hex = createHash('sha256').update(bytes).digest('hex');
    files[`${BLOBS}/${hex}`] = bytes;
    return `sha256:${hex}`;
  };
  const config = blob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const good = blob({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 1 }, layers: [] });
  // config.digest is a number, layers holds null: not an image.
  const badManifest = blob({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: 5 }, layers: [null] });
  // An index whose manifests are null, a string, and a descriptor with a numeric digest and platform.
  const badIndex = blob({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [null, 'x', { digest: 7, platform: { os: 1 } }] });
  // A manifest blob that is JSON null, and one nested too deep to be parsed.
  const nullDoc = blob('null');
  const deepDoc = blob('['.repeat(2000) + ']'.repeat(2000));
  const target = (digest: string, mediatype: string): BoltTree => ({ target: { digest, mediatype } });
  const ns: BoltTree = {
    images: {
      'docker.io/library/good:1': target(good, OCI_MANIFEST),
      'docker.io/library/bad-manifest:1': target(badManifest, OCI_MANIFEST),
      'docker.io/library/bad-index:1': target(badIndex, OCI_INDEX),
      'docker.io/library/null-doc:1': target(nullDoc, OCI_MANIFEST),
      'docker.io/library/deep-doc:1': target(deepDoc, OCI_MANIFEST),
    },
    containers: {
      'null-mounts': { image: 'docker.io/library/good:1', snapshotter: 'overlayfs', spec: protoAny(SPEC_TYPE, JSON.stringify({ mounts: [null, { destination: 5, options: 'ro' }, { destination: '/ok', type: 'bind', source: '/src', options: ['ro'] }] })) },
      'not-json': { image: 'docker.io/library/good:1', snapshotter: 'overlayfs', spec: protoAny(SPEC_TYPE, '{"mounts": [') },
      'array-spec': { image: 'docker.io/library/good:1', snapshotter: 'overlayfs', spec: protoAny(SPEC_TYPE, '[]') },
    },
  };
  files['io.containerd.metadata.v1.bolt/meta.db'] = metaDb({ default: ns });
  return { root: writeTree(path.join(tmp, 'root'), files), config, badManifest, badIndex, nullDoc, deepDoc };
}

test('containerd root: wrong-shaped manifests, indexes and runtime specs are problems naming the file; the rest is listed', async () => {
  const { root, config, badManifest, badIndex, nullDoc, deepDoc } = build();
  const before = await hashTree(root);
  const r = await cli(['report', root, '--format', 'json']);
  assert.equal(await hashTree(root), before, 'the evidence changed');
  assert.equal(r.code, 4, `exit 4 (error-severity problems): ${r.stderr}`);
  const rep = JSON.parse(r.stdout);
  // The analysis of the rest goes on: the good image and all three containers are there.
  assert.deepEqual(rep.images.map((i: any) => [i.id, i.tags]), [[config, ['docker.io/library/good:1']]]);
  assert.deepEqual(rep.containers.map((c: any) => c.id).sort(), ['array-spec', 'not-json', 'null-mounts']);
  const blobPath = (d: string) => path.join(root, BLOBS, d.slice(7));
  const find = (code: string, p: string) => rep.problems.filter((x: any) => x.code === code && x.path === p);
  const shape = (d: string) => find('containerd.blob.bad-shape', blobPath(d));
  assert.equal(shape(badManifest).length, 1, JSON.stringify(rep.problems, null, 1));
  assert.match(shape(badManifest)[0].message, /config\.digest is a number \(5\), expected a string/);
  assert.match(shape(badManifest)[0].message, /layers\[0\] is null, expected an object/);
  assert.equal(find('containerd.manifest.bad-config', blobPath(badManifest)).length, 1);
  assert.match(shape(badIndex)[0].message, /manifests\[0\] is null, expected an object; manifests\[1\] is a string \("x"\), expected an object; manifests\[2\]\.digest is a number \(7\), expected a string; manifests\[2\]\.platform\.os is a number \(1\)/);
  assert.match(shape(nullDoc)[0].message, /is unusable: the document is null, expected a JSON object/);
  assert.match(find('containerd.blob.invalid-json', blobPath(deepDoc))[0].message, /nested more than 512 levels deep/);
  const metaPath = path.join(root, 'io.containerd.metadata.v1.bolt/meta.db');
  const spec = rep.problems.filter((x: any) => x.code.startsWith('containerd.container.spec.'));
  assert.deepEqual(spec.map((x: any) => [x.code, x.path]).sort(), [
    ['containerd.container.spec.bad-shape', metaPath],
    ['containerd.container.spec.bad-shape', metaPath],
    ['containerd.container.spec.invalid-json', metaPath],
  ]);
  assert.ok(spec.some((x: any) => /container null-mounts .*mounts\[0\] is null, expected an object; mounts\[1\]\.options is a string \("ro"\), expected an array; mounts\[1\]\.destination is a number/.test(x.message)), JSON.stringify(spec));
  assert.ok(spec.some((x: any) => /container array-spec .*the document is an array, expected a JSON object/.test(x.message)), JSON.stringify(spec));
  // The well-formed mount of the same spec is kept.
  const nm = rep.containers.find((c: any) => c.id === 'null-mounts');
  assert.ok(nm, 'container listed');
});
