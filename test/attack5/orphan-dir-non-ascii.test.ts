/**
 * ATTACK: an overlay2 data root (built in code, no engine) holding two directories no layer or container uses:
 * `overlay2/<C3 A9>` (the UTF-8 bytes of "é") with a 10-byte file, and `overlay2/<C3 83 C2 A9>` (the UTF-8
 * bytes of "Ã©") with a 5,000-byte file.
 *
 * Observed: `report ROOT --format json` gives storage.orphanDirs
 *   { path: ".../overlay2/Ã\u0083Â©", bytes: 0 } and { path: ".../overlay2/Ã©", bytes: 5000 },
 * plus a warning evidence.unreadable "cannot size: ENOENT ... lstat '.../overlay2/Ã\u0083Â©'". The "é"
 * directory is reported under another name and with the other directory's 5,000 bytes; the real 10 bytes are
 * nowhere; the second directory is reported as unreadable under a name that does not exist. No pathBase64.
 *
 * Expected: each unreferenced directory named by its exact bytes (README: "In JSON a name that is not valid
 * UTF-8 comes escaped in path and exact in pathBase64"; here the names are valid UTF-8, so path is just the
 * name) and sized from its own content: 10 bytes for "é", 5,000 for "Ã©", no unreadable warning.
 *
 * Code at fault: src/core/sources/docker-root/index.ts readStorage: names come from Evidence.readdir as latin1
 * byte strings, are joined into a host path with ev.path(DRIVER, n) and handed to eachTreeBytes as a JS string,
 * which fs (and HostPaths' Buffer.from(root, 'utf8')) encode as UTF-8: each byte >= 0x80 becomes two bytes.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { dataRoot } from '../attack2/roots.js';

before(assertBuilt);

test('unreferenced overlay2 dirs with non-ASCII names are named and sized by their own bytes', { timeout: 60_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const r = dataRoot(dir, [{ 'etc/hostname': 'box\n' }]);
  const at = (name: number[]) => Buffer.concat([Buffer.from(r.root + '/overlay2/'), Buffer.from(name)]);
  const small = at([0xc3, 0xa9]);
  mkdirSync(small);
  writeFileSync(Buffer.concat([small, Buffer.from('/f')]), 'x'.repeat(10));
  const big = at([0xc3, 0x83, 0xc2, 0xa9]);
  mkdirSync(big);
  writeFileSync(Buffer.concat([big, Buffer.from('/f')]), 'y'.repeat(5000));

  const out = await runCli(['report', r.root, '--format', 'json']);
  assertNoCrash(out);
  const json = JSON.parse(out.stdout) as { storage: { orphanDirs: { path: string; bytes: number }[] }; problems: { code: string; message: string }[] };
  const dirs = Object.fromEntries(json.storage.orphanDirs.map((d) => [d.path.slice(r.root.length + '/overlay2/'.length), d.bytes]));
  const unreadable = json.problems.filter((p) => p.code === 'evidence.unreadable');
  assert.deepEqual(unreadable, [], 'no directory reported unreadable');
  assert.deepEqual(dirs, { 'é': 10, 'Ã©': 5000 }, `orphan dirs as reported: ${JSON.stringify(json.storage.orphanDirs)}`);
});
