/**
 * ATTACK (--image-root, rootless id maps): the disk's etc/subuid gives the store's owner 150,000 one-id ranges
 * (a 3 MB file, under the 4 MiB read bound).
 *
 * Observed: every range becomes part of the id map (rootless.ts rangesOf has no count bound) and each file's owner
 * is mapped by a scan of all of them: `files` of a 20,000-file layer of that user's rootless store runs for
 * minutes, nothing said.
 * Expected: newuidmap writes the ranges into /proc/PID/uid_map, which takes at most 340 (user_namespaces(7)): with
 * more the engine could not have started. More is a warning naming etc/subuid and no map is used; time stays
 * bounded.
 * Fix (made, src/core/sources/rootless.ts): more than 339 subordinate ranges (340 with the owner's own) is a
 * `rootless.id-map.too-many` warning naming the file, and the owners are shown as stored.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { requireRoot } from '../support/engine.js';
import { makeCsStore } from './lib.js';

const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist/cli/main.js');

test('--image-root: an etc/subuid of 150,000 ranges for the store owner is refused, listing stays fast', { timeout: 120_000 }, async (t: TestContext) => {
  assertBuilt();
  if (!requireRoot(t)) return;
  const disk = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-subuidn-'));
  try {
    fs.mkdirSync(path.join(disk, 'etc'));
    const lines = Array.from({ length: 150_000 }, (_, i) => `alice:${1_000_000 + i * 2}:1`);
    fs.writeFileSync(path.join(disk, 'etc', 'subuid'), lines.join('\n') + '\n');
    fs.writeFileSync(path.join(disk, 'etc', 'subgid'), lines.join('\n') + '\n');
    fs.writeFileSync(path.join(disk, 'etc', 'passwd'), 'alice:x:1000:1000::/home/alice:/bin/sh\n');
    const files: Record<string, string> = {};
    for (let i = 0; i < 20_000; i++) files[`f${i}`] = '';
    const store = path.join(disk, 'home', 'alice', '.local', 'share', 'containers', 'storage');
    makeCsStore(store, { uid: 1000, gid: 1000, files });
    // Owned by root on the host (host id 0 is in no range of alice's: every lookup scans them all).
    for (const f of Object.keys(files)) fs.lchownSync(path.join(store, 'overlay', fs.readdirSync(path.join(store, 'overlay')).find((d) => d !== 'l')!, 'diff', f), 0, 0);
    const t0 = Date.now();
    const r = await execa('node', [CLI, 'files', '--image-root', disk, '--image', 'localhost/x:1', '--format', 'json'], { reject: false, timeout: 15_000, maxBuffer: 1 << 28 });
    const ms = Date.now() - t0;
    assert.ok(!r.timedOut && ms < 15_000, `files finished in time (22 s before the fix) (${ms} ms)`);
    const doc = JSON.parse(r.stdout);
    const p = doc.problems.find((x: { code: string }) => x.code === 'rootless.id-map.too-many');
    assert.ok(p, `a rootless.id-map.too-many problem: ${JSON.stringify(doc.problems.map((x: { code: string }) => x.code))}`);
    assert.equal(p.path, path.join(disk, 'etc', 'subuid'));
  } finally {
    fs.rmSync(disk, { recursive: true, force: true });
  }
});
