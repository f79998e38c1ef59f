/**
 * ATTACK: terminal escape sequences in image config fields. The text report prints the config's os,
 * architecture, variant and created as they are (src/report/text.ts imageText: `platform` and `img.created` are
 * not passed through safeText), so `layerscope report` on the archive below retitles the terminal (OSC 0) and
 * turns it red (SGR 31). Tags, commands and file names of the same archive are escaped. The same holds for a data
 * root (the config comes from imagedb). Claim broken: "names shown on screen are sanitised".
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, layerTar, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

const E = '\x1b]0;PWNED\x07\x1b[31m';

test('report text: no escape sequence from the image config reaches the terminal', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = join(dir, 'esc.tar');
  writeFileSync(file, legacySave([{ tag: 'app:1', layers: [layerTar({ 'etc/x': 'x' })], extra: { os: `linux${E}`, architecture: `amd64${E}`, variant: `v8${E}`, created: `2024-01-01T00:00:00Z${E}` } }]));
  for (const args of [['report', file], ['report', file, '--verify']]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
    const raw = r.stdout.split('\n').filter((l) => l.includes('\x1b'));
    assert.deepEqual(raw, [], `raw ESC reaches the terminal: ${JSON.stringify(raw)}`);
  }
});
