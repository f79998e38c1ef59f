import * as fs from 'node:fs';

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

/**
 * PATH with its absolute entries only. A deep overlay mount runs with its cwd in the evidence (the short
 * `l/<link>` names are resolved from there), and an empty or relative PATH entry (`PATH=:/usr/bin`, `.`) would
 * then find a `mount` planted in the evidence: programs are looked up here, before any chdir, and the shell
 * scripts we run get this PATH too.
 */
export function absolutePath(path = process.env.PATH ?? ''): string {
  const dirs = path.split(':').filter((d) => d.startsWith('/'));
  return (dirs.length ? dirs : ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']).join(':');
}

const found = new Map<string, string>();

/** The absolute path of a program, looked up along {@link absolutePath}. */
export function resolveProgram(cmd: string, path = absolutePath()): string {
  if (cmd.includes('/')) {
    if (!cmd.startsWith('/')) throw new Error(`runner: refusing the relative program path ${JSON.stringify(cmd)}`);
    return cmd;
  }
  const key = `${path}\0${cmd}`;
  let hit = found.get(key);
  if (hit === undefined) {
    hit = '';
    for (const dir of path.split(':')) {
      const p = `${dir}/${cmd}`;
      try {
        fs.accessSync(p, fs.constants.X_OK);
        if (fs.statSync(p).isFile()) {
          hit = p;
          break;
        }
      } catch {
        /* not here */
      }
    }
    found.set(key, hit);
  }
  if (!hit) throw new Error(`runner: ${cmd} not found in ${path}`);
  return hit;
}

/** Default runner: execa, no shell, C locale, programs by absolute path. */
export const execaRunner: Runner = {
  async run(argv, opts = {}) {
    const [name, ...args] = argv;
    if (!name) throw new Error('runner: empty argv');
    const path = absolutePath();
    let cmd: string;
    try {
      cmd = resolveProgram(name, path);
    } catch (err) {
      return { stdout: '', stderr: (err as Error).message, exitCode: 127 };
    }
    // Loaded on first use: execa costs ~90 ms of start-up that commands which never mount should not pay.
    const { execa } = await import('execa');
    const r = await execa(cmd, args, {
      reject: false,
      encoding: 'latin1',
      stripFinalNewline: false,
      stdin: 'ignore',
      timeout: opts.timeoutMs ?? 120_000,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: { LC_ALL: 'C', PATH: path },
      extendEnv: true,
      // No signal-exit hooks: they would kill this process on SIGINT/SIGTERM as soon as they are the last
      // listener, before our own handler has unmounted. mount/umount are short; let them finish.
      cleanup: false,
    });
    const stderr = String(r.stderr ?? '') + (r.timedOut ? '\n(timed out)' : '') + (r.failed && r.exitCode === undefined ? `\n${r.message}` : '');
    return { stdout: String(r.stdout ?? ''), stderr, exitCode: r.exitCode ?? (r.timedOut ? 124 : 127) };
  },
};
