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
import { assertBuilt, assertNoCrash, configOf, runCli, sha256, tempDir } from '../sources/archive/hostile-helpers.js';
import { A, B, gdupArchive, swapArchive } from './crafted.js';

before(assertBuilt);

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
  const file = join(dir, 'swap.tar');
  writeFileSync(file, swapArchive());
  const cfgB = configOf(B);

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
  const file = join(dir, 'gdup.tar');
  writeFileSync(file, gdupArchive());
  const cb = configOf(B);
  void A;

  const v = await judge(file);
  const dup = v.problems.filter((p) => p.code === 'archive.member.duplicate' && p.path === 'manifest.json');
  assert.equal(dup.length, 1, `two members named manifest.json (as docker load sees them) must be an error; problems: ${JSON.stringify(v.problems)}`);
  assert.ok(v.imageIds.includes(sha256(cb)), `docker load installs ${sha256(cb)}; layerscope analysed ${v.imageIds.join(', ')}`);
  assert.equal(v.verifyOk, false);
});
