import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { NO_COLLAPSE, type CollapseState, type TreeMode } from './file-tree.js';

/**
 * The user's settings: `$XDG_CONFIG_HOME/layerscope/config.yaml` (default `~/.config/layerscope/config.yaml`):
 *
 *   keybindings:            # a binding's id (the help shows them) -> a key or a list of keys
 *     quit: [q, ctrl+c]
 *     filter: ctrl+f
 *   view:
 *     start-layer: top      # top (the whole image, as dive opens) | base
 *     start-mode: aggregated # aggregated | changes
 *     attributes: true      # the mode, owner and size columns
 *     empty-steps: true     # history steps that made no layer, in the layer list
 *     collapse: [usr/share, var/lib]   # dirs folded when an image opens
 *   colors: true            # false: no colours (as NO_COLOR)
 *
 * dive's own `keybinding:` section is read too, from `~/.dive.yaml` or `$XDG_CONFIG_HOME/dive/*.yaml`, for the
 * keys both tools have (layerscope's own file wins). Settings are the user's, not evidence: a file that is not
 * there is no problem; one that is there but wrong is said (on stderr) and the defaults stay.
 */

export interface UserConfig {
  /** Binding id -> keys, from layerscope's own file: they replace the binding's keys. */
  keys: Map<string, string[]>;
  /** Binding id -> keys from dive's file: added to the binding's own (a dive user's habits, ours kept). */
  extraKeys: Map<string, string[]>;
  start: { layer: 'top' | 'base'; mode: TreeMode; collapse: CollapseState };
  attrs: boolean;
  emptySteps: boolean;
  colors: boolean | null;
  /** Where each setting came from, for the help. */
  files: string[];
  /** What was wrong in the files read (said, then ignored). */
  warnings: string[];
}

/** dive's keybinding names -> ours (the keys dive has that layerscope has too). */
export const DIVE_KEYS: Readonly<Record<string, string>> = Object.freeze({
  quit: 'quit',
  'toggle-view': 'pane-next',
  'filter-files': 'filter',
  'compare-layer': 'mode-changes',
  'compare-all': 'mode-aggregated',
  'toggle-collapse-dir': 'fold',
  'toggle-collapse-all-dir': 'fold-all',
  'toggle-added-files': 'show-added',
  'toggle-removed-files': 'show-removed',
  'toggle-modified-files': 'show-modified',
  'toggle-unmodified-files': 'show-unmodified',
  'toggle-filetree-attributes': 'attrs',
  'page-up': 'page-up',
  'page-down': 'page-down',
  'extract-file': 'extract',
});

/** A config file is small: anything bigger is not a config file. */
const MAX_CONFIG = 256 * 1024;

export function defaultConfig(): UserConfig {
  return { keys: new Map(), extraKeys: new Map(), start: { layer: 'top', mode: 'aggregated', collapse: NO_COLLAPSE }, attrs: true, emptySteps: true, colors: null, files: [], warnings: [] };
}

/** The settings from the user's files (layerscope's over dive's), for the environment given. */
export function loadUserConfig(env: NodeJS.ProcessEnv = process.env): UserConfig {
  const cfg = defaultConfig();
  const home = env.HOME || os.homedir();
  const xdg = env.XDG_CONFIG_HOME || path.join(home, '.config');
  // dive's first, so that layerscope's own file overrides it.
  const diveFiles = [path.join(home, '.dive.yaml'), ...listYaml(path.join(xdg, 'dive'))];
  for (const f of diveFiles) {
    const doc = readYaml(f, cfg);
    if (!doc) continue;
    const kb = (doc as Record<string, unknown>).keybinding;
    if (kb === undefined) continue;
    if (!isMap(kb)) {
      cfg.warnings.push(`${f}: keybinding is not a map; ignored`);
      continue;
    }
    for (const [name, v] of Object.entries(kb)) {
      const id = DIVE_KEYS[name];
      if (!id) continue;
      const keys = keyList(v).map(diveKey).filter((k): k is string => k !== null);
      if (keys.length) cfg.extraKeys.set(id, keys);
    }
  }
  const own = path.join(xdg, 'layerscope', 'config.yaml');
  const doc = readYaml(own, cfg);
  if (doc) applyOwn(doc, own, cfg);
  return cfg;
}

function applyOwn(doc: unknown, file: string, cfg: UserConfig): void {
  if (!isMap(doc)) {
    cfg.warnings.push(`${file}: not a map of settings; ignored`);
    return;
  }
  const kb = doc.keybindings;
  if (kb !== undefined) {
    if (!isMap(kb)) cfg.warnings.push(`${file}: keybindings is not a map; ignored`);
    else for (const [id, v] of Object.entries(kb)) {
      const all = keyList(v);
      const keys = all.filter(sendableKey);
      for (const k of all.filter((x) => !sendableKey(x))) cfg.warnings.push(`${file}: keybindings.${id}: ${JSON.stringify(k)} is no key a terminal sends apart; left out`);
      if (keys.length) cfg.keys.set(id, keys);
      else if (!all.length) cfg.warnings.push(`${file}: keybindings.${id}: expected a key or a list of keys`);
    }
  }
  const view = doc.view;
  if (view !== undefined) {
    if (!isMap(view)) cfg.warnings.push(`${file}: view is not a map; ignored`);
    else {
      const layer = view['start-layer'];
      if (layer === 'top' || layer === 'base') cfg.start = { ...cfg.start, layer };
      else if (layer !== undefined) cfg.warnings.push(`${file}: view.start-layer: expected top or base`);
      const mode = view['start-mode'];
      if (mode === 'aggregated' || mode === 'changes') cfg.start = { ...cfg.start, mode };
      else if (mode !== undefined) cfg.warnings.push(`${file}: view.start-mode: expected aggregated or changes`);
      if (typeof view.attributes === 'boolean') cfg.attrs = view.attributes;
      if (typeof view['empty-steps'] === 'boolean') cfg.emptySteps = view['empty-steps'];
      const collapse = view.collapse;
      if (Array.isArray(collapse)) {
        const paths = collapse.filter((x): x is string => typeof x === 'string').map((x) => x.replace(/^\/+|\/+$/g, '')).filter(Boolean);
        cfg.start = { ...cfg.start, collapse: { all: false, paths: new Set(paths) } };
      } else if (collapse !== undefined) cfg.warnings.push(`${file}: view.collapse: expected a list of paths`);
    }
  }
  if (typeof doc.colors === 'boolean') cfg.colors = doc.colors;
}

function readYaml(file: string, cfg: UserConfig): unknown {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return null;
    if (st.size > MAX_CONFIG) {
      cfg.warnings.push(`${file}: ${st.size} bytes, more than a config file has; ignored`);
      return null;
    }
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    cfg.files.push(file);
    return parse(text, { maxAliasCount: 100 }) ?? null;
  } catch (err) {
    cfg.warnings.push(`${file}: not YAML (${(err as Error).message.split('\n')[0]}); ignored`);
    return null;
  }
}

function listYaml(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((n) => /\.ya?ml$/.test(n))
      .sort()
      .map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `q`, `[q, ctrl+c]` or dive's `"ctrl+c, q"` -> key names. */
function keyList(v: unknown): string[] {
  const raw = typeof v === 'string' ? v.split(',') : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  return raw.map((k) => k.trim()).filter(Boolean);
}

/** A dive key name as ours, or null for one a terminal cannot send apart (ctrl+slash; ctrl+m is Enter). */
function diveKey(k: string): string | null {
  const low = k.toLowerCase();
  return sendableKey(low) ? low : [...k].length === 1 && sendableKey(k) ? k : null;
}

const NAMED = new Set(['up', 'down', 'left', 'right', 'pgup', 'pgdn', 'home', 'end', 'enter', 'esc', 'tab', 'shift+tab', 'space', 'backspace', 'ctrl+space']);

/**
 * Whether a terminal sends this key so that we can tell it apart (key names as the help shows them): a printable
 * character, a named key, or ctrl with a letter other than m, i, h (those arrive as Enter, Tab and Backspace).
 */
export function sendableKey(k: string): boolean {
  if (NAMED.has(k)) return true;
  if (/^ctrl\+[a-z]$/.test(k)) return !['ctrl+m', 'ctrl+i', 'ctrl+h'].includes(k);
  const chars = [...k];
  return chars.length === 1 && !/[\x00-\x20\x7f-\x9f]/.test(k);
}
