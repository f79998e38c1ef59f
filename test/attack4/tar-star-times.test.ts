/**
 * ATTACK: a layer (docker save archive, ~10 KB) holding /etc, /etc/hostname, then etc/a in a star header (magic
 * "ustar\0", trailer "tar\0" at 508) whose atime field (476..487) holds "zz", then /etc/cron.d/evil.
 *
 * Observed: `files ARCHIVE --verify --format json` exits 0, lists /etc/a and /etc/cron.d/evil, no problem.
 *
 * Go's archive/tar (the engine's reader), reader.go readHeader, for a formatSTAR block:
 *   hdr.AccessTime = time.Unix(p.parseNumeric(star.accessTime()), 0)
 *   hdr.ChangeTime = time.Unix(p.parseNumeric(star.changeTime()), 0)
 * with the same parser `p` whose error is returned (`return hdr, &tr.blk, p.err`): "zz" is ErrHeader, so the
 * engine refuses the tar at etc/a and loads no part of this layer (docker load fails).
 *
 * Expected: README "What Go refuses is an error here too": an error problem (tar.numeric) at etc/a, exit 4,
 * as for any other unparsable numeric field.
 *
 * Code at fault: src/core/sources/tar/header.ts headerName / HeaderAssembler.header: a star block's prefix is cut
 * to 131 bytes, but its atime and ctime fields are never parsed.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { header } from '../sources/tar/helpers.js';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { file, layerWith, pad, resum } from '../attack2/layers.js';

before(assertBuilt);

test('a star header with an unparsable atime is an error (Go refuses the tar there)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const h = header({ name: 'etc/a', body: Buffer.from('x') });
  h.write('tar\0', 508, 'latin1'); // star trailer: formatSTAR for Go's getFormat
  h.write('zz', 476, 'latin1'); // star atime
  const archive = join(dir, 'img.tar');
  writeFileSync(archive, legacySave([{ tag: 's:1', layers: [layerWith([resum(h), pad(Buffer.from('x')), file('etc/cron.d/evil')])] }]));
  const r = await runCli(['files', archive, '--verify', '--format', 'json']);
  assertNoCrash(r);
  const out = JSON.parse(r.stdout) as { files: { path: string }[]; problems?: { code: string; severity: string }[] };
  const errors = (out.problems ?? []).filter((p) => p.severity === 'error' && p.code.startsWith('tar.'));
  assert.ok(r.code === 4 && errors.length > 0, `exit ${r.code}, problems ${JSON.stringify(out.problems)}, files ${JSON.stringify(out.files.map((f) => f.path))}`);
});
