/**
 * `layerscope inspect` against the engine that wrote the data root: for every fixture container (the planted
 * ones of test/fixtures/containers/planted.sh, and ls-running / ls-stopped / ls-created), on Docker 20.10
 * (overlay2), Docker 26 (overlay2) and Docker 26 on the containerd image store, every field our
 * `inspect --format json` prints equals `docker inspect`'s, key by key, and the risk findings are exactly
 * what was planted. Then hostile copies: a config.v2.json or hostconfig.json that is truncated, huge, not
 * JSON or a symlink is a problem naming the file, the other containers are still inspected, nothing is
 * written to the data root.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { getEngine, hashTree, copyTree, waitIdle, type Engine, type EngineName } from '../support/engine.js';
import { CONTAINERS, IMAGES, IMAGES_FROM20, PLANTED } from '../support/fixtures-manifest.mjs';
import { analyzeSource } from '../../src/core/analysis/host.js';
import { reportJson } from '../../src/report/json.js';
import { reportText } from '../../src/report/text.js';
import { inspectCommand } from '../../src/cli/commands/inspect.js';
import { openSource } from '../../src/core/sources/open.js';
import { analyzeContainer } from '../../src/core/analysis/container.js';
import { findContainer } from '../../src/core/analysis/select.js';
import { containerInfoLines } from '../../src/tui/rows.js';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-inspect-test-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The fields, by where they sit in docker inspect: each one docker prints, we must print too. */
const REQUIRED = {
  top: ['Id', 'Created', 'Path', 'Args', 'State', 'Image', 'LogPath', 'Name', 'RestartCount', 'Mounts', 'HostConfig', 'Config'],
  State: ['Status', 'Running', 'Pid', 'ExitCode', 'StartedAt', 'FinishedAt', 'OOMKilled', 'Restarting'],
  Config: ['Cmd', 'Entrypoint', 'Env', 'User', 'WorkingDir', 'ExposedPorts', 'Labels', 'Hostname'],
  HostConfig: ['Binds', 'PortBindings', 'Privileged', 'CapAdd', 'CapDrop', 'NetworkMode', 'PidMode', 'IpcMode', 'UTSMode', 'UsernsMode', 'SecurityOpt', 'Devices', 'ReadonlyRootfs', 'RestartPolicy', 'LogConfig'],
  Mounts: ['Type', 'Name', 'Source', 'Destination', 'Mode', 'RW'],
} as const;

const NAMES = [...Object.keys(PLANTED), CONTAINERS.running, CONTAINERS.stopped, CONTAINERS.created];

/** Run the `inspect` command in-process (the same code path as the CLI); its stdout and exit code. */
async function ours(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i]!.startsWith('--')) flags[args[i]!.slice(2)] = args[++i]!;
    else positional.push(args[i]!);
  }
  const code = await inspectCommand.run({ positional, flags }, { stdout: sink, stderr: sink, isTTY: false, env: {} });
  return { code, out };
}

const byDest = (a: any, b: any) => (a.Destination < b.Destination ? -1 : a.Destination > b.Destination ? 1 : 0);

/** Every key we print equals docker's; every required key docker prints, we print. Returns the keys compared. */
function compare(name: string, mine: any, theirs: any): number {
  let n = 0;
  const same = (where: string, a: any, b: any) => {
    assert.deepEqual(a, b, `${name}: ${where} differs from docker inspect`);
    n++;
  };
  for (const k of REQUIRED.top) if (k in theirs) assert.ok(k in mine, `${name}: we print no ${k}`);
  for (const group of ['State', 'Config', 'HostConfig'] as const) {
    for (const k of REQUIRED[group]) if (theirs[group] && k in theirs[group]) assert.ok(mine[group] && k in mine[group], `${name}: we print no ${group}.${k}`);
  }
  for (const [k, v] of Object.entries(mine)) {
    if (k === 'Mounts') {
      same('Mounts', v, [...theirs.Mounts].sort(byDest));
      for (const m of theirs.Mounts) for (const f of REQUIRED.Mounts) if (f in m) assert.ok(f in (v as any[]).find((x) => x.Destination === m.Destination), `${name}: Mounts[${m.Destination}].${f}`);
    } else if (v && typeof v === 'object' && !Array.isArray(v) && ['State', 'Config', 'HostConfig'].includes(k)) {
      for (const [k2, v2] of Object.entries(v)) same(`${k}.${k2}`, v2, theirs[k][k2]);
    } else same(k, v, theirs[k]);
  }
  return n;
}

for (const which of ['docker20', 'docker26', 'docker26c'] as EngineName[]) {
  test(`${which}: inspect --format json equals docker inspect for every fixture container; risks are exactly what was planted`, { timeout: 300_000 }, async (t) => {
    const e = getEngine(t, which);
    if (!e) return;
    await waitIdle(e);
    const theirs: any[] = JSON.parse((await e.docker(['inspect', ...NAMES])).stdout);
    assert.equal(theirs.length, NAMES.length);
    const before = await hashTree(e.dataRoot);
    let compared = 0;
    for (const [i, name] of NAMES.entries()) {
      const r = await ours([e.dataRoot, '--container', name, '--format', 'json']);
      assert.equal(r.code, 0, r.out);
      const doc = JSON.parse(r.out);
      assert.equal(doc.schema, 'layerscope.inspect/v1');
      assert.deepEqual(doc.problems, [], name);
      compared += compare(`${which} ${name}`, doc.inspect, theirs[i]);
      const want = (PLANTED as Record<string, string[]>)[name];
      if (want) {
        assert.deepEqual(doc.risks.findings.map((f: any) => f.code).sort(), [...want].sort(), `${which} ${name}: risk findings`);
        assert.equal(doc.risks.complete, true);
        // Each finding names a field that docker inspect shows, holding the value given.
        for (const f of doc.risks.findings) {
          const m = /^Mounts\[(.*)\]\.Source$/.exec(f.field);
          const shown = m ? theirs[i].Mounts.find((x: any) => x.Destination === m[1])?.Source : f.field.split('.').reduce((o: any, k: string) => o?.[k], theirs[i]);
          const values = Array.isArray(shown) ? shown.map((x) => (typeof x === 'string' ? x : `${x.PathOnHost}:${x.PathInContainer}`)) : [typeof shown === 'string' && f.field === 'Config.User' ? JSON.stringify(shown) : String(shown)];
          assert.ok(values.includes(f.value), `${which} ${name}: ${f.field} = ${f.value}, docker shows ${JSON.stringify(shown)}`);
        }
      }
    }
    // The planted settings are really there (a comparison of two empty values proves nothing).
    const ins = (name: string) => theirs[NAMES.indexOf(name)];
    assert.equal(ins('ls-risk-privileged').HostConfig.Privileged, true);
    assert.ok(ins('ls-risk-sysadmin').HostConfig.CapAdd.some((c: string) => /SYS_ADMIN$/.test(c)));
    assert.deepEqual(ins('ls-risk-host-root').Mounts.map((m: any) => [m.Type, m.Source, m.Destination, m.RW]), [['bind', '/', '/host', true]]);
    assert.equal(ins('ls-risk-pid-host').HostConfig.PidMode, 'host');
    assert.deepEqual(ins('ls-risk-seccomp').HostConfig.SecurityOpt, ['seccomp=unconfined']);
    assert.equal(ins('ls-plain-user').Config.User, '1000');
    assert.equal(ins('ls-plain-network-none').HostConfig.NetworkMode, 'none');
    assert.deepEqual(ins('ls-plain-ports').HostConfig.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
    assert.equal(ins('ls-plain-labels').Config.Labels['org.layerscope.note'], 'with space');
    assert.ok(ins('ls-plain-labels').Config.Env.includes('WITH_SPACE=a b'));
    assert.deepEqual(ins('ls-plain-mounts').Mounts.map((m: any) => m.Type).sort(), ['bind', 'bind', 'volume']);
    assert.equal(ins(CONTAINERS.running).State.Running, true);
    assert.ok(ins(CONTAINERS.running).State.Pid > 0);
    assert.equal(ins(CONTAINERS.stopped).State.Status, 'exited');
    assert.ok(compared > NAMES.length * 30, `only ${compared} fields compared`);

    // Text: grouped, with the findings and the field each came from.
    const text = await ours([e.dataRoot, '--container', 'ls-risk-privileged']);
    assert.equal(text.code, 0);
    for (const head of ['STATE', 'CONFIG', 'HOST CONFIG', 'MOUNTS', 'RISKS']) assert.match(text.out, new RegExp(`^${head}`, 'm'));
    assert.match(text.out, /^ {2}HIGH {3}HostConfig\.Privileged = true: privileged/m);
    // The TUI's container screen shows them too.
    const src = await openSource(e.dataRoot);
    try {
      const ca = await analyzeContainer(src, findContainer(src, 'ls-risk-docker-sock'));
      assert.ok(containerInfoLines(ca).some((l) => /^risk HIGH +Mounts\[\/var\/run\/docker\.sock\]\.Source = \/var\/run\/docker\.sock/.test(l.text)), 'TUI risk line');
      const plain = await analyzeContainer(src, findContainer(src, 'ls-plain-user'));
      assert.ok(containerInfoLines(plain).some((l) => l.text === 'risk: none found'));
    } finally {
      await src.close();
    }
    if (which !== 'docker26c' || (await waitIdle(e))) assert.equal(await hashTree(e.dataRoot), before, 'the data root changed while we read it');
  });
}

for (const which of ['docker20', 'docker26', 'docker26c'] as EngineName[]) {
  test(`${which}: inspect --image equals docker image inspect for the keys it prints (Id, RepoTags, RepoDigests, Created, Config, Architecture, Os, RootFS)`, async (t) => {
    const e = getEngine(t, which);
    if (!e) return;
    const refs = [...Object.values(IMAGES), ...(which === 'docker20' ? [] : Object.values(IMAGES_FROM20))];
    const theirs: any[] = JSON.parse((await e.docker(['image', 'inspect', ...refs])).stdout);
    for (const [i, ref] of refs.entries()) {
      const r = await ours([e.dataRoot, '--image', ref, '--format', 'json']);
      assert.equal(r.code, 0, r.out);
      const mine = JSON.parse(r.out).inspect;
      assert.deepEqual(Object.keys(mine).sort(), ['Architecture', 'Config', 'Created', 'Id', 'Os', 'RepoDigests', 'RepoTags', 'RootFS'], ref);
      for (const [k, v] of Object.entries(mine)) assert.deepEqual(v, theirs[i][k], `${which} ${ref}: ${k} differs from docker image inspect`);
    }
  });
}

test('docker20: report (text and JSON) carries the risk findings of each container', { timeout: 300_000 }, async (t) => {
  const e = getEngine(t, 'docker20');
  if (!e) return;
  const src = await openSource(e.dataRoot);
  try {
    const a = await analyzeSource(src, { images: [], all: false });
    const json = reportJson(a) as any;
    for (const [name, want] of Object.entries(PLANTED)) {
      const c = json.containers.find((x: any) => x.name === name);
      assert.deepEqual(c.risks.findings.map((f: any) => f.code).sort(), [...want].sort(), name);
    }
    const text = reportText(a);
    assert.match(text, /^CONTAINER RISKS/m);
    assert.match(text, /^ {2}ls-risk-pid-host\n {4}HIGH {3}HostConfig\.PidMode = host: /m);
    assert.doesNotMatch(text, /^ {2}ls-plain-user$/m, 'a container without findings is not listed');
  } finally {
    await src.close();
  }
});

/** containers/<id> of each container name in a data root copy. */
function idsOf(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const id of fs.readdirSync(path.join(root, 'containers'))) {
    const cfg = JSON.parse(fs.readFileSync(path.join(root, 'containers', id, 'config.v2.json'), 'utf8'));
    out.set(cfg.Name.replace(/^\//, ''), id);
  }
  return out;
}

for (const which of ['docker20', 'docker26c'] as EngineName[]) {
  test(`${which} copy: hostconfig.json and config.v2.json truncated, huge, not JSON, a symlink: a problem naming the file, the rest goes on, nothing written`, { timeout: 300_000 }, async (t) => {
    const e: Engine | null = getEngine(t, which);
    if (!e) return;
    await waitIdle(e);
    const root = path.join(tmp, `${which}-root`);
    await copyTree(e.dataRoot, root);
    const ids = idsOf(root);
    const file = (name: string, f: string) => path.join(root, 'containers', ids.get(name)!, f);
    const hc = (name: string) => file(name, 'hostconfig.json');
    // hostconfig.json: truncated, not JSON, huge (sparse: no disk used), a symlink to a real one
    const truncated = hc('ls-risk-privileged');
    fs.writeFileSync(truncated, fs.readFileSync(truncated).subarray(0, 40));
    fs.writeFileSync(hc('ls-risk-sysadmin'), 'not json at all');
    fs.truncateSync(hc('ls-risk-pid-host'), 17 << 20);
    fs.rmSync(hc('ls-risk-seccomp'));
    fs.symlinkSync(hc('ls-plain-user'), hc('ls-risk-seccomp'));
    // config.v2.json: not JSON, a symlink, truncated; huge (past what any config may hold)
    fs.writeFileSync(file('ls-risk-device', 'config.v2.json'), '{"Name": "/ls-risk-device", "State"');
    fs.rmSync(file('ls-plain-labels', 'config.v2.json'));
    fs.symlinkSync(file('ls-plain-user', 'config.v2.json'), file('ls-plain-labels', 'config.v2.json'));
    fs.truncateSync(file('ls-plain-ports', 'config.v2.json'), 65 << 20);
    const before = await hashTree(root);

    const json = async (name: string) => {
      const r = await ours([root, '--container', name, '--format', 'json']);
      return { code: r.code, doc: JSON.parse(r.out) };
    };
    for (const [name, code] of [
      ['ls-risk-privileged', 'containers.hostconfig.invalid-json'],
      ['ls-risk-sysadmin', 'containers.hostconfig.invalid-json'],
      ['ls-risk-pid-host', 'evidence.too-large'],
      ['ls-risk-seccomp', 'evidence.symlink'],
    ] as const) {
      const { code: exit, doc } = await json(name);
      assert.equal(exit, 4, `${name}: an error problem is exit 4`);
      assert.deepEqual(doc.problems.map((p: any) => [p.code, p.path]), [[code, hc(name)]], name);
      assert.equal(doc.inspect.HostConfig, null, name);
      assert.equal(doc.inspect.Config.Image, 'ls-base:1', `${name}: config.v2.json is still read`);
      assert.equal(doc.risks.complete, false, name);
    }
    // The others are inspected as before.
    const ok = await json('ls-risk-host-root');
    assert.equal(ok.code, 0);
    assert.deepEqual(ok.doc.risks.findings.map((f: any) => f.code).sort(), ['risk.host-path-rw', 'risk.root-user']);
    // A container whose config.v2.json is unusable is left out with a problem naming the file; report goes on.
    const src = await openSource(root);
    try {
      const codes = (name: string) => src.problems.filter((p) => p.path === file(name, 'config.v2.json')).map((p) => p.code);
      assert.deepEqual(codes('ls-risk-device'), ['containers.config.invalid-json']);
      assert.deepEqual(codes('ls-plain-labels'), ['evidence.symlink']);
      assert.deepEqual(codes('ls-plain-ports'), ['evidence.too-large']);
      const names = src.containers.map((c) => c.name);
      for (const gone of ['ls-risk-device', 'ls-plain-labels', 'ls-plain-ports']) assert.ok(!names.includes(gone), gone);
      assert.ok(names.includes('ls-risk-docker-sock') && names.includes(CONTAINERS.running));
    } finally {
      await src.close();
    }
    assert.equal(await hashTree(root), before, 'nothing written to the data root');
  });
}
