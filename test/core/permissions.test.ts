/**
 * A source we may not read says so: which path, that reading a data root needs root (or read access), exit 3.
 * Never "neither a Docker data root nor an OCI layout", never "holds no Docker image store". The CLI runs as an
 * unprivileged user (nobody, through setpriv) on hand-made roots whose directories are root-owned 0700/0710,
 * as an engine leaves them; needs root to set that up (skipped loudly otherwise).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { requireRoot } from '../support/engine.js';
import { hashTree } from '../support/tree.js';
import { ROOT, cli, classicRoot, docker20Containerd, metaDb, writeTree, type Files } from '../support/roots.js';

const NOBODY = 65534;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-perm-'));
// The temp dir itself must be reachable by nobody: only the roots inside are locked.
fs.chmodSync(tmp, 0o755);
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** A root from `files`, every dir 0755 and file 0644, then `modes` applied (relative path → mode). */
function mk(files: Files, modes: Record<string, number>): string {
  const root = writeTree(path.join(tmp, `r${n++}`), files);
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    fs.chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
    if (st.isDirectory()) for (const c of fs.readdirSync(p)) walk(path.join(p, c));
  };
  walk(root);
  for (const [rel, mode] of Object.entries(modes)) fs.chmodSync(path.join(root, rel), mode);
  return root;
}

const NEEDS_ROOT = /cannot be read \(EACCES: permission denied\): reading a Docker data root or a containerd root needs root, as the engine keeps them readable by root only; run layerscope as root \(e\.g\. sudo\), or give this user read access/;

async function denied(root: string, blocked: string, args: string[] = ['report', root]) {
  const before = await hashTree(root);
  const r = await cli(args, { user: NOBODY });
  assert.equal(r.code, 3, `exit 3 expected: ${r.stderr}${r.stdout}`);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.includes(`${blocked}: cannot be read (EACCES`), `names ${blocked}: ${r.stderr}`);
  assert.match(r.stderr, NEEDS_ROOT);
  assert.doesNotMatch(r.stderr, /neither a Docker data root|holds no Docker image store|no such file/);
  assert.equal(await hashTree(root), before, 'the evidence changed');
  // As root the same root opens: the message was about privileges, not about the evidence.
  if (args[0] === 'report') {
    const asRoot = await cli(args);
    assert.notEqual(asRoot.code, 3, `as root: ${asRoot.stderr}`);
  }
}

test('a data root as the engine keeps it (0710 root, 0700 dirs): the root is named', async (t) => {
  if (!requireRoot(t)) return;
  const root = mk(classicRoot('overlay2', { 'overlay2/l': null, ...docker20Containerd() }), { '.': 0o710, image: 0o700, 'image/overlay2': 0o700, containerd: 0o700, containers: 0o710, overlay2: 0o710 });
  await denied(root, root);
  // The default command (the TUI) needs a terminal; report is what runs headless, and `changes`, `files` too.
  await denied(root, root, ['changes', root, '--container', 'x']);
  await denied(root, root, ['files', root, '--image', 'x']);
});

test('a readable root whose image/ is 0700: image/ is named, not "not a data root"', async (t) => {
  if (!requireRoot(t)) return;
  const root = mk(classicRoot('overlay2', { 'overlay2/l': null }), { image: 0o700 });
  await denied(root, path.join(root, 'image'));
});

test('readable directories, a 0600 file met while opening (repositories.json, a container config): named, exit 3', async (t) => {
  if (!requireRoot(t)) return;
  const repos = mk(classicRoot('overlay2', { 'overlay2/l': null }), { 'image/overlay2/repositories.json': 0o600 });
  await denied(repos, path.join(repos, 'image/overlay2/repositories.json'));
  const cfg = path.join('containers', 'c'.repeat(64), 'config.v2.json');
  const container = mk(classicRoot('overlay2', { 'overlay2/l': null, [cfg]: '{}' }), { [cfg]: 0o600 });
  await denied(container, path.join(container, cfg));
});

test('containerd: a 0700 root, a 0700 bolt dir, a 0600 meta.db of a Docker root', async (t) => {
  if (!requireRoot(t)) return;
  const files = { 'io.containerd.metadata.v1.bolt/meta.db': metaDb({ default: { images: {} } }) };
  const locked = mk(files, { '.': 0o700 });
  await denied(locked, locked);
  const boltDir = mk(files, { 'io.containerd.metadata.v1.bolt': 0o700 });
  await denied(boltDir, path.join(boltDir, 'io.containerd.metadata.v1.bolt'));
  const dockerMeta = 'containerd/daemon/io.containerd.metadata.v1.bolt/meta.db';
  const docker = mk({ ...docker20Containerd(), 'containerd/daemon/io.containerd.metadata.v1.bolt/meta.db': metaDb({ moby: { images: {} } }), containers: null }, { [dockerMeta]: 0o600 });
  await denied(docker, path.join(docker, dockerMeta));
});

test('an image archive we may not read: named, exit 3', async (t) => {
  if (!requireRoot(t)) return;
  const dir = mk({ 'app.tar': Buffer.alloc(1024) }, { 'app.tar': 0o600 });
  const r = await cli(['report', path.join(dir, 'app.tar')], { user: NOBODY });
  assert.equal(r.code, 3);
  assert.ok(r.stderr.includes(`${path.join(dir, 'app.tar')}: cannot be read (EACCES`), r.stderr);
});

test('the TUI default source: a data root we may not read falls back to the demo saying why (needs root)', async (t) => {
  if (!requireRoot(t)) return;
  const root = mk(classicRoot('overlay2', { 'overlay2/l': null }), { '.': 0o755, image: 0o700 });
  const demo = path.join(mk({ 'demo.tar': 'x' }, {}), 'demo.tar');
  const script = `import(${JSON.stringify(path.join(ROOT, 'dist/cli/commands/tui.js'))}).then((m) => process.stdout.write(JSON.stringify([m.defaultSource(${JSON.stringify(root)}, ${JSON.stringify(demo)}), m.defaultSource(${JSON.stringify(root)}, '/nonexistent/demo.tar')])))`;
  const r = await execa('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'node', '-e', script]);
  const [withDemo, without] = JSON.parse(r.stdout);
  assert.equal(withDemo.location, demo);
  assert.ok(withDemo.note.startsWith(`DEMO image (${path.join(root, 'image')}: cannot be read (EACCES`), withDemo.note);
  assert.match(withDemo.note, /needs root/);
  assert.match(without.error, /needs root.*and the demo image \(\/nonexistent\/demo\.tar\) is not installed/);
  assert.doesNotMatch(withDemo.note + without.error, /holds no Docker image store/);
  // As root it opens.
  const { defaultSource } = await import('../../src/cli/commands/tui.js');
  assert.deepEqual(defaultSource(root, demo), { location: root, note: null });
});

test('the TUI on a named data root we may not read: exit 3 before taking the screen, saying it needs root', async (t) => {
  if (!requireRoot(t)) return;
  const root = mk(classicRoot('overlay2', { 'overlay2/l': null }), { '.': 0o710, image: 0o700 });
  const script = `
    const m = await import(${JSON.stringify(path.join(ROOT, 'dist/cli/commands/tui.js'))});
    let err = '', out = '';
    const io = { stdout: { write: (s) => { out += s; } }, stderr: { write: (s) => { err += s; } }, isTTY: true, env: {}, stdin: { isTTY: true } };
    const code = await m.tuiCommand.run({ positional: [${JSON.stringify(root)}], flags: {} }, io);
    process.stdout.write(JSON.stringify({ code, err, out }));`;
  const r = await execa('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'node', '--input-type=module', '-e', script]);
  const { code, err, out } = JSON.parse(r.stdout);
  assert.equal(code, 3);
  assert.equal(out, '', 'the screen was not taken');
  assert.ok(err.startsWith(`layerscope: ${root}: cannot be read (EACCES`), err);
  assert.match(err, /needs root/);
});
