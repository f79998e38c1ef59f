
/**
 * How the mount check runs external programs (mount, umount, unshare, getconf). Injected so that tests can
 * fake it and assert the exact argv; the default runs them with execa, without a shell.
 *
 * stdout and stderr are byte strings (latin1: one char per byte), so that names read back from `find -printf`
 * keep their exact bytes (see src/core/model/path.ts).
 */
export interface RunOptions {
  /** Working directory (the short `l/<link>` form of a deep overlay mount is resolved from it). */
  cwd?: string;
  /** Milliseconds before the process is killed (default 120 000). */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface Runner {
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

/** Default runner: execa, no shell, C locale. */
export const execaRunner: Runner = {
  async run(argv, opts = {}) {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error('runner: empty argv');
    // Loaded on first use: execa costs ~90 ms of start-up that commands which never mount should not pay.
    const { execa } = await import('execa');
    const r = await execa(cmd, args, {
      reject: false,
      encoding: 'latin1',
      stripFinalNewline: false,
      stdin: 'ignore',
      timeout: opts.timeoutMs ?? 120_000,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: { LC_ALL: 'C' },
      extendEnv: true,
      // No signal-exit hooks: they would kill this process on SIGINT/SIGTERM as soon as they are the last
      // listener, before our own handler has unmounted. mount/umount are short; let them finish.
      cleanup: false,
    });
    const stderr = String(r.stderr ?? '') + (r.timedOut ? '\n(timed out)' : '') + (r.failed && r.exitCode === undefined ? `\n${r.message}` : '');
    return { stdout: String(r.stdout ?? ''), stderr, exitCode: r.exitCode ?? (r.timedOut ? 124 : 127) };
  },
};
