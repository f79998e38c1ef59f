/**
 * ATTACK: a config.v2.json mount point whose `Type` is `"bind\u001b]0;owned\u0007\u001b[2J"` (an OSC title
 * sequence and a clear-screen). Go reads any string into mount.Type.
 *
 * Observed: `layerscope inspect ROOT --container web` (text) prints the MOUNTS line
 * "  bind\x1b]0;owned\x07\x1b[2J /x -> /h  rw" with the raw ESC and BEL bytes: the examiner's terminal title is
 * set and the screen cleared (every other field of that line goes through safeText).
 *
 * Expected: no raw control character from the evidence in the text output (shown escaped, `\e`).
 *
 * Code at fault: src/report/inspect.ts containerInspectText, the MOUNTS line: `${(m.Type ?? '-').padEnd(6)}`
 * is not passed through safeText.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { inspectContainer } from './lib.js';

before(assertBuilt);

test('mount Type with terminal escapes is shown escaped by inspect text', { timeout: 30_000 }, async () => {
  const r = await inspectContainer({ MountPoints: { '/h': { Source: '/x', Destination: '/h', RW: true, Type: 'bind\u001b]0;owned\u0007\u001b[2J' } } }, {});
  const line = r.text.split('\n').find((l) => l.includes('-> /h')) ?? '';
  assert.doesNotMatch(r.text, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, `raw control characters in inspect text: ${JSON.stringify(line)}`);
});
