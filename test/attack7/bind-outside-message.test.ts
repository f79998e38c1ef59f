/**
 * Cosmetic: `files`/`extract ROOT --bind web:/outside` for a bind of /tmp (outside the evidence) says
 * `bind source "/tmp" is outside the evidence: not read (outside the evidence: not read)`: the reason repeats
 * the sentence it explains (src/core/sources/volumes.ts locate() returns the whole sentence as the reason, and
 * readBindTree wraps it again). Expected: the sentence once.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { bindMount, volumesRoot } from './volumes-lib.js';

before(assertBuilt);

test('a bind outside the evidence is said once', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const root = volumesRoot(dir, [], { '/outside': bindMount('/tmp', '/outside') });
    const r = await runCli(['files', root, '--bind', 'web:/outside']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /outside the evidence/);
    assert.equal(r.stderr.match(/outside the evidence/g)!.length, 1, r.stderr);
  } finally {
    cleanup();
  }
});
