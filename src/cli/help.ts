import type { Command, CommandIO } from './command.js';

/**
 * Generated help (`layerscope --help`, `layerscope COMMAND --help`), laid out for a terminal: flag names in a
 * column, their help wrapped beside it (a name too long for the column gets the help on the next line, never
 * run into it), usage forms and prose wrapped at the width, continuation lines indented under what they continue.
 */

/** Columns to lay help out in: the terminal's (80..120), else 80 (a pipe, a file, a pager). */
export function helpWidth(io: Pick<CommandIO, 'isTTY' | 'stdout'>): number {
  const cols = io.isTTY ? (io.stdout as { columns?: number }).columns : undefined;
  return cols ? Math.max(80, Math.min(120, cols)) : 80;
}

/**
 * `text` as lines of at most `width` columns (a word longer than the line stays whole), the first prefixed with
 * `first`, the others with `rest`. Words are split at spaces, except inside [...] and (...) groups of a usage
 * form when `groups` is set (a group longer than the line is split after all).
 */
export function wrap(text: string, width: number, first = '', rest = first, groups = false): string[] {
  const words = groups ? usageWords(text, width - rest.length) : text.split(/ +/).filter(Boolean);
  const out: string[] = [];
  let line = first;
  let empty = true;
  for (const w of words) {
    const indent = out.length ? rest : first;
    if (!empty && line.length + 1 + w.length > width) {
      out.push(line);
      line = rest + w;
    } else {
      line = empty ? indent + w : `${line} ${w}`;
    }
    empty = false;
  }
  out.push(line);
  return out;
}

/** A usage form's words, each bracket group kept together when it fits on a line. */
function usageWords(text: string, max: number): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  const split = text.split(/ +/).filter(Boolean);
  for (let i = 0; i < split.length; i++) {
    let w = split[i]!;
    // A flag and its value's name stay on one line (`-o DIR`, `--layer N`).
    if (/^\[?-/.test(w) && !/[\])]$/.test(w) && /^[A-Z][A-Z0-9_./:|-]*[\])]*$/.test(split[i + 1] ?? '')) w = `${w} ${split[++i]}`;
    cur = cur ? `${cur} ${w}` : w;
    for (const ch of w) depth += ch === '[' || ch === '(' ? 1 : ch === ']' || ch === ')' ? -1 : 0;
    if (depth <= 0) {
      out.push(cur);
      cur = '';
      depth = 0;
    }
  }
  if (cur) out.push(cur);
  return out.flatMap((g) => (g.length > max && g.includes(' ') ? g.split(/ +/) : [g]));
}

const FLAG_COLUMN = 24;

/** What a flag's value is called in the command's own usage forms (`--image REF`, `--format text|json`), else VALUE. */
function placeholder(name: string, usage: string[], short?: string): string {
  // -o is every command's short form of --output (args.ts).
  const forms = [`--${name}`, ...(short ? [`-${short}`] : []), ...(name === 'output' ? ['-o'] : [])].map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`(?:^|\\s|\\[)(?:${forms.join('|')})[ =]([A-Z][A-Z0-9_./:|-]*|[a-z0-9]+(?:\\|[a-z0-9]+)+)(?=[\\s\\]|)]|$)`);
  for (const u of usage) {
    const m = re.exec(u);
    if (m) return m[1]!;
  }
  return 'VALUE';
}

/** One flag: `  -t, --name VALUE` in its column, the help wrapped beside it. */
export function flagLines(name: string, f: Command['flags'][string], width: number, usage: string[] = []): string[] {
  const head = `  ${f.short ? `-${f.short}, ` : ''}--${name}${f.value ? ` ${f.arg ?? placeholder(name, usage, f.short)}` : ''}`;
  const help = f.help + (f.repeat ? ' (repeatable)' : '');
  const pad = ' '.repeat(FLAG_COLUMN);
  // At least two spaces between a name and its help: a name that leaves less gets the help on the next line.
  if (head.length + 2 > FLAG_COLUMN) return [head, ...wrap(help, width, pad)];
  return wrap(help, width, head.padEnd(FLAG_COLUMN), pad);
}

/**
 * Usage entries as paragraphs: the table's authors broke some sentences over several entries, so an entry that
 * does not end a sentence (. : or a closing parenthesis) runs on into the next one, which then starts no new line.
 */
function paragraphs(lines: string[]): string[] {
  const out: string[] = [];
  let open = false;
  for (const l of lines) {
    if (open && !/^\s/.test(l)) out[out.length - 1] += ` ${l}`;
    else out.push(l);
    open = !/[.:)]$/.test(l.trimEnd());
  }
  return out;
}

export function commandHelp(c: Command, width = 80): string {
  // Usage forms start with "layerscope"; any other line is explanation, printed as a paragraph below them.
  const isForm = (u: string) => u === `layerscope ${c.name}` || u.startsWith(`layerscope ${c.name} `) || (c.name === 'tui' && u.startsWith('layerscope ['));
  const forms = c.usage.filter(isForm);
  const prose = c.usage.filter((u) => !isForm(u));
  const formLines = forms.flatMap((u) => {
    const cmd = /^layerscope(?: \S+)? ?/.exec(u)?.[0] ?? 'layerscope ';
    return wrap(u, width, 'usage: ', ' '.repeat(Math.min(7 + cmd.length, 24)), true);
  });
  const proseLines = paragraphs(prose).flatMap((p) => {
    const indent = /^ */.exec(p)![0];
    return wrap(p.trim(), width, indent, indent);
  });
  const flags = Object.entries(c.flags).flatMap(([n, f]) => flagLines(n, f, width, c.usage));
  return [...wrap(`layerscope ${c.name}: ${c.summary}`, width, '', '  '), '', ...formLines, ...(proseLines.length ? ['', ...proseLines] : []), '', ...flags, ''].join('\n');
}

/** `layerscope --help`: the forms, what a SOURCE is, every command, the exit codes. */
export function helpText(commands: Command[], width = 80): string {
  const lines = [
    'layerscope: the truth about a container image or a Docker host',
    '',
    'usage: layerscope [SOURCE]        the browser (default SOURCE: /var/lib/docker);',
    '                                  with CI=true in the environment, the CI gate',
    '       layerscope COMMAND [ARGS]  (layerscope COMMAND --help for its flags)',
    '',
    ...wrap(
      'a Docker data root, a containerd root, an image archive (docker save, OCI; gzip/zstd), an OCI layout directory, - (an archive on stdin), or an image reference (nginx:latest: asks docker, then podman, to save it). ' +
        'docker://REF, podman://REF, docker-archive://PATH, oci-archive://PATH or --source docker|podman|docker-archive|oci-archive say which. An existing path always wins.',
      width,
      'SOURCE: ',
      '        ',
    ),
    '',
    'commands:',
    ...commands.flatMap((c) => wrap(c.summary, width, `  ${c.name.padEnd(10)} `, ' '.repeat(13))),
    '',
    ...wrap('0 ok; 1 a check failed (CI gate, verify); 2 usage; 3 source unreadable or not found; 4 finished, but the evidence has errors (listed in the output)', width, 'exit codes: ', ' '.repeat(12)),
    '',
  ];
  return lines.join('\n');
}
