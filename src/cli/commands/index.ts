import type { Command } from '../command.js';
import { changesCommand, filesCommand, reportCommand } from './analysis.js';
import { tuiCommand } from './tui.js';
import { ciCommand } from './ci.js';
import { diffCommand } from './diff.js';
import { extractCommand } from './extract.js';
import { exportCommand } from './export.js';
import { timelineCommand } from './timeline.js';
import { verifyCommand } from './verify.js';
import { whoseCommand } from './whose.js';
import { inspectCommand } from './inspect.js';
import { catCommand } from './cat.js';
import { volumesCommand } from './volumes.js';
import { mountCommand, umountCommand } from './mount.js';
import { logsCommand } from './logs.js';

/**
 * Every command, in the order `layerscope --help` lists them. `layerscope [SOURCE]` with no command name runs
 * the one named `tui`.
 */
export const commands: Command[] = [
  tuiCommand,
  reportCommand,
  changesCommand,
  inspectCommand,
  logsCommand,
  filesCommand,
  volumesCommand,
  verifyCommand,
  whoseCommand,
  diffCommand,
  ciCommand,
  extractCommand,
  catCommand,
  exportCommand,
  timelineCommand,
  mountCommand,
  umountCommand,
];
