// First: hides CI variables from ink's import-time check (see interactive-env.ts).
import { restoreCiEnv } from './interactive-env.js';
import { render } from 'ink';
import { App } from './components/App.js';
import { Session, type SessionOptions } from './session.js';
import { initialState } from './state/index.js';
import { loadUserConfig } from './config.js';
import { useKeyConfig } from './keys.js';
import { safeText } from '../report/format.js';

restoreCiEnv();

/** Terminal modes we switch on, and the sequences that switch them off again. */
const ALT_SCREEN_ON = '\x1b[?1049h\x1b[H';
const ALT_SCREEN_OFF = '\x1b[?1049l';
/** Button-event mouse reporting, SGR encoding (wheel = buttons 64/65). */
const MOUSE_ON = '\x1b[?1000h\x1b[?1006h';
const MOUSE_OFF = '\x1b[?1006l\x1b[?1000l';
const CURSOR_SHOW = '\x1b[?25h';

export interface TuiOptions extends SessionOptions {
  stdout: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  /** Process to take signals from (default: process). */
  signals?: Pick<NodeJS.Process, 'on' | 'off'>;
}

/** NO_COLOR (https://no-color.org): present and not empty disables colour. */
export function colourWanted(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return isTTY && env.TERM !== 'dumb';
}

/**
 * Run the full-screen UI until the user quits; return the exit code. The terminal is restored on every path:
 * normal quit, an exception, SIGINT/SIGTERM/SIGHUP, and process exit.
 */
export async function runTui(opts: TuiOptions): Promise<number> {
  const { stdout, stdin, stderr, env } = opts;
  const signals = opts.signals ?? process;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      stdin.setRawMode?.(false);
    } catch {}
    stdout.write(MOUSE_OFF + ALT_SCREEN_OFF + CURSOR_SHOW);
  };
  const session = new Session(opts);
  let code = 0;
  let instance: ReturnType<typeof render> | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    code = sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129;
    instance?.unmount();
    restore();
  };
  const onExit = () => restore();
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);
  signals.on('SIGHUP', onSignal);
  process.on('exit', onExit);
  // The user's settings (their keys, how an image opens, colours), layerscope's config file over dive's. What is
  // wrong in them is said on stderr once the screen is back (said before, the full-screen UI would hide it).
  const cfg = loadUserConfig(env);
  const warnings = [...cfg.warnings, ...useKeyConfig(cfg.keys, cfg.extraKeys)];
  stdout.write(ALT_SCREEN_ON + MOUSE_ON);
  try {
    const state = { ...initialState(stdout.columns || 80, (stdout.rows || 24) - 1, opts.location), start: cfg.start, attrs: cfg.attrs, emptySteps: cfg.emptySteps };
    const color = cfg.colors === false ? false : colourWanted(env, !!stdout.isTTY);
    instance = render(<App initial={state} driver={session} color={color} onExit={(c) => (code = c)} />, {
      stdout,
      stdin,
      stderr,
      exitOnCtrlC: false,
      patchConsole: false,
      // A keypress that follows a frame by more than 1/60 s is drawn at once (Ink renders on the leading edge).
      maxFps: 60,
    });
    await instance.waitUntilExit();
  } finally {
    session.stop();
    instance?.unmount();
    restore();
    // A verify still running (q or Ctrl-C while it mounts): its mount is undone before we return.
    await session.settled();
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
    signals.off('SIGHUP', onSignal);
    process.off('exit', onExit);
    for (const w of warnings) stderr.write(`layerscope: config: ${safeText(w)}\n`);
  }
  return code;
}
