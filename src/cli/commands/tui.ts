import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, flagString, type Command, type CommandIO, type ParsedArgs } from '../command.js';
import { SourceError, UsageError } from '../../core/model/errors.js';
import { openSource, planSource } from '../../core/sources/open.js';
import type { OpenOptions, Source } from '../../core/model/source.js';
import { safeText } from '../../report/format.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG, sourceLocation } from '../source.js';

export const DEFAULT_ROOT = '/var/lib/docker';

/** The demo archive shipped in the package (demo/demo.tar), from dist/cli/commands or src/cli/commands. */
export function demoArchive(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../demo/demo.tar');
}

/**
 * Why a directory cannot be opened as a data root, or null when it can: the same recognition (and the same
 * words) as `layerscope report DIR`, so a root we may not read says so instead of "no image store".
 */
function whyNotDataRoot(dir: string): string | null {
  if (!fs.existsSync(dir)) {
    // existsSync is false too when a parent may not be searched: let recognition name that.
    try {
      fs.lstatSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `there is no ${dir} here`;
    }
  }
  try {
    const plan = planSource(dir);
    return plan.open === 'archive' ? `${dir} holds no Docker image store (it is an image archive or OCI layout: name it to open it)` : null;
  } catch (err) {
    if (!(err instanceof SourceError)) throw err;
    const nothing = ['source.unrecognised', 'source.empty-dir', 'source.empty-store', 'source.no-image-store'].includes(err.code);
    return nothing ? `${dir} holds no Docker image store (${err.path === dir ? err.message.slice(dir.length + 2) : err.message})` : err.message;
  }
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
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
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
    } else {
      // An image reference becomes the engine's save stream (said on stderr); a path stays as typed.
      location = await sourceLocation(location, args, io);
      // Fail before taking over the screen when the source is plainly not there, may not be read, or (with our
      // own opener) is not recognised: the same recognition and words as `layerscope report SOURCE`.
      try {
        planSource(location);
      } catch (err) {
        if (!(err instanceof SourceError)) throw err;
        const aboutThePath = err.code === 'source.not-found' || err.code === 'source.permission-denied';
        if (aboutThePath || !tio.open) {
          io.stderr.write(`layerscope: ${safeText(err.message)}\n`);
          return EXIT.sourceError;
        }
      }
    }
    const platform = flagString(args, 'platform');
    const open = tio.open ?? openSource;
    // The source is opened (metadata only) while the TUI's modules load: loading Ink takes longer than reading
    // a host's configs, and the first screen needs both.
    const early = open(location, platform ? { platform } : {});
    early.catch(() => undefined);
    const first = location;
    const { runTui } = await import('../../tui/run.js');
    return runTui({
      location,
      note,
      open: (loc, opts) => (loc === first ? early : open(loc, platform ? { ...opts, platform } : opts)),
      image: flagString(args, 'image'),
      container: flagString(args, 'container'),
      stdout: io.stdout as NodeJS.WriteStream,
      stderr: io.stderr as NodeJS.WriteStream,
      stdin,
      env: io.env,
    });
  },
};
