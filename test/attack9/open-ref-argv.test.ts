/**
 * Red team 9: what people type as a SOURCE, against stand-in `docker` / `podman` CLIs that log their argv.
 *
 * 1. `docker-archive://PATH` and `--source docker-archive` promise "the file PATH (never an engine)". A file whose
 *    name starts with `docker:` (colons are legal in file names: `docker save -o docker:app.tar`...) is handed to
 *    `docker save` instead: the scheme is stripped, and the remainder is then read as the older `docker:REF`.
 * 2. `docker:REF` / `podman:REF` pass REF to `docker save` unchecked: `docker:--help`, `docker:-o/tmp/x` reach
 *    the engine CLI as options. `docker://REF` refuses the same text (it is no image reference); the older
 *    spelling must not be a way around that.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/layerscope.js');
const DEMO = path.join(ROOT, 'demo/demo.tar');

function setup(t: test.TestContext): { dir: string; log: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-attack9-ref-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'engine.log');
  for (const name of ['docker', 'podman']) {
    // Logs every argument on its own line, then answers as an engine without the image would.
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\nfor a in "$@"; do echo "${name} $a" >> '${log}'; done\necho "Error: No such image" >&2\nexit 1\n`, { mode: 0o755 });
  }
  return { dir, log };
}

function run(args: string[], dir: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, PATH: dir, CI: undefined }, cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const logged = (log: string) => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);

test('docker-archive:// and --source docker-archive read the file, even one named docker:...; no engine is run', (t) => {
  const { dir, log } = setup(t);
  fs.copyFileSync(DEMO, path.join(dir, 'docker:app.tar'));
  const plain = run(['report', './docker:app.tar', '--format', 'json'], dir);
  assert.equal(plain.code, 0, plain.stderr);
  for (const args of [['docker-archive://docker:app.tar'], ['docker:app.tar', '--source', 'docker-archive'], ['oci-archive://podman:app.tar']]) {
    if (args[0]!.includes('podman:')) fs.copyFileSync(DEMO, path.join(dir, 'podman:app.tar'));
    const r = run(['report', ...args, '--format', 'json'], dir);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout).images.map((i: { id: string }) => i.id), JSON.parse(plain.stdout).images.map((i: { id: string }) => i.id));
  }
  assert.deepEqual(logged(log), [], 'an archive named with docker-archive:// or --source docker-archive is never asked of an engine');
});

test('docker:REF / podman:REF never hand the engine CLI an option', (t) => {
  const { dir, log } = setup(t);
  for (const src of ['docker:--help', 'docker:-o/tmp/ls-attack9-written', 'podman:--help', 'podman:-ofoo']) {
    const r = run(['report', src], dir);
    assert.notEqual(r.code, 0, src);
  }
  const options = logged(log).filter((l) => / -/.test(l));
  assert.deepEqual(options, [], `arguments that the engine CLI parses as options: ${options.join(' | ')}`);
  assert.equal(fs.existsSync('/tmp/ls-attack9-written'), false);
});
