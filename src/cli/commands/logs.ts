import { flagBool, flagChoice, flagString, type Command, type CommandIO } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import { findContainer } from '../../core/analysis/select.js';
import { containerLogs, entryTime, LogTimeError, parseLogTime, type LogEntry, type LogsOptions } from '../../core/sources/logs/index.js';
import type { ParsedArgs } from '../command.js';
import { logEntryJson, terminalSafe } from '../../report/logs.js';
import { reportProblems, sinkOf } from '../output.js';
import { withSource } from './analysis.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG } from '../source.js';

export const logsCommand: Command = {
  name: 'logs',
  summary: "a container's output, read offline from a Docker data root: what docker logs prints, byte for byte",
  usage: [
    'layerscope logs SOURCE --container ID|NAME [-t] [--since T] [--until T] [--tail N] [--format text|json] [--raw]',
    'Drivers read: json-file and local (rotated and compressed files included), and the local cache docker keeps for drivers it cannot read back (syslog, gelf, fluentd...). Any other driver (none, journald...) is named with where its logs went, exit 3.',
    "text: the container's stdout entries on our stdout, its stderr entries on our stderr, as docker logs without a TTY (a TTY container's output is all stdout). To a pipe or file the bytes are exactly docker logs' bytes. To a terminal, escape sequences and other control characters in the lines are shown escaped (\\e, \\r, \\x07), bytes that are not UTF-8 as \\xNN: a log line must not drive the investigator's terminal; --raw writes the bytes anyway.",
    "json: one object a line (JSON Lines), in order: {stream, time, partial, line}; time as docker logs -t prints it; a line that is not valid UTF-8 also comes as lineBase64, its exact bytes (line then has U+FFFD for the bad bytes).",
    "Times: -t prefixes each entry with its time as docker does (RFC 3339, nine fraction digits; local-driver times in UTC, where docker uses the engine's zone). --since/--until take what docker logs takes: a duration before now (10m, 1h30m), an RFC 3339 date or time (2024-05-01, 2024-05-01T12:00:00.5Z, +02:00; no zone = this machine's), or unix seconds (1714564800.5). --tail N counts entries from the end (a line over 16 KiB is several), before --since/--until apply, as docker does.",
    'Problems with the files (a truncated or damaged log, a bad frame, bad gzip data, a symlink in place of a log file) go to stderr after the entries, naming the file and the line or offset; the good entries are all written; exit 4.',
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    container: { value: true, help: 'container name or ID (or unique ID prefix)' },
    timestamps: { value: false, short: 't', help: 'show the time of each entry, as docker logs -t' },
    since: { value: true, help: 'entries at or after this time (duration, RFC 3339, or unix seconds)' },
    until: { value: true, help: 'entries up to this time' },
    tail: { value: true, short: 'n', help: 'the last N entries ("all" by default)' },
    format: { value: true, help: 'text (default) or json (JSON Lines)' },
    raw: { value: false, help: 'text to a terminal: write the bytes unescaped (terminal escapes in the log will act)' },
  },
  async run(args, io) {
    const fmt = flagChoice(args, 'format', ['text', 'json']);
    const ref = flagString(args, 'container');
    if (!ref) throw new UsageError('logs needs --container ID|NAME');
    if (args.positional.length !== 1) throw new UsageError('expected exactly one SOURCE');
    const opts = logsOptions(args);
    return withSource(args, io, async (source) => {
      const c = findContainer(source, ref);
      const logs = containerLogs(c, opts);
      if (fmt === 'json') await writeJson(logs.entries, io);
      else await writeText(logs.entries, io, { timestamps: flagBool(args, 'timestamps'), raw: flagBool(args, 'raw') });
      // This container's own problems (its config files, as inspect shows them) and those of its logs.
      const mine = c.stateDir ? source.problems.filter((p) => p.path !== null && (p.path === c.stateDir || p.path.startsWith(c.stateDir + '/'))) : [];
      return reportProblems(io, 'logs', [...mine, ...logs.problems]);
    });
  },
};

function logsOptions(args: ParsedArgs): LogsOptions {
  const opts: LogsOptions = {};
  const now = new Date();
  const time = (name: 'since' | 'until') => {
    const v = flagString(args, name);
    if (v === undefined || v === '') return undefined;
    try {
      return parseLogTime(v, now);
    } catch (err) {
      if (err instanceof LogTimeError) throw new UsageError(`--${name}: ${err.message}`);
      throw err;
    }
  };
  opts.since = time('since');
  opts.until = time('until');
  const tail = flagString(args, 'tail');
  if (tail !== undefined && tail !== 'all') {
    if (!/^-?\d+$/.test(tail)) throw new UsageError(`--tail takes a number of entries or "all", not ${JSON.stringify(tail)}`);
    opts.tail = Number(tail);
  }
  return opts;
}

/**
 * The entries' bytes, each to the stream it came from, batched (a write per entry would be millions of writes)
 * and flushed whenever the stream changes, so that a terminal showing both interleaves them in order.
 */
async function writeText(entries: AsyncIterable<LogEntry>, io: CommandIO, o: { timestamps: boolean; raw: boolean }): Promise<void> {
  const targets = {
    stdout: { write: sinkOf(io.stdout), escape: io.isTTY && !o.raw },
    stderr: { write: sinkOf(io.stderr), escape: io.stderrTTY === true && !o.raw },
  };
  let current: keyof typeof targets = 'stdout';
  let batch: Buffer[] = [];
  let size = 0;
  const flush = async () => {
    if (!batch.length) return;
    const out = batch.length === 1 ? batch[0]! : Buffer.concat(batch, size);
    batch = [];
    size = 0;
    await targets[current].write(out);
  };
  for await (const e of entries) {
    if (e.stream !== current) {
      await flush();
      current = e.stream;
    }
    const t = targets[current];
    const prefix = o.timestamps ? entryTime(e) + ' ' : '';
    const bytes = t.escape ? Buffer.from(prefix + terminalSafe(e.line), 'utf8') : prefix ? Buffer.concat([Buffer.from(prefix), e.line]) : e.line;
    batch.push(bytes);
    size += bytes.length;
    if (size >= 1 << 16) await flush();
  }
  await flush();
}

async function writeJson(entries: AsyncIterable<LogEntry>, io: CommandIO): Promise<void> {
  const write = sinkOf(io.stdout);
  let batch = '';
  for await (const e of entries) {
    batch += JSON.stringify(logEntryJson(e)) + '\n';
    if (batch.length >= 1 << 16) {
      await write(batch);
      batch = '';
    }
  }
  if (batch) await write(batch);
}
