import type { Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo, LayerChanges, Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { dockerDiff, type DockerChange } from './docker-diff.js';

export interface ContainerAnalysis {
  container: ContainerInfo;
  image: ImageInfo | null;
  rw: LayerChanges;
  /** Exactly what `docker diff` reports (as a set; the engine's order is random). */
  changes: DockerChange[];
  counts: { added: number; changed: number; deleted: number };
  problems: Problem[];
}

export async function analyzeContainer(source: Source, container: ContainerInfo): Promise<ContainerAnalysis> {
  const problems: Problem[] = [];
  const image = source.images.find((i) => i.id === container.image) ?? null;
  const rw = await source.readContainerLayer(container, 'rw');
  problems.push(...rw.problems);
  const lowers: LayerChanges[] = [];
  if (image) {
    for (let i = 0; i < image.layers.length; i++) lowers.push(await source.readLayer(image, i));
  } else {
    problems.push(problem('error', 'container.image.missing', `container ${container.name}: its image ${container.image} is not in the store; changes are classified against an empty base`, null));
  }
  if (container.initDir) lowers.push(await source.readContainerLayer(container, 'init'));
  const changes = dockerDiff(rw, lowers);
  const counts = { added: 0, changed: 0, deleted: 0 };
  for (const c of changes) {
    if (c.kind === 'A') counts.added++;
    else if (c.kind === 'C') counts.changed++;
    else counts.deleted++;
  }
  return { container, image, rw, changes, counts, problems };
}
