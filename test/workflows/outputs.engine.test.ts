/**
 * The output writer against a real Docker data root (a copy of the docker20 engine's, so that the whole case
 * directory, evidence and everything around it, can be hashed before and after): outputs at, inside, above
 * (`ROOT/..`) or symlinked to the data root are refused for extract, export and ci --junit; and export/extract
 * bound what they write by what the diff dirs hold when the evidence changes under them (a file truncated or
 * grown after the analysis).
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { copyTree, diffManifests, getEngine, treeManifest } from '../support/engine.js';
import { BLOAT, IMAGES } from '../support/fixtures-manifest.mjs';
import { EXIT } from '../../src/cli/command.js';
import { ciCommand } from '../../src/cli/commands/ci.js';
import { extractCommand } from '../../src/cli/commands/extract.js';
import { exportCommand } from '../../src/cli/commands/export.js';
import { openSource } from '../../src/core/sources/open.js';
import { analyzeImage } from '../../src/core/analysis/analyze.js';
import { findImage } from '../../src/core/analysis/select.js';
import { contentReader } from '../../src/core/export/content.js';
import { TarWriter } from '../../src/core/export/tar-writer.js';
import { writeRootfs } from '../../src/core/export/rootfs.js';
import { readTarStream } from '../../src/core/sources/tar/index.js';
import { runCmd } from './helpers.js';

async function dataRootCopy(t: TestContext): Promise<{ tmp: string; root: string } | null> {
  const e = getEngine(t, 'docker20');
  if (!e) return null;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-out-eng-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const root = path.join(tmp, 'root');
  await copyTree(e.dataRoot, root);
  return { tmp, root };
}

test('a data root: outputs at, inside, above or symlinked to it are refused; nothing in or around it changes', { timeout: 300_000 }, async (t) => {
  const c = await dataRootCopy(t);
  if (!c) return;
  const { tmp, root } = c;
  fs.symlinkSync(root, path.join(tmp, 'to-root'));
  fs.symlinkSync(path.join(root, 'overlay2'), path.join(tmp, 'to-overlay2'));
  const before = await treeManifest(tmp, { strict: true });
  const img = ['--image', IMAGES.bloat];
  const dirs: [string, RegExp][] = [
    [`${root}/..`, /the evidence .* is inside it/],
    [tmp, /the evidence .* is inside it/],
    ['/', /the evidence .* is inside it/],
    [root, /it is the evidence/],
    [path.join(root, 'overlay2'), /inside the evidence/],
    [path.join(root, 'image', 'overlay2', 'new'), /inside the evidence/],
    [path.join(tmp, 'to-root'), /it is the evidence/],
    [path.join(tmp, 'to-overlay2', 'x'), /inside the evidence/],
    [`${tmp}/to-overlay2/..`, /it is the evidence/],
  ];
  for (const [out, re] of dirs) {
    const r = await runCmd(extractCommand, [root, ...img, '/data', '-o', out]);
    assert.equal(r.code, EXIT.usage, `extract -o ${out}: ${r.stderr}`);
    assert.match(r.stderr, re, out);
  }
  const files: [string, RegExp][] = [
    [path.join(root, 'x.tar'), /inside the evidence/],
    [path.join(root, 'repository.json'), /inside the evidence/],
    [path.join(tmp, 'to-root', 'x.tar'), /inside the evidence/],
    [path.join(tmp, 'to-overlay2', 'x.tar'), /inside the evidence/],
    [`${root}/..`, /the evidence .* is inside it/],
  ];
  for (const [out, re] of files) {
    const ex = await runCmd(exportCommand, [root, ...img, '-o', out]);
    assert.equal(ex.code, EXIT.usage, `export -o ${out}: ${ex.stderr}`);
    assert.match(ex.stderr, re, out);
    const ci = await runCmd(ciCommand, [root, ...img, '--lowest-efficiency', '0', '--junit', out]);
    assert.equal(ci.code, EXIT.usage, `ci --junit ${out}: ${ci.stderr}`);
    assert.match(ci.stderr, re, out);
  }
  // Strict: ctimes and inode numbers too (a chmod-and-back would show).
  assert.equal(diffManifests(before, await treeManifest(tmp, { strict: true })), '', 'the case dir (data root and all around it) changed');
});

test('a data root: what export and extract write is bounded by the diff dir files as they are, not by the sizes analysed', { timeout: 300_000 }, async (t) => {
  const c = await dataRootCopy(t);
  if (!c) return;
  const source = await openSource(c.root);
  t.after(() => source.close());
  const image = findImage(source, IMAGES.bloat);
  const a = await analyzeImage(source, image);
  const layer = BLOAT.bigFile.deletedIn - 1;
  // The evidence changes after the analysis: big.bin shrinks to 10 bytes, /etc/passwd grows by 1 MiB.
  const big = path.join(image.layers[BLOAT.bigFile.addedIn]!.location!, BLOAT.bigFile.path);
  assert.equal(fs.statSync(big).size, BLOAT.bigFile.size);
  fs.truncateSync(big, 10);
  // The layer whose /etc/passwd is visible at `layer`: the highest one at or below it whose diff dir holds one.
  const passwdLayer = image.layers.map((l, i) => i).filter((i) => i <= layer && fs.existsSync(path.join(image.layers[i]!.location!, 'etc/passwd'))).pop()!;
  const passwd = path.join(image.layers[passwdLayer]!.location!, 'etc/passwd');
  const passwdSize = fs.statSync(passwd).size;
  fs.appendFileSync(passwd, Buffer.alloc(1 << 20, 0x41));
  const reader = contentReader(source, image)!;
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (d) => chunks.push(d));
  const tar = new TarWriter(out);
  const res = await writeRootfs(a, layer, reader, tar);
  await tar.finish();
  out.end();
  const members = new Map<string, { size: number; body: Buffer }>();
  for await (const m of readTarStream([Buffer.concat(chunks)], { label: 't' })) members.set(m.name, { size: m.size, body: m.type === 'file' ? await m.readBody(4 << 20) : Buffer.alloc(0) });
  assert.equal(members.get(BLOAT.bigFile.path)?.size, 10, 'the member holds what the file holds now, not 3 MiB of zeros');
  assert.equal(members.get('etc/passwd')?.size, passwdSize, 'a grown file is cut at the size analysed');
  const msgs = res.problems.map((p) => `${p.severity} ${p.code} ${p.path}: ${p.message}`);
  assert.ok(msgs.some((m) => m.startsWith(`error export.size /${BLOAT.bigFile.path}: layer ${BLOAT.bigFile.addedIn}: the layer records ${BLOAT.bigFile.size} bytes, the evidence holds 10: 10 written, no zeros added`)), msgs.join('\n'));
  assert.ok(msgs.some((m) => m.startsWith(`error export.size /etc/passwd: layer ${passwdLayer}: the evidence holds ${passwdSize + (1 << 20)} bytes, the layer records ${passwdSize}`)), msgs.join('\n'));
  // The CLI on the changed root (analysed anew: the sizes now agree) and extract, for the record.
  const outDir = path.join(c.tmp, 'x');
  const r = await runCmd(extractCommand, [c.root, '--image', IMAGES.bloat, '--layer', String(layer), '/data/big.bin', '-o', outDir]);
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.equal(fs.statSync(path.join(outDir, BLOAT.bigFile.path)).size, 10);
});
