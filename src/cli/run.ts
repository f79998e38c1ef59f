import { Writable } from 'node:stream';
import { commands } from './commands/index.js';
import { parseArgs } from './args.js';
import { commandHelp, helpText, helpWidth } from './help.js';
import { EXIT, type Command, type CommandIO } from './command.js';
import { LayerscopeError, NotFoundError, SourceError, UsageError } from '../core/model/errors.js';
import { safeText } from '../report/format.js';
import { InputFileError, OutputError } from '../core/output/index.js';
import { withImageRoot } from './source.js';

/**
 * The one place that turns outcomes into exit codes and errors into messages. Commands return codes; typed
 * errors map to codes here; anything else is a bug and says so.
 */
export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-V') {
    io.stdout.write(`layerscope ${await version()}\n`);
    return EXIT.ok;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(helpText(commands, helpWidth(io)));
    return EXIT.ok;
  }
  let command = commands.find((c) => c.name === first);
  let args = rest;
  if (!command) {
    // `layerscope [SOURCE]`: the TUI when there is one, else the report; in CI (`CI=true layerscope REF`, as
    // `CI=true dive REF`), the CI gate. `layerscope tui REF` always opens the browser.
    command = defaultCommand(io.env);
    args = argv;
  }
  try {
    // --image-root DIR stands for the SOURCE of every command that takes one (their first positional).
    const parsed = command.flags['image-root'] ? withImageRoot(parseArgs(args, command), true) : parseArgs(args, command);
    if (parsed.flags.help) {
      io.stdout.write(commandHelp(command, helpWidth(io)));
      return EXIT.ok;
    }
    const format = typeof parsed.flags.format === 'string' ? parsed.flags.format : '';
    return await command.run(parsed, io.isTTY && /^(json|jsonl|inspect)$/.test(format) ? { ...io, stdout: terminalJson(io.stdout) } : io);
  } catch (err) {
    return reportError(err, io, command);
  }
}

/** The command `layerscope [SOURCE]` runs: the CI gate when CI is set true (as Go's ParseBool, which dive's viper uses, reads it). */
export function defaultCommand(env: NodeJS.ProcessEnv): Command {
  const named = (n: string) => commands.find((c) => c.name === n);
  if (/^(1|t|true)$/i.test(env.CI ?? '')) return named('ci')!;
  return named('tui') ?? named('report')!;
}

function reportError(err: unknown, io: CommandIO, command: Command): number {
  const msg = (e: Error) => `layerscope ${command.name}: ${safeText(e.message)}\n`;
  if (err instanceof OutputError || err instanceof InputFileError) {
    // A refused output or input file: a usage error (exit 2), said without the usage lines (the path was the problem).
    io.stderr.write(msg(err));
    return EXIT.usage;
  }
  if (err instanceof UsageError) {
    io.stderr.write(msg(err) + `usage: ${command.usage.filter((u) => u.startsWith('layerscope')).join('\n       ')}\n`);
    return EXIT.usage;
  }
  if (err instanceof SourceError || err instanceof NotFoundError) {
    io.stderr.write(msg(err));
    return EXIT.sourceError;
  }
  if (err instanceof LayerscopeError) {
    io.stderr.write(msg(err));
    return EXIT.sourceError;
  }
  io.stderr.write(`layerscope ${command.name}: internal error: ${safeText(err instanceof Error ? err.stack ?? err.message : String(err))}\n`);
  return EXIT.internal;
}

async function version(): Promise<string> {
  const { readFileSync } = await import('node:fs');
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}


/**
 * JSON on a terminal: JSON.stringify leaves C1 controls (U+0080-U+009F, which terminals act on: U+009B is CSI),
 * bidi overrides and zero-width characters as they are. They only ever occur inside JSON strings, so writing them
 * as \uXXXX escapes gives the same JSON, harmless to the screen. (To a pipe, JSON goes as it is.)
 */
function terminalJson(out: Writable): Writable {
  const unsafe = /[\u0080-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
  const esc = (c: string) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _enc, cb) {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      out.write(text.replace(unsafe, esc), cb);
    },
    final(cb) {
      cb();
    },
  });
}
