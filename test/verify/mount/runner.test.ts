import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { absolutePath, execaRunner, resolveProgram } from '../../../src/core/verify/mount/runner.js';

test('programs are looked up along the absolute PATH entries only, before any chdir', async () => {
  assert.equal(absolutePath(':/usr/bin:.:bin::/bin'), '/usr/bin:/bin');
  assert.match(absolutePath(''), /^\/usr\/local\/sbin:/);
  assert.throws(() => resolveProgram('./mount'), /relative program path/);
  // A `true` planted in the working directory is not what runs, even with PATH starting with an empty entry.
  const dir = mkdtempSync(join(tmpdir(), 'ls-runner-'));
  writeFileSync(join(dir, 'true'), '#!/bin/sh\necho planted; exit 42\n');
  chmodSync(join(dir, 'true'), 0o755);
  const old = process.env.PATH;
  process.env.PATH = `:.:${old}`;
  try {
    const r = await execaRunner.run(['true'], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /planted/);
    assert.ok(resolveProgram('true').startsWith('/'), resolveProgram('true'));
  } finally {
    process.env.PATH = old;
  }
});
