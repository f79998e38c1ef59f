import type { Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo, Problem } from '../model/types.js';
import type { LayerTable } from '../model/layer-table.js';
import { dockerDiff, type DockerChange } from './docker-diff.js';
import { modelOf } from './model.js';
import { containerRisks, type ContainerRisks } from './risk.js';
import type { StackView } from './stack.js';

export interface ContainerAnalysis {
  container: ContainerInfo;
  image: ImageInfo | null;
  /** The container's stack: image layers, then its init layer when it has one, then its RW layer (the top). */
  view: StackView;
  rw: LayerTable;
  /** Exactly what `docker diff` reports (as a set; the engine's order is random). */
  changes: DockerChange[];
  counts: { added: number; changed: number; deleted: number };
  problems: Problem[];
  /** What gives the container power over its host (null when the source keeps no docker-inspect data for it). */
  risks: ContainerRisks | null;
}

/** Stack a container on the source's shared chain tree (its image's layers are read once for all). */
export async function analyzeContainer(source: Source, container: ContainerInfo): Promise<ContainerAnalysis> {
  return modelOf(source).container(container);
}

/** The figures of a container whose stack is built. */
export function analyzeContainerView(container: ContainerInfo, image: ImageInfo | null, view: StackView, extraProblems: Problem[]): ContainerAnalysis {
  const problems: Problem[] = [...extraProblems];
  const rw = view.table(view.top);
  // The image's layer problems belong to the image; the container adds those of its own layers.
  for (const n of view.nodes.slice(image ? image.layers.length : 0)) problems.push(...n.table.problems);
  const changes = dockerDiff(view, rw);
  const counts = { added: 0, changed: 0, deleted: 0 };
  for (const c of changes) {
    if (c.kind === 'A') counts.added++;
    else if (c.kind === 'C') counts.changed++;
    else counts.deleted++;
  }
  return { container, image, view, rw, changes, counts, problems, risks: containerRisks(container) };
}
