import type { ReadOptions, Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo, Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import type { LayerTable } from '../model/layer-table.js';
import { LIMITS } from '../model/limits.js';
import { readCounters } from '../model/progress.js';
import { StackStore, type ChainNode, type StackView } from './stack.js';
import { summarize, type ImageAnalysis } from './analyze.js';
import { analyzeContainerView, type ContainerAnalysis } from './container.js';

/**
 * A source's images and containers stacked along one chain tree: each layer read once (the source caches by
 * location), each chain node applied once, whatever number of images share it. Everything that analyses an
 * image or a container goes through here (`modelOf(source)`), so that the report, the TUI, verify and the
 * workflows share the work.
 */

export interface ModelProgress {
  /** Layers read so far / layers asked for so far (both grow as more images are asked for). */
  layersRead: number;
  layersWanted: number;
  /** Rows of the layers read so far. */
  entries: number;
  /** Milliseconds since the first read. */
  elapsedMs: number;
  /** What is being read or stacked now (a tag, a layer). */
  detail: string;
}

export interface ModelOptions {
  /**
   * Apply layers in slices, giving the event loop a turn between them (the TUI keeps answering keys while a
   * million-row layer is stacked). Off for batch commands: a little faster.
   */
  sliced?: boolean;
}

const models = new WeakMap<Source, SourceModel>();

/** The model of a source (one per source object). */
export function modelOf(source: Source, opts?: ModelOptions): SourceModel {
  let m = models.get(source);
  if (!m) {
    m = new SourceModel(source, opts);
    models.set(source, m);
  } else if (opts?.sliced !== undefined) m.sliced = opts.sliced;
  return m;
}

export class SourceModel {
  readonly store: StackStore;
  sliced: boolean;
  private readonly tops = new Map<string, Promise<{ top: ChainNode | null; problems: Problem[] }>>();
  private readonly containerTops = new Map<string, Promise<{ top: ChainNode | null; problems: Problem[] }>>();
  private readonly images = new Map<string, Promise<ImageAnalysis>>();
  private readonly containers = new Map<string, Promise<ContainerAnalysis>>();
  private applyQueue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(p: ModelProgress) => void>();
  private readonly wanted = new Set<string>();
  private readonly done = new Set<string>();
  private progressState: ModelProgress = { layersRead: 0, layersWanted: 0, entries: 0, elapsedMs: 0, detail: '' };
  private started = 0;
  private readonly rowsAtStart = readCounters.rows;
  /** What is being read now (shown in progress lines while a big layer takes its time). */
  private readonly reading = new Set<string>();
  /** Rows of finished layers (counted in `entries` already). */
  private rowsDone = 0;

  constructor(readonly source: Source, opts: ModelOptions = {}) {
    this.store = new StackStore(source.paths);
    this.sliced = opts.sliced ?? false;
  }

  /** Be told as layers are read and stacked. Returns the unsubscribe function. */
  onProgress(fn: (p: ModelProgress) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Where reading stands now (layer dirs count their rows as they come in, not only when a layer is done). */
  get progress(): ModelProgress {
    // Rows counted by readers as they came in, less those of layers already done (counted in `entries`).
    const inFlight = readCounters.rows - this.rowsAtStart - this.rowsDone;
    const now = this.reading.values().next();
    return {
      ...this.progressState,
      entries: this.progressState.entries + Math.max(0, inFlight),
      elapsedMs: this.started ? Date.now() - this.started : 0,
      detail: now.done ? this.progressState.detail : `reading ${now.value}${this.reading.size > 1 ? ` (+${this.reading.size - 1})` : ''}`,
    };
  }

  /**
   * Stack an image (reading what is not read yet) and derive its figures; cached. `priority` puts its layer
   * reads ahead of queued lower-priority work (the image a user opened).
   */
  image(image: ImageInfo, opts: ReadOptions = {}): Promise<ImageAnalysis> {
    // Asked for again, by someone waiting: its layers' reads move up (the source's caches make this cheap).
    if (opts.priority && this.images.has(keyOf(image))) for (let i = 0; i < image.layers.length; i++) void this.source.readLayer(image, i, opts).catch(() => undefined);
    return once(this.images, keyOf(image), () => this.imageTop(image, opts).then(({ top, problems }) => summarize(image, this.store.view(top), problems)));
  }

  /** The stack of an image, without the figures. */
  async imageView(image: ImageInfo): Promise<StackView> {
    return this.store.view((await this.imageTop(image)).top);
  }

  /** A container's stack (image layers, init layer, RW layer) and its `docker diff`; cached. */
  container(c: ContainerInfo, opts: ReadOptions = {}): Promise<ContainerAnalysis> {
    if (opts.priority && this.containers.has(keyOf(c))) {
      const img = this.imageOf(c);
      if (img) void this.image(img, opts);
      for (const which of ['init', 'rw'] as const) void this.source.readContainerLayer(c, which, opts).catch(() => undefined);
    }
    return once(this.containers, keyOf(c), () => this.containerTop(c, opts).then(({ top, problems }) => analyzeContainerView(c, this.imageOf(c), this.store.view(top), problems)));
  }

  imageOf(c: ContainerInfo): ImageInfo | null {
    // A source of several stores may hold one image in two of them: the container's own store's copy is its image.
    if (c.store) return this.source.images.find((i) => i.id === c.image && i.store?.relative === c.store!.relative) ?? this.source.images.find((i) => i.id === c.image) ?? null;
    return this.source.images.find((i) => i.id === c.image) ?? null;
  }

  private imageTop(image: ImageInfo, opts: ReadOptions = {}): Promise<{ top: ChainNode | null; problems: Problem[] }> {
    return once(this.tops, keyOf(image), () => this.buildImageTop(image, opts));
  }

  private async buildImageTop(image: ImageInfo, opts: ReadOptions): Promise<{ top: ChainNode | null; problems: Problem[] }> {
    const problems: Problem[] = [];
    let count = image.layers.length;
    if (count > LIMITS.chainLayers) {
      problems.push(problem('error', 'limit.chain-layers', `image ${image.tags[0] ?? image.id} has ${count} layers, more than the ${LIMITS.chainLayers} read; the layers above are not stacked`, null));
      count = LIMITS.chainLayers;
    }
    const name = image.tags[0] ?? image.id.slice(7, 19);
    const tables = await Promise.all(image.layers.slice(0, count).map((l, i) => this.read(`${l.location ?? ''}\0${l.diffId}`, `${name} layer ${i}`, () => this.source.readLayer(image, i, opts))));
    let top: ChainNode | null = null;
    for (let i = 0; i < count; i++) {
      const l = image.layers[i]!;
      // Keyed by the table read, not by what the evidence claims the layer is: two reads that gave one table
      // (the source caches by location) are one layer; a hostile archive that gives one diffID two different
      // blobs gives two tables, which are never taken for each other.
      top = this.store.chain(top, `${l.chainId}\0${tables[i]!.serial}`, tables[i]!);
      await this.apply(top, `${name} layer ${i}`);
    }
    return { top, problems };
  }

  private containerTop(c: ContainerInfo, opts: ReadOptions = {}): Promise<{ top: ChainNode | null; problems: Problem[] }> {
    return once(this.containerTops, keyOf(c), () => this.buildContainerTop(c, opts));
  }

  private async buildContainerTop(c: ContainerInfo, opts: ReadOptions): Promise<{ top: ChainNode | null; problems: Problem[] }> {
    const image = this.imageOf(c);
    const problems: Problem[] = [];
    const base = image ? await this.imageTop(image, opts) : { top: null, problems: [] };
    problems.push(...base.problems);
    if (!image) problems.push(problem('error', 'container.image.missing', `container ${c.name}: its image ${c.image} is not in the store; changes are classified against an empty base`, null));
    let top = base.top;
    const what = `container ${c.name}`;
    if (c.initDir || c.initId) {
      const init = await this.read(`init\0${c.initDir ?? c.initId}`, `${what} init layer`, () => this.source.readContainerLayer(c, 'init', opts));
      top = this.store.chain(top, `init\0${init.serial}`, init);
      await this.apply(top, `${what} init layer`);
    }
    const rw = await this.read(`rw\0${c.rwDir ?? c.id}`, `${what} RW layer`, () => this.source.readContainerLayer(c, 'rw', opts));
    top = this.store.chain(top, `rw\0${rw.serial}`, rw);
    await this.apply(top, `${what} RW layer`);
    return { top, problems };
  }

  private async read(key: string, detail: string, fn: () => Promise<LayerTable>): Promise<LayerTable> {
    if (!this.started) this.started = Date.now();
    if (!this.wanted.has(key)) {
      this.wanted.add(key);
      this.progressState.layersWanted++;
      this.reading.add(detail);
      this.emit(`reading ${detail}`);
    }
    let t: LayerTable;
    try {
      t = await fn();
    } finally {
      this.reading.delete(detail);
    }
    if (!this.done.has(key)) {
      this.done.add(key);
      this.progressState.layersRead++;
      this.progressState.entries += t.n;
      this.rowsDone += t.n;
    }
    this.emit(detail);
    return t;
  }

  /** Apply a chain node, one at a time across the whole model (applies must not interleave). */
  private apply(node: ChainNode, detail: string): Promise<void> {
    if (node.counts) return Promise.resolve();
    const run = async () => {
      if (node.counts) return;
      this.emit(`stacking ${detail}`);
      if (!this.sliced) {
        this.store.apply(node);
        return;
      }
      const steps = this.store.applySteps(node);
      while (!steps.next().done) await new Promise((r) => setImmediate(r));
    };
    const p = this.applyQueue.then(run);
    this.applyQueue = p.catch(() => undefined);
    return p;
  }

  private emit(detail: string): void {
    this.progressState.detail = detail;
    if (!this.listeners.size) return;
    const p = this.progress;
    for (const fn of this.listeners) fn(p);
  }
}

/** The value cached under `key`, made on first use. */
function once<K, V>(cache: Map<K, V>, key: K, make: () => V): V {
  let v = cache.get(key);
  if (v === undefined) cache.set(key, (v = make()));
  return v;
}

/**
 * What analyses are cached by: the ID, and the store when the source reads several (--image-root): one image in
 * two stores is two copies on disk, each read and reported from where it is (a copy can have been tampered with).
 */
function keyOf(x: { id: string; store?: { relative: string } }): string {
  return x.store ? `${x.store.relative}\0${x.id}` : x.id;
}
