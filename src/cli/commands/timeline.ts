import { flagBool, flagString, type Command, flagChoice } from '../command.js';
import { problemsExit, reportProblems, sinkOf } from '../output.js';
import { dedupe } from '../../core/analysis/host.js';
import { UsageError } from '../../core/model/errors.js';
import type { Problem } from '../../core/model/types.js';
import type { Source } from '../../core/model/source.js';
import { openSource } from '../../core/sources/open.js';
import { findContainer } from '../../core/analysis/select.js';
import { containerTimeline, type Timeline } from '../../core/analysis/timeline.js';
import { analyzeContainer, containerStackAnalysis } from '../../core/analysis/container.js';
import { contentReader, hashRwFiles } from '../../core/export/content.js';
import { TIMELINE_SCHEMA, timelineBodyfile, timelineJson, timelineTable, type TimelineSort } from '../../report/timeline.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG, sourceLocation } from '../source.js';

export const timelineCommand: Command = {
  name: 'timeline',
  summary: "a container's RW layer by mtime/ctime (bodyfile for mactime/plaso, table, JSON), suspicious changes flagged",
  usage: [
    'layerscope timeline SOURCE (--container NAME|ID | --all) [--hash] [--format table|body|json] [--sort mtime|ctime|path]',
    '--all: every container in one run (body: each path prefixed with /<container name>; json: {schema, containers}).',
    "--hash: the MD5 of every regular file the RW layer holds, in the bodyfile's MD5 column (as mactime expects).",
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    container: { value: true, help: 'container name or ID' },
    all: { value: false, help: 'every container of the source' },
    hash: { value: false, help: "MD5 of the RW layer's regular files (bodyfile's first column; json: md5)" },
    format: { value: true, help: 'table (default), body (TSK bodyfile for mactime -b / plaso) or json' },
    sort: { value: true, help: 'mtime (default), ctime or path' },
  },
  async run(args, io) {
    if (args.positional.length !== 1) throw new UsageError('expected exactly one SOURCE (a data root)');
    const name = flagString(args, 'container');
    const all = flagBool(args, 'all');
    if (!name && !all) throw new UsageError('--container NAME or --all is required');
    if (name && all) throw new UsageError('give --container or --all, not both');
    const format = flagChoice(args, 'format', ['table', 'body', 'json']);
    const sort = (flagString(args, 'sort') ?? 'mtime') as TimelineSort;
    if (!['mtime', 'ctime', 'path'].includes(sort)) throw new UsageError(`--sort ${sort}: expected mtime, ctime or path`);
    const source = await openSource(await sourceLocation(args.positional[0]!, args, io));
    try {
      const containers = all ? source.containers : [findContainer(source, name!)];
      if (all && !containers.length) throw new UsageError('this source holds no containers');
      const write = sinkOf(io.stdout);
      const problems: Problem[] = [...source.problems];
      const json: Record<string, unknown>[] = [];
      let shown = 0;
      for (const c of containers) {
        let t: Timeline;
        try {
          t = await containerTimeline(source, c);
        } catch (err) {
          // One container without a RW layer does not end a run over all of them.
          if (!all) throw err;
          problems.push({ severity: 'error', code: 'timeline.container', message: `container ${c.name}: ${(err as Error).message}`, path: null });
          continue;
        }
        if (flagBool(args, 'hash')) t.problems.push(...(await addMd5(source, t)));
        problems.push(...t.problems);
        // The problems of what was read: the source's and the stack's (image layers, init and RW layers).
        const own = { ...t, problems: dedupe(all ? t.problems : [...source.problems, ...t.problems]) };
        if (format === 'json') json.push(timelineJson(own, sort));
        else if (format === 'body') await write(timelineBodyfile(own, sort, all ? c.name : ''));
        else await write((shown++ ? '\n' : '') + timelineTable(own, sort));
      }
      if (format === 'json') await write(JSON.stringify(all ? { schema: TIMELINE_SCHEMA, containers: json, problems: dedupe(problems) } : json[0], null, 2) + '\n');
      if (format === 'body') return reportProblems(io, 'timeline', dedupe(problems));
      return problemsExit(dedupe(problems));
    } finally {
      await source.close();
    }
  },
};

/** MD5 of every regular file the container's RW layer holds, read as extract reads (never followed, never written). */
async function addMd5(source: Source, t: Timeline): Promise<Problem[]> {
  const stack = containerStackAnalysis(await analyzeContainer(source, t.container));
  const reader = contentReader(source, stack.image);
  if (!reader) return [{ severity: 'error', code: 'timeline.hash', message: `container ${t.container.name}: its layers cannot be read again for their contents`, path: null }];
  try {
    // Every name of a regular file: a hardlink entry's bytes are those of the name it links to (read once).
    const stored = (e: Timeline['entries'][number]) => e.hardlinkTo ?? e.path;
    const files = t.entries.filter((e) => (e.type === 'file' || e.type === 'hardlink') && !e.deleted);
    const { digests, errors } = await hashRwFiles(reader, stack.image, new Set(files.map(stored)), 'md5');
    for (const e of files) {
      const d = digests.get(stored(e));
      if (d) e.md5 = d;
    }
    return errors.map((err) => ({ severity: 'error' as const, code: 'timeline.hash', message: (err as Error).message, path: null }));
  } finally {
    reader.close?.();
  }
}
