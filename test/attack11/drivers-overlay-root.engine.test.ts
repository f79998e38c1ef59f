/**
 * Red team (attack11): the first overlay driver's Get (moby daemon/graphdriver/overlay) returns a layer's `root`
 * whenever the layer dir has one, before looking at `upper` and `lower-id`: a `root/` planted in a container's RW
 * layer dir (`overlay/<mount-id>/root`) is the whole file system the engine shows that container (proven here:
 * `docker export` of it lists the planted file). layerscope reads the container as its `upper` over the image's
 * top tree and says nothing: the container's real file system is not what is reported, and the plant is silent.
 * Wanted: a problem naming `overlay/<mount-id>/root` (or the container read from it).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { getEngine } from '../support/engine.js';
import { loadFrom, startDriverEngineFor } from '../support/driver-engines.js';
import { IMAGES } from '../support/fixtures-manifest.mjs';
import { openSource } from '../../src/core/sources/open.js';
import { tarManifest } from '../workflows/engine-answers.js';

const NAME = 'ls-a11-root';

test("overlay driver: a root/ planted in a container's RW layer dir (what the engine then shows the container) is not silent", { timeout: 900_000 }, async (t) => {
  const src = getEngine(t, 'docker20');
  if (!src) return;
  const eng = await startDriverEngineFor(t, 'overlay');
  if (!eng) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a11-root-'));
  try {
    await loadFrom(src, eng, [IMAGES.bloat]);
    const id = (await eng.docker(['create', '--name', NAME, IMAGES.bloat])).stdout.trim();
    const mountId = fs.readFileSync(path.join(eng.dataRoot, 'image', 'overlay', 'layerdb', 'mounts', id, 'mount-id'), 'utf8').trim();
    // The plant, in the engine's own store (ours to spoil), then proven with the engine itself.
    const planted = path.join(eng.dataRoot, 'overlay', mountId, 'root');
    fs.mkdirSync(planted);
    fs.writeFileSync(path.join(planted, 'planted.txt'), 'the engine shows this\n');
    const exported = await tarManifest((await eng.docker(['export', NAME], { timeout: 300_000 })).stdoutBuffer);
    assert.ok(exported.has('planted.txt'), `the engine shows the container its planted root (docker export): ${[...exported.keys()].slice(0, 20).join(', ')}`);
    const root = path.join(tmp, 'root');
    execFileSync('cp', ['-a', eng.dataRoot, root]);
    await eng.stop();

    const s = await openSource(root);
    try {
      const c = s.containers.find((x) => x.name === NAME)!;
      assert.ok(c, 'the container is read');
      const rootPath = path.join(root, 'overlay', mountId, 'root');
      const said = s.problems.some((p) => p.path === rootPath && p.severity !== 'info');
      const rw = await s.readContainerLayer(c, 'rw');
      const shows = [...rw.each()].some((e) => e.path === 'planted.txt');
      assert.ok(said || shows, `neither a problem naming ${rootPath} nor the container read from it: ${JSON.stringify(s.problems).slice(0, 1500)}`);
    } finally {
      await s.close();
    }
  } finally {
    await eng.stop().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
