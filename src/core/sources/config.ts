import { chainIds, isDigest } from '../analysis/chain.js';
import type { ImageInfo, LayerInfo, Problem } from '../model/types.js';
import { problem } from '../model/types.js';

/**
 * Image config parsing shared by every source (data roots, archives, the containerd store): the config is the
 * same JSON wherever it is stored, and so are its pitfalls.
 */

export interface ParsedConfig {
  config: Record<string, unknown> | null;
  diffIds: string[];
  problems: Problem[];
}

export function parseConfig(bytes: Uint8Array, where: string): ParsedConfig {
  const problems: Problem[] = [];
  let config: Record<string, unknown>;
  try {
    const v = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    config = v as Record<string, unknown>;
  } catch (err) {
    problems.push(problem('error', 'config.invalid-json', `image config is not valid JSON: ${(err as Error).message}`, where));
    return { config: null, diffIds: [], problems };
  }
  const rootfs = config.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  const raw = Array.isArray(rootfs?.diff_ids) ? (rootfs!.diff_ids as unknown[]) : null;
  if (!raw) {
    problems.push(problem('error', 'config.no-diff-ids', 'image config has no rootfs.diff_ids', where));
    return { config: null, diffIds: [], problems };
  }
  const bad = raw.filter((d) => !isDigest(d));
  if (bad.length) {
    problems.push(problem('error', 'config.bad-diff-id', `rootfs.diff_ids holds ${bad.length} value(s) that are not sha256 digests, e.g. ${JSON.stringify(String(bad[0]).slice(0, 80))}`, where));
    return { config: null, diffIds: [], problems };
  }
  return { config, diffIds: raw as string[], problems };
}

export interface LayerHistory {
  createdBy: string | null;
  created: string | null;
  comment: string | null;
}

/**
 * History entries aligned with layers: the k-th entry without `empty_layer: true` made diff_ids[k]
 * (image-spec config.md). When the counts do not line up the history cannot be trusted for attribution,
 * and we say so rather than attributing layers to the wrong commands.
 */
export function historyForLayers(config: Record<string, unknown>, layerCount: number, where: string): { layers: (LayerHistory | null)[]; empty: number; problem: Problem | null } {
  const history = Array.isArray(config.history) ? (config.history as Record<string, unknown>[]) : [];
  const nonEmpty = history.filter((h) => !(h && h.empty_layer === true));
  const empty = history.length - nonEmpty.length;
  if (history.length === 0) return { layers: new Array(layerCount).fill(null), empty: 0, problem: null };
  if (nonEmpty.length !== layerCount) {
    return {
      layers: new Array(layerCount).fill(null),
      empty,
      problem: problem('warning', 'config.history.misaligned', `history has ${nonEmpty.length} layer-making entries for ${layerCount} layers; commands are not attributed`, where),
    };
  }
  return {
    layers: nonEmpty.map((h) => ({
      createdBy: typeof h?.created_by === 'string' ? h.created_by : null,
      created: typeof h?.created === 'string' ? h.created : null,
      comment: typeof h?.comment === 'string' ? h.comment : null,
    })),
    empty,
    problem: null,
  };
}

/**
 * The ImageInfo every source derives the same way from a parsed config: chainIDs computed from the diffIDs,
 * history aligned with layers, platform and dates from the config. `place` says where each layer lives in
 * this source (a diff dir, a snapshot, an archive member).
 */
export function imageFromConfig(args: {
  id: string;
  tags: string[];
  digests: string[];
  config: Record<string, unknown>;
  diffIds: string[];
  where: string;
  place: (index: number, diffId: string, chainId: string) => Pick<LayerInfo, 'cacheId' | 'location' | 'storedSize'>;
}): { image: ImageInfo; problems: Problem[] } {
  const { config, diffIds, where } = args;
  const chains = chainIds(diffIds);
  const history = historyForLayers(config, diffIds.length, where);
  const layers: LayerInfo[] = diffIds.map((diffId, i) => {
    const h = history.layers[i];
    return {
      index: i,
      diffId,
      chainId: chains[i]!,
      createdBy: h?.createdBy ?? null,
      created: h?.created ?? null,
      comment: h?.comment ?? null,
      ...args.place(i, diffId, chains[i]!),
    };
  });
  const text = (k: string) => (typeof config[k] === 'string' ? (config[k] as string) : null);
  return {
    image: {
      id: args.id,
      tags: args.tags,
      digests: args.digests,
      created: text('created'),
      os: text('os'),
      architecture: text('architecture'),
      variant: text('variant'),
      layers,
      emptyHistory: history.empty,
      config,
    },
    problems: history.problem ? [history.problem] : [],
  };
}
