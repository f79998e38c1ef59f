import type { ContainerInfo, ContainerInspect, ContainerState, InspectHostConfig, InspectMount, Problem } from '../model/types.js';
import { problem } from '../model/types.js';
import { JsonDoc, parseJson, type JsonObj } from './shape.js';
import { describeFsError, Evidence, EvidenceError, throwIfPermission } from './evidence.js';

/**
 * `containers/<id>/config.v2.json`, as both image stores of a Docker data root keep it (formats.md §3), read
 * through the shape checker: a document that is not an object, or fields of the wrong type (a numeric Name,
 * an array State, MountPoints that is a string, null mount points) are one problem naming the file and every
 * wrong field; the container is still listed from what was well-formed.
 */
export interface ConfigV2 extends Pick<ContainerInfo, 'imageRef' | 'state' | 'pid' | 'exitCode' | 'startedAt' | 'finishedAt' | 'created' | 'driver' | 'mounts' | 'seccompProfile'> {
  /** Without the leading '/'; null when absent. */
  name: string | null;
  /** `Image`: the image ID (classic store) or the manifest/index digest (containerd store). */
  image: string | null;
  /** What `docker inspect` prints, as far as config.v2.json holds it (HostConfig: null until hostconfig.json is read). */
  inspect: ContainerInspect;
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
    inspect: cfg.inspect,
    seccompProfile: cfg.seccompProfile,
  } satisfies Partial<ContainerInfo>;
}

export interface ReadConfigV2 {
  /** Null when the document cannot be used at all (not JSON, not an object). */
  config: ConfigV2 | null;
  problems: Problem[];
}

export function readConfigV2(bytes: Uint8Array, file: string, id: string): ReadConfigV2 {
  const parsed = parseJson(bytes);
  if (!parsed.ok) return { config: null, problems: [problem('error', 'containers.config.invalid-json', `invalid JSON (the container is left out): ${parsed.reason}`, file)] };
  const doc = new JsonDoc(file, 'config.v2.json');
  const cfg = doc.root(parsed.value);
  const config = cfg ? { ...fields(cfg), inspect: readInspectFields(cfg, id) } : null;
  const p = doc.problem('containers.config.bad-shape', 'error', config ? undefined : 'config.v2.json is unusable, the container is left out');
  return { config, problems: p ? [p] : [] };
}

function fields(cfg: JsonObj): Omit<ConfigV2, 'inspect'> {
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
    seccompProfile: cfg.str('SeccompProfile'),
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

/** Set `out[key]` from `o[key]` when the document holds the key: null stays null, a wrong type reads as null. */
function copy<T>(out: Record<string, unknown>, o: JsonObj, key: string, read: (o: JsonObj, key: string) => T | null): void {
  if (o.has(key)) out[key] = o.raw(key) === null ? null : read(o, key);
}

const str = (o: JsonObj, k: string) => o.str(k);
const bool = (o: JsonObj, k: string) => o.bool(k);
const int = (o: JsonObj, k: string) => o.int(k);
const strList = (o: JsonObj, k: string) => {
  const a = o.arr(k);
  return a ? a.strs().map(([, s]) => s) : null;
};
const strMap = (o: JsonObj, k: string) => {
  const m = o.obj(k);
  return m ? Object.fromEntries(m.strs()) : null;
};
/** A set as Go writes map[string]struct{}: every member `{}`. */
const strSet = (o: JsonObj, k: string) => {
  const m = o.obj(k);
  return m ? Object.fromEntries(m.objs().map(([key]) => [key, {}])) : null;
};

/** The `State` docker inspect prints: the recorded flags, and the Status the engine derives from them. */
function stateOf(st: JsonObj): Record<string, unknown> {
  const flags = ['Running', 'Paused', 'Restarting', 'OOMKilled', 'Dead'] as const;
  const v = Object.fromEntries(flags.map((k) => [k, st.bool(k) ?? false])) as Record<(typeof flags)[number], boolean>;
  const removing = st.bool('RemovalInProgress') ?? false;
  const startedAt = st.str('StartedAt') ?? '';
  // moby container.State.StateString: running wins over the other flags, then removing, dead, created, exited.
  const status = v.Running ? (v.Paused ? 'paused' : v.Restarting ? 'restarting' : 'running') : removing ? 'removing' : v.Dead ? 'dead' : startedAt === '' || startedAt.startsWith('0001-01-01T00:00:00') ? 'created' : 'exited';
  return { Status: status, ...v, Pid: st.int('Pid') ?? 0, ExitCode: st.int('ExitCode') ?? 0, Error: st.str('Error') ?? '', StartedAt: startedAt, FinishedAt: st.str('FinishedAt') ?? '' };
}

/**
 * `Mounts`, as moby's addMountPoints builds it from MountPoints (empty Type, Name, Driver are omitted). The
 * engine keeps a mount point's Mode under the JSON name `Relabel` (volume.MountPoint.Mode `json:"Relabel"`).
 */
function mountsOf(cfg: JsonObj): InspectMount[] {
  return (cfg.obj('MountPoints')?.objs() ?? [])
    .map(([, m]): InspectMount => {
      const out: InspectMount = { Source: m.str('Source') ?? '', Destination: m.str('Destination') ?? '', Mode: m.str('Relabel') ?? '', RW: m.bool('RW') ?? false, Propagation: m.str('Propagation') ?? '' };
      const type = m.str('Type');
      const name = m.str('Name');
      const driver = m.str('Driver');
      // Key order as docker prints them.
      return { ...(type ? { Type: type } : {}), ...(name ? { Name: name } : {}), Source: out.Source, Destination: out.Destination, ...(driver ? { Driver: driver } : {}), Mode: out.Mode, RW: out.RW, Propagation: out.Propagation };
    })
    // The engine walks a Go map (random order); sorted by destination, two runs print the same.
    .sort((a, b) => (a.Destination < b.Destination ? -1 : a.Destination > b.Destination ? 1 : 0));
}

const CONFIG_KEYS: [string, (o: JsonObj, k: string) => unknown][] = [
  ['Hostname', str],
  ['Domainname', str],
  ['User', str],
  ['ExposedPorts', strSet],
  ['Tty', bool],
  ['OpenStdin', bool],
  ['Env', strList],
  ['Cmd', strList],
  ['Image', str],
  ['Volumes', strSet],
  ['WorkingDir', str],
  ['Entrypoint', strList],
  ['Labels', strMap],
  ['StopSignal', str],
];

function configOf(c: JsonObj): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, read] of CONFIG_KEYS) copy(out, c, k, read);
  return out;
}

/** The docker-inspect fields config.v2.json holds (HostConfig comes from hostconfig.json: see readHostConfig). */
export function readInspectFields(cfg: JsonObj, id: string): ContainerInspect {
  const out: Record<string, unknown> = { Id: id };
  copy(out, cfg, 'Created', str);
  copy(out, cfg, 'Path', str);
  copy(out, cfg, 'Args', strList);
  const st = cfg.obj('State');
  if (st) out.State = stateOf(st);
  for (const k of ['Image', 'ResolvConfPath', 'HostnamePath', 'HostsPath', 'LogPath', 'Name']) copy(out, cfg, k, str);
  copy(out, cfg, 'RestartCount', int);
  copy(out, cfg, 'Driver', str);
  copy(out, cfg, 'AppArmorProfile', str);
  out.HostConfig = null;
  out.Mounts = mountsOf(cfg);
  const c = cfg.obj('Config');
  if (c) out.Config = configOf(c);
  else if (cfg.has('Config')) out.Config = null;
  return out as unknown as ContainerInspect;
}

export interface ReadHostConfig {
  hostConfig: InspectHostConfig | null;
  problems: Problem[];
}

/**
 * `containers/<id>/hostconfig.json`: how the container was started (binds, ports, privileges, namespaces).
 * Read through the shape checker like config.v2.json; a document that is not JSON or not an object is one
 * problem naming the file, and the container is still listed and inspected without its HostConfig.
 */
export function readHostConfig(bytes: Uint8Array, file: string): ReadHostConfig {
  const parsed = parseJson(bytes);
  if (!parsed.ok) return { hostConfig: null, problems: [problem('error', 'containers.hostconfig.invalid-json', `invalid JSON (the container's HostConfig and risk findings are left out): ${parsed.reason}`, file)] };
  const doc = new JsonDoc(file, 'hostconfig.json');
  const h = doc.root(parsed.value);
  const hostConfig = h ? hostConfigOf(h) : null;
  const p = doc.problem('containers.hostconfig.bad-shape', 'error', hostConfig ? undefined : "hostconfig.json is unusable, the container's HostConfig and risk findings are left out");
  return { hostConfig, problems: p ? [p] : [] };
}

function hostConfigOf(h: JsonObj): InspectHostConfig {
  const out: Record<string, unknown> = {};
  copy(out, h, 'Binds', strList);
  copy(out, h, 'PortBindings', (o, k) => {
    const m = o.obj(k);
    if (!m) return null;
    const ports: Record<string, unknown> = {};
    for (const port of m.keys()) {
      if (m.raw(port) === null) {
        ports[port] = null;
        continue;
      }
      const list = m.arr(port);
      if (list) ports[port] = list.objs().map(([, b]) => ({ HostIp: b.str('HostIp') ?? '', HostPort: b.str('HostPort') ?? '' }));
    }
    return ports;
  });
  for (const k of ['Privileged', 'ReadonlyRootfs', 'AutoRemove']) copy(out, h, k, bool);
  for (const k of ['CapAdd', 'CapDrop', 'SecurityOpt', 'DeviceCgroupRules']) copy(out, h, k, strList);
  for (const k of ['NetworkMode', 'PidMode', 'IpcMode', 'UTSMode', 'UsernsMode']) copy(out, h, k, str);
  copy(out, h, 'Devices', (o, k) => o.arr(k)?.objs().map(([, d]) => ({ PathOnHost: d.str('PathOnHost') ?? '', PathInContainer: d.str('PathInContainer') ?? '', CgroupPermissions: d.str('CgroupPermissions') ?? '' })) ?? null);
  copy(out, h, 'RestartPolicy', (o, k) => {
    const r = o.obj(k);
    return r ? { Name: r.str('Name') ?? '', MaximumRetryCount: r.int('MaximumRetryCount') ?? 0 } : null;
  });
  copy(out, h, 'LogConfig', (o, k) => {
    const l = o.obj(k);
    return l ? { Type: l.str('Type') ?? '', Config: l.has('Config') && l.raw('Config') !== null ? strMap(l, 'Config') : null } : null;
  });
  return out as InspectHostConfig;
}

/** hostconfig.json is a few KB; anything past 1 MiB is not the engine's and is not loaded (each entry becomes output). */
export const MAX_HOSTCONFIG = 1 << 20;

/**
 * Read `containers/<id>/hostconfig.json` of a data root (through the no-follow Evidence reader: a symlink, a
 * directory or a file past MAX_HOSTCONFIG is refused) into `inspect.HostConfig`. What goes wrong is returned as
 * problems naming the file; the container stays listed either way. A permission error is rethrown: that is no
 * finding about the evidence, the whole source cannot be read.
 */
export function attachHostConfig(ev: Evidence, id: string, inspect: ContainerInspect): Problem[] {
  const file = ev.path('containers', id, 'hostconfig.json');
  let bytes: Buffer | null;
  try {
    bytes = ev.readFile(MAX_HOSTCONFIG, 'containers', id, 'hostconfig.json');
  } catch (err) {
    throwIfPermission(err, file);
    const why = err instanceof EvidenceError ? err.message : describeFsError(err);
    return [problem('error', err instanceof EvidenceError ? err.code : 'evidence.unreadable', `hostconfig.json not read (the container's HostConfig and risk findings are left out): ${why}`, file)];
  }
  // The engine writes config.v2.json and hostconfig.json together, from create on: one without the other was removed.
  if (bytes === null) return [problem('error', 'containers.hostconfig.missing', "no hostconfig.json beside config.v2.json (the engine writes both): the container's HostConfig and risk findings are left out", file)];
  const read = readHostConfig(bytes, file);
  inspect.HostConfig = read.hostConfig;
  return read.problems;
}
