/**
 * The container log readers on crafted input, without an engine (test/core/logs.engine.test.ts compares them
 * with docker logs): json-file lines that are not JSON, truncated, of the wrong shape, or 1 GB long (streamed,
 * never held: memory stays bounded); local frames that claim 4 GB, disagree with their trailer, end early, or
 * hold no protobuf; a .gz that is not gzip; a symlink in place of a log file. Each is a problem naming the file
 * and the line or offset, and the good entries are all still given. Then --since/--until parsing, -t's time
 * format, and the terminal escaping.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { containerLogs, entryTime, LogsUnavailableError, type LogEntry } from '../../src/core/sources/logs/index.js';
import { jsonLines } from '../../src/core/sources/logs/json-file.js';
import { decodeLocalEntry, FrameError, localFrames } from '../../src/core/sources/logs/local.js';
import { formatDockerTime, parseLogTime, parseRfc3339 } from '../../src/core/sources/logs/time.js';
import { terminalSafe, logEntryJson } from '../../src/report/logs.js';
import type { ContainerInfo } from '../../src/core/model/types.js';
import { varint } from '../support/protobuf.js';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-logs-unit-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ID = 'a'.repeat(64);

/** A containers/<id>/ directory of our own, and the ContainerInfo a source would give for it. */
function container(name: string, driver: string, config: Record<string, string> = {}): { dir: string; c: ContainerInfo } {
  const dir = path.join(tmp, name, 'containers', ID);
  fs.mkdirSync(dir, { recursive: true });
  const c = {
    id: ID,
    name,
    stateDir: dir,
    inspect: { Id: ID, LogPath: driver === 'json-file' ? `/var/lib/docker/containers/${ID}/${ID}-json.log` : '', HostConfig: { LogConfig: { Type: driver, Config: config } }, Mounts: [] },
  } as unknown as ContainerInfo;
  return { dir, c };
}

const jl = (log: string, stream = 'stdout', time = '2024-05-01T12:00:00.000000001Z') => JSON.stringify({ log, stream, time }) + '\n';

async function all(it: AsyncIterable<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

test('json-file: bad lines are problems with their line and offset; every good entry is still given', async () => {
  const { dir, c } = container('bad-json', 'json-file');
  const good1 = jl('one\n');
  const lines = [good1, 'this is not json\n', jl('two\n', 'stderr'), '{"log":5,"stream":"stdout","time":"2024-05-01T12:00:00Z"}\n', jl('three\n', 'stdout', 'yesterday'), jl('four\n'), '{"log":"trunc'];
  fs.writeFileSync(path.join(dir, `${ID}-json.log`), lines.join(''));
  const logs = containerLogs(c);
  const entries = await all(logs.entries);
  assert.deepEqual(entries.map((e) => `${e.stream}:${e.line.toString()}`), ['stdout:one\n', 'stderr:two\n', 'stdout:four\n']);
  const file = path.join(dir, `${ID}-json.log`);
  const msgs = logs.problems.map((p) => `${p.code} ${p.path === file} ${p.message}`);
  assert.equal(logs.problems.length, 4, msgs.join('\n'));
  assert.match(msgs[0]!, new RegExp(`^logs.json.bad-line true line 2 \\(offset ${good1.length}\\): not (JSON|a JSON object)`));
  assert.match(msgs[1]!, /line 4 .*"log" is not a string/);
  assert.match(msgs[2]!, /line 5 .*"time" "yesterday" is not an RFC 3339 time/);
  assert.match(msgs[3]!, /line 7 .*the file ends inside this line \(truncated\)/);
});

test('json-file: a 1 GB line is passed over a chunk at a time, memory stays bounded, the next line is read', async () => {
  const chunk = Buffer.alloc(1 << 20, 0x61);
  const GB = 1024;
  async function* stream() {
    yield Buffer.from(jl('before\n'));
    for (let i = 0; i < GB; i++) {
      if (i % 32 === 0) peak = Math.max(peak, process.memoryUsage().rss - base.rss);
      yield chunk;
    }
    yield Buffer.from('\n' + jl('after\n'));
  }
  const base = process.memoryUsage();
  // Sampled while the line streams through: the peak, not what is left at the end.
  let peak = 0;
  const seen: (string | null)[] = [];
  let i = 0;
  for await (const l of jsonLines(stream(), 1 << 20)) {
    seen.push(l.bytes === null ? `skipped ${l.length} at ${l.offset}` : JSON.parse(l.bytes.toString()).log);
    i++;
  }
  assert.deepEqual(seen, ['before\n', `skipped ${GB << 20} at ${jl('before\n').length}`, 'after\n']);
  assert.equal(i, 3);
  assert.ok(peak < 256 << 20, `rss grew by ${peak} bytes reading a 1 GB line`);
});

/** A local-driver frame around a LogEntry protobuf. */
function frame(payload: Buffer, trailer = payload.length): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(payload.length);
  const t = Buffer.alloc(4);
  t.writeUInt32BE(trailer);
  return Buffer.concat([h, payload, t]);
}

function entry(source: string, timeNs: bigint, line: string, partial?: { last: boolean }): Buffer {
  const f = (n: number, w: number) => Buffer.from([(n << 3) | w]);
  const bytes = (n: number, b: Buffer) => Buffer.concat([f(n, 2), varint(BigInt(b.length)), b]);
  const parts = [bytes(1, Buffer.from(source)), f(2, 0), varint(timeNs), bytes(3, Buffer.from(line))];
  if (partial) parts.push(f(4, 0), varint(1n), bytes(5, Buffer.concat([f(1, 0), varint(partial.last ? 1n : 0n), bytes(2, Buffer.from('id')), f(3, 0), varint(1n)])));
  return Buffer.concat(parts);
}

test('local: entries decode (a partial piece keeps no newline, the last piece gets one); bad frames stop with their offset', async () => {
  const e1 = decodeLocalEntry(entry('stdout', 1714564800000000001n, 'hello'));
  assert.equal(e1.entry?.line.toString(), 'hello\n');
  assert.equal(e1.entry?.timeNs, 1714564800000000001n);
  assert.equal(decodeLocalEntry(entry('stdout', 1n, 'piece', { last: false })).entry?.line.toString(), 'piece');
  assert.equal(decodeLocalEntry(entry('stdout', 1n, 'end', { last: true })).entry?.line.toString(), 'end\n');
  assert.match(decodeLocalEntry(Buffer.from([0x0a, 0x50, 0x61])).error!, /past the end/);

  const { dir, c } = container('bad-local', 'local');
  fs.mkdirSync(path.join(dir, 'local-logs'));
  const good = frame(entry('stdout', 1n, 'first'));
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(0xfffffff0);
  const second = frame(entry('stderr', 2n, 'second'));
  fs.writeFileSync(path.join(dir, 'local-logs', 'container.log'), Buffer.concat([good, second, huge, Buffer.alloc(64)]));
  const logs = containerLogs(c);
  const entries = await all(logs.entries);
  assert.deepEqual(entries.map((e) => e.line.toString()), ['first\n', 'second\n']);
  assert.equal(logs.problems.length, 1);
  assert.equal(logs.problems[0]!.code, 'logs.local.bad-frame');
  assert.match(logs.problems[0]!.message, new RegExp(`^at offset ${good.length + second.length}: frame claims 4294967280 bytes`));

  // A trailer that disagrees, and a file that ends inside a frame.
  await assert.rejects(all(localFrames((async function* () { yield frame(Buffer.from('abc'), 7); })())), (e: FrameError) => e.offset === 0 && /trailer 7/.test(e.message));
  await assert.rejects(all(localFrames((async function* () { yield good; yield good.subarray(0, 9); })())), (e: FrameError) => e.offset === good.length && /truncated/.test(e.message));
});

test('rotation: files are read oldest first, .gz decompressed; a bad .gz and a symlinked file are problems, the rest is read', async () => {
  const { dir, c } = container('rotated', 'json-file', { 'max-size': '1k', 'max-file': '4', compress: 'true' });
  const base = `${ID}-json.log`;
  fs.writeFileSync(path.join(dir, `${base}.3.gz`), gzipSync(jl('oldest\n')));
  fs.writeFileSync(path.join(dir, `${base}.2.gz`), Buffer.from('not gzip at all'));
  fs.symlinkSync('/etc/passwd', path.join(dir, `${base}.1`));
  fs.writeFileSync(path.join(dir, `${base}.7.gz`), gzipSync(jl('beyond max-file\n')));
  fs.writeFileSync(path.join(dir, base), jl('newest\n'));
  const logs = containerLogs(c);
  assert.deepEqual(logs.files.map((f) => f.name), [`${base}.3.gz`, `${base}.2.gz`, base]);
  const entries = await all(logs.entries);
  assert.deepEqual(entries.map((e) => e.line.toString()), ['oldest\n', 'newest\n']);
  const codes = logs.problems.map((p) => `${p.code} ${path.basename(p.path ?? '')}`).sort();
  assert.deepEqual(codes, [`logs.file.symlink ${base}.1`, `logs.gz.bad ${base}.2.gz`, `logs.rotation.beyond-max-file ${ID}`]);
  // --tail counts across the files from the newest.
  assert.deepEqual((await all(containerLogs(c, { tail: 2 }).entries)).map((e) => e.line.toString()), ['oldest\n', 'newest\n']);
  assert.deepEqual((await all(containerLogs(c, { tail: 1 }).entries)).map((e) => e.line.toString()), ['newest\n']);
});

test('the live log file as a symlink is refused, never followed', async () => {
  const { dir, c } = container('symlinked', 'json-file');
  const target = path.join(tmp, 'outside.log');
  fs.writeFileSync(target, jl('outside the evidence\n'));
  fs.symlinkSync(target, path.join(dir, `${ID}-json.log`));
  const logs = containerLogs(c);
  assert.deepEqual(await all(logs.entries), []);
  assert.equal(logs.problems[0]?.code, 'logs.file.symlink');
});

test('drivers that keep nothing readable say where the logs went', () => {
  assert.throws(() => containerLogs(container('none', 'none').c), (e: LogsUnavailableError) => /"none": the engine kept no logs/.test(e.message));
  assert.throws(() => containerLogs(container('jd', 'journald').c), /journalctl CONTAINER_ID_FULL=a{64}/);
  assert.throws(() => containerLogs(container('gelf', 'gelf', { 'gelf-address': 'udp://10.0.0.1:12201' }).c), /udp:\/\/10\.0\.0\.1:12201/);
});

test('--since/--until values are read as the docker client reads them', () => {
  const now = new Date('2024-05-01T12:00:00.750Z');
  const s = (t: string) => parseLogTime(t, now);
  assert.equal(s('10m'), 1714564200n * 10n ** 9n);
  assert.equal(s('1h30m'), (1714564800n - 5400n) * 10n ** 9n);
  assert.equal(s('1714564800'), 1714564800n * 10n ** 9n);
  assert.equal(s('1714564800.5'), 1714564800500000000n);
  assert.equal(s('1714564800.000000001'), 1714564800000000001n);
  assert.equal(s('0'), 0n);
  assert.equal(s('2024-05-01T12:00:00Z'), 1714564800n * 10n ** 9n);
  assert.equal(s('2024-05-01T12:00:00.123456789Z'), 1714564800123456789n);
  assert.equal(s('2024-05-01T14:00:00+02:00'), 1714564800n * 10n ** 9n);
  assert.equal(s('2024-05-01T12:00Z'), 1714564800n * 10n ** 9n);
  assert.equal(s('2024-05-01Z'), 1714521600n * 10n ** 9n);
  const off = BigInt(-now.getTimezoneOffset() * 60) * 10n ** 9n;
  assert.equal(s('2024-05-01'), 1714521600n * 10n ** 9n - off);
  assert.equal(s('2024-05-01T12:00:00'), 1714564800n * 10n ** 9n - off);
  assert.throws(() => s('2024-13-01'), /cannot parse/);
  assert.throws(() => s('soon'), /failed to parse value as time or duration/);
});

test('-t prints times as docker does (nine fraction digits, Z or the recorded offset)', () => {
  assert.equal(formatDockerTime(1714564800000000001n), '2024-05-01T12:00:00.000000001Z');
  assert.equal(formatDockerTime(1714564800120000000n, 120), '2024-05-01T14:00:00.120000000+02:00');
  const t = parseRfc3339('2024-05-01T14:00:00.5+02:00')!;
  assert.equal(entryTime({ timeNs: t.ns, offsetMin: t.offsetMin }), '2024-05-01T14:00:00.500000000+02:00');
  assert.equal(parseRfc3339('2024-02-30T00:00:00Z'), null);
});

test('terminal output escapes what would drive the terminal; JSON keeps bytes that are not UTF-8', () => {
  const line = Buffer.concat([Buffer.from('\x1b[31mred\x1b]0;title\x07 tab\there\rover\u202e \\n '), Buffer.from([0xff, 0xfe]), Buffer.from(' ok\r\n')]);
  assert.equal(terminalSafe(line), '\\e[31mred\\e]0;title\\x07 tab\there\\rover\\u{202e} \\n \\xff\\xfe ok\n');
  const j = logEntryJson({ stream: 'stderr', timeNs: 1n, offsetMin: 0, line: Buffer.from([0x61, 0xff, 0x0a]), partial: false });
  assert.equal(j.line, 'a\ufffd\n');
  assert.deepEqual(Buffer.from(j.lineBase64!, 'base64'), Buffer.from([0x61, 0xff, 0x0a]));
  assert.equal(logEntryJson({ stream: 'stdout', timeNs: 1n, offsetMin: 0, line: Buffer.from('ok\n'), partial: false }).lineBase64, undefined);
});
