/**
 * ATTACK: `layerscope mount SOURCE /run/layerscope/mounts` (the state directory: empty when no mount is
 * recorded, so it passes the "empty directory" check).
 *
 * Observed (CLI, by hand): exit 70, "internal error: Error: EROFS: read-only file system, open
 * '/run/layerscope/mounts/<id>.json.<pid>.tmp'" with a stack trace: the overlay is mounted over the state
 * directory, then the run's own record cannot be written (the run is rolled back).
 *
 * Expected: refused before anything is mounted, as an output refusal (OutputError, exit 2, like a DIR inside the
 * evidence): the mount point may not be, or hold, layerscope's own state directory. Exit 70 is documented as "a
 * bug of ours".
 *
 * Code at fault: src/core/verify/mount/persistent.ts checkMountPoint() does not check the state directory.
 *
 * (Shown through the API with a private state dir, so that the machine's /run/layerscope/mounts, which other
 * test runs may be using, is never covered.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireRoot } from '../support/engine.js';
import { openSource } from '../../src/core/sources/open.js';
import { OutputError } from '../../src/core/output/index.js';
import { imageStacks, mountStacks } from '../../src/core/verify/mount/index.js';
import { DEMO, forceUnmountUnder, rawMountsUnder } from './lib.js';

let work = '';
after(async () => {
  if (!work) return;
  await forceUnmountUnder(work);
  fs.rmSync(work, { recursive: true, force: true });
});

test("mounting over layerscope's own state directory is refused before anything is mounted", { timeout: 120_000 }, async (t) => {
  if (!requireRoot(t)) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a8-state-'));
  const tmpDir = fs.mkdtempSync(path.join(work, 'tmp-'));
  const stateDir = path.join(work, 'state');
  fs.mkdirSync(stateDir, { mode: 0o700 });
  const src = await openSource(DEMO);
  try {
    const stacks = imageStacks(src.images[0]!, true);
    await assert.rejects(
      mountStacks(src, [{ spec: stacks[stacks.length - 1]!, at: stateDir }], { tmpDir, stateDir }),
      (err: Error) => {
        assert.ok(err instanceof OutputError, `not refused as an output (the CLI makes this exit 70): ${err.name}: ${err.message}`);
        return true;
      },
    );
  } finally {
    await src.close();
  }
  assert.deepEqual(rawMountsUnder(stateDir), []);
  assert.deepEqual(fs.readdirSync(tmpDir), [], 'a workspace was left');
});
