/**
 * The container screen's tabs without an engine: inspect (risks first), mounts (sizes, notes, a volume browsed
 * as a plain tree and back), logs (window at the end, search, n/N, horizontal scroll, escaped text), at 80x24.
 * The engine suites (engine.test.tsx) check the same screens against docker inspect, system df and docker logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeContainer } from '../../src/core/analysis/container.js';
import { analyzeChanges } from '../../src/core/analysis/analyze.js';
import { initialState, reduce, type State } from '../../src/tui/state/index.js';
import type { LogsView } from '../../src/tui/container-tabs.js';
import { bloatParts, changes, container, dir, fakeSource, file } from './fixture.js';
import { assertNoControlChars, drive, K, matchGolden } from './harness.js';

async function containerScreen(): Promise<State> {
  const bloat = bloatParts();
  const ct = container('web-1', bloat.info.id, {
    mounts: [
      { destination: '/data', source: '/var/lib/docker/volumes/data/_data', name: 'data', type: 'volume', rw: true },
      { destination: '/host-tmp', source: '/tmp', name: null, type: 'bind', rw: false },
    ],
  });
  const src = fakeSource([bloat], [{ info: ct, rw: changes([dir('tmp'), file('tmp/x', 5)]) }]);
  let s = reduce(initialState(80, 24), { type: 'sourceOpened', location: '/var/lib/docker', images: src.images, containers: src.containers });
  s = reduce(s, { type: 'containerReady', analysis: await analyzeContainer(src, ct) });
  return s;
}

const LOGS: LogsView = {
  status: 'ready',
  driver: 'json-file',
  notes: ['json-file driver · 2 files: x-json.log.1.gz, x-json.log'],
  lines: Array.from({ length: 60 }, (_, i) => ({
    stream: i % 7 === 3 ? 'stderr' : 'stdout',
    time: `2024-01-02T00:00:${String(i).padStart(2, '0')}.000000001Z`,
    text: i === 10 ? 'needle in \\e]0;PWNED\\x07 the logs' : i === 50 ? 'another needle ' + 'x'.repeat(200) + ' END' : `line ${i}`,
  })),
  truncated: false,
  problems: [],
};

test('logs tab: read when first shown, opens at the end, searches, n/N, scrolls sideways', async () => {
  let s = await containerScreen();
  s = reduce(s, { type: 'containerTab', tab: 'logs' });
  assert.deepEqual(s.want, { kind: 'logs', id: s.container!.container.id }, 'the driver is asked for the logs');
  assert.equal(s.tabs.logs?.status, 'loading');
  s = reduce(s, { type: 'logsLoaded', id: s.container!.container.id, logs: LOGS });
  assert.equal(s.want, null);
  const d = await drive(s);
  assert.match(d.frame(), /line 59/, 'the newest entries are on screen');
  assert.doesNotMatch(d.frame(), /line 0\b/);
  await d.press('/', 'n', 'e', 'e', 'd', 'l', 'e', K.enter);
  assert.deepEqual(d.state().tabs.logSearch?.hits, [10, 50]);
  assert.match(d.frame(), /2 lines match "needle" \(1\/2: n next, N previous\)/);
  assert.match(d.frame(), /needle in \\e\]0;PWNED\\x07 the logs/);
  assertNoControlChars(d.frame());
  matchGolden('container-80x24-logs-search', d.frame());
  await d.press('n');
  assert.equal(d.state().tabs.logSearch?.hit, 1);
  assert.match(d.frame(), /another needle x+/);
  assert.doesNotMatch(d.frame(), / END/);
  for (let i = 0; i < 10; i++) await d.press(K.right);
  assert.match(d.frame(), /x+ END/, 'right scrolls a long line into view');
  await d.press('N');
  assert.equal(d.state().tabs.logSearch?.hit, 0);
  d.unmount();
});

test('logs tab: a driver that keeps nothing here says so', async () => {
  let s = await containerScreen();
  s = reduce(s, { type: 'containerTab', tab: 'logs' });
  s = reduce(s, { type: 'logsLoaded', id: s.container!.container.id, logs: { status: 'error', driver: 'journald', notes: ['container web-1: journald: read them with journalctl CONTAINER_ID=...'], lines: [], truncated: false, problems: [] } });
  const d = await drive(s);
  assert.match(d.frame(), /journald: read them with journalctl/);
  d.unmount();
});

test('mounts tab: sizes and notes, Enter browses a volume as a plain tree, Esc comes back', async () => {
  let s = await containerScreen();
  const id = s.container!.container.id;
  const changesTab = s.analysis;
  s = reduce(s, { type: 'containerTab', tab: 'mounts' });
  assert.deepEqual(s.want, { kind: 'mounts', id });
  s = reduce(s, { type: 'mountsLoaded', id, info: [{ bytes: 12345, browsable: true, note: null }, { bytes: null, browsable: false, note: 'outside the evidence: not read' }] });
  const d = await drive(s);
  const f = d.frame();
  assert.match(f, /volume +rw +12\.3 kB +\/data +data +Enter: browse/);
  assert.match(f, /bind +ro +- +\/host-tmp +\/tmp +\(outside the evidence: not read\)/);
  matchGolden('container-80x24-mounts', f);
  await d.press(K.down, K.enter);
  assert.equal(d.state().want, null, 'a mount that cannot be read is not asked for');
  await d.press(K.up, K.enter);
  assert.deepEqual(d.state().want, { kind: 'mountTree', id, index: 0 });
  d.unmount();
  // The driver answers with the volume's tree: one plain layer.
  const vol = analyzeChanges({ ...bloatParts().info, id: 'mount:/v', tags: ['volume data'] }, [changes([dir('a'), file('a/.wh.foo', 3), file('hello.txt', 6)])]);
  let b = reduce({ ...d.state(), want: null }, { type: 'mountTreeReady', id, index: 0, analysis: vol });
  const e = await drive(b);
  const g = e.frame();
  assert.match(g, /Files of volume data at \/data \(read-only; Esc back to the mounts\)/);
  assert.match(g, /\.wh\.foo/);
  assert.match(g, /hello\.txt/);
  assert.doesNotMatch(g, /┃▶?A /, 'no change marks');
  matchGolden('container-80x24-volume', g);
  await e.press(K.esc);
  b = e.state();
  assert.equal(b.tabs.browse, null);
  assert.equal(b.analysis, changesTab, "the changes tab's stack is back");
  e.unmount();
});

test('inspect tab: the risk findings come before the fields', async () => {
  let s = await containerScreen();
  s = reduce(s, { type: 'containerTab', tab: 'inspect' });
  const d = await drive(s);
  const f = d.frame();
  assert.ok(f.indexOf('RISKS') < f.indexOf('CONTAINER web-1'), 'risks first');
  d.unmount();
});
