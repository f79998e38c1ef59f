import type { SourceAnalysis } from '../core/analysis/host.js';
import type { ImageAnalysis } from '../core/analysis/analyze.js';
import { jsonPath } from './format.js';

/**
 * The machine-readable report, `layerscope.report/v1`. Documented in README.md ("JSON report"); any change of
 * meaning needs a new schema version. Paths are absolute; a name that is not UTF-8 comes escaped in `path`
 * with its exact bytes in `pathBase64`.
 */
export const REPORT_SCHEMA = 'layerscope.report/v1';

export function reportJson(a: SourceAnalysis): Record<string, unknown> {
  return {
    schema: REPORT_SCHEMA,
    source: { kind: a.source.kind, location: a.source.location },
    images: a.images.map((img, i) => imageJson(img, a.sharing[i]!)),
    containers: a.containers.map((c) => ({
      id: c.container.id,
      name: c.container.name,
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
    })),
    storage: a.source.storage ?? null,
    problems: a.problems.map((p) => ({ severity: p.severity, code: p.code, message: p.message, path: p.path })),
  };
}

export function imageJson(a: ImageAnalysis, sharing: { sharedBytes: number; uniqueBytes: number } | null): Record<string, unknown> {
  const img = a.image;
  return {
    id: img.id,
    tags: img.tags,
    digests: img.digests,
    created: img.created,
    platform: [img.os, img.architecture, img.variant].filter(Boolean).join('/') || null,
    bytes: a.bytes,
    visibleBytes: a.visibleBytes,
    hiddenBytes: a.hiddenBytes,
    efficiency: a.efficiency,
    ...(sharing ?? {}),
    hidden: a.hidden.map((h) => ({
      ...jsonPath(h.path),
      layer: h.layer,
      bytes: h.bytes,
      by: h.by,
      reason: h.reason,
      ...(h.links ? { links: h.links.map((l) => jsonPath(l).path) } : {}),
    })),
    layers: img.layers.map((l, i) => {
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
    }),
  };
}
