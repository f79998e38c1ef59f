import { Evidence, EvidenceError, describeFsError } from '../evidence.js';
import { LayerscopeError } from '../../model/errors.js';
import { LIMITS } from '../../model/limits.js';
import { ProblemSink } from '../../model/problem-sink.js';
import type { ContainerInfo, Problem } from '../../model/types.js';
import type { DecodedEntry, EntryResult } from './entry.js';
import { listLogFiles, LogReadError, logFileBytes, tailOffset, type InflateBudget, type LogFile, type Note } from './files.js';
import { countJsonLines, decodeJsonLine, jsonLines } from './json-file.js';
import { decodeLocalEntry, FrameError, localFrames } from './local.js';
import { formatDockerTime } from './time.js';

export { formatDockerTime, parseLogTime, LogTimeError } from './time.js';
export type { LogFile } from './files.js';

/**
 * A container's logs read offline from a Docker data root, as `docker logs` shows them: the same entries, in
 * the same order, with the same bytes; --tail, --since and --until with docker's meaning.
 */

/** One entry of a container log. */
export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** Nanoseconds since the epoch. */
  timeNs: bigint;
  /** The UTC offset the engine recorded the time with, in minutes (0 but for json-file lines written so). */
  offsetMin: number;
  /** The bytes `docker logs` writes for the entry: the line with its `\n`, raw (not necessarily UTF-8). */
  line: Buffer;
  /** A piece of a line that the engine cut (more than 16 KiB), or an end of output without a newline. */
  partial: boolean;
}

/** What `docker logs -t` prints before an entry: RFC 3339 with nine fraction digits. */
export function entryTime(e: Pick<LogEntry, 'timeNs' | 'offsetMin'>): string {
  return formatDockerTime(e.timeNs, e.offsetMin);
}

export interface LogsOptions {
  /**
   * From the first entry at or after this time (ns since the epoch) on, like `docker logs --since`: the pieces of
   * a line over 16 KiB carry the time of its first piece, so a later piece can be older than entries before it.
   */
  since?: bigint;
  /** Stop at the first entry after this time, like `docker logs --until`. */
  until?: bigint;
  /** The last N entries (before since/until apply, as docker does); undefined or negative: all; 0: none. */
  tail?: number;
}

export type LogFormat = 'json-file' | 'local';

export interface ContainerLogs {
  /** The container's log driver (hostconfig.json LogConfig.Type). */
  driver: string;
  /** The format read: json-file, or local (the local driver, and the cache docker keeps for other drivers). */
  format: LogFormat;
  /** The files read, oldest first. */
  files: LogFile[];
  /** The entries, streamed: each file is read as the consumer asks for more, never held whole. */
  entries: AsyncIterable<LogEntry>;
  /**
   * Problems met: those of finding the files at once, those of reading them as `entries` is consumed (complete
   * when it is done). Each names the file, and the line or offset.
   */
  problems: Problem[];
}

/** The container's logs are not somewhere we can read: which driver, and where they went. */
export class LogsUnavailableError extends LayerscopeError {
  override name = 'LogsUnavailableError';
}

/** Drivers whose logs `docker logs` reads back from the driver itself (so it keeps no local cache for them). */
const SELF_READING = new Set(['json-file', 'local', 'journald', 'etwlogs']);

/**
 * A container's logs. Throws LogsUnavailableError when the driver keeps nothing we can read (none, journald,
 * a remote driver without docker's local cache), or when the source keeps no engine files for the container.
 */
export function containerLogs(container: ContainerInfo, opts: LogsOptions = {}): ContainerLogs {
  const dir = container.stateDir;
  if (!dir) throw new LogsUnavailableError('logs.no-state-dir', `container ${container.name}: this source keeps no engine directory for it (containers/<id>/ of a Docker data root), so no logs`);
  const ev = new Evidence(dir);
  // podman (containers/storage) keeps a container's log as userdata/ctr.log in CRI's k8s-file format: not read yet.
  if (!container.inspect?.HostConfig?.LogConfig && exists(ev, 'userdata', 'ctr.log')) {
    throw new LogsUnavailableError('logs.k8s-file-unsupported', `container ${container.name}: podman keeps its log in userdata/ctr.log (the k8s-file format), which layerscope does not read yet: read that file, or \`podman logs\` on a copy of the store`, dir);
  }
  const problems: Problem[] = [];
  const note = new ProblemSink(problems, 100).note;
  const id = container.id;
  const logConfig = container.inspect?.HostConfig?.LogConfig ?? null;
  const cfg = logConfig?.Config ?? {};
  let driver = logConfig?.Type ?? '';
  if (!driver) driver = guessDriver(ev, id);
  checkLogPath(container, driver, note);

  let format: LogFormat;
  let files: LogFile[];
  let maxSize: number | null;
  if (driver === 'json-file') {
    format = 'json-file';
    maxSize = byteSize(cfg['max-size']);
    files = listLogFiles(ev, [], `${id}-json.log`, intOpt(cfg['max-file'], 1), note);
  } else if (driver === 'local') {
    format = 'local';
    maxSize = byteSize(cfg['max-size']) ?? 20 << 20;
    files = listLogFiles(ev, ['local-logs'], 'container.log', intOpt(cfg['max-file'], 5), note);
  } else if (!SELF_READING.has(driver) && driver !== 'none' && cfg['cache-disabled'] !== 'true' && exists(ev, 'container-cached.log')) {
    // "Dual logging" (Docker >= 20.10): for a driver that cannot read its logs back, docker logs reads the
    // local-format cache the engine keeps beside it.
    format = 'local';
    maxSize = byteSize(cfg['cache-max-size']) ?? 20 << 20;
    files = listLogFiles(ev, [], 'container-cached.log', intOpt(cfg['cache-max-file'], 5), note);
  } else {
    throw new LogsUnavailableError('logs.driver-unreadable', `container ${container.name}: ${whereLogsWent(driver, id, cfg)}`, dir);
  }
  // What compressed rotations may expand to: each a little over max-size, all together what max-file of them hold
  // (read twice when --tail counts them first). Without max-size the engine does not compress at all: such files
  // were put there by someone else.
  const compressed = files.filter((f) => f.compressed).length;
  const perFile = maxSize !== null ? maxSize + 2 * (1 << 20) : LIMITS.logInflatedBytes;
  const total = maxSize !== null ? 2 * perFile * Math.max(1, compressed) : LIMITS.logInflatedBytes;
  if (maxSize === null && compressed && format === 'json-file') note('warning', 'logs.gz.no-max-size', `${compressed} compressed rotation(s) without max-size in the log options: the engine compresses only rotated logs, which need max-size`, dir);
  const inflated: Inflate = { perFile, budget: { left: Math.min(total, LIMITS.logInflatedBytes) } };
  return { driver, format, files, problems, entries: readEntries(format, files, opts, inflated, note) };
}

function exists(ev: Evidence, ...name: string[]): boolean {
  try {
    return ev.lstat(...name) !== null;
  } catch {
    return false;
  }
}

/** A container whose hostconfig.json names no driver: the files say which one wrote. */
function guessDriver(ev: Evidence, id: string): string {
  if (exists(ev, `${id}-json.log`)) return 'json-file';
  if (exists(ev, 'local-logs')) return 'local';
  return '';
}

/**
 * config.v2.json's LogPath is the engine's own record of where the json-file log is: it must be
 * `<data root>/containers/<id>/<id>-json.log`. We never read it from there (the data root may be mounted
 * anywhere now); one pointing elsewhere was edited, and is said.
 */
function checkLogPath(c: ContainerInfo, driver: string, note: Note): void {
  const lp = c.inspect?.LogPath;
  if (!lp) return;
  const want = `/containers/${c.id}/${c.id}-json.log`;
  const ok = driver === 'json-file' && lp.startsWith('/') && lp.endsWith(want) && !lp.split('/').some((s) => s === '..' || s === '.');
  if (!ok)
    note('warning', 'logs.logpath.unexpected', `config.v2.json's LogPath ${JSON.stringify(lp.slice(0, 300))} is not where the engine keeps a ${driver || 'json-file'} log (${driver === 'json-file' ? `…${want}` : 'the engine records no LogPath for it'}): not followed; the log is read from where the engine keeps it`, `${c.stateDir}/config.v2.json`);
}

/** Where a driver we cannot read sent the logs, so that the investigator can go and get them. */
function whereLogsWent(driver: string, id: string, cfg: Record<string, string>): string {
  const at = (k: string, dflt: string) => cfg[k] || dflt;
  switch (driver) {
    case 'none':
      return 'log driver "none": the engine kept no logs of this container';
    case 'journald':
      return `log driver "journald": the logs are in the host's systemd journal; read them there with journalctl CONTAINER_ID_FULL=${id} (or journalctl --file on the journal files under /var/log/journal/ of the host's disk)`;
    case 'syslog':
      return `log driver "syslog": the logs were sent to ${at('syslog-address', "the host's syslog (/dev/log)")}; look in that syslog's files (e.g. /var/log/syslog, /var/log/messages) for tag ${at('tag', id.slice(0, 12))}; the engine kept no local cache${cfg['cache-disabled'] === 'true' ? ' (cache-disabled=true)' : ''}`;
    case 'gelf':
      return `log driver "gelf": the logs were sent to ${at('gelf-address', 'a GELF server')}; the engine kept no local cache`;
    case 'fluentd':
      return `log driver "fluentd": the logs were sent to fluentd at ${at('fluentd-address', 'localhost:24224')}; the engine kept no local cache`;
    case 'awslogs':
      return `log driver "awslogs": the logs were sent to CloudWatch Logs (group ${at('awslogs-group', '?')}, region ${at('awslogs-region', '?')}); the engine kept no local cache`;
    case 'splunk':
      return `log driver "splunk": the logs were sent to ${at('splunk-url', 'a Splunk server')}; the engine kept no local cache`;
    case 'gcplogs':
      return 'log driver "gcplogs": the logs were sent to Google Cloud Logging; the engine kept no local cache';
    case 'etwlogs':
      return 'log driver "etwlogs": the logs went to Windows ETW, not to files of the data root';
    case '':
      return 'hostconfig.json names no log driver and no log file of the engine is there';
    default:
      return `log driver ${JSON.stringify(driver)} (a plugin, or one we do not know): its logs are wherever it sent them; the engine kept no local cache`;
  }
}

function intOpt(v: string | undefined, dflt: number): number {
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n >= 1 && n <= 100_000 ? n : dflt;
}

/** go-units RAMInBytes, as log-opt max-size takes it (`64k`, `10m`, `1g`: powers of 1024), or null. */
function byteSize(v: string | undefined): number | null {
  const m = v === undefined ? null : /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v.trim());
  if (!m) return null;
  const pow = ' kmgtp'.indexOf(m[2]!.toLowerCase() || ' ');
  return Math.floor(Number(m[1]) * 1024 ** pow);
}

/** A file's entries in its raw form (a line or a frame, undecoded), for skipping and counting. */
interface Raw {
  decode(): EntryResult;
  /** Where the entry starts, for problems: `line N (offset X)` or `offset X`. */
  where: string;
}

/** How far compressed log files may expand: each, and all of one log together. */
interface Inflate {
  perFile: number;
  budget: InflateBudget;
}

async function* rawEntries(format: LogFormat, file: LogFile, inflated: Inflate, note: Note, start = 0): AsyncGenerator<Raw | null> {
  const bytes = logFileBytes(file, inflated.perFile, start, inflated.budget);
  try {
    if (format === 'json-file') {
      for await (const l of jsonLines(bytes, LIMITS.logLineBytes, start)) {
        // Read from a --tail offset, line numbers are not known: the offset says where.
        const where = start === 0 ? `line ${l.lineNo} (offset ${l.offset})` : `the line at offset ${l.offset}`;
        if (l.bytes === null) {
          note('error', 'logs.json.line-too-long', `${where} is ${l.length} bytes long, more than the ${LIMITS.logLineBytes} an engine's entry can take; passed over, not shown`, file.path);
          yield null;
          continue;
        }
        const raw = l.bytes;
        const terminated = l.terminated;
        yield {
          where,
          decode: () => {
            const r = decodeJsonLine(raw);
            if (r.error && !terminated) return { error: `${r.error}: the file ends inside this line (truncated)` };
            return r;
          },
        };
      }
    } else {
      for await (const f of localFrames(bytes, start)) {
        const payload = f.payload;
        yield { where: `frame at offset ${f.offset}`, decode: () => decodeLocalEntry(payload) };
      }
    }
  } catch (err) {
    if (err instanceof FrameError) note('error', 'logs.local.bad-frame', `at offset ${err.offset}: ${err.message}; the rest of this file is not read`, file.path);
    else if (err instanceof LogReadError) note('error', err.code, err.message, file.path);
    else if (err instanceof EvidenceError) note('error', err.code, describeFsError(err), file.path);
    else throw err;
  }
}

/** How many entries a file holds (what --tail counts), up to the first damage (said when the file is read). */
async function countEntries(format: LogFormat, file: LogFile, inflated: Inflate): Promise<number> {
  const bytes = untilDamage(logFileBytes(file, inflated.perFile, 0, inflated.budget));
  if (format === 'json-file') return countJsonLines(bytes);
  let n = 0;
  try {
    for await (const _ of localFrames(bytes)) n++;
  } catch {
    // A bad frame ends the count, as it ends the reading.
  }
  return n;
}

async function* untilDamage(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    for await (const c of src) yield c;
  } catch {
    // Counted as far as readable.
  }
}

/**
 * docker's order of work (moby loggerutils tailFiles): pick the last `tail` entries across the files (newest
 * file first, as many as it holds), then read forward from there, dropping entries up to the first at or after
 * `since`, and stopping at the first after `until`.
 */
async function* readEntries(format: LogFormat, files: LogFile[], opts: LogsOptions, inflated: Inflate, note: Note): AsyncGenerator<LogEntry> {
  const tail = opts.tail ?? -1;
  if (tail === 0) return;
  let first = 0;
  let skip = 0;
  let start = 0;
  if (tail > 0) {
    let want = tail;
    first = files.length;
    while (first > 0 && want > 0) {
      const file = files[first - 1]!;
      first--;
      // An uncompressed file is walked back from its end; a compressed one (or a damaged frame) counted forward.
      const back = file.compressed ? null : tailOffset(file, format, want);
      if (back) {
        if (back.found >= want) start = back.offset;
        want -= Math.min(want, back.found);
        continue;
      }
      const n = await countEntries(format, file, inflated);
      if (n >= want) {
        skip = n - want;
        want = 0;
      } else want -= n;
    }
  }
  // --since drops the entries before the first one at or after it, then none: the engine gives the pieces of
  // a long line the time of its first piece, and Docker 26 shows such a piece when it comes after later entries
  // (Docker 20.10 drops it: it filters entry by entry; we follow the newer engine).
  const since = opts.since ?? 0n;
  let reached = opts.since === undefined;
  for (let i = first; i < files.length; i++) {
    const file = files[i]!;
    let toSkip = i === first ? skip : 0;
    for await (const raw of rawEntries(format, file, inflated, note, i === first ? start : 0)) {
      if (toSkip > 0) {
        toSkip--;
        continue;
      }
      if (raw === null) continue;
      const r = raw.decode();
      if (r.error !== undefined) {
        note('error', format === 'json-file' ? 'logs.json.bad-line' : 'logs.local.bad-entry', `${raw.where}: ${r.error}; not shown`, file.path);
        continue;
      }
      const e: DecodedEntry = r.entry;
      if (e.source !== 'stdout' && e.source !== 'stderr') {
        note('warning', 'logs.entry.unknown-stream', `${raw.where}: stream ${JSON.stringify(e.source.slice(0, 40))} is neither stdout nor stderr; docker logs does not show it, nor do we`, file.path);
        continue;
      }
      if (!reached) {
        if (e.timeNs < since) continue;
        reached = true;
      }
      if (opts.until !== undefined && e.timeNs > opts.until) return;
      yield { stream: e.source, timeNs: e.timeNs, offsetMin: e.offsetMin, line: e.line, partial: e.partial };
    }
  }
}
