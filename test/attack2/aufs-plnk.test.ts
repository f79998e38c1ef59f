/**
 * ATTACK: a layer holding an AUFS hardlink dir (`.wh..wh.plnk/1234`, 43 bytes) and /etc/cron.d/evil, a hardlink to
 * it. layerscope skips every `.wh..wh.*` member as AUFS metadata (info `layer.aufs-metadata`) and lists
 * /etc/cron.d/evil as a 0-byte hardlink to nothing (warning `layer.hardlink.cross-layer`): `report` says the image
 * ships 4 bytes, `report --verify` exits 0. The source is the tar reading of layers
 * (src/core/sources/tar/layer-changes.ts, the AUFS metadata skip and the hardlink resolution after it).
 *
 * Docker 20.10.24 overlay2 (`docker load`, then the layer's diff dir and `docker export` of a container) keeps
 * both names: /.wh..wh.plnk/1234 and /etc/cron.d/evil, one inode, 43 bytes of CRON (moby's overlay whiteout
 * converter does not skip `.wh..wh.plnk` in ApplyDiff, and its `.wh..wh.plnk/` directory entry even becomes a
 * whiteout device `.wh.plnk`). The running container has a 43-byte cron job that layerscope shows as empty.
 * (`verify` does flag /.wh..wh.plnk through its kernel mount check, but report, files, changes and extract do not.)
 *
 * Expected: /etc/cron.d/evil listed with its 43 bytes, as the engine extracts it.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { AUFS_PLNK, CRON } from './layers.js';

before(assertBuilt);

test('a hardlink into .wh..wh.plnk: the file the engine extracts keeps its bytes', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const archive = join(dir, 'img.tar');
  writeFileSync(archive, legacySave([{ tag: 'plnk:1', layers: [AUFS_PLNK] }]));
  const r = await runCli(['files', archive, '--verify', '--format', 'json']);
  assertNoCrash(r);
  const files = (JSON.parse(r.stdout) as { files: { path: string; size: number }[] }).files;
  const evil = files.find((f) => f.path === '/etc/cron.d/evil');
  assert.equal(evil?.size, CRON.length, `files --verify (exit ${r.code}):\n${r.stdout}`);
});
