/**
 * ATTACK: a container label / env value / log line holding C1 controls and bidi overrides encoded as UTF-8:
 * U+009B (CSI: `\u009b2J` clears the screen in xterm, which acts on UTF-8-encoded C1 controls) and U+202E (right-
 * to-left override: text shown reversed). The text output escapes them (checked: no such bytes reach a TTY), but
 * with `--format json` to a terminal JSON.stringify leaves them as raw bytes (it escapes only U+0000-U+001F, so
 * ESC itself is safe): `inspect --format json`, `report --format json`, `volumes --format json` and `logs --format
 * json` write C2 9B and E2 80 AE to the investigator's terminal.
 *
 * Expected: to a terminal, JSON output escapes C1 controls and bidi/zero-width characters as \uXXXX (still valid,
 * equal JSON); to a pipe it may stay as it is. Here: run under a pty (`script`), no raw U+009B / U+202E.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { assertBuilt, ROOT, tempDir } from '../sources/archive/hostile-helpers.js';
import { containerRoot } from '../attack6/helpers.js';

before(assertBuilt);

const BAD = '\u009b2J\u202eX';

test('--format json to a terminal does not carry raw C1 controls or bidi overrides', { timeout: 60_000 }, (t) => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
  } catch {
    t.skip('no `script` (util-linux) to make a pty');
    return;
  }
  const { dir, cleanup } = tempDir();
  try {
    const root = containerRoot(dir, { Config: { Image: 'app:1', User: '1000', Labels: { note: BAD }, Env: [`A=${BAD}`] } }, {});
    const bin = join(ROOT, 'bin/layerscope.js');
    for (const args of [['inspect', root, '--container', 'web', '--format', 'json'], ['report', root, '--format', 'json']]) {
      const cmd = [process.execPath, bin, ...args].map((a) => `'${a}'`).join(' ');
      const out = execFileSync('script', ['-q', '-c', cmd, '/dev/null'], { env: { ...process.env, TERM: 'xterm' } });
      assert.ok(out.includes('web') && (args[0] !== 'inspect' || out.includes('"note"')), `ran: ${out.toString().slice(0, 300)}`);
      assert.equal(out.includes(Buffer.from('\u009b')), false, `${args[0]} --format json wrote a raw U+009B (CSI) to a terminal`);
      assert.equal(out.includes(Buffer.from('\u202e')), false, `${args[0]} --format json wrote a raw U+202E to a terminal`);
    }
  } finally {
    cleanup();
  }
});
