/**
 * ATTACK: a layer (docker save archive, 7 KB) holding /etc, /etc/hostname and a 43-byte cron line stored as
 * `.wh..wh.x/evil`: a regular file under a top-level directory named like AUFS metadata (no AUFS engine has
 * existed since Docker 24; nothing legitimate writes these).
 *
 * Observed: `files ARCHIVE --verify` exits 0 and lists /etc and /etc/hostname only; `report` has one info
 * problem "1 AUFS metadata member(s) (.wh..wh.*) skipped", nothing at warning or error.
 *
 * What the engines do: Docker's overlay2 driver applies a layer with archive.Unpack and the overlay whiteout
 * converter (native diff, the default when the kernel has no redirect_dir): no AUFS-metadata skip there, the
 * converter looks at base names only, so `.wh..wh.x/evil` is extracted and /.wh..wh.x/evil is in every container
 * of the image (test/attack2/aufs-plnk.test.ts records the same for `.wh..wh.plnk/1234` on Docker 20.10.24:
 * the pool file stays in the diff dir and in `docker export`). moby's UnpackLayer (naive diff) and containerd's
 * apply skip the tree. So the engines load this layer differently, and one of them runs a file layerscope does
 * not show or flag.
 *
 * Expected: README "A file the engine extracts cannot be hidden from us" and "An archive two engines load
 * differently is an error": /.wh..wh.x/evil listed as Docker's overlay2 store has it, or at least a warning or
 * error naming the member (never an info that reads as routine AUFS bookkeeping).
 *
 * Code at fault: src/core/sources/tar/layer-changes.ts LayerChangesBuilder.add (the AUFS-metadata branch drops
 * every member under `.wh..wh.*`, counted into one info problem in finish()).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { file, layerWith } from '../attack2/layers.js';

before(assertBuilt);

test('a file under a top-level .wh..wh.* dir (extracted by Docker overlay2): listed, or flagged above info', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const archive = join(dir, 'img.tar');
  writeFileSync(archive, legacySave([{ tag: 'meta:1', layers: [layerWith([file('.wh..wh.x/evil')])] }]));
  const r = await runCli(['report', archive, '--verify', '--format', 'json']);
  assertNoCrash(r);
  const rep = JSON.parse(r.stdout) as { images: { bytes: number }[]; problems: { severity: string; code: string; message: string; path: string | null }[] };
  const f = await runCli(['files', archive, '--format', 'json']);
  const listed = (JSON.parse(f.stdout) as { files: { path: string }[] }).files.some((x) => x.path === '/.wh..wh.x/evil');
  const flagged = rep.problems.some((p) => p.severity !== 'info' && /\.wh\.\.wh\.x/.test(`${p.message} ${p.path ?? ''}`));
  assert.ok(listed || flagged, `report (exit ${r.code}), image bytes ${rep.images[0]?.bytes}, problems: ${JSON.stringify(rep.problems)}`);
});
