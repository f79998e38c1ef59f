/**
 * What a new user meets in the first minutes (issue 14, part 7), each on the demo image (a real Docker 20.10
 * `docker save` of an imported base plus RUN layers, with a hard link and symlinks): extract on a compressed
 * save says to decompress it; an imported layer shows its history comment; files and changes tell hard links
 * (=>) from symlinks (->); diff --content says which files it did not read.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { historyNote, linkText } from '../../src/report/text.js';
import { shortCommand } from '../../src/tui/rows.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DEMO = path.join(ROOT, 'demo/demo.tar');

function run(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/layerscope.js'), ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: undefined }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('extract, cat, export on a gzipped save: decompress it (gunzip -k), not "save it to a file"', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-first-use-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const gz = gzipSync(fs.readFileSync(DEMO));
  fs.writeFileSync(path.join(dir, 'app.tar.gz'), gz);
  fs.writeFileSync(path.join(dir, 'app.tgz'), gz);
  fs.writeFileSync(path.join(dir, 'app.tar.gz.copy'), gz);
  const cases: [string[], RegExp][] = [
    [['extract', 'app.tar.gz', '/app', '-o', 'out'], /gunzip -k app\.tar\.gz, then name app\.tar /],
    [['cat', 'app.tgz', '/app/VERSION'], /gunzip -k app\.tgz, then name app\.tar /],
    // A name gunzip does not know: decompressed to a named file instead.
    [['export', 'app.tar.gz.copy', '-o', 'x.tar'], /gunzip -c app\.tar\.gz\.copy > app\.tar\.gz\.copy\.tar, then name app\.tar\.gz\.copy\.tar /],
  ];
  for (const [args, fix] of cases) {
    const r = run(args, dir);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /compressed as a whole \(gzip\)/);
    assert.match(r.stderr, fix);
    assert.match(r.stderr, /or save it uncompressed: docker save app:1 -o app\.tar/);
    assert.doesNotMatch(r.stderr, /save it to a file first/);
  }
  assert.ok(!fs.existsSync(path.join(dir, 'out')) && !fs.existsSync(path.join(dir, 'x.tar')), 'nothing written');
  // The uncompressed file, as the message says, works.
  fs.writeFileSync(path.join(dir, 'app.tar'), fs.readFileSync(DEMO));
  assert.equal(run(['cat', 'app.tar', '/app/VERSION'], dir).code, 0);
});

test('an imported layer shows its history comment, not "(no history entry)"', () => {
  // docker import writes {created, comment: "Imported from -"} and no created_by (the demo's layer 0).
  const imported = { createdBy: null, comment: 'Imported from -', created: '2024-01-01T00:00:00Z' };
  assert.equal(historyNote(imported), '(imported: Imported from -)');
  assert.equal(historyNote({ ...imported, createdBy: '' }), '(imported: Imported from -)');
  assert.equal(historyNote({ createdBy: null, comment: 'made by hand', created: null }), '(no command; comment: made by hand)');
  assert.equal(historyNote({ createdBy: null, comment: null, created: '2024-01-01T00:00:00Z' }), '(no command in its history entry)');
  assert.equal(historyNote({ createdBy: null, comment: null, created: null }), '(no history entry)');
  assert.equal(historyNote({ createdBy: '/bin/sh -c true', comment: 'x', created: null }), null);
  // The TUI's layer list and details say the same, escaped.
  assert.equal(shortCommand(null, imported), '(imported: Imported from -)');
  assert.equal(shortCommand(null, { comment: 'a\u001b[2Jb', created: null }), '(no command; comment: a\\e[2Jb)');
  assert.equal(shortCommand('/bin/sh -c true', imported), 'RUN true');
  // The report, on the demo image.
  const r = run(['report', DEMO]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n {2}0 {2}1\.98 MB .* \(imported: Imported from -\)\n/);
});

test('files and changes: a hard link is =>, a symlink ->', () => {
  assert.equal(linkText({ type: 'hardlink', linkname: 'app/VERSION' }), ' => /app/VERSION');
  assert.equal(linkText({ type: 'symlink', linkname: 'busybox' }), ' -> busybox');
  assert.equal(linkText({ type: 'file' }), '');
  const files = run(['files', DEMO]);
  assert.equal(files.code, 0, files.stderr);
  assert.match(files.stdout, /\/app\/VERSION\.bak => \/app\/VERSION\n/);
  assert.match(files.stdout, /\/bin\/cat -> busybox\n/);
  assert.doesNotMatch(files.stdout, /VERSION\.bak ->/);
  const layer = [0, 1, 2, 3, 4, 5].map((l) => run(['changes', DEMO, '--layer', String(l)]).stdout).find((o) => o.includes('VERSION.bak'))!;
  assert.match(layer, /hardlink .*\/app\/VERSION\.bak => \/app\/VERSION/);
});

test('diff --content says that files in layers of equal diffIDs are not read, and points to verify', () => {
  const r = run(['diff', DEMO, DEMO, '--content']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\ncontent: same-size files compared by sha256, except: files in layers with equal diffIDs \(shared layers\) are taken as equal without reading them \(for on-disk tampering of a layer: layerscope verify\)\n/);
  const plain = run(['diff', DEMO, DEMO]);
  assert.match(plain.stdout, /\ncontent: files of the same size and mtime taken as equal \(--content to compare bytes\); files in layers with equal diffIDs/);
  assert.match(run(['diff', '--help']).stdout, /--content +hash same-size files .*\n.*equal diffIDs/);
});
