/**
 * ATTACKS on `--container` and drift with hashes, against a real Docker 20.10 (the container is made here):
 *
 * 1. A container adds a file with two names (`echo x > /tmp/h/a; ln /tmp/h/a /tmp/h/b`).
 *    Observed: `changes --hash` prints `A /tmp/h/a` with NO sha256 (only `/tmp/h/b` gets one), and
 *    `timeline --hash --format body` puts MD5 `0` on `/tmp/h/b` (json: md5 null, type "hardlink").
 *    Expected (docs/workflows.md: "the sha256 of every regular file the container added or changed", "the MD5 of
 *    every regular file the RW layer holds"): both names are regular files in `docker export`/`docker cp`; each
 *    gets the hash of its bytes, in both commands. Which of the two names loses its hash depends on the walk order.
 *
 * 2. `diff SOURCE --container X`: side A is "before its RW layer (image and init layer)".
 *    Observed: A's layer list holds the RW layer too, and `commonPrefix` is the whole stack (3 for a one-layer
 *    image: "common layer prefix: 3 layer(s)" while files differ).
 *    Expected: A has the image's layers and the init layer (2), commonPrefix 2, and A's layers never include
 *    "container RW layer".
 *
 * 3. The container's RW layer dir (`overlay2/<mount-id>/diff`) is a symlink (to /etc) in a copy of the data root.
 *    Observed: `cat --container X /tmp/h/a` says "/tmp/h/a is not in the tree at layer 2: no layer of this stack
 *    ever wrote it" (exit 3) and shows no problem: the investigator is told the file never existed;
 *    `export --container X -o f.tar` says "This docker-root source (...) cannot be read again (stdin, docker:REF,
 *    or a compressed archive): save it to a file first (docker save -o app.tar app:1)", exit 2 (a usage error):
 *    wrong diagnosis, wrong advice. (files/changes/diff report the problem and exit 4; the problem text says
 *    "RW layer directory missing" for a directory that is a symlink.)
 *    Expected: cat and export name the RW layer dir that is not a directory / a symlink (the problem), exit 4
 *    (or 3), never "no layer ever wrote it" nor "save it to a file first".
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { copyTree, getEngine, waitIdle, type Engine } from '../support/engine.js';
import { cli } from './lib.js';

before(assertBuilt);

const NAME = 'a8t-hardlink';
let engine: Engine | null = null;
let work = '';

async function setUp(t: TestContext): Promise<Engine | null> {
  if (engine) return engine;
  const e = getEngine(t, 'docker20');
  if (!e) return null;
  await e.docker(['rm', '-f', NAME], { reject: false });
  await e.docker(['run', '--name', NAME, 'ls-base:1', 'sh', '-c', 'mkdir -p /tmp/h && echo hardlinked-bytes > /tmp/h/a && ln /tmp/h/a /tmp/h/b && echo plain > /tmp/h/c']);
  await waitIdle(e);
  engine = e;
  return e;
}

after(async () => {
  if (engine) await engine.docker(['rm', '-f', NAME], { reject: false });
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');

test('changes --hash and timeline --hash hash both names of a hardlinked file the container added', { timeout: 300_000 }, async (t) => {
  const e = await setUp(t);
  if (!e) return;
  const want = 'hardlinked-bytes\n';
  const wrong: string[] = [];
  const ch = await cli(['changes', e.dataRoot, '--container', NAME, '--hash']);
  assert.equal(ch.exitCode, 0, ch.stderr);
  for (const p of ['/tmp/h/a', '/tmp/h/b']) {
    const line = ch.stdout.split('\n').find((l) => l.startsWith(`A ${p}`));
    if (line !== `A ${p}  sha256:${sha256(want)}`) wrong.push(`changes --hash: ${JSON.stringify(line)}, expected the sha256 ${sha256(want)}`);
  }
  const tl = await cli(['timeline', e.dataRoot, '--container', NAME, '--hash', '--format', 'body']);
  assert.equal(tl.exitCode, 0, tl.stderr);
  for (const p of ['/tmp/h/a', '/tmp/h/b']) {
    const line = tl.stdout.split('\n').find((l) => l.split('|')[1] === p);
    if (line?.split('|')[0] !== md5(want)) wrong.push(`timeline --hash: ${JSON.stringify(line)}, expected the MD5 ${md5(want)}`);
  }
  assert.deepEqual(wrong, [], 'a name of the hardlinked file has no hash');
});

test('diff --container: side A (before the RW layer) does not hold the RW layer', { timeout: 300_000 }, async (t) => {
  const e = await setUp(t);
  if (!e) return;
  const r = await cli(['diff', e.dataRoot, '--container', NAME, '--format', 'json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { a: { layers: { createdBy: string | null }[] }; b: { layers: unknown[] }; commonPrefix: number };
  assert.ok(!j.a.layers.some((l) => l.createdBy === 'container RW layer'), `side A lists the RW layer: ${JSON.stringify(j.a.layers)}`);
  assert.equal(j.a.layers.length, j.b.layers.length - 1, 'side A has one layer fewer than B');
  assert.equal(j.commonPrefix, j.b.layers.length - 1, 'the common prefix stops below the RW layer');
});

test('cat and export --container name an RW layer dir that is a symlink, never "no layer wrote it" / "save it to a file"', { timeout: 300_000 }, async (t) => {
  const e = await setUp(t);
  if (!e) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a8-rw-'));
  const root = path.join(work, 'root');
  await copyTree(e.dataRoot, root);
  const upper = (await e.docker(['inspect', NAME, '--format', '{{.GraphDriver.Data.UpperDir}}'])).stdout.trim();
  const diff = path.join(root, path.relative(e.dataRoot, upper));
  fs.renameSync(diff, diff + '.moved');
  fs.symlinkSync('/etc', diff);

  const c = await cli(['cat', root, '--container', NAME, '/tmp/h/a']);
  assert.doesNotMatch(c.stderr, /no layer of this stack ever wrote it/, `cat: ${c.stderr}`);
  assert.match(c.stderr, /symlink|RW layer/i, `cat does not say what is wrong with the RW layer: ${c.stderr}`);
  assert.notEqual(c.exitCode, 0);

  const out = path.join(work, 'out.tar');
  const x = await cli(['export', root, '--container', NAME, '-o', out]);
  assert.doesNotMatch(x.stderr, /cannot be read again|save it to a file first/, `export: ${x.stderr}`);
  assert.notEqual(x.exitCode, 2, `export exits as a usage error: ${x.stderr}`);
  assert.match(x.stderr, /symlink|RW layer/i, `export does not say what is wrong with the RW layer: ${x.stderr}`);
});
