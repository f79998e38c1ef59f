/**
 * Hand-made images for TUI tests: LayerChanges built in code, stacked with analyzeChanges (the same path the
 * real sources take after reading).
 */
import { analyzeChanges, type ImageAnalysis } from '../../src/core/analysis/analyze.js';
import type { Attrs, ImageInfo, LayerChanges, LayerEntry, LayerInfo } from '../../src/core/model/types.js';
import { compareWalkOrder } from '../../src/core/model/path.js';
import { tableSource } from '../support/tables.js';

const T = 1704067200; // 2024-01-01T00:00:00Z

export function file(path: string, size: number, extra: Partial<Attrs> = {}): LayerEntry {
  return { kind: 'put', path, attrs: { type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: T, mtimeNsec: 0, ...extra } };
}
export function dir(path: string, extra: Partial<Attrs> = {}, opaque = false): LayerEntry {
  const e: LayerEntry = { kind: 'put', path, attrs: { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: T, mtimeNsec: 0, ...extra } };
  if (opaque) e.opaque = true;
  return e;
}
export function symlink(path: string, target: string): LayerEntry {
  return { kind: 'put', path, attrs: { type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: target.length, mtime: T, mtimeNsec: 0, linkname: target } };
}
export function whiteout(path: string): LayerEntry {
  return { kind: 'whiteout', path };
}

function layer(entries: LayerEntry[]): LayerChanges {
  return { entries: [...entries].sort((a, b) => compareWalkOrder(a.path, b.path)), problems: [] };
}

function hex(n: number, c: string): string {
  return 'sha256:' + (c.repeat(63) + n.toString(16)).slice(-64);
}

export function image(tag: string, commands: string[], id = hex(1, 'f')): ImageInfo {
  const layers: LayerInfo[] = commands.map((cmd, i) => ({
    index: i,
    diffId: hex(i, 'd'),
    chainId: hex(i, 'c'),
    cacheId: (i.toString(16) + 'a'.repeat(64)).slice(0, 64),
    createdBy: cmd,
    created: '2024-01-01T00:00:00Z',
    comment: null,
    location: `/var/lib/docker/overlay2/${(i.toString(16) + 'a'.repeat(64)).slice(0, 64)}/diff`,
    storedSize: null,
  }));
  return { id, tags: [tag], digests: [], created: '2024-01-01T00:00:00Z', os: 'linux', architecture: 'amd64', layers, emptyHistory: 0, config: {} };
}

/** The title-setting name of the engine fixture: ESC ] 0 ; PWNED BEL. */
export const TITLE_ESCAPE = 'names/title-\x1b]0;PWNED\x07.txt';
export const COLOR_ESCAPE = 'names/red-\x1b[31mtext\x1b[0m.txt';

/**
 * A small "bloat" image, like the engine fixture ls-bloat:1 in spirit:
 *   L0 base: bin/, etc/passwd, tmp/
 *   L1 data/big.bin (3 MiB), data/keep.txt, data/f
 *   L2 data/keep.txt rewritten, data/f chmod 600, opq/{a,b}
 *   L3 whiteout data/big.bin; opq/ opaque with opq/c
 *   L4 names/ with hostile names, links/rel -> ../data/f
 *   L5 whiteout names (rm -rf)
 */
export function bloatImage(): ImageAnalysis {
  const p = bloatParts();
  return analyzeChanges(p.info, p.changes);
}

/** The bloat image's parts, for sources. */
export function bloatParts(): FakeImage {
  const MiB = 1024 * 1024;
  const img = image('bloat:1', [
    '/bin/sh -c #(nop) ADD file:abc in / ',
    '/bin/sh -c dd if=/dev/zero of=/data/big.bin bs=1M count=3 && echo keep > /data/keep.txt',
    '/bin/sh -c echo again > /data/keep.txt && chmod 600 /data/f && mkdir -p /opq/a /opq/b',
    '/bin/sh -c rm /data/big.bin && rm -rf /opq && mkdir /opq && echo c > /opq/c',
    '/bin/sh -c mkdir /names && touch "/names/title-\x1b]0;PWNED\x07.txt"',
    '/bin/sh -c rm -rf /names',
  ]);
  const changes: LayerChanges[] = [
    layer([dir('bin'), file('bin/busybox', 1_000_000, { mode: 0o755 }), symlink('bin/sh', 'busybox'), dir('etc'), file('etc/passwd', 100), dir('tmp', { mode: 0o1777 })]),
    layer([dir('data'), file('data/big.bin', 3 * MiB), file('data/keep.txt', 5), file('data/f', 13)]),
    layer([dir('data'), file('data/keep.txt', 6), file('data/f', 13, { mode: 0o600 }), dir('opq'), dir('opq/a'), file('opq/a/file', 2000), dir('opq/b'), file('opq/b/file', 3000)]),
    layer([dir('data'), whiteout('data/big.bin'), dir('opq', {}, true), file('opq/c', 2)]),
    layer([dir('names'), file(TITLE_ESCAPE, 10), file(COLOR_ESCAPE, 20), file('names/bad-\xff\xfe-utf8.txt', 30), dir('links'), symlink('links/rel', '../data/f')]),
    layer([whiteout('names')]),
  ];
  return { info: img, changes };
}

/** n files spread over dirs of `fanout` files, all in layer 0, plus a few later layers touching some. */
export function syntheticImage(nFiles: number, fanout = 1000): ImageAnalysis {
  const l0: LayerEntry[] = [];
  const dirs = Math.ceil(nFiles / fanout);
  for (let d = 0; d < dirs; d++) {
    const dp = `d${String(d).padStart(5, '0')}`;
    l0.push(dir(dp));
    for (let f = 0; f < fanout && d * fanout + f < nFiles; f++) l0.push(file(`${dp}/f${String(f).padStart(5, '0')}`, (f * 37) % 100_000));
  }
  const l1: LayerEntry[] = [dir('d00000'), whiteout('d00000/f00001'), file('d00000/f00002', 5)];
  const l2: LayerEntry[] = [whiteout('d00001')];
  const img = image('synthetic:1', ['/bin/sh -c #(nop) ADD big', '/bin/sh -c touch', '/bin/sh -c rm -rf /d00001']);
  return analyzeChanges(img, [{ entries: l0, problems: [] }, layer(l1), layer(l2)]);
}

import type { Source } from '../../src/core/model/source.js';
import type { ContainerInfo } from '../../src/core/model/types.js';

export interface FakeImage {
  info: ImageInfo;
  changes: LayerChanges[];
}


export function container(name: string, imageId: string, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: (Buffer.from(name).toString('hex') + '0'.repeat(64)).slice(0, 64),
    name,
    image: imageId,
    imageRef: 'bloat:1',
    state: 'exited',
    pid: null,
    exitCode: 0,
    startedAt: '2024-01-02T00:00:00Z',
    finishedAt: '2024-01-02T00:01:00Z',
    created: '2024-01-02T00:00:00Z',
    driver: 'overlay2',
    mountId: 'm'.repeat(64),
    initId: null,
    parentChainId: null,
    rwDir: `/var/lib/docker/overlay2/${'m'.repeat(64)}/diff`,
    initDir: null,
    mounts: [],
    ...extra,
  };
}

/** An in-memory Source (what openSource would return), with a delay per layer read if asked. */
export function fakeSource(images: FakeImage[], containers: { info: ContainerInfo; rw: LayerChanges }[] = [], delayMs = 0): Source {
  const sleep = () => (delayMs ? new Promise((r) => setTimeout(r, delayMs)) : Promise.resolve());
  return tableSource({
    kind: 'docker-root',
    location: '/fake',
    images: images.map((i) => i.info),
    containers: containers.map((c) => c.info),
    problems: [],
    async readLayer(img, index) {
      await sleep();
      return images.find((i) => i.info.id === img.id)!.changes[index]!;
    },
    async readContainerLayer(c, which) {
      await sleep();
      if (which === 'init') return { entries: [], problems: [] };
      return containers.find((x) => x.info.id === c.id)!.rw;
    },
    async close() {},
  });
}

export function changes(entries: LayerEntry[]): LayerChanges {
  return layer(entries);
}
