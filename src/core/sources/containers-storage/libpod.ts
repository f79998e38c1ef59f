import type { ContainerState } from '../../model/types.js';
import { BoltError, openBolt, type BoltDb } from '../containerd/bbolt.js';
import { Evidence, EvidenceError, throwIfPermission } from '../evidence.js';
import { JsonDoc, parseJson, type JsonObj } from '../shape.js';
import type { Note } from './store.js';

/**
 * podman's own container state (`libpod/bolt_state.db`, podman 4.x's default BoltDB state): per container,
 * bucket `ctr/<id>` holds `config` (the container's libpod config, JSON, with the OCI spec) and `state` (JSON:
 * the state number, pid, exit code, times). containers.json knows nothing of these: without this file a
 * container has no state, command or exit code.
 */

export interface LibpodContainer {
  name: string | null;
  state: ContainerState;
  /** libpod's own word for it (`exited`, `stopped`, `configured`...). */
  status: string;
  exitCode: number | null;
  pid: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  created: string | null;
  imageId: string | null;
  imageName: string | null;
  args: string[] | null;
  env: string[] | null;
  workingDir: string | null;
  user: string | null;
  annotations: Record<string, string>;
  mounts: { destination: string; source: string | null; type: string | null; rw: boolean }[];
  pod: string | null;
  privileged: boolean | null;
}

/** libpod/define ContainerStatus, by number. */
const STATUS = ['unknown', 'configured', 'created', 'running', 'stopped', 'paused', 'exited', 'removing', 'stopping'] as const;
const AS_STATE: Record<string, ContainerState> = {
  unknown: 'dead',
  configured: 'created',
  created: 'created',
  running: 'running',
  stopped: 'exited',
  paused: 'paused',
  exited: 'exited',
  removing: 'removing',
  stopping: 'running',
};

const MAX_DOC = 16 << 20;

export function readLibpodState(ev: Evidence, note: Note): Map<string, LibpodContainer> | null {
  const parts = ['libpod', 'bolt_state.db'];
  let st;
  try {
    st = ev.lstat(...parts);
  } catch (err) {
    throwIfPermission(err, ev.path(...parts));
    if (err instanceof EvidenceError) note('error', err.code, err.message.replace(`${err.path}: `, ''), err.path);
    return null;
  }
  if (!st) return null;
  const file = ev.path(...parts);
  if (!st.isFile()) {
    note('error', 'libpod.state.not-a-file', 'is not a regular file; podman\'s container state is not read', file);
    return null;
  }
  let db: BoltDb;
  try {
    db = openBolt(file);
  } catch (err) {
    throwIfPermission(err, file);
    if (!(err instanceof BoltError)) throw err;
    note('error', 'libpod.state.unreadable', `${err.message.replace(`${file}: `, '')}: not a readable BoltDB; containers are listed without their state`, file);
    return null;
  }
  const out = new Map<string, LibpodContainer>();
  try {
    const ctrs = db.bucket(['ctr']);
    if (!ctrs) {
      note('warning', 'libpod.state.no-containers', 'has no ctr bucket: not a podman state database, or an empty one', file);
      return out;
    }
    const exitCodes = db.bucket(['exit-code']);
    for (const key of ctrs.bucketNames()) {
      const id = key.toString('latin1');
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      const b = ctrs.bucket(key);
      if (!b) continue;
      const config = json(b.get('config'), `${file} ctr/${id}/config`, note, file);
      const state = json(b.get('state'), `${file} ctr/${id}/state`, note, file);
      const spec = config?.obj('spec') ?? null;
      const proc = spec?.obj('process') ?? null;
      const num = state?.int('state') ?? null;
      const status = num !== null && num >= 0 && num < STATUS.length ? STATUS[num]! : 'unknown';
      let exitCode = state?.int('exitCode') ?? null;
      const recorded = exitCodes?.get(key)?.toString('latin1');
      if (recorded !== undefined && /^-?\d{1,10}$/.test(recorded)) exitCode = Number(recorded);
      if (exitCode === null && (status === 'exited' || status === 'stopped')) exitCode = 0; // Go omits a zero exitCode
      const annotations: Record<string, string> = {};
      for (const [k, v] of spec?.obj('annotations')?.strs() ?? []) annotations[k] = v;
      out.set(id, {
        name: config?.str('name') ?? null,
        state: AS_STATE[status]!,
        status,
        exitCode,
        pid: state?.int('pid') ?? null,
        startedAt: zeroTime(state?.str('startedTime') ?? null),
        finishedAt: zeroTime(state?.str('finishedTime') ?? null),
        created: zeroTime(config?.str('createdTime') ?? null),
        imageId: config?.str('rootfsImageID') ?? null,
        imageName: config?.str('rootfsImageName') ?? null,
        args: proc?.arr('args')?.strs().map(([, s]) => s) ?? null,
        env: proc?.arr('env')?.strs().map(([, s]) => s) ?? null,
        workingDir: proc?.str('cwd') ?? null,
        // What `--user` set (podman inspect's Config.User), not the spec's resolved uid:gid.
        user: config?.str('user') ?? '',
        annotations,
        mounts: mountsOf(spec),
        pod: config?.str('pod') || null,
        privileged: config?.bool('privileged') ?? null,
      });
    }
  } catch (err) {
    if (!(err instanceof BoltError)) throw err;
    note('error', 'libpod.state.damaged', `${err.message.replace(`${file}: `, '')}; the containers read before the damage keep their state`, file);
  } finally {
    db.close();
  }
  return out;
}

function json(bytes: Buffer | null, what: string, note: Note, file: string): JsonObj | null {
  if (!bytes) return null;
  if (bytes.length > MAX_DOC) {
    note('error', 'libpod.state.too-large', `${what} is ${bytes.length} bytes; not read`, file);
    return null;
  }
  const parsed = parseJson(bytes);
  if (!parsed.ok) {
    note('error', 'libpod.state.invalid-json', `${what}: invalid JSON: ${parsed.reason}`, file);
    return null;
  }
  const doc = new JsonDoc(file, what);
  const o = doc.root(parsed.value);
  const p = doc.problem('libpod.state.bad-shape', 'warning');
  if (p) note(p.severity, p.code, p.message, p.path);
  return o;
}

/** Go's zero time means "never". */
function zeroTime(t: string | null): string | null {
  return t === null || t.startsWith('0001-01-01') ? null : t;
}

/** The spec's bind mounts (what reaches the host); proc, sysfs, tmpfs and the like say nothing about the host. */
function mountsOf(spec: JsonObj | null): LibpodContainer['mounts'] {
  const out: LibpodContainer['mounts'] = [];
  for (const m of spec?.arr('mounts')?.objects() ?? []) {
    if (!m) continue;
    const type = m.str('type');
    const opts = (m.arr('options')?.strs() ?? []).map(([, s]) => s);
    if (type !== 'bind' && !opts.includes('bind') && !opts.includes('rbind')) continue;
    const destination = m.str('destination');
    if (!destination) continue;
    out.push({ destination, source: m.str('source'), type: 'bind', rw: !opts.includes('ro') });
  }
  return out;
}
