/**
 * Red team (attack11): `changes --container` = `docker diff` on the whole-tree drivers (Docker 20.10) for changes
 * the driver suite's container does not make: a dir deleted and made again (an opaque dir in the first overlay
 * driver's upper), a dir replaced by a file, a file replaced by a dir, a fifo, a file whose mtime alone moved,
 * a dir deleted with everything below it.
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
import { changesCommand } from '../../src/cli/commands/analysis.js';
import { runCmd } from '../workflows/helpers.js';

const NAME = 'ls-a11-diff';
const SCRIPT = [
  'rm -rf /data && mkdir /data && echo fresh > /data/new',
  'rm -rf /app && echo now-a-file > /app',
  'rm /etc/passwd && mkdir /etc/passwd && echo in > /etc/passwd/x',
  'mkfifo /fifo',
  'touch -d 2001-01-01 /etc/group',
].join(' && ');

for (const driver of ['vfs', 'overlay', 'btrfs'] as DriverName[]) {
  test(`${driver}: changes --container = docker diff for replaced dirs and files, an opaque dir, a fifo`, { timeout: 900_000 }, async (t) => {
    const src = getEngine(t, 'docker20');
    if (!src) return;
    const eng = await startDriverEngineFor(t, driver);
    if (!eng) return;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ls-a11d-${driver}-`));
    try {
      await loadFrom(src, eng, [IMAGES.bloat]);
      await eng.docker(['run', '--name', NAME, IMAGES.bloat, '/bin/sh', '-c', SCRIPT]);
      const want = (await eng.docker(['diff', NAME])).stdoutBuffer.toString('latin1').split('\n').filter(Boolean).sort();
      const root = path.join(tmp, 'root');
      execFileSync('cp', ['-a', eng.dataRoot, root]);
      await eng.stop();
      const r = await runCmd(changesCommand, [root, '--all', '--format', 'json']);
      assert.equal(r.code, EXIT.ok, r.stderr + r.stdout.slice(0, 2000));
      const doc = JSON.parse(r.stdout);
      const c = doc.containers.find((x: { name: string }) => x.name === NAME);
      assert.ok(c, `${NAME} listed`);
      const got = c.changes.map((x: { kind: string; path: string }) => `${x.kind} ${x.path}`).sort();
      assert.deepEqual(got, want, 'docker diff');
    } finally {
      await eng.stop().catch(() => undefined);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}
