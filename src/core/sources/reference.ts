/**
 * What a SOURCE as typed names: a path, an image archive, or an image in a local engine (`layerscope nginx:latest`,
 * dive's headline usage). The rules, in order (also in the README, "Opening an image by reference"):
 * 1. A scheme says it: `docker://REF`, `podman://REF` (that engine's image), `docker-archive://PATH`,
 *    `oci-archive://PATH` (a file, never an engine). `--source docker|podman|docker-archive|oci-archive` (dive's
 *    flag) says the same of a bare SOURCE. The older `docker:REF` / `podman:REF` keep their meaning.
 * 2. `-` is stdin; an existing path (file, directory, even a dangling symlink: lstat decides) always wins.
 * 3. Anything else that parses as an image reference (the distribution grammar, as `docker pull` reads it) is
 *    asked of the local engines, docker first, then podman, and read from the first that has it; the caller
 *    says which on stderr. A name like `app.tar` is a valid reference too: when no engine has it, the error says
 *    both that no such file exists and that no engine has such an image, never one without the other.
 * 4. Anything else is a path that does not exist.
 * Nothing here pulls: an image absent from every engine is an error that says how to get it as a file.
 */
import { lstatSync } from 'node:fs';
import { SourceError } from '../model/errors.js';

export type EngineName = 'docker' | 'podman';

/** dive's `--source` values, and ours. */
export const SOURCE_KINDS = ['docker', 'podman', 'docker-archive', 'oci-archive'] as const;
export type SourceKindFlag = (typeof SOURCE_KINDS)[number];

export interface ImageReference {
  /** Repository, with its registry host when given (`localhost:5000/app`). */
  name: string;
  tag: string | null;
  digest: string | null;
}

// The grammar of github.com/distribution/reference (reference.go), which docker and podman parse with.
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|-+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
/** distribution/reference's NameTotalLengthMax. */
const NAME_MAX = 255;

/** The reference `s` names, or null when it is not one (`./app.tar`, `/x`, `App:1`, `a b`). */
export function parseImageReference(s: string): ImageReference | null {
  if (s.length > NAME_MAX + 200) return null;
  const m = REFERENCE.exec(s);
  if (!m || m[1]!.length > NAME_MAX) return null;
  return { name: m[1]!, tag: m[2] ?? null, digest: m[3] ?? null };
}

/** How a SOURCE as typed is to be read, decided before anything is opened. */
export type SourceSpec =
  /** A location openSource reads as it always has: a path, `-`, `docker:REF`, `podman:REF`. */
  | { kind: 'location'; location: string }
  /** An image the user named in one engine (`docker://REF`, `--source podman`). */
  | { kind: 'engine'; engine: EngineName; ref: string }
  /** Not a path here, but an image reference: to be looked up in the local engines, docker first. */
  | { kind: 'lookup'; ref: string };

const SCHEME = /^(docker|podman|docker-archive|oci-archive):\/\/(.*)$/s;

/**
 * Which of the rules above applies to `text` (with dive's `--source`, when given). `exists` is lstat by default:
 * the path the user typed is theirs, not evidence, but it is never followed to decide (a dangling link exists).
 */
export function sourceSpec(text: string, kindFlag?: SourceKindFlag, exists: (p: string) => boolean = pathExists): SourceSpec {
  // `--image-root DIR` (every store of a mounted disk), as the CLI passes it on.
  if (text.startsWith('image-root:')) {
    if (kindFlag) throw new SourceError('source.conflict', `--source ${kindFlag} and --image-root name two different sources`, text.slice('image-root:'.length));
    return { kind: 'location', location: text };
  }
  let kind: SourceKindFlag | undefined = kindFlag;
  let rest = text;
  const scheme = SCHEME.exec(text);
  if (scheme) {
    const given = scheme[1] as SourceKindFlag;
    if (kind && kind !== given) throw new SourceError('source.conflict', `--source ${kind} and the ${given}:// prefix disagree`, text);
    kind = given;
    rest = scheme[2]!;
    if (!rest) throw new SourceError('source.empty', `${given}:// names nothing (${given === 'docker' || given === 'podman' ? `${given}://nginx:latest` : `${given}://app.tar`})`, text);
  }
  // A file, whatever its name: `docker:app.tar` or `-` here are files in the working dir, never the engine's
  // `docker:REF` form nor stdin.
  if (kind === 'docker-archive' || kind === 'oci-archive') return { kind: 'location', location: /^(docker|podman):|^-$/.test(rest) ? `./${rest}` : rest };
  if (kind === 'docker' || kind === 'podman') {
    if (!parseImageReference(rest) && !/^(sha256:)?[0-9a-f]{12,64}$/.test(rest)) throw new SourceError('source.not-a-reference', `not an image reference or ID that ${kind} would accept`, rest);
    return { kind: 'engine', engine: kind, ref: rest };
  }
  if (text === '-' || /^(docker|podman):/.test(text) || exists(text)) return { kind: 'location', location: text };
  if (parseImageReference(text)) return { kind: 'lookup', ref: text };
  return { kind: 'location', location: text };
}

/**
 * The location openSource reads for a SOURCE that carries its scheme (`docker://REF` → `docker:REF`,
 * `oci-archive://PATH` → PATH); anything else as given. No engine is asked: that is the caller's (sourceSpec).
 */
export function schemeLocation(location: string): string {
  if (!SCHEME.test(location)) return location;
  const spec = sourceSpec(location, undefined, () => true);
  return spec.kind === 'engine' ? `${spec.engine}:${saveReference(spec.ref, null)}` : spec.kind === 'location' ? spec.location : location;
}

function pathExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch (err) {
    // Anything but "not there" (EACCES on a parent, ENOTDIR...) is about the path: opening it says what.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * What to ask `docker save` for. A reference with no tag and no digest means `:latest` to `docker run` and to
 * `docker image inspect`, but `docker save nginx` writes every tag of nginx: the tag is added, unless the
 * engine matched the text as an image ID prefix (then it is saved by ID, as typed).
 */
export function saveReference(ref: string, imageId: string | null): string {
  const r = parseImageReference(ref);
  if (!r || r.tag !== null || r.digest !== null) return ref;
  if (imageId && /^[0-9a-f]+$/.test(ref) && imageId.replace(/^sha256:/, '').startsWith(ref)) return ref;
  return `${ref}:latest`;
}

/** One engine's answer to "do you have REF?". */
export interface EngineAnswer {
  engine: EngineName;
  /** `has`: it holds the image; `lacks`: reachable, no such image; `unreachable`: not installed, no daemon... */
  status: 'has' | 'lacks' | 'unreachable';
  /** The image ID (`has`), or what the engine said (first line of its error, escaped by the caller). */
  detail: string;
}

export interface EngineLookupOptions {
  env?: NodeJS.ProcessEnv;
  dockerCommand?: string;
  podmanCommand?: string;
  /** Per engine (default 20 s: a DOCKER_HOST that does not answer must not hang the command). */
  timeoutMs?: number;
}

/** `docker image inspect REF`, then (unless docker has it) the same of podman. Never pulls. */
export async function lookUpInEngines(ref: string, opts: EngineLookupOptions = {}, engines: EngineName[] = ['docker', 'podman']): Promise<EngineAnswer[]> {
  const answers: EngineAnswer[] = [];
  for (const engine of engines) {
    const a = await askEngine(engine, ref, opts);
    answers.push(a);
    if (a.status === 'has') break;
  }
  return answers;
}

async function askEngine(engine: EngineName, ref: string, opts: EngineLookupOptions): Promise<EngineAnswer> {
  const cmd = engine === 'docker' ? (opts.dockerCommand ?? 'docker') : (opts.podmanCommand ?? 'podman');
  // Loaded here, as for `docker save`: execa costs startup time that reading files never needs.
  const { execa } = await import('execa');
  const r = await execa(cmd, ['image', 'inspect', '--format', '{{.Id}}', ref], {
    env: opts.env ?? process.env,
    extendEnv: opts.env === undefined,
    stdin: 'ignore',
    reject: false,
    timeout: opts.timeoutMs ?? 20_000,
    maxBuffer: 1 << 20,
  });
  if (r.exitCode === 0) return { engine, status: 'has', detail: String(r.stdout).trim().split('\n')[0] ?? '' };
  if (r.code === 'ENOENT' || /ENOENT/.test(r.shortMessage ?? '')) return { engine, status: 'unreachable', detail: `${cmd} is not installed (or not in PATH)` };
  if (r.timedOut) return { engine, status: 'unreachable', detail: `${cmd} did not answer within ${Math.round((opts.timeoutMs ?? 20_000) / 1000)} s` };
  const said = String(r.stderr ?? '').trim().split('\n').find((l) => l.trim()) ?? r.shortMessage ?? `exit ${r.exitCode}`;
  // docker: "Error: No such image: x" / "Error response from daemon: No such image"; podman: "image not known".
  if (/no such image|image not known|failed to find image/i.test(said)) return { engine, status: 'lacks', detail: said.replace(/^Error(?: response from daemon)?:\s*/i, '') };
  return { engine, status: 'unreachable', detail: said.replace(/^Error(?: response from daemon)?:\s*/i, '') };
}

/** Names that read as archive files (`app.tar`, `img.tar.gz`): valid references, but most likely a mistyped path. */
const ARCHIVE_NAME = /\.(tar|tgz|tzst|oci)(\.(gz|zst|zstd|xz|bz2))?$/i;

/**
 * The error for a reference no engine has, naming the file that is not there too (rule 3, when it was not
 * asked for as an engine's image), and how to get the image as a file instead.
 */
export function notInAnyEngine(typed: string, ref: string, answers: EngineAnswer[], asPath: boolean): SourceError {
  const said = answers.map((a) => `${a.engine}: ${a.status === 'lacks' ? `reachable, no image ${ref}` : a.detail}`).join('; ');
  const reachable = answers.filter((a) => a.status === 'lacks').map((a) => a.engine);
  const fileLike = ARCHIVE_NAME.test(ref);
  const engines = reachable.length ? `no local engine has an image ${ref}` : `no local engine is reachable to ask for an image ${ref}`;
  const head = asPath ? `no such file or directory; and ${engines}` : engines;
  const pull = reachable.length && !fileLike ? `. Pull it first (${reachable[0]} pull ${ref}), or` : '. Or,';
  const image = fileLike ? 'IMAGE' : ref;
  const file = fileLike ? 'app.tar' : `${parseImageReference(ref)?.name.split('/').pop() ?? 'app'}.tar`;
  return new SourceError(
    reachable.length ? 'source.not-in-engine' : 'engine.unavailable',
    `${head} (${said})${pull} where the image is, save it to a file and open that: docker save -o ${file} ${image}, then layerscope ${file}`,
    typed,
  );
}
