/**
 * `layerscope logs` against the engine that wrote the logs: for every container of
 * test/fixtures/containers/logs.sh (json-file plain and rotated+compressed, local plain and rotated+compressed,
 * a TTY container, syslog with docker's local cache), on Docker 20.10, Docker 26 and Docker 26 on the
 * containerd image store, our stdout and our stderr equal `docker logs`' stdout and stderr byte for byte:
 * plain, with -t, with --tail (0, 1, some, more than there are), with --since/--until (times taken from the
 * log itself, in RFC 3339 and unix-seconds form, and durations) and with all of them at once. Drivers that
 * keep nothing readable (none, journald) fail on both sides. Nothing is written to the data root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { getEngine, hashTree, type Engine, type EngineName } from '../support/engine.js';
import { LOG_CONTAINERS } from '../support/fixtures-manifest.mjs';
import { logsCommand } from '../../src/cli/commands/logs.js';
import { parseArgs } from '../../src/cli/args.js';
import { openSource } from '../../src/core/sources/open.js';
import { findContainer } from '../../src/core/analysis/select.js';
import { containerLogs, entryTime, parseLogTime } from '../../src/core/sources/logs/index.js';

interface Out {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

function collector(): { sink: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  return {
    sink: new Writable({
      write(chunk, _enc, cb) {
        parts.push(Buffer.from(chunk));
        cb();
      },
    }),
    bytes: () => Buffer.concat(parts),
  };
}

/** Our `logs` command in-process (the CLI's code path, argument parsing included), stdout and stderr apart. */
async function ours(root: string, name: string, args: string[]): Promise<Out> {
  const out = collector();
  const err = collector();
  const parsed = parseArgs([root, '--container', name, ...args], logsCommand);
  let code: number;
  try {
    code = await logsCommand.run(parsed, { stdout: out.sink, stderr: err.sink, isTTY: false, stderrTTY: false, env: {} });
  } catch (e) {
    // The CLI maps a LayerscopeError to exit 3 (run.ts): the same here, with its message.
    err.sink.write(String((e as Error).message));
    code = 3;
  }
  return { code, stdout: out.bytes(), stderr: err.bytes() };
}

async function theirs(e: Engine, name: string, args: string[]): Promise<Out> {
  const { execa } = await import('execa');
  const client = e.client ?? (e.name === 'docker20' ? '/usr/bin/docker' : '/opt/layerscope/docker26/usr/bin/docker');
  const r = await execa(client, ['logs', ...args, name], { env: { ...e.env }, encoding: 'buffer', reject: false, stripFinalNewline: false, timeout: 120_000 });
  return { code: r.exitCode ?? 1, stdout: Buffer.from(r.stdout as Uint8Array), stderr: Buffer.from(r.stderr as Uint8Array) };
}

/**
 * Docker 20.10's local-driver reader drops the `\n` that ends a line over 16 KiB (its last piece, which the
 * file records as partial+last; later engines write it, as the container did): the one place we follow the
 * newer engine. Put it back in what docker 20.10 printed, so that every other byte is still compared.
 */
function docker20LocalNewline(b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/([0-9a-f])((?:\d{4}-\d\d-\d\dT[\d:.]+Z )?out 1\n)/, '$1\n$2'), 'latin1');
}

function same(label: string, a: Buffer, b: Buffer): void {
  if (a.equals(b)) return;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const show = (x: Buffer) => JSON.stringify(x.subarray(Math.max(0, i - 40), i + 40).toString('latin1'));
  assert.fail(`${label}: differs from docker logs at byte ${i} (ours ${a.length} bytes, docker's ${b.length}):\n  ours:   ${show(a)}\n  docker: ${show(b)}`);
}

/**
 * What Docker 20.10 prints for `args` with --since: our entries for the same --tail/--until, kept when at or
 * after --since one by one (not from the first such entry on), written as the CLI writes them.
 */
async function strictSince(root: string, name: string, args: string[]): Promise<Out> {
  const flag = (f: string) => (args.includes(f) ? args[args.indexOf(f) + 1] : undefined);
  const source = await openSource(root);
  try {
    const c = findContainer(source, name);
    const tail = flag('--tail') ?? flag('-n');
    const until = flag('--until');
    const since = parseLogTime(flag('--since')!);
    const logs = containerLogs(c, { tail: tail === undefined ? undefined : Number(tail), until: until === undefined ? undefined : parseLogTime(until) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    for await (const en of logs.entries) {
      if (en.timeNs < since) continue;
      (en.stream === 'stdout' ? out : err).push(Buffer.from(args.includes('-t') ? entryTime(en) + ' ' : ''), en.line);
    }
    return { code: 0, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
  } finally {
    await source.close();
  }
}

/** Times of entries, from `docker logs -t` of both streams: a few spread over the log. */
function sampleTimes(out: Buffer, err: Buffer): string[] {
  const times = (b: Buffer) => b.toString('latin1').split('\n').map((l) => /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) /.exec(l)?.[1]).filter((t): t is string => !!t);
  const o = times(out);
  const e = times(err);
  const pick = (a: string[], f: number) => a[Math.min(a.length - 1, Math.floor(a.length * f))];
  return [...new Set([pick(o, 0.1), pick(o, 0.5), pick(o, 0.97), pick(e, 0.3), pick(e, 0.9)].filter((t): t is string => !!t))];
}

/** An RFC 3339 time as unix seconds with nanoseconds (`1714564800.000000123`), the other form docker takes. */
function unixForm(t: string): string {
  return `${Math.floor(Date.parse(t.slice(0, 19) + 'Z') / 1000)}.${t.slice(20, 29)}`;
}

for (const which of ['docker20', 'docker26', 'docker26c'] as EngineName[]) {
  test(`${which}: layerscope logs equals docker logs, byte for byte, on every readable driver`, async (t) => {
    const e = getEngine(t, which);
    if (!e) return;
    const ids = new Map<string, string>();
    for (const name of Object.keys(LOG_CONTAINERS)) ids.set(name, (await e.docker(['inspect', '-f', '{{.Id}}', name])).stdout.trim());
    let compared = 0;
    for (const [name, spec] of Object.entries(LOG_CONTAINERS)) {
      if (!spec.readable) continue;
      const full = await theirs(e, name, ['-t']);
      assert.equal(full.code, 0, `docker logs -t ${name}: ${full.stderr}`);
      const ts = sampleTimes(full.stdout, full.stderr);
      assert.ok(ts.length >= 2, `${name}: times to cut the log at`);
      const cases: string[][] = [
        [],
        ['-t'],
        ['--tail', '0'],
        ['--tail', '1'],
        ['--tail', '7', '-t'],
        ['--tail', '250'],
        ['--tail', '100000'],
        ['--since', '10m'],
        ['--until', '10m'],
        ['--since', '0'],
        ...ts.flatMap((x) => [['--since', x], ['--until', x, '-t']]),
        ['--since', unixForm(ts[0]!), '--until', unixForm(ts[ts.length - 1]!), '-t'],
        ['--tail', '3000', '--since', ts[0]!, '--until', ts[1]!, '-t'],
        ['-n', '40', '--since', ts[1]!, '-t'],
      ];
      for (const args of cases) {
        const d = await theirs(e, name, args);
        // Hashed around our read only: Docker 20.10's docker logs itself writes decompressed rotations beside them.
        const dir = path.join(e.dataRoot, 'containers', ids.get(name)!);
        const before = await hashTree(dir);
        const o = await ours(e.dataRoot, name, args);
        assert.equal(await hashTree(dir), before, `${name}: its directory changed while we read it`);
        const label = `${which} ${name} ${args.join(' ') || '(no flags)'}`;
        assert.equal(d.code, 0, `${label}: docker logs failed: ${d.stderr}`);
        assert.equal(o.code, 0, `${label}: exit ${o.code}: ${o.stderr.toString()}`);
        const fix = which === 'docker20' && spec.format === 'local' ? docker20LocalNewline : (b: Buffer) => b;
        // Docker 20.10 filters --since entry by entry; Docker 26 drops entries only up to the first one at or
        // after --since (what we do). They differ where the pieces of the 3 MB line, which keep the time of its
        // first piece, come after later entries: for 20.10, compare with our entries filtered its way.
        const want = which === 'docker20' && args.includes('--since') ? await strictSince(e.dataRoot, name, args) : o;
        if (which === 'docker20' && name.endsWith('-rotated') && args.includes('--since')) {
          // Docker 20.10 also stops at the first compressed rotation it may skip for --since (a `break` where
          // later engines `continue`), dropping every newer .gz file: what it prints is the end of the rest.
          for (const [mine, its] of [[want.stdout, fix(d.stdout)], [want.stderr, fix(d.stderr)]] as const) {
            assert.ok(mine.subarray(mine.length - its.length).equals(its), `${label}: docker 20.10's output is not the end of ours`);
          }
        } else {
          same(`${label}: stdout`, want.stdout, fix(d.stdout));
          same(`${label}: stderr`, want.stderr, fix(d.stderr));
        }
        compared++;
      }
    }
    // The TTY container's output is all on stdout, with the TTY's \r\n, as docker stores and prints it.
    const tty = await ours(e.dataRoot, 'ls-logs-tty', []);
    assert.equal(tty.stderr.length, 0);
    assert.ok(tty.stdout.includes(Buffer.from('first stderr line\r\n')));
    // A rotated log reads through its compressed files.
    const rotated = await ours(e.dataRoot, 'ls-logs-json-rotated', ['--format', 'json']);
    assert.ok(rotated.stdout.toString().split('\n').length > 100);
    for (const [name, spec] of Object.entries(LOG_CONTAINERS)) {
      if (spec.readable) continue;
      const d = await theirs(e, name, []);
      const o = await ours(e.dataRoot, name, []);
      assert.notEqual(d.code, 0, `docker logs ${name} fails too`);
      assert.equal(o.code, 3, `${name}: exit 3`);
      assert.equal(o.stdout.length, 0);
      assert.match(o.stderr.toString(), spec.driver === 'journald' ? /journalctl CONTAINER_ID_FULL=[0-9a-f]{64}/ : /"none": the engine kept no logs/);
    }
    t.diagnostic(`${which}: ${compared} docker logs invocations equal, stdout and stderr`);
  });
}
