/**
 * Red team (attack11): the tree diff's byte comparison (compareContent), which verify uses for whole-tree layers:
 * a copy rewritten with its size and mtime put back is a change with it and, as in the engine's naive diff, none
 * without; one inode in both trees is never opened; nothing is followed or written.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readTreeDiff } from '../../src/core/sources/walk/tree-diff.js';
import { PathTable } from '../../src/core/model/paths.js';
import { hashTree } from '../support/engine.js';

const T0 = new Date('2024-01-01T00:00:00Z');

test('tree diff: a copy rewritten with size and mtime kept is a change only when bytes are compared', async () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a11c-'));
  try {
    const base = path.join(d, 'base');
    fs.mkdirSync(path.join(base, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(base, 'etc', 'passwd'), 'root:x:0:0\n');
    fs.writeFileSync(path.join(base, 'etc', 'same'), 'same\n');
    fs.writeFileSync(path.join(base, 'etc', 'linked'), 'linked\n');
    for (const p of ['etc/passwd', 'etc/same', 'etc/linked', 'etc']) fs.utimesSync(path.join(base, p), T0, T0);
    const next = path.join(d, 'next');
    execFileSync('cp', ['-a', base, next]);
    // One inode in both trees (the first overlay driver's hard-linked copies).
    fs.rmSync(path.join(next, 'etc', 'linked'));
    fs.linkSync(path.join(base, 'etc', 'linked'), path.join(next, 'etc', 'linked'));
    fs.writeFileSync(path.join(next, 'etc', 'passwd'), 'evil:x:0:0\n');
    for (const p of ['etc/passwd', 'etc']) fs.utimesSync(path.join(next, p), T0, T0);
    const before = await hashTree(d);
    const naive = await readTreeDiff(next, base, new PathTable());
    assert.deepEqual(naive.entries.map((e) => e.path), [], 'the naive diff (the engine) sees nothing');
    const bytes = await readTreeDiff(next, base, new PathTable(), { compareContent: true });
    assert.deepEqual(bytes.entries.map((e) => e.path), ['etc', 'etc/passwd']);
    assert.deepEqual(bytes.problems, []);
    assert.equal(await hashTree(d), before, 'nothing written');
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});
