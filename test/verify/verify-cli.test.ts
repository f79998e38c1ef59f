/**
 * `layerscope verify` end to end.
 * - Unit (no engine): the verdicts of the two checks are merged per layer and per stack; a finding names its
 *   layer, the images and the containers that use it; exit codes; usage and source errors.
 * - Engine-backed, on COPIES of the data root (copyTree): untouched images and containers verify (exit 0, every
 *   layer and every stack); five tamperings in lower layers' diff dirs, covered up as a careful attacker would
 *   (mtimes put back), are each caught and named, and nothing else is flagged; the evidence copy hashes the
 *   same before and after; a verifier SIGKILLed while a mount is live leaves a mount that the next run reports
 *   and cleans up.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { copyTree, diffManifests, getEngine, hashTree, treeManifest } from '../support/engine.js';
import { IMAGES, CONTAINERS, DEEP } from '../support/fixtures-manifest.mjs';
import { verifyCommand } from '../../src/cli/commands/verify.js';
import { parseArgs } from '../../src/cli/args.js';
import { EXIT } from '../../src/cli/command.js';
import { NotFoundError, SourceError, UsageError } from '../../src/core/model/errors.js';
import { verifySource } from '../../src/core/verify/index.js';
import { readMountInfo } from '../../src/core/verify/mount/mountinfo.js';
import type { Source } from '../../src/core/model/source.js';
import { tableSource } from '../support/tables.js';
import type { ImageInfo, LayerInfo } from '../../src/core/model/types.js';
import type { IntegrityResult } from '../../src/core/verify/integrity/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ENTRY = path.join(HERE, 'mount', 'cli-entry.ts');
const REPO = path.resolve(HERE, '..', '..');

function capture(): { io: Parameters<typeof verifyCommand.run>[1]; out: () => string; err: () => string } {
  let o = '';
  let e = '';
  const w = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  return { io: { stdout: w((s) => (o += s)), stderr: w((s) => (e += s)), isTTY: false, env: {} }, out: () => o, err: () => e };
}

async function runVerify(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capture();
  const code = await verifyCommand.run(parseArgs(argv, verifyCommand), c.io);
  return { code, out: c.out(), err: c.err() };
}

// ------------------------------------------------------------------------------------------------------------
// Unit: merging, naming, exit codes (a fake data-root source, a fake integrity check, no mount)
// ------------------------------------------------------------------------------------------------------------

const hex = (c: string) => 'sha256:' + c.repeat(64);
function fakeSource(): Source {
  const layer = (i: number, c: string): LayerInfo => {
    const chainId = hex(String.fromCharCode(c.charCodeAt(0) + 1));
    const tarSplit = `/nonexistent-root/image/overlay2/layerdb/sha256/${chainId.slice(7)}/tar-split.json.gz`;
    return { index: i, diffId: hex(c), chainId, cacheId: c.repeat(64), createdBy: null, created: null, comment: null, location: `/nonexistent/${c}/diff`, storedSize: null, tarSplit };
  };
  const base = layer(0, 'a');
  const top = layer(1, 'c');
  const img = (id: string, tags: string[], layers: LayerInfo[]): ImageInfo => ({ id, tags, digests: [], created: null, os: 'linux', architecture: 'amd64', layers, emptyHistory: 0, config: {} });
  const app = img(hex('1'), ['app:1'], [base, top]);
  const other = img(hex('2'), ['other:1'], [base]);
  return tableSource({
    kind: 'docker-root',
    location: '/nonexistent-root',
    images: [app, other],
    containers: [{ id: '9'.repeat(64), name: 'web', image: app.id, imageRef: 'app:1', state: 'exited', pid: null, exitCode: 0, startedAt: null, finishedAt: null, created: null, driver: 'overlay2', mountId: null, initId: null, parentChainId: top.chainId, rwDir: null, initDir: null, mounts: [] }],
    problems: [],
    readLayer: async (image, i) => ({ entries: i === 0 ? [{ kind: 'put', path: 'etc', attrs: { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, mtimeNsec: 0 } }, { kind: 'put', path: 'etc/passwd', attrs: { type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10, mtime: 0, mtimeNsec: 0 } }] : [], problems: [] }),
    readContainerLayer: async () => ({ entries: [], problems: [] }),
    close: async () => {},
  });
}

test('unit: a tampered base layer fails the verdict and is named with every image and container that uses it', async () => {
  const src = fakeSource();
  const calls: string[] = [];
  const integrityFn = async (o: { tarSplitPath: string; diffDir: string; diffId: string }): Promise<IntegrityResult> => {
    calls.push(`${o.tarSplitPath} ${o.diffDir} ${o.diffId}`);
    const bad = o.diffId === hex('a');
    return {
      ok: !bad,
      computedDiffId: bad ? hex('f') : o.diffId,
      expectedDiffId: o.diffId,
      findings: bad ? [{ kind: 'content', path: 'etc/passwd', expected: '00', actual: '01', message: 'bytes differ' }] : [],
      notes: [],
      stats: { members: 1, filesRead: 1, bytesRead: 10, entriesOnDisk: 1 },
    };
  };
  const r = await verifySource(src, { images: ['app:1'], mount: false, integrityFn });
  assert.deepEqual(calls, [
    `/nonexistent-root/image/overlay2/layerdb/sha256/${'b'.repeat(64)}/tar-split.json.gz /nonexistent/a/diff ${hex('a')}`,
    `/nonexistent-root/image/overlay2/layerdb/sha256/${'d'.repeat(64)}/tar-split.json.gz /nonexistent/c/diff ${hex('c')}`,
  ]);
  assert.equal(r.ok, false);
  assert.deepEqual(r.layers.map((l) => [l.diffId, l.verdict, l.integrity.status]), [
    [hex('a'), 'failed', 'tampered'],
    [hex('c'), 'ok', 'ok'],
  ]);
  assert.equal(r.findings.length, 1);
  const f = r.findings[0]!;
  assert.equal(f.check, 'integrity');
  assert.equal(f.path, 'etc/passwd');
  assert.deepEqual(f.usedBy.images.map((i) => [i.tags[0], i.index]), [['app:1', 0], ['other:1', 0]]);
  assert.deepEqual(f.usedBy.containers.map((c) => c.name), ['web']);
  assert.deepEqual(f.visibleIn!.map((v) => [v.user, v.visibility.state]), [['app:1', 'visible'], ['other:1', 'visible'], ['container web', 'visible']]);
  assert.equal(r.mount.skipped, 'not asked (--no-mount)');
});

test('unit: without root and without user namespaces the mount check is skipped, said plainly, and integrity still runs', async () => {
  const { FakeRunner } = await import('./mount/fake-runner.js');
  const runner = new FakeRunner((argv) => (argv[0] === 'unshare' ? { exitCode: 1, stderr: 'unshare: write failed /proc/self/uid_map: Operation not permitted' } : {}));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-verify-unit-'));
  const integrityFn = async (o: { diffId: string }): Promise<IntegrityResult> => ({ ok: true, computedDiffId: o.diffId, expectedDiffId: o.diffId, findings: [], notes: [], stats: { members: 0, filesRead: 0, bytesRead: 0, entriesOnDisk: 0 } });
  const r = await verifySource(fakeSource(), { images: ['app:1'], integrityFn, mountOptions: { runner, isRoot: false, tmpDir: tmp, mountInfo: () => [] } });
  assert.deepEqual(runner.argvs(), [['unshare', '-Urm', 'true']]);
  assert.equal(r.mount.ran, false);
  assert.match(r.mount.skipped!, /not root, and unprivileged user namespaces are not available .*Operation not permitted.*only the integrity check ran/);
  assert.equal(r.integrity.ran, true);
  assert.equal(r.ok, true);
  assert.deepEqual(r.layers.map((l) => l.verdict), ['ok', 'ok']);
  const { verifyText } = await import('../../src/report/verify.js');
  assert.match(verifyText(r), /^mount check skipped: not root/m);
  assert.match(verifyText(r), /\(mount check not run\)/);
  fs.rmSync(tmp, { recursive: true });
});

test('unit: usage and source errors', async () => {
  await assert.rejects(runVerify([]), UsageError);
  await assert.rejects(runVerify(['/x', '--no-mount', '--no-integrity']), UsageError);
  await assert.rejects(runVerify(['/x', '--format', 'xml']), UsageError);
  await assert.rejects(runVerify(['/nonexistent/data/root']), SourceError);
  await assert.rejects(verifySource(fakeSource(), { images: ['nope:1'], mount: false }), NotFoundError);
  await assert.rejects(verifySource(fakeSource(), { containers: ['nope'], mount: false }), NotFoundError);
  // As a process: the exit codes of the contract.
  const r = await execa('node', ['--import', 'tsx', ENTRY, 'verify', '/nonexistent/data/root'], { cwd: REPO, reject: false });
  assert.equal(r.exitCode, EXIT.sourceError);
  assert.match(r.stderr, /cannot open/);
  const u = await execa('node', ['--import', 'tsx', ENTRY, 'verify'], { cwd: REPO, reject: false });
  assert.equal(u.exitCode, EXIT.usage);
});

// ------------------------------------------------------------------------------------------------------------
// Engine-backed
// ------------------------------------------------------------------------------------------------------------

let work: string | null = null;
let clean = '';
let cleanManifest: string[] = [];
let cleanHash = '';

before(async () => {
  if (process.getuid?.() !== 0 || !process.env.LAYERSCOPE_TEST_ENGINES) return;
  const info = JSON.parse(process.env.LAYERSCOPE_TEST_ENGINES).docker20;
  if (!info) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-verify-cli-'));
  clean = path.join(work, 'clean');
  await copyTree(info.dataRoot, clean);
  cleanManifest = await treeManifest(clean, { strict: true });
  cleanHash = await hashTree(clean, { strict: true });
});

after(async () => {
  if (!work) return;
  const m = await treeManifest(clean, { strict: true });
  const h = await hashTree(clean, { strict: true });
  fs.rmSync(work, { recursive: true, force: true });
  assert.equal(diffManifests(cleanManifest, m), '', 'verify changed the evidence');
  assert.equal(h, cleanHash);
});

function ourMounts(pid?: number): string[] {
  return readMountInfo().map((e) => e.mountPoint).filter((m) => (pid ? m.includes(`/layerscope-mnt-${pid}-`) : m.includes('/layerscope-mnt-')));
}

test('untouched images and containers verify: every layer, every stack, exit 0', async (t) => {
  if (!getEngine(t) || !work) return;
  const r = await runVerify([clean, '--image', IMAGES.bloat, '--image', IMAGES.deep, '--image', IMAGES.base, ...Object.values(CONTAINERS).flatMap((c) => ['--container', c]), '--format', 'json']);
  const j = JSON.parse(r.out);
  const notOk = [...j.layers.filter((l: any) => l.verdict !== 'ok'), ...j.stacks.filter((s: any) => s.verdict !== 'ok')];
  assert.deepEqual(notOk, []);
  assert.equal(r.code, EXIT.ok, r.err);
  assert.equal(j.ok, true);
  assert.equal(j.findings.length, 0);
  assert.equal(j.integrity.ran, true);
  assert.equal(j.mount.ran, true);
  assert.equal(j.mount.mode, 'root');
  // Every layer of the three images was checked both ways, and every layer's top-of-stack mounted.
  const chains = new Set<string>(j.layers.map((l: any) => l.chainId));
  assert.ok(chains.size >= DEEP.layers);
  for (const l of j.layers) {
    assert.equal(l.integrity.status, 'ok');
    assert.equal(l.mount?.status, 'agree', l.chainId);
  }
  assert.deepEqual(j.stacks.filter((s: any) => s.kind === 'container').map((s: any) => s.label).sort(), Object.values(CONTAINERS).map((c) => `container ${c}`).sort());
  assert.equal(j.stacks.find((s: any) => s.label === `${IMAGES.deep} layer ${DEEP.layers - 1}`).form, 'short');
  // Text form: one line per layer and per stack, and the verdict.
  const text = await runVerify([clean, '--image', IMAGES.bloat, '--top-only']);
  assert.equal(text.code, EXIT.ok);
  assert.match(text.out, /^OK: \d+ layer\(s\) and 1 stack\(s\) verified$/m);
  assert.deepEqual(ourMounts(process.pid), []);
});

test('tampering in lower layers: each change is caught and named, nothing else is flagged', async (t) => {
  if (!getEngine(t) || !work) return;
  const copy = path.join(work, 'tampered');
  await copyTree(clean, copy);
  const j0 = JSON.parse((await runVerify([copy, '--image', IMAGES.bloat, '--no-mount', '--format', 'json'])).out);
  assert.equal(j0.ok, true);
  const { openSource } = await import('../../src/core/sources/open.js');
  const src = await openSource(copy);
  const bloat = src.images.find((i) => i.tags.includes(IMAGES.bloat))!;
  const dir = (i: number) => bloat.layers[i]!.location!;
  const chain = (i: number) => bloat.layers[i]!.chainId;
  await src.close();
  // A careful attacker puts mtimes back.
  const keep = (p: string, fn: () => void) => {
    const st = fs.lstatSync(p);
    fn();
    fs.lutimesSync(p, st.atime, st.mtime);
  };
  // 1. bytes of a file (same size) in L1
  const payload = path.join(dir(1), 'app/payload.txt');
  keep(payload, () => {
    const b = fs.readFileSync(payload);
    b[0] ^= 1;
    fs.writeFileSync(payload, b);
  });
  // 2. chmod (setuid) in L2
  fs.chmodSync(path.join(dir(2), 'data/chmod-only.txt'), 0o4755);
  // 3. a file added to L2
  keep(path.join(dir(2), 'data'), () => fs.writeFileSync(path.join(dir(2), 'data/evil'), 'x'));
  // 4. a file deleted from L2
  keep(path.join(dir(2), 'gone'), () => fs.unlinkSync(path.join(dir(2), 'gone/y')));
  // 5. a symlink's target swapped in L8
  const rel = path.join(dir(8), 'links/rel');
  const lst = fs.lstatSync(rel);
  keep(path.join(dir(8), 'links'), () => {
    fs.unlinkSync(rel);
    fs.symlinkSync('/etc/shadow', rel);
    fs.lutimesSync(rel, lst.atime, lst.mtime);
  });
  const before = await treeManifest(copy, { strict: true });

  const r = await runVerify([copy, '--image', IMAGES.bloat, '--container', CONTAINERS.running, '--hash', '--format', 'json']);
  assert.equal(r.code, EXIT.failed, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.ok, false);
  const got = j.findings.filter((f: any) => f.check === 'integrity').map((f: any) => `${f.kind} ${f.path} ${f.layer.chainId}`).sort();
  assert.deepEqual(got, [
    `added /data/evil ${chain(2)}`,
    `content /app/payload.txt ${chain(1)}`,
    `linkname /links/rel ${chain(8)}`,
    `missing /gone/y ${chain(2)}`,
    `mode /data/chmod-only.txt ${chain(2)}`,
  ].sort());
  // The mount check catches the same five in the kernel's view, against the image as built (tar-split; the
  // rewritten bytes through CRC-64 with --hash), in exactly the stacks where each is visible; the kernel sees
  // the disk exactly as we read it (no 'disk' finding), and nothing else is flagged.
  const mountFindings = j.findings.filter((f: any) => f.check === 'mount');
  assert.deepEqual(mountFindings.filter((f: any) => f.against !== 'as-built'), []);
  const top = bloat.layers.length - 1;
  const stacksOf = (from: number, to: number, extra: string[] = []) => [...Array.from({ length: to - from + 1 }, (_, i) => `${IMAGES.bloat} layer ${from + i}`), ...extra].sort();
  const running = `container ${CONTAINERS.running}`;
  assert.deepEqual(
    mountFindings.map((f: any) => [`${f.kind} ${f.path} ${f.layer.chainId}`, [...f.stacks].sort()]).sort(),
    [
      [`content /app/payload.txt ${chain(1)}`, stacksOf(1, top)], // ls-running deleted it: not in its view
      [`extra /data/evil ${chain(2)}`, stacksOf(2, top, [running])],
      [`linkname /links/rel ${chain(8)}`, stacksOf(8, top, [running])],
      [`missing /gone/y ${chain(2)}`, stacksOf(2, 10)], // L11 deletes gone/
      [`mode /data/chmod-only.txt ${chain(2)}`, stacksOf(2, 3)], // L4 overwrites it
    ].sort(),
  );
  assert.ok(j.stacks.every((s: any) => s.status === 'agree' || s.asBuilt?.differences > 0));
  assert.ok(j.stacks.every((s: any) => s.differences === 0));
  const byKey = (k: string) => j.findings.find((f: any) => `${f.kind} ${f.path}` === k);
  const sym = byKey('linkname /links/rel');
  assert.equal(sym.expected, '../data/f');
  assert.equal(sym.actual, '/etc/shadow');
  assert.equal(byKey('mode /data/chmod-only.txt').actual, '4755');
  // Named with the images and containers that use the layer, and whether they see it.
  const pay = byKey('content /app/payload.txt');
  assert.ok(pay.usedBy.images.some((i: any) => i.tags.includes(IMAGES.bloat) && i.index === 1));
  for (const c of Object.values(CONTAINERS)) assert.ok(pay.usedBy.containers.some((x: any) => x.name === c), c);
  const vis = Object.fromEntries(pay.visibleIn.map((v: any) => [v.user, v.visibility.state]));
  assert.equal(vis[IMAGES.bloat], 'visible');
  assert.equal(vis[`container ${CONTAINERS.running}`], 'hidden'); // ls-running deleted /app/payload.txt
  assert.equal(byKey('mode /data/chmod-only.txt').visibleIn.find((v: any) => v.user === IMAGES.bloat).visibility.hiddenBy.layer, 4);
  // Layer verdicts: exactly the three touched layers fail.
  assert.deepEqual(j.layers.filter((l: any) => l.verdict !== 'ok').map((l: any) => l.chainId).sort(), [chain(1), chain(2), chain(8)].sort());
  // Text names them too.
  const text = await runVerify([copy, '--image', IMAGES.bloat, '--no-mount']);
  assert.equal(text.code, EXIT.failed);
  assert.match(text.out, /integrity\/linkname \/links\/rel \[expected "\.\.\/data\/f", found "\/etc\/shadow"\]/);
  assert.match(text.out, /^FAILED: /m);
  // Verifying the tampered copy changed nothing in it.
  assert.equal(diffManifests(before, await treeManifest(copy, { strict: true })), '');
  fs.rmSync(copy, { recursive: true, force: true });
  assert.deepEqual(ourMounts(process.pid), []);
});

test('a verifier killed (SIGKILL) while mounted leaves a mount; the next run reports it and cleans it up', async (t) => {
  if (!getEngine(t) || !work) return;
  // Kill the child while one of its mounts is live. The mount may be gone between seeing it and the kill
  // landing (each stack is mounted for milliseconds): then try again with a new child.
  let child: ReturnType<typeof spawn> | null = null;
  let left: string[] = [];
  for (let attempt = 0; attempt < 8 && !left.length; attempt++) {
    const c = spawn('node', ['--import', 'tsx', ENTRY, 'verify', clean, '--image', IMAGES.deep, '--no-integrity', '--hash'], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<void>((r) => c.on('exit', () => r()));
    let seen: string[] = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && c.exitCode === null) {
      seen = ourMounts(c.pid);
      if (seen.length) break;
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(seen.length, `never saw the child's mount (exit ${c.exitCode}): ${stderr}`);
    c.kill('SIGKILL');
    await exited;
    left = ourMounts(c.pid);
    if (!left.length) {
      // Raced: the child had unmounted; its workspace dir stays (cleaned by the next run too).
      await runVerify([clean, '--image', IMAGES.base, '--no-integrity']);
    }
  }
  assert.equal(left.length, 1, 'the killed run left its mount');
  const leftDir = path.dirname(left[0]!);
  assert.ok(fs.existsSync(leftDir));

  const r = await runVerify([clean, '--image', IMAGES.base, '--no-integrity']);
  assert.equal(r.code, EXIT.ok, r.out + r.err);
  assert.match(r.out, new RegExp(`leftover mount dir ${leftDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} from pid ${child!.pid} \\(dead\\), mounted: .*: unmounted and removed`));
  assert.deepEqual(ourMounts(child!.pid), []);
  assert.equal(fs.existsSync(leftDir), false);
  const j = JSON.parse((await runVerify([clean, '--image', IMAGES.base, '--no-integrity', '--format', 'json'])).out);
  assert.deepEqual(j.mount.leftovers, []);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) test(`${sig} while a mount is live: the verifier unmounts, removes its workspace, then dies of the signal`, async (t) => {
  if (!getEngine(t) || !work) return;
  let cleaned = false;
  for (let attempt = 0; attempt < 8 && !cleaned; attempt++) {
    const c = spawn('node', ['--import', 'tsx', ENTRY, 'verify', clean, '--image', IMAGES.deep, '--no-integrity', '--hash'], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => c.on('exit', (code, signal) => r({ code, signal })));
    let seen: string[] = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && c.exitCode === null) {
      seen = ourMounts(c.pid);
      if (seen.length) break;
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(seen.length, "never saw the child's mount");
    c.kill(sig);
    const how = await exited;
    assert.equal(how.signal, sig);
    assert.deepEqual(ourMounts(c.pid), [], `a mount survived ${sig}`);
    // The handler ran iff the signal landed while mounted: then the workspace is gone too.
    cleaned = !fs.readdirSync(os.tmpdir()).some((n) => n.startsWith(`layerscope-mnt-${c.pid}-`));
    if (!cleaned) await runVerify([clean, '--image', IMAGES.base, '--no-integrity']); // sweep the dir it left
  }
  assert.ok(cleaned, 'never caught the verifier with a live mount');
});
