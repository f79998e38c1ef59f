import test from 'node:test';
import assert from 'node:assert/strict';
import { parseByteCount, parseCiConfig, parseRatio, resolveBase, evaluateCi, commonPrefix } from '../../src/core/analysis/ci-rules.js';
import { analyzeChanges } from '../../src/core/analysis/analyze.js';
import type { Attrs, ImageInfo, LayerChanges, LayerEntry } from '../../src/core/model/types.js';
import { chainIds } from '../../src/core/analysis/chain.js';
import { ciJunit, xmlEscape } from '../../src/report/junit.js';
import { ciJson } from '../../src/report/ci.js';

const file = (size: number): Attrs => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 1, mtimeNsec: 0 });
const put = (path: string, size: number): LayerEntry => ({ kind: 'put', path, attrs: file(size) });
const wh = (path: string): LayerEntry => ({ kind: 'whiteout', path });

function image(diffs: string[], tags: string[] = [], labels: Record<string, string> = {}): ImageInfo {
  const diffIds = diffs.map((d) => 'sha256:' + d.padStart(64, '0'));
  const chains = chainIds(diffIds);
  return {
    id: 'sha256:' + (tags[0] ?? diffs.join('')).replace(/[^0-9a-f]/g, 'a').padStart(64, 'f'),
    tags,
    digests: [],
    created: null,
    os: 'linux',
    architecture: 'amd64',
    layers: diffIds.map((diffId, index) => ({ index, diffId, chainId: chains[index]!, cacheId: null, createdBy: null, created: null, comment: null, location: null, storedSize: null })),
    emptyHistory: 0,
    config: { config: { Labels: labels } },
  };
}

test('byte counts: dive/go-humanize forms', () => {
  assert.equal(parseByteCount('20MB'), 20_000_000);
  assert.equal(parseByteCount('20 mb'), 20_000_000);
  assert.equal(parseByteCount('512KiB'), 512 * 1024);
  assert.equal(parseByteCount('1000'), 1000);
  assert.equal(parseByteCount(1234), 1234);
  assert.equal(parseByteCount('1.5GB'), 1_500_000_000);
  assert.throws(() => parseByteCount('20 parsecs'));
  assert.throws(() => parseByteCount('-3'));
});

test('ratios: 0.9 and 90%, bounded', () => {
  assert.equal(parseRatio('0.9', 'x'), 0.9);
  assert.equal(parseRatio('90%', 'x'), 0.9);
  assert.equal(parseRatio(0.25, 'x'), 0.25);
  assert.throws(() => parseRatio('1.5', 'x'));
  assert.throws(() => parseRatio('abc', 'x'));
});

test('a .dive-ci file as dive writes it is accepted; disabled turns a rule off; typos are errors', () => {
  const dive = 'rules:\n  # If the efficiency is measured below X%, mark as failed.\n  lowestEfficiency: 0.95\n  highestWastedBytes: 20MB\n  highestUserWastedPercent: 0.20\n';
  const c = parseCiConfig(dive, '.dive-ci');
  assert.deepEqual(c.rules, { lowestEfficiency: 0.95, highestWastedBytes: 20_000_000, highestUserWastedPercent: 0.2 });
  const d = parseCiConfig('rules:\n  lowestEfficiency: "0.9"\n  highestWastedBytes: disabled\n  highestUserWastedPercent: disabled\n', 'x');
  assert.deepEqual(d.rules, { lowestEfficiency: 0.9 });
  const ours = parseCiConfig('base: ls-base:1\nrules:\n  highestWastedBytes: 1KiB\n', '.layerscope-ci.yaml');
  assert.equal(ours.base, 'ls-base:1');
  assert.equal(ours.rules.highestWastedBytes, 1024);
  assert.throws(() => parseCiConfig('rules:\n  lowestEfficency: 0.9\n', 'x'), /unknown rule/);
  assert.throws(() => parseCiConfig('rulez: {}\n', 'x'), /unknown key/);
  assert.throws(() => parseCiConfig('rules: [1, 2]\n', 'x'));
  assert.throws(() => parseCiConfig('rules:\n  lowestEfficiency: 2\n', 'x'));
  assert.deepEqual(parseCiConfig('', 'x').rules, {});
  // viper (dive) lowercases keys: a hand-written lowercase .dive-ci works there, so it works here.
  assert.deepEqual(parseCiConfig('rules:\n  lowestefficiency: 0.5\n  HIGHESTUSERWASTEDPERCENT: 1.5\n', 'x').rules, { lowestEfficiency: 0.5, highestUserWastedPercent: 1.5 });
});

test('base: --base-layers, --base (common prefix), label, tagged ancestor (untagged intermediates skipped), layer 0', () => {
  const base = image(['1', '2'], ['base:1']);
  const inter = image(['1', '2', '3'], []); // legacy builder intermediate: untagged
  const dangling = { ...image(['1', '2', '3'], []), id: 'sha256:' + 'd'.repeat(64), digests: ['sha256:' + 'e'.repeat(64)] }; // containerd store: a bare digest
  const app = image(['1', '2', '3', '4'], ['app:1']);
  const other = image(['1', '9'], ['other:1']);
  const src = { images: [base, inter, dangling, app, other] };
  assert.equal(commonPrefix(app, other), 1);
  assert.deepEqual([resolveBase(src, app, { baseLayers: 3 }).count, resolveBase(src, app, { baseLayers: 3 }).method], [3, 'layers']);
  assert.equal(resolveBase(src, app, { baseRef: 'base:1' }).count, 2);
  assert.equal(resolveBase(src, app, { baseRef: 'other:1' }).count, 1);
  const anc = resolveBase(src, app);
  assert.deepEqual([anc.count, anc.method, anc.image?.tags[0]], [2, 'ancestor', 'base:1']);
  const labelled = image(['1', '2', '3', '5'], ['lab:1'], { 'org.opencontainers.image.base.name': 'other:1' });
  const lb = resolveBase({ images: [...src.images, labelled] }, labelled);
  assert.deepEqual([lb.count, lb.method], [1, 'label']);
  const byDigest = image(['1', '2', '7'], ['dig:1'], { 'org.opencontainers.image.base.digest': base.id });
  assert.deepEqual([resolveBase({ images: [base, byDigest] }, byDigest).method, resolveBase({ images: [base, byDigest] }, byDigest).count], ['label', 2]);
  const alone = resolveBase({ images: [app] }, app);
  assert.deepEqual([alone.count, alone.method], [1, 'layer0']);
  assert.throws(() => resolveBase(src, app, { baseLayers: 9 }));
});

test('evaluation: thresholds pass at the exact value and fail one past it; user bytes are those above the base', () => {
  // L0 (base): a 100-byte file and a 50-byte file. L1: deletes the 50-byte base file, adds 200. L2: overwrites the 200 with 10.
  const changes: LayerChanges[] = [
    { entries: [put('a', 100), put('b', 50)], problems: [] },
    { entries: [wh('b'), put('c', 200)], problems: [] },
    { entries: [put('c', 10)], problems: [] },
  ];
  const img = image(['1', '2', '3'], ['t:1']);
  const a = analyzeChanges(img, changes);
  assert.equal(a.bytes, 360);
  assert.equal(a.hiddenBytes, 250);
  const base = resolveBase({ images: [img] }, img, { baseLayers: 1 });
  const exact = evaluateCi(a, base, { lowestEfficiency: 110 / 360, highestWastedBytes: 250, highestUserWastedPercent: 250 / 210 });
  assert.equal(exact.metrics.userBytes, 210);
  assert.equal(exact.metrics.userHiddenBytes, 250); // the base file the user deleted counts: the user layer hid it
  assert.equal(exact.rules[0]!.status, 'pass');
  assert.equal(exact.rules[1]!.status, 'pass');
  assert.equal(exact.rules[2]!.status, 'pass');
  const over = evaluateCi(a, base, { lowestEfficiency: 111 / 360, highestWastedBytes: 249 });
  assert.deepEqual(over.rules.map((r) => r.status), ['fail', 'fail', 'disabled']);
  assert.equal(over.pass, false);
  // With the whole image as base, nothing is the user's.
  const all = evaluateCi(a, resolveBase({ images: [img] }, img, { baseLayers: 3 }), { highestUserWastedPercent: 0 });
  assert.equal(all.metrics.userWastedPercent, 0);
  assert.equal(all.pass, true);
  // One-layer image: no division by zero (dive's bug).
  const one = analyzeChanges(image(['1']), [changes[0]!]);
  const r1 = evaluateCi(one, resolveBase({ images: [one.image] }, one.image), { lowestEfficiency: 1, highestUserWastedPercent: 0 });
  assert.equal(r1.pass, true);
  assert.equal(r1.metrics.userWastedPercent, 0);

  const input = { source: { kind: 'docker-root', location: '/x' }, origin: ['flags'], results: [{ result: over, analysis: a }], problems: [] };
  const xml = ciJunit(input);
  assert.match(xml, /<testsuites name="layerscope ci" tests="3" failures="2" errors="0" skipped="1"/);
  assert.match(xml, /<testcase classname="layerscope.ci.t:1" name="lowestEfficiency" time="0">\n\s*<failure type="threshold"/);
  assert.match(xml, /name="highestUserWastedPercent" time="0">\n\s*<skipped/);
  assert.equal((ciJson(input) as { pass: boolean }).pass, false);
  assert.equal(xmlEscape('a<b>&"\x1b[31m'), 'a&lt;b&gt;&amp;&quot;\ufffd[31m');
});
