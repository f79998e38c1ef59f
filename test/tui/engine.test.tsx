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
import { CONTAINERS, IMAGES, LOG_CONTAINERS, PLANTED, VOLUMES } from '../support/fixtures-manifest.mjs';
import { safeText } from '../../src/report/format.js';
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
      for (const m of ins!.Mounts) assert.match(frame, new RegExp(`${m.RW ? 'rw' : 'ro'} +\\S+  ${m.Destination.replace(/[/.]/g, '\\$&')} `), `${name}: ${m.Destination} on screen`);
      await d.press(K.esc);
      await d.until((s) => s.screen === 'picker');
    }
  } finally {
    d.unmount();
    session.stop();
  }
});

test('engine: the mounts tab sizes volumes and binds, browses a volume read-only, says what is outside', async (t) => {
  const e = getEngine(t);
  if (!e) return;
  const session = new Session({ location: e.dataRoot, open: openSource, progressEveryMs: 0, container: VOLUMES.reader });
  const d = await drive(initialState(160, 50), { driver: session });
  try {
    await d.until((s) => s.screen === 'container' && s.container?.container.name === VOLUMES.reader, 60000);
    await d.press('4');
    await d.until((s) => s.tabs.mountInfo !== null, 60000);
    const s = d.state();
    const rows = mountRows(s.container!.container);
    const at = (dest: string) => rows.findIndex((m) => m.destination === dest);
    const listing = session.source!.volumes!.list();
    const data = listing.volumes.find((v) => v.name === VOLUMES.data)!;
    assert.equal(s.tabs.mountInfo![at('/data')]!.bytes, (await session.source!.volumes!.size(data)).bytes, 'the volume is sized as `volumes` sizes it');
    assert.equal(s.tabs.mountInfo![at('/data')]!.browsable, true);
    assert.equal(s.tabs.mountInfo![at('/bound-inside')]!.browsable, true, 'a bind source inside the data root can be read');
    assert.equal(s.tabs.mountInfo![at('/bound-outside')]!.browsable, false);
    assert.match(s.tabs.mountInfo![at('/bound-outside')]!.note ?? '', /outside the evidence/);
    assert.match(d.frame(), /bind +rw +- +\/bound-outside +\/tmp +\(outside the evidence/);
    // Enter on /data: its files, plain (no marks: a volume has no layers), .wh.foo a file like any other.
    for (let i = 0; i < at('/data'); i++) await d.press(K.down);
    await d.press(K.enter);
    await d.until((x) => x.tabs.browse !== null, 60000);
    await d.press('z');
    await d.press('z');
    const f = d.frame();
    assert.match(f, /Files of volume ls-vol-data at \/data \(read-only/);
    for (const name of ['hello.txt', '.wh.foo', 'deep.txt', 'abs-link -> /etc/passwd', 'sparse.bin']) assert.ok(f.includes(name), `${name} is listed`);
    assert.doesNotMatch(f, /┃▶?A /, 'no change marks in a volume');
    assertNoControlChars(f);
    await d.press(K.esc);
    assert.equal(d.state().tabs.browse, null, 'Esc goes back to the mounts');
    assert.equal(d.state().tabs.tab, 'mounts');
    await d.press('1');
    assert.equal(d.state().analysis?.image.id, `container:${d.state().container!.container.id}`, 'the changes tab has its stack back');
  } finally {
    d.unmount();
    session.stop();
  }
});

test('engine: the logs tab shows what docker logs prints, escaped; a driver that keeps nothing says where the logs went', async (t) => {
  // Docker 26: 20.10's reader of the local format drops the newline after a line over 16 KiB (see logs.engine.test.ts).
  const e = getEngine(t, 'docker26');
  if (!e) return;
  for (const [name, info] of Object.entries(LOG_CONTAINERS).filter(([n]) => n === 'ls-logs-json' || n === 'ls-logs-local-rotated' || n === 'ls-logs-journald')) {
    const session = new Session({ location: e.dataRoot, open: openSource, progressEveryMs: 0, container: name });
    const d = await drive(initialState(120, 40), { driver: session });
    try {
      await d.until((s) => s.screen === 'container' && s.container?.container.name === name, 60000);
      await d.press('5');
      await d.until((s) => s.tabs.logs !== null && s.tabs.logs.status !== 'loading', 60000);
      const logs = d.state().tabs.logs!;
      assertNoControlChars(d.frame());
      if (!info.readable) {
        assert.equal(logs.status, 'error');
        assert.match(logs.notes.join(' '), new RegExp(info.driver));
        continue;
      }
      // What docker logs prints, a line per entry (the pieces of a long line joined), each cut to 200 characters
      // and escaped as the tab escapes them: the same multiset, whichever stream each came on.
      const r = await e.docker(['logs', name]);
      // (stderr comes decoded as UTF-8, as the tab decodes each line: bytes that are not UTF-8 read U+FFFD in both.)
      const split = (b: string) => b.split('\n').filter((l, i, a) => i < a.length - 1 || l !== '');
      const want = [...split(r.stdoutBuffer.toString('utf8')), ...split(r.stderr)].map((l) => safeText(l).slice(0, 200)).sort();
      const got = logs.lines.map((l) => l.text.slice(0, 200)).sort();
      assert.equal(logs.lines.length, want.length, `${name}: one line per line docker logs prints`);
      assert.deepEqual(got, want, `${name}: the lines`);
      assert.equal(logs.lines.filter((l) => l.stream === 'stderr').length, split(r.stderr).length, `${name}: stderr lines marked`);
      assert.match(d.frame(), /stdout without a newline at the end|stderr without a newline at the end/, 'the tab opens at the end');
      await d.press('/', ...'out 6000', K.enter);
      assert.equal(d.state().tabs.logSearch?.hits.length, 1, `${name}: ${JSON.stringify(d.state().tabs.logSearch)} ${JSON.stringify(d.state().search)}`);
      assert.match(d.frame(), /out 6000/);
    } finally {
      d.unmount();
      session.stop();
    }
  }
});
