import type { Command } from '../command.js';
import { changesCommand, filesCommand, reportCommand } from './analysis.js';
import { tuiCommand } from './tui.js';
import { ciCommand } from './ci.js';
import { diffCommand } from './diff.js';

/**
 * Every command, in the order `layerscope --help` lists them. `layerscope [SOURCE]` with no command name runs
 * the one named `tui`.
 */
export const commands: Command[] = [tuiCommand, reportCommand, changesCommand, filesCommand, diffCommand, ciCommand];
