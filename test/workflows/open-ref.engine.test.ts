/**
 * `layerscope report REF` against the real test engines (dive's `dive nginx:latest`): the image docker has is
 * read from its save stream, and gives the same report as `docker:REF` and as the engine's own `docker save`
 * file (opened plainly and as docker-archive://); its ID is the one docker inspect gives; a reference the
 * engine does not have, and an engine that is not there, are exit 3 with a message that says what to do.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { engines, getEngine, type EngineName } from '../support/engine.js';
import { IMAGES } from '../support/fixtures-manifest.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/layerscope.js');

async function layerscope(args: string[], env: Record<string, string>, cwd: string) {
  // The engine's env only (DOCKER_HOST, DOCKER_CONFIG, PATH with its client): no DOCKER_CONTEXT or CI from ours.
  const r = await execa(process.execPath, [BIN, ...args], { env: { ...env, HOME: cwd }, extendEnv: false, cwd, reject: false, timeout: 300_000 });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** The report without where it was read from (the same bytes, named differently). */
const sansSource = (json: string) => ({ ...JSON.parse(json), source: null });

const names = (Object.keys(engines()).length ? Object.keys(engines()) : ['docker20']) as EngineName[];
for (const name of names) {
  test(`${name}: layerscope REF asks the engine; docker-archive://; no such image; no engine`, { timeout: 600_000 }, async (t) => {
    const e = getEngine(t, name);
    if (!e) return;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-open-ref-e-'));
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const ref = IMAGES.base;

    const byRef = await layerscope(['report', ref, '--format', 'json'], e.env, tmp);
    assert.equal(byRef.code, 0, byRef.stderr);
    assert.match(byRef.stderr, new RegExp(`^layerscope: ${ref}: not a file here; reading image ${ref} from docker \\(docker save\\)$`, 'm'));
    const explicit = await layerscope(['report', `docker:${ref}`, '--format', 'json'], e.env, tmp);
    assert.equal(explicit.code, 0, explicit.stderr);
    assert.equal(byRef.stdout, explicit.stdout, 'layerscope REF and layerscope docker:REF give the same report');
    // The engine's own answer: the image docker inspect names, with its tag and layers.
    const inspected = JSON.parse((await e.docker(['image', 'inspect', ref])).stdout)[0];
    const img = JSON.parse(byRef.stdout).images[0];
    // On the containerd image store the engine's ID is the manifest's digest; ours is always the config's.
    if (name !== 'docker26c') assert.equal(img.id, inspected.Id);
    assert.deepEqual(img.tags, [ref]);
    assert.deepEqual(img.layers.map((l: { diffId: string }) => l.diffId), inspected.RootFS.Layers);

    // --source docker and docker:// name the same image; by ID prefix too (saved by that ID, as typed).
    for (const args of [[ref, '--source', 'docker'], [`docker://${ref}`]]) {
      const r = await layerscope(['report', ...args, '--format', 'json'], e.env, tmp);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(sansSource(r.stdout), sansSource(byRef.stdout));
    }
    const short = String(inspected.Id).slice(7, 19);
    const byId = await layerscope(['report', short, '--format', 'json'], e.env, tmp);
    assert.equal(byId.code, 0, byId.stderr);
    assert.match(byId.stderr, new RegExp(`reading image ${short} from docker`));
    assert.equal(JSON.parse(byId.stdout).images[0].id, img.id);

    // The engine's save file, plainly and as docker-archive:// (relative and absolute).
    await e.docker(['save', '-o', path.join(tmp, 'base.tar'), ref]);
    const file = await layerscope(['report', 'base.tar', '--format', 'json'], e.env, tmp);
    assert.equal(file.code, 0, file.stderr);
    for (const src of ['docker-archive://base.tar', `docker-archive://${path.join(tmp, 'base.tar')}`]) {
      const r = await layerscope(['report', src, '--format', 'json'], e.env, tmp);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'a file: no engine asked, nothing said');
      assert.deepEqual(sansSource(r.stdout.replaceAll(JSON.stringify(path.join(tmp, 'base.tar')), '"base.tar"')), sansSource(file.stdout));
    }
    // The same image through the stream and the file: the same layers and figures.
    assert.deepEqual(JSON.parse(file.stdout).images[0].layers, img.layers);

    // Reachable, no such image: exit 3, pull or save; never a pull of our own.
    const bogus = 'ls-no-such-image:404';
    const missing = await layerscope(['report', bogus], e.env, tmp);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, new RegExp(`${bogus}: no such file or directory; and no local engine has an image ${bogus} \\(docker: reachable, no image ${bogus}`));
    assert.match(missing.stderr, new RegExp(`Pull it first \\(docker pull ${bogus}\\)`));
    const images = (await e.docker(['image', 'ls', '-q', 'ls-no-such-image'])).stdout.trim();
    assert.equal(images, '', 'nothing was pulled');

    // No engine at all (DOCKER_HOST names a socket nobody listens on; CONTAINER_HOST puts the machine's podman in
    // remote mode on one too): exit 3, says so, and how to save instead.
    const gone = await layerscope(['report', ref], { ...e.env, DOCKER_HOST: `unix://${path.join(tmp, 'no-daemon.sock')}`, CONTAINER_HOST: `unix://${path.join(tmp, 'no-podman.sock')}` }, tmp);
    assert.equal(gone.code, 3, gone.stderr);
    assert.match(gone.stderr, new RegExp(`${ref}: no such file or directory; and no local engine is reachable to ask for an image ${ref} \\(docker: .*no-daemon\\.sock`));
    assert.match(gone.stderr, new RegExp(`docker save -o ls-base\\.tar ${ref}, then layerscope ls-base\\.tar`));
  });
}
