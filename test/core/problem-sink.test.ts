import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProblemSink } from '../../src/core/model/problem-sink.js';
import { problem, type Problem } from '../../src/core/model/types.js';

test('problems of one code are listed up to the bound, then counted in one summary kept up to date', () => {
  const out: Problem[] = [];
  const sink = new ProblemSink(out, 3, '/root');
  for (let i = 0; i < 10; i++) sink.note('warning', 'a.bad', `bad ${i}`, `/root/${i}`);
  sink.note('error', 'b.other', 'other', null);
  assert.deepEqual(
    out.map((p) => p.message),
    ['bad 0', 'bad 1', 'bad 2', '7 more problems of this kind (not listed one by one)', 'other'],
  );
  // More noted later (a lazily read part of the source) update the same summary; its severity is the worst seen.
  sink.add(problem('error', 'a.bad', 'worse', null), 'bad names');
  assert.equal(out.length, 5);
  assert.equal(out[3]!.message, '8 more bad names (not listed one by one)');
  assert.equal(out[3]!.severity, 'error');
  assert.equal(out[3]!.path, '/root');
});

test('a source lists at most 1,000 problems of one code (a thousand crafted layers of 100 each), duplicates once', async () => {
  const { dedupe, SOURCE_PROBLEMS_PER_CODE } = await import('../../src/core/analysis/host.js');
  const many: Problem[] = [];
  for (let layer = 0; layer < 1000; layer++) for (let i = 0; i < 100; i++) many.push(problem('warning', 'overlay.metacopy', `entry ${i}`, `/root/overlay2/${layer}/diff/f${i}`));
  many.push(problem('error', 'overlay.metacopy', 'worse', '/x'), problem('info', 'other', 'once', null), problem('info', 'other', 'once', null));
  const out = dedupe(many);
  const meta = out.filter((p) => p.code === 'overlay.metacopy');
  assert.equal(meta.length, SOURCE_PROBLEMS_PER_CODE + 1);
  assert.match(meta.at(-1)!.message, /^99001 more problems of this kind in this source/);
  assert.equal(meta.at(-1)!.severity, 'error', 'the count carries the worst severity it stands for');
  assert.equal(out.filter((p) => p.code === 'other').length, 1);
});
