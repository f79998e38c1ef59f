/**
 * The Node lines package.json declares (`engines.node`, what npm checks before it warns EBADENGINE) are the ones
 * CI tests (NODE_LINES, which test/node-matrix.mjs runs and .ci/run calls), and the subset run on the other
 * lines is what the README says it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { NODE_LINES, ENGINE_SUITES_ON_EVERY_LINE, subsetFiles } from './support/node-lines.mjs';
import { ROOT, findTests, runsOwnEngine, usesEngines } from './support/test-files.mjs';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const range: string = pkg.engines.node;

/** Whether some release of line `major` satisfies `range` (as npm decides it). */
const admitsLine = (major: number) => semver.intersects(range, `>=${major}.0.0 <${major + 1}.0.0`);

test('engines.node admits every line CI tests, and no line CI does not test', () => {
  assert.ok(semver.validRange(range), `engines.node ${JSON.stringify(range)} is not a semver range`);
  for (const major of NODE_LINES) {
    assert.ok(admitsLine(major), `CI tests Node ${major} but engines.node "${range}" refuses it`);
    // the newest release of the line is what CI fetches and what users upgrade to
    assert.ok(semver.satisfies(`${major}.99.0`, range), `engines.node "${range}" refuses late Node ${major} releases`);
  }
  for (let major = 0; major <= 60; major++) {
    if (admitsLine(major)) assert.ok(NODE_LINES.includes(major), `engines.node "${range}" admits Node ${major}, which CI does not test`);
  }
  // the floor is the one declared from the start; CI tests the newest 20.x only, so it must not creep lower unseen
  assert.ok(!semver.satisfies('20.10.0', range) && semver.satisfies('20.11.0', range), `engines.node "${range}" should start at 20.11`);
});

test('the active LTS lines are among those declared and tested (the issue: 20.11, 22 and 24 at least)', () => {
  for (const major of [20, 22, 24]) assert.ok(NODE_LINES.includes(major), `Node ${major} is not tested`);
});

test('.ci/run runs the matrix, after the full suite on the machine\'s line', () => {
  const ci = fs.readFileSync(path.join(ROOT, '.ci/run'), 'utf8');
  const full = ci.search(/^LAYERSCOPE_REQUIRE_ENGINE=1 npm test\b/m);
  const matrix = ci.search(/^LAYERSCOPE_REQUIRE_ENGINE=1 node test\/node-matrix\.mjs\b/m);
  assert.ok(full >= 0, '.ci/run does not run the full suite with engines required');
  assert.ok(matrix > full, '.ci/run does not run test/node-matrix.mjs (with engines required) after the full suite');
});

test('the subset on the other lines: every file that needs no engine, and one engine-backed suite per source kind', () => {
  const all = findTests();
  const subset = subsetFiles();
  for (const [kind, file] of Object.entries(ENGINE_SUITES_ON_EVERY_LINE)) {
    assert.ok(all.includes(file), `${kind}: ${file} does not exist`);
    assert.ok(usesEngines(file), `${kind}: ${file} uses no engine, so it proves nothing about reading ${kind}s`);
    assert.ok(subset.includes(file), file);
  }
  assert.deepEqual(Object.keys(ENGINE_SUITES_ON_EVERY_LINE).sort(), ['archive', 'containerd', 'data root']);
  for (const f of all) assert.equal(subset.includes(f), (!usesEngines(f) && !runsOwnEngine(f)) || Object.values(ENGINE_SUITES_ON_EVERY_LINE).includes(f), f);
  // Suites that run an engine of their own (one test user, one root) stay on the machine's line.
  for (const f of ['test/core/rootless-docker.test.ts', 'test/sources/containers-storage/podman.test.ts']) {
    assert.ok(runsOwnEngine(f), f);
    assert.ok(!subset.includes(f), f);
  }
  // the zstd tests are in it: node:zlib's zstd is exercised on the lines that have it
  assert.ok(subset.includes('test/sources/tar/decompress.test.ts'));
  assert.ok(subset.includes(path.relative(ROOT, new URL(import.meta.url).pathname)), 'this file runs on every line');
});

test('`node` on PATH is the runtime running the tests (test/run.mjs puts each line first in PATH)', () => {
  // Tests spawn the CLI as `node bin/layerscope.js`: on another line's run they must get that line's node.
  assert.equal(execFileSync('node', ['-p', 'process.version'], { encoding: 'utf8' }).trim(), process.version);
});
