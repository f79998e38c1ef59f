/**
 * The report for people and for scripts, on the committed demo archive (a real Docker 20.10 `docker save`,
 * demo/make-demo.sh): golden files under snapshots/report/ hold the exact text and the JSON schema v1, so any
 * change of either is a deliberate one. Also: the CLI's exit codes on bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { execa } from 'execa';
import { matchGoldenFile } from '../support/golden.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/layerscope.js');
const DEMO = path.join(ROOT, 'demo/demo.tar');

async function cli(...args: string[]) {
  return execa('node', [BIN, ...args], { reject: false, cwd: ROOT });
}

test('report on the demo archive: text and JSON v1 equal their golden files', async () => {
  const text = await cli('report', 'demo/demo.tar');
  assert.equal(text.exitCode, 0, text.stderr);
  matchGoldenFile('report/demo.txt', text.stdout + '\n');
  const json = await cli('report', 'demo/demo.tar', '--format', 'json');
  assert.equal(json.exitCode, 0, json.stderr);
  const rep = JSON.parse(json.stdout);
  // Written piece by piece (hidden lists streamed), yet byte for byte what JSON.stringify gives for the whole.
  assert.equal(json.stdout, JSON.stringify(rep, null, 2)); // (execa strips the final newline)
  assert.equal(rep.schema, 'layerscope.report/v1');
  matchGoldenFile('report/demo.json', JSON.stringify(rep, null, 2) + '\n');
  // What the demo was built to show (demo/make-demo.sh), read back through the schema.
  const img = rep.images[0];
  const hidden = Object.fromEntries(img.hidden.map((h: { path: string; reason: string; by: number }) => [h.path, `${h.reason}@${h.by}`]));
  assert.equal(hidden['/app/cache/deps.tar'], 'opaque@5');
  assert.equal(hidden['/root/.aws/credentials'], 'deleted@4');
  assert.equal(hidden['/tmp/build/src/app.o'], 'deleted@4');
  assert.equal(img.visibleBytes + img.hiddenBytes, img.bytes);
});

test('changes and files on the demo archive', async () => {
  const ch = await cli('changes', DEMO, '--image', 'layerscope-demo:1', '--layer', '4', '--format', 'json');
  assert.equal(ch.exitCode, 0, ch.stderr);
  const rows = JSON.parse(ch.stdout).changes as { path: string; change: string; deleted?: { bytes: number } }[];
  const build = rows.find((r) => r.path === '/tmp/build');
  assert.deepEqual([build?.change, build?.deleted?.bytes], ['deleted', 800_000 + 400_000 + 13]);
  const files = await cli('files', DEMO, '--layer', '2', '--format', 'json');
  assert.equal(files.exitCode, 0, files.stderr);
  const paths = (JSON.parse(files.stdout).files as { path: string }[]).map((f) => f.path);
  assert.ok(paths.includes('/root/.aws/credentials'), 'the secret is in the merged view at layer 2');
  const top = JSON.parse((await cli('files', DEMO, '--format', 'json')).stdout).files.map((f: { path: string }) => f.path);
  assert.ok(!top.includes('/root/.aws/credentials'), 'and gone at the top');
});

test('exit codes: usage 2, unreadable source 3, unknown image 3', async () => {
  assert.equal((await cli('report', '--no-such-flag')).exitCode, 2);
  assert.equal((await cli('changes', DEMO, '--image', 'layerscope-demo:1', '--container', 'x')).exitCode, 2, 'changes takes --image or --container, not both');
  const only = await cli('changes', DEMO, '--layer', '-1', '--format', 'json');
  assert.equal(only.exitCode, 0, `changes of the only image of the source: ${only.stderr}`);
  assert.equal(only.stdout, (await cli('changes', DEMO, '--image', 'layerscope-demo:1', '--format', 'json')).stdout);
  const missing = await cli('report', '/nonexistent/\x1b]0;PWNED\x07');
  assert.equal(missing.exitCode, 3);
  assert.doesNotMatch(missing.stderr, /\x1b/, 'the escape sequence in the name is not echoed raw');
  assert.equal((await cli('report', DEMO, '--image', 'nope:1')).exitCode, 3);
  assert.equal((await cli('changes', DEMO, '--image', 'layerscope-demo:1', '--layer', '99')).exitCode, 2);
});
