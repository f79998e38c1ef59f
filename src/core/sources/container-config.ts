import type { ContainerInfo, ContainerState, Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { JsonDoc, parseJson, type JsonObj } from './shape.js';

/**
 * `containers/<id>/config.v2.json`, as both image stores of a Docker data root keep it (formats.md §3), read
 * through the shape checker: a document that is not an object, or fields of the wrong type (a numeric Name,
 * an array State, MountPoints that is a string, null mount points) are one problem naming the file and every
 * wrong field; the container is still listed from what was well-formed.
 */
export interface ConfigV2 extends Pick<ContainerInfo, 'imageRef' | 'state' | 'pid' | 'exitCode' | 'startedAt' | 'finishedAt' | 'created' | 'driver' | 'mounts'> {
  /** Without the leading '/'; null when absent. */
  name: string | null;
  /** `Image`: the image ID (classic store) or the manifest/index digest (containerd store). */
  image: string | null;
}

/** The fields of a ContainerInfo that config.v2.json gives as they are, whichever store keeps the layers. */
export function containerFields(id: string, cfg: ConfigV2) {
  return {
    id,
    name: cfg.name ?? id.slice(0, 12),
    imageRef: cfg.imageRef,
    state: cfg.state,
    pid: cfg.pid,
    exitCode: cfg.exitCode,
    startedAt: cfg.startedAt,
    finishedAt: cfg.finishedAt,
    created: cfg.created,
    driver: cfg.driver,
    mounts: cfg.mounts,
  } satisfies Partial<ContainerInfo>;
}

export interface ReadConfigV2 {
  /** Null when the document cannot be used at all (not JSON, not an object). */
  config: ConfigV2 | null;
  problems: Problem[];
}

export function readConfigV2(bytes: Uint8Array, file: string): ReadConfigV2 {
  const parsed = parseJson(bytes);
  if (!parsed.ok) return { config: null, problems: [problem('error', 'containers.config.invalid-json', `invalid JSON (the container is left out): ${parsed.reason}`, file)] };
  const doc = new JsonDoc(file, 'config.v2.json');
  const cfg = doc.root(parsed.value);
  const config = cfg ? fields(cfg) : null;
  const p = doc.problem('containers.config.bad-shape', 'error', config ? undefined : 'config.v2.json is unusable, the container is left out');
  return { config, problems: p ? [p] : [] };
}

function fields(cfg: JsonObj): ConfigV2 {
  const st = cfg.obj('State');
  const startedAt = st?.str('StartedAt') ?? null;
  const state = dockerState(st, startedAt);
  return {
    name: cfg.str('Name')?.replace(/^\//, '') ?? null,
    image: cfg.str('Image'),
    imageRef: cfg.obj('Config')?.str('Image') ?? null,
    state,
    pid: st?.int('Pid') ?? null,
    exitCode: st?.int('ExitCode') ?? null,
    startedAt,
    finishedAt: st?.str('FinishedAt') ?? null,
    created: cfg.str('Created'),
    driver: cfg.str('Driver'),
    mounts: (cfg.obj('MountPoints')?.objs() ?? []).map(([, m]) => ({
      destination: m.str('Destination') ?? '',
      source: m.str('Source'),
      name: m.str('Name') || null,
      type: m.str('Type'),
      rw: m.bool('RW') ?? false,
    })),
  };
}

/** The state `docker ps -a` would show, from the last State the engine recorded. */
function dockerState(st: JsonObj | null, started: string | null): ContainerState {
  if (!st) return 'created';
  // Every flag is read (and so shape-checked) before any decides.
  const [dead, removing, restarting, paused, running] = ['Dead', 'RemovalInProgress', 'Restarting', 'Paused', 'Running'].map((k) => st.bool(k));
  if (dead) return 'dead';
  if (removing) return 'removing';
  if (restarting) return 'restarting';
  if (paused) return 'paused';
  if (running) return 'running';
  return started && started !== '0001-01-01T00:00:00Z' ? 'exited' : 'created';
}
