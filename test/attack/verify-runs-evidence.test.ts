/**
 * ATTACK: `verify` executes a program planted in the evidence. For a stack too deep for one page of mount
 * options, the mount check runs `mount` by bare name with its working directory set to the evidence's
 * `<root>/overlay2` (src/core/verify/mount/session.ts withMount: `runner.run(argv, { cwd: mo.cwd })`; the
 * user-namespace path runs `unshare ... sh -c 'mount ...; find ...; umount'` with the same cwd). The program is
 * looked up along PATH *after* the chdir, so with an empty PATH element (`PATH=:/usr/bin:...`, what
 * `PATH=$PATH:/x` gives when PATH was empty; or `.`), the attacker's `<root>/overlay2/mount` runs, as root.
 * Observed on a copy of the docker20 fixture root (ls-deep:1): the planted script ran as uid 0 in
 * /tmp/atk/pathroot/overlay2 once per deep stack, with the full mount argv.
 * Claim broken: "Nothing inside the evidence is ever followed" (here: executed). The hand-made root below has 70
 * layers (absolute lowerdir paths need more than a page), as the engine lays them out (link files, l/ symlinks).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { classicRoot, writeTree, type Files } from '../support/roots.js';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

const sha = (s: string | Buffer) => 'sha256:' + createHash('sha256').update(s).digest('hex');
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const linkId = (i: number) => 'L'.repeat(21) + Array.from({ length: 5 }, (_, k) => B32[Math.floor(i / 32 ** (4 - k)) % 32]).join('');

test('verify with an empty PATH element does not run <root>/overlay2/mount', { timeout: 180_000 }, async (t) => {
  assert.equal(process.getuid?.(), 0, 'the mount check mounts as root (this machine runs tests as root)');
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const N = 70;
  const diffIds = Array.from({ length: N }, (_, i) => sha(`layer ${i}`));
  const files: Files = { 'overlay2/l': null };
  let chain = '';
  let lower = '';
  for (let i = 0; i < N; i++) {
    const parent = chain;
    chain = i === 0 ? diffIds[0]! : sha(`${chain} ${diffIds[i]}`);
    const cache = createHash('sha256').update(`cache ${i}`).digest('hex');
    const l = `image/overlay2/layerdb/sha256/${chain.slice(7)}`;
    files[`${l}/diff`] = diffIds[i]!;
    files[`${l}/cache-id`] = cache;
    if (parent) files[`${l}/parent`] = parent;
    files[`overlay2/${cache}/diff/f${i}`] = `${i}\n`;
    files[`overlay2/${cache}/link`] = linkId(i);
    if (lower) files[`overlay2/${cache}/lower`] = lower;
    lower = lower ? `l/${linkId(i)}:${lower}` : `l/${linkId(i)}`;
  }
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
  const id = sha(cfg).slice(7);
  files[`image/overlay2/imagedb/content/sha256/${id}`] = cfg;
  const root = writeTree(join(dir, 'root'), classicRoot('overlay2', files));
  for (let i = 0; i < N; i++) fs.symlinkSync(`../${createHash('sha256').update(`cache ${i}`).digest('hex')}/diff`, join(root, 'overlay2/l', linkId(i)));
  // The attacker's program, where the short-form mount runs.
  const marker = join(dir, 'RAN');
  fs.writeFileSync(join(root, 'overlay2/mount'), `#!/bin/sh\necho "uid $(id -u) cwd $(pwd)" >> ${marker}\nexec /bin/mount "$@"\n`, { mode: 0o755 });

  const r = await runCli(['verify', root, '--image', id.slice(0, 12), '--format', 'json'], { env: { PATH: `:${process.env.PATH}` }, timeoutMs: 120_000 });
  assert.equal(r.signal, null);
  assert.ok(/"form": "short"/.test(r.stdout), `the deep stack needs the short form (l/<link> names from <root>/overlay2): ${r.stdout.slice(0, 300)}`);
  assert.equal(fs.existsSync(marker), false, `the evidence's overlay2/mount was executed: ${fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : ''}`);
});
