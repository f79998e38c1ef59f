/**
 * ATTACK: a docker save archive (~1 MB) of two tags a:1 and b:1 over the same 12 layers; each layer holds 150
 * top-level AUFS metadata files with content (`.wh..wh.m<L>-<i>`, one byte each): 1,800 warnings of one code
 * (`layer.aufs-metadata.content`), capped at 100 (+1 counting the rest) per layer.
 *
 * Observed: `report --format json` (and jsonl, text, files) list 1,001 of that code: the per-source cap of 1,000
 * (+1) holds. `ci ARCHIVE --image a:1 --image b:1 --format json` lists 2,424: every layer's 101 once per image
 * (the same problem twice, as each image's analysis carries its layers' problems), with no per-source cap. The
 * count grows with layers x images: 4,096 layers in each of N tags give 413,696 x N problem objects.
 *
 * Expected: README "problems of one kind are listed up to 100 (per layer; 1,000 per source) and then counted",
 * for every command: at most 1,001 of one code, each problem once (as report's dedupe does).
 *
 * Code at fault: src/cli/commands/ci.ts: `input.problems = [...source.problems]` then
 * `input.problems.push(...analysis.problems)` per image, never passed through dedupe() (src/core/analysis/host.ts)
 * before ciJson/ciText/ciJunit.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, layerTar, legacySave, runCli, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

test('ci --format json lists at most 1,000 problems of one code, each once', { timeout: 60_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const layers = Array.from({ length: 12 }, (_, l) => {
    const files: Record<string, string> = { [`etc/l${l}`]: 'x' };
    for (let i = 0; i < 150; i++) files[`.wh..wh.m${l}-${i}`] = 'y';
    return layerTar(files);
  });
  const archive = join(dir, 'a.tar');
  writeFileSync(archive, legacySave([{ tag: 'a:1', layers }, { tag: 'b:1', layers }]));
  const r = await runCli(['ci', archive, '--image', 'a:1', '--image', 'b:1', '--format', 'json'], { timeoutMs: 50_000 });
  assertNoCrash(r);
  const problems = (JSON.parse(r.stdout) as { problems: { severity: string; code: string; message: string; path: string | null }[] }).problems;
  const mine = problems.filter((p) => p.code === 'layer.aufs-metadata.content');
  const distinct = new Set(mine.map((p) => JSON.stringify(p))).size;
  assert.ok(mine.length > 0, `exit ${r.code}: no layer.aufs-metadata.content problem at all`);
  assert.ok(mine.length <= 1001 && distinct === mine.length, `ci --format json (exit ${r.code}) lists ${mine.length} layer.aufs-metadata.content problems (${distinct} distinct); report lists 1,001`);
});
