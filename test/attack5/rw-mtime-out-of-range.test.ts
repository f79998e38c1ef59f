/**
 * ATTACK: a container's RW layer (overlay2/<mount-id>/diff) holding one 5-byte file `/tmp/late` whose mtime is
 * 9,000,000,000,000 s after the epoch (`touch -d @9000000000000`). ext4 clamps such a time, but tmpfs and btrfs
 * keep any 64-bit second count, and an examiner's copy of a data root can sit on either (it does here: the
 * data root, built in code, is on a tmpfs mounted for the test; needs root, as mount does).
 *
 * Observed: `layerscope timeline ROOT --container web` (the default table format) dies with
 * "layerscope timeline: internal error: RangeError: Invalid time value ... at iso (report/timeline.js)", exit 1
 * (the code for "a check failed"), and prints no timeline at all; `--format body` and `--format json` of the
 * same container print the entry (mtime 9000000000000) and exit 0. The TUI dies the same way when the
 * container is opened: "layerscope tui: internal error: RangeError: Invalid time value ... at when
 * (tui/rows.js) at containerChangeRow", exit 1.
 *
 * Expected: a time JavaScript's Date cannot hold is evidence like any other: the table and the TUI show it
 * (as a number of seconds, or flagged), never an internal error; every timeline format agrees and exits 0.
 *
 * Code at fault: src/report/timeline.ts iso() and src/tui/rows.ts when(): `new Date(s * 1000).toISOString()`
 * throws RangeError beyond +-8.64e15 ms (the verify code already guards its own, tarsplit.ts: isNaN check).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { dataRoot } from '../attack2/roots.js';
import { openSource } from '../../src/core/sources/open.js';
import { analyzeContainer } from '../../src/core/analysis/container.js';
import { containerChangeRow } from '../../src/tui/rows.js';

before(assertBuilt);

const T = 9_000_000_000_000;

function build(dir: string): string {
  const r = dataRoot(dir, [{ 'etc/hostname': 'box\n' }]);
  const cid = 'c'.repeat(64);
  const mount = 'd'.repeat(64);
  const chain = readdirSync(join(r.root, 'image/overlay2/layerdb/sha256'))[0]!;
  mkdirSync(join(r.root, 'containers', cid), { recursive: true });
  writeFileSync(
    join(r.root, 'containers', cid, 'config.v2.json'),
    JSON.stringify({ ID: cid, Name: '/web', Image: 'sha256:' + r.imageId, Created: '2024-01-01T00:00:00Z', Driver: 'overlay2', State: { StartedAt: '2024-01-01T00:00:00Z' }, Config: { Image: 'app:1' } }),
  );
  // The engine writes hostconfig.json with config.v2.json (one without the other is an error of its own).
  writeFileSync(join(r.root, 'containers', cid, 'hostconfig.json'), JSON.stringify({ NetworkMode: 'none' }));
  const m = join(r.root, 'image/overlay2/layerdb/mounts', cid);
  mkdirSync(m, { recursive: true });
  writeFileSync(join(m, 'mount-id'), mount);
  writeFileSync(join(m, 'init-id'), mount + '-init');
  writeFileSync(join(m, 'parent'), 'sha256:' + chain);
  mkdirSync(join(r.root, 'overlay2', mount, 'diff/tmp'), { recursive: true });
  writeFileSync(join(r.root, 'overlay2', mount, 'diff/tmp/late'), 'hello');
  mkdirSync(join(r.root, 'overlay2', mount + '-init', 'diff/etc'), { recursive: true });
  writeFileSync(join(r.root, 'overlay2', mount + '-init', 'diff/etc/hosts'), '');
  utimesSync(join(r.root, 'overlay2', mount, 'diff/tmp/late'), T, T);
  return r.root;
}

test('an RW-layer mtime beyond the range of Date: timeline table and the TUI container view do not crash', { timeout: 60_000, skip: process.getuid?.() !== 0 ? 'mounting a tmpfs needs root' : false }, async (t) => {
  const { dir, cleanup } = tempDir();
  const mnt = join(dir, 'tmpfs');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
  t.after(() => {
    execFileSync('umount', [mnt]);
    cleanup();
  });
  const root = build(mnt);

  const json = await runCli(['timeline', root, '--container', 'web', '--format', 'json']);
  assertNoCrash(json);
  assert.equal(json.code, 0, `timeline --format json: exit ${json.code}\n${json.stderr}`);
  assert.match(json.stdout, /tmp\/late/, 'the JSON timeline lists the file');

  const table = await runCli(['timeline', root, '--container', 'web']);
  assertNoCrash(table);
  assert.equal(table.code, 0, `timeline (table): exit ${table.code}\n${table.stderr}`);
  assert.match(table.stdout, /\/tmp\/late/, 'the table lists the file, as JSON does');

  const source = await openSource(root);
  t.after(() => source.close());
  const ca = await analyzeContainer(source, source.containers[0]!);
  const rows = ca.changes.map((_, i) => containerChangeRow(ca, i, false).text);
  assert.ok(rows.some((r) => r.includes('/tmp/late')), `the TUI's container rows list the file: ${rows.join(' | ')}`);
});
