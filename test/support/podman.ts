/**
 * podman/buildah fixture stores, built by test/fixtures/podman/build.sh in private roots under the test's temp
 * dir: a rootful store on the kernel's overlay, a rootful store mounted through fuse-overlayfs, and a rootless
 * one (a user with subordinate ids, native overlay with user.overlay.* xattrs). podman itself is the oracle:
 * `pm()` runs it against the store as the store's owner.
 *
 * Needs root (to make the rootless user and to read every store), podman, buildah, a static busybox; rootless
 * also newuidmap (uidmap). Without them the test is SKIPPED loudly, and FAILS under LAYERSCOPE_REQUIRE_ENGINE=1.
 */
import type { TestContext } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { skipUnavailable } from './engine.js';

export type StoreMode = 'rootful' | 'fuse' | 'rootless';

/** Names build.sh gives (mirrored there). */
export const PODMAN = {
  base: 'localhost/pm-base:1',
  app: 'localhost/pm-app:1',
  bud: 'localhost/pm-bud:1',
  created: 'pm-created',
  exited: 'pm-exited',
  running: 'pm-running',
  buildah: 'pm-bud-working',
} as const;

export const ROOTLESS_USER = 'lsrootless';

export interface PodmanStore {
  mode: StoreMode;
  dir: string;
  /** The store (what the tests open). */
  storage: string;
  /** podman against this store as its owner; stdout as bytes. */
  pm(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }>;
  /** A new empty dir beside the store (not in it), writable by the store's owner: for podman save/export. */
  scratch(): string;
  /** Stop the running container and remove the store. */
  remove(): Promise<void>;
}

const HERE = path.dirname(new URL(import.meta.url).pathname);
const BUILD = path.resolve(HERE, '../fixtures/podman/build.sh');
const MAKE_BASE = path.resolve(HERE, '../fixtures/images/make-base.sh');

function which(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => {
    try {
      fs.accessSync(path.join(d, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why this host cannot build a store of `mode` (null: it can). */
function missing(mode: StoreMode): string | null {
  if (process.getuid?.() !== 0) return 'needs root (builds stores as root and as a test user)';
  for (const c of ['podman', 'buildah', ...(mode === 'fuse' ? ['fuse-overlayfs'] : []), ...(mode === 'rootless' ? ['newuidmap', 'newgidmap', 'useradd', 'runuser'] : [])]) {
    if (!which(c)) return `no ${c} (apt-get install podman buildah uidmap fuse-overlayfs; test/setup.sh)`;
  }
  if (mode === 'fuse' && !fs.existsSync('/dev/fuse')) return 'no /dev/fuse';
  return null;
}

/** The test user, with subordinate ids (useradd adds them on Debian; added by hand if it did not). */
async function rootlessUser(): Promise<{ uid: number; gid: number }> {
  const id = await execa('id', ['-u', ROOTLESS_USER], { reject: false });
  if (id.exitCode !== 0) await execa('useradd', ['-m', ROOTLESS_USER]);
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    const text = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
    if (!text.split('\n').some((l) => l.startsWith(ROOTLESS_USER + ':'))) fs.appendFileSync(f, `${ROOTLESS_USER}:300000:65536\n`);
  }
  const uid = Number((await execa('id', ['-u', ROOTLESS_USER])).stdout.trim());
  const gid = Number((await execa('id', ['-g', ROOTLESS_USER])).stdout.trim());
  return { uid, gid };
}

/** Build a fixture store; null after skipping the test (loudly) when this host cannot. */
export async function podmanStore(t: TestContext, mode: StoreMode): Promise<PodmanStore | null> {
  const why = missing(mode);
  if (why) {
    skipUnavailable(t, 'no podman', why);
    return null;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ls-podman-${mode}-`));
  fs.chmodSync(dir, 0o755);
  const baseTar = path.join(dir, 'base.tar');
  await execa('bash', [MAKE_BASE, '--tar', baseTar]);
  let user: { uid: number; gid: number } | null = null;
  const env: Record<string, string> = {};
  let runtimeDir: string | null = null;
  if (mode === 'rootless') {
    user = await rootlessUser();
    fs.chownSync(dir, user.uid, user.gid);
    fs.chownSync(baseTar, user.uid, user.gid);
    runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-podman-xdg-'));
    fs.chownSync(runtimeDir, user.uid, user.gid);
    fs.chmodSync(runtimeDir, 0o700);
    Object.assign(env, { HOME: `/home/${ROOTLESS_USER}`, XDG_RUNTIME_DIR: runtimeDir, USER: ROOTLESS_USER, LOGNAME: ROOTLESS_USER });
  }
  const asOwner = (argv: string[]) => (user ? ['runuser', '-u', ROOTLESS_USER, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv] : argv);
  const pmArgs = ['podman', '--root', path.join(dir, 'storage'), '--runroot', path.join(dir, 'run'), '--storage-driver', 'overlay', ...(mode === 'fuse' ? ['--storage-opt', 'overlay.mount_program=/usr/bin/fuse-overlayfs'] : []), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  const run = async (argv: string[]) => {
    const [cmd, ...rest] = asOwner(argv);
    const r = await execa(cmd!, rest, { reject: false, encoding: 'buffer', cwd: dir, timeout: 120_000 });
    return { code: r.exitCode ?? -1, stdout: Buffer.from(r.stdout as Uint8Array), stderr: Buffer.from(r.stderr as Uint8Array).toString('utf8') };
  };
  const built = await run(['bash', BUILD, dir, baseTar, mode === 'fuse' ? 'fuse' : 'native']);
  const store: PodmanStore = {
    mode,
    dir,
    storage: path.join(dir, 'storage'),
    pm: (args) => run([...pmArgs, ...args]),
    scratch() {
      const d = fs.mkdtempSync(path.join(dir, 'scratch-'));
      if (user) fs.chownSync(d, user.uid, user.gid);
      return d;
    },
    async remove() {
      await run([...pmArgs, 'rm', '-af', '-t', '0']);
      await run(['buildah', '--root', path.join(dir, 'storage'), '--runroot', path.join(dir, 'run'), '--storage-driver', 'overlay', 'rm', '-a']);
      fs.rmSync(dir, { recursive: true, force: true });
      if (runtimeDir) {
        // Rootless podman leaves its user-namespace holder (the "pause" process) running: end it, by its pid.
        const pidFile = path.join(runtimeDir, 'libpod', 'tmp', 'pause.pid');
        const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : NaN;
        if (Number.isInteger(pid) && pid > 1) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        fs.rmSync(runtimeDir, { recursive: true, force: true });
      }
    },
  };
  if (built.code !== 0) {
    await store.remove().catch(() => undefined);
    throw new Error(`build.sh (${mode}) failed (exit ${built.code}): ${built.stderr.slice(-2000)}`);
  }
  return store;
}
