import { flagList, flagString, type ParsedArgs } from '../command.js';
import { SourceError, UsageError } from '../../core/model/errors.js';
import type { Source } from '../../core/model/source.js';
import type { ImageInfo } from '../../core/model/types.js';
import { analyzeImage, type ImageAnalysis } from '../../core/analysis/analyze.js';
import { analyzeContainer, containerStackAnalysis, INIT_LAYER_COMMAND, type ContainerAnalysis } from '../../core/analysis/container.js';
import { findContainer } from '../../core/analysis/select.js';
import { safeMessage, safeText } from '../../report/format.js';
import { selectImages } from './ci.js';

/**
 * What a command that takes `--image REF` or `--container X` works on: an image's stack, or a container's (its
 * image's layers, its init layer, its RW layer: `containerStackAnalysis`). Either is an image analysis, so every
 * view, reader and writer that takes an image takes a container too.
 */
export interface Target {
  kind: 'image' | 'container';
  /** For a container, the stack seen as an image (layers: the image's, then init, then RW). */
  image: ImageInfo;
  analysis: ImageAnalysis;
  container: ContainerAnalysis | null;
  /** For messages: `image app:1` or `container web-1`; escaped. */
  label: string;
}

export const TARGET_FLAGS = {
  image: { value: true, help: 'image tag, ID or ID prefix (default: the only image of the source)' },
  container: { value: true, help: "container name or ID: its stack (the image's layers, its init layer, its RW layer)" },
} as const;

/**
 * `content`: the command reads files' bytes (cat, extract, export): a container whose RW layer directory is not
 * in the evidence is then an error naming why (its own files cannot be read), not an empty layer.
 */
export async function openTarget(source: Source, args: ParsedArgs, opts: { content?: boolean } = {}): Promise<Target> {
  const ref = flagString(args, 'container');
  if (ref !== undefined) {
    if (flagList(args, 'image').length) throw new UsageError('give --image or --container, not both');
    const c = findContainer(source, ref);
    if (opts.content && !c.rwDir) {
      const why = source.problems.find((p) => p.path !== null && c.mountId !== null && p.path.includes(c.mountId));
      throw new SourceError('container.no-rw-dir', `container ${safeText(c.name)}: its RW layer cannot be read${why ? ` (${safeMessage(why.message)}${why.path ? `: ${safeMessage(why.path)}` : ''})` : ''}; the files it wrote are not in this evidence`);
    }
    const ca = await analyzeContainer(source, c);
    const analysis = containerStackAnalysis(ca);
    return { kind: 'container', image: analysis.image, analysis, container: ca, label: `container ${safeText(ca.container.name)}` };
  }
  const image = selectImages(source, flagList(args, 'image'))[0]!;
  return { kind: 'image', image, analysis: await analyzeImage(source, image), container: null, label: `image ${safeText(image.tags[0] ?? image.id)}` };
}

/** How a layer of the target is named in messages: `layer 3 (RUN apt-get ...)`, `the container's RW layer`. */
export function layerLabel(t: Target, layer: number): string {
  const info = t.image.layers[layer];
  if (t.kind === 'container' && info && !info.diffId) return `the container's ${info.createdBy === INIT_LAYER_COMMAND ? 'init' : 'RW'} layer (layer ${layer})`;
  return `layer ${layer}`;
}
