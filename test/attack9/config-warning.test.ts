/**
 * Red team 9: "A file that is not YAML, not a map or over 256 KiB, and an id that names no binding, are said on
 * stderr and ignored" (README). runTui switches to the alternate screen first, then writes those warnings to
 * stderr, which is the same terminal: they land on the alternate screen, Ink draws over them, and leaving the
 * alternate screen drops them. The user never sees why their settings did nothing. Built binary, in tmux.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SOCK = `ls-attack9-${process.pid}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCK, ...args], { encoding: 'utf8' });

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function waitFor(re: RegExp, ms = 20000): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    last = tmux('capture-pane', '-p', '-S', '-', '-t', 'cfg');
    if (re.test(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${re}:\n${last}`);
}

test('a broken config file: its warning can be read by the user (on screen or after quitting)', async (t) => {
  if (!hasTmux()) {
    t.skip('SKIPPED LOUDLY: tmux is not installed');
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-attack9-cfg-'));
  t.after(() => {
    try {
      execFileSync('tmux', ['-L', SOCK, 'kill-server'], { stdio: 'ignore' });
    } catch {}
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  fs.mkdirSync(path.join(tmp, 'layerscope'));
  fs.writeFileSync(path.join(tmp, 'layerscope', 'config.yaml'), 'keybindings: [\n  bad');
  const script = `unset CI; XDG_CONFIG_HOME='${tmp}' node '${path.join(ROOT, 'bin/layerscope.js')}' '${path.join(ROOT, 'demo/demo.tar')}'; echo "EXIT=$?"; sleep 60`;
  tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', 'cfg', 'sh', '-c', script);
  const shown = await waitFor(/q quit/);
  tmux('send-keys', '-t', 'cfg', 'q');
  const after = await waitFor(/EXIT=0/);
  const said = /config\.yaml: not YAML/;
  assert.ok(said.test(shown) || said.test(after), `the warning was written to stderr on the alternate screen and lost; after quitting the terminal shows:\n${after}`);
});
