/**
 * ATTACK (low): a json-file line whose keys differ in case, `{"Log":"c\n","Stream":"stdout","Time":"..."}`. docker
 * logs decodes lines with Go's encoding/json into jsonlog.JSONLog, which matches keys without regard to case
 * (the README says inspect reads fields "as Docker's Go decoder reads them"; the logs reader does not): docker
 * logs prints `c`; layerscope says `has no "log"; not shown` (exit 4). An edited log can thus show the engine one
 * thing and layerscope another.
 *
 * Expected: the entry is shown, as docker shows it. Code: src/core/sources/logs/json-file.ts decodeJsonLine.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { assertBuilt, runCli, tempDir } from '../sources/archive/hostile-helpers.js';
import { CID, jl, logsRoot } from './logs-lib.js';

before(assertBuilt);

test('json-file keys are matched without regard to case, as Go does', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { root } = logsRoot(dir, { Type: 'json-file', Config: {} }, {
      [`${CID}-json.log`]: '{"Log":"c\\n","Stream":"stdout","Time":"2024-05-01T12:00:00Z"}\n' + jl('ok\n'),
    });
    const r = await runCli(['logs', root, '--container', 'web']);
    assert.equal(r.stdout, 'c\nok\n', r.stderr);
    assert.equal(r.code, 0);
  } finally {
    cleanup();
  }
});
