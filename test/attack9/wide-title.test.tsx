/**
 * Red team 9: the viewer's and extract's titles carry the file's name, and Pane cuts a title by its UTF-16 length,
 * not by the columns it takes. A name of 40 CJK characters (80 columns; valid UTF-8, nothing to escape) fits by
 * length at 80x24, so it is not cut: Ink wraps the top border onto a second line, the right corner lands
 * mid-screen and the pane's last row falls off.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { analyzeChanges } from '../../src/core/analysis/analyze.js';
import { compareWalkOrder } from '../../src/core/model/path.js';
import { image, dir, file } from '../tui/fixture.js';
import { imageState } from '../../src/tui/state/index.js';
import { drive, K } from '../tui/harness.js';

/** Paths in the model are byte strings (one char per byte): a UTF-8 name as the sources store it. */
const NAME = Buffer.from(`x/${'界'.repeat(40)}`, 'utf8').toString('latin1');

/** Terminal columns of a line: East Asian wide characters take two (enough for this test's names). */
const WIDE = /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/;
const stringWidth = (l: string) => [...l].reduce((n, c) => n + (WIDE.test(c) ? 2 : 1), 0);

function assertFrame(f: string, what: string): void {
  const lines = f.split('\n');
  assert.equal(lines.length, 24, `${what}: ${lines.length} lines`);
  for (const l of lines) assert.ok(stringWidth(l) <= 80, `${what}: a line of ${stringWidth(l)} columns: ${l}`);
  assert.match(lines[1]!, /^┏━ .*┓$/, `${what}: the top border is broken:\n${lines.slice(0, 3).join('\n')}`);
  assert.match(lines[22]!, /^┗━+┛$/, `${what}: the bottom border is not on row 23`);
}

test('a file named with 40 CJK characters: the viewer and extract keep their borders at 80x24', async () => {
  const entries = [dir('x'), file(NAME, 10)].sort((a, b) => compareWalkOrder(a.path, b.path));
  const a = analyzeChanges(image('cjk:1', ['ADD']), [{ entries, problems: [] }]);
  const d = await drive(imageState(a, 80, 24));
  try {
    await d.press(K.tab, 'j', 'o');
    assert.ok(d.state().viewer, 'the viewer is open');
    assertFrame(d.frame(), 'viewer');
    await d.press(K.esc, 'x');
    assert.ok(d.state().extract, 'the extract prompt is open');
    assertFrame(d.frame(), 'extract');
  } finally {
    d.unmount();
  }
});
