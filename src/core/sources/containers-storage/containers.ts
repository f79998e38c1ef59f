import type { ContainerInfo, ContainerInspect, ImageInfo, KubernetesIdentity } from '../../model/types.js';
import { Evidence, EvidenceError, throwIfPermission } from '../evidence.js';
import { JsonDoc, parseJson, type JsonObj } from '../shape.js';
import type { LibpodContainer } from './libpod.js';
import type { CsContainer, CsLayer, Note } from './store.js';

/**
 * A containers.json record as a ContainerInfo: podman's state from libpod when it has the container, buildah's
 * working containers (buildah.json), CRI-O's pod identity (the record's metadata, the OCI config's annotations).
 */

/**
 * What `podman diff` leaves out though the RW layer holds it (libpod diff.go initInodes): the placeholders podman
 * makes for its bind mounts. Exact paths: a file below /run is still a change.
 */
export const PODMAN_DIFF_HIDES: readonly string[] = ['/dev', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/proc', '/run', '/run/notify', '/run/.containerenv', '/run/secrets', '/run/podman-init', '/sys', '/etc/mtab'];

const MAX_DOC = 16 << 20;

export function buildContainer(ev: Evidence, rec: CsContainer, pod: LibpodContainer | null, images: ImageInfo[], layer: CsLayer | null, rwDir: string | null, note: Note, sandboxes: Map<string, CsContainer>, fuse: boolean, userNamespace: string | null): ContainerInfo {
  const meta = rec.metadata;
  const image = rec.image ? images.find((i) => i.id === 'sha256:' + rec.image) ?? null : null;
  const buildah = pod ? null : readBuildah(ev, rec.id, note);
  const kubernetes = crioIdentity(ev, rec, sandboxes, note);
  const name = pod?.name ?? rec.names[0] ?? meta?.str('name') ?? rec.id.slice(0, 12);
  const imageRef = pod?.imageName ?? buildah?.fromImage ?? meta?.str('image-name') ?? null;
  // Without podman's state (a buildah working container, a CRI-O container, a store whose libpod is gone) the
  // store says the container exists and nothing of whether it ran.
  const state = pod?.state ?? 'created';
  return {
    id: rec.id,
    name,
    image: rec.image ? 'sha256:' + rec.image : '',
    imageRef,
    state,
    pid: pod?.pid || null,
    exitCode: pod?.exitCode ?? null,
    startedAt: pod?.startedAt ?? null,
    finishedAt: pod?.finishedAt ?? null,
    created: pod?.created ?? rec.created,
    driver: 'overlay',
    mountId: layer?.id ?? null,
    initId: null,
    parentChainId: image?.layers[image.layers.length - 1]?.chainId ?? null,
    rwDir,
    initDir: null,
    layout: 'diff',
    stateDir: ev.path(`overlay-containers`, rec.id),
    mounts: (pod?.mounts ?? []).map((m) => ({ destination: m.destination, source: m.source, name: null, type: m.type, rw: m.rw })),
    inspect: pod ? inspectOf(rec, pod, name) : undefined,
    diffHides: PODMAN_DIFF_HIDES,
    // containers/storage diffs a kernel overlay's upper dir itself; through fuse-overlayfs it compares trees.
    diffMethod: fuse ? 'naive' : 'layer',
    kubernetes,
    ...(userNamespace ? { userNamespace } : {}),
  };
}

/** What `podman inspect` prints that libpod's state holds (Docker's keys, which podman's inspect shares). */
function inspectOf(rec: CsContainer, pod: LibpodContainer, name: string): ContainerInspect {
  const args = pod.args ?? [];
  return {
    Id: rec.id,
    Created: pod.created,
    Path: args[0] ?? null,
    Args: args.slice(1),
    State: {
      Status: pod.status,
      Running: pod.status === 'running',
      Paused: pod.status === 'paused',
      Pid: pod.pid ?? 0,
      ExitCode: pod.exitCode ?? 0,
      StartedAt: pod.startedAt,
      FinishedAt: pod.finishedAt,
    },
    Image: rec.image,
    Name: name,
    Driver: 'overlay',
    HostConfig: pod.privileged !== null ? { Privileged: pod.privileged } : null,
    Mounts: pod.mounts.map((m) => ({ Type: 'bind', Source: m.source ?? '', Destination: m.destination, Mode: '', RW: m.rw, Propagation: '' })),
    Config: { Cmd: args, Env: pod.env, WorkingDir: pod.workingDir, User: pod.user, Image: pod.imageName, Annotations: pod.annotations },
  };
}

function readJson(ev: Evidence, note: Note, what: string, ...parts: string[]): JsonObj | null {
  let bytes: Buffer | null;
  try {
    bytes = ev.readFile(MAX_DOC, ...parts);
  } catch (err) {
    throwIfPermission(err, ev.path(...parts));
    if (err instanceof EvidenceError) note('warning', err.code, err.message.replace(`${err.path}: `, ''), err.path);
    return null;
  }
  if (!bytes) return null;
  const parsed = parseJson(bytes);
  const file = ev.path(...parts);
  if (!parsed.ok) {
    note('warning', `${what}.invalid-json`, `invalid JSON: ${parsed.reason}`, file);
    return null;
  }
  const doc = new JsonDoc(file, what);
  const o = doc.root(parsed.value);
  const p = doc.problem(`${what}.bad-shape`, 'warning');
  if (p) note(p.severity, p.code, p.message, p.path);
  return o;
}

/** buildah's state of a working container (`userdata/buildah.json`): which image it was made from. */
function readBuildah(ev: Evidence, id: string, note: Note): { fromImage: string | null } | null {
  const o = readJson(ev, note, 'buildah', 'overlay-containers', id, 'userdata', 'buildah.json');
  if (!o) return null;
  // buildah's Builder: `image` is the name it was made from, `image-id` that image's id.
  return { fromImage: o.str('image') || o.str('image-id') || null };
}

/**
 * CRI-O's record metadata (cri-o internal/storage RuntimeContainerMetadata): `pod-name`, `pod-id`, `name`,
 * `metadata-name`, `pod` (the infra container), `namespace` (on the pod's own record). A container's namespace
 * is its pod's; failing that, the OCI config's io.kubernetes.pod.namespace annotation.
 */
function crioIdentity(ev: Evidence, rec: CsContainer, sandboxes: Map<string, CsContainer>, note: Note): KubernetesIdentity | null {
  const meta = rec.metadata;
  if (!meta || (!meta.has('pod-name') && !meta.has('pod-id'))) return null;
  const podId = meta.str('pod-id');
  const sandbox = meta.bool('pod') === true;
  let namespace = meta.str('namespace');
  if (!namespace && podId) namespace = sandboxes.get(podId)?.metadata?.str('namespace') ?? null;
  // The pod's Kubernetes name is its own record's metadata-name; `pod-name` is CRI-O's name for the sandbox.
  const podRecord = sandbox ? rec : podId ? sandboxes.get(podId) : undefined;
  let pod = podRecord?.metadata?.str('metadata-name') ?? meta.str('pod-name');
  let container = sandbox ? null : meta.str('metadata-name') ?? meta.str('name');
  const annotations = readJson(ev, note, 'crio.config', 'overlay-containers', rec.id, 'userdata', 'config.json')?.obj('annotations');
  if (annotations) {
    const a = new Map(annotations.strs());
    namespace ??= a.get('io.kubernetes.pod.namespace') ?? null;
    pod = a.get('io.kubernetes.pod.name') ?? pod;
    if (!sandbox) container = a.get('io.kubernetes.container.name') ?? container;
  }
  return { pod, podId, namespace, container, sandbox };
}
