import { chainIds, isDigest } from '../analysis/chain.js';
import type { ImageInfo, LayerInfo, Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { LIMITS } from '../model/limits.js';
import { JsonDoc, parseJson, type JsonObj } from './shape.js';

/**
 * Image config parsing shared by every source (data roots, archives, the containerd store): the config is the
 * same JSON wherever it is stored, and so are its pitfalls.
 */

export interface ParsedConfig {
  config: Record<string, unknown> | null;
  diffIds: string[];
  problems: Problem[];
}

/**
 * Parse an image config and check the shape of every field the sources read (rootfs.diff_ids, history,
 * created, os, architecture, variant, config.Labels). A config that is not an object, or whose diff_ids are
 * unusable, yields no config; wrong types elsewhere are one `config.bad-shape` problem, and the values read as
 * absent.
 */
export function parseConfig(bytes: Uint8Array, where: string): ParsedConfig {
  const problems: Problem[] = [];
  const parsed = parseJson(bytes);
  if (!parsed.ok) {
    problems.push(problem('error', 'config.invalid-json', `image config is not valid JSON: ${parsed.reason}`, where));
    return { config: null, diffIds: [], problems };
  }
  const doc = new JsonDoc(where, 'image config');
  const root = doc.root(parsed.value);
  const shape = () => {
    const p = doc.problem('config.bad-shape');
    if (p) problems.push(p);
  };
  if (!root) {
    shape();
    return { config: null, diffIds: [], problems };
  }
  const diffIds = root.obj('rootfs')?.arr('diff_ids') ?? null;
  configFields(root);
  root.obj('config')?.obj('Labels')?.strs();
  shape();
  if (!diffIds) {
    problems.push(problem('error', 'config.no-diff-ids', 'image config has no rootfs.diff_ids', where));
    return { config: null, diffIds: [], problems };
  }
  // Each diff_id becomes a layer record, a chainID (a hash over all below it) and a lookup in the store: a count
  // read from evidence is bounded before it drives that work.
  if (diffIds.length > LIMITS.chainLayers) {
    problems.push(problem('error', 'config.too-many-layers', `rootfs.diff_ids lists ${diffIds.length} layers, more than the ${LIMITS.chainLayers} an image may have here (overlay2 stops at 125); image not read`, where));
    return { config: null, diffIds: [], problems };
  }
  const raw = diffIds.keys().map((i) => diffIds.raw(i));
  const bad = raw.filter((d) => !isDigest(d));
  if (bad.length) {
    problems.push(problem('error', 'config.bad-diff-id', `rootfs.diff_ids holds ${bad.length} value(s) that are not sha256 digests, e.g. ${JSON.stringify(String(bad[0]).slice(0, 80))}`, where));
    return { config: null, diffIds: [], problems };
  }
  return { config: parsed.value as Record<string, unknown>, diffIds: raw as string[], problems };
}

interface ConfigFields {
  created: string | null;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  /** history[], null entries where a member is not an object; null when there is no history. */
  history: ({ emptyLayer: boolean; createdBy: string | null; created: string | null; comment: string | null } | null)[] | null;
}

/** The config fields sources use, read through the shape checker (the one list of them). */
function configFields(root: JsonObj): ConfigFields {
  const history =
    root.arr('history')?.objects().map((h) => (h ? { emptyLayer: h.bool('empty_layer') ?? false, createdBy: h.str('created_by'), created: h.str('created'), comment: h.str('comment') } : null)) ?? null;
  return { created: root.str('created'), os: root.str('os'), architecture: root.str('architecture'), variant: root.str('variant'), history };
}

/** Fields of a config parseConfig accepted (and reported on already: read quietly). */
function fieldsOf(config: Record<string, unknown>): ConfigFields {
  const root = new JsonDoc(null).root(config);
  return root ? configFields(root) : { created: null, os: null, architecture: null, variant: null, history: null };
}

export interface LayerHistory {
  createdBy: string | null;
  created: string | null;
  comment: string | null;
}

/** One build step of an image's history: the layer it made, or none (ENV, CMD, LABEL...: `empty_layer`). */
export interface HistoryStep extends LayerHistory {
  /** The layer this step made, or null for a step that made none. */
  layer: number | null;
  /** The layer the step comes before (layerCount for steps after the last layer). */
  before: number;
}

/**
 * Every step of the config's history in order, each with the layer it made or the layer it precedes (what
 * `docker history` lists, empty steps included). Null when the history does not line up with the layers (then
 * no step can be tied to a layer; historyForLayers says so as a problem).
 */
export function historySteps(config: Record<string, unknown>, layerCount: number): HistoryStep[] | null {
  const history = fieldsOf(config).history ?? [];
  if (history.filter((h) => !h?.emptyLayer).length !== layerCount) return null;
  const out: HistoryStep[] = [];
  let next = 0;
  for (const h of history) {
    const step = { createdBy: h?.createdBy ?? null, created: h?.created ?? null, comment: h?.comment ?? null };
    if (h?.emptyLayer) out.push({ ...step, layer: null, before: next });
    else {
      out.push({ ...step, layer: next, before: next });
      next++;
    }
  }
  return out;
}

/**
 * History entries aligned with layers: the k-th entry without `empty_layer: true` made diff_ids[k]
 * (image-spec config.md). When the counts do not line up the history cannot be trusted for attribution,
 * and we say so rather than attributing layers to the wrong commands.
 */
export function historyForLayers(config: Record<string, unknown>, layerCount: number, where: string): { layers: (LayerHistory | null)[]; empty: number; problem: Problem | null } {
  const history = fieldsOf(config).history ?? [];
  const nonEmpty = history.filter((h) => !h?.emptyLayer);
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
    layers: nonEmpty.map((h) => ({ createdBy: h?.createdBy ?? null, created: h?.created ?? null, comment: h?.comment ?? null })),
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
  place: (index: number, diffId: string, chainId: string) => Pick<LayerInfo, 'cacheId' | 'location' | 'storedSize' | 'layout' | 'tarSplit' | 'idMap' | 'whiteoutFiles'>;
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
  const fields = fieldsOf(config);
  return {
    image: {
      id: args.id,
      tags: args.tags,
      digests: args.digests,
      created: fields.created,
      os: fields.os,
      architecture: fields.architecture,
      variant: fields.variant,
      layers,
      emptyHistory: history.empty,
      config,
    },
    problems: history.problem ? [history.problem] : [],
  };
}
