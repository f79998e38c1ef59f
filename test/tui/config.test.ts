/**
 * The user's config file ($XDG_CONFIG_HOME/layerscope/config.yaml) and dive's keybinding section: a rebound key
 * changes what the key does and what the help says; view settings change how an image opens; bad files are said.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadUserConfig } from '../../src/tui/config.js';
import { actionForKey, helpLines, useKeyConfig } from '../../src/tui/keys.js';
import { imageState } from '../../src/tui/state/index.js';
import { bloatImage } from './fixture.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-config-'));
after(() => {
  useKeyConfig(new Map());
  fs.rmSync(tmp, { recursive: true, force: true });
});

function home(files: Record<string, string>): NodeJS.ProcessEnv {
  const h = fs.mkdtempSync(path.join(tmp, 'home-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(h, rel)), { recursive: true });
    fs.writeFileSync(path.join(h, rel), text);
  }
  return { HOME: h, XDG_CONFIG_HOME: path.join(h, '.config') };
}

test("a rebound key does what its binding does, the old key no longer does, and the help shows the user's key", () => {
  const env = home({
    '.config/layerscope/config.yaml': 'keybindings:\n  quit: x\n  filter: [ctrl+g]\n  nonsense: y\nview:\n  start-layer: base\n  start-mode: changes\n  attributes: false\n  collapse: [etc]\n',
  });
  const cfg = loadUserConfig(env);
  assert.deepEqual(cfg.warnings, []);
  const warned = useKeyConfig(cfg.keys, cfg.extraKeys);
  assert.equal(warned.length, 1);
  assert.match(warned[0]!, /keybindings\.nonsense: no binding has this id/, 'an id that names no binding is said');
  const s = { ...imageState(bloatImage(), 100, 30, '', cfg.start), attrs: cfg.attrs };
  assert.deepEqual(actionForKey(s, 'x'), { type: 'quit' });
  assert.notDeepEqual(actionForKey(s, 'q'), { type: 'quit' }, 'q is no longer quit');
  assert.deepEqual(actionForKey(s, 'ctrl+g'), { type: 'filterOpen' });
  const help = helpLines().join('\n');
  assert.match(help, /\n {2}x, ctrl\+c +quit {2}\[quit\]/, 'ctrl+c always stays: a config cannot take the way out away');
  assert.match(help, /\n {2}ctrl\+g {17}filter the tree/);
  // How the image opens: layer 0's own changes, attributes off, etc/ folded.
  assert.equal(s.layer, 0);
  assert.equal(s.mode, 'changes');
  assert.equal(s.collapse.paths.has('etc'), true);
  useKeyConfig(new Map());
  assert.deepEqual(actionForKey(s, 'q'), { type: 'quit' }, 'the built-in table again');
});

test("dive's keybinding section is read (~/.dive.yaml, then $XDG_CONFIG_HOME/dive/*.yaml); layerscope's own file wins", () => {
  const env = home({
    '.dive.yaml': 'keybinding:\n  toggle-filetree-attributes: ctrl+t\n  filter-files: ctrl+f, ctrl+slash\n  quit: ctrl+q\n',
    '.config/dive/more.yaml': 'keybinding:\n  compare-all: ctrl+g\n',
    '.config/layerscope/config.yaml': 'keybindings:\n  quit: [q, ctrl+c]\n',
  });
  const cfg = loadUserConfig(env);
  assert.deepEqual(cfg.extraKeys.get('attrs'), ['ctrl+t']);
  assert.deepEqual(cfg.extraKeys.get('filter'), ['ctrl+f'], "ctrl+slash is no key a terminal sends: left out");
  assert.deepEqual(cfg.extraKeys.get('mode-aggregated'), ['ctrl+g']);
  assert.deepEqual(cfg.keys.get('quit'), ['q', 'ctrl+c'], "layerscope's own file");
  useKeyConfig(cfg.keys, cfg.extraKeys);
  const s = imageState(bloatImage(), 100, 30);
  assert.deepEqual(actionForKey(s, 'ctrl+t'), { type: 'toggleAttrs' });
  useKeyConfig(new Map());
});

test('a config file that is not YAML, not a map, or too big is said and ignored', () => {
  const env = home({ '.config/layerscope/config.yaml': 'keybindings: [unclosed\n' });
  const cfg = loadUserConfig(env);
  assert.equal(cfg.warnings.length, 1);
  assert.match(cfg.warnings[0]!, /not YAML/);
  assert.equal(cfg.keys.size, 0);
  const big = home({ '.config/layerscope/config.yaml': '#'.repeat(300 * 1024) });
  assert.match(loadUserConfig(big).warnings[0]!, /more than a config file has/);
  const list = home({ '.config/layerscope/config.yaml': '- a\n- b\n' });
  assert.match(loadUserConfig(list).warnings[0]!, /not a map/);
});
