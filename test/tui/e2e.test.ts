/**
 * End to end: the built CLI in a real terminal (tmux, 100x30) on a real `docker save` archive: open it, move to
 * the layer that deleted a large file and see it marked with its size, search a path, open the help, quit;
 * a file named with ESC ] 0 ; PWNED BEL must change neither the pane title nor the screen; the terminal
 * (alternate screen, mouse reporting) is restored after q, Ctrl-C and SIGTERM.
 *
 * Needs tmux and a build (`npm run build`, which `npm test` runs first). An engine-backed variant runs the same
 * checks on the docker20 data root's ls-bloat:1 (skipped loudly without an engine).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeE2EArchive } from './archive.js';
import { getEngine } from '../support/engine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOCK = `ls-e2e-${process.pid}`;
let tmp = '';
let archive = '';

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCK, ...args], { encoding: 'utf8' });
}

/** The command that runs the TUI: the real binary once `tui` is registered, else the launcher. */
function cliCommand(): string[] {
  const index = path.join(ROOT, 'dist/cli/commands/index.js');
  const registered = fs.existsSync(index) && /tuiCommand/.test(fs.readFileSync(index, 'utf8'));
  return registered ? ['node', path.join(ROOT, 'bin/layerscope.js')] : ['node', path.join(ROOT, 'test/tui/launch.mjs')];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Term {
  constructor(readonly name: string) {}
  static start(name: string, argv: string[], env: Record<string, string> = {}): Term {
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const envs = Object.entries(env).map(([k, v]) => `${k}=${q(v)}`).join(' ');
    // CI=true would make `layerscope SOURCE` run the CI gate (as dive does): these tests are about the browser.
    const script = `unset CI; ${envs} ${argv.map(q).join(' ')}; echo "EXIT=$?"; sleep 60`;
    tmux('new-session', '-d', '-x', '100', '-y', '30', '-s', name, 'sh', '-c', script);
    return new Term(name);
  }
  screen(): string {
    return tmux('capture-pane', '-p', '-t', this.name);
  }
  fmt(f: string): string {
    return tmux('display', '-p', '-t', this.name, f).trim();
  }
  keys(...keys: string[]): void {
    tmux('send-keys', '-t', this.name, ...keys);
  }
  text(s: string): void {
    tmux('send-keys', '-t', this.name, '-l', s);
  }
  /** From the first view (the whole image) to layer 0's own changes, where these tests walk from. */
  async toBase(): Promise<void> {
    this.keys('g', 'C-l');
    await this.waitFor(/Files: L0 changes/);
  }

  async waitFor(re: RegExp, ms = 15000): Promise<string> {
    const end = Date.now() + ms;
    let last = '';
    while (Date.now() < end) {
      last = this.screen();
      if (re.test(last)) return last;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${re} on the screen:\n${last}`);
  }
  /** pid of the node process running in the pane (child of the pane's sh). */
  nodePid(): number {
    const sh = this.fmt('#{pane_pid}');
    const out = execFileSync('pgrep', ['-P', sh, '-x', 'node'], { encoding: 'utf8' }).trim();
    return Number(out.split('\n')[0]);
  }
  kill(): void {
    try {
      tmux('kill-session', '-t', this.name);
    } catch {}
  }
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-tui-e2e-'));
  archive = makeE2EArchive(tmp);
  // One idle session keeps our private tmux server up between tests (a server whose last session ends exits,
  // and a new-session racing with that exit fails).
  if (hasTmux()) tmux('new-session', '-d', '-s', 'keeper', 'sleep', '3600');
});

after(() => {
  try {
    execFileSync('tmux', ['-L', SOCK, 'kill-server'], { stdio: 'ignore' });
  } catch {}
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function preconditions(t: { skip: (m: string) => void; name: string }): boolean {
  if (!hasTmux()) {
    process.stderr.write(`SKIPPED (no tmux): ${t.name}\n`);
    t.skip('SKIPPED: tmux is not installed');
    return false;
  }
  if (!fs.existsSync(path.join(ROOT, 'dist/tui/run.js'))) throw new Error('not built: run `npm run build` (npm test does) before the e2e test');
  return true;
}

test('e2e: archive in tmux: deleted big file, search, help, hostile names, q restores the terminal', async (t) => {
  if (!preconditions(t)) return;
  const term = Term.start('main', [...cliCommand(), archive]);
  try {
    let s = await term.waitFor(/Layers \(4\)/);
    assert.match(s, /e2e:1/);
    // It opens as dive does, on the whole image (the top layer, everything up to it).
    assert.match(s, /Files: everything up to L3/);
    await term.toBase();
    assert.equal(term.fmt('#{alternate_on}'), '1', 'the UI runs in the alternate screen');
    assert.equal(term.fmt('#{mouse_sgr_flag}'), '1', 'SGR mouse reporting is on while the UI runs');
    assert.match(tmux('capture-pane', '-p', '-e', '-t', 'main'), /\x1b\[(3[0-7]|9[0-7]|38;)/, 'colours without NO_COLOR');
    // The layer that deleted the big file: its whiteout, with the bytes it hid.
    term.keys('j', 'j');
    s = await term.waitFor(/Files: L2 changes/);
    assert.match(s, /D -rw-r--r-- +3\.15 MB +big\.bin/);
    assert.match(s, /3\.15 MB L1>L2 +\/data\/big\.bin \(deleted\)/);
    // Hostile names are shown escaped; the pane title is not touched.
    term.keys('j');
    s = await term.waitFor(/Files: L3 changes/);
    assert.match(s, /title-\\e\]0;PWNED\\x07\.txt/);
    assert.match(s, /red-\\e\[31mtext\\e\[0m\.txt/);
    assert.doesNotMatch(term.fmt('#{pane_title}'), /PWNED/);
    // Search across layers.
    term.text('/');
    term.text('big');
    term.keys('Enter');
    s = await term.waitFor(/Search substring "big": 1 paths/);
    assert.match(s, /\/data\/big\.bin +L1 A 3\.15 MB \(deleted L2\), L2 D/);
    term.keys('Enter');
    s = await term.waitFor(/Files: everything up to L2/);
    assert.match(s, /▶D .*big\.bin/);
    // Help, generated from the key table.
    term.text('?');
    s = await term.waitFor(/generated from the key table/);
    assert.match(s, /tab +next pane \(layers, files, summary\)/);
    term.keys('Escape');
    await term.waitFor(/Files: everything up to L2/);
    assert.doesNotMatch(term.fmt('#{pane_title}'), /PWNED/);
    // Quit: exit 0, screen and modes restored.
    term.text('q');
    s = await term.waitFor(/EXIT=0/);
    assert.doesNotMatch(s, /Layers \(4\)/, 'the UI is gone from the screen (alternate screen left)');
    assert.equal(term.fmt('#{alternate_on}'), '0');
    assert.equal(term.fmt('#{mouse_sgr_flag}'), '0');
    assert.equal(term.fmt('#{mouse_standard_flag}'), '0');
    assert.equal(term.fmt('#{cursor_flag}'), '1', 'the cursor is visible again');
  } finally {
    term.kill();
  }
});

test('e2e: Ctrl-C quits with 0 and SIGTERM with 143, the terminal restored both times', async (t) => {
  if (!preconditions(t)) return;
  const a = Term.start('ctrlc', [...cliCommand(), archive]);
  try {
    await a.waitFor(/Layers \(4\)/);
    a.keys('C-c');
    await a.waitFor(/EXIT=0/);
    assert.equal(a.fmt('#{alternate_on}'), '0');
    assert.equal(a.fmt('#{mouse_sgr_flag}'), '0');
  } finally {
    a.kill();
  }
  const b = Term.start('term', [...cliCommand(), archive]);
  try {
    await b.waitFor(/Layers \(4\)/);
    process.kill(b.nodePid(), 'SIGTERM');
    const s = await b.waitFor(/EXIT=143/);
    assert.doesNotMatch(s, /Layers \(4\)/);
    assert.equal(b.fmt('#{alternate_on}'), '0');
    assert.equal(b.fmt('#{mouse_sgr_flag}'), '0');
  } finally {
    b.kill();
  }
});

test('e2e: NO_COLOR and a missing source', async (t) => {
  if (!preconditions(t)) return;
  const a = Term.start('nocolor', [...cliCommand(), archive], { NO_COLOR: '1' });
  try {
    await a.waitFor(/Layers \(4\)/);
    const coloured = tmux('capture-pane', '-p', '-e', '-t', 'nocolor');
    assert.doesNotMatch(coloured, /\x1b\[(3[0-7]|9[0-7]|38;)/, 'no foreground colour with NO_COLOR');
    a.text('q');
    await a.waitFor(/EXIT=0/);
  } finally {
    a.kill();
  }
  const b = Term.start('missing', [...cliCommand(), path.join(tmp, 'nope.tar')]);
  try {
    const s = await b.waitFor(/EXIT=3/);
    assert.match(s, /nope\.tar: (cannot open: )?no such file or directory/);
  } finally {
    b.kill();
  }
});

test('e2e (engine): the docker20 data root, ls-bloat:1: the layer that deleted data/big.bin (3 MiB)', async (t) => {
  if (!preconditions(t)) return;
  const e = getEngine(t);
  if (!e) return;
  const { BLOAT, IMAGES } = (await import('../support/fixtures-manifest.mjs')) as { BLOAT: { bigFile: { deletedIn: number; addedIn: number } }; IMAGES: { bloat: string } };
  const term = Term.start('engine', [...cliCommand(), e.dataRoot, '--image', IMAGES.bloat]);
  try {
    await term.waitFor(/Layers \(\d+\)/, 60000);
    await term.toBase();
    const del = BLOAT.bigFile.deletedIn;
    for (let i = 0; i < del; i++) term.keys('j');
    const s = await term.waitFor(new RegExp(`Files: L${del} changes`));
    assert.match(s, /D -rw-r--r-- +3\.15 MB +big\.bin/);
    assert.match(s, new RegExp(`3\\.15 MB L${BLOAT.bigFile.addedIn}>L${del} +/data/big\\.bin \\(deleted\\)`));
    term.text('/PWNED');
    term.keys('Enter');
    const r = await term.waitFor(/Search substring "PWNED"/);
    assert.match(r, /\/names\/title-\\e\]0;PWNED\\x07\.txt/);
    term.keys('Enter');
    await term.waitFor(/Files: everything up to L\d+/);
    assert.doesNotMatch(term.fmt('#{pane_title}'), /PWNED/);
    term.text('q');
    await term.waitFor(/EXIT=0/);
    assert.equal(term.fmt('#{alternate_on}'), '0');
  } finally {
    term.kill();
  }
});

test('e2e (engine): `layerscope ls-bloat:1` opens the image by reference from the engine (as dive does), saying which', async (t) => {
  if (!preconditions(t)) return;
  const e = getEngine(t);
  if (!e) return;
  const { IMAGES } = (await import('../support/fixtures-manifest.mjs')) as { IMAGES: { bloat: string } };
  // The engine's own client on PATH, pointed at the test engine: what a user with a local docker has.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-e2e-ref-'));
  fs.symlinkSync(e.client ?? '/usr/bin/docker', path.join(bin, 'docker'));
  const term = Term.start('byref', [...cliCommand(), IMAGES.bloat], { DOCKER_HOST: e.host, PATH: `${bin}:${process.env.PATH}` });
  try {
    const s = await term.waitFor(/Layers \(\d+\)/, 120000);
    assert.match(s, new RegExp(`${IMAGES.bloat.replace(/[.:]/g, '\\$&')}`));
    assert.match(s, /Files: everything up to L\d+/, 'the whole image first');
    term.text('q');
    const out = await term.waitFor(/EXIT=0/);
    assert.match(out, /reading image .* from docker/, 'it says which engine it asked');
  } finally {
    term.kill();
    fs.rmSync(bin, { recursive: true, force: true });
  }
});

test('e2e (engine): ls-bloat:1 on the docker20 data root: view data/big.bin on the row of the layer that deleted it, extract it; bytes = docker save', async (t) => {
  if (!preconditions(t)) return;
  const e = getEngine(t);
  if (!e) return;
  const { BLOAT, IMAGES } = (await import('../support/fixtures-manifest.mjs')) as { BLOAT: { bigFile: { deletedIn: number; addedIn: number; size: number } }; IMAGES: { bloat: string } };
  const { savedLayers } = await import('../workflows/engine-answers.js');
  // The engine's bytes: the layer tar that added the file, from docker save.
  const saved = (await savedLayers(e, IMAGES.bloat))[BLOAT.bigFile.addedIn]!.get('data/big.bin')!;
  assert.equal(saved.size, BLOAT.bigFile.size);
  const term = Term.start('viewer', [...cliCommand(), e.dataRoot, '--image', IMAGES.bloat]);
  try {
    await term.waitFor(/Layers \(\d+\)/, 60000);
    await term.toBase();
    const del = BLOAT.bigFile.deletedIn;
    for (let i = 0; i < del; i++) term.keys('j');
    await term.waitFor(new RegExp(`Files: L${del} changes`));
    term.keys('Tab');
    let s = '';
    for (let i = 0; i < 30; i++) {
      s = term.screen();
      if (/▶D .*big\.bin/.test(s)) break;
      term.keys('j');
      await sleep(150);
    }
    assert.match(s, /▶D .*big\.bin/);
    term.text('o');
    s = await term.waitFor(/sha256 [0-9a-f]{64}/, 30000);
    // The version the deleting layer hid, read from the layer that wrote it, as hexdump -C shows it.
    assert.match(s, new RegExp(`View /data/big\\.bin at L${del - 1} · hex`));
    assert.match(s, new RegExp(`written by L${BLOAT.bigFile.addedIn}, seen at L${del - 1} · 3,145,728 bytes`));
    assert.equal(/sha256 ([0-9a-f]{64})/.exec(s)![1], saved.sha256);
    assert.match(s, /00000000 {2}00 00 00 00 00 00 00 00 {2}00 00 00 00 00 00 00 00 {2}\|\.{16}\|.*\n┃\*\s*┃\n┃00100000 {2}6c 61 79 65 72 73 63 6f {2}70 65 2d 62 6c 6f 61 74 {2}\|layerscope-bloat\|/);
    // Extract it from the viewer into a directory typed in the prompt.
    const out = path.join(tmp, 'viewer-out');
    term.text('x');
    await term.waitFor(/Into directory:/);
    term.text(out);
    term.keys('Enter');
    s = await term.waitFor(/extracted \/data\/big\.bin/, 30000);
    assert.match(s, /1 file \(3,145,728 bytes/);
    const got = fs.readFileSync(path.join(out, 'data/big.bin'));
    assert.equal(createHash('sha256').update(got).digest('hex'), saved.sha256);
    term.keys('Escape');
    await term.waitFor(/View \/data\/big\.bin/);
    term.text('q');
    await term.waitFor(new RegExp(`Files: L${del} changes`));
    term.text('q');
    await term.waitFor(/EXIT=0/);
  } finally {
    term.kill();
  }
});

test('e2e (engine): V verifies in place on copies of the docker20 data root: untouched = OK; a setuid chmod in L2 is marked ! in the tree; no mount is left', async (t) => {
  if (!preconditions(t)) return;
  const e = getEngine(t);
  if (!e) return;
  const { IMAGES } = (await import('../support/fixtures-manifest.mjs')) as { IMAGES: { bloat: string } };
  const { copyTree } = await import('../support/engine.js');
  const { readMountInfo } = await import('../../src/core/verify/mount/mountinfo.js');
  const ours = () => readMountInfo().filter((m) => m.mountPoint.includes('/layerscope-mnt-'));
  const before = ours().length;
  const copy = path.join(tmp, 'root-copy');
  await copyTree(e.dataRoot, copy);
  const run = async (expect: RegExp): Promise<string> => {
    const term = Term.start('verify', [...cliCommand(), copy, '--image', IMAGES.bloat]);
    try {
      await term.waitFor(/Layers \(\d+\)/, 60000);
      await term.toBase();
      term.keys('j', 'j');
      await term.waitFor(/Files: L2 changes/);
      term.text('V');
      const s = await term.waitFor(expect, 120000);
      assert.match(s, /mount check of ls-bloat:1 layer 2 \(read-only overlay\)/);
      term.keys('Escape');
      await term.waitFor(/Files: L2 changes/);
      term.keys('Tab');
      let tree = '';
      for (let i = 0; i < 20; i++) {
        tree = term.screen();
        if (/▶..-rw.*chmod-only\.txt/.test(tree)) break;
        term.keys('j');
        await sleep(150);
      }
      term.text('q');
      await term.waitFor(/EXIT=0/);
      return tree;
    } finally {
      term.kill();
    }
  };
  // Untouched: the kernel's view, ours and the image as built agree; L2 reassembles to its diffID.
  let tree = await run(/OK: nothing differs/);
  assert.match(tree, /▶A -rw-r--r-- .*chmod-only\.txt/);
  // Tampered (as test/verify does it: mtime put back): the kernel's view differs from the layer as built.
  const { openSource } = await import('../../src/core/sources/open.js');
  const src = await openSource(copy);
  const l2 = src.images.find((i) => i.tags.includes(IMAGES.bloat))!.layers[2]!.location!;
  await src.close();
  const f = path.join(l2, 'data/chmod-only.txt');
  const st = fs.lstatSync(f);
  fs.chmodSync(f, 0o4755);
  fs.utimesSync(f, st.atime, st.mtime);
  tree = await run(/FAILED: \d+ differences?, marked ! in the tree/);
  assert.match(tree, /▶A!-rwsr-xr-x .*chmod-only\.txt +\[verify: mod/);
  assert.equal(ours().length, before, 'every mount was undone');
  fs.rmSync(copy, { recursive: true, force: true });
});
