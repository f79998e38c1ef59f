/**
 * ATTACK: problems met while reading a layer never reach `verify`. Its report lists `source.problems` only
 * (src/core/verify/index.ts: `problems: source.problems.filter(...)`), never the problems a layer table carries.
 * A layer holding a member that climbs out (`../../etc/cron.d/x`: the classic path-traversal payload) or a
 * hardlink loop is an error for report/files/ci (exit 4), but `verify` prints "OK: 1 layer(s) ... verified" and
 * exits 0, in text and JSON, with or without the mount check.
 * Claim broken: "every command (... verify ...) reports the problems of what it read, exit 4 on error-severity
 * problems".
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tar } from '../sources/tar/helpers.js';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

const CASES: [string, Buffer, RegExp][] = [
  ['a member that climbs out of the layer', tar([{ name: '../../etc/cron.d/x', body: Buffer.from('evil') }, { name: 'ok', body: Buffer.from('fine') }]), /layer\.path\.unsafe/],
  ['a hardlink loop', tar([{ name: 'a', type: '1', linkname: 'b' }, { name: 'b', type: '1', linkname: 'a' }]), /layer\.hardlink\.loop/],
];

for (const [what, layer, code] of CASES) {
  test(`verify of an archive whose layer holds ${what}: the error is reported, exit 4`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const file = join(dir, 'x.tar');
    writeFileSync(file, legacySave([{ tag: 'x:1', layers: [layer] }]));
    const rep = await runCli(['report', file, '--verify']);
    assert.equal(rep.code, 4, 'report sees the error');
    assert.match(rep.stdout, code);
    const v = await runCli(['verify', file, '--no-mount', '--format', 'json']);
    assertNoCrash(v);
    assert.match(v.stdout, code, `verify does not report it:\n${v.stdout.slice(0, 400)}`);
    assert.equal(v.code, 4);
  });
}
