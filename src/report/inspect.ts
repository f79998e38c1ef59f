import type { ContainerInfo, ContainerInspect, ImageInfo, KubernetesIdentity, Problem } from '../core/model/types.js';
import type { ContainerRisks, RiskFinding } from '../core/analysis/risk.js';
import { safeMessage, safeText } from './format.js';

/**
 * `layerscope inspect`: what `docker inspect` prints, for a container or an image, read offline.
 *
 * JSON (`layerscope.inspect/v1`): `inspect` holds docker's own keys and shapes, so that
 * `jq .inspect` can be compared with `docker inspect X | jq '.[0]'` key by key; our additions (`risks`,
 * `problems`) sit beside it, never inside. Text groups the same fields for people; every value from the
 * evidence goes through safeText.
 */
export const INSPECT_SCHEMA = 'layerscope.inspect/v1';

export function containerInspectJson(c: ContainerInfo, risks: ContainerRisks | null, problems: readonly Problem[]): Record<string, unknown> {
  return { schema: INSPECT_SCHEMA, kind: 'container', inspect: c.inspect ?? null, risks: risks ? risksJson(risks) : null, problems: [...problems] };
}

export function risksJson(r: ContainerRisks): Record<string, unknown> {
  return { complete: r.complete, findings: r.findings };
}

/** A value as one line: strings as they are, everything else as compact JSON; escaped for the terminal. */
function show(v: unknown): string {
  if (v === undefined) return '-';
  // An empty string is shown as one: a blank could be anything.
  return safeText(typeof v === 'string' ? (v === '' ? '""' : v) : JSON.stringify(v));
}

function fields(out: string[], obj: Record<string, unknown> | null | undefined, keys: string[]): void {
  if (!obj) return;
  const w = Math.max(...keys.map((k) => k.length));
  for (const k of keys) if (k in obj) out.push(`  ${k.padEnd(w)}  ${show(obj[k])}`);
}

/** Lists and maps one member a line (Env, Labels, Binds...): long values stay readable. */
function listField(out: string[], name: string, v: unknown): void {
  if (v === undefined) return;
  if (Array.isArray(v) && v.length) {
    out.push(`  ${name}:`);
    for (const x of v) out.push(`    ${show(x)}`);
  } else if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) {
    out.push(`  ${name}:`);
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out.push(`    ${safeText(k)}${x && typeof x === 'object' && !Object.keys(x).length ? '' : ` = ${show(x)}`}`);
  } else out.push(`  ${name}: ${show(v)}`);
}

export function riskLines(r: ContainerRisks | null, indent = '  '): string[] {
  if (!r) return [`${indent}(no docker-inspect data for this container: nothing to judge)`];
  const out = r.findings.map((f) => `${indent}${riskLine(f)}`);
  if (!r.findings.length) out.push(`${indent}none found${r.complete ? '' : ' (HostConfig unreadable: its settings were not checked)'}`);
  else if (!r.complete) out.push(`${indent}(HostConfig unreadable: its settings were not checked)`);
  return out;
}

export function riskLine(f: RiskFinding): string {
  return `${f.severity.toUpperCase().padEnd(6)} ${safeMessage(f.field)} = ${safeText(f.value)}: ${safeText(f.message)}`;
}

/** A container's Kubernetes identity in words: `container app, pod web in namespace prod`. */
export function kubernetesText(k: KubernetesIdentity): string {
  const pod = `pod ${safeText(k.pod ?? '?')}${k.namespace ? ` in namespace ${safeText(k.namespace)}` : ''}`;
  return k.sandbox ? `the infrastructure (pause) container of ${pod}` : `container ${safeText(k.container ?? '?')}, ${pod}`;
}

/** `risksFirst`: the risk findings above the fields (the TUI's inspect tab leads with them). */
export function containerInspectText(c: ContainerInfo, risks: ContainerRisks | null, problems: readonly Problem[], opts: { risksFirst?: boolean } = {}): string {
  const ins: ContainerInspect | undefined = c.inspect;
  const out: string[] = [];
  const riskSection = ['RISKS (what gives the container power over its host; the field each comes from)', ...riskLines(risks)];
  if (opts.risksFirst) out.push(...riskSection, '');
  out.push(`CONTAINER ${safeText(c.name)}  ${c.id}`);
  if (c.kubernetes) out.push(`  Kubernetes       ${kubernetesText(c.kubernetes)}`);
  if (!ins) {
    out.push('  the source keeps no config.v2.json/hostconfig.json for this container (not a Docker container): nothing to inspect');
  } else {
    const top = ins as unknown as Record<string, unknown>;
    fields(out, top, ['Name', 'Created', 'Image', 'Path', 'Args', 'RestartCount', 'Driver', 'LogPath', 'AppArmorProfile']);
    out.push('', 'STATE');
    fields(out, ins.State, ['Status', 'Running', 'Paused', 'Restarting', 'OOMKilled', 'Dead', 'Pid', 'ExitCode', 'Error', 'StartedAt', 'FinishedAt']);
    out.push('', 'CONFIG');
    fields(out, ins.Config, ['Image', 'Hostname', 'Domainname', 'User', 'WorkingDir', 'Entrypoint', 'Cmd', 'StopSignal', 'Tty', 'OpenStdin']);
    for (const k of ['Env', 'ExposedPorts', 'Volumes', 'Labels']) listField(out, k, ins.Config?.[k]);
    out.push('', 'HOST CONFIG');
    if (!ins.HostConfig) out.push('  (hostconfig.json not read: see the problems)');
    else {
      const h = ins.HostConfig as Record<string, unknown>;
      fields(out, h, ['Privileged', 'NetworkMode', 'PidMode', 'IpcMode', 'UTSMode', 'UsernsMode', 'ReadonlyRootfs', 'AutoRemove', 'RestartPolicy', 'LogConfig']);
      for (const k of ['CapAdd', 'CapDrop', 'SecurityOpt', 'Binds', 'PortBindings', 'Devices']) listField(out, k, h[k]);
    }
    out.push('', 'MOUNTS');
    if (!ins.Mounts.length) out.push('  none');
    for (const m of ins.Mounts) out.push(`  ${safeText(m.Type ?? '-').padEnd(6)} ${m.Name ? `${safeText(m.Name)} ` : ''}${safeText(m.Source)} -> ${safeText(m.Destination)}  ${m.RW ? 'rw' : 'ro'}${m.Mode ? `  mode ${safeText(m.Mode)}` : ''}${m.Propagation ? `  ${safeText(m.Propagation)}` : ''}`);
  }
  if (!opts.risksFirst) out.push('', ...riskSection);
  if (problems.length) {
    out.push('', 'PROBLEMS');
    for (const p of problems) out.push(`  ${p.severity.toUpperCase().padEnd(7)} ${p.code}: ${safeMessage(p.message)}${p.path ? `\n          at ${safeMessage(p.path)}` : ''}`);
  }
  return out.join('\n') + '\n';
}

/**
 * `docker image inspect`'s core fields from the image config we hold: Id, RepoTags, RepoDigests, Created,
 * Author, Config, Architecture, Variant, Os, RootFS. (Size, Metadata and GraphDriver are the engine's own
 * bookkeeping, not the image's, and are left out.)
 */
export function imageInspectDoc(img: ImageInfo): Record<string, unknown> {
  const cfg = img.config;
  // On the containerd store docker names an image by its target (manifest or index) digest; one config
  // reached through several targets is several images there, and we cannot say which one was meant.
  const id = img.targets?.length === 1 ? img.targets[0]! : img.id;
  const out: Record<string, unknown> = { Id: id, RepoTags: img.tags, RepoDigests: img.digests };
  if (typeof cfg.created === 'string') out.Created = cfg.created;
  if (typeof cfg.author === 'string') out.Author = cfg.author;
  if (cfg.config !== undefined) {
    const c = cfg.config;
    // The containerd store converts the config into docker's container.Config keeping only the fields the
    // OCI image config has (moby dockerOCIImageConfigToContainerConfig), and prints the fields without
    // omitempty at their zero values; the classic store prints the config as built.
    out.Config = img.targets && c && typeof c === 'object' && !Array.isArray(c) ? { ...CONTAINER_CONFIG_ZERO, ...Object.fromEntries(Object.entries(c).filter(([k]) => OCI_CONFIG_KEYS.has(k))) } : c;
  }
  if (img.architecture) out.Architecture = img.architecture;
  if (img.variant) out.Variant = img.variant;
  if (img.os) out.Os = img.os;
  out.RootFS = { Type: 'layers', Layers: img.layers.map((l) => l.diffId) };
  return out;
}

const OCI_CONFIG_KEYS = new Set(['Entrypoint', 'Env', 'Cmd', 'User', 'WorkingDir', 'ExposedPorts', 'Volumes', 'Labels', 'ArgsEscaped', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell']);

/** docker's container.Config fields that have no omitempty, at their zero values, in its order. */
const CONTAINER_CONFIG_ZERO: Record<string, unknown> = {
  Hostname: '',
  Domainname: '',
  User: '',
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: null,
  Cmd: null,
  Image: '',
  Volumes: null,
  WorkingDir: '',
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

export function imageInspectJson(img: ImageInfo, problems: readonly Problem[]): Record<string, unknown> {
  return { schema: INSPECT_SCHEMA, kind: 'image', inspect: imageInspectDoc(img), problems: [...problems] };
}

export function imageInspectText(img: ImageInfo, problems: readonly Problem[]): string {
  const d = imageInspectDoc(img);
  const out: string[] = [`IMAGE ${img.tags.length ? img.tags.map(safeText).join(', ') : '<untagged>'}  ${img.id}`];
  fields(out, d, ['Created', 'Author', 'Architecture', 'Variant', 'Os']);
  listField(out, 'RepoDigests', d.RepoDigests);
  const c = (d.Config ?? null) as Record<string, unknown> | null;
  out.push('', 'CONFIG');
  if (!c || typeof c !== 'object') out.push('  none');
  else {
    fields(out, c, ['User', 'WorkingDir', 'Entrypoint', 'Cmd', 'StopSignal']);
    for (const k of ['Env', 'ExposedPorts', 'Volumes', 'Labels', 'OnBuild']) listField(out, k, c[k]);
  }
  out.push('', 'ROOTFS');
  img.layers.forEach((l, i) => out.push(`  ${String(i).padStart(3)}  ${l.diffId}`));
  if (problems.length) {
    out.push('', 'PROBLEMS');
    for (const p of problems) out.push(`  ${p.severity.toUpperCase().padEnd(7)} ${p.code}: ${safeMessage(p.message)}${p.path ? `\n          at ${safeMessage(p.path)}` : ''}`);
  }
  return out.join('\n') + '\n';
}
