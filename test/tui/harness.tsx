/**
 * Drive the App in ink-testing-library and compare frames with golden files under snapshots/tui/.
 *
 * LAYERSCOPE_UPDATE_SNAPSHOTS=1 rewrites the golden files instead of comparing; with CI=true that is an
 * error (a CI run must never bless its own output).
 */
// First: Ink decides at import whether it runs "in CI" (CI=true in the CI run), and then renders only the last
// frame and ignores resizes; the TUI hides those variables the same way (src/tui/interactive-env.ts).
import { restoreCiEnv } from '../../src/tui/interactive-env.js';
import path from 'node:path';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import React from 'react';
import { render } from 'ink-testing-library';
import { App } from '../../src/tui/components/App.js';
import type { Driver } from '../../src/tui/session.js';
import type { State } from '../../src/tui/state/index.js';
import { matchGoldenFile } from '../support/golden.js';

restoreCiEnv();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SNAPSHOT_DIR = path.join(ROOT, 'snapshots/tui');
export { UPDATE, assertNotUpdatingInCI } from '../support/golden.js';

/** Named keys, as a terminal sends them. */
export const K = {
  up: '\u001B[A',
  down: '\u001B[B',
  right: '\u001B[C',
  left: '\u001B[D',
  pgup: '\u001B[5~',
  pgdn: '\u001B[6~',
  home: '\u001B[H',
  end: '\u001B[F',
  enter: '\r',
  tab: '\t',
  shiftTab: '\u001B[Z',
  esc: '\u001B',
  space: ' ',
  backspace: '\u007F',
  ctrl: (c: string) => String.fromCharCode(c.toLowerCase().charCodeAt(0) - 96),
  ctrlSpace: '\u0000',
  wheelUp: '\u001B[<64;10;10M',
  wheelDown: '\u001B[<65;10;10M',
} as const;

export const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Driven {
  frame(): string;
  frames: string[];
  press(...keys: string[]): Promise<void>;
  type(text: string): Promise<void>;
  /** Wait until the predicate holds on the latest state (the machine may be slow). */
  until(pred: (s: State) => boolean, ms?: number): Promise<void>;
  state(): State;
  exitCode: number | null;
  unmount(): void;
}

export async function drive(initial: State, opts: { driver?: Driver; color?: boolean } = {}): Promise<Driven> {
  let last: State = initial;
  const d: Partial<Driven> = { exitCode: null };
  const r = render(
    <App initial={initial} driver={opts.driver} color={opts.color ?? false} followTerminal={false} onState={(s) => (last = s)} onExit={(c) => (d.exitCode = c)} />,
  );
  // ink-testing-library's terminal is 100 columns wide whatever the frame: give it the state's width, so that a
  // 140-column frame is laid out at 140 columns (Ink reads the width again on 'resize').
  if (initial.width !== 100) {
    Object.defineProperty(r.stdout, 'columns', { get: () => initial.width, configurable: true });
    r.stdout.emit('resize');
    // Wait for the frame laid out at that width (a loaded machine may take longer than a tick): every line of
    // it, the widest one at least, reaches the width; a frame half laid out at 100 columns must not be read.
    const laidOut = () => {
      // Every bordered row spans the whole width (only the header and the footer line may be shorter).
      const rows = (r.lastFrame() ?? '').split('\n').slice(1, -1);
      return rows.length > 0 && rows.every((l) => [...l].length === initial.width);
    };
    for (let i = 0; i < 250 && !laidOut(); i++) await wait(20);
  }
  await wait(30);
  d.frame = () => r.lastFrame() ?? '';
  d.frames = r.frames;
  d.state = () => last;
  // Settled: no new frame for a while (renders and passive effects have run).
  const settle = async () => {
    let n = -1;
    for (let i = 0; i < 200 && n !== r.frames.length; i++) {
      n = r.frames.length;
      await wait(30);
    }
  };
  d.press = async (...keys: string[]) => {
    for (const k of keys) {
      r.stdin.write(k);
      // Ink holds a lone ESC briefly to see whether a sequence follows.
      await wait(k === K.esc ? 80 : 5);
      await settle();
    }
  };
  d.until = async (pred, ms = 10000) => {
    const end = Date.now() + ms;
    while (!pred(last)) {
      if (Date.now() > end) throw new Error(`timed out waiting for the state; screen ${last.screen}, frame:\n${r.lastFrame()}`);
      await wait(20);
    }
    await settle();
  };
  d.type = async (text: string) => {
    for (const ch of text) await d.press!(ch);
  };
  d.unmount = () => r.unmount();
  return d as Driven;
}

/** Compare a frame with snapshots/tui/<name>.txt (or write it when updating). */
export function matchGolden(name: string, frame: string): void {
  matchGoldenFile(`tui/${name}.txt`, frame.replace(/[ \t]+$/gm, '') + '\n');
}

/** No raw control characters except newline: nothing from evidence may drive the terminal. */
export function assertNoControlChars(frame: string): void {
  const bad = [...frame].filter((c) => {
    const x = c.codePointAt(0)!;
    return (x < 0x20 && x !== 0x0a) || x === 0x7f || (x >= 0x80 && x < 0xa0);
  });
  assert.equal(bad.length, 0, `frame holds raw control characters: ${JSON.stringify(bad.join(''))}`);
}
