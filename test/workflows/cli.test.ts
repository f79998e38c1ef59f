import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCiConfig, DEFAULT_RULES } from '../../src/cli/commands/ci.js';
import { splitSourceRef } from '../../src/cli/commands/diff.js';
import { parseLayer } from '../../src/cli/commands/extract.js';
import { checkOutput, evidenceLocations } from '../../src/core/output/index.js';
import type { Source } from '../../src/core/model/source.js';
import type { ImageInfo } from '../../src/core/model/types.js';
import { UsageError } from '../../src/core/model/errors.js';

test('diff operands: SOURCE#REF, plain SOURCE, docker:REF, a path that itself holds #', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-wf-cli-'));
  try {
    assert.deepEqual(splitSourceRef('/var/lib/docker#app:1'), { source: '/var/lib/docker', ref: 'app:1' });
    assert.deepEqual(splitSourceRef('app.tar'), { source: 'app.tar', ref: undefined });
    assert.deepEqual(splitSourceRef('docker:app:1'), { source: 'docker:app:1', ref: undefined });
    const odd = path.join(dir, 'a#b.tar');
    fs.writeFileSync(odd, '');
    assert.deepEqual(splitSourceRef(odd), { source: odd, ref: undefined });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--layer: 0-based, negative from the top, bounded', () => {
  const img = { layers: [{}, {}, {}] } as unknown as ImageInfo;
  assert.equal(parseLayer(undefined, img), 2);
  assert.equal(parseLayer('0', img), 0);
  assert.equal(parseLayer('-1', img), 2);
  assert.equal(parseLayer('-3', img), 0);
  assert.throws(() => parseLayer('3', img), UsageError);
  assert.throws(() => parseLayer('-4', img), UsageError);
  assert.throws(() => parseLayer('x', img), UsageError);
});

test('outputs inside the evidence are refused, also through relative paths and symlinks', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-wf-cli-'));
  const cwd = process.cwd();
  try {
    fs.mkdirSync(path.join(dir, 'root/overlay2'), { recursive: true });
    fs.symlinkSync(path.join(dir, 'root/overlay2'), path.join(dir, 'sneaky'));
    process.chdir(dir);
    const ev = evidenceLocations((({ location: 'root' }) as Source).location);
    const refuseInsideEvidence = (out: string, kind: 'file' | 'dir' = 'dir') => checkOutput(out, kind, ev);
    assert.throws(() => refuseInsideEvidence('root/out'), UsageError);
    assert.throws(() => refuseInsideEvidence(path.join(dir, 'root/overlay2/new/deeper')), UsageError);
    assert.throws(() => refuseInsideEvidence('sneaky/x.tar', 'file'), UsageError);
    assert.throws(() => refuseInsideEvidence('root'), UsageError);
    refuseInsideEvidence('out');
    refuseInsideEvidence('root-copy/x');
    assert.deepEqual(evidenceLocations('docker:app:1', '-'), []);
    checkOutput('/tmp/x-ls-never-created', 'dir', evidenceLocations('docker:app:1'));
  } finally {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CI rules: explicit config, then .layerscope-ci.yaml before .dive-ci, flags on top, dive defaults last', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-wf-cli-'));
  try {
    const none = loadCiConfig({}, dir);
    assert.deepEqual(none.rules, DEFAULT_RULES);
    fs.writeFileSync(path.join(dir, '.dive-ci'), 'rules:\n  lowestEfficiency: 0.7\n');
    assert.deepEqual(loadCiConfig({}, dir).rules, { lowestEfficiency: 0.7 });
    fs.writeFileSync(path.join(dir, '.layerscope-ci.yaml'), 'rules:\n  highestWastedBytes: 1kB\n');
    const ours = loadCiConfig({ 'lowest-efficiency': '80%' }, dir);
    assert.deepEqual(ours.rules, { highestWastedBytes: 1000, lowestEfficiency: 0.8 });
    assert.deepEqual(ours.origin, [path.join(dir, '.layerscope-ci.yaml'), 'flags']);
    assert.deepEqual(loadCiConfig({ 'highest-wasted-bytes': 'disabled' }, dir).rules, {});
    assert.throws(() => loadCiConfig({ config: path.join(dir, 'missing.yaml') }, dir), UsageError);
    assert.deepEqual(loadCiConfig({ config: path.join(dir, '.dive-ci') }, dir).rules, { lowestEfficiency: 0.7 });
    // Flags alone: no defaults mixed in.
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-wf-cli-'));
    assert.deepEqual(loadCiConfig({ 'highest-wasted-bytes': '5' }, empty).rules, { highestWastedBytes: 5 });
    fs.rmSync(empty, { recursive: true });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
