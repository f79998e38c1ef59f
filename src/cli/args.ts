import type { Command, ParsedArgs } from './command.js';
import { UsageError } from '../core/model/errors.js';

/** Parse argv for one command: `--flag value`, `--flag=value`, booleans, `--` ends flags, `-` is positional. */
export function parseArgs(argv: string[], command: Pick<Command, 'name' | 'flags'>): ParsedArgs {
  const out: ParsedArgs = { positional: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    const short = /^-[a-zA-Z]$/.test(a) ? Object.entries(command.flags).find(([, f]) => f.short === a.slice(1)) : undefined;
    if (short) {
      // A command's own one-letter flag (`logs -t`): read as its long form.
      argv = [...argv.slice(0, i), `--${short[0]}`, ...argv.slice(i + 1)];
      i--;
      continue;
    }
    if (!a.startsWith('--') || a === '-') {
      if (a.startsWith('-') && a !== '-' && a !== '-h' && a !== '-o') throw new UsageError(`unknown option ${JSON.stringify(a)} for ${command.name}`);
      if (a === '-h') {
        out.flags.help = true;
        continue;
      }
      if (a === '-o') {
        // -o is the conventional short form of --output.
        argv = [...argv.slice(0, i), '--output', ...argv.slice(i + 1)];
        i--;
        continue;
      }
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (name === 'help') {
      out.flags.help = true;
      continue;
    }
    const spec = command.flags[name];
    if (!spec) throw new UsageError(`unknown option --${name} for ${command.name} (see layerscope ${command.name} --help)`);
    let value: string | true = true;
    if (spec.value) {
      if (eq >= 0) value = a.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw new UsageError(`--${name} needs a value`);
    } else if (eq >= 0) throw new UsageError(`--${name} takes no value`);
    if (spec.repeat) {
      const prev = out.flags[name];
      out.flags[name] = [...(Array.isArray(prev) ? prev : []), value as string];
    } else out.flags[name] = value;
  }
  return out;
}
