/**
 * ATTACK: a config.v2.json mount point with no `Type` (the pre-1.13 form moby still loads) or with
 * `Type: "volume"` but no `Name`, whose Source is the host's `/` (RW true) or `/var/run/docker.sock`.
 * moby mounts every mount point through volume/mounts MountPoint.Setup: with no Volume attached (a Volume is only
 * looked up for a mount point that has a Name) and a non-empty Source it returns m.Source, which setupMounts
 * bind-mounts into the container whatever Type says. (daemon backportMountSpec also turns an untyped mount point
 * without a Name into a bind.)
 *
 * Observed: `layerscope inspect ROOT --container web --format json`: risks.findings = [], complete: true,
 * problems = [], exit 0, for both `{Source: "/", Destination: "/h", RW: true}` and
 * `{Source: "/var/run/docker.sock", Destination: "/s", RW: true, Type: "volume"}`.
 *
 * Expected: a mount point the engine bind-mounts from the host is judged as a bind: risk.host-path-rw for `/`,
 * risk.engine-socket for the socket.
 *
 * Code at fault: src/core/analysis/risk.ts containerRisks, `if (m.Type !== 'bind') continue;` (judges the
 * recorded Type instead of what the engine mounts: a Source with no Name).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { inspectContainer } from './lib.js';

before(assertBuilt);

test('a mount point with no Type, or Type volume without a Name, is a bind of its Source: judged', { timeout: 30_000 }, async () => {
  const a = await inspectContainer({ MountPoints: { '/h': { Source: '/', Destination: '/h', RW: true } } }, {});
  assert.ok(a.findings.some((f) => f.code === 'risk.host-path-rw'), `untyped / mount: findings ${JSON.stringify(a.findings)}, complete ${a.complete}, exit ${a.code}`);
  const b = await inspectContainer({ MountPoints: { '/s': { Source: '/var/run/docker.sock', Destination: '/s', RW: true, Type: 'volume' } } }, {});
  assert.ok(b.findings.some((f) => f.code === 'risk.engine-socket'), `nameless volume on docker.sock: findings ${JSON.stringify(b.findings)}, complete ${b.complete}, exit ${b.code}`);
});
