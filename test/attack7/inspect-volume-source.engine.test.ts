/**
 * README: "`jq .inspect` compares with `docker inspect web | jq '.[0]'` key by key". ATTACK: a container with an
 * anonymous volume (`docker run -v /anon ...`, the fixtures ls-mount-volumes and ls-vol-anon). The engine keeps
 * that mount point in config.v2.json with `"Source": ""` and fills it in at inspect time from the volume
 * (moby daemon/inspect.go addMountPoints: `Source: m.Path()`, the volume's mountpoint). Observed: `layerscope
 * inspect ROOT --container ls-mount-volumes --format json` prints Mounts[/anon].Source = "" where docker prints
 * `<data root>/volumes/<id>/_data`. The engine suite compares Mounts only for containers without anonymous
 * volumes (test/core/inspect.engine.test.ts NAMES), so it does not see it.
 *
 * Expected: every Mounts entry equals docker inspect's (sorted by destination), Source included.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { getEngine, waitIdle, type EngineName } from '../support/engine.js';
import { assertBuilt, runCli } from '../sources/archive/hostile-helpers.js';

before(assertBuilt);

const byDest = (a: { Destination: string }, b: { Destination: string }) => (a.Destination < b.Destination ? -1 : a.Destination > b.Destination ? 1 : 0);

for (const which of ['docker20', 'docker26', 'docker26c'] as EngineName[]) {
  test(`${which}: inspect Mounts of containers with anonymous volumes equal docker inspect's`, { timeout: 120_000 }, async (t) => {
    const e = getEngine(t, which);
    if (!e) return;
    await waitIdle(e);
    for (const name of ['ls-mount-volumes', 'ls-vol-anon']) {
      const theirs = (JSON.parse((await e.docker(['inspect', name])).stdout) as { Mounts: { Destination: string }[] }[])[0]!.Mounts.sort(byDest);
      const r = await runCli(['inspect', e.dataRoot, '--container', name, '--format', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const mine = (JSON.parse(r.stdout) as { inspect: { Mounts: { Destination: string }[] } }).inspect.Mounts;
      assert.deepEqual(mine, theirs, `${which} ${name}: Mounts differ from docker inspect`);
    }
  });
}
