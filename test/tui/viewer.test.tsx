/**
 * The file viewer and extract, through the real driver (Session) on an in-memory source that serves file bytes
 * (openLayerFile): a deleted file read at the layer before its deletion, text with an escape sequence, search,
 * hex/text, a window of a file bigger than the viewer keeps, and extract with `layerscope extract`'s rules.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { initialState } from '../../src/tui/state/index.js';
import { NO_COLLAPSE } from '../../src/tui/file-tree.js';

/** These tests were written for a start on layer 0's own changes (the app opens on the whole image). */
const LAYER0 = { layer: 'base', mode: 'changes', collapse: NO_COLLAPSE } as const;
import { Session } from '../../src/tui/session.js';
import { VIEW_WINDOW, indexWindow, rowCount, rowText, searchContent } from '../../src/tui/viewer.js';
import { HexDump } from '../../src/report/hexdump.js';
import { helpLines } from '../../src/tui/keys.js';
import { assertNoControlChars, drive, K, matchGolden, type Driven } from './harness.js';
import { bloatParts, fakeSource } from './fixture.js';
import type { Source } from '../../src/core/model/source.js';

const MiB = 1024 * 1024;
let tmp = '';

/** big.bin: zeros with a marker 1 MiB in, and a last line that differs (the hex dump's `*` runs). */
function bigBin(): Buffer {
  const b = Buffer.alloc(3 * MiB);
  b.write('SECRET-KEY=hunter2', MiB);
  b.write('the end\n', b.length - 8);
  return b;
}
const KEEP_L2 = Buffer.from('again\x1b]0;PWNED\x07 and a\ttab\n');
const HUGE = 6 * MiB;

/** The bloat image with bytes: layer path -> content, per layer. */
function contents(): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  m.set('1\0data/big.bin', bigBin());
  m.set('1\0data/keep.txt', Buffer.from('keep\n'));
  m.set('2\0data/keep.txt', KEEP_L2);
  m.set('0\0etc/passwd', Buffer.from(Array.from({ length: 60 }, (_, i) => `user${i}:x:${i}:${i}::/home/user${i}:/bin/sh`).join('\n') + '\n'));
  return m;
}

function sourceWithBytes(location: string, bytes = contents(), recordSizes = true): Source {
  const p = bloatParts();
  // The layers record the sizes of the bytes served (unless a test wants them to disagree).
  if (recordSizes) {
    p.changes.forEach((c, layer) => {
      for (const e of c.entries) {
        const b = bytes.get(`${layer}\0${e.path}`);
        if (b && e.kind === 'put') e.attrs = { ...e.attrs, size: b.length };
      }
    });
  }
  const src = fakeSource([p]);
  return Object.assign(src, {
    location,
    async openLayerFile(_img: unknown, layer: number, file: string) {
      const b = bytes.get(`${layer}\0${file}`);
      if (!b) return null;
      return (async function* () {
        for (let i = 0; i < b.length; i += 64 * 1024) yield b.subarray(i, i + 64 * 1024);
      })();
    },
  });
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-viewer-'));
  fs.mkdirSync(path.join(tmp, 'evidence'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function open(width: number, height: number, bytes?: Map<string, Buffer>) {
  const src = sourceWithBytes(path.join(tmp, 'evidence'), bytes);
  const session = new Session({ location: 'bloat.tar', open: async () => src, progressEveryMs: 0 });
  const d = await drive({ ...initialState(width, height, 'bloat.tar'), start: LAYER0 }, { driver: session });
  await d.until((s) => s.screen === 'image');
  return d;
}

/** Move the file cursor down until the selected row matches (bounded: a wrong pattern fails, not hangs). */
async function pressUntil(d: Driven, re: RegExp): Promise<void> {
  for (let i = 0; i < 40 && !re.test(d.frame()); i++) await d.press('j');
  assert.match(d.frame(), re);
}

/** Temp paths vary from run to run. */
const norm = (f: string) => f.split(tmp).join('<tmp>');

test('a deleted file, viewed on its D row: the bytes of the layer before, as a hex dump with its sha256', async () => {
  const d = await open(80, 24);
  await d.press(']', ']', ']', K.tab);
  // L3: data/ then big.bin (deleted).
  await pressUntil(d, /▶D .*big\.bin/);
  await d.press('o');
  await d.until((s) => s.viewer?.sha256 !== null && s.viewer?.sha256 !== undefined);
  const v = d.state().viewer!;
  assert.equal(v.entry.layer, 2);
  assert.equal(v.from, 1);
  assert.equal(v.hex, true);
  assert.equal(v.sha256, createHash('sha256').update(bigBin()).digest('hex'));
  const f = d.frame();
  assert.match(f, /View \/data\/big\.bin at L2 · hex/);
  assert.match(f, /written by L1, seen at L2 · 3,145,728 bytes/);
  assert.match(f, new RegExp(`sha256 ${v.sha256}`));
  // The same lines as hexdump -C (util-linux), a run of zeros as one `*`.
  const dump = new HexDump();
  const expected = (dump.push(bigBin()) + dump.end()).split('\n').filter(Boolean);
  assert.equal(rowCount(v.content!, true), expected.length - 1);
  for (let r = 0; r < rowCount(v.content!, true); r++) assert.equal(rowText(v.content!, true, r), expected[r]);
  matchGolden('viewer-80x24-deleted-hex', f);
  // Search the bytes: the marker 1 MiB in.
  await d.press('/');
  await d.type('SECRET');
  await d.press(K.enter);
  assert.match(d.frame(), /\/SECRET: 1\/1 \(n\/N\)/);
  assert.match(d.frame(), /00100000 {2}53 45 43 52 45 54 2d 4b {2}45 59 3d 68 75 6e 74 65 {2}\|SECRET-KEY=hunte\|/);
  // Hex digits find the same bytes.
  await d.press('/');
  for (let i = 0; i < 6; i++) await d.press(K.backspace);
  await d.type('3d68756e');
  await d.press(K.enter);
  assert.match(d.frame(), /\/3d68756e: 1\/1/);
  await d.press('q');
  assert.equal(d.state().viewer, null);
  assert.equal(d.state().quit, false);
  d.unmount();
});

test('text: control characters escaped, tabs expanded; H switches to hex and back; scrolling', async () => {
  const d = await open(140, 40);
  await d.press(']', ']', K.tab);
  await pressUntil(d, /▶M .*keep\.txt/);
  await d.press(K.enter);
  await d.until((s) => !!s.viewer?.sha256);
  let f = d.frame();
  assert.match(f, /again\\e\]0;PWNED\\x07 and a {7}tab/);
  assertNoControlChars(f);
  matchGolden('viewer-140x40-text', f);
  await d.press('H');
  assert.match(d.frame(), /00000000 {2}61 67 61 69 6e 1b 5d 30/);
  await d.press('H', K.esc);
  // passwd at L0: 60 lines; G shows the end, g the start.
  await d.press('[', '[');
  await d.press(K.tab, K.tab, K.tab);
  await pressUntil(d, /▶A .*passwd/);
  await d.press('o');
  await d.until((s) => !!s.viewer?.sha256);
  await d.press('G');
  f = d.frame();
  assert.match(f, /user59:x:59/);
  assert.doesNotMatch(f, /user0:x:0/);
  await d.press('g');
  assert.match(d.frame(), /user0:x:0/);
  await d.press(K.pgdn);
  assert.equal(d.state().viewer!.scroll, 27);
  matchGolden('viewer-140x40-scrolled', norm(d.frame()));
  d.unmount();
});

test('a file bigger than the window: the first 4 MiB shown, all of it hashed, said so', async () => {
  const huge = Buffer.alloc(HUGE, 'a');
  for (let i = 99; i < HUGE; i += 100) huge[i] = 0x0a;
  const bytes = contents();
  bytes.set('1\0data/big.bin', huge);
  const p = bloatParts();
  // The model records the size the layer holds.
  const src = sourceWithBytes(path.join(tmp, 'evidence'), bytes, false);
  void p;
  const session = new Session({ location: 'bloat.tar', open: async () => src, progressEveryMs: 0 });
  const d = await drive({ ...initialState(100, 30, 'bloat.tar'), start: LAYER0 }, { driver: session });
  await d.until((s) => s.screen === 'image');
  await d.press(']', K.tab);
  await pressUntil(d, /▶A .*big\.bin/);
  await d.press('o');
  await d.until((s) => !!s.viewer?.sha256);
  const v = d.state().viewer!;
  assert.equal(v.content!.window.length, VIEW_WINDOW);
  assert.equal(v.size, HUGE);
  assert.equal(v.sha256, createHash('sha256').update(huge).digest('hex'));
  const f = d.frame();
  assert.match(f, /the first 4\.19 MB of 6\.29 MB shown/);
  // The layer records 3 MiB (the fixture's size), 6 MiB were read: said.
  assert.match(f, /written by L1 · 6,291,456 bytes \(6\.29 MB\) read, the layer records 3,145,728/);
  matchGolden('viewer-100x30-window', f);
  d.unmount();
});

test('viewer searches: text rows by substring and regex; a bad regex says so', () => {
  const c = indexWindow(Buffer.from('alpha\nbeta\ngamma alpha\n'), 23);
  assert.deepEqual(searchContent(c, false, 'alpha', false).hits, [0, 2]);
  assert.deepEqual(searchContent(c, false, '^b', true).hits, [1]);
  assert.match(searchContent(c, false, '(', true).error ?? '', /Invalid regular expression/);
  // A long line is cut into rows, never inside a UTF-8 sequence.
  const long = indexWindow(Buffer.from('é'.repeat(3000)), 6000);
  for (let r = 0; r < rowCount(long, false); r++) assert.doesNotMatch(rowText(long, false, r), /\\x/);
});

test('extract from the TUI: the deleted file into a typed directory; refused inside the evidence; nothing overwritten', async () => {
  const d = await open(80, 24);
  await d.press(']', ']', ']', K.tab);
  await pressUntil(d, /▶D .*big\.bin/);
  await d.press('x');
  assert.match(d.frame(), /Extract \/data\/big\.bin at L2/);
  assert.match(d.frame(), /Into directory: █/);
  matchGolden('extract-80x24-prompt', d.frame());
  // Inside the evidence: refused, nothing written.
  await d.type(path.join(tmp, 'evidence', 'out'));
  await d.press(K.enter);
  await d.until((s) => s.extract?.status === 'error');
  assert.match(d.frame(), /refusing to write/);
  assert.equal(fs.existsSync(path.join(tmp, 'evidence', 'out')), false);
  await d.press(K.esc);
  assert.equal(d.state().extract, null);
  // From the viewer, into a fresh directory.
  await d.press('o');
  await d.until((s) => !!s.viewer?.sha256);
  await d.press('x');
  const out = path.join(tmp, 'out');
  await d.type(out);
  await d.press(K.enter);
  await d.until((s) => s.extract?.status === 'done');
  assert.deepEqual(fs.readFileSync(path.join(out, 'data/big.bin')), bigBin());
  const f = norm(d.frame());
  assert.match(f, /extracted \/data\/big\.bin as L2 shows it into <tmp>\/out:/);
  assert.match(f, /1 file \(3,145,728 bytes, 3\.15 MB\)/);
  matchGolden('extract-80x24-done', f);
  await d.press(K.esc);
  // Again into the same directory: the file exists, it is not overwritten.
  fs.writeFileSync(path.join(out, 'data/big.bin'), 'mine');
  await d.press('x');
  await d.type(out);
  await d.press(K.enter);
  await d.until((s) => s.extract?.status === 'error');
  assert.equal(fs.readFileSync(path.join(out, 'data/big.bin'), 'utf8'), 'mine');
  d.unmount();
});

test('a directory is not viewed (x extracts it); the help lists the viewer keys', async () => {
  const d = await open(100, 30);
  await d.press(']', K.tab);
  await pressUntil(d, /▶. .*data\//);
  await d.press('o');
  assert.match(d.frame(), /a directory: x \(or Ctrl-E\) copies it out/);
  d.unmount();
  const help = helpLines().join('\n');
  assert.match(help, /File viewer \(o on a file\)\n {2}esc, q +close the viewer/);
  assert.match(help, /\n {2}o +view the file as it is at this layer/);
  assert.match(help, /\n {2}x, ctrl\+e +extract the file or directory/);
});

test('verify in place (V): progress, the verdict, and ! on the entries that differ; Esc keeps the marks', async () => {
  const { imageState } = await import('../../src/tui/state/index.js');
  const { verdictLines } = await import('../../src/tui/session.js');
  const { bloatImage } = await import('./fixture.js');
  let answer: ((ok: boolean) => void) | null = null;
  const driver = {
    start() {},
    stop() {},
    request(want: any, dispatch: (a: any) => void) {
      if (want.kind !== 'verify') return;
      dispatch({ type: 'verifyProgress', seq: want.seq, what: 'mounting bloat:1 layer 2 read-only' });
      answer = (ok) => {
        const marks = ok ? [] : [{ path: 'data/f', check: 'mount', kind: 'mode', message: 'mode: ours 0600, the kernel shows 4755', against: 'as-built' }];
        const report: any = {
          stack: { label: 'bloat:1 layer 2', result: { status: ok ? 'agree' : 'disagree', mode: 'root', entries: { ours: 14, kernel: 14 }, differences: [], asBuilt: { differences: marks }, notes: [], message: null } },
          mount: { ran: true, skipped: null, notes: [] },
          integrity: { ran: true, skipped: null, layer: 2, status: ok ? 'ok' : 'tampered', message: ok ? null : 'data/f: mode 0600 in tar-split, 4755 on disk', result: null },
          marks: ok ? [] : [...marks, { path: 'data/f', check: 'integrity', kind: 'mode', message: 'mode 0600 in tar-split, 4755 on disk' }],
          ok,
        };
        const m = new Map<string, string>(ok ? [] : [['data/f', 'mode (kernel vs as built), mode (tar-split)']]);
        dispatch({ type: 'verifyDone', seq: want.seq, ok, lines: verdictLines(report, 2), marks: m });
      };
    },
  };
  for (const [w, h] of [[80, 24], [100, 30], [140, 40]] as const) {
    const d = await drive(imageState(bloatImage(), w, h, 'bloat.tar', LAYER0), { driver });
    await d.press(']', ']', 'V');
    assert.match(d.frame(), /Verify in place: L2 \(running\)/);
    assert.match(d.frame(), /mounting bloat:1 layer 2 read-only…/);
    answer!(w !== 100);
    await d.until((s) => s.verify?.status === 'done');
    matchGolden(`verify-${w}x${h}-${w !== 100 ? 'ok' : 'failed'}`, d.frame());
    await d.press(K.esc, K.tab);
    if (w === 100) {
      await pressUntil(d, /▶M!-rw-------.* f +\[verify: mode/);
      matchGolden('verify-100x30-marked', d.frame());
    } else assert.doesNotMatch(d.frame(), /!-/);
    d.unmount();
  }
});
