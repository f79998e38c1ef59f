/**
 * Red team 9: "a crafted line cannot freeze the screen" (regex.ts) holds for one line, not for many. V8 falls back
 * to its linear engine per exec, after 50,000 backtracks; each of N crafted lines pays those backtracks again.
 * A path filter (ctrl+f `(a+)+$`, the README's own example) over 50,000 crafted names, or a viewer search over a
 * 256 KiB text file of such lines, blocks the UI thread for seconds (minutes on a 1M-file image or a 4 MiB
 * window); meanwhile no key, Ctrl-C included, is read. The same work with a harmless pattern takes milliseconds.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { analyzeChanges } from '../../src/core/analysis/analyze.js';
import { compareWalkOrder } from '../../src/core/model/path.js';
import { image, dir, file } from '../tui/fixture.js';
import { imageState, reduce, type State } from '../../src/tui/state/index.js';
import { indexWindow, searchContent } from '../../src/tui/viewer.js';

const HOSTILE = '(a+)+$';
/** Each name: 24 `a` then a character that makes `(a+)+$` fail after trying every split. */
const crafted = (i: number) => `${'a'.repeat(24)}!${String(i).padStart(6, '0')}`;

function filterTime(query: string, s0: State): number {
  let s = reduce(s0, { type: 'filterOpen' } as never);
  for (const ch of query) s = reduce(s, { type: 'filterInput', text: ch } as never);
  const t = performance.now();
  s = reduce(s, { type: 'filterRun' } as never);
  return performance.now() - t;
}

test('ctrl+f with a backtracking pattern over 50,000 crafted names answers within a second', () => {
  const n = 50_000;
  const entries = [dir('x'), ...Array.from({ length: n }, (_, i) => file(`x/${crafted(i)}`, 1))].sort((a, b) => compareWalkOrder(a.path, b.path));
  const a = analyzeChanges(image('crafted:1', ['ADD']), [{ entries, problems: [] }]);
  const s = reduce(imageState(a, 80, 24), { type: 'filesReady' } as never);
  const harmless = filterTime('zzz$', s);
  const hostile = filterTime(HOSTILE, s);
  assert.ok(hostile < 1000, `ctrl+f ${HOSTILE} took ${Math.round(hostile)} ms (zzz$: ${Math.round(harmless)} ms): the screen is frozen meanwhile`);
});

test('a viewer search with a backtracking pattern over a 256 KiB file of crafted lines answers within half a second', () => {
  const line = `${'a'.repeat(24)}!\n`;
  const c = indexWindow(Buffer.from(line.repeat(Math.floor((256 * 1024) / line.length))), 256 * 1024);
  const t0 = performance.now();
  searchContent(c, false, 'zzz$', true);
  const harmless = performance.now() - t0;
  const t1 = performance.now();
  searchContent(c, false, HOSTILE, true);
  const hostile = performance.now() - t1;
  assert.ok(hostile < 500, `viewer /${HOSTILE} took ${Math.round(hostile)} ms (zzz$: ${Math.round(harmless)} ms); a 4 MiB window is 16 times that`);
});
