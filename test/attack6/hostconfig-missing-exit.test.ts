/**
 * ATTACK: delete containers/<id>/hostconfig.json (keep config.v2.json). The engine writes both files every time
 * it saves a container (container.CheckpointTo: WriteHostConfig then toDisk), so its absence is evidence removed,
 * and it hides exactly what the risk findings are about (Privileged, CapAdd, namespaces, SecurityOpt, Devices).
 *
 * Observed: `layerscope inspect ROOT --container web --format json`: risks {complete: false, findings: []},
 * problems = [warning containers.hostconfig.missing], exit 0 ("done, nothing wrong"); a CI gate or a script
 * reading the exit code sees a container whose risks were checked and found clean. (A hostconfig.json that is
 * not JSON, or a symlink, is an error and exits 4.)
 *
 * Expected: a missing hostconfig.json next to a config.v2.json is an error problem like an unreadable one
 * (the risk verdict is incomplete): exit 4.
 *
 * Code at fault: src/core/sources/container-config.ts attachHostConfig: `problem('warning',
 * 'containers.hostconfig.missing', ...)` when readFile returns null.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { inspectContainer } from './lib.js';

before(assertBuilt);

test('no hostconfig.json: risk verdict incomplete, so the run exits 4', { timeout: 30_000 }, async () => {
  const r = await inspectContainer({}, null);
  assert.equal(r.complete, false);
  assert.equal(r.code, 4, `exit ${r.code}, problems ${JSON.stringify(r.problems)}`);
});
