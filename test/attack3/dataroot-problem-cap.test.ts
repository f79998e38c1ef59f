/**
 * ATTACK: an overlay2 data root (built in code, no engine) whose top layer's diff dir holds 300 empty files
 * carrying `trusted.overlay.metacopy`, 300 directories carrying `trusted.overlay.redirect` and 300 directories
 * carrying `trusted.overlay.opaque=z` (one `setfattr --restore`, a few KB on disk).
 *
 * Observed: `layerscope report ROOT --format json` exits 0 and lists 300 `overlay.metacopy`, 300
 * `overlay.redirect` and 300 `overlay.opaque.unknown` problems, one by one (the text report prints 900
 * WARNING lines). Nothing caps them: the count grows with the entries of the layer, so a million marked files
 * give a million problem objects (each with a message and a full path) held in memory and printed.
 *
 * Expected: README ("problems of one kind are listed up to 100 and then counted"; bounds table: "problems of
 * one kind listed | 100, then one problem counts the rest"): at most 100 of each code listed, then one problem
 * of that code counting the rest, as tar layers (ProblemSink in layer-changes.ts) already do.
 *
 * Code at fault: src/core/sources/walk/layer-dir.ts, Assembler.interpret / Assembler.finish / Assembler.note
 * push every problem into `this.problems` directly (no ProblemSink): overlay.metacopy, overlay.redirect,
 * overlay.opaque.unknown, overlay.xwhiteout.unmarked, and the walk workers' per-entry problems
 * (layer.entry.unreadable, layer.entry.gone, layer.xattrs.unreadable).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertBuilt, assertNoCrash, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { dataRoot } from '../attack2/roots.js';

before(assertBuilt);

const N = 300;

test(`${N} metacopy files, ${N} redirect dirs, ${N} unknown-opaque dirs in a data root: at most 100 problems of each code listed`, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const top: Record<string, string | null> = { m: null, r: null, o: null };
  for (let i = 0; i < N; i++) {
    top[`m/f${i}`] = '';
    top[`r/d${i}`] = null;
    top[`o/d${i}`] = null;
  }
  const r = dataRoot(dir, [{ 'etc/hostname': 'box\n' }, top]);
  const dump: string[] = [];
  for (let i = 0; i < N; i++) {
    dump.push(`# file: ${join(r.diffs[1]!, 'm', `f${i}`)}`, 'trusted.overlay.metacopy=""', '');
    dump.push(`# file: ${join(r.diffs[1]!, 'r', `d${i}`)}`, `trusted.overlay.redirect="/elsewhere${i}"`, '');
    dump.push(`# file: ${join(r.diffs[1]!, 'o', `d${i}`)}`, 'trusted.overlay.opaque="z"', '');
  }
  writeFileSync(join(dir, 'xattrs.dump'), dump.join('\n') + '\n');
  execFileSync('setfattr', ['--restore', join(dir, 'xattrs.dump')]);

  const out = await runCli(['report', r.root, '--format', 'json'], { timeoutMs: 60_000 });
  assertNoCrash(out);
  const problems = (JSON.parse(out.stdout) as { problems: { code: string }[] }).problems;
  const count = (code: string) => problems.filter((p) => p.code === code).length;
  for (const code of ['overlay.metacopy', 'overlay.redirect', 'overlay.opaque.unknown']) {
    assert.ok(count(code) > 0, `${code} is reported at all (exit ${out.code})`);
    assert.ok(count(code) <= 101, `${code}: ${count(code)} problems listed one by one for ${N} entries (README: up to 100, then one counting the rest)`);
  }
});
