/**
 * `layerscope REF` (dive's usage) without a real engine: the decision, the words and the exit codes, through
 * the built binary, with stand-in `docker` / `podman` CLIs on PATH that record their argv (the real engines are
 * asked in open-ref.engine.test.ts). And `CI=true layerscope SOURCE`: the CI gate, as with dive.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { commands } from '../../src/cli/commands/index.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/layerscope.js');
const DEMO = path.join(ROOT, 'demo/demo.tar');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string | undefined>, cwd = ROOT): Run {
  const full: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
  const r = spawnSync(process.execPath, [BIN, ...args], { env: full, cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A stand-in engine CLI: `image inspect --format {{.Id}} REF` answers for the refs it holds, `save REF` writes
 * the demo archive; `down` plays an engine whose daemon is not running. Every call is logged.
 */
function fakeEngine(dir: string, name: 'docker' | 'podman', holds: string[], down = false): string {
  const log = path.join(dir, `${name}.log`);
  const refs = holds.map((h) => `"${h}"`).join('|') || '__none__';
  const script = `#!/bin/sh
echo "$*" >> '${log}'
${down ? `echo "Cannot connect to the ${name} daemon at unix:///nowhere.sock. Is the daemon running?" >&2; exit 1` : ''}
case "$1 $2" in
  "image inspect") case "$5" in ${refs}) echo sha256:f0defd14822f98f690bb38d95c0972140b14925352bb02547f1c5419b1e8aa30; exit 0;; esac
    echo "Error: No such image: $5" >&2; exit 1;;
esac
case "$1" in
  save) [ "$2" = "--" ] && shift; case "$2" in ${refs}) exec /bin/cat '${DEMO}';; esac; echo "Error: No such image: $2" >&2; exit 1;;
esac
echo "unexpected: $*" >&2; exit 2
`;
  fs.writeFileSync(path.join(dir, name), script, { mode: 0o755 });
  return log;
}

function withBin(t: test.TestContext): { dir: string; env: Record<string, string> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-open-ref-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Only the stand-ins (and node, run by path): a real docker on this host must not answer.
  return { dir, env: { PATH: dir } };
}

const readLog = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n') : []);

test('a reference docker has: read with docker save, said on stderr; the same report as docker:REF', (t) => {
  const { dir, env } = withBin(t);
  // As docker does, `image inspect demo` finds demo:latest.
  const dlog = fakeEngine(dir, 'docker', ['demo:1', 'demo:latest', 'demo']);
  const plog = fakeEngine(dir, 'podman', []);
  const r = run(['report', 'demo:1', '--format', 'json'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^layerscope: demo:1: not a file here; reading image demo:1 from docker \(docker save\)$/m);
  assert.deepEqual(readLog(dlog), ['image inspect --format {{.Id}} demo:1', 'save -- demo:1']);
  assert.deepEqual(readLog(plog), [], 'podman is not asked when docker has it');
  const direct = run(['report', 'docker:demo:1', '--format', 'json'], env, dir);
  assert.equal(direct.code, 0, direct.stderr);
  assert.equal(r.stdout, direct.stdout);
  // No tag: what docker run would use (docker save of a bare name writes every tag).
  fs.rmSync(dlog);
  assert.equal(run(['report', 'demo'], env, dir).code, 0);
  assert.deepEqual(readLog(dlog), ['image inspect --format {{.Id}} demo', 'save -- demo:latest']);
});

test('docker lacks it or is down: podman is asked, and says so', (t) => {
  const { dir, env } = withBin(t);
  fakeEngine(dir, 'docker', [], true);
  const plog = fakeEngine(dir, 'podman', ['demo:1']);
  const r = run(['files', 'demo:1', '--layer', '0'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /demo:1: not a file here; docker: Cannot connect to the docker daemon.*; reading image demo:1 from podman \(podman save\)/);
  assert.deepEqual(readLog(plog), ['image inspect --format {{.Id}} demo:1', 'save -- demo:1']);
  assert.match(r.stdout, /\S/);
});

test('no engine: exit 3, both "no such file" and "no engine", and how to save the image instead', (t) => {
  const { dir, env } = withBin(t);
  fakeEngine(dir, 'docker', [], true);
  // No podman at all on PATH.
  // (`layerscope REF` alone opens the browser, which first needs a terminal: CI=true makes it the gate here.)
  for (const [args, ci] of [[['report', 'bogus/app:9'], undefined], [['bogus/app:9'], 'true'], [['ci', 'bogus/app:9'], undefined], [['changes', 'app.tar'], undefined]] as const) {
    const r = run([...args], { ...env, CI: ci }, dir);
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    const ref = args[args.length - 1];
    assert.match(r.stderr, new RegExp(`${ref!.replace(/[.]/g, '\\.')}: no such file or directory; and no local engine is reachable`));
    assert.match(r.stderr, /docker: Cannot connect to the docker daemon.*podman: podman is not installed/);
    assert.match(r.stderr, /save it to a file and open that: docker save -o \S+\.tar \S+, then layerscope \S+\.tar/);
  }
  // Reachable but without the image: pull it, or save it.
  fakeEngine(dir, 'docker', []);
  const r = run(['report', 'app:1'], env, dir);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /no local engine has an image app:1 \(docker: reachable, no image app:1; podman: podman is not installed.*\)\. Pull it first \(docker pull app:1\)/);
});

test('an existing path always wins over a reference; schemes and --source say which', (t) => {
  const { dir, env } = withBin(t);
  const dlog = fakeEngine(dir, 'docker', ['demo:1']);
  // A file that happens to be named like a reference is the file, and docker is not asked.
  fs.copyFileSync(DEMO, path.join(dir, 'demo:1'));
  assert.equal(run(['report', 'demo:1'], env, dir).code, 0);
  assert.deepEqual(readLog(dlog), []);
  // docker-archive:// and --source docker-archive: a file, never an engine.
  fs.copyFileSync(DEMO, path.join(dir, 'app.tar'));
  const plain = run(['report', 'app.tar', '--format', 'json'], env, dir);
  for (const args of [['docker-archive://app.tar'], ['app.tar', '--source', 'docker-archive'], ['oci-archive://app.tar']]) {
    const r = run(['report', ...args, '--format', 'json'], env, dir);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual({ ...JSON.parse(r.stdout), source: null }, { ...JSON.parse(plain.stdout), source: null });
  }
  assert.match(run(['report', 'docker-archive://nothere.tar'], env, dir).stderr, /nothere\.tar: cannot open: no such file/);
  assert.deepEqual(readLog(dlog), []);
  // docker:// and --source docker: the engine, even when a file of that name exists.
  for (const args of [['docker://demo:1'], ['demo:1', '--source', 'docker']]) {
    const r = run(['report', ...args], env, dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /reading image demo:1 from docker/);
  }
  assert.deepEqual(readLog(dlog), ['image inspect --format {{.Id}} demo:1', 'save -- demo:1', 'image inspect --format {{.Id}} demo:1', 'save -- demo:1']);
  const bad = run(['report', 'x', '--source', 'registry'], env, dir);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--source takes docker, podman, docker-archive, oci-archive/);
});

test('every command that takes a SOURCE takes --source', () => {
  const takes = commands.filter((c) => c.usage.some((u) => /\bSOURCE/.test(u)));
  assert.ok(takes.length >= 14, takes.map((c) => c.name).join(' '));
  for (const c of takes) assert.ok(c.flags.source, `${c.name} takes a SOURCE but no --source`);
});

test('CI=true layerscope SOURCE runs the CI gate (exit 0 pass, 1 fail, from .dive-ci); layerscope tui SOURCE never does', (t) => {
  const { dir } = withBin(t);
  const env = { CI: 'true' };
  fs.writeFileSync(path.join(dir, '.dive-ci'), 'rules:\n  lowestEfficiency: 0.5\n  highestWastedBytes: disabled\n  highestUserWastedPercent: disabled\n');
  const pass = run([DEMO], env, dir);
  assert.equal(pass.code, 0, pass.stderr);
  assert.match(pass.stdout, /PASS {2}lowestEfficiency/);
  assert.match(pass.stdout, /CI: PASS/);
  fs.writeFileSync(path.join(dir, '.dive-ci'), 'rules:\n  lowestEfficiency: 0.9\n  highestWastedBytes: disabled\n  highestUserWastedPercent: disabled\n');
  const fail = run([DEMO], env, dir);
  assert.equal(fail.code, 1, fail.stderr);
  assert.match(fail.stdout, /FAIL {2}lowestEfficiency: efficiency 59\.49% < 90\.00%/);
  // Flags are the gate's too; dive's CI=1 / CI=True spellings count.
  assert.equal(run([DEMO, '--lowest-efficiency', '0.5'], { CI: '1' }, dir).code, 0);
  assert.equal(run([DEMO, '--lowest-efficiency', '0.5'], { CI: 'True' }, dir).code, 0);
  // Not CI: the browser (which needs a terminal: exit 2, never a verdict).
  for (const [args, ci] of [[[DEMO], 'false'], [[DEMO], undefined], [['tui', DEMO], 'true']] as const) {
    const r = run([...args], { CI: ci }, dir);
    assert.equal(r.code, 2, `${args.join(' ')} CI=${ci}: ${r.stderr}`);
    assert.match(r.stderr, /the browser needs a terminal/);
  }
});
