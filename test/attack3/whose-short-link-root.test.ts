/**
 * ATTACK: `whose ROOT/overlay2/l/<LINK>/base`, no --root: a scanner hit reported through the engine's short
 * layer name (overlay mounts use `l/<26 chars>` names in lowerdir, so scanners and `/proc/PID/mountinfo` give
 * paths like this). ROOT is an overlay2 data root built in code (a copy of the evidence), not /var/lib/docker.
 *
 * Observed: layerscope opens /var/lib/docker instead of ROOT: here, where it does not exist, `whose` fails with
 * "/var/lib/docker: cannot open: no such file or directory", exit 3; on an examiner's workstation that runs
 * Docker it analyses the workstation's own data root and answers that the path is outside it. With
 * `--root ROOT` the same path is attributed (layer 0 of app:1, visible; "overlay2/l/<LINK> is the short name of
 * overlay2/<id>/diff"), so attribution supports the form; only the inference of the root misses it.
 *
 * Expected: `whose --help`: "--root  the Docker data root (default: the part of the first PATH before
 * /overlay2/, else /var/lib/docker)": the part before /overlay2/ is ROOT, so ROOT is opened and the path
 * attributed, exit 0, as with --root.
 *
 * Code at fault: src/cli/commands/whose.ts rootOf: the regex wants `/overlay2/<64 hex>` after the root, so an
 * `overlay2/l/<LINK>` path falls through to /var/lib/docker.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { dataRoot } from '../attack2/roots.js';

before(assertBuilt);

test('whose on an overlay2/l/<LINK>/... path infers the data root it is under', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const r = dataRoot(dir, [{ base: 'x\n' }]);
  const link = readdirSync(join(r.root, 'overlay2/l'))[0]!;
  const hit = join(r.root, 'overlay2/l', link, 'base');

  const withRoot = await runCli(['whose', hit, '--root', r.root, '--format', 'json']);
  assertNoCrash(withRoot);
  assert.equal(withRoot.code, 0, `with --root: exit ${withRoot.code}\n${withRoot.stdout}${withRoot.stderr}`);

  const out = await runCli(['whose', hit, '--format', 'json']);
  assertNoCrash(out);
  assert.equal(out.code, 0, `without --root: exit ${out.code}\n${out.stdout}${out.stderr}`);
  assert.equal(out.stdout, withRoot.stdout, 'the same attribution as with --root');
});
