/**
 * ATTACK: a layer (docker save archive, 8 KB) where a PAX 'x' header (one record, mtime) precedes a V7 header
 * (no ustar magic) for etc/a, whose bytes 329..336 (devmajor in ustar; unused padding in V7) hold "zz"; then
 * /etc/cron.d/evil (43 bytes).
 *
 * Observed: `files ARCHIVE --verify` lists /etc and /etc/hostname only, exit 4, with "error tar.numeric: layer
 * unreadable past this point: unparsable devmajor field (member "etc/a")": etc/a and /etc/cron.d/evil are never
 * read. layerscope sets the format to 'pax' when PAX records apply and then parses the ustar-only fields
 * (uname, gname, devmajor, devminor) of a V7 block.
 *
 * Go's archive/tar (the engine's reader) parses those fields only when the block itself is USTAR/PAX/GNU
 * (reader.go readHeader: `if format > formatV7`), whatever PAX records came before; it reads etc/a and
 * etc/cron.d/evil, and the engine extracts both.
 *
 * Expected: README "tar is read as Go's archive/tar reads it": /etc/a and /etc/cron.d/evil listed, no
 * tar.numeric error.
 *
 * Code at fault: src/core/sources/tar/header.ts HeaderAssembler.header: `if (pax) format = 'pax'` comes before
 * `if (format !== 'v7') { devMajor = this.num(...) ... }` and the uname/gname reads.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { header, paxRecord } from '../sources/tar/helpers.js';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { file, layerWith, pad, resum } from '../attack2/layers.js';

before(assertBuilt);

test('a V7 header after a PAX header: its unused devmajor bytes are not parsed (Go reads the rest)', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const recs = paxRecord('mtime', '1700000000.5');
  const x = Buffer.concat([header({ name: 'PaxHeaders/a', type: 'x', size: recs.length }), pad(recs)]);
  const v7 = header({ name: 'etc/a', body: Buffer.from('x') });
  v7.fill(0, 257, 512); // no magic: a V7 header for Go's getFormat
  v7.write('zz', 329, 'latin1'); // V7 padding, where ustar keeps devmajor
  const archive = join(dir, 'img.tar');
  writeFileSync(archive, legacySave([{ tag: 'v7:1', layers: [layerWith([x, resum(v7), pad(Buffer.from('x')), file('etc/cron.d/evil')])] }]));
  const r = await runCli(['files', archive, '--verify', '--format', 'json']);
  assertNoCrash(r);
  const paths = (JSON.parse(r.stdout) as { files: { path: string }[] }).files.map((f) => f.path);
  assert.ok(paths.includes('/etc/a') && paths.includes('/etc/cron.d/evil'), `files --verify (exit ${r.code}) lists ${JSON.stringify(paths)}\n${r.stderr}`);
});
