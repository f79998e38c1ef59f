/**
 * Issue 14 parts 4-6 in the TUI: the first view is the whole image (as dive opens), dive's keys (ctrl+f filter,
 * ctrl+l / ctrl+a in the layer list), the image's own story (history steps that made no layer, the config and
 * every command in full), and 80x24 first (help and quit always in the footer, figures whole, unset times "-").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeChanges } from '../../src/core/analysis/analyze.js';
import { imageState, initialState, reduce } from '../../src/tui/state/index.js';
import { containerInfoLines } from '../../src/tui/rows.js';
import { bloatParts, container } from './fixture.js';
import { assertNoControlChars, drive, K, matchGolden } from './harness.js';

/** The bloat image with a config as a build writes it: history with steps that made no layer, a run config. */
function storied() {
  const p = bloatParts();
  const made = p.info.layers.map((l) => ({ created: '2024-01-01T00:00:00Z', created_by: l.createdBy }));
  const history = [made[0], { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop)  ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', empty_layer: true }, ...made.slice(1, 4), { created_by: '/bin/sh -c #(nop)  LABEL org.example.evil=\x1b]0;PWNED\x07', empty_layer: true }, ...made.slice(4), { created_by: '/bin/sh -c #(nop)  CMD ["sh" "-c" "exec /app/run --with a very long list of arguments that cannot fit in any narrow pane at all"]', empty_layer: true }];
  const config = { architecture: 'amd64', os: 'linux', history, config: { Env: ['PATH=/usr/local/bin:/usr/bin', 'SECRET=\x1b[31mred'], Cmd: ['sh', '-c', 'exec /app/run'], User: '1000', WorkingDir: '/app', ExposedPorts: { '80/tcp': {} }, Labels: { 'org.example.evil': '\x1b]0;PWNED\x07' } } };
  return analyzeChanges({ ...p.info, config, emptyHistory: 3 }, p.changes);
}

test('the first view is the whole image: the top layer, everything up to it (as dive opens)', async () => {
  const s = imageState(storied(), 100, 30);
  assert.equal(s.layer, 5);
  assert.equal(s.mode, 'aggregated');
  const d = await drive(s);
  assert.match(d.frame(), /Files: everything up to L5/);
  d.unmount();
});

test("dive's keys: ctrl+f filters the tree by regex (Esc drops it); ctrl+l / ctrl+a in the layer list", async () => {
  const d = await drive(imageState(storied(), 100, 30));
  await d.press(K.ctrl('f'), ...'passwd$', K.enter);
  let f = d.frame();
  assert.match(f, /Files: everything up to L5, filter \/passwd\$\//);
  assert.match(f, /▾ etc\//);
  assert.match(f, /passwd/);
  assert.doesNotMatch(f, /busybox|keep\.txt/, 'only what matches, and its dirs');
  await d.press(K.ctrl('f'), K.backspace, K.backspace, K.backspace, K.backspace, K.backspace, K.backspace, K.backspace, ...'(', K.enter);
  assert.match(d.frame(), /invalid regular expression/);
  await d.press(K.esc);
  assert.equal(d.state().pathFilter, null);
  assert.match(d.frame(), /busybox/);
  // In the layer list: ctrl+l shows this layer's changes, ctrl+a everything up to it (in the files pane ctrl+a
  // still hides added entries, as in dive).
  await d.press(K.ctrl('l'));
  assert.equal(d.state().mode, 'changes');
  await d.press(K.ctrl('a'));
  assert.equal(d.state().mode, 'aggregated');
  await d.press(K.tab, K.ctrl('a'));
  assert.equal(d.state().filters.added, false);
  d.unmount();
});

test("the image's own story: steps that made no layer, greyed in the list; c shows the config and every command", async () => {
  const d = await drive(imageState(storied(), 140, 40));
  let f = d.frame();
  assert.match(f, /·  ENV PATH=/, 'ENV made no layer: shown between the layers');
  assert.match(f, /·  CMD \["sh" "-c"/);
  assertNoControlChars(f);
  await d.press('E');
  assert.doesNotMatch(d.frame(), /·  ENV PATH=/, 'E hides them');
  await d.press('E', 'c');
  // It opens on the selected layer's step (its full command is what was asked for); g goes to the top.
  assert.match(d.frame(), /▶  L5  RUN rm -rf \/names/);
  await d.press('g');
  f = d.frame();
  assert.match(f, /CONFIG/);
  assert.match(f, /User +1000/);
  assert.match(f, /WorkingDir +\/app/);
  assert.match(f, /SECRET=\\e\[31mred/, 'config values are escaped');
  assert.match(f, /80\/tcp/);
  assert.match(f, /HISTORY/);
  assertNoControlChars(f);
  matchGolden('storied-140x40-config', f);
  await d.press('G');
  assert.match(d.frame(), /a very long list of arguments that cannot fit in any narrow pane at all/, 'the whole command, wrapped');
  await d.press(K.esc);
  assert.equal(d.state().config, false);
  d.unmount();
});

test('80x24: the footer keeps help and quit on every screen; figures are never cut; unset times show "-"', async () => {
  const d = await drive(imageState(storied(), 80, 24));
  const end = /\? help · q quit *$/;
  const lastLine = () => d.frame().split('\n').pop()!;
  assert.match(lastLine(), end);
  assert.match(d.frame(), /Efficiency 24\.1%/);
  assert.doesNotMatch(d.frame(), /\d…/, 'no figure cut mid-number');
  matchGolden('storied-80x24-start', d.frame());
  await d.press(K.tab);
  assert.match(lastLine(), end);
  await d.press('/');
  await d.press(K.esc, 'c');
  assert.match(lastLine(), /Esc|quit/);
  d.unmount();
  const ct = container('never-started', 'sha256:x', { state: 'created', startedAt: '0001-01-01T00:00:00Z', finishedAt: '0001-01-01T00:00:00Z' });
  const lines = containerInfoLines({ container: ct, image: null, view: null as never, rw: null as never, changes: [], counts: { added: 0, changed: 0, deleted: 0 }, problems: [], risks: null });
  assert.match(lines[1]!.text, /^started -  finished -  driver overlay2$/);
  const picker = reduce(initialState(80, 24), { type: 'sourceOpened', location: '/x', images: [], containers: [container('exit-137', 'sha256:x', { exitCode: 137 })] });
  const p = await drive(picker);
  assert.match(p.frame(), /exited\(137\) +…/, 'the state column never runs into the next one');
  assert.match(p.frame().split('\n').pop()!, end);
  p.unmount();
});

test('golden frames of the new screens at 80x24 and 100x30: the config and history, the filtered tree', async () => {
  for (const [w, h] of [[80, 24], [100, 30]] as const) {
    const d = await drive(imageState(storied(), w, h));
    await d.press('c', 'g');
    assertNoControlChars(d.frame());
    assert.match(d.frame().split('\n').pop()!, /\? help · q quit *$|Esc/);
    matchGolden(`storied-${w}x${h}-config`, d.frame());
    await d.press(K.esc, K.ctrl('f'), ...'bin', K.enter);
    matchGolden(`storied-${w}x${h}-filter`, d.frame());
    assert.match(d.frame().split('\n').pop()!, /\? help · q quit *$/);
    d.unmount();
  }
});
