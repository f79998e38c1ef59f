/**
 * Red team (attack11): a container on a driver whose changes are computed naively (vfs, btrfs: the RW layer is a
 * whole tree; the first overlay driver: an upper dir that a changed file is copied up into) that rewrites a lower
 * file's bytes and puts its mtime back (`touch -r`, what malware hiding a change does). `docker diff` does not
 * list it (the engine's naive diff neither), but the container's file system holds the new bytes and
 * `docker export` ships them. `export --container` must ship what the container holds, not the image's bytes:
 * otherwise the one view of the bytes a forensic user trusts hides the change.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { getEngine } from '../support/engine.js';
import { type DriverName, loadFrom, startDriverEngineFor } from '../support/driver-engines.js';
import { IMAGES } from '../support/fixtures-manifest.mjs';
import { EXIT } from '../../src/cli/command.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { runCmd } from '../workflows/helpers.js';
import { tarManifest } from '../workflows/engine-answers.js';

const NAME = 'ls-a11-hidden';
const FILE = 'app/payload.txt';
// One byte rewritten in place (same size), then the mtime put back from a reference made before.
const SCRIPT = `touch -r /${FILE} /ref && printf X | dd of=/${FILE} bs=1 count=1 conv=notrunc 2>/dev/null && touch -r /ref /${FILE} && rm /ref`;

for (const driver of ['vfs', 'overlay', 'btrfs'] as DriverName[]) {
  test(`${driver}: export --container ships the bytes the container holds (a lower file rewritten, its mtime put back) = docker export`, { timeout: 900_000 }, async (t) => {
    const src = getEngine(t, 'docker20');
    if (!src) return;
    const eng = await startDriverEngineFor(t, driver);
    if (!eng) return;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ls-a11e-${driver}-`));
    try {
      await loadFrom(src, eng, [IMAGES.bloat]);
      await eng.docker(['run', '--name', NAME, IMAGES.bloat, '/bin/sh', '-c', SCRIPT]);
      const theirs = await tarManifest((await eng.docker(['export', NAME], { timeout: 300_000 })).stdoutBuffer);
      const root = path.join(tmp, 'root');
      execFileSync('cp', ['-a', eng.dataRoot, root]);
      await eng.stop();
      const out = path.join(tmp, 'out.tar');
      const r = await runCmd(exportCommand, [root, '--container', NAME, '-o', out]);
      assert.equal(r.code, EXIT.ok, r.stderr);
      const ours = await tarManifest(fs.readFileSync(out));
      const w = theirs.get(FILE);
      assert.ok(w, `docker export has ${FILE}`);
      assert.deepEqual(ours.get(FILE), w, `${FILE}: ours vs docker export (the container's bytes)`);
    } finally {
      await eng.stop().catch(() => undefined);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}
