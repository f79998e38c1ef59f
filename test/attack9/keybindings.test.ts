/**
 * Red team 9: the user's key settings (config.ts, keys.ts useKeyConfig).
 *
 * 1. dive's default `~/.dive.yaml` (the `keybinding:` section dive's README prints, which dive users copy) is read
 *    and replaces our keys: `quit: ctrl+c` leaves `q` doing nothing while every footer still says `q quit`, and
 *    `toggle-modified-files: ctrl+m` binds show-modified to a key a terminal never sends (ctrl+m is Enter, as
 *    the help itself says): the modified filter has no key left at all.
 * 2. A rebinding that takes quit's keys away (`quit: j`; j is also move-down, which wins) leaves the image view
 *    with no key that quits: Ink's own Ctrl-C exit is off (raw mode, exitOnCtrlC: false), so Ctrl-C must stay.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadUserConfig } from '../../src/tui/config.js';
import { actionForKey, useKeyConfig } from '../../src/tui/keys.js';
import { imageState, reduce, type State } from '../../src/tui/state/index.js';
import { bloatImage } from '../tui/fixture.js';

/** dive's default keybinding section, as dive's README documents it. */
const DIVE_DEFAULT = `keybinding:
  quit: ctrl+c
  toggle-view: tab
  filter-files: ctrl+f, ctrl+slash
  compare-all: ctrl+a
  compare-layer: ctrl+l
  toggle-collapse-dir: space
  toggle-collapse-all-dir: ctrl+space
  toggle-added-files: ctrl+a
  toggle-removed-files: ctrl+r
  toggle-modified-files: ctrl+m
  toggle-unmodified-files: ctrl+u
  toggle-filetree-attributes: ctrl+b
  page-up: pgup
  page-down: pgdn
`;

function imageView(): State {
  return reduce(imageState(bloatImage(), 80, 24), { type: 'filesReady' } as never);
}

test("dive's default ~/.dive.yaml: q still quits (the footer says so)", (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-attack9-keys-'));
  t.after(() => {
    useKeyConfig(new Map());
    fs.rmSync(home, { recursive: true, force: true });
  });
  fs.writeFileSync(path.join(home, '.dive.yaml'), DIVE_DEFAULT);
  const cfg = loadUserConfig({ HOME: home });
  useKeyConfig(cfg.keys);
  for (const focus of ['layers', 'files'] as const) {
    const s = { ...imageView(), focus };
    assert.deepEqual(actionForKey(s, 'q'), { type: 'quit' }, `${focus} pane: q no longer quits, yet the footer says "q quit"`);
  }
});

test("dive's default ~/.dive.yaml: the modified filter keeps a key a terminal can send", (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-attack9-keys-'));
  t.after(() => {
    useKeyConfig(new Map());
    fs.rmSync(home, { recursive: true, force: true });
  });
  fs.writeFileSync(path.join(home, '.dive.yaml'), DIVE_DEFAULT);
  const cfg = loadUserConfig({ HOME: home });
  useKeyConfig(cfg.keys);
  const s = { ...imageView(), focus: 'files' as const };
  // normalizeKey turns the byte ctrl+m sends (CR) into 'enter': 'ctrl+m' never reaches actionForKey.
  const modified = ['M', 'enter'].map((k) => actionForKey(s, k)).filter((a) => (a as { kind?: string } | null)?.kind === 'modified');
  assert.ok(modified.length > 0 || cfg.warnings.some((w) => /ctrl\+m/.test(w)), 'show-modified is bound only to ctrl+m (a terminal sends Enter): no key toggles it, and nothing is said');
});

test('quit rebound to j (a key that already moves down): some key still quits the image view', (t) => {
  t.after(() => useKeyConfig(new Map()));
  useKeyConfig(new Map([['quit', ['j']]]));
  for (const focus of ['layers', 'files', 'summary'] as const) {
    const s = { ...imageView(), focus };
    const quits = ['j', 'q', 'ctrl+c'].filter((k) => (actionForKey(s, k) as { type?: string } | null)?.type === 'quit');
    assert.ok(quits.length > 0, `${focus} pane: no key quits (j moves down, q and ctrl+c do nothing); the TUI can only be killed from elsewhere`);
  }
});
