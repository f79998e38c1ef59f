/**
 * ATTACK (containers/storage through fuse-overlayfs): a `.wh.` name in a layer dir that is a DIRECTORY, and
 * `.wh..` / `.wh...` files.
 *
 * Observed (fuseLayer, src/core/sources/fuse-overlayfs.ts): the `.wh.dirmarker` directory entry is dropped
 * silently but its children are kept: `files` lists `/.wh.dirmarker/child/secret`, `export --container` writes
 * it, and no problem is raised (exit 0). fuse-overlayfs hides every `.wh.` name (it never shows one in a
 * directory listing, nor anything under it), so `podman export` of the same container does not have it: our view
 * disagrees with the engine's, silently. And `.wh...` / `sub/.wh..` become whiteouts of `/..` and `/sub/.`
 * (`changes` prints `deleted /..`), with no problem, where whiteout-names.ts (the aufs reading) calls such names
 * invalid.
 * Expected: the subtree under a `.wh.` directory is not part of the container's view (as fuse-overlayfs shows it)
 * and a problem names the directory (README: aufs says "a `.wh.` name that is not a regular file"); `.wh.`, `.wh..`,
 * `.wh...` are problems, never whiteouts of `.`/`..`.
 * Suggested fix: in fuseLayer, read names with whiteoutName() (invalid -> problem), and for a `.wh.` entry that is
 * not a regular file drop it AND everything below it, with a warning naming it (fuseLayer needs the layer dir to
 * name the file; LayerTable problems carry paths).
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { PODMAN, podmanStore } from '../support/podman.js';
import { runCmd } from '../workflows/helpers.js';
import { openSource } from '../../src/core/sources/open.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { changesCommand } from '../../src/cli/commands/analysis.js';

const list = async (tar: string) => (await execa('tar', ['-tf', tar])).stdout.split('\n').map((l) => l.replace(/^\.?\//, '').replace(/\/$/, ''));

test('fuse-overlayfs store: a `.wh.` directory in a layer and `.wh..` names are read as fuse-overlayfs reads them', { timeout: 300_000 }, async (t: TestContext) => {
  const store = await podmanStore(t, 'fuse');
  if (!store) return;
  try {
    const s = await openSource(store.storage);
    const app = s.images.find((i) => i.tags.includes(PODMAN.app))!;
    await s.close();
    const diff = path.join(store.storage, 'overlay', app.layers[app.layers.length - 1]!.cacheId!, 'diff');
    fs.mkdirSync(path.join(diff, '.wh.dirmarker', 'child'), { recursive: true });
    fs.writeFileSync(path.join(diff, '.wh.dirmarker', 'child', 'secret'), 'hidden-bytes');
    fs.writeFileSync(path.join(diff, '.wh...'), '');
    const work = store.scratch();
    const theirs = path.join(work, 'theirs.tar');
    const pe = await store.pm(['export', '-o', theirs, PODMAN.exited]);
    assert.equal(pe.code, 0, pe.stderr);
    const engine = await list(theirs);
    const ourDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-fwh-'));
    const ours = path.join(ourDir, 'ours.tar');
    const r = await runCmd(exportCommand, [store.storage, '--container', PODMAN.exited, '-o', ours]);
    const mine = await list(ours);
    fs.rmSync(ourDir, { recursive: true, force: true });
    const inEngine = engine.filter((p) => p.includes('.wh.dirmarker'));
    const inOurs = mine.filter((p) => p.includes('.wh.dirmarker'));
    assert.deepEqual(inOurs, inEngine, `the .wh. directory's subtree as podman export shows it (ours exit ${r.code})`);
    const ch = await runCmd(changesCommand, [store.storage, '--image', PODMAN.app, '--format', 'json']);
    assert.doesNotMatch(ch.stdout, /"\/\.\."/, 'no whiteout of /..');
    assert.match(ch.stdout + ch.stderr, /\.wh\.\.\./, 'a problem names the .wh... file');
    assert.match(ch.stdout + ch.stderr, /\.wh\.dirmarker/, 'a problem names the .wh. directory');
  } finally {
    await store.remove();
  }
});
