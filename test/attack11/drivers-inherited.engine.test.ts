/**
 * Red team (attack11): whole-tree graph drivers (vfs, the first overlay driver, btrfs) on Docker 20.10.
 *
 * A layer kept as a whole tree holds the files it inherits from the layers below as its own copies (vfs: a copy;
 * btrfs: a snapshot, copy-on-write; the first overlay driver: hard links, which one `cp` + `mv` breaks). The naive
 * diff (size, mtime, mode, owner) does not see a copy whose bytes were changed with its size and mtime kept, and
 * the layer's tar-split only covers the files the layer itself changed: neither the layer's own integrity check
 * nor its parent's (the parent's tree is untouched) looks at that copy. But it is what every container made from
 * the image sees (`docker export` shows the altered bytes): `verify` must not say OK.
 * Failed on all three drivers when written; fixed in attack11 (verify compares such copies' bytes with the
 * parent's: tree-diff compareContent, verify/integrity/full-changes.ts).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { getEngine } from '../support/engine.js';
import { type DriverName, loadFrom, startDriverEngineFor } from '../support/driver-engines.js';
import { IMAGES } from '../support/fixtures-manifest.mjs';
import { openSource } from '../../src/core/sources/open.js';
import { EXIT } from '../../src/cli/command.js';
import { verifyCommand } from '../../src/cli/commands/verify.js';
import { runCmd } from '../workflows/helpers.js';

/** Regular files (size > 0) under `dir`, relative, walked with lstat (nothing followed). */
function regularFiles(dir: string, rel = '', out: string[] = []): string[] {
  for (const name of fs.readdirSync(path.join(dir, rel))) {
    // Names that are not UTF-8 do not survive a string round trip: not needed here.
    if (name.includes('\ufffd') || name.includes('\n')) continue;
    const r = rel ? `${rel}/${name}` : name;
    const st = fs.lstatSync(path.join(dir, r));
    if (st.isDirectory()) regularFiles(dir, r, out);
    else if (st.isFile() && st.size > 0) out.push(r);
  }
  return out;
}

/** Replace `p` by a new inode with one byte flipped; mode, owner, times and its dir's times kept (what naive diff compares). */
function flipByteKeepingStat(p: string): void {
  const st = fs.lstatSync(p);
  const dirSt = fs.lstatSync(path.dirname(p));
  const bytes = fs.readFileSync(p);
  bytes[0] = bytes[0]! ^ 0xff;
  const tmpName = p + '.attack11';
  fs.writeFileSync(tmpName, bytes);
  fs.chmodSync(tmpName, st.mode & 0o7777);
  fs.chownSync(tmpName, st.uid, st.gid);
  fs.utimesSync(tmpName, st.atime, st.mtime);
  fs.renameSync(tmpName, p);
  // The dir's mtime moved with the rename: put back too (an attacker would).
  fs.utimesSync(path.dirname(p), dirSt.atime, dirSt.mtime);
}

for (const driver of ['vfs', 'overlay', 'btrfs'] as DriverName[]) {
  test(`${driver}: a file a layer inherits, its bytes changed in the layer's own tree (size and mtime kept), is not verified OK`, { timeout: 900_000 }, async (t) => {
    const src = getEngine(t, 'docker20');
    if (!src) return;
    const eng = await startDriverEngineFor(t, driver);
    if (!eng) return;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ls-a11-${driver}-`));
    try {
      await loadFrom(src, eng, [IMAGES.bloat]);
      // Attack a copy (the engine is idle: nothing runs) (cp -a keeps hard links within the copy, so the first overlay driver's links stay links).
      const root = path.join(tmp, 'root');
      execFileSync('cp', ['-a', eng.dataRoot, root]);
      await eng.stop();
      const s = await openSource(root);
      let target: { dir: string; file: string } | null = null;
      try {
        const img = s.images.find((i) => i.tags.includes(IMAGES.bloat))!;
        assert.ok(img && img.layers.length >= 2, 'ls-bloat has layers over its base');
        const n = img.layers.length - 1;
        const changed = new Set<string>();
        for (const e of (await s.readLayer(img, n)).each()) changed.add(e.path);
        const dir = img.layers[n]!.location!;
        const file = regularFiles(dir).find((f) => !changed.has(f));
        assert.ok(file, 'the top layer inherits a regular file');
        target = { dir, file };
      } finally {
        await s.close();
      }
      const clean = await runCmd(verifyCommand, [root, '--image', IMAGES.bloat, '--no-mount', '--format', 'json']);
      assert.equal(clean.code, EXIT.ok, 'untouched copy verifies OK: ' + clean.stdout.slice(0, 2000) + clean.stderr);
      flipByteKeepingStat(path.join(target.dir, target.file));
      const r = await runCmd(verifyCommand, [root, '--image', IMAGES.bloat, '--no-mount', '--format', 'json']);
      if (process.env.A11_DUMP) fs.writeFileSync(process.env.A11_DUMP, r.stdout);
      assert.notEqual(r.code, EXIT.ok, `verify said OK although ${target.file} of the top layer's tree (what containers see) was changed: ${r.stdout.slice(0, 1500)}`);
      assert.ok(r.stdout.includes(target.file.split('/').pop()!), `${target.file} named: ${r.stdout.slice(0, 3000)}`);
      // With the mount check too (it stacks the same tree, so only integrity can tell).
      const m = await runCmd(verifyCommand, [root, '--image', IMAGES.bloat, '--format', 'json']);
      assert.notEqual(m.code, EXIT.ok, `verify (with the mount check) said OK although ${target.file} was changed`);
    } finally {
      await eng.stop().catch(() => undefined);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}
