/**
 * A rootless Docker 20.10 (bookworm's docker.io + rootlesskit), run by a test user with subordinate ids, for the
 * suites that read a rootless data root (~/.local/share/docker: host ids on disk, overlay metadata in
 * user.overlay.* xattrs). rootlesskit runs with `--net=host` (no slirp4netns tap device in these VMs) and no port
 * driver: the containers run with `--network none` anyway.
 *
 * Each start begins with an empty data root (the previous run's is removed), so that what the suite compares is
 * what this run made.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export const ROOTLESS_USER = 'lsrootdocker';
const CONTRIB = '/usr/share/docker.io/contrib';

export interface RootlessDocker {
  user: string;
  uid: number;
  gid: number;
  home: string;
  dataRoot: string;
  /** Run the docker CLI against the engine, as the user. */
  docker(args: string[], opts?: { input?: string | Buffer }): Promise<{ stdout: string; stdoutBuffer: Buffer }>;
  stop(): Promise<void>;
}

/** Why a rootless engine cannot run here, or null. */
export function rootlessUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root (the test user and its engine are set up as root)';
  for (const [f, what] of [
    [path.join(CONTRIB, 'dockerd-rootless.sh'), 'docker.io'],
    ['/usr/bin/rootlesskit', 'rootlesskit'],
    ['/usr/bin/newuidmap', 'uidmap'],
  ] as const) {
    if (!fs.existsSync(f)) return `${f} is missing (apt-get install ${what}; test/setup.sh installs it)`;
  }
  return null;
}

async function ensureUser(): Promise<{ uid: number; gid: number; home: string }> {
  const id = await execa('id', ['-u', ROOTLESS_USER], { reject: false });
  if (id.exitCode !== 0) await execa('useradd', ['-m', '-s', '/bin/sh', ROOTLESS_USER]);
  const uid = Number((await execa('id', ['-u', ROOTLESS_USER])).stdout);
  const gid = Number((await execa('id', ['-g', ROOTLESS_USER])).stdout);
  const home = (await execa('getent', ['passwd', ROOTLESS_USER])).stdout.split(':')[5]!;
  // useradd gives subordinate ranges where login.defs asks it to; make sure there is one (a range of its own).
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    const text = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
    if (!text.split('\n').some((l) => l.startsWith(`${ROOTLESS_USER}:`))) {
      const used = text.split('\n').map((l) => l.split(':')).filter((x) => x.length === 3).map((x) => Number(x[1]) + Number(x[2]));
      const start = Math.max(300_000, ...used);
      fs.appendFileSync(f, `${text && !text.endsWith('\n') ? '\n' : ''}${ROOTLESS_USER}:${start}:65536\n`);
    }
  }
  return { uid, gid, home };
}

/** `driver`: overlay2 (the kernel's overlayfs with userxattr) or fuse-overlayfs (the FUSE one, its own marks). */
export async function startRootlessDocker(driver: 'overlay2' | 'fuse-overlayfs' = 'overlay2'): Promise<RootlessDocker> {
  const { uid, gid, home } = await ensureUser();
  await execa('pkill', ['-KILL', '-u', ROOTLESS_USER], { reject: false });
  const runtime = `/run/user/${uid}`;
  fs.mkdirSync(runtime, { recursive: true, mode: 0o700 });
  fs.chownSync(runtime, uid, gid);
  // One data root per driver: a data root holding two drivers' stores is a case of its own.
  const dataRoot = driver === 'overlay2' ? path.join(home, '.local', 'share', 'docker') : path.join(home, '.local', 'share', `docker-${driver}`);
  const work = path.join(home, 'ls-rootless');
  // The last run's store (owned by subordinate ids: only root removes it whole).
  fs.rmSync(dataRoot, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
  await execa('runuser', ['-u', ROOTLESS_USER, '--', 'mkdir', '-p', work, path.dirname(dataRoot)]);
  const sock = path.join(work, 'docker.sock');
  const env = {
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    PATH: `${CONTRIB}:/usr/sbin:/usr/bin:/sbin:/bin`,
    DOCKERD_ROOTLESS_ROOTLESSKIT_NET: 'host',
    DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: 'none',
  };
  const log = fs.openSync(path.join(os.tmpdir(), `ls-rootless-dockerd-${process.pid}.log`), 'w');
  const daemon = execa(
    'runuser',
    ['-u', ROOTLESS_USER, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'dockerd-rootless.sh', '--data-root', dataRoot, '--exec-root', path.join(work, 'exec'), '-H', `unix://${sock}`, '--pidfile', path.join(work, 'docker.pid'), '--iptables=false', '--bridge=none', `--storage-driver=${driver}`],
    { stdio: ['ignore', log, log], reject: false, detached: true, cleanup: true },
  );
  const docker = async (args: string[], opts: { input?: string | Buffer } = {}) => {
    const r = await execa('runuser', ['-u', ROOTLESS_USER, '--', 'env', `DOCKER_HOST=unix://${sock}`, `HOME=${home}`, 'DOCKER_BUILDKIT=0', 'docker', ...args], { encoding: 'buffer', input: opts.input, cwd: work, timeout: 180_000 });
    const stdoutBuffer = Buffer.from(r.stdout);
    return { stdout: stdoutBuffer.toString('utf8'), stdoutBuffer };
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await execa('pkill', ['-TERM', '-u', ROOTLESS_USER], { reject: false });
    const t0 = Date.now();
    while (Date.now() - t0 < 15_000 && (await execa('pgrep', ['-u', ROOTLESS_USER], { reject: false })).exitCode === 0) await new Promise((r) => setTimeout(r, 200));
    await execa('pkill', ['-KILL', '-u', ROOTLESS_USER], { reject: false });
    daemon.kill('SIGKILL');
    fs.closeSync(log);
  };
  const t0 = Date.now();
  for (;;) {
    const info = await execa('runuser', ['-u', ROOTLESS_USER, '--', 'env', `DOCKER_HOST=unix://${sock}`, 'docker', 'info', '--format', '{{.Driver}}'], { reject: false });
    if (info.exitCode === 0) break;
    if (Date.now() - t0 > 60_000 || daemon.exitCode !== null) {
      await stop();
      throw new Error(`the rootless dockerd did not answer in 60 s: ${fs.readFileSync(path.join(os.tmpdir(), `ls-rootless-dockerd-${process.pid}.log`), 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { user: ROOTLESS_USER, uid, gid, home, dataRoot, docker, stop };
}

/**
 * Images and containers for the suites: a busybox base (imported, owned by the user's ids as a rootless import
 * keeps them), an app layer that deletes a file and re-makes a dir (a whiteout, an opaque dir or its naive-diff
 * equivalent), a setuid file and a hard link, and containers that add, change and delete files.
 */
export async function buildRootlessFixtures(d: RootlessDocker): Promise<{ images: string[]; containers: string[] }> {
  const ctx = path.join(d.home, 'ls-rootless', 'ctx');
  await execa('runuser', ['-u', d.user, '--', 'sh', '-c', `mkdir -p ${ctx}/r/bin ${ctx}/r/etc ${ctx}/r/data/sub ${ctx}/r/tmp && cp /bin/busybox ${ctx}/r/bin/ && ln -s busybox ${ctx}/r/bin/sh && echo hi > ${ctx}/r/etc/motd && echo x > ${ctx}/r/data/sub/f && echo keep > ${ctx}/r/data/keep`]);
  const base = await execa('tar', ['-C', path.join(ctx, 'r'), '--numeric-owner', '--owner=0', '--group=0', '-c', '.'], { encoding: 'buffer' });
  await d.docker(['import', '-', 'rl-base:1'], { input: Buffer.from(base.stdout) });
  fs.writeFileSync(
    path.join(ctx, 'Dockerfile'),
    [
      'FROM rl-base:1',
      'RUN rm -rf /data/sub && mkdir /data/sub && echo y > /data/sub/g && rm /etc/motd',
      'RUN echo secret > /data/big && chown 1000:1000 /data/big && cp /bin/busybox /data/su && chmod 4755 /data/su && ln /data/keep /data/keep2 && echo k > /data/owned && chown 1000:2000 /data/owned',
      'RUN rm /data/big',
      '',
    ].join('\n'),
  );
  fs.chownSync(path.join(ctx, 'Dockerfile'), d.uid, d.gid);
  await d.docker(['build', '--network=none', '-q', '-t', 'rl-app:1', ctx]);
  await d.docker(['run', '--network', 'none', '--name', 'rl-changed', 'rl-app:1', 'sh', '-c', 'echo z > /data/new; rm -rf /data/sub; chmod 600 /data/keep; chown 33:33 /data/new; mkdir -p /var/x && echo v > /var/x/y']);
  await d.docker(['create', '--network', 'none', '--name', 'rl-created', 'rl-app:1', 'true']);
  return { images: ['rl-base:1', 'rl-app:1'], containers: ['rl-changed', 'rl-created'] };
}
