/**
 * ATTACK: an image archive whose image, as `docker load` installs it, is not the image layerscope analyses and
 * verifies. Both pass silently today: `verify` says OK, `report --verify` has no problem, exit 0.
 *
 * 1. Docker >= 25 layout (index.json + manifest.json). layerscope takes the images from index.json and uses
 *    manifest.json for tags only; an entry of manifest.json whose config the index does not list is dropped
 *    without a word (src/core/sources/archive/images.ts, addDockerManifest(tagsOnly): `continue`). But the
 *    classic-store `docker load` (the default up to Docker 28) reads manifest.json only (moby
 *    image/tarexport/load.go). Confirmed with Docker 26.1.5 (overlay2): `docker load` of the archive below
 *    installs the config named by manifest.json, tagged app:1, with the attacker's /etc/passwd.
 *
 * 2. Any archive: a second `manifest.json` member, renamed for layerscope by a PAX *global* header ('g') in front
 *    of it. layerscope applies global `path` records to the members that follow (header.ts, mergedPax), so it
 *    sees `zz-ignored` and reports no duplicate; Go's archive/tar (which `docker load` uses to untar the
 *    archive) returns a 'g' header as an entry of its own and does not apply it, so docker sees two
 *    manifest.json and the last one wins. Confirmed with Docker 26.1.5: the attacker's image is the one loaded.
 *
 * Claim broken: "Tampering never passes silently ... Duplicate member names are errors."
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { header, paxRecord } from '../sources/tar/helpers.js';
import { assertBuilt, assertNoCrash, configOf, hex, layerTar, ociMembers, runCli, sha256, tempDir, type ImageSpec } from '../sources/archive/hostile-helpers.js';
import { tar } from '../sources/tar/helpers.js';

before(assertBuilt);

const GOOD = layerTar({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
const EVIL = layerTar({ 'etc/passwd': 'root::0:0::/root:/bin/sh\nevil::0:0::/:/bin/sh\n' });
const A: ImageSpec = { tag: 'app:1', layers: [GOOD] };
const B: ImageSpec = { tag: 'app:1', layers: [EVIL] };
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const member = (name: string, body: Buffer) => Buffer.concat([header({ name, body }), pad(body)]);

interface Verdict {
  code: number | null;
  verifyOk: boolean;
  problems: { severity: string; code: string; message: string; path: string | null }[];
  imageIds: string[];
}

async function judge(file: string): Promise<Verdict> {
  const v = await runCli(['verify', file, '--no-mount', '--format', 'json']);
  assertNoCrash(v);
  const r = await runCli(['report', file, '--verify', '--format', 'json']);
  assertNoCrash(r);
  const rep = JSON.parse(r.stdout);
  return { code: v.code, verifyOk: JSON.parse(v.stdout).ok, problems: rep.problems, imageIds: rep.images.map((i: { id: string }) => i.id) };
}

test('Docker >= 25 archive: manifest.json names another image than index.json; docker load (classic store) installs that one', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const members = ociMembers([A]); // index.json -> the good image
  const cfgB = configOf(B);
  members.push({ name: `blobs/sha256/${hex(sha256(cfgB))}`, body: cfgB });
  members.push({ name: `blobs/sha256/${hex(sha256(EVIL))}`, body: EVIL });
  // What `docker load` reads: the attacker's config and layer, tagged app:1.
  members.push({ name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${hex(sha256(cfgB))}`, RepoTags: ['app:1'], Layers: [`blobs/sha256/${hex(sha256(EVIL))}`] }])) });
  const file = join(dir, 'swap.tar');
  writeFileSync(file, tar(members));

  const v = await judge(file);
  // The image docker load installs (sha256 of config B) must be analysed, or the disagreement must be an error.
  const loaded = sha256(cfgB);
  const said = v.imageIds.includes(loaded) || v.problems.some((p) => p.severity === 'error' && /manifest\.json/.test(p.message + (p.path ?? '')));
  assert.ok(said, `docker load would install ${loaded} (tagged app:1); layerscope analysed only ${v.imageIds.join(', ')} and reported ${JSON.stringify(v.problems)}`);
  assert.equal(v.verifyOk, false, 'verify must not say OK for an archive whose loaded image it never checked');
  assert.notEqual(v.code, 0);
});

test('a second manifest.json hidden behind a PAX global header: not reported as a duplicate; docker load uses it', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const ca = configOf(A);
  const cb = configOf(B);
  const manifest = (cfg: Buffer, l: Buffer) => Buffer.from(JSON.stringify([{ Config: hex(sha256(cfg)) + '.json', RepoTags: ['app:1'], Layers: [hex(sha256(l)) + '/layer.tar'] }]));
  const g = paxRecord('path', 'zz-ignored');
  const archive = Buffer.concat([
    member(hex(sha256(GOOD)) + '/layer.tar', GOOD),
    member(hex(sha256(ca)) + '.json', ca),
    member('manifest.json', manifest(ca, GOOD)),
    member(hex(sha256(EVIL)) + '/layer.tar', EVIL),
    member(hex(sha256(cb)) + '.json', cb),
    // Go's archive/tar returns this as an entry of its own and does not apply it to the next member.
    header({ name: 'pax_global_header', type: 'g', size: g.length }),
    pad(g),
    member('manifest.json', manifest(cb, EVIL)),
    Buffer.alloc(1024),
  ]);
  const file = join(dir, 'gdup.tar');
  writeFileSync(file, archive);

  const v = await judge(file);
  const dup = v.problems.filter((p) => p.code === 'archive.member.duplicate' && p.path === 'manifest.json');
  assert.equal(dup.length, 1, `two members named manifest.json (as docker load sees them) must be an error; problems: ${JSON.stringify(v.problems)}`);
  assert.ok(v.imageIds.includes(sha256(cb)), `docker load installs ${sha256(cb)}; layerscope analysed ${v.imageIds.join(', ')}`);
  assert.equal(v.verifyOk, false);
});
