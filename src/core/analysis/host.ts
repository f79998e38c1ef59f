import { ProblemSink } from '../model/problem-sink.js';
import type { Progress, Source, StorageInfo } from '../model/source.js';
import type { ImageInfo, Problem } from '../model/types.js';
import type { ImageAnalysis } from './analyze.js';
import type { ContainerAnalysis } from './container.js';
import { modelOf } from './model.js';
import { findImage } from './select.js';
import { volumeReport, type VolumeReport } from './volumes.js';

/** Bytes of an image's layers that other images of the source use too, and bytes it alone holds. */
export interface Sharing {
  sharedBytes: number;
  uniqueBytes: number;
}

export interface SourceAnalysis {
  source: Source;
  images: ImageAnalysis[];
  /** Per image (same order). */
  sharing: Sharing[];
  containers: ContainerAnalysis[];
  /** Unreferenced storage (data roots), or null. */
  storage: StorageInfo | null;
  /** Volumes and bind mounts with their sizes (Docker data roots), or null. */
  volumes: VolumeReport | null;
  /** Source problems, then layer and container problems, each once. */
  problems: Problem[];
}

export interface AnalyzeOptions {
  /** Image references to restrict to (default: all but intermediate build steps). */
  images?: string[];
  /** Include intermediate images (legacy-builder steps) when no image is named. */
  all?: boolean;
  /** Also analyse containers (default true when no image filter is given). */
  containers?: boolean;
  progress?: Progress;
}

/** What a source analysis yields, in order: images, containers, storage, volumes, then every problem. */
export type AnalysisEvent =
  | { kind: 'image'; analysis: ImageAnalysis; sharing: Sharing }
  | { kind: 'container'; analysis: ContainerAnalysis }
  | { kind: 'storage'; storage: StorageInfo | null }
  | { kind: 'volumes'; volumes: VolumeReport | null }
  | { kind: 'problems'; problems: Problem[] };

/** The images a report covers. */
export function selectImages(source: Source, opts: Pick<AnalyzeOptions, 'images' | 'all'>): ImageInfo[] {
  return opts.images?.length ? opts.images.map((r) => findImage(source, r)) : source.images.filter((i) => opts.all || !i.intermediate);
}

/**
 * Analyse a source as a stream: each image as soon as it is stacked (in order), so that big reports are
 * written as they are produced. Every layer is read once and every shared chain stacked once (the model);
 * reads of later images run while earlier ones are stacked.
 */
export async function* analyzeSourceStream(source: Source, opts: AnalyzeOptions = {}): AsyncGenerator<AnalysisEvent> {
  const model = modelOf(source);
  const selected = selectImages(source, opts);
  const sharing = sharingOf(source);
  const withContainers = opts.containers ?? !opts.images?.length;
  // Ask for everything at once: the walk pool reads ahead while the model stacks in order.
  const images = selected.map((img) => model.image(img));
  const containers = withContainers ? source.containers.map((c) => model.container(c)) : [];
  for (const p of [...images, ...containers]) p.catch(() => undefined);
  const problems: Problem[][] = [];
  let done = 0;
  for (let i = 0; i < selected.length; i++) {
    opts.progress?.({ phase: 'layers', done: done++, total: selected.length, detail: selected[i]!.tags[0] ?? selected[i]!.id });
    const a = await images[i]!;
    problems.push(a.problems);
    yield { kind: 'image', analysis: a, sharing: sharing(a) };
  }
  for (const p of containers) {
    const c = await p;
    problems.push(c.problems);
    yield { kind: 'container', analysis: c };
  }
  const storage = source.readStorage ? await source.readStorage() : null;
  yield { kind: 'storage', storage };
  // Volumes belong to the host, not to the images: a report restricted to some images leaves them out.
  const volumes = withContainers ? await volumeReport(source) : null;
  yield { kind: 'volumes', volumes };
  // Source problems last: reading storage may have added some.
  yield { kind: 'problems', problems: dedupe([...source.problems, ...problems.flat(), ...(volumes?.problems ?? [])]) };
}

/** The whole analysis in memory (text reports, the TUI's tests). */
export async function analyzeSource(source: Source, opts: AnalyzeOptions = {}): Promise<SourceAnalysis> {
  const out: SourceAnalysis = { source, images: [], sharing: [], containers: [], storage: null, volumes: null, problems: [] };
  for await (const e of analyzeSourceStream(source, opts)) {
    if (e.kind === 'image') {
      out.images.push(e.analysis);
      out.sharing.push(e.sharing);
    } else if (e.kind === 'container') out.containers.push(e.analysis);
    else if (e.kind === 'storage') out.storage = e.storage;
    else if (e.kind === 'volumes') out.volumes = e.volumes;
    else out.problems = e.problems;
  }
  return out;
}

/**
 * Sharing is a host-level fact: counted against every image of the source, not only the selected ones; but not
 * against intermediate build steps, whose layers are by construction the final image's own.
 */
function sharingOf(source: Source): (a: ImageAnalysis) => Sharing {
  const users = new Map<string, number>();
  for (const img of source.images.filter((i) => !i.intermediate)) for (const l of new Set(img.layers.map((l) => l.chainId))) users.set(l, (users.get(l) ?? 0) + 1);
  return (a) => {
    let sharedBytes = 0;
    let uniqueBytes = 0;
    a.image.layers.forEach((l, i) => {
      const b = a.layers[i]?.bytes ?? 0;
      if ((users.get(l.chainId) ?? 0) > 1) sharedBytes += b;
      else uniqueBytes += b;
    });
    return { sharedBytes, uniqueBytes };
  };
}

/**
 * The problems of a whole source, each once, and at most SOURCE_PROBLEMS_PER_CODE of one code: each layer caps
 * its own at 100, but a thousand crafted layers would still list a hundred thousand.
 */
export function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  const sink = new ProblemSink(out, SOURCE_PROBLEMS_PER_CODE);
  for (const p of problems) {
    const k = `${p.severity}\0${p.code}\0${p.path}\0${p.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    sink.add(p, 'problems of this kind in this source');
  }
  return out;
}

export const SOURCE_PROBLEMS_PER_CODE = 1000;
