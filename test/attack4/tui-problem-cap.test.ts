/**
 * ATTACK: a docker save archive (~600 KB) of one image over 12 layers; each layer holds 150 top-level AUFS
 * metadata files with content (`.wh..wh.m<L>-<i>`): 1,800 warnings of one code (`layer.aufs-metadata.content`),
 * capped at 100 (+1 counting the rest) per layer. Opened in the TUI, `p` on the image.
 *
 * Observed: the TUI's problem screen (currentProblems of the image screen, which the `p` view lists and
 * scrolls) holds 1,212 problems of that code, where `report` lists 1,001: the image analysis carries every
 * layer's problems and the TUI shows them without the per-source cap. The count grows with the layers: an
 * image of 4,096 such layers gives 413,696 problem rows.
 *
 * Expected: README "problems of one kind are listed up to 100 (per layer; 1,000 per source) and then counted",
 * on every output including the TUI's problem screen: at most 1,001 of one code.
 *
 * Code at fault: src/tui/state.ts currentProblems: `[...s.sourceProblems, ...own]` with `own` the image's
 * analysis.problems as is (no dedupe() from src/core/analysis/host.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { layerTar, legacySave, tempDir } from '../sources/archive/hostile-helpers.js';
import { openSource } from '../../src/core/sources/open.js';
import { analyzeImage } from '../../src/core/analysis/analyze.js';
import { currentProblems, imageState } from '../../src/tui/state/index.js';

test('the TUI problem screen of one image lists at most 1,000 problems of one code', { timeout: 60_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const layers = Array.from({ length: 12 }, (_, l) => {
    const files: Record<string, string> = { [`etc/l${l}`]: 'x' };
    for (let i = 0; i < 150; i++) files[`.wh..wh.m${l}-${i}`] = 'y';
    return layerTar(files);
  });
  const archive = join(dir, 'a.tar');
  writeFileSync(archive, legacySave([{ tag: 'a:1', layers }]));
  const source = await openSource(archive);
  t.after(() => source.close());
  const analysis = await analyzeImage(source, source.images[0]!);
  const s = { ...imageState(analysis, 120, 40, archive), sourceProblems: source.problems };
  const mine = currentProblems(s).filter((p) => p.code === 'layer.aufs-metadata.content');
  assert.ok(mine.length > 0, 'no layer.aufs-metadata.content problem at all');
  assert.ok(mine.length <= 1001, `the TUI problem screen lists ${mine.length} layer.aufs-metadata.content problems (report: 1,001)`);
});
