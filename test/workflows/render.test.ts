/**
 * Golden outputs of the workflow reports on a hand-made image (no engine): the CI text/JSON/JUnit, the diff text,
 * the timeline bodyfile and table. Compared with snapshots/workflows/*; LAYERSCOPE_UPDATE_SNAPSHOTS=1 rewrites them
 * (refused under CI=true).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { BigIntStats } from 'node:fs';
import { analyzeChanges } from '../../src/core/analysis/analyze.js';
import { chainIds } from '../../src/core/analysis/chain.js';
import { evaluateCi, resolveBase } from '../../src/core/analysis/ci-rules.js';
import { compareImages } from '../../src/core/analysis/compare.js';
import { buildTimeline } from '../../src/core/analysis/timeline.js';
import { dockerDiffOf } from '../../src/core/analysis/docker-diff.js';
import { stackTables, tablesOf } from '../../src/core/analysis/analyze.js';
import { mergedRows } from '../../src/core/analysis/views.js';
import type { Attrs, ContainerInfo, ImageInfo, LayerChanges, LayerEntry } from '../../src/core/model/types.js';
import { ciJson, ciText } from '../../src/report/ci.js';
import { ciJunit } from '../../src/report/junit.js';
import { compareText } from '../../src/report/compare.js';
import { timelineBodyfile, timelineTable } from '../../src/report/timeline.js';
import { matchGoldenFile } from '../support/golden.js';

function golden(name: string, actual: string): void {
  matchGoldenFile(`workflows/${name}`, actual);
}

const T = 1_700_000_000;
const A = (type: Attrs['type'], mode: number, size = 0, extra: Partial<Attrs> = {}): Attrs => ({ type, mode, uid: 0, gid: 0, size, mtime: T, mtimeNsec: 0, ...extra });
const put = (path: string, attrs: Attrs, opaque = false): LayerEntry => ({ kind: 'put', path, attrs, ...(opaque ? { opaque } : {}) });
const wh = (path: string): LayerEntry => ({ kind: 'whiteout', path });

function image(tag: string, n: number, diffs: string[]): ImageInfo {
  const diffIds = diffs.slice(0, n).map((d) => 'sha256:' + d.repeat(64).slice(0, 64));
  const chains = chainIds(diffIds);
  return {
    id: 'sha256:' + tag.charCodeAt(0).toString(16).repeat(32).slice(0, 64),
    tags: [tag],
    digests: [],
    created: null,
    os: 'linux',
    architecture: 'amd64',
    layers: diffIds.map((diffId, index) => ({ index, diffId, chainId: chains[index]!, cacheId: null, createdBy: `RUN step ${index}`, created: null, comment: null, location: null, storedSize: null })),
    emptyHistory: 0,
    config: {},
  };
}

const L0: LayerChanges = { entries: [put('bin', A('dir', 0o755)), put('bin/sh', A('file', 0o755, 1000)), put('etc', A('dir', 0o755)), put('etc/passwd', A('file', 0o644, 50)), put('tmp', A('dir', 0o1777))], problems: [] };
const L1: LayerChanges = { entries: [put('app', A('dir', 0o755)), put('app/big', A('file', 0o644, 5000)), put('app/cfg', A('file', 0o600, 10)), put('app/title-\x1b]0;X\x07', A('file', 0o644, 1))], problems: [] };
const L2: LayerChanges = { entries: [put('app', A('dir', 0o755)), wh('app/big'), put('app/cfg', A('file', 0o600, 12, { mtime: T + 60 })), put('app/link', A('symlink', 0o777, 3, { linkname: 'cfg' }))], problems: [] };

test('golden: ci text, JSON and JUnit', () => {
  const img = image('app:1', 3, ['a', 'b', 'c']);
  const base = image('base:1', 1, ['a']);
  const a = analyzeChanges(img, [L0, L1, L2]);
  const r = evaluateCi(a, resolveBase({ images: [img, base] }, img), { lowestEfficiency: 0.5, highestWastedBytes: 4000 });
  const input = { source: { kind: 'docker-root', location: '/var/lib/docker' }, origin: ['.dive-ci'], results: [{ result: r, analysis: a }], problems: [] };
  golden('ci.txt', ciText(input));
  golden('ci.json', JSON.stringify(ciJson(input), null, 2) + '\n');
  golden('ci.junit.xml', ciJunit(input));
});

test('golden: diff text', async () => {
  const a = analyzeChanges(image('app:1', 2, ['a', 'b']), [L0, L1]);
  const b = analyzeChanges(image('app:2', 3, ['a', 'b', 'c']), [L0, L1, L2]);
  const c = await compareImages(a, b);
  golden('diff.txt', await compareText(c, { labelA: '/var/lib/docker#app:1', labelB: 'app2.tar' }));
});

test('golden: timeline bodyfile and table (flags on the planted cases)', () => {
  const rw: LayerChanges = {
    entries: [
      put('etc', A('dir', 0o755)),
      put('etc/ld.so.preload', A('file', 0o644, 20)),
      put('etc/cron.d', A('dir', 0o755)),
      put('etc/cron.d/job', A('file', 0o644, 30)),
      wh('etc/passwd'),
      put('root', A('dir', 0o700)),
      put('root/.ssh', A('dir', 0o700)),
      put('root/.ssh/authorized_keys', A('file', 0o600, 100)),
      put('tmp', A('dir', 0o1777)),
      put('tmp/x|y', A('file', 0o755, 7)),
      put('usr', A('dir', 0o755)),
      put('usr/rootshell', A('file', 0o4755, 8)),
    ],
    problems: [],
  };
  const [tl0, trw] = tablesOf([L0, rw]);
  const changes = dockerDiffOf(trw!, [tl0!]);
  const lower = lowerAttrsOf([tl0!]);
  const stat = (p: string) => {
    const i = rw.entries.findIndex((e) => e.path === p);
    const s = BigInt(T + 100 + i);
    return { ino: BigInt(100 + i), atimeNs: s * 1_000_000_000n, mtimeNs: s * 1_000_000_000n, ctimeNs: (s + 1n) * 1_000_000_000n, birthtimeNs: 0n } as unknown as BigIntStats;
  };
  const container: ContainerInfo = {
    id: 'f'.repeat(64), name: 'web', image: 'sha256:' + 'a'.repeat(64), imageRef: 'app:1', state: 'exited', pid: null, exitCode: 0, startedAt: null, finishedAt: null, created: null,
    driver: 'overlay2', mountId: 'e'.repeat(64), initId: null, parentChainId: null, rwDir: '/var/lib/docker/overlay2/' + 'e'.repeat(64) + '/diff', initDir: null, mounts: [],
  };
  const t = buildTimeline(container, trw!, changes, lower, stat);
  const flagged = Object.fromEntries(t.entries.filter((e) => e.flags.length).map((e) => [e.path, e.flags]));
  assert.deepEqual(flagged, {
    'etc/ld.so.preload': ['ld-preload'],
    'etc/cron.d/job': ['cron'],
    'etc/passwd': ['accounts'],
    'root/.ssh/authorized_keys': ['authorized-keys'],
    'tmp/x|y': ['tmp-executable'],
    'usr/rootshell': ['setuid'],
  });
  golden('timeline.body', timelineBodyfile(t));
  golden('timeline.txt', timelineTable(t));
});

test('timeline: lower files hidden by an opaque dir the container made are listed as deletions, with that dir\'s times', () => {
  const lowerL: LayerChanges = { entries: [put('opq', A('dir', 0o755)), put('opq/a', A('file', 0o644, 3)), put('opq/sub', A('dir', 0o755)), put('opq/sub/b', A('file', 0o644, 4))], problems: [] };
  const rw: LayerChanges = { entries: [put('opq', A('dir', 0o755, 0, { mtime: T + 5 }), true), put('opq/new', A('file', 0o755, 1))], problems: [] };
  const [tlow, trw] = tablesOf([lowerL, rw]);
  const changes = dockerDiffOf(trw!, [tlow!]);
  assert.deepEqual(changes.map((c) => `${c.kind} ${c.path}`).sort(), ['A /opq/new', 'C /opq', 'D /opq/a', 'D /opq/sub'].sort());
  const lower = lowerAttrsOf([tlow!]);
  const stat = (p: string) => ({ ino: 7n, atimeNs: 1n, mtimeNs: BigInt(T + (p === 'opq' ? 5 : 9)) * 1_000_000_000n, ctimeNs: BigInt(T + 9) * 1_000_000_000n, birthtimeNs: 0n }) as unknown as BigIntStats;
  const c = { id: 'a'.repeat(64), name: 'x', rwDir: '/rw' } as ContainerInfo;
  const t = buildTimeline(c, trw!, changes, lower, stat);
  const byPath = Object.fromEntries(t.entries.map((e) => [e.path, e]));
  assert.equal(byPath['opq/a']?.change, 'D');
  assert.equal(byPath['opq/a']?.hiddenBy, 'opq');
  assert.equal(byPath['opq/a']?.times?.mtime, T + 5);
  assert.equal(byPath['opq/sub']?.hiddenBy, 'opq');
  assert.ok(!byPath['opq/sub/b'], 'docker diff does not list children of a deleted dir; neither do we');
  assert.match(timelineBodyfile(t), /\|\/opq\/a \(deleted: hidden by opaque \/opq\)\|/);
});

/** What the merged view of `lowers` shows at a path (the timeline's lower attributes). */
function lowerAttrsOf(lowers: Parameters<typeof stackTables>[0]) {
  const rows = new Map(mergedRows(stackTables(lowers)).map((r) => [r.path, r.attrs]));
  return (p: string) => rows.get(p) ?? null;
}
