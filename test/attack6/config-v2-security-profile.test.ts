/**
 * ATTACK: config.v2.json holding `"SeccompProfile": "unconfined"` (container.SecurityOptions, embedded in the
 * container record the engine persists) while hostconfig.json's SecurityOpt is empty. On start moby builds the
 * OCI spec from the loaded record: daemon WithSeccomp / setSeccomp returns without any filter when
 * `c.SeccompProfile == "unconfined"` (it never re-reads HostConfig.SecurityOpt for it), so the container runs
 * with every system call allowed. (The same record's `AppArmorProfile: "unconfined"` is used by the spec built on
 * start, before saveAppArmorConfig recomputes it; `layerscope inspect` even prints that AppArmorProfile.)
 *
 * Observed: `layerscope inspect ROOT --container web --format json` with config.v2.json
 * `{..., "SeccompProfile": "unconfined", "AppArmorProfile": "unconfined"}` and hostconfig.json `{}`:
 * risks.findings = [], complete: true, problems = [], exit 0; text shows `AppArmorProfile  unconfined` under the
 * container and "none found" under RISKS.
 *
 * Expected: risk.seccomp-unconfined from config.v2.json's SeccompProfile (field `SeccompProfile`), and
 * risk.apparmor-unconfined from its AppArmorProfile, as the same values in SecurityOpt give.
 *
 * Code at fault: src/core/analysis/risk.ts containerRisks reads only HostConfig.SecurityOpt;
 * src/core/sources/container-config.ts readInspectFields does not keep SeccompProfile at all.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { inspectContainer } from './lib.js';

before(assertBuilt);

test('config.v2.json SeccompProfile/AppArmorProfile "unconfined" (what the engine applies on start) are findings', { timeout: 30_000 }, async () => {
  const r = await inspectContainer({ SeccompProfile: 'unconfined', AppArmorProfile: 'unconfined' }, {});
  assert.match(r.text, /AppArmorProfile\s+unconfined/);
  assert.ok(r.findings.some((f) => f.code === 'risk.seccomp-unconfined'), `SeccompProfile unconfined: findings ${JSON.stringify(r.findings)}, complete ${r.complete}, exit ${r.code}`);
  assert.ok(r.findings.some((f) => f.code === 'risk.apparmor-unconfined'), `AppArmorProfile unconfined: findings ${JSON.stringify(r.findings)}, complete ${r.complete}, exit ${r.code}`);
});
