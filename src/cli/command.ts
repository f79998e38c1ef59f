import { UsageError } from '../core/model/errors.js';
import type { Writable } from 'node:stream';

/**
 * A CLI command. Commands are data: the same table drives dispatch, `--help` and the README's command list.
 * A command returns its exit code; it never calls process.exit (the single place that exits is main.ts).
 */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage lines, e.g. `layerscope report [SOURCE] [--image REF]... [--format text|json]`. */
  usage: string[];
  /** Flags this command accepts: name (without --) → whether it takes a value, and if it may repeat. */
  flags: Record<
    string,
    {
      value: boolean;
      repeat?: boolean;
      help: string;
      /** A one-letter form, e.g. `t` for -t. */
      short?: string;
      /** The value's name in --help (default: as the usage forms write it, `--image REF`; else VALUE). */
      arg?: string;
    }
  >;
  run(args: ParsedArgs, io: CommandIO): Promise<number>;
}

export interface ParsedArgs {
  positional: string[];
  /** Flag values; repeatable flags collect arrays; boolean flags are `true`. */
  flags: Record<string, string | string[] | boolean>;
}

export interface CommandIO {
  stdout: Writable;
  stderr: Writable;
  /** Whether stdout is a terminal (colour, TUI). */
  isTTY: boolean;
  /** Whether stderr is a terminal (progress lines go there only then). */
  stderrTTY?: boolean;
  env: NodeJS.ProcessEnv;
}

/** Exit codes, documented in the README. */
export const EXIT = {
  ok: 0,
  /** The check the user asked for failed: CI gate failed, verify found tampering or a mismatch. */
  failed: 1,
  usage: 2,
  /** The source could not be opened at all, or the thing asked for does not exist. */
  sourceError: 3,
  /** The analysis completed, but the evidence has error-severity problems (listed in the output). */
  evidenceProblems: 4,
  /** A bug of ours (sysexits' EX_SOFTWARE): never mistaken for a failed check or a verdict. */
  internal: 70,
  interrupted: 130,
} as const;

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  if (Array.isArray(v)) return v[v.length - 1];
  return typeof v === 'string' ? v : undefined;
}

export function flagList(args: ParsedArgs, name: string): string[] {
  const v = args.flags[name];
  if (Array.isArray(v)) return v;
  return typeof v === 'string' ? [v] : [];
}

/**
 * A flag that takes one of a fixed set of words (`--format text|json`); the first is the default. Anything
 * else is a usage error naming the choices.
 */
export function flagChoice<T extends string>(args: ParsedArgs, name: string, choices: readonly [T, ...T[]]): T {
  const v = flagString(args, name) ?? choices[0];
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${name} takes ${choices.join(', ')}, not ${JSON.stringify(v)}`);
  return v as T;
}

export function flagBool(args: ParsedArgs, name: string): boolean {
  return args.flags[name] === true;
}
