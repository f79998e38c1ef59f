import { flagChoice, flagString, type Command } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import { findContainer, findImage } from '../../core/analysis/select.js';
import { containerRisks } from '../../core/analysis/risk.js';
import { containerInspectJson, containerInspectText, imageInspectJson, imageInspectText } from '../../report/inspect.js';
import { problemsExit, sinkOf } from '../output.js';
import { onlyImage, withSource } from './analysis.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG } from '../source.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: "what docker inspect prints for a container (or an image's config), read offline, with the container's risk findings",
  usage: [
    'layerscope inspect SOURCE --container ID|NAME [--format text|json]',
    'layerscope inspect SOURCE [--image REF] [--format text|json]',
    "json: {schema, kind, inspect, risks, problems}; `inspect` has docker inspect's keys (compare: jq .inspect vs docker inspect X | jq '.[0]').",
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    container: { value: true, help: 'container name or ID' },
    image: { value: true, help: 'image tag, ID or ID prefix (default: the only image of the source)' },
    platform: { value: true, help: 'platform for multi-platform archives' },
    format: { value: true, help: 'text (default) or json' },
  },
  async run(args, io) {
    const fmt = flagChoice(args, 'format', ['text', 'json']);
    const containerRef = flagString(args, 'container');
    const imageRef = flagString(args, 'image');
    if (containerRef && imageRef) throw new UsageError('inspect takes --container or --image, not both');
    if (args.positional.length !== 1) throw new UsageError('expected exactly one SOURCE');
    return withSource(args, io, async (source) => {
      const write = sinkOf(io.stdout);
      if (containerRef) {
        const c = findContainer(source, containerRef);
        // This container's own problems (its config.v2.json, hostconfig.json, layers): another container's
        // broken files say nothing about this one, and `report` lists everything.
        const mine = `/containers/${c.id}`;
        const problems = source.problems.filter((p) => p.path !== null && (p.path.includes(mine + '/') || p.path.endsWith(mine)));
        const risks = containerRisks(c);
        await write(fmt === 'json' ? JSON.stringify(containerInspectJson(c, risks, problems), null, 2) + '\n' : containerInspectText(c, risks, problems));
        return problemsExit(problems);
      }
      const img = imageRef ? findImage(source, imageRef) : onlyImage(source);
      const problems = source.problems.filter((p) => p.path !== null && p.path.includes(img.id.replace(/^sha256:/, '')));
      await write(fmt === 'json' ? JSON.stringify(imageInspectJson(img, problems), null, 2) + '\n' : imageInspectText(img, problems));
      return problemsExit(problems);
    });
  },
};
