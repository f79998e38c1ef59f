/**
 * Export of names of one inode that is no regular file (a hard-linked symlink: busybox `ln /bin/sh /x/hl`; a
 * hard-linked fifo): the engines' tar writer (pkg/archive addTarFile, shared by moby and containers/storage) writes
 * every later name of any non-directory inode as a hard link to the first, and so must we. The podman-made case is
 * test/attack10/cstore-export-hardlinked-symlink.test.ts; docker export's, test/workflows/container.engine.test.ts.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { dataRoot } from '../attack2/roots.js';

// The export runs as users run it, the built CLI in a process of its own: run in-process under node's module
// hooks (tsx, as the tests load the sources), node aborted now and then in a child-process spawn of this file
// (an fd of libuv's closed under it), on node 20 and 22 alike; the built CLI never did (0 aborts in 30 runs).
const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bin/layerscope.js');

async function members(tar: string): Promise<Map<string, string>> {
  const out = (await execa('python3', ['-c', 'import sys,tarfile\nfor t in tarfile.open(sys.argv[1]): print(t.name.lstrip("./")+"\\t"+t.type.decode()+"\\t"+t.linkname)', tar])).stdout;
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [name, type, link] = line.split('\t');
    if (name) m.set(name, `${type} ${link ?? ''}`);
  }
  return m;
}

test('export: later names of a hard-linked symlink or fifo are hard links to the first, as the engines write them', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-hl-nonfile-'));
  try {
    const r = dataRoot(dir, [{ 'bin/busybox': 'BB', 'x/f': 'a\n' }]);
    const diff = r.diffs[0]!;
    fs.symlinkSync('busybox', path.join(diff, 'bin/sh'));
    fs.linkSync(path.join(diff, 'bin/sh'), path.join(diff, 'x/hl')); // link(2) links the symlink itself
    fs.linkSync(path.join(diff, 'x/f'), path.join(diff, 'x/g'));
    await execa('mkfifo', [path.join(diff, 'x/p')]);
    fs.linkSync(path.join(diff, 'x/p'), path.join(diff, 'x/q'));
    fs.symlinkSync('busybox', path.join(diff, 'bin/ls')); // a symlink of one name stays a symlink
    const out = path.join(dir, 'out.tar');
    const res = await execa(process.execPath, [CLI, 'export', r.root, '--image', 'app:1', '-o', out], { reject: false });
    assert.equal(res.exitCode, 0, res.stderr);
    const m = await members(out);
    assert.equal(m.get('bin/sh'), '2 busybox');
    assert.equal(m.get('x/hl'), '1 bin/sh');
    assert.equal(m.get('bin/ls'), '2 busybox');
    assert.equal(m.get('x/f'), '0 ');
    assert.equal(m.get('x/g'), '1 x/f');
    assert.equal(m.get('x/p'), '6 ');
    assert.equal(m.get('x/q'), '1 x/p');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
