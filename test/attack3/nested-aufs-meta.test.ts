/**
 * ATTACK: a layer (docker save archive, 7 KB) holding /etc, /etc/hostname and a 43-byte cron line stored as
 * `etc/.wh..wh.cfg/evil`: a regular file under a directory whose name starts with `.wh..wh.` below the layer
 * root (no entry for that directory: every engine creates implied parent directories).
 *
 * Observed: `files ARCHIVE --verify` exits 0 and lists /etc and /etc/hostname only; `report --format json` says
 * the image ships 4 bytes, with one info problem "1 AUFS metadata member(s) (.wh..wh.*) skipped". The file is
 * gone from every view (files, report, changes, extract, export, diff) with no warning or error.
 *
 * What the engines do: moby's UnpackLayer (pkg/archive/diff.go) and containerd's apply (archive/tar.go) skip
 * AUFS metadata only when the whole cleaned name starts with `.wh..wh.` (`strings.HasPrefix(hdr.Name,
 * WhiteoutMetaPrefix)`): a top-level `.wh..wh.*` tree. For `etc/.wh..wh.cfg/evil` the base name `evil` is no
 * whiteout, so it is extracted to /etc/.wh..wh.cfg/evil; moby's overlay2 apply (archive.Unpack with the overlay
 * whiteout converter) looks at base names only and extracts it too. The container has a cron file layerscope
 * does not show.
 *
 * Expected: README "We read layers as the engine reads them ... A file the engine extracts cannot be hidden from
 * us": /etc/.wh..wh.cfg/evil listed with its 43 bytes.
 *
 * Code at fault: src/core/sources/tar/layer-changes.ts LayerChangesBuilder.add: the AUFS-metadata skip tests
 * every component (`path.split('/').some((c) => c.startsWith(WH_META) ...)`) instead of the name's start.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { CRON, file, layerWith } from '../attack2/layers.js';

before(assertBuilt);

test('a file below a nested .wh..wh.* directory is extracted by the engine: layerscope lists it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const archive = join(dir, 'img.tar');
  writeFileSync(archive, legacySave([{ tag: 'nested:1', layers: [layerWith([file('etc/.wh..wh.cfg/evil')])] }]));
  const r = await runCli(['files', archive, '--verify', '--format', 'json']);
  assertNoCrash(r);
  const files = (JSON.parse(r.stdout) as { files: { path: string; size: number }[] }).files;
  const evil = files.find((f) => f.path === '/etc/.wh..wh.cfg/evil');
  assert.equal(evil?.size, CRON.length, `files --verify (exit ${r.code}) lists ${JSON.stringify(files.map((f) => f.path))}`);
});
