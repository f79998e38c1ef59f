/**
 * ATTACK: layers (docker save archives, ~10 KB) holding /etc, /etc/hostname, then one member whose numbers Go's
 * archive/tar (the engine's reader) accepts and layerscope does not, then /etc/cron.d/evil (43 bytes):
 *  (a) etc/a with a PAX record `uid=-1` (Go mergePAX: strconv.ParseInt(v, 10, 64) takes a sign; moby then
 *      calls os.Lchown(path, -1, gid), which changes nothing and succeeds);
 *  (b) etc/a with PAX `gid=+0` (ParseInt takes '+' too);
 *  (c) etc/a with PAX `mtime=9007199254740993` (2^53 + 1: ParseInt takes any int64; moby's Chtimes clamps
 *      out-of-range times to the epoch, and extracts the file);
 *  (d) etc/a whose mtime field is GNU base-256 for 2^60 (strconv.go parseNumeric: any value below 2^63).
 *
 * Observed: `files ARCHIVE --verify --format json` lists /etc and /etc/hostname only, exit 4: (a)-(c) "tar.pax:
 * PAX uid="-1" is not a valid number" and the like, (d) "tar.numeric: unparsable mtime field": the layer is
 * unreadable past that member, so etc/a and /etc/cron.d/evil (which the engine extracts) are never listed.
 *
 * Expected: README "We read layers as the engine reads them ... What Go refuses is an error here too": what Go
 * accepts is read on; /etc/a and /etc/cron.d/evil are listed.
 *
 * Code at fault: src/core/sources/tar/header.ts HeaderAssembler.header: the PAX `int` helper (/^\d+$/ and
 * Number.isSafeInteger: no sign, nothing past 2^53), parsePaxTime (Number.isSafeInteger on the seconds) and
 * parseNumeric (null past 2^53, where Go takes any int64).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { header, paxRecord } from '../sources/tar/helpers.js';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { file, layerWith, pad, resum } from '../attack2/layers.js';

before(assertBuilt);

const paxed = (key: string, value: string) => {
  const recs = paxRecord(key, value);
  return [header({ name: 'PaxHeaders/a', type: 'x', size: recs.length }), pad(recs), file('etc/a', Buffer.from('x'))];
};

const base256Mtime = () => {
  const h = header({ name: 'etc/a', body: Buffer.from('x') });
  h.fill(0, 136, 148);
  h[136] = 0x80;
  h[140] = 0x10; // 2^60 in 12 bytes big-endian: byte 4 (from the field start) holds 2^(8*7+4)
  return [resum(h), pad(Buffer.from('x'))];
};

const CASES: [string, Buffer[]][] = [
  ['PAX uid=-1', paxed('uid', '-1')],
  ['PAX gid=+0', paxed('gid', '+0')],
  ['PAX mtime=2^53+1', paxed('mtime', '9007199254740993')],
  ['base-256 mtime 2^60', base256Mtime()],
];

for (const [what, members] of CASES) {
  test(`${what}: Go reads the member and the ones after it; so must we`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const archive = join(dir, 'img.tar');
    writeFileSync(archive, legacySave([{ tag: 'n:1', layers: [layerWith([...members, file('etc/cron.d/evil')])] }]));
    const r = await runCli(['files', archive, '--verify', '--format', 'json']);
    assertNoCrash(r);
    const out = JSON.parse(r.stdout) as { files: { path: string }[]; problems?: { code: string; message: string }[] };
    const paths = out.files.map((f) => f.path);
    assert.ok(paths.includes('/etc/a') && paths.includes('/etc/cron.d/evil'), `files --verify (exit ${r.code}) lists ${JSON.stringify(paths)}; ${JSON.stringify(out.problems ?? r.stderr)}`);
  });
}
