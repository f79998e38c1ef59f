/**
 * ATTACK (--image-root, rootless id maps): the disk's own etc/subuid is a symlink (`-> /etc/shadow`), or absent.
 *
 * Observed: rootlessIdMap() walks up from the store looking for the nearest `etc/subuid` it can read, with no
 * bound: an etc/subuid it refuses (a symlink, a file past 4 MiB, an unreadable one) is taken as "not here", and the
 * walk goes on ABOVE the image root, to the analyst's own machine. `report --image-root DISK` of a rootless podman
 * store then maps every owner by the analyst's /etc/subuid (here a decoy `etc/subuid` in the image root's parent)
 * and says so as an INFO, exit 0; the disk's symlinked etc/subuid is never mentioned.
 * Expected (README: "under --image-root that etc/ IS evidence"; "never follow a symlink ... bad input gets a
 * problem naming the file"): the ranges come from the disk or from nowhere. A symlinked etc/subuid is a problem
 * naming it, and nothing outside the image root is read for the mapping.
 * Suggested fix: OpenOptions carries the image root (openImageRoot passes it) and rootlessIdMap stops there; an
 * etc/subuid that exists but cannot be read as a regular file is a warning naming it, and the walk stops at it.
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

interface P { code: string; message: string; path: string | null; severity: string }

function setup(variant: 'symlink' | 'absent'): { top: string; disk: string } {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-subuid-'));
  // The analyst's side (outside the image root): a decoy etc/ that must never be read.
  fs.mkdirSync(path.join(top, 'etc'));
  fs.writeFileSync(path.join(top, 'etc', 'subuid'), 'alice:700000:65536\n');
  fs.writeFileSync(path.join(top, 'etc', 'subgid'), 'alice:700000:65536\n');
  fs.writeFileSync(path.join(top, 'etc', 'passwd'), 'alice:x:1000:1000::/home/alice:/bin/sh\n');
  const disk = path.join(top, 'disk');
  fs.mkdirSync(path.join(disk, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(disk, 'etc', 'passwd'), 'alice:x:1000:1000::/home/alice:/bin/sh\n');
  if (variant === 'symlink') fs.symlinkSync('/etc/shadow', path.join(disk, 'etc', 'subuid'));
  makeCsStore(path.join(disk, 'home', 'alice', '.local', 'share', 'containers', 'storage'), { uid: 1000, gid: 1000 });
  fs.chownSync(path.join(disk, 'home', 'alice'), 1000, 1000);
  return { top, disk };
}

for (const variant of ['symlink', 'absent'] as const) {
  test(`--image-root: a rootless store's id map is never read from outside the image root (disk's etc/subuid ${variant})`, async (t: TestContext) => {
    if (!requireRoot(t)) return;
    const { top, disk } = setup(variant);
    try {
      const r = await runCmd(reportCommand, [`image-root:${disk}`, '--format', 'json']);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.images.length, 1, 'the store is read');
      const problems = doc.problems as P[];
      const outside = problems.filter((p) => p.message.includes(path.join(top, 'etc')));
      assert.deepEqual(outside.map((p) => `${p.code}: ${p.message}`), [], 'no id map read from the analyst side of the image root');
      if (variant === 'symlink') {
        const named = problems.find((p) => p.path === path.join(disk, 'etc', 'subuid') && p.severity !== 'info');
        assert.ok(named, `a problem naming the symlinked etc/subuid; got ${JSON.stringify(problems.map((p) => `${p.code} ${p.path}`))}`);
        assert.notEqual(r.code, EXIT.ok, 'not exit 0');
      }
    } finally {
      fs.rmSync(top, { recursive: true, force: true });
    }
  });
}
