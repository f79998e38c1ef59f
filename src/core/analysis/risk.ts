import * as path from 'node:path';
import type { ContainerInfo, ContainerInspect } from '../model/types.js';

/**
 * What gives a container power over its host, read from what `docker inspect` shows (config.v2.json and
 * hostconfig.json). Each finding names the docker-inspect field it came from and the value found there, so a
 * reader can check it against the evidence. Only facts recorded in those files are used: a setting of the
 * daemon (a default seccomp profile turned off for all, userns-remap) is not in them, except where the data
 * root's own layout shows it (see `usernsRemapped`).
 */
export type RiskSeverity = 'high' | 'medium';

export interface RiskFinding {
  /** Stable identifier, e.g. `risk.privileged`. */
  code: string;
  severity: RiskSeverity;
  /** The docker-inspect field, e.g. `HostConfig.CapAdd` or `Mounts[/host].Source`. */
  field: string;
  /** The value found there, as text. */
  value: string;
  message: string;
}

export interface ContainerRisks {
  findings: RiskFinding[];
  /** False when hostconfig.json could not be read: the HostConfig findings could not be looked for. */
  complete: boolean;
}

/** Engine API sockets: whoever holds one can start a privileged container, i.e. is root on the host. */
const ENGINE_SOCKETS = new Set([
  '/var/run/docker.sock',
  '/run/docker.sock',
  '/run/containerd/containerd.sock',
  '/var/run/containerd/containerd.sock',
  '/run/podman/podman.sock',
  '/var/run/podman/podman.sock',
  '/run/crio/crio.sock',
  '/var/run/crio/crio.sock',
]);
/** Directories that hold those sockets: mounting one hands over the socket inside. */
const SOCKET_DIRS = new Set(['/run', '/var/run', '/run/containerd', '/var/run/containerd', '/run/podman', '/var/run/podman', '/run/crio', '/var/run/crio']);
/** Host paths whose bind mount gives the host away (root's files, credentials, the kernel's interfaces, the engine's state). */
const HOST_PATHS = new Set(['/', '/etc', '/root', '/boot', '/proc', '/sys', '/dev', '/usr', '/lib/modules', '/var/lib/docker', '/var/lib/containerd', '/var/lib/kubelet', '/home']);
/** Capabilities that break isolation outright (mount, ptrace of host processes, kernel modules, raw I/O, network config...). */
const DANGEROUS_CAPS = new Set(['ALL', 'SYS_ADMIN', 'SYS_PTRACE', 'SYS_MODULE', 'SYS_RAWIO', 'DAC_READ_SEARCH', 'DAC_OVERRIDE', 'NET_ADMIN', 'SYS_BOOT', 'SYS_TIME', 'BPF', 'PERFMON', 'MAC_ADMIN', 'MAC_OVERRIDE', 'SYSLOG', 'LINUX_IMMUTABLE']);

/** `/var/run/`, `//etc/`, `/tmp/../etc` → `/var/run`, `/etc`: the path a mount really names (the kernel resolves `..`). */
function normalHostPath(p: string): string {
  return path.posix.resolve('/', p);
}

function capName(c: string): string {
  return c.toUpperCase().replace(/^CAP_/, '');
}

/**
 * The risk findings of a container, or null when the source keeps no docker-inspect data for it.
 * A container of a userns-remap engine is not flagged for running as root (uid 0 inside is an unprivileged uid
 * outside) unless it opted out (`UsernsMode: host`); such an engine keeps its files in a `<uid>.<gid>` data
 * root, which the paths it recorded for the container show. Nor is a container the source knows ran in a user
 * namespace of its own (`userNamespace`: a rootless podman's).
 */
export function containerRisks(c: Pick<ContainerInfo, 'inspect' | 'seccompProfile' | 'userNamespace'>): ContainerRisks | null {
  const ins: ContainerInspect | undefined = c.inspect;
  if (!ins) return null;
  const usernsRemapped = !!c.userNamespace || [ins.LogPath, ins.HostnamePath, ins.ResolvConfPath, ins.HostsPath].some((p) => typeof p === 'string' && /\/\d+\.\d+\/containers\//.test(p));
  const out: RiskFinding[] = [];
  const add = (code: string, severity: RiskSeverity, field: string, value: string, message: string) => out.push({ code, severity, field, value, message });
  const h = ins.HostConfig;
  if (h) {
    if (h.Privileged) add('risk.privileged', 'high', 'HostConfig.Privileged', 'true', 'privileged: every capability, every host device, no seccomp, AppArmor or SELinux confinement');
    for (const cap of h.CapAdd ?? []) {
      const name = capName(cap);
      add('risk.cap-add', DANGEROUS_CAPS.has(name) ? 'high' : 'medium', 'HostConfig.CapAdd', cap, `capability ${name} added${DANGEROUS_CAPS.has(name) ? ' (lets the container reach past its isolation)' : ''}`);
    }
    for (const [field, mode, what] of [
      ['PidMode', h.PidMode, "host's process namespace: sees and signals every host process"],
      ['NetworkMode', h.NetworkMode, "host's network namespace: binds host ports, reaches host-only services"],
      ['IpcMode', h.IpcMode, "host's IPC namespace: host shared memory and semaphores"],
      ['UTSMode', h.UTSMode, "host's UTS namespace: can set the host's hostname"],
    ] as const) {
      if (mode === 'host') add(`risk.${field === 'NetworkMode' ? 'net' : field.slice(0, -4).toLowerCase()}-host`, field === 'UTSMode' ? 'medium' : 'high', `HostConfig.${field}`, mode, what);
    }
    for (const opt of h.SecurityOpt ?? []) {
      // `seccomp=unconfined`, and the old `seccomp:unconfined` form the engine still accepts.
      const m = /^([a-z-]+)[=:](.*)$/.exec(opt);
      if (!m) continue;
      const [, key, val] = m;
      if (key === 'seccomp' && val === 'unconfined') add('risk.seccomp-unconfined', 'high', 'HostConfig.SecurityOpt', opt, 'seccomp unconfined: every system call allowed');
      else if (key === 'apparmor' && val === 'unconfined') add('risk.apparmor-unconfined', 'high', 'HostConfig.SecurityOpt', opt, 'AppArmor unconfined');
      // The engine itself adds label=disable for privileged and host-pid/ipc containers (moby
      // generateSecurityOpt): there it is a consequence of a finding already made, not a setting of its own.
      else if (key === 'label' && (val === 'disable' || val === 'disabled') && !h.Privileged && h.PidMode !== 'host' && h.IpcMode !== 'host') add('risk.selinux-disabled', 'high', 'HostConfig.SecurityOpt', opt, 'SELinux labelling disabled');
      else if (key === 'systempaths' && val === 'unconfined') add('risk.systempaths-unconfined', 'high', 'HostConfig.SecurityOpt', opt, '/proc and /sys paths unmasked');
    }
    for (const d of h.Devices ?? []) add('risk.device', 'high', 'HostConfig.Devices', `${d.PathOnHost}:${d.PathInContainer}`, `host device ${d.PathOnHost} passed in`);
    // `a *:* rwm` (or any rule) lets the container create and use those host devices (mknod is a default capability).
    for (const r of h.DeviceCgroupRules ?? [])
      add('risk.device-cgroup-rule', /^a\b|\*/.test(r.trim()) ? 'high' : 'medium', 'HostConfig.DeviceCgroupRules', r, `device cgroup rule ${JSON.stringify(r)}: host devices it names can be created and used`);
  }
  // What the engine applies at start from config.v2.json itself (it does not re-read SecurityOpt for these).
  const has = (code: string) => out.some((f) => f.code === code);
  if (c.seccompProfile === 'unconfined' && !h?.Privileged && !has('risk.seccomp-unconfined'))
    add('risk.seccomp-unconfined', 'high', 'SeccompProfile (config.v2.json)', 'unconfined', 'seccomp unconfined: every system call allowed');
  if (ins.AppArmorProfile === 'unconfined' && !h?.Privileged && !has('risk.apparmor-unconfined'))
    add('risk.apparmor-unconfined', 'high', 'AppArmorProfile', 'unconfined', 'AppArmor unconfined');
  for (const m of ins.Mounts) {
    // A mount point without a type (before Docker 1.13), or a volume with no name, is bound from its Source.
    if (!(m.Type === 'bind' || !m.Type || (m.Type === 'volume' && !m.Name))) continue;
    const src = normalHostPath(m.Source);
    const field = `Mounts[${m.Destination}].Source`;
    if (ENGINE_SOCKETS.has(src)) add('risk.engine-socket', 'high', field, m.Source, `engine socket ${src} mounted: control of the engine is root on the host`);
    else if (SOCKET_DIRS.has(src)) add('risk.engine-socket', 'high', field, m.Source, `${src} mounted: it holds the engine's sockets`);
    else if (HOST_PATHS.has(src)) add(m.RW ? 'risk.host-path-rw' : 'risk.host-path-ro', m.RW ? 'high' : 'medium', field, m.Source, `host ${src === '/' ? 'root filesystem' : src} bind-mounted ${m.RW ? 'writable' : 'read-only'}`);
  }
  const user = ins.Config?.User;
  if (ins.Config && (typeof user !== 'string' || isRoot(user))) {
    const remapped = usernsRemapped && h?.UsernsMode !== 'host';
    if (!remapped) add('risk.root-user', 'medium', 'Config.User', typeof user === 'string' ? JSON.stringify(user) : 'null', `runs as root${user ? '' : " (no user set, by the container or its image)"} without a user namespace: uid 0 in the container is uid 0 on the host`);
  }
  return { findings: capped(out), complete: h !== null };
}

/** At most 100 findings of a code, then one that counts the rest: a crafted hostconfig.json can list millions. */
function capped(findings: RiskFinding[]): RiskFinding[] {
  const seen = new Map<string, number>();
  const out: RiskFinding[] = [];
  for (const f of findings) {
    const n = (seen.get(f.code) ?? 0) + 1;
    seen.set(f.code, n);
    if (n <= 100) out.push(f);
  }
  for (const [code, n] of seen)
    if (n > 100) out.push({ code, severity: findings.find((f) => f.code === code)!.severity, field: out.find((f) => f.code === code)!.field, value: `${n - 100} more`, message: `${n - 100} more findings of this kind (not listed one by one)` });
  return out;
}

/** `""`, `root`, `0`, `0:0`, `root:wheel`: the process runs as uid 0. */
function isRoot(user: string): boolean {
  const name = user.split(':')[0]!;
  // The engine parses a numeric user with strconv.Atoi, which takes a sign: `+0` and `-0` are uid 0.
  return name === '' || name === 'root' || /^[+-]?0+$/.test(name);
}
