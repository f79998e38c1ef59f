/**
 * ATTACK: a bind mount point whose Source names the engine socket or the host root through `..`:
 * `/var/run/../run/docker.sock`, `/tmp/../etc`. The kernel (runc's bind mount of the source) resolves `..`, so
 * the container gets the docker socket / the host's /etc exactly as with the plain path.
 *
 * Observed: `layerscope inspect ROOT --container web --format json`: risks.findings = [], complete: true,
 * exit 0 for `{Type: "bind", Source: "/var/run/../run/docker.sock", RW: true}` and for
 * `{Type: "bind", Source: "/tmp/../etc", RW: true}`.
 *
 * Expected: the path is normalised as the kernel would walk it (`..` removes the component before it):
 * risk.engine-socket and risk.host-path-rw.
 *
 * Code at fault: src/core/analysis/risk.ts normalHostPath() drops '' and '.' components but keeps '..'.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { inspectContainer } from './lib.js';

before(assertBuilt);

test('a bind Source with .. components is judged by the path it resolves to', { timeout: 30_000 }, async () => {
  const a = await inspectContainer({ MountPoints: { '/s': { Type: 'bind', Source: '/var/run/../run/docker.sock', Destination: '/s', RW: true } } }, {});
  assert.ok(a.findings.some((f) => f.code === 'risk.engine-socket'), `/var/run/../run/docker.sock: findings ${JSON.stringify(a.findings)}, exit ${a.code}`);
  const b = await inspectContainer({ MountPoints: { '/e': { Type: 'bind', Source: '/tmp/../etc', Destination: '/e', RW: true } } }, {});
  assert.ok(b.findings.some((f) => f.code === 'risk.host-path-rw'), `/tmp/../etc: findings ${JSON.stringify(b.findings)}, exit ${b.code}`);
});
