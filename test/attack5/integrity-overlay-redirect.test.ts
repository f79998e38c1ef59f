/**
 * ATTACK: a root attacker edits one layer's diff dir of a Docker (overlay2) data root: one
 * `setfattr -n trusted.overlay.redirect -v /root diff/x` on a directory `x` the layer really ships (layer tar,
 * tar-split and diff dir built in code as moby leaves them: test/verify/integrity/gen.ts; needs root for
 * trusted.* xattrs). Nothing else changes: no byte, mode, owner or time.
 *
 * Observed: verifyLayerIntegrity (what `verify --no-mount` runs, and all `verify` runs where mounting is not
 * possible) returns ok: true, computed diffId = expected, 0 findings. Yet the xattr changes what every container
 * sees: this kernel (6.18, overlay defaults redirect_dir=N, redirect_always_follow=Y, as most distributions) follows
 * a redirect found in a lower layer, so `mount -t overlay -o ro,lowerdir=<this layer>:<lower>` shows the
 * lower layers' /root (here root/secret) inside /x. `report` merely warns (overlay.redirect) that it cannot show
 * what is there, and the integrity check that is meant to catch diff-dir edits is silent.
 *
 * Expected: README "closes tar-split's blind spots: modes, owners, mtimes, xattrs ... on disk against the stored
 * headers": an overlay xattr no layer tar produces and that changes the merged view (redirect, as the opaque
 * marker already is: "is marked opaque on disk ... but the layer has no .wh..wh..opq") is a finding: ok false.
 *
 * Code at fault: src/core/verify/integrity/tarsplit.ts extraXattrs skips every name matching OVERLAY_XATTR
 * (/^(trusted|user)\.overlay\./); only overlay.opaque is then checked (noteOpaque/checkOpaque), so
 * trusted.overlay.redirect (and metacopy) added to a diff dir pass unreported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../sources/archive/hostile-helpers.js';
import { verifyLayerIntegrity } from '../../src/core/verify/integrity/index.js';
import { applyLayerTar, encodeTarSplit, sha256, tarToTarSplit } from '../verify/integrity/gen.js';

test('trusted.overlay.redirect added to a dir of a diff dir is an integrity finding', { timeout: 30_000, skip: process.getuid?.() !== 0 ? 'trusted.* xattrs need root' : false }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const src = path.join(dir, 'src');
  fs.mkdirSync(path.join(src, 'x'), { recursive: true });
  fs.writeFileSync(path.join(src, 'x/keep'), 'k\n');
  execFileSync('find', [src, '-exec', 'touch', '-h', '-d', '2001-02-03 04:05:06 UTC', '{}', '+']);
  const tarPath = path.join(dir, 'layer.tar');
  execFileSync('tar', ['-c', '--format=pax', '--numeric-owner', '--sort=name', '-f', tarPath, '-C', src, '.']);
  const tar = fs.readFileSync(tarPath);
  const tarSplitPath = path.join(dir, 'tar-split.json.gz');
  fs.writeFileSync(tarSplitPath, encodeTarSplit(tarToTarSplit(tar)));
  const diffDir = path.join(dir, 'diff');
  applyLayerTar(tarPath, diffDir);

  const clean = await verifyLayerIntegrity({ tarSplitPath, diffDir, diffId: sha256(tar), threads: 'inline' });
  assert.equal(clean.ok, true, `the untouched layer verifies: ${JSON.stringify(clean.findings)}`);

  execFileSync('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/root', path.join(diffDir, 'x')]);
  const r = await verifyLayerIntegrity({ tarSplitPath, diffDir, diffId: sha256(tar), threads: 'inline' });
  assert.equal(r.ok, false, `a redirect planted on x passes the integrity check: ok ${r.ok}, ${r.findings.length} finding(s), notes ${JSON.stringify(r.notes)}`);
  assert.ok(r.findings.some((f) => /(^|\/)x$/.test(String(f.path))), `no finding names x: ${JSON.stringify(r.findings)}`);
});
