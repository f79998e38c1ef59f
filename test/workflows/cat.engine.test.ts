/**
 * `layerscope cat` against real engines: every regular file of ls-bloat:1, at every layer where it is visible
 * (versions that later layers deleted or overwrote included), gives the bytes of the layer tar `docker save`
 * wrote for the layer that holds it; `--container` gives the bytes of `docker export`; `--hex` is `hexdump -C`.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { getEngine } from '../support/engine.js';
import { IMAGES, CONTAINERS, BLOAT } from '../support/fixtures-manifest.mjs';
import { openSource } from '../../src/core/sources/open.js';
import { analyzeImage } from '../../src/core/analysis/analyze.js';
import { analyzeContainer, containerStackAnalysis } from '../../src/core/analysis/container.js';
import { eachMerged } from '../../src/core/analysis/views.js';
import { contentReader } from '../../src/core/export/content.js';
import { catTarget } from '../../src/core/export/cat.js';
import { EXIT } from '../../src/cli/command.js';
import { catCommand } from '../../src/cli/commands/cat.js';
import { displayPath } from '../../src/core/model/path.js';
import { runCmd } from './helpers.js';
import { savedLayers, tarManifest } from './engine-answers.js';

async function sha256(body: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of body) h.update(c);
  return h.digest('hex');
}

for (const which of ['docker20', 'docker26', 'docker26c'] as const) {
  test(`cat against a ${which} data root`, { timeout: 600_000 }, async (t: TestContext) => {
    const e = getEngine(t, which);
    if (!e) return;
    const layers = await savedLayers(e, IMAGES.bloat);
    const source = await openSource(e.dataRoot);
    try {
      const image = source.images.find((i) => i.tags.includes(IMAGES.bloat))!;
      const a = await analyzeImage(source, image);
      const reader = contentReader(source, image)!;
      assert.equal(layers.length, image.layers.length);

      await t.test('every file at every layer is the bytes of the save tar of the layer that holds it', async () => {
        let checked = 0;
        let older = 0;
        for (let n = 0; n < image.layers.length; n++) {
          for (const row of eachMerged(a.view, n)) {
            if (row.attrs.type !== 'file' && row.attrs.type !== 'hardlink') continue;
            const at = catTarget(a, row.path, n);
            // The save tar of the layer the version came from has the path, with these bytes.
            const item = layers[at.layer]!.get(row.path);
            assert.ok(item, `${displayPath(row.path)}: in layer ${at.layer}'s tar`);
            assert.equal(await sha256(reader.read(image, at.layer, at.storedAt, at.attrs.size)), item.sha256, `/${displayPath(row.path)} at layer ${n} (from layer ${at.layer})`);
            checked++;
            if (a.view.until(a.view.versionAt(a.view.lookup(row.path), n)) !== Infinity) older++;
          }
        }
        assert.ok(checked > 100, `${checked} files checked`);
        assert.ok(older > 0, `${older} of them are versions a later layer deleted or overwrote`);
      });

      await t.test('the CLI: a deleted file at the layer before its deletion; --hex is hexdump -C; refusals', async () => {
        const big = BLOAT.bigFile;
        const r = await runCmd(catCommand, [e.dataRoot, '--image', IMAGES.bloat, '--layer', String(big.deletedIn - 1), '/' + big.path]);
        assert.equal(r.code, EXIT.ok, r.stderr);
        assert.equal(r.stdoutBuffer.length, big.size);
        assert.equal(createHash('sha256').update(r.stdoutBuffer).digest('hex'), layers[big.addedIn]!.get(big.path)!.sha256);
        assert.match(r.stderr, new RegExp(`/${big.path}: ${big.size} bytes, from layer ${big.addedIn} of image ${IMAGES.bloat}`));
        const gone = await runCmd(catCommand, [e.dataRoot, '--image', IMAGES.bloat, '/' + big.path]);
        assert.equal(gone.code, EXIT.sourceError);
        assert.match(gone.stderr, new RegExp(`not in the tree at layer ${image.layers.length - 1}: .*layer ${big.addedIn} wrote the last version before it`));
        const hex = await runCmd(catCommand, [e.dataRoot, '--image', IMAGES.bloat, '--layer', '2', '--hex', '/bin/busybox']);
        const raw = await runCmd(catCommand, [e.dataRoot, '--image', IMAGES.bloat, '--layer', '2', '/bin/busybox']);
        const want = spawnSync('hexdump', ['-C'], { input: raw.stdoutBuffer, maxBuffer: 1 << 28 });
        assert.equal(want.status, 0, 'hexdump -C (bsdextrautils) runs');
        assert.equal(hex.stdout, want.stdout.toString('latin1'), '--hex is hexdump -C, byte for byte');
        assert.equal((await runCmd(catCommand, [e.dataRoot, '--image', IMAGES.bloat, '/data'])).code, EXIT.sourceError, 'a directory is refused');
      });

      await t.test('--container: every file of the container is the bytes of docker export', async () => {
        for (const name of Object.values(CONTAINERS)) {
          const exported = await tarManifest((await e.docker(['export', name], { timeout: 300_000 })).stdoutBuffer);
          const ca = await analyzeContainer(source, source.containers.find((c) => c.name === name)!);
          const stack = containerStackAnalysis(ca);
          const creader = contentReader(source, stack.image)!;
          assert.ok(creader, `${name}: its layers can be read`);
          // The init layer's placeholders are the engine's own mounts in docker export (its /etc/hosts...).
          const init = stack.layers.length - (ca.image?.layers.length ?? 0) === 2 ? stack.view.table(stack.layers.length - 2) : null;
          const placeholders = new Set<string>();
          if (init) for (const x of init.each()) placeholders.add(x.path);
          let checked = 0;
          let own = 0;
          for (const row of eachMerged(stack.view)) {
            if ((row.attrs.type !== 'file' && row.attrs.type !== 'hardlink') || placeholders.has(row.path)) continue;
            const at = catTarget(stack, row.path, stack.layers.length - 1);
            const item = exported.get(row.path);
            assert.ok(item, `${name}: /${displayPath(row.path)} is in docker export`);
            assert.equal(await sha256(creader.read(stack.image, at.layer, at.storedAt, at.attrs.size)), item.sha256, `${name}: /${displayPath(row.path)}`);
            checked++;
            if (at.layer === stack.layers.length - 1) own++;
          }
          assert.ok(checked > 10, `${name}: ${checked} files`);
          if (name !== CONTAINERS.created) assert.ok(own > 0, `${name}: files its RW layer wrote were read`);
        }
        const r = await runCmd(catCommand, [e.dataRoot, '--container', CONTAINERS.running, '/etc/passwd']);
        assert.equal(r.code, EXIT.ok, r.stderr);
        assert.equal(createHash('sha256').update(r.stdoutBuffer).digest('hex'), (await tarManifest((await e.docker(['export', CONTAINERS.running])).stdoutBuffer)).get('etc/passwd')!.sha256);
      });
    } finally {
      await source.close();
    }
  });
}
