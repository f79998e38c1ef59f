import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, flagString, type Command, type CommandIO, type ParsedArgs } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import { openSource } from '../../core/sources/open.js';
import { looksLikeDockerRoot } from '../../core/sources/docker-root/index.js';
import { findContainerdLayout } from '../../core/sources/containerd/index.js';
import type { OpenOptions, Source } from '../../core/model/source.js';
import { safeText } from '../../report/format.js';

export const DEFAULT_ROOT = '/var/lib/docker';

/** The demo archive shipped in the package (demo/demo.tar), from dist/cli/commands or src/cli/commands. */
export function demoArchive(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../demo/demo.tar');
}

/** Why a directory cannot be opened as a data root, or null when it can. */
function whyNotDataRoot(dir: string): string | null {
  if (!fs.existsSync(dir)) return `there is no ${dir} here`;
  try {
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.X_OK);
  } catch {
    return `${dir} is not readable (run as root?)`;
  }
  // A data root either store can read (classic overlay2, or the containerd image store).
  if (fs.statSync(dir).isDirectory() && (looksLikeDockerRoot(dir) || findContainerdLayout(dir) !== null)) return null;
  return `${dir} holds no Docker image store`;
}

export interface TuiIO extends CommandIO {
  /** Tests and embedders may pass their own streams; default: the process's. */
  stdin?: NodeJS.ReadStream;
  open?: (location: string, opts: OpenOptions) => Promise<Source>;
}

/** What to open when no SOURCE is named: the host's data root when readable, else the demo image. */
export function defaultSource(root = DEFAULT_ROOT, demo = demoArchive()): { location: string; note: string | null } | { error: string } {
  const why = whyNotDataRoot(root);
  if (why === null) return { location: root, note: null };
  if (fs.existsSync(demo)) return { location: demo, note: `DEMO image (${why}): name a data root or archive` };
  return { error: `${why}, and the demo image (${demo}) is not installed. Name what to inspect: layerscope /var/lib/docker, layerscope app.tar` };
}

export const tuiCommand: Command = {
  name: 'tui',
  summary: 'browse images, layers, files and containers in a full-screen terminal UI (the default)',
  usage: ['layerscope [SOURCE] [--image REF | --container NAME] [--platform OS/ARCH]', 'layerscope tui [SOURCE] ...'],
  flags: {
    image: { value: true, help: 'open this image directly (tag, ID or ID prefix)' },
    container: { value: true, help: 'open this container directly (name or ID prefix)' },
    platform: { value: true, help: 'platform of a multi-platform archive, os/arch[/variant]' },
  },
  async run(args: ParsedArgs, io: CommandIO): Promise<number> {
    const tio = io as TuiIO;
    if (args.positional.length > 1) throw new UsageError(`one SOURCE at most (got ${args.positional.length})`);
    const stdin = tio.stdin ?? process.stdin;
    if (!io.isTTY || !stdin.isTTY) {
      io.stderr.write('layerscope: the browser needs a terminal (stdin and stdout); for text or JSON output use `layerscope report`\n');
      return EXIT.usage;
    }
    let location = args.positional[0];
    let note: string | null = null;
    if (location === undefined) {
      const d = defaultSource();
      if ('error' in d) {
        io.stderr.write(`layerscope: ${safeText(d.error)}\n`);
        return EXIT.sourceError;
      }
      location = d.location;
      note = d.note;
    } else if (!/^(docker|podman):/.test(location) && location !== '-' && !fs.existsSync(location)) {
      // Fail before taking over the screen when the source plainly is not there.
      io.stderr.write(`layerscope: ${safeText(location)}: no such file or directory\n`);
      return EXIT.sourceError;
    }
    const platform = flagString(args, 'platform');
    const open = tio.open ?? openSource;
    const { runTui } = await import('../../tui/run.js');
    return runTui({
      location,
      note,
      open: (loc, opts) => open(loc, platform ? { ...opts, platform } : opts),
      image: flagString(args, 'image'),
      container: flagString(args, 'container'),
      stdout: io.stdout as NodeJS.WriteStream,
      stderr: io.stderr as NodeJS.WriteStream,
      stdin,
      env: io.env,
    });
  },
};
