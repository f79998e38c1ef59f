/** The `tui` Command (tested directly: main.ts registers it) and runTui's terminal handling. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultSource, tuiCommand, type TuiIO } from '../../src/cli/commands/tui.js';
import { colourWanted, runTui } from '../../src/tui/run.js';
import { UsageError } from '../../src/core/model/errors.js';
import { bloatParts, fakeSource } from './fixture.js';

class FakeOut extends EventEmitter {
  isTTY = true;
  columns = 100;
  rows = 30;
  chunks: string[] = [];
  write(s: string | Uint8Array, cb?: () => void): boolean {
    this.chunks.push(typeof s === 'string' ? s : Buffer.from(s).toString());
    if (typeof cb === 'function') cb();
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

class FakeIn extends EventEmitter {
  isTTY = true;
  raw: boolean[] = [];
  private data: string | null = null;
  setRawMode(on: boolean) {
    this.raw.push(on);
    return this;
  }
  setEncoding() {}
  resume() {}
  pause() {}
  ref() {}
  unref() {}
  read = () => {
    const d = this.data;
    this.data = null;
    return d;
  };
  send(d: string) {
    this.data = d;
    this.emit('readable');
  }
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

function io(over: Partial<TuiIO> = {}): TuiIO & { stdout: FakeOut; stderr: FakeOut } {
  return { stdout: new FakeOut(), stderr: new FakeOut(), isTTY: true, env: {}, stdin: new FakeIn() as unknown as NodeJS.ReadStream, ...over } as TuiIO & { stdout: FakeOut; stderr: FakeOut };
}

test('tui command: refuses without a terminal (exit 2), says what to use instead', async () => {
  const x = io({ isTTY: false });
  assert.equal(await tuiCommand.run({ positional: ['x.tar'], flags: {} }, x), 2);
  assert.match(x.stderr.text, /needs a terminal.*layerscope report/);
});

test('tui command: a source that is not there fails before taking the screen (exit 3)', async () => {
  const x = io();
  assert.equal(await tuiCommand.run({ positional: ['/nonexistent/\x1b]0;PWNED\x07.tar'], flags: {} }, x), 3);
  assert.match(x.stderr.text, /\\e\]0;PWNED\\x07\.tar: cannot open: no such file or directory/);
  assert.equal(x.stdout.text, '', 'nothing was drawn');
  await assert.rejects(tuiCommand.run({ positional: ['a', 'b'], flags: {} }, io()), UsageError);
});

test('default source: the data root when readable, else the demo image (saying so), else a clear message', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-tui-cmd-'));
  try {
    const root = path.join(tmp, 'docker');
    fs.mkdirSync(path.join(root, 'image'), { recursive: true });
    // image/ alone is no store: the demo (when present) is better than an error screen.
    assert.match((defaultSource(root, path.join(tmp, 'demo.tar')) as { error: string }).error, /holds no Docker image store/);
    // image/overlay2/ holding nothing an engine writes is no store either, and says so.
    fs.mkdirSync(path.join(root, 'image', 'overlay2'), { recursive: true });
    assert.match((defaultSource(root, path.join(tmp, 'demo.tar')) as { error: string }).error, /holds no Docker image store \(holds image\/overlay2\/ but nothing a Docker engine writes there/);
    // What an engine creates when it starts: an empty, valid data root.
    fs.mkdirSync(path.join(root, 'image', 'overlay2', 'imagedb', 'content', 'sha256'), { recursive: true });
    assert.deepEqual(defaultSource(root, path.join(tmp, 'demo.tar')), { location: root, note: null });
    const none = path.join(tmp, 'none');
    const r = defaultSource(none, path.join(tmp, 'demo.tar'));
    assert.ok('error' in r && /there is no .*none here, and the demo image .* is not installed/.test(r.error));
    fs.writeFileSync(path.join(tmp, 'demo.tar'), '');
    const d = defaultSource(none, path.join(tmp, 'demo.tar'));
    assert.ok('location' in d && d.location.endsWith('demo.tar') && /^DEMO image \(there is no .*none here\): name a data root or archive$/.test(d.note ?? ''));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('NO_COLOR disables colour; TERM=dumb and pipes too', () => {
  assert.equal(colourWanted({}, true), true);
  assert.equal(colourWanted({ NO_COLOR: '1' }, true), false);
  assert.equal(colourWanted({ NO_COLOR: '' }, true), true);
  assert.equal(colourWanted({ TERM: 'dumb' }, true), false);
  assert.equal(colourWanted({}, false), false);
});

test('tui command end to end with fake streams: alternate screen and mouse on, q, everything restored', async () => {
  const x = io({ open: async () => fakeSource([bloatParts()]) });
  const stdin = x.stdin as unknown as FakeIn;
  const done = tuiCommand.run({ positional: [os.tmpdir()], flags: {} }, x);
  for (let i = 0; i < 200 && !x.stdout.text.includes('Layers (6)'); i++) await wait(20);
  assert.match(x.stdout.text, /^\x1b\[\?1049h\x1b\[H\x1b\[\?1000h\x1b\[\?1006h/);
  assert.match(x.stdout.text, /Layers \(6\)/);
  stdin.send('q');
  assert.equal(await done, 0);
  assert.ok(x.stdout.text.endsWith('\x1b[?1006l\x1b[?1000l\x1b[?1049l\x1b[?25h'), 'modes restored last');
  assert.equal(stdin.raw[stdin.raw.length - 1], false, 'raw mode off');
});

test('runTui: SIGTERM unmounts, restores the terminal and returns 143', async () => {
  const stdout = new FakeOut();
  const stdin = new FakeIn();
  const signals = new EventEmitter();
  const done = runTui({
    location: '/fake',
    open: async () => fakeSource([bloatParts()]),
    stdout: stdout as unknown as NodeJS.WriteStream,
    stderr: new FakeOut() as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    env: {},
    signals: signals as unknown as NodeJS.Process,
  });
  for (let i = 0; i < 200 && !stdout.text.includes('Layers (6)'); i++) await wait(20);
  signals.emit('SIGTERM', 'SIGTERM');
  assert.equal(await done, 143);
  assert.ok(stdout.text.endsWith('\x1b[?1006l\x1b[?1000l\x1b[?1049l\x1b[?25h'));
  assert.equal(signals.listenerCount('SIGTERM'), 0, 'handlers removed');
});

test('runTui: an exception inside still restores the terminal', async () => {
  const stdout = new FakeOut();
  const stdin = new FakeIn();
  const bad = { ...fakeSource([bloatParts()]) };
  let threw = false;
  try {
    await runTui({
      location: '/fake',
      open: async () => bad,
      stdout: stdout as unknown as NodeJS.WriteStream,
      stderr: new FakeOut() as unknown as NodeJS.WriteStream,
      stdin: Object.assign(stdin, { setRawMode: () => { throw new Error('raw mode failed'); } }) as unknown as NodeJS.ReadStream,
      env: {},
      signals: new EventEmitter() as unknown as NodeJS.Process,
    });
  } catch {
    threw = true;
  }
  assert.ok(threw, 'the error reaches the caller');
  assert.ok(stdout.text.includes('\x1b[?1049l'), 'alternate screen left');
});
