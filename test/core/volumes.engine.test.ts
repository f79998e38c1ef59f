/**
 * Volumes and bind mounts against the engine that made them (test/fixtures/containers/volumes.sh), on Docker
 * 20.10 (overlay2), Docker 26 (overlay2) and Docker 26 on the containerd image store:
 * - `layerscope volumes --format inspect` equals `docker volume inspect` of every volume `docker volume ls` lists,
 *   key by key (CreatedAt as the same instant: the engine prints its own time zone);
 * - sizes equal the engine's /system/df UsageData.Size (what `docker system df -v` rounds), bytes for bytes, and
 *   the containers using each volume its RefCount;
 * - `files --volume` equals the volume as a container sees it (find + stat + readlink in busybox): type, mode,
 *   owner, size, link target, hardlinked names; a `.wh.` name and a 0:0 char device are plain entries;
 * - `extract --volume` writes the same tree with the same bytes (sha256sum in the container), skipping the fifo
 *   and the device;
 * - binds: the one inside the data root is placed in the evidence, the one outside is said to be outside;
 * - the data root is byte-identical before and after all of ours.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { getEngine, hashTree, waitIdle, type Engine, type EngineName } from '../support/engine.js';
import { IMAGES, VOLUMES } from '../support/fixtures-manifest.mjs';
import type { Command } from '../../src/cli/command.js';
import { volumesCommand } from '../../src/cli/commands/volumes.js';
import { filesCommand, reportCommand } from '../../src/cli/commands/analysis.js';
import { extractCommand } from '../../src/cli/commands/extract.js';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-volumes-test-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Run one of our commands in-process (the CLI's code path): its stdout, stderr and exit code. */
async function ours(cmd: Command, positional: string[], flags: Record<string, string | boolean>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        f(chunk.toString());
        cb();
      },
    });
  const code = await cmd.run({ positional, flags }, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), isTTY: false, env: {} });
  return { code, out, err };
}

/** GET on the engine's API socket (the CLI's `system df -v` prints only rounded sizes). */
function api(e: Engine, url: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: e.host.replace(/^unix:\/\//, ''), path: url }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`${url}: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
  });
}

interface Seen {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  inode: string;
  link?: string;
}

/** The volume as a container sees it: every entry below its mount point, lstat'ed, and each file's sha256. */
async function engineView(e: Engine, volume: string): Promise<{ entries: Map<string, Seen>; sums: Map<string, string> }> {
  const script = 'cd /v && find . -exec stat -c "%F|%a|%u|%g|%s|%i|%n" {} + && echo @@ && find . -type l -exec sh -c \'for f; do printf "%s|%s\\n" "$f" "$(readlink "$f")"; done\' _ {} + && echo @@ && find . -type f -exec sha256sum {} +';
  const r = await e.docker(['run', '--rm', '--network', 'none', '-v', `${volume}:/v:ro`, IMAGES.base, 'sh', '-c', script]);
  const [stats, links, sums] = r.stdout.split('@@\n');
  const TYPES: Record<string, string> = { 'regular file': 'file', 'regular empty file': 'file', directory: 'dir', 'symbolic link': 'symlink', fifo: 'fifo', 'character special file': 'char', 'block special file': 'block', socket: 'socket' };
  const entries = new Map<string, Seen>();
  for (const l of stats!.split('\n').filter(Boolean)) {
    const [type, mode, uid, gid, size, inode, ...name] = l.split('|');
    const p = name.join('|');
    if (p === '.') continue;
    entries.set(p.slice(2), { type: TYPES[type!] ?? type!, mode: parseInt(mode!, 8), uid: Number(uid), gid: Number(gid), size: Number(size), inode: inode! });
  }
  for (const l of links!.split('\n').filter(Boolean)) {
    const at = l.indexOf('|');
    entries.get(l.slice(2, at))!.link = l.slice(at + 1);
  }
  const hashes = new Map<string, string>();
  for (const l of sums!.split('\n').filter(Boolean)) hashes.set(l.slice(66).slice(2), l.slice(0, 64));
  return { entries, sums: hashes };
}

for (const name of ['docker20', 'docker26', 'docker26c'] as EngineName[]) {
  test(`${name}: volumes, sizes, files and extract --volume equal the engine's; binds placed; data root untouched`, async (t) => {
    const e = getEngine(t, name);
    if (!e) return;
    // The engine first: `docker run` writes into the data root; ours must not.
    const listed = (await e.docker(['volume', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter(Boolean).sort();
    const inspected = JSON.parse((await e.docker(['volume', 'inspect', ...listed])).stdout) as any[];
    const df = await api(e, `/v${e.apiVersion ?? '1.41'}/system/df`);
    const view = await engineView(e, VOLUMES.data);
    const mounts = JSON.parse((await e.docker(['inspect', VOLUMES.reader])).stdout)[0].Mounts as any[];
    assert.ok(await waitIdle(e), 'the engine kept writing into its data root');
    const beforeHash = await hashTree(e.dataRoot);

    // docker volume ls / inspect, key by key.
    const ins = await ours(volumesCommand, [e.dataRoot], { format: 'inspect' });
    assert.equal(ins.code, 0, ins.err);
    const mine = JSON.parse(ins.out) as any[];
    assert.deepEqual(mine.map((v) => v.Name), listed, 'the same volumes as docker volume ls');
    const json = await ours(volumesCommand, [e.dataRoot], { format: 'json' });
    assert.equal(json.code, 0, json.err);
    const doc = JSON.parse(json.out);
    for (const theirs of inspected) {
      const v = mine.find((x) => x.Name === theirs.Name);
      assert.deepEqual(Object.keys(v).sort(), Object.keys(theirs).sort(), `${theirs.Name}: keys`);
      for (const k of Object.keys(theirs)) {
        if (k !== 'CreatedAt') assert.deepEqual(v[k], theirs[k], `${theirs.Name}: ${k}`);
      }
      // Docker >= 23 prints volumes/<name>'s ctime; 20.10 printed _data's (moby#44719): our dataChangedAt.
      const created = e.version.startsWith('20.') ? doc.volumes.find((x: any) => x.name === theirs.Name).dataChangedAt : v.CreatedAt;
      assert.equal(Date.parse(created), Date.parse(theirs.CreatedAt), `${theirs.Name}: CreatedAt ${created} vs ${theirs.CreatedAt}`);
    }
    const labelled = mine.find((v) => v.Name === VOLUMES.labels);
    assert.deepEqual(labelled.Labels, VOLUMES.labelValues);

    // Sizes and users, as the engine counts them (it leaves volumes made with mount options out of df).
    assert.equal(doc.schema, 'layerscope.volumes/v1');
    assert.ok(df.Volumes.length >= 4, 'the engine sizes the fixture volumes');
    for (const d of df.Volumes) {
      const v = doc.volumes.find((x: any) => x.name === d.Name);
      assert.ok(v, `${d.Name} listed`);
      assert.equal(v.bytes, d.UsageData.Size, `${d.Name}: bytes as docker system df -v counts them`);
      assert.equal(v.usedBy.length, d.UsageData.RefCount, `${d.Name}: containers using it`);
    }
    const data = doc.volumes.find((x: any) => x.name === VOLUMES.data);
    assert.ok(data.bytes > 8 * 1024 * 1024, 'the sparse file counts its apparent size');
    assert.deepEqual(data.usedBy.map((u: any) => [u.container, u.destination, u.rw]), [[VOLUMES.reader, '/data', false], [VOLUMES.writer, '/v', true]]);
    const anon = doc.volumes.filter((v: any) => v.anonymous && v.usedBy.some((u: any) => u.container === VOLUMES.anon));
    assert.equal(anon.length, 1, 'the anonymous volume');
    assert.equal(anon[0].usedBy[0].destination, '/anon');
    assert.deepEqual(doc.volumes.find((x: any) => x.name === VOLUMES.tmpfs).mount, { type: 'tmpfs', device: 'tmpfs', options: 'size=1m' });

    // Binds: docker inspect's Mounts; inside the data root placed in the evidence, outside said so.
    const binds = doc.binds.filter((b: any) => b.container === VOLUMES.reader);
    assert.deepEqual(
      binds.map((b: any) => [b.source, b.destination, b.rw]),
      mounts.filter((m) => m.Type === 'bind').map((m) => [m.Source, m.Destination, m.RW]).sort((a, b) => (a[1] < b[1] ? -1 : 1)),
    );
    const inside = binds.find((b: any) => b.destination === '/bound-inside');
    assert.equal(inside.evidencePath, path.join(e.dataRoot, 'volumes', VOLUMES.data, '_data'));
    assert.equal(inside.bytes, data.bytes);
    const outside = binds.find((b: any) => b.destination === '/bound-outside');
    assert.equal(outside.evidencePath, null);
    assert.equal(outside.outside, 'outside the evidence: not read');

    // files --volume: the volume as the container sees it.
    const files = await ours(filesCommand, [e.dataRoot], { volume: VOLUMES.data, format: 'json' });
    assert.equal(files.code, 0, files.err);
    const listing = JSON.parse(files.out);
    assert.equal(listing.volume, VOLUMES.data);
    const byPath = new Map<string, any>(listing.files.map((f: any) => [f.path.slice(1), f]));
    assert.deepEqual([...byPath.keys()].sort(), [...view.entries.keys()].sort(), 'the same names');
    for (const [p, s] of view.entries) {
      const f = byPath.get(p);
      const type = f.type === 'hardlink' ? 'file' : f.type;
      assert.equal(type, s.type, `${p}: type`);
      assert.equal(f.mode & 0o7777, s.mode, `${p}: mode`);
      assert.deepEqual([f.uid, f.gid], [s.uid, s.gid], `${p}: owner`);
      if (s.type !== 'dir') assert.equal(f.size, s.size, `${p}: size`);
      if (s.type === 'symlink') assert.equal(f.linkname, s.link, `${p}: target`);
      // A hardlink row names another name of the same inode.
      if (f.type === 'hardlink') assert.equal(view.entries.get(f.linkname.slice(1))!.inode, s.inode, `${p}: hardlink target`);
    }
    assert.equal(byPath.get('.wh.foo').type, 'file', 'a .wh. name in a volume is a plain file');
    assert.equal(byPath.get('char00').type, 'char', 'a 0:0 char device in a volume is a device, not a whiteout');

    // extract --volume: the same tree, the same bytes.
    const out = path.join(tmp, `${name}-extract`);
    const x = await ours(extractCommand, [e.dataRoot], { volume: VOLUMES.data, output: out, format: 'json' });
    assert.equal(x.code, 0, x.err);
    const res = JSON.parse(x.out);
    assert.deepEqual(res.skipped.map((s: any) => s.path).sort(), ['/char00', '/fifo']);
    for (const [p, s] of view.entries) {
      if (s.type === 'fifo' || s.type === 'char') continue;
      const st = fs.lstatSync(path.join(out, p));
      assert.equal(st.mode & 0o7777, s.mode, `extracted ${p}: mode`);
      assert.deepEqual([st.uid, st.gid], [s.uid, s.gid], `extracted ${p}: owner`);
      if (s.type === 'symlink') assert.equal(fs.readlinkSync(path.join(out, p)), s.link);
      if (s.type === 'file') assert.equal(createHash('sha256').update(fs.readFileSync(path.join(out, p))).digest('hex'), view.sums.get(p), `extracted ${p}: bytes`);
    }
    assert.equal(fs.statSync(path.join(out, 'hard1')).ino, fs.statSync(path.join(out, 'a/hard2')).ino, 'hardlinks stay hardlinks');
    // A single path, and a refusal to climb a symlink.
    const one = await ours(extractCommand, [e.dataRoot, '/a/b'], { volume: VOLUMES.data, output: path.join(tmp, `${name}-one`) });
    assert.equal(one.code, 0, one.err);
    assert.equal(fs.readFileSync(path.join(tmp, `${name}-one`, 'a/b/c/deep.txt'), 'utf8'), 'deep\n');
    await assert.rejects(ours(extractCommand, [e.dataRoot, '/a/up/etc'], { volume: VOLUMES.data, output: path.join(tmp, `${name}-up`) }), /symlink/);

    // report lists the same volumes and binds.
    const rep = await ours(reportCommand, [e.dataRoot], { format: 'json' });
    const repDoc = JSON.parse(rep.out);
    assert.deepEqual(repDoc.volumes.volumes, doc.volumes);
    assert.deepEqual(repDoc.volumes.binds, doc.binds);
    const text = await ours(reportCommand, [e.dataRoot], {});
    assert.match(text.out, /\nVOLUMES /);
    assert.match(text.out, /\/bound-outside +rw +\/tmp {2}\(outside the evidence: not read\)/);

    assert.equal(await hashTree(e.dataRoot), beforeHash, 'the data root changed while we read it');
  });
}
