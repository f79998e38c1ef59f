/**
 * ATTACK: hostconfig.json `"DeviceCgroupRules": ["a *:* rwm"]` (docker run --device-cgroup-rule='a *:* rwm')
 * with no Devices. The engine writes the rule into the OCI spec's linux.resources.devices: the container may
 * read and write every device node; with CAP_MKNOD (in docker's default set) it can `mknod /dev/sda b 8 0` and
 * read/write the host's disk. A classic way to get host devices without `--device` or `--privileged`.
 *
 * Observed: `layerscope inspect ROOT --container web --format json`: risks.findings = [], complete: true,
 * problems = [], exit 0; the text's HOST CONFIG does not even list DeviceCgroupRules.
 *
 * Expected: a finding (high) naming HostConfig.DeviceCgroupRules and the rule, as devices passed in are.
 *
 * Code at fault: src/core/sources/container-config.ts hostConfigOf does not read DeviceCgroupRules;
 * src/core/analysis/risk.ts has no rule for it.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt } from '../sources/archive/hostile-helpers.js';
import { inspectContainer } from './lib.js';

before(assertBuilt);

test('DeviceCgroupRules allowing every device is a risk finding', { timeout: 30_000 }, async () => {
  const r = await inspectContainer({}, { DeviceCgroupRules: ['a *:* rwm'] });
  assert.ok(r.findings.some((f) => f.field.includes('DeviceCgroupRules') && f.severity === 'high'), `findings ${JSON.stringify(r.findings)}, complete ${r.complete}, exit ${r.code}`);
});
