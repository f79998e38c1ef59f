/**
 * ATTACK: a sparse file in a layer directory of a data root. `truncate -s 1T diff/huge.bin` costs no block of
 * the evidence, but `export` copies its apparent size, zero by zero: 7 GB written in the first 60 s, on its way to
 * a terabyte (and `extract` writes it dense). For archives the same case is bounded on purpose ("export: a member
 * claiming a terabyte (GNU sparse realsize) writes its stored bytes, not a terabyte of zeros; an error says so",
 * test/workflows/outputs.test.ts); the diff-dir reader (src/core/export/content.ts, diffDirReader) has no such
 * bound. Claim broken: "sizes ... read from evidence are bounded before they drive work (huge claimed sizes, sparse
 * sizes ...)". The test discards the output (stdout) and stops the run after 30 s.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { classicRoot, writeTree, BIN } from '../support/roots.js';
import { assertBuilt, tempDir } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

test('export of a data-root image whose layer holds a 1 TiB sparse file: bounded, not a terabyte of zeros', { timeout: 90_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const diffId = 'sha256:' + 'b'.repeat(64);
  const cache = 'c'.repeat(64);
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const id = createHash('sha256').update(cfg).digest('hex');
  const root = writeTree(
    join(dir, 'root'),
    classicRoot('overlay2', {
      [`image/overlay2/imagedb/content/sha256/${id}`]: cfg,
      [`image/overlay2/layerdb/sha256/${'b'.repeat(64)}/diff`]: diffId,
      [`image/overlay2/layerdb/sha256/${'b'.repeat(64)}/cache-id`]: cache,
      [`overlay2/${cache}/diff/etc/hostname`]: 'box\n',
      'overlay2/l': null,
    }),
  );
  fs.writeFileSync(join(root, `overlay2/${cache}/diff/huge.bin`), '');
  fs.truncateSync(join(root, `overlay2/${cache}/diff/huge.bin`), 2 ** 40);

  const child = spawn(process.execPath, ['--max-old-space-size=256', BIN, 'export', root, '--image', id.slice(0, 12), '-o', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let written = 0;
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (written += d.length));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('close', (c, s) => r([c, s])));
  clearTimeout(timer);
  assert.equal(signal, null, `still writing after 30 s: ${(written / 2 ** 30).toFixed(1)} GiB of tar for a layer that holds 4 bytes of data`);
  assert.ok(written < 2 ** 30, `${written} bytes written; exit ${code}; ${stderr.slice(0, 300)}`);
});
