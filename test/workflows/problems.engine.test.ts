/**
 * Every command reports the problems of what it read, with report's exit code: on a copy of a real data root
 * where one piece of evidence is broken (repositories.json of the wrong shape: an error), report, changes
 * (image and container), files, export, extract, timeline, whose and diff each exit 4 and name the problem; on
 * the untouched copy each exits 0. Nothing is written to the copies.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { copyTree, getEngine, hashTree } from '../support/engine.js';
import { CONTAINERS } from '../support/fixtures-manifest.mjs';
import { cli } from '../support/roots.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-problems-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let good = '';
let bad = '';
before(async () => {
  const e = process.env.LAYERSCOPE_TEST_ENGINES ? JSON.parse(process.env.LAYERSCOPE_TEST_ENGINES).docker20 : null;
  if (!e || process.getuid?.() !== 0) return;
  good = path.join(tmp, 'good');
  bad = path.join(tmp, 'bad');
  await copyTree(e.dataRoot, good);
  await copyTree(e.dataRoot, bad);
  fs.writeFileSync(path.join(bad, 'image/overlay2/repositories.json'), JSON.stringify({ Repositories: [] }));
});

/** Each command as a user would run it, on the root `r`. */
function commands(r: string): [string, string[]][] {
  const out = (name: string) => path.join(tmp, `out-${path.basename(r)}-${name}`);
  // By image ID: the broken repositories.json takes the tags away.
  const bloat = (root: string) => {
    // ls-bloat:1, found by what its Dockerfile did (the broken repositories.json takes its tag away).
    for (const id of fs.readdirSync(path.join(root, 'image/overlay2/imagedb/content/sha256'))) {
      const cfg = JSON.parse(fs.readFileSync(path.join(root, 'image/overlay2/imagedb/content/sha256', id), 'utf8'));
      if ((cfg.history ?? []).some((h: { created_by?: string }) => /rm \/data\/big\.bin/.test(h.created_by ?? ''))) return id.slice(0, 12);
    }
    throw new Error('no ls-bloat image in the copy');
  };
  const img = bloat(r);
  const diffDir = fs.readdirSync(path.join(r, 'overlay2')).find((d) => /^[0-9a-f]{64}$/.test(d) && fs.existsSync(path.join(r, 'overlay2', d, 'diff/bin/busybox')))!;
  return [
    ['report', ['report', r]],
    ['changes --image', ['changes', r, '--image', img, '--layer', '1']],
    ['changes --container', ['changes', r, '--container', CONTAINERS.stopped]],
    ['files', ['files', r, '--image', img]],
    ['export', ['export', r, '--image', img, '-o', out('export.tar')]],
    ['extract', ['extract', r, '--image', img, '/etc/passwd', '-o', out('extract')]],
    ['timeline', ['timeline', r, '--container', CONTAINERS.stopped]],
    ['whose', ['whose', path.join(r, 'overlay2', diffDir, 'diff/bin/busybox'), '--root', r]],
    ['diff', ['diff', `${r}#${img}`, `${r}#${img}`]],
  ];
}

test('a broken piece of evidence: every command that read it exits 4 and names it; the untouched root exits 0', async (t) => {
  if (!getEngine(t, 'docker20')) return;
  const before = { good: await hashTree(good), bad: await hashTree(bad) };
  for (const [name, args] of commands(good)) {
    const r = await cli(args);
    assert.equal(r.code, 0, `${name} on the untouched root: exit ${r.code}\n${r.stderr}`);
  }
  for (const [name, args] of commands(bad)) {
    const r = await cli(args);
    assert.equal(r.code, 4, `${name} on the broken root: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /repositories\.bad-shape/, `${name} names the problem`);
  }
  assert.equal(await hashTree(good), before.good, 'the untouched copy is unchanged');
  assert.equal(await hashTree(bad), before.bad, 'the broken copy is unchanged');
});
