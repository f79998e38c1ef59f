/**
 * ATTACK: layer tars that the engine extracts one way and layerscope lists another way. The engine (moby's
 * pkg/archive, containerd) reads layers with Go's archive/tar; layerscope's header parser
 * (src/core/sources/tar/header.ts, HeaderAssembler) departs from it in three places, each enough to hide a file
 * the engine puts into the image (here /etc/cron.d/evil) from `files`, `report`, `changes`, `extract` and
 * `verify` (which hashes the bytes: the DiffID matches, so verify says OK):
 *
 *  A. a PAX *global* header ('g'): layerscope applies its records (path, size, linkpath...) to the members that
 *     follow; Go returns it as an entry of its own and applies nothing, moby ignores it ("PAX Global Extended
 *     Headers found and ignored").
 *  B. a member with typeflag NUL and a name ending in '/': Go makes it a directory (TypeRegA + trailing slash ->
 *     TypeDir, "Legacy archives use trailing slash for directories") with no body, so the bytes after it are the
 *     next headers; layerscope lists a regular file and skips `size` bytes as its body.
 *  C. a member with both a GNU long name ('L') and a PAX 'path': Go takes the GNU name (applied after the PAX
 *     records in reader.go next()); layerscope takes the PAX path.
 *
 * Confirmed with Docker 26.1.5 (`docker load` of each archive, then `docker export` of a created container):
 * /etc/cron.d/evil is in the container's filesystem in all three cases. On a data root holding these images
 * (loaded by the engine itself), `layerscope verify --image tN:1` reports the untouched layers as tampered
 * (integrity/missing /etc/motd, integrity/type /var/cache), because the same parser decodes tar-split's headers.
 *
 * Claim broken: the analysis of a layer is the layer the engine runs (tampering/hiding passes silently).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { verifyLayerIntegrity } from '../../src/core/verify/integrity/index.js';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { DIVERGENT, divergentArchive } from './crafted.js';

before(assertBuilt);

for (const [tag, name, layer] of DIVERGENT) {
  test(`the engine extracts /etc/cron.d/evil; layerscope must list it (${name})`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const file = join(dir, 'img.tar');
    writeFileSync(file, divergentArchive(tag, layer));
    const r = await runCli(['files', file, '--verify', '--format', 'json']);
    assertNoCrash(r);
    assert.match(r.stdout, /"\/etc\/cron\.d\/evil"/, `files --verify lists:\n${r.stdout}\n${r.stderr}`);
  });
}

/**
 * The same three layers as the engine keeps them: fixtures/engine-layers.tar holds, for each, the
 * tar-split.json.gz and the diff dir Docker 26.1.5 (overlay2) wrote when it loaded the archives above
 * (`docker load`, nothing touched afterwards; made with test/attack/engine-confirm.sh's engine, copied out of
 * image/overlay2/layerdb/sha256/<chainID>/ and overlay2/<cache-id>/diff), plus `ctl`, a plain layer of the same
 * engine. `ctl` verifies; t1..t3 are reported as tampered (t3 even with a computed DiffID that differs), because
 * the integrity check decodes tar-split's headers with the same parser (src/core/verify/integrity/tarsplit.ts).
 */
test('integrity of untouched engine-made layers holding these members: no finding', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  execFileSync('tar', ['-x', '-p', '--numeric-owner', '-f', join(import.meta.dirname, 'fixtures/engine-layers.tar'), '-C', dir]);
  const result: Record<string, string[]> = {};
  for (const n of ['ctl', 't1', 't2', 't3']) {
    const d = join(dir, n);
    const r = await verifyLayerIntegrity({ tarSplitPath: join(d, 'tar-split.json.gz'), diffDir: join(d, 'diff'), diffId: readFileSync(join(d, 'diffid'), 'utf8') });
    result[n] = [...(r.ok ? [] : ['not ok']), ...r.findings.map((f) => `${f.kind} ${f.path}`)];
  }
  assert.deepEqual(result, { ctl: [], t1: [], t2: [], t3: [] });
});
