import * as path from 'node:path';
import { EXIT, flagString, type Command, flagChoice } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import { openSource } from '../../core/sources/open.js';
import { attributePath, type Attribution } from '../../core/verify/attribute.js';
import { whoseJson, whoseText } from '../../report/verify.js';
import { reportProblems } from '../output.js';
import { dedupe } from '../../core/analysis/host.js';
import { modelOf } from '../../core/analysis/model.js';

export const whoseCommand: Command = {
  name: 'whose',
  summary: 'which layer, images and containers a path under a data root belongs to, and whether it is visible',
  usage: [
    'layerscope whose PATH... [--root /var/lib/docker] [--format text|json]',
    'PATH is a host path under the data root, e.g. /var/lib/docker/overlay2/<id>/diff/usr/bin/x (a scanner hit).',
    "Says which layer holds it (chainID, diffID, index), which images and containers use that layer (or whose RW /",
    "init layer it is), and whether the file is visible in each one's final view or hidden (by which layer, how).",
  ],
  flags: {
    root: { value: true, help: 'the Docker data root (default: the part of the first PATH before /overlay2/, else /var/lib/docker)' },
    format: { value: true, help: 'text (default) or json' },
  },
  async run(args, io) {
    const format = flagChoice(args, 'format', ['text', 'json']);
    if (args.positional.length === 0) throw new UsageError('expected at least one PATH');
    const source = await openSource(flagString(args, 'root') ?? rootOf(args.positional[0]!));
    try {
      const out: Attribution[] = [];
      for (const p of args.positional) out.push(await attributePath(source, p));
      if (format === 'json') io.stdout.write(JSON.stringify(whoseJson(out), null, 2) + '\n');
      else io.stdout.write(out.map(whoseText).join('\n'));
      // A path that belongs to nothing we know is an answer, not a failure; a path outside the root is bad input.
      if (out.some((a) => a.where === 'outside')) return EXIT.sourceError;
      // The problems of the evidence read to answer (the root's metadata, the layers stacked) go to stderr.
      const model = modelOf(source);
      const read = model.store.nodes.flatMap((n) => n.table.problems);
      return reportProblems(io, 'whose', dedupe([...source.problems, ...read]));
    } finally {
      await source.close();
    }
  },
};

/**
 * The data root a path under `<root>/overlay2/` names (a scanner hit on a mounted disk: a layer dir
 * `overlay2/<id>[-init]/` or one of its short links `overlay2/l/<LINK>/`), else the default.
 */
function rootOf(p: string): string {
  const m = /^(\/.+?)\/overlay2\/(?:[0-9a-f]{64}(?:-init)?|l\/[A-Z2-7]{26})(?:\/|$)/.exec(path.resolve(p));
  return m ? m[1]! : '/var/lib/docker';
}
