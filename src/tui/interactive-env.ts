/**
 * Ink decides once, when it is first imported, whether it runs "in CI" (the is-in-ci package reads CI and
 * CONTINUOUS_INTEGRATION), and in CI it writes only the last frame, on exit: a TUI that shows nothing. The TUI
 * only ever runs on a real terminal (the command refuses otherwise), so those variables must not decide. This
 * module is imported before ink (see run.tsx): it hides them while ink loads, and `restoreCiEnv` puts them
 * back once ink has made its choice, so nothing else in the process sees a changed environment.
 */
const hidden: Record<string, string> = {};
for (const key of ['CI', 'CONTINUOUS_INTEGRATION']) {
  const value = process.env[key];
  if (value !== undefined) {
    hidden[key] = value;
    delete process.env[key];
  }
}

export function restoreCiEnv(): void {
  Object.assign(process.env, hidden);
}
