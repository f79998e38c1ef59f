import { flagChoice, type CommandIO, type ParsedArgs } from './command.js';
import { lookUpInEngines, notInAnyEngine, saveReference, sourceSpec, SOURCE_KINDS, type EngineName, type SourceKindFlag } from '../core/sources/reference.js';
import { safeText } from '../report/format.js';

/** dive's `--source`, on every command that takes a SOURCE. */
export const SOURCE_FLAG = {
  source: { value: true, arg: 'KIND', help: 'what SOURCE is: docker or podman (an image in that engine), docker-archive or oci-archive (a file); default: an existing path, else an image in docker, then podman' },
} as const;

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
