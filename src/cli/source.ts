import { flagChoice, type CommandIO, type ParsedArgs } from './command.js';
import { lookUpInEngines, notInAnyEngine, saveReference, sourceSpec, SOURCE_KINDS, type EngineName, type SourceKindFlag } from '../core/sources/reference.js';
import { safeText } from '../report/format.js';
import { UsageError } from '../core/model/errors.js';

/** dive's `--source`, on every command that takes a SOURCE. */
export const SOURCE_FLAG = {
  source: { value: true, arg: 'KIND', help: 'what SOURCE is: docker or podman (an image in that engine), docker-archive or oci-archive (a file); default: an existing path, else an image in docker, then podman' },
} as const;

/**
 * container-explorer's `--image-root DIR`: DIR is a mounted host file system, and every container store on it is
 * the SOURCE (main.ts passes it on as the SOURCE `image-root:DIR`, so every command that takes a SOURCE takes it).
 */
export const IMAGE_ROOT_FLAG = {
  'image-root': { value: true, arg: 'DIR', help: "instead of SOURCE: every store on a mounted disk (Docker, containerd, containers-storage, rootless), found from the host's configs and by a scan; nothing under DIR is written" },
} as const;

/**
 * Arguments with `--image-root DIR` made the SOURCE (the first positional): `image-root:DIR`. A SOURCE given
 * as well is a usage error for commands whose first positional is the SOURCE.
 */
export function withImageRoot(args: ParsedArgs, sourceFirst: boolean): ParsedArgs {
  const dir = args.flags['image-root'];
  if (dir === undefined) return args;
  if (typeof dir !== 'string' || dir === '') throw new UsageError('--image-root needs a directory');
  if (args.flags.source !== undefined) throw new UsageError('--image-root and --source name two different sources: give one');
  if (!sourceFirst) throw new UsageError('--image-root is not taken here');
  return { ...args, positional: [`image-root:${dir}`, ...args.positional] };
}

/** The `--source` given, if any (a usage error names the choices). */
export function sourceKindOf(args: ParsedArgs): SourceKindFlag | undefined {
  if (args.flags.source === undefined) return undefined;
  return flagChoice(args, 'source', SOURCE_KINDS);
}

/**
 * The location openSource reads for a SOURCE as typed (see core/sources/reference.ts for the rules): a path as
 * is; an image reference becomes `docker:REF` or `podman:REF` of the engine that has it, said on stderr (as dive
 * says where it reads from); an image no engine has is a SourceError that says how to save it instead.
 */
export async function sourceLocation(text: string, args: ParsedArgs, io: CommandIO): Promise<string> {
  const spec = sourceSpec(text, sourceKindOf(args));
  if (spec.kind === 'location') return spec.location;
  const engines: EngineName[] = spec.kind === 'engine' ? [spec.engine] : ['docker', 'podman'];
  const answers = await lookUpInEngines(spec.ref, { env: io.env }, engines);
  const found = answers.find((a) => a.status === 'has');
  if (!found) throw notInAnyEngine(text, spec.ref, answers, spec.kind === 'lookup');
  const ref = saveReference(spec.ref, found.detail);
  const passed = answers.filter((a) => a !== found).map((a) => `${a.engine}: ${a.status === 'lacks' ? 'no such image' : a.detail}`);
  const why = spec.kind === 'lookup' ? `not a file here; ${passed.length ? `${passed.join('; ')}; ` : ''}` : '';
  io.stderr.write(`layerscope: ${safeText(text)}: ${safeText(why)}reading image ${safeText(ref)} from ${found.engine} (${found.engine} save)\n`);
  return `${found.engine}:${ref}`;
}
