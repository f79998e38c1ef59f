/**
 * ATTACK: more layer tars that Go's archive/tar (moby, containerd, tar-split: the engine) reads one way and
 * layerscope's header parser (src/core/sources/tar/header.ts: HeaderAssembler.header, headerName) another.
 * Each layer below makes the engine put /etc/cron.d/evil (43 bytes) into the image, and layerscope list no such
 * file: `files --verify` exits 0 listing /etc/motd, /usr/share/doc/etc/cron.d/evil, /evil, or nothing in its
 * place; `verify` on the archive says OK (exit 0).
 *
 *  1. GNU sparse PAX records (header.ts, the `GNU.sparse.` branch and the name/size choice after it):
 *     - any `GNU.sparse.*` key makes the member sparse and GNU.sparse.name renames it; Go's
 *       readGNUSparsePAXHeaders only does so for a known version (major/minor 0.0, 0.1, 1.0, or a GNU.sparse.map):
 *       a lone GNU.sparse.name, or GNU.sparse.major=2, leaves the member a plain file under its own name;
 *     - for a recognised sparse member Go applies GNU.sparse.name after the GNU long name (handleSparseFile runs
 *       after the long names are set): layerscope lets the long name win. (Also: Go prefers GNU.sparse.size to
 *       GNU.sparse.realsize, layerscope the reverse.)
 *  2. an empty GNU long name ('L' body "\0"): Go applies a long name only when it is not empty
 *     (`if gnuLongName != ""`); layerscope sets the name to "" and drops the member as the layer root (with an
 *     empty 'K', the hardlink is "to the layer root" and skipped, where the engine links it to the header's target).
 *  3. format detection (headerName): Go's block.getFormat says USTAR only for magic "ustar\0", GNU only for
 *     "ustar " + version " \0", V7 otherwise; a V7 header has no prefix. layerscope applies the prefix field to
 *     any magic starting "ustar" ("ustar \0\0", "ustarX00"). And for a GNU header whose atime/ctime fields do
 *     not parse as numbers Go falls back to reading them as a ustar prefix (pre-Go-1.8 writers,
 *     golang.org/issue/12594); layerscope never applies a prefix to a GNU header.
 *
 * Confirmed with Docker 20.10.24 (overlay2): `docker load` of each archive (test/attack2/layers.ts writes them),
 * `docker export` of a created container lists etc/cron.d/evil, 43 bytes, in all seven cases.
 *
 * The same parser decodes tar-split's headers, so on a data root where the engine loaded these layers
 * (untouched), `verify` reports each as tampered (integrity/unsafe, integrity/missing, integrity/added):
 * fixtures/engine-layers.tar holds each layer's tar-split.json.gz, diffid and diff dir as Docker 20.10.24 wrote
 * them (image/overlay2/layerdb/sha256/<chainID>/ and overlay2/<cache-id>/diff, copied after `docker load`).
 *
 * Expected: every crafted archive lists /etc/cron.d/evil; the engine's untouched layers verify with no finding.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { verifyLayerIntegrity } from '../../src/core/verify/integrity/index.js';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { HIDDEN } from './layers.js';

before(assertBuilt);

for (const [key, [what, layer]] of Object.entries(HIDDEN)) {
  test(`the engine extracts /etc/cron.d/evil; layerscope must list it: ${what}`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const archive = join(dir, 'img.tar');
    writeFileSync(archive, legacySave([{ tag: `${key.toLowerCase()}:1`, layers: [layer] }]));
    const r = await runCli(['files', archive, '--verify', '--format', 'json']);
    assertNoCrash(r);
    assert.match(r.stdout, /"\/etc\/cron\.d\/evil"/, `files --verify (exit ${r.code}) lists:\n${r.stdout}\n${r.stderr}`);
  });
}

test('integrity of the untouched engine-made layers holding these members: no finding', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  execFileSync('tar', ['-x', '-p', '--numeric-owner', '-f', join(import.meta.dirname, 'fixtures/engine-layers.tar'), '-C', dir]);
  const result: Record<string, string[]> = {};
  const want: Record<string, string[]> = {};
  for (const key of Object.keys(HIDDEN)) {
    const d = join(dir, key.toLowerCase());
    const r = await verifyLayerIntegrity({ tarSplitPath: join(d, 'tar-split.json.gz'), diffDir: join(d, 'diff'), diffId: readFileSync(join(d, 'diffid'), 'utf8') });
    result[key] = [...(r.ok ? [] : ['not ok']), ...r.findings.map((f) => `${f.kind} ${f.path}`)];
    // A real sparse member: tar-split keeps its expanded content, so no one (moby's docker save included) can
    // rebuild the tar its diffID was computed over; that is said, not taken for tampering.
    want[key] = key === 'sparseNameOverLongName' ? ['not ok', 'unreadable '] : [];
  }
  assert.deepEqual(result, want);
});
