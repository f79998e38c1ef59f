import { flagString, type Command, flagChoice } from '../command.js';
import { problemsExit, reportProblems } from '../output.js';
import { dedupe } from '../../core/analysis/host.js';
import { UsageError } from '../../core/model/errors.js';
import { openSource } from '../../core/sources/open.js';
import { findContainer } from '../../core/analysis/select.js';
import { containerTimeline } from '../../core/analysis/timeline.js';
import { timelineBodyfile, timelineJson, timelineTable, type TimelineSort } from '../../report/timeline.js';

export const timelineCommand: Command = {
  name: 'timeline',
  summary: "a container's RW layer by mtime/ctime (bodyfile for mactime/plaso, table, JSON), suspicious changes flagged",
  usage: ['layerscope timeline SOURCE --container NAME|ID [--format table|body|json] [--sort mtime|ctime|path]'],
  flags: {
    container: { value: true, help: 'container name or ID' },
    format: { value: true, help: 'table (default), body (TSK bodyfile for mactime -b / plaso) or json' },
    sort: { value: true, help: 'mtime (default), ctime or path' },
  },
  async run(args, io) {
    if (args.positional.length !== 1) throw new UsageError('expected exactly one SOURCE (a data root)');
    const name = flagString(args, 'container');
    if (!name) throw new UsageError('--container NAME is required');
    const format = flagChoice(args, 'format', ['table', 'body', 'json']);
    const sort = (flagString(args, 'sort') ?? 'mtime') as TimelineSort;
    if (!['mtime', 'ctime', 'path'].includes(sort)) throw new UsageError(`--sort ${sort}: expected mtime, ctime or path`);
    const source = await openSource(args.positional[0]!);
    try {
      const c = findContainer(source, name);
      const t = await containerTimeline(source, c);
      // The problems of what was read: the source's and the stack's (image layers, init and RW layers).
      t.problems = dedupe([...source.problems, ...t.problems]);
      io.stdout.write(format === 'body' ? timelineBodyfile(t, sort) : format === 'json' ? JSON.stringify(timelineJson(t, sort), null, 2) + '\n' : timelineTable(t, sort));
      if (format === 'body') return reportProblems(io, 'timeline', t.problems);
      return problemsExit(t.problems);
    } finally {
      await source.close();
    }
  },
};
