import type { AnalysisEvent, Sharing, SourceAnalysis } from '../core/analysis/host.js';
import type { SizedBind, SizedVolume, VolumeReport } from '../core/analysis/volumes.js';
import type { ImageAnalysis } from '../core/analysis/analyze.js';
import type { ContainerAnalysis } from '../core/analysis/container.js';
import type { Source, StorageInfo, StoreSummary } from '../core/model/source.js';
import type { Problem, StoreRef } from '../core/model/types.js';
import { jsonPath } from './format.js';
import { risksJson } from './inspect.js';

/**
 * The machine-readable report, `layerscope.report/v1`. Documented in README.md ("JSON report"); any change of
 * meaning needs a new schema version. Paths are absolute; a name that is not UTF-8 comes escaped in `path`
 * with its exact bytes in `pathBase64`.
 *
 * Written as it is produced (writeReportJson): a host of a hundred images is never one string in memory. The
 * bytes are exactly those of JSON.stringify(reportJson(...), null, 2), which the golden tests check.
 */
export const REPORT_SCHEMA = 'layerscope.report/v1';
/** One JSON object per line: `--format jsonl`. */
export const REPORT_JSONL_SCHEMA = 'layerscope.report.jsonl/v1';

export function reportJson(a: SourceAnalysis): Record<string, unknown> {
  return {
    schema: REPORT_SCHEMA,
    source: sourceJson(a.source),
    images: a.images.map((img, i) => imageJson(img, a.sharing[i]!)),
    containers: a.containers.map(containerJson),
    storage: a.storage,
    volumes: volumesJson(a.volumes),
    problems: a.problems.map(problemJson),
  };
}

/**
 * Added to v1 (additive): a data root's volumes (with the fields docker volume inspect prints, their size as
 * docker system df -v counts it, and who mounts them) and its containers' bind mounts; null for other sources.
 */
export function volumesJson(r: VolumeReport | null): Record<string, unknown> | null {
  if (!r) return null;
  return { engineRoot: r.engineRoot, volumes: r.volumes.map(volumeJson), binds: r.binds.map(bindJson) };
}

export function volumeJson(v: SizedVolume): Record<string, unknown> {
  return {
    name: v.name,
    driver: v.driver,
    scope: v.scope,
    mountpoint: v.mountpoint,
    createdAt: v.createdAt,
    dataChangedAt: v.dataChangedAt,
    labels: v.labels,
    options: v.options,
    anonymous: v.anonymous,
    bytes: v.bytes,
    dataDir: v.dataDir,
    inMetadata: v.inMetadata,
    onDisk: v.onDisk,
    mount: v.mount,
    usedBy: v.usedBy.map((u) => ({ container: u.container, containerId: u.containerId, destination: u.destination, rw: u.rw })),
  };
}

export function bindJson(b: SizedBind): Record<string, unknown> {
  return { container: b.container, containerId: b.containerId, source: b.source, destination: b.destination, rw: b.rw, evidencePath: b.evidencePath, outside: b.outside, bytes: b.bytes };
}

function sourceJson(s: Source): Record<string, unknown> {
  // Added to v1 (additive): a source of several stores (--image-root) lists them, each with how it was found.
  return { kind: s.kind, location: s.location, ...(s.stores ? { stores: s.stores.map(storeJson) } : {}) };
}

function storeJson(s: StoreSummary): Record<string, unknown> {
  return { label: s.label, kind: s.kind, location: s.location, relative: s.relative, how: s.how, owner: s.owner ?? null, images: s.images, containers: s.containers };
}

/** The store an image or container is from (sources of several stores only; additive to v1). */
function storeOf(x: { store?: StoreRef }): Record<string, unknown> {
  return x.store ? { store: { label: x.store.label, kind: x.store.kind, location: x.store.location } } : {};
}

export function containerJson(c: ContainerAnalysis): Record<string, unknown> {
  return {
    id: c.container.id,
    name: c.container.name,
    ...storeOf(c.container),
    image: c.container.image,
    imageRef: c.container.imageRef,
    state: c.container.state,
    created: c.container.created,
    startedAt: c.container.startedAt,
    finishedAt: c.container.finishedAt,
    exitCode: c.container.exitCode,
    mountId: c.container.mountId,
    initId: c.container.initId,
    added: c.counts.added,
    changed: c.counts.changed,
    deleted: c.counts.deleted,
    // Added to v1 (additive): what gives the container power over its host, each finding with its field.
    risks: c.risks ? risksJson(c.risks) : null,
  };
}

function problemJson(p: Problem): Record<string, unknown> {
  return { severity: p.severity, code: p.code, message: p.message, path: p.path };
}

function hiddenJson(h: ImageAnalysis['hidden'][number]): Record<string, unknown> {
  return {
    ...jsonPath(h.path),
    layer: h.layer,
    bytes: h.bytes,
    by: h.by,
    reason: h.reason,
    ...(h.links ? { links: h.links.map((l) => jsonPath(l).path) } : {}),
  };
}

function layerJson(a: ImageAnalysis, i: number): Record<string, unknown> {
  const l = a.image.layers[i]!;
  const s = a.layers[i]!;
  return {
    index: l.index,
    diffId: l.diffId,
    chainId: l.chainId,
    cacheId: l.cacheId,
    createdBy: l.createdBy,
    created: l.created,
    entries: s.entries,
    added: s.added,
    modified: s.modified,
    deleted: s.deleted,
    opaqueDirs: s.opaqueDirs,
    bytes: s.bytes,
    hiddenBytes: s.hiddenBytes,
    storedSize: l.storedSize,
  };
}

function imageHead(a: ImageAnalysis, sharing: Sharing | null): Record<string, unknown> {
  const img = a.image;
  return {
    id: img.id,
    ...storeOf(img),
    tags: img.tags,
    digests: img.digests,
    created: img.created,
    platform: [img.os, img.architecture, img.variant].filter(Boolean).join('/') || null,
    bytes: a.bytes,
    visibleBytes: a.visibleBytes,
    hiddenBytes: a.hiddenBytes,
    efficiency: a.efficiency,
    ...(sharing ?? {}),
  };
}

export function imageJson(a: ImageAnalysis, sharing: Sharing | null): Record<string, unknown> {
  // Layers are stacked only up to the layer limit: only those have figures.
  return { ...imageHead(a, sharing), hidden: a.hidden.map(hiddenJson), layers: a.layers.map((_, i) => layerJson(a, i)) };
}

/**
 * `JSON.stringify(imageJson(a, sharing), null, 2)`, written piece by piece: an image can hide millions of files,
 * and its hidden list is never one string (nor a second tree of objects) in memory.
 */
export async function writeImageJson(a: ImageAnalysis, sharing: Sharing | null, write: Sink): Promise<void> {
  const head = JSON.stringify(imageHead(a, sharing), null, 2);
  await write(head.slice(0, -2) + ',\n  "hidden": ');
  if (!a.hidden.length) await write('[]');
  else {
    let part = '[';
    for (let i = 0; i < a.hidden.length; i++) {
      part += `${i ? ',' : ''}\n    ${indent(JSON.stringify(hiddenJson(a.hidden[i]!), null, 2), 4)}`;
      if (part.length > 64 * 1024) {
        await write(part);
        part = '';
      }
    }
    await write(part + '\n  ]');
  }
  await write(`,\n  "layers": ${indent(JSON.stringify(a.layers.map((_, i) => layerJson(a, i)), null, 2), 2)}\n}`);
}

/** Something to write text to that may ask us to wait (a stream's backpressure). */
export type Sink = (text: string) => void | Promise<void>;

/** Write the report as JSON, part by part, as the analysis produces it. */
export async function writeReportJson(source: Source, events: AsyncIterable<AnalysisEvent>, write: Sink): Promise<Problem[]> {
  let problems: Problem[] = [];
  let storage: StorageInfo | null = null;
  let volumes: VolumeReport | null = null;
  await write(`{\n  "schema": ${JSON.stringify(REPORT_SCHEMA)},\n  "source": ${indent(JSON.stringify(sourceJson(source), null, 2), 2)},\n  "images": [`);
  let images = 0;
  const containers: Record<string, unknown>[] = [];
  for await (const e of events) {
    if (e.kind === 'image') {
      await write(`${images++ ? ',' : ''}\n    `);
      await writeImageJson(e.analysis, e.sharing, (t) => write(indent(t, 4)));
    } else if (e.kind === 'container') containers.push(containerJson(e.analysis));
    else if (e.kind === 'storage') storage = e.storage;
    else if (e.kind === 'volumes') volumes = e.volumes;
    else problems = e.problems;
  }
  await write(`${images ? '\n  ' : ''}],\n  "containers": ${indent(JSON.stringify(containers, null, 2), 2)},\n  "storage": ${indent(JSON.stringify(storage, null, 2), 2)},\n  "volumes": ${indent(JSON.stringify(volumesJson(volumes), null, 2), 2)},\n  "problems": ${indent(JSON.stringify(problems.map(problemJson), null, 2), 2)}\n}\n`);
  return problems;
}

/**
 * `--format jsonl`: one object per line, each with a `type`: `source` first, then per image an `image` line
 * (its figures), its `layer` lines and its `hidden` lines; then `container`, `orphan-dir`, `orphan-layer`,
 * `volume`, `bind` and `problem` lines. Lines of one image carry its `image` id.
 */
export async function writeReportJsonl(source: Source, events: AsyncIterable<AnalysisEvent>, write: Sink): Promise<Problem[]> {
  let problems: Problem[] = [];
  const line = (o: Record<string, unknown>) => write(JSON.stringify(o) + '\n');
  await line({ type: 'source', schema: REPORT_JSONL_SCHEMA, ...sourceJson(source) });
  for await (const e of events) {
    if (e.kind === 'image') {
      const a = e.analysis;
      await line({ type: 'image', ...imageHead(a, e.sharing), layers: a.layers.length, hiddenFiles: a.hidden.length });
      for (let i = 0; i < a.layers.length; i++) await line({ type: 'layer', image: a.image.id, ...layerJson(a, i) });
      for (const h of a.hidden) await line({ type: 'hidden', image: a.image.id, ...hiddenJson(h) });
    } else if (e.kind === 'container') await line({ type: 'container', ...containerJson(e.analysis) });
    else if (e.kind === 'storage') {
      for (const d of e.storage?.orphanDirs ?? []) await line({ type: 'orphan-dir', ...d });
      for (const l of e.storage?.orphanLayers ?? []) await line({ type: 'orphan-layer', ...l });
    } else if (e.kind === 'volumes') {
      for (const v of e.volumes?.volumes ?? []) await line({ type: 'volume', ...volumeJson(v) });
      for (const b of e.volumes?.binds ?? []) await line({ type: 'bind', ...bindJson(b) });
    } else problems = e.problems;
  }
  for (const p of problems) await line({ type: 'problem', ...problemJson(p) });
  return problems;
}

/** Indent every line but the first (JSON.stringify never puts a raw newline inside a string). */
function indent(json: string, n: number): string {
  return json.replace(/\n/g, '\n' + ' '.repeat(n));
}
