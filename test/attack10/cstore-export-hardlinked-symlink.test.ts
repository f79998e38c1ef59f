/**
 * ATTACK (containers/storage, export): a container hard-links a symlink (`ln /bin/sh /x/hl`, busybox ln links the
 * symlink itself). The RW layer then holds bin/sh (copied up) and x/hl as one inode.
 *
 * Observed: `podman export` writes x/hl as a hard link (typeflag 1) to bin/sh, as moby/c-storage's tar writer does
 * for every non-directory inode met twice; `export --container` writes x/hl as a second symlink (typeflag 2 ->
 * busybox). Regular files linked the same way agree (typeflag 1 both). Low severity: extraction gives the same
 * target, but the export is not the engine's, and the link between the two names is lost.
 * Expected: our export equals podman export, member by member (type, link name).
 * Suggested fix: the export's hard-link detection (same layer dir inode, nlink > 1) applies to symlinks too, as
 * pkg/archive's does (it skips only directories).
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { PODMAN, podmanStore } from '../support/podman.js';
import { runCmd } from '../workflows/helpers.js';
import { exportCommand } from '../../src/cli/commands/export.js';

/** name -> "type link" of each member, read with GNU tar's verbose listing. */
async function members(tar: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const r = await execa('python3', ['-c', 'import sys,tarfile\nfor t in tarfile.open(sys.argv[1]): print(t.name.lstrip("./")+"\\t"+t.type.decode()+"\\t"+t.linkname)', tar]);
  for (const line of r.stdout.split('\n')) {
    const [name, type, link] = line.split('\t');
    if (name) out.set(name, `${type} ${link ?? ''}`);
  }
  return out;
}

test('containers/storage export: a hard-linked symlink is written as podman export writes it', { timeout: 300_000 }, async (t: TestContext) => {
  const store = await podmanStore(t, 'rootful');
  if (!store) return;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-a10-hls-'));
  try {
    const run = await store.pm(['run', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'none', '--name', 'a10-hls', PODMAN.base, 'sh', '-c', 'mkdir /x && ln /bin/sh /x/hl && echo a > /x/f && ln /x/f /x/g']);
    assert.equal(run.code, 0, run.stderr);
    const scratch = store.scratch();
    const theirs = path.join(scratch, 'theirs.tar');
    const e = await store.pm(['export', '-o', theirs, 'a10-hls']);
    assert.equal(e.code, 0, e.stderr);
    const ours = path.join(work, 'ours.tar');
    const r = await runCmd(exportCommand, [store.storage, '--container', 'a10-hls', '-o', ours]);
    assert.equal(r.code, 0, r.stderr);
    const a = await members(theirs);
    const b = await members(ours);
    for (const name of ['x/g', 'x/hl']) assert.equal(b.get(name), a.get(name), `${name}: podman export has ${a.get(name)}, ours ${b.get(name)}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    await store.remove();
  }
});
