import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { ModelProgress } from '../core/analysis/model.js';
import type { Problem } from '../core/model/types.js';
import { safeText, safeMessage } from '../report/format.js';
import { EXIT, type CommandIO } from './command.js';

/**
 * What every command that reads evidence does with its output: write it as it comes (waiting when the reader
 * is slower than we are), show progress on a terminal's stderr, and end with the problems of what was read and
 * the exit code they mean.
 */

/** Write text or bytes to a stream, waiting for it to drain when it asks (nothing is written for nothing). */
export function sinkOf(stream: Writable): (data: string | Uint8Array) => void | Promise<void> {
  return (data) => {
    if (data.length === 0) return;
    if (!stream.write(data)) return once(stream, 'drain').then(() => undefined);
  };
}

/**
 * A status line on stderr while layers are read (only when stderr is a terminal), redrawn from `read()` every
 * 100 ms; `done()` clears it and stops. With stdout on the same terminal, `pause()` clears it before output.
 */
export function progressLine(io: CommandIO, read: () => ModelProgress): { pause: () => void; done: () => void } {
  if (!io.stderrTTY) return { pause: () => {}, done: () => {} };
  let shown = false;
  let paused = false;
  const draw = () => {
    if (paused) return;
    const p = read();
    if (!p.layersWanted) return;
    const rate = p.elapsedMs > 0 ? Math.round((p.entries * 1000) / p.elapsedMs) : 0;
    const text = `reading layers ${p.layersRead}/${p.layersWanted} · ${compact(p.entries)} entries · ${compact(rate)}/s · ${safeText(p.detail)}`;
    io.stderr.write(`\r\x1b[K${text.slice(0, 200)}`);
    shown = true;
  };
  const timer = setInterval(draw, 100);
  timer.unref();
  const clear = () => {
    if (shown) io.stderr.write('\r\x1b[K');
    shown = false;
  };
  return {
    pause() {
      if (!io.isTTY) return;
      paused = true;
      clear();
    },
    done() {
      clearInterval(timer);
      clear();
    },
  };
}

function compact(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${Math.round(n / 1e3)}k` : String(n);
}

/** The exit code problems mean: 4 when any is an error. */
export function problemsExit(problems: readonly Problem[]): number {
  return problems.some((p) => p.severity === 'error') ? EXIT.evidenceProblems : EXIT.ok;
}

/**
 * For commands whose stdout is data (a listing, a tar): the problems of what was read go to stderr, so that
 * nothing about the evidence is silent, and the exit code says whether any is an error.
 */
export function reportProblems(io: CommandIO, command: string, problems: readonly Problem[]): number {
  if (problems.length) {
    const errors = problems.filter((p) => p.severity === 'error').length;
    io.stderr.write(`layerscope ${command}: ${problems.length} problem(s) in the evidence${errors ? `, ${errors} error(s)` : ''} (layerscope report lists them all):\n`);
    for (const p of problems.slice(0, 20)) io.stderr.write(`  ${p.severity} ${p.code}: ${safeMessage(p.message)}${p.path ? ` (${safeMessage(p.path)})` : ''}\n`);
    if (problems.length > 20) io.stderr.write(`  ... ${problems.length - 20} more\n`);
  }
  return problemsExit(problems);
}
