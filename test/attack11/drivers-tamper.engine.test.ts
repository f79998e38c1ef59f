/**
 * Red team (attack11): tampering with a whole-tree store (vfs, the first overlay driver, btrfs on Docker 20.10)
 * must never verify OK. Each case spoils a fresh copy (cp -a) of the engine's data root, then `verify --no-mount`
 * must say not OK. These held when written (attack11); they stay as regressions beside the ones that did not.
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

/** What the cases need to know of the store: every layer's dir and the files each layer itself puts. */
interface Layout {
  dirs: string[];
  puts: string[][];
}

async function layout(root: string): Promise<Layout> {
  const s = await openSource(root);
  try {
    const img = s.images.find((i) => i.tags.includes(IMAGES.bloat))!;
    const dirs = img.layers.map((l) => l.location!);
    const puts: string[][] = [];
    for (let n = 0; n < img.layers.length; n++) {
      const files: string[] = [];
      for (const e of (await s.readLayer(img, n)).each()) if (e.kind === 'put' && e.attrs.type === 'file' && e.attrs.size > 0 && !/[\n\ufffd]/.test(e.path)) files.push(e.path);
      puts.push(files);
    }
    return { dirs, puts };
  } finally {
    await s.close();
  }
}

/** The top layer that puts a file, and that file. */
function someFile(l: Layout, below = l.dirs.length): { n: number; file: string } {
  for (let n = below - 1; n >= 0; n--) if (l.puts[n]!.length) return { n, file: l.puts[n]![0]! };
  throw new Error('no layer puts a file');
}

const CASES: [string, (l: Layout) => void][] = [
  ['chmod of a file the top layer puts', (l) => {
    const { n, file } = someFile(l);
    const p = path.join(l.dirs[n]!, file);
    fs.chmodSync(p, (fs.lstatSync(p).mode & 0o7777) ^ 0o001);
  }],
  ['chown of a file a layer puts', (l) => {
    const { n, file } = someFile(l);
    const p = path.join(l.dirs[n]!, file);
    const st = fs.lstatSync(p);
    fs.lchownSync(p, st.uid + 1, st.gid);
  }],
  ['a file added to the top layer tree (its dir times kept)', (l) => {
    const top = l.dirs[l.dirs.length - 1]!;
    const st = fs.lstatSync(path.join(top, 'etc'));
    fs.writeFileSync(path.join(top, 'etc', 'attack11'), 'planted');
    fs.utimesSync(path.join(top, 'etc'), st.atime, st.mtime);
  }],
  ['a file the base layer puts, deleted from the top layer tree (its dir times kept)', (l) => {
    const top = l.dirs[l.dirs.length - 1]!;
    const file = l.puts[0]!.find((f) => fs.existsSync(path.join(top, f)))!;
    const dir = path.dirname(path.join(top, file));
    const st = fs.lstatSync(dir);
    fs.rmSync(path.join(top, file));
    fs.utimesSync(dir, st.atime, st.mtime);
  }],
  ['a file of the base layer, changed in place in the base tree (size, mtime kept; shared by hard links on overlay)', (l) => {
    const file = l.puts[0]!.find((f) => fs.lstatSync(path.join(l.dirs[0]!, f)).size > 0)!;
    const p = path.join(l.dirs[0]!, file);
    const st = fs.lstatSync(p);
    const b = fs.readFileSync(p);
    b[0] = b[0]! ^ 0xff;
    fs.writeFileSync(p, b);
    fs.utimesSync(p, st.atime, st.mtime);
  }],
  ['two layer dirs swapped', (l) => {
    const a = l.dirs[l.dirs.length - 1]!;
    const b = l.dirs[l.dirs.length - 2]!;
    fs.renameSync(a, a + '.x');
    fs.renameSync(b, a);
    fs.renameSync(a + '.x', b);
  }],
];

for (const driver of ['vfs', 'overlay', 'btrfs'] as DriverName[]) {
  test(`${driver}: tampered copies of the store are never verified OK`, { timeout: 900_000 }, async (t) => {
    const src = getEngine(t, 'docker20');
    if (!src) return;
    const eng = await startDriverEngineFor(t, driver);
    if (!eng) return;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ls-a11t-${driver}-`));
    try {
      await loadFrom(src, eng, [IMAGES.bloat]);
      const pristine = path.join(tmp, 'pristine');
      execFileSync('cp', ['-a', eng.dataRoot, pristine]);
      await eng.stop();
      for (const [name, spoil] of CASES) {
        await t.test(name, async () => {
          const root = path.join(tmp, 'case');
          fs.rmSync(root, { recursive: true, force: true });
          execFileSync('cp', ['-a', pristine, root]);
          spoil(await layout(root));
          const r = await runCmd(verifyCommand, [root, '--image', IMAGES.bloat, '--no-mount', '--format', 'json']);
          assert.notEqual(r.code, EXIT.ok, `verify said OK after: ${name}`);
        });
      }
    } finally {
      await eng.stop().catch(() => undefined);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}
