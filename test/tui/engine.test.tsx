/**
 * Engine-backed: the TUI on the private docker20 data root. The container screen must list exactly what
 * `docker diff` prints for each fixture container; the picker lists the fixture images and containers.
 * Skipped loudly without an engine (fails under LAYERSCOPE_REQUIRE_ENGINE=1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSource } from '../../src/core/sources/open.js';
import { Session } from '../../src/tui/session.js';
import { initialState, pickerImages } from '../../src/tui/state/index.js';
import { containerChangeRow } from '../../src/tui/rows.js';
import { getEngine } from '../support/engine.js';
import { CONTAINERS, IMAGES, PLANTED } from '../support/fixtures-manifest.mjs';
import { inspectTabLines, mountRows } from '../../src/tui/container-rows.js';
import { riskLine } from '../../src/report/inspect.js';
import { assertNoControlChars, drive, K } from './harness.js';

test('engine: picker lists the fixture images and containers; each container screen is docker diff', async (t) => {
  const e = getEngine(t);
  if (!e) return;
  const session = new Session({ location: e.dataRoot, open: openSource, progressEveryMs: 0 });
  const d = await drive(initialState(160, 60), { driver: session });
  try {
    await d.until((s) => s.screen === 'picker' && Object.keys(s.containerStats).length === s.containers.length, 120000);
    const picker = d.frame();
    // The fixture images are listed first (tagged), the builder's intermediate images are not.
    const lines = picker.split('\n');
    for (const name of Object.values(IMAGES)) assert.ok(lines.slice(2, 6).some((l) => l.includes(` ${name} `) || l.includes(`▶${name} `)), `${name} among the first rows`);
    assert.match(picker, /intermediate images? \(untagged layers of tagged ones\) not listed/);
    for (const name of Object.values(CONTAINERS)) assert.match(picker, new RegExp(` ${name} `));
    assertNoControlChars(picker);
    for (const name of Object.values(CONTAINERS)) {
      const s0 = d.state();
      const idx = pickerImages(s0).length + s0.containers.findIndex((c) => c.name === name);
      await d.press(K.home);
      for (let i = 0; i < idx; i++) await d.press(K.down);
      await d.press(K.enter);
      await d.until((s) => s.screen === 'container' && s.container?.container.name === name, 60000);
      const ca = d.state().container!;
      const want = (await e.docker(['diff', name])).stdoutBuffer.toString('latin1').split('\n').filter(Boolean).sort();
      // Every row the screen would show (all of them, not only the visible window), as "K /path".
      const shown = ca.changes.map((_, i) => containerChangeRow(ca, i, false).text.slice(1)).map((row) => `${row[0]} ${row.slice(row.indexOf(' /') + 1).replace(/ (->|=>) .*$/, '')}`);
      assert.deepEqual(shown.sort(), want.map((l) => l.replace(/\\/g, '\\\\')).sort(), `${name}: the container screen differs from docker diff`);
      assertNoControlChars(d.frame());
      await d.press(K.esc);
      await d.until((s) => s.screen === 'picker');
    }
  } finally {
    d.unmount();
    session.stop();
  }
});

test('engine: the container tabs: inspect leads with exactly the planted risks, mounts are docker inspect\'s', async (t) => {
  const e = getEngine(t);
  if (!e) return;
  const session = new Session({ location: e.dataRoot, open: openSource, progressEveryMs: 0 });
  const d = await drive(initialState(200, 80), { driver: session });
  try {
    await d.until((s) => s.screen === 'picker', 120000);
    for (const [name, codes] of Object.entries(PLANTED)) {
      const s0 = d.state();
      const idx = pickerImages(s0).length + s0.containers.findIndex((c) => c.name === name);
      assert.ok(idx >= pickerImages(s0).length, `${name} is listed`);
      await d.press(K.home);
      for (let i = 0; i < idx; i++) await d.press(K.down);
      await d.press(K.enter);
      await d.until((s) => s.screen === 'container' && s.container?.container.name === name, 60000);
      await d.press('3');
      const ca = d.state().container!;
      assert.deepEqual(ca.risks!.findings.map((f) => f.code).sort(), [...codes].sort(), `${name}: the planted risks`);
      const inspect = inspectTabLines(ca);
      // The findings come first, each with the field it came from, before the fields themselves.
      const firstField = inspect.findIndex((l) => l.startsWith('CONTAINER '));
      for (const f of ca.risks!.findings) {
        const at = inspect.indexOf('  ' + riskLine(f));
        assert.ok(at > 0 && at < firstField, `${name}: ${f.code} is listed above the fields`);
      }
      assertNoControlChars(d.frame());
      // Mounts: one row per mount docker inspect lists, with its destination, source and mode.
      await d.press('4');
      const [ins] = JSON.parse((await e.docker(['inspect', name])).stdout) as { Mounts: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean }[] }[];
      const rows = mountRows(ca.container);
      assert.deepEqual(
        rows.map((m) => [m.type, m.name ?? '', m.source, m.destination, m.rw]).sort(),
        ins!.Mounts.map((m) => [m.Type, m.Name ?? '', m.Source, m.Destination, m.RW]).sort(),
        `${name}: the mounts tab is docker inspect's Mounts`,
      );
      const frame = d.frame();
      for (const m of ins!.Mounts) assert.match(frame, new RegExp(`${m.RW ? 'rw' : 'ro'}  ${m.Destination.replace(/[/.]/g, '\\$&')} `), `${name}: ${m.Destination} on screen`);
      await d.press(K.esc);
      await d.until((s) => s.screen === 'picker');
    }
  } finally {
    d.unmount();
    session.stop();
  }
});
