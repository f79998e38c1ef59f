/**
 * The risk rules and the hostconfig.json reader on hand-made documents: the forms the engine accepts for the
 * same setting (seccomp:unconfined, cap names with CAP_ and in lower case, /var/run/ with a slash), what it adds
 * by itself (label=disable for privileged and host-pid containers), and hostile text shown escaped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readConfigV2, readHostConfig } from '../../src/core/sources/container-config.js';
import { containerRisks } from '../../src/core/analysis/risk.js';
import { containerInspectText } from '../../src/report/inspect.js';
import type { ContainerInfo, ContainerInspect } from '../../src/core/model/types.js';

const F = '/r/containers/c/hostconfig.json';

function inspectOf(cfg: object, host: object | null): ContainerInspect {
  const r = readConfigV2(Buffer.from(JSON.stringify(cfg)), '/r/containers/c/config.v2.json', 'c');
  assert.deepEqual(r.problems, []);
  const ins = r.config!.inspect;
  if (host) {
    const h = readHostConfig(Buffer.from(JSON.stringify(host)), F);
    assert.deepEqual(h.problems, []);
    ins.HostConfig = h.hostConfig;
  }
  return ins;
}

const codes = (ins: ContainerInspect) => containerRisks({ inspect: ins })!.findings.map((f) => `${f.code} ${f.field} ${f.value}`).sort();

test('risk rules: every form the engine accepts, and nothing for a confined non-root container', () => {
  const user = { Config: { User: '1000:1000' } };
  assert.deepEqual(codes(inspectOf(user, { Privileged: false, CapAdd: null, SecurityOpt: null, NetworkMode: 'bridge' })), []);
  assert.deepEqual(codes(inspectOf(user, { SecurityOpt: ['seccomp:unconfined', 'apparmor=unconfined', 'no-new-privileges'] })), [
    'risk.apparmor-unconfined HostConfig.SecurityOpt apparmor=unconfined',
    'risk.seccomp-unconfined HostConfig.SecurityOpt seccomp:unconfined',
  ]);
  assert.deepEqual(codes(inspectOf(user, { CapAdd: ['cap_sys_ptrace', 'CAP_NET_ADMIN', 'DAC_READ_SEARCH', 'CHOWN'] })).map((c) => c.split(' ')[2]), ['CAP_NET_ADMIN', 'CHOWN', 'DAC_READ_SEARCH', 'cap_sys_ptrace']);
  const sev = containerRisks({ inspect: inspectOf(user, { CapAdd: ['cap_sys_ptrace', 'CHOWN'] }) })!.findings.map((f) => [f.value, f.severity]);
  assert.deepEqual(sev, [['cap_sys_ptrace', 'high'], ['CHOWN', 'medium']]);
  assert.deepEqual(codes(inspectOf(user, { NetworkMode: 'host', IpcMode: 'host', PidMode: 'container:abc', UTSMode: 'host' })), [
    'risk.ipc-host HostConfig.IpcMode host',
    'risk.net-host HostConfig.NetworkMode host',
    'risk.uts-host HostConfig.UTSMode host',
  ]);
  // The engine adds label=disable itself to privileged and host-pid containers: one finding, not two.
  assert.deepEqual(codes(inspectOf(user, { PidMode: 'host', SecurityOpt: ['label=disable'] })), ['risk.pid-host HostConfig.PidMode host']);
  assert.deepEqual(codes(inspectOf(user, { SecurityOpt: ['label=disable'] })), ['risk.selinux-disabled HostConfig.SecurityOpt label=disable']);
  assert.deepEqual(codes(inspectOf(user, { Devices: [{ PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'rwm' }] })), ['risk.device HostConfig.Devices /dev/sda:/dev/xvda']);
});

test('risk rules: mounts are judged by the host path they name, normalised; volumes never', () => {
  const mp = (Source: string, Destination: string, RW: boolean, Type = 'bind') => ({ Source, Destination, RW, Type });
  const ins = inspectOf(
    {
      Config: { User: 'nobody' },
      MountPoints: {
        '/s': mp('/run/docker.sock', '/s', true),
        '/r': mp('/var/run/', '/r', false),
        '/e': mp('//etc/', '/e', false),
        '/h': mp('/', '/h', true),
        '/v': mp('/var/lib/docker/volumes/x/_data', '/v', true, 'volume'),
        '/t': mp('/tmp', '/t', true),
      },
    },
    {},
  );
  assert.deepEqual(codes(ins), [
    'risk.engine-socket Mounts[/r].Source /var/run/',
    'risk.engine-socket Mounts[/s].Source /run/docker.sock',
    'risk.host-path-ro Mounts[/e].Source //etc/',
    'risk.host-path-rw Mounts[/h].Source /',
  ]);
});

test('risk rules: root is uid 0 by any spelling; a userns-remap engine (its <uid>.<gid> root in the paths) is not flagged unless UsernsMode=host', () => {
  for (const u of ['', 'root', '0', '0:0', 'root:wheel', '000']) assert.deepEqual(codes(inspectOf({ Config: { User: u } }, {})), [`risk.root-user Config.User ${JSON.stringify(u)}`], u);
  for (const u of ['1000', 'app', '1000:0']) assert.deepEqual(codes(inspectOf({ Config: { User: u } }, {})), [], u);
  const remapped = { Config: { User: '' }, LogPath: '/var/lib/docker/100000.100000/containers/c/c-json.log' };
  assert.deepEqual(codes(inspectOf(remapped, {})), []);
  assert.deepEqual(codes(inspectOf(remapped, { UsernsMode: 'host' })), ['risk.root-user Config.User ""']);
});

test('hostconfig.json: wrong shapes are one problem naming the file; unusable documents leave HostConfig null and the findings incomplete', () => {
  for (const text of ['null', '[]', '"x"']) {
    const r = readHostConfig(Buffer.from(text), F);
    assert.equal(r.hostConfig, null);
    assert.deepEqual(r.problems.map((p) => [p.code, p.path]), [['containers.hostconfig.bad-shape', F]], text);
  }
  assert.deepEqual(readHostConfig(Buffer.from('{"Privileged": tr'), F).problems.map((p) => [p.code, p.path]), [['containers.hostconfig.invalid-json', F]]);
  const r = readHostConfig(Buffer.from(JSON.stringify({ Privileged: 'yes', CapAdd: ['SYS_ADMIN', 7], PortBindings: { '80/tcp': [{ HostPort: '8080' }], '81/tcp': null }, Binds: null })), F);
  assert.deepEqual(r.hostConfig, { Privileged: null, CapAdd: ['SYS_ADMIN'], PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }], '81/tcp': null }, Binds: null });
  assert.match(r.problems[0]!.message, /Privileged is a string \("yes"\), expected a boolean; CapAdd\[1\] is a number \(7\), expected a string/);
  const ins = inspectOf({ Config: { User: '' } }, null);
  const risks = containerRisks({ inspect: ins })!;
  assert.equal(risks.complete, false);
  assert.equal(containerRisks({}), null, 'no docker-inspect data: nothing judged');
});

test('inspect text: every value from the evidence is escaped (labels, env, mount paths)', () => {
  const ins = inspectOf(
    {
      Name: '/web\x1b]0;PWNED\x07',
      Config: { User: '', Labels: { 'x\x1b[31m': 'red\x1b[0m' }, Env: ['A=\x1b]0;T\x07'] },
      MountPoints: { '/m': { Source: '/\x1b[2Jhost', Destination: '/m', RW: true, Type: 'bind' } },
    },
    { SecurityOpt: ['seccomp=unconfined\x07'] },
  );
  const c = { id: 'c'.repeat(64), name: 'web\x1b]0;PWNED\x07', inspect: ins } as unknown as ContainerInfo;
  const text = containerInspectText(c, containerRisks(c), []);
  assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f]/);
  assert.match(text, /PWNED/);
});
