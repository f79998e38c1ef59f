/**
 * ATTACK (an ordinary container, no tampering): a bind mount of one FILE, `-v /var/lib/docker/containers/<id>/
 * hostconfig.json:/cfg` (any `-v /host/file:/dest` whose source lies under the data root). `layerscope volumes`
 * places it in the evidence and sizes it (`in the evidence at .../hostconfig.json, 2 B`), and the README says
 * `files --bind CONTAINER:DESTINATION` lists a bind source inside the evidence and `extract ... --bind` copies it
 * out. Observed: `files ROOT --bind web:/cfg` prints no row and `error layer.dir.not-a-dir: layer directory is not
 * a directory` (exit 4: a "layer directory" in a command about a bind); `extract ROOT --bind web:/cfg -o DIR`
 * says `/ is not in bind mount web:/cfg` (exit 3), nothing copied.
 *
 * Expected: a file bind lists as one file (its bytes, mode) and extracts as that file, or, if that is out of
 * scope, a clear message that a file bind is not a tree, without "layer directory". Here: the file is listed
 * and copied.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { bindMount, CID, volumesRoot } from './volumes-lib.js';

before(assertBuilt);

test('a bind of a file inside the evidence is listed and extracted', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const root = volumesRoot(dir, [], { '/cfg': bindMount(`/var/lib/docker/containers/${CID}/hostconfig.json`, '/cfg') });
    const v = await runCli(['volumes', root, '--format', 'json']);
    const binds = (JSON.parse(v.stdout) as { binds: { destination: string; evidencePath: string | null }[] }).binds;
    assert.equal(binds[0]?.evidencePath, join(root, 'containers', CID, 'hostconfig.json'), 'the listing places the file in the evidence');

    const f = await runCli(['files', root, '--bind', 'web:/cfg']);
    assert.doesNotMatch(f.stderr, /layer directory/, 'a bind is not a layer');
    assert.match(f.stdout, /hostconfig\.json|\/cfg|^\S+\s+\S+\s+2\s/m, `files lists the bound file:\n${f.stdout}${f.stderr}`);

    const out = join(dir, 'out');
    const x = await runCli(['extract', root, '--bind', 'web:/cfg', '-o', out]);
    assert.equal(x.code, 0, x.stderr);
    const copied = existsSync(out) ? readdirSync(out) : [];
    assert.equal(copied.length, 1, `one file copied, got ${JSON.stringify(copied)}`);
    assert.equal(readFileSync(join(out, copied[0]!), 'utf8'), readFileSync(join(root, 'containers', CID, 'hostconfig.json'), 'utf8'));
  } finally {
    cleanup();
  }
});
