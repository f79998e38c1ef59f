/**
 * Sharing, against real engines: for every fixture image and container of every source kind (the classic data
 * root of Docker 20.10 and 26, the containerd store of Docker 26, and multi-image `docker save` archives of
 * each), stacking on the source's shared chain tree gives exactly what stacking each alone gives; and each
 * layer directory is read once (walk jobs counted), whatever number of images use it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getEngine, type EngineName } from '../support/engine.js';
import { IMAGES } from '../support/fixtures-manifest.mjs';
import { openSource } from '../../src/core/sources/open.js';
import { walkPool } from '../../src/core/sources/walk/pool.js';
import { modelOf } from '../../src/core/analysis/model.js';
import { assertSharingChangesNothing } from '../support/sharing.js';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-sharing-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

for (const name of ['docker20', 'docker26', 'docker26c'] as EngineName[]) {
  test(`${name}: data root: shared stacking = each image and container alone; every layer dir read once`, async (t) => {
    const e = getEngine(t, name);
    if (!e) return;
    const source = await openSource(e.dataRoot);
    try {
      const lists = walkPool().stats.list;
      const r = await assertSharingChangesNothing(source, `${name} root`);
      assert.ok(r.images >= 3 && r.containers >= 3, `${r.images} images, ${r.containers} containers`);
      // The fixture images share ls-base:1's layer (and the containers their image's layers).
      assert.ok(r.applies < r.layersInAll, `${r.applies} applies for ${r.layersInAll} layers`);
      assert.equal(r.applies, modelOf(source).store.nodes.length, 'each chain node applied once');
      // Layer dirs: one walk each (snapshot dirs of the containerd store, diff dirs of overlay2).
      const dirs = new Set<string>();
      for (const img of source.images) for (const l of img.layers) if (l.location && !l.location.includes('/blobs/')) dirs.add(l.location);
      for (const c of source.containers) for (const d of [c.rwDir, c.initDir]) if (d) dirs.add(d);
      const walked = walkPool().stats.list - lists;
      assert.ok(walked <= dirs.size, `${walked} layer dir walks for ${dirs.size} distinct dirs`);
    } finally {
      await source.close();
    }
  });

  test(`${name}: docker save of every fixture image in one archive: shared stacking = each image alone`, async (t) => {
    const e = getEngine(t, name);
    if (!e) return;
    const file = path.join(tmp, `${name}.tar`);
    await e.docker(['save', '-o', file, IMAGES.base, IMAGES.bloat, IMAGES.deep], { timeout: 300_000 });
    const source = await openSource(file);
    try {
      const r = await assertSharingChangesNothing(source, `${name} save`);
      assert.equal(r.images, 3);
      assert.ok(r.applies < r.layersInAll, `${r.applies} applies for ${r.layersInAll} layers`);
    } finally {
      await source.close();
    }
  });
}
