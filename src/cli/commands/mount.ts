import * as path from 'node:path';
import { EXIT, flagBool, flagChoice, flagString, type Command, type CommandIO } from '../command.js';
import { UsageError } from '../../core/model/errors.js';
import type { Source } from '../../core/model/source.js';
import { openSource } from '../../core/sources/open.js';
import { findContainer, findImage } from '../../core/analysis/select.js';
import { evidenceLocations } from '../../core/output/index.js';
import { readMountInfo } from '../../core/verify/mount/mountinfo.js';
import { InterruptedError, MountCommandError, checkMountPoint, containerStack, imageStacks, mountStacks, unmountAll, unmountAt, type MountTarget } from '../../core/verify/mount/index.js';
import { mountJson, mountText, umountJson, umountText } from '../../report/mount.js';
import { reportProblems } from '../output.js';
import { dedupe } from '../../core/analysis/host.js';
import { onlyImage } from './analysis.js';
import { parseLayer } from './extract.js';
import { IMAGE_ROOT_FLAG, SOURCE_FLAG, sourceLocation } from '../source.js';

/** The names `mount --all` gives its mount points: the container's name when it is a plain one (Docker's rule). */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Mount errors that are an operation refused (exit 1), not a source that cannot be read (exit 3). */
const REFUSED = new Set(['mount.not-root', 'mount.refused', 'mount.permission', 'mount.bind', 'mount.not-mounted']);

function handled(err: unknown, io: CommandIO, name: string): number | null {
  if (err instanceof InterruptedError) {
    io.stderr.write(`layerscope ${name}: ${err.message}; everything it had mounted or created was undone\n`);
    return EXIT.interrupted;
  }
  if (err instanceof MountCommandError && REFUSED.has(err.code)) {
    io.stderr.write(`layerscope ${name}: ${err.message.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?')}\n`);
    return EXIT.failed;
  }
  return null;
}

function targetsOf(source: Source, args: Parameters<Command['run']>[0], dir: string): MountTarget[] {
  const container = flagString(args, 'container');
  const imageRef = flagString(args, 'image');
  const all = flagBool(args, 'all');
  if ([container !== undefined, imageRef !== undefined, all].filter(Boolean).length > 1) throw new UsageError('give one of --container, --image or --all');
  if (flagString(args, 'layer') !== undefined && container !== undefined) throw new UsageError('--layer goes with --image (a container is mounted whole: image layers, init and RW layer)');
  if (all) {
    if (!source.containers.length) throw new UsageError(`this ${source.kind} source holds no containers`);
    const used = new Set<string>();
    return source.containers.map((c) => {
      let name = PLAIN_NAME.test(c.name) && !used.has(c.name) ? c.name : c.id.slice(0, 64);
      if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new UsageError(`container ${JSON.stringify(c.name)} has neither a plain name nor a plain id to name its mount point`);
      used.add(name);
      return { spec: containerStack(source, c), at: path.join(dir, name) };
    });
  }
  if (container !== undefined) return [{ spec: containerStack(source, findContainer(source, container)), at: dir }];
  if (!source.images.length) throw new UsageError(`this ${source.kind} source holds no images`);
  const image = imageRef !== undefined ? findImage(source, imageRef) : onlyImage(source);
  const layer = parseLayer(flagString(args, 'layer'), image);
  return [{ spec: imageStacks(image, true)[layer]!, at: dir }];
}

export const mountCommand: Command = {
  name: 'mount',
  summary: 'mount a container, or an image at a layer, read-only at a directory (left mounted; undo with umount)',
  usage: [
    'layerscope mount SOURCE --container NAME [--volumes] [--host-root DIR] MOUNTPOINT',
    'layerscope mount SOURCE --image REF [--layer N] MOUNTPOINT',
    'layerscope mount SOURCE --all [--volumes] [--host-root DIR] DIR',
    'A real overlay mount, as the engine stacks the layers (a container: its RW layer, its init layer, then its',
    "image's layers), with lower dirs only: no upper or work dir, mounted ro,nosuid,nodev,noexec, so nothing can",
    'be written to the evidence. --all mounts every container at DIR/<name>. With --volumes the named volumes',
    'and the binds whose source is in the evidence are bind-mounted read-only at their destinations. Archives',
    'are unpacked into the system temp dir first. MOUNTPOINT must be empty (it is created when missing). Needs',
    'root. Undo with `layerscope umount MOUNTPOINT`; `layerscope umount --all` undoes every mount layerscope left.',
  ],
  flags: {
    ...SOURCE_FLAG,
    ...IMAGE_ROOT_FLAG,
    container: { value: true, help: 'the container to mount (name or ID prefix): its image layers, init layer and RW layer' },
    image: { value: true, help: 'the image to mount (tag, ID or ID prefix; default: the only image)' },
    layer: { value: true, help: 'with --image: the stack up to this layer (0 = base, -1 = top; default top)' },
    all: { value: false, help: 'every container of the source, each at DIR/<name>' },
    volumes: { value: false, help: "also bind-mount the container's volumes and binds (from the evidence), read-only" },
    'host-root': { value: true, help: "with --volumes: where the original host's / is mounted, so binds from anywhere on that host can be mapped" },
    platform: { value: true, help: 'os/arch[/variant] for multi-platform archives' },
    format: { value: true, help: 'text (default) or json' },
  },
  async run(args, io) {
    const format = flagChoice(args, 'format', ['text', 'json']);
    if (args.positional.length !== 2) throw new UsageError('expected SOURCE and a mount point');
    const [src, dir] = args.positional as [string, string];
    if (flagString(args, 'host-root') !== undefined && !flagBool(args, 'volumes')) throw new UsageError('--host-root goes with --volumes');
    const platform = flagString(args, 'platform');
    const source = await openSource(await sourceLocation(src, args, io), platform ? { platform } : {});
    try {
      const targets = targetsOf(source, args, dir);
      // --all: DIR itself must be acceptable as the parent of the mount points (empty, not in the evidence).
      if (flagBool(args, 'all')) checkMountPoint(dir, evidenceLocations(source.location), readMountInfo());
      const result = await mountStacks(source, targets, {
        volumes: flagBool(args, 'volumes'),
        hostRoot: flagString(args, 'host-root') ?? null,
        onStack: io.stderrTTY ? (spec, done, total) => io.stderr.write(`\r\x1b[Kmounting ${done + 1}/${total}: ${spec.label.slice(0, 80)}`) : undefined,
      });
      // The mounts are made and recorded (mountStacks' own guard undid everything on a signal until now): a Ctrl-C
      // while they are printed must not kill the process with the signal, as if the run had failed. (Registered in
      // the same turn as mountStacks returned: no signal can be handled in between.)
      const hold = (): void => {};
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, hold);
      const release = () => {
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, hold);
      };
      if (io.stderrTTY) io.stderr.write('\r\x1b[K');
      const undo = `layerscope umount ${flagBool(args, 'all') ? dir : result.mounts[0]!.mountPoint}`;
      io.stdout.write(format === 'json' ? JSON.stringify(mountJson(result, undo), null, 2) + '\n' : mountText(result, undo));
      const code = reportProblems(io, 'mount', dedupe([...source.problems, ...result.problems]));
      release();
      return code;
    } catch (err) {
      const code = handled(err, io, 'mount');
      if (code !== null) return code;
      throw err;
    } finally {
      await source.close();
    }
  },
};

export const umountCommand: Command = {
  name: 'umount',
  summary: 'undo a layerscope mount and everything below it; --all: every mount layerscope left',
  usage: [
    'layerscope umount MOUNTPOINT',
    'layerscope umount --all',
    "Unmounts the overlay mounts layerscope made at or below MOUNTPOINT (recognised by their source,",
    "layerscope-<id>, in the mount table) with everything mounted below them, then removes what the run made: its",
    'workspace in the temp dir, the mount point dirs it created, its state record in /run/layerscope/mounts.',
    '--all finds every such mount, and the leftovers of killed runs, from the mount table and the temp dir alone.',
  ],
  flags: {
    all: { value: false, help: 'every mount layerscope left (a killed run included)' },
    format: { value: true, help: 'text (default) or json' },
  },
  async run(args, io) {
    const format = flagChoice(args, 'format', ['text', 'json']);
    const all = flagBool(args, 'all');
    if (all ? args.positional.length !== 0 : args.positional.length !== 1) throw new UsageError(all ? '--all takes no mount point' : 'expected one mount point (or --all)');
    try {
      const r = all ? await unmountAll() : await unmountAt(args.positional[0]!);
      io.stdout.write(format === 'json' ? JSON.stringify(umountJson(r), null, 2) + '\n' : umountText(r));
      return r.left.some((l) => !/still running/.test(l.reason)) ? EXIT.failed : EXIT.ok;
    } catch (err) {
      const code = handled(err, io, 'umount');
      if (code !== null) return code;
      throw err;
    }
  },
};
