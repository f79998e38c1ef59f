/**
 * ATTACK (--image-root scan): a store moved into a directory whose name holds a newline, or bytes that are not
 * UTF-8, is not found.
 *
 * Observed: `report --image-root DISK` lists the plain store only. The scan (fast-glob, patterns like
 * `**\/*-images/images.json`) never matches a path with a `\n` in it (picomatch's `**` is a regex without the
 * dotall flag): that store vanishes with no word at all. A directory whose name is not UTF-8 is read by fast-glob as
 * a string, the name comes back with U+FFFD, its readdir fails, and all that is said is the INFO "the scan could
 * not read 1 directory (permission or I/O errors)". Exit 0 in both cases. Renaming a directory is all an intruder
 * needs to hide a store (its images and containers) from the examiner.
 * Expected (README "a scan of the whole disk ... a store copied or moved elsewhere ... is found too"; names are
 * bytes of the evidence): both stores are found (names are bytes: walk with lstat/readdir in Buffer form), or at
 * the very least a warning names the directory the scan could not enter and the exit is non-zero.
 * Suggested fix: replace fast-glob in scanSignatures by our own bounded breadth-first walk (readdir with
 * `encoding: 'buffer'` + lstat, never through a symlink, the same ignore list and depth and deadline), matching
 * the signature names per component; Evidence already takes latin1-encoded names.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireRoot } from '../support/engine.js';
import { runCmd } from '../workflows/helpers.js';
import { reportCommand } from '../../src/cli/commands/analysis.js';
import { EXIT } from '../../src/cli/command.js';
import { makeCsStore } from './lib.js';

test('--image-root scan: stores in directories named with a newline or with non-UTF-8 bytes are found', async (t: TestContext) => {
  if (!requireRoot(t)) return;
  const disk = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-names-'));
  try {
    makeCsStore(path.join(disk, 'srv', 'plain', 'storage'), { name: 'localhost/plain:1' });
    makeCsStore(path.join(disk, 'srv', 'new\nline', 'storage'), { name: 'localhost/newline:1' });
    // A directory named by bytes that are not UTF-8 (fs takes a Buffer path as bytes).
    const odd = Buffer.concat([Buffer.from(path.join(disk, 'srv') + '/'), Buffer.from([0x6c, 0x61, 0x74, 0xff, 0x69, 0x6e])]);
    fs.mkdirSync(odd);
    const tmp = path.join(disk, 'srv', 'tmp-latin');
    makeCsStore(path.join(tmp, 'storage'), { name: 'localhost/latin:1' });
    fs.renameSync(path.join(tmp, 'storage'), Buffer.concat([odd, Buffer.from('/storage')]));
    fs.rmdirSync(tmp);

    const r = await runCmd(reportCommand, [`image-root:${disk}`, '--format', 'json']);
    const doc = JSON.parse(r.stdout);
    const tags = (doc.images as { tags: string[] }[]).flatMap((i) => i.tags).sort();
    const said = (doc.problems as { code: string; severity: string; message: string }[]).filter((p) => p.severity !== 'info').map((p) => `${p.code}: ${p.message}`);
    if (tags.length < 3) {
      // Not found: at least a warning must say where, and the exit must not be OK.
      assert.notEqual(r.code, EXIT.ok, `stores missed (${JSON.stringify(tags)}), exit 0, problems ${JSON.stringify(said)}`);
    }
    assert.deepEqual(tags, ['localhost/latin:1', 'localhost/newline:1', 'localhost/plain:1'], `every store on the disk is found; problems: ${JSON.stringify(said)}`);
  } finally {
    fs.rmSync(disk, { recursive: true, force: true });
  }
});
