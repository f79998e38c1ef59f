/**
 * Red team 9: keypress cost with a big image config. An image config may be 32 MiB and 1M JSON values (archive
 * bounds), so 100,000 history steps that made no layer (ENV...) and 100,000 Env entries are within what we read.
 * - The config overlay (`c`) rebuilds and re-wraps every line of the config and history for each key (in the
 *   reducer to clamp the scroll, and again in the render): each j/k costs about a second.
 * - The layer list with empty steps (on by default) rebuilds the list of all steps for each frame: every key in
 *   the image view pays O(steps), over the 16 ms a frame may take.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { analyzeChanges, type ImageAnalysis } from '../../src/core/analysis/analyze.js';
import { image, dir, file } from '../tui/fixture.js';
import { imageState, reduce, type State } from '../../src/tui/state/index.js';
import { imageConfigLines, layerLines, stepsOf } from '../../src/tui/rows.js';

function bigHistory(steps: number, env = steps): ImageAnalysis {
  const img = image('history:1', ['ADD', 'RUN x']);
  const history: unknown[] = [{ created_by: 'ADD' }];
  for (let i = 0; i < steps; i++) history.push({ created_by: `/bin/sh -c #(nop)  ENV A${i}=${i}`, empty_layer: true });
  history.push({ created_by: 'RUN x' });
  img.config = { config: { Env: Array.from({ length: env }, (_, i) => `K${i}=value-${i}`) }, history } as never;
  return analyzeChanges(img, [{ entries: [dir('a')], problems: [] }, { entries: [file('b', 1)], problems: [] }]);
}

/** The fastest of a few runs: noise on a shared machine only makes a run slower. */
function fastest(n: number, f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    f();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

test('the config overlay: one key (j) costs less than 100 ms with 100,000 history steps', () => {
  const a = bigHistory(100_000);
  let s: State = reduce(imageState(a, 80, 24), { type: 'config' } as never);
  const ms = fastest(3, () => {
    s = reduce(s, { type: 'move', delta: 1 } as never);
    // What the render builds for the overlay (App.tsx Screen).
    imageConfigLines(s.analysis!, s.layer, 76).slice(s.configScroll, s.configScroll + 20);
  });
  assert.ok(ms < 100, `a key in the config overlay took ${Math.round(ms)} ms`);
});

test('the layer list with 300,000 empty steps: one frame of it in under 16 ms', () => {
  // 300,000 steps of {created_by, empty_layer}: 900,000 JSON values, ~16 MB (under MAX_JSON_VALUES and MAX_JSON).
  const a = bigHistory(300_000, 0);
  const steps = stepsOf(a.image);
  assert.ok(steps && steps.length > 300_000);
  const ms = fastest(5, () => layerLines(a, 1, 0, 5, steps));
  assert.ok(ms < 16, `the layer list's rows took ${ms.toFixed(1)} ms to build, on every frame`);
});
