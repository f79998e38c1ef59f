import type { Command, ParsedArgs } from '../command.js';
import { flagChoice, flagString } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import type { Source } from '../../core/model/source.js';
import type { MountTree, VolumeAccess, VolumeListing } from '../../core/model/volumes.js';
import type { Problem } from '../../core/model/types.js';
import { findBind, findVolume } from '../../core/sources/volumes.js';
import { volumeInspect, volumeReport } from '../../core/analysis/volumes.js';
import { dedupe } from '../../core/analysis/host.js';
import { volumesText } from '../../report/text.js';
import { volumesJson } from '../../report/json.js';
import { problemsExit, reportProblems, sinkOf } from '../output.js';
import { withSource } from './analysis.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG } from '../source.js';

/** The volumes of a source, or a usage error saying which sources have them. */
export function volumesOf(source: Source): VolumeAccess {
  if (!source.volumes) throw new UsageError(`volumes and bind mounts are read from Docker data roots; this ${source.kind} source (${source.location}) has none`);
  return source.volumes;
}

/** A tree named by --volume NAME or --bind CONTAINER:DESTINATION, with the listing's problems. */
export interface NamedTree {
  /** What it is, for messages: `volume "x"`, `bind mount ctr:/dest`. */
  what: string;
  /** The JSON head of listings: `{volume: name}` or `{bind: {...}}`. */
  head: Record<string, unknown>;
  tree: MountTree;
  problems: Problem[];
}

/** True when the command line names a volume or a bind (then --image does not apply). */
export function namesTree(args: ParsedArgs): boolean {
  return flagString(args, 'volume') !== undefined || flagString(args, 'bind') !== undefined;
}

export async function namedTree(source: Source, args: ParsedArgs): Promise<NamedTree> {
  const volume = flagString(args, 'volume');
  const bind = flagString(args, 'bind');
  if (volume !== undefined && bind !== undefined) throw new UsageError('give --volume or --bind, not both');
  if (flagString(args, 'image') !== undefined || flagString(args, 'container') !== undefined || flagString(args, 'layer') !== undefined) throw new UsageError('--volume and --bind read a directory, not an image: --image, --container and --layer do not apply');
  const access = volumesOf(source);
  const listing: VolumeListing = access.list();
  if (volume !== undefined) {
    const v = findVolume(listing, volume);
    const tree = await access.readTree(v);
    // The listing's problems that concern this volume (its dir, or its record in metadata.db), not the others'.
    const own = `${source.location.replace(/\/+$/, '')}/volumes/${v.name}`;
    const mine = listing.problems.filter((p) => p.path === own || p.path?.startsWith(own + '/') || p.message.includes(`"${v.name}"`));
    return { what: `volume "${v.name}"`, head: { volume: v.name, mountpoint: v.mountpoint }, tree, problems: [...mine, ...tree.table.problems] };
  }
  const b = findBind(listing, bind!);
  const tree = await access.readBindTree(b);
  return { what: `bind mount ${b.container}:${b.destination}`, head: { bind: { container: b.container, destination: b.destination, source: b.source } }, tree, problems: [...tree.table.problems] };
}

export const volumesCommand: Command = {
  name: 'volumes',
  summary: 'the volumes of a Docker data root (as docker volume ls / inspect show them, with sizes and users) and its bind mounts',
  usage: [
    'layerscope volumes [SOURCE] [--format text|json|inspect] [--no-size]',
    'json: layerscope.volumes/v1 (every volume with who mounts it and its size as docker system df -v counts it, and every bind mount); inspect: exactly what `docker volume inspect` prints for every volume.',
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    format: { value: true, help: 'text (default), json, or inspect (docker volume inspect\'s JSON)' },
    'no-size': { value: false, help: 'do not walk the volumes to size them' },
  },
  async run(args, io) {
    const fmt = flagChoice(args, 'format', ['text', 'json', 'inspect']);
    return withSource(args, io, async (source) => {
      volumesOf(source);
      const r = (await volumeReport(source, { sizes: fmt !== 'inspect' && args.flags['no-size'] !== true }))!;
      const problems = dedupe([...source.problems, ...r.problems]);
      const write = sinkOf(io.stdout);
      if (fmt === 'inspect') {
        await write(JSON.stringify(r.volumes.map(volumeInspect), null, 4) + '\n');
        return reportProblems(io, 'volumes', problems);
      }
      if (fmt === 'json') {
        await write(JSON.stringify({ schema: 'layerscope.volumes/v1', source: { kind: source.kind, location: source.location }, ...volumesJson(r), problems: problems.map((p) => ({ severity: p.severity, code: p.code, message: p.message, path: p.path })) }, null, 2) + '\n');
        return problemsExit(problems);
      }
      const lines = volumesText(r);
      await write(lines.length ? lines.slice(1).join('\n') + '\n' : 'no volumes and no bind mounts\n');
      return reportProblems(io, 'volumes', problems);
    });
  },
};
