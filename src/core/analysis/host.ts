import type { Progress, Source } from '../model/source.js';
import type { Problem } from '../model/types.js';
import { analyzeImage, type ImageAnalysis } from './analyze.js';
import { analyzeContainer, type ContainerAnalysis } from './container.js';
import { findImage } from './select.js';

export interface SourceAnalysis {
  source: Source;
  images: ImageAnalysis[];
  /** Per image (same order): bytes of layers that other images of the source use too, and bytes it alone holds. */
  sharing: { sharedBytes: number; uniqueBytes: number }[];
  containers: ContainerAnalysis[];
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

export async function analyzeSource(source: Source, opts: AnalyzeOptions = {}): Promise<SourceAnalysis> {
  const selected = opts.images?.length ? opts.images.map((r) => findImage(source, r)) : source.images.filter((i) => opts.all || !i.intermediate);
  const images: ImageAnalysis[] = [];
  let done = 0;
  for (const img of selected) {
    opts.progress?.({ phase: 'layers', done: done++, total: selected.length, detail: img.tags[0] ?? img.id });
    images.push(await analyzeImage(source, img));
  }
  const containers: ContainerAnalysis[] = [];
  if (opts.containers ?? !opts.images?.length) {
    for (const c of source.containers) containers.push(await analyzeContainer(source, c));
  }
  // Sharing is a host-level fact: count against every image of the source, not only the selected ones; but
  // not against intermediate build steps, whose layers are by construction the final image's own.
  const users = new Map<string, number>();
  for (const img of source.images.filter((i) => !i.intermediate)) for (const l of new Set(img.layers.map((l) => l.chainId))) users.set(l, (users.get(l) ?? 0) + 1);
  const sharing = images.map((a) => {
    let sharedBytes = 0;
    let uniqueBytes = 0;
    a.image.layers.forEach((l, i) => {
      const b = a.layers[i]!.bytes;
      if ((users.get(l.chainId) ?? 0) > 1) sharedBytes += b;
      else uniqueBytes += b;
    });
    return { sharedBytes, uniqueBytes };
  });
  const problems = dedupe([...source.problems, ...images.flatMap((a) => a.problems), ...containers.flatMap((c) => c.problems)]);
  return { source, images, sharing, containers, problems };
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.severity}\0${p.code}\0${p.path}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
