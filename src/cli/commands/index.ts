import type { Command } from '../command.js';
import { changesCommand, filesCommand, reportCommand } from './analysis.js';

/** Every command, in the order `layerscope --help` lists them. The first is the default (TUI) once registered. */
export const commands: Command[] = [reportCommand, changesCommand, filesCommand];
