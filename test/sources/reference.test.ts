/**
 * What a SOURCE as typed names (core/sources/reference.ts): the reference grammar, the order of the rules (an
 * existing path always wins), the tag docker save is asked for, and the words when no engine has the image.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { notInAnyEngine, parseImageReference, saveReference, schemeLocation, sourceSpec } from '../../src/core/sources/reference.js';
import { SourceError } from '../../src/core/model/errors.js';

test('image references: the distribution grammar docker and podman read', () => {
  assert.deepEqual(parseImageReference('nginx'), { name: 'nginx', tag: null, digest: null });
  assert.deepEqual(parseImageReference('nginx:latest'), { name: 'nginx', tag: 'latest', digest: null });
  assert.deepEqual(parseImageReference('localhost:5000/team/app:1.2-rc'), { name: 'localhost:5000/team/app', tag: '1.2-rc', digest: null });
  const d = 'sha256:' + 'a'.repeat(64);
  assert.deepEqual(parseImageReference(`ghcr.io/o/app@${d}`), { name: 'ghcr.io/o/app', tag: null, digest: d });
  assert.deepEqual(parseImageReference(`app:1@${d}`), { name: 'app', tag: '1', digest: d });
  // app.tar is a valid repository name: why the rules below never send it to an engine silently.
  assert.deepEqual(parseImageReference('app.tar'), { name: 'app.tar', tag: null, digest: null });
  for (const no of ['./app.tar', '/var/lib/docker', '../x', 'App:1', 'a b', 'app:', ':1', 'app:-x', 'a//b', '-', 'x'.repeat(300), 'app@sha256:short', 'ab\u001b[2Jc'])
    assert.equal(parseImageReference(no), null, no);
});

test('SOURCE rules: scheme, then an existing path, then a reference to look up, else a path', () => {
  const none = () => false;
  const all = () => true;
  assert.deepEqual(sourceSpec('nginx:latest', undefined, none), { kind: 'lookup', ref: 'nginx:latest' });
  // An existing path always wins, whatever it looks like.
  assert.deepEqual(sourceSpec('nginx:latest', undefined, all), { kind: 'location', location: 'nginx:latest' });
  assert.deepEqual(sourceSpec('app.tar', undefined, all), { kind: 'location', location: 'app.tar' });
  assert.deepEqual(sourceSpec('app.tar', undefined, none), { kind: 'lookup', ref: 'app.tar' });
  // Not a reference and not there: a path, whose opening says "no such file".
  assert.deepEqual(sourceSpec('./app.tar', undefined, none), { kind: 'location', location: './app.tar' });
  assert.deepEqual(sourceSpec('/var/lib/docker', undefined, none), { kind: 'location', location: '/var/lib/docker' });
  assert.deepEqual(sourceSpec('-', undefined, none), { kind: 'location', location: '-' });
  // The older forms keep their meaning, even when nothing of that name exists.
  assert.deepEqual(sourceSpec('docker:app:1', undefined, none), { kind: 'location', location: 'docker:app:1' });
  assert.deepEqual(sourceSpec('podman:app:1', undefined, none), { kind: 'location', location: 'podman:app:1' });
  // Schemes and --source: no guessing, in either direction.
  assert.deepEqual(sourceSpec('docker://nginx', undefined, all), { kind: 'engine', engine: 'docker', ref: 'nginx' });
  assert.deepEqual(sourceSpec('podman://quay.io/x/y:2', undefined, all), { kind: 'engine', engine: 'podman', ref: 'quay.io/x/y:2' });
  assert.deepEqual(sourceSpec('docker-archive://app.tar', undefined, none), { kind: 'location', location: 'app.tar' });
  assert.deepEqual(sourceSpec('oci-archive:///tmp/x.oci.tar', undefined, none), { kind: 'location', location: '/tmp/x.oci.tar' });
  assert.deepEqual(sourceSpec('nginx:latest', 'docker-archive', none), { kind: 'location', location: 'nginx:latest' });
  assert.deepEqual(sourceSpec('app.tar', 'docker', all), { kind: 'engine', engine: 'docker', ref: 'app.tar' });
  assert.deepEqual(sourceSpec('docker://nginx', 'docker', none), { kind: 'engine', engine: 'docker', ref: 'nginx' });
  assert.deepEqual(sourceSpec('3f57d9401f8d', 'podman', none), { kind: 'engine', engine: 'podman', ref: '3f57d9401f8d' });
  assert.throws(() => sourceSpec('docker://nginx', 'podman', none), SourceError);
  assert.throws(() => sourceSpec('docker://', undefined, none), /names nothing/);
  assert.throws(() => sourceSpec('./app.tar', 'docker', none), /not an image reference/);
});

test('openSource reads the schemes without asking anyone', () => {
  assert.equal(schemeLocation('docker://app:1'), 'docker:app:1');
  assert.equal(schemeLocation('docker://app'), 'docker:app:latest');
  assert.equal(schemeLocation('docker-archive://x/app.tar'), 'x/app.tar');
  assert.equal(schemeLocation('/var/lib/docker'), '/var/lib/docker');
  assert.equal(schemeLocation('docker:app'), 'docker:app');
});

test('docker save is asked for the tag docker run would use, or the ID typed', () => {
  assert.equal(saveReference('nginx', 'sha256:1234'), 'nginx:latest');
  assert.equal(saveReference('nginx:1.25', 'sha256:1234'), 'nginx:1.25');
  assert.equal(saveReference('3f57d9401f8d', 'sha256:3f57d9401f8d0000'), '3f57d9401f8d');
  // Hex that is not the image's ID prefix is a repository name.
  assert.equal(saveReference('abcdef', 'sha256:1234'), 'abcdef:latest');
  const d = 'sha256:' + 'b'.repeat(64);
  assert.equal(saveReference(`app@${d}`, 'sha256:1'), `app@${d}`);
});

test('no engine has it: the file is not there either, and how to save the image instead', () => {
  const down = notInAnyEngine('nginx:latest', 'nginx:latest', [
    { engine: 'docker', status: 'unreachable', detail: 'Cannot connect to the Docker daemon' },
    { engine: 'podman', status: 'unreachable', detail: 'podman is not installed (or not in PATH)' },
  ], true);
  assert.equal(down.code, 'engine.unavailable');
  assert.match(down.message, /^nginx:latest: no such file or directory; and no local engine is reachable/);
  assert.match(down.message, /docker: Cannot connect.*podman: podman is not installed/);
  assert.match(down.message, /docker save -o nginx\.tar nginx:latest, then layerscope nginx\.tar$/);
  const lacks = notInAnyEngine('app:1', 'app:1', [{ engine: 'docker', status: 'lacks', detail: 'No such image: app:1' }], false);
  assert.equal(lacks.code, 'source.not-in-engine');
  assert.doesNotMatch(lacks.message, /no such file/);
  assert.match(lacks.message, /no local engine has an image app:1 \(docker: reachable, no image app:1\)\. Pull it first \(docker pull app:1\)/);
  // A name that reads as a file: no "docker pull app.tar", no "docker save -o app.tar.tar app.tar".
  const file = notInAnyEngine('app.tar', 'app.tar', [{ engine: 'docker', status: 'lacks', detail: '' }], true);
  assert.match(file.message, /^app\.tar: no such file or directory; and no local engine has an image app\.tar/);
  assert.doesNotMatch(file.message, /pull|app\.tar\.tar/);
  assert.match(file.message, /docker save -o app\.tar IMAGE, then layerscope app\.tar$/);
});
