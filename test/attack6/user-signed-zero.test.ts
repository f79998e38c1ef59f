/**
 * ATTACK: Config.User = "+0" (or "-0", "+0:0"). The engine resolves the user with moby/sys/user (runc
 * libcontainer/user) GetExecUser: `uidArg, uidErr := strconv.Atoi(userArg)`, and Go's Atoi accepts a sign, so
 * "+0" and "-0" are uid 0: the container runs as root (matched against /etc/passwd's root by uid, or taken as
 * the numeric uid 0 when no entry matches).
 *
 * Observed: `layerscope inspect ROOT --container web --format json` with Config.User "+0" (hostconfig.json {}):
 * risks.findings = [] (no risk.root-user), complete: true, exit 0; same for "-0".
 *
 * Expected: risk.root-user for every spelling the engine resolves to uid 0.
 *
 * Code at fault: src/core/analysis/risk.ts isRoot(): `/^0+$/` (no optional sign, as strconv.Atoi allows).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { inspectContainer } from './lib.js';

before(assertBuilt);

test('Config.User "+0" / "-0" is uid 0 (Go strconv.Atoi): risk.root-user', { timeout: 30_000 }, async () => {
  for (const user of ['+0', '-0:0']) {
    const r = await inspectContainer({ Config: { Image: 'app:1', User: user } }, {});
    assert.ok(r.findings.some((f) => f.code === 'risk.root-user'), `User ${JSON.stringify(user)}: findings ${JSON.stringify(r.findings)}, exit ${r.code}`);
  }
});
