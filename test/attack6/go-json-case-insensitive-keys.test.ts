/**
 * ATTACK: containers/<id>/hostconfig.json written with a lower-case key, `{"privileged": true}` (or
 * `{"Privileged": false, "privileged": true}`, or `"capadd"`, `"pidmode"`...). moby reads hostconfig.json with Go's
 * encoding/json (container.readHostConfig: json.NewDecoder(f).Decode(&hostConfig)), which matches object keys to
 * struct fields case-insensitively, the last matching key winning: the engine starts that container privileged.
 *
 * Observed: `layerscope inspect ROOT --container web --format json` on that root: risks.findings = [] with
 * complete: true, problems = [], exit 0 (same for `{"Privileged": false, "privileged": true}` and for
 * `{"capadd": ["SYS_ADMIN"], "pidmode": "host"}`: no finding at all). The text output says "none found".
 * JSON.parse keeps `privileged` as a key of its own and the reader only looks up `Privileged`.
 *
 * Expected: what the engine would honour is judged: risk.privileged (and risk.cap-add / risk.pid-host) is found,
 * or at the very least the document is a problem (error: exit 4) saying a key is spelled in a way the engine
 * reads as the field; never "no risks found, complete" with exit 0.
 *
 * Code at fault: src/core/sources/shape.ts JsonObj.raw (exact-case key lookup) as used by
 * src/core/sources/container-config.ts hostConfigOf / readInspectFields (config.v2.json has the same issue:
 * `"mountpoints"`, `"config": {"user": ...}` are honoured by the engine and missed here).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { inspectContainer } from './lib.js';

before(assertBuilt);

const judged = (r: Awaited<ReturnType<typeof inspectContainer>>, code: string) => r.findings.some((f) => f.code === code) || (r.code === 4 && r.problems.some((p) => p.severity === 'error'));

test('hostconfig.json keys in another case (Go reads them as the field): judged, or an error problem', { timeout: 30_000 }, async () => {
  const a = await inspectContainer({}, { privileged: true });
  assert.ok(judged(a, 'risk.privileged'), `{"privileged": true}: findings ${JSON.stringify(a.findings)}, complete ${a.complete}, problems ${JSON.stringify(a.problems)}, exit ${a.code}`);
  const b = await inspectContainer({}, '{"Privileged": false, "privileged": true}');
  assert.ok(judged(b, 'risk.privileged'), `{"Privileged": false, "privileged": true}: findings ${JSON.stringify(b.findings)}, problems ${JSON.stringify(b.problems)}, exit ${b.code}`);
  const c = await inspectContainer({}, { capadd: ['SYS_ADMIN'], pidmode: 'host' });
  assert.ok(judged(c, 'risk.cap-add') && judged(c, 'risk.pid-host'), `capadd/pidmode: findings ${JSON.stringify(c.findings)}, problems ${JSON.stringify(c.problems)}, exit ${c.code}`);
});
