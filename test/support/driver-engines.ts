/**
 * Docker 20.10 on the graph drivers other than overlay2 (vfs, the first overlay driver, btrfs), for the suites
 * that prove the readers of those stores. Each engine is private to the suite that starts it: its own data root,
 * exec root and socket in a temp dir; btrfs on a file system made here (mkfs.btrfs on a sparse file, loop-mounted).
 * `stop()` stops dockerd and unmounts and detaches what was made, also after a failure (call it in finally).
 *
 * The fixture images come from the docker20 engine test/run.mjs started (LAYERSCOPE_TEST_ENGINES): `docker save`
 * there, `docker load` here, so that both engines hold the same image IDs and layers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import type { TestContext } from 'node:test';
import { skipUnavailable, type DockerOptions, type DockerResult, type Engine } from './engine.js';

export type DriverName = 'vfs' | 'overlay' | 'btrfs';

export interface DriverEngine {
  driver: DriverName;
  dataRoot: string;
  host: string;
  docker(args: string[], opts?: DockerOptions): Promise<DockerResult>;
  stop(): Promise<void>;
}

const DOCKERD = '/usr/sbin/dockerd';
const CLIENT = '/usr/bin/docker';

/** Why a driver engine cannot be had here, or null. */
export function driverEngineUnavailable(driver: DriverName): string | null {
  if (process.getuid?.() !== 0) return 'needs root (a private dockerd)';
  if (!fs.existsSync(DOCKERD) || !fs.existsSync(CLIENT)) return `no ${DOCKERD} (run: bash test/setup.sh)`;
  if (driver === 'btrfs') {
    if (!fs.existsSync('/usr/sbin/mkfs.btrfs') && !fs.existsSync('/sbin/mkfs.btrfs')) return 'no mkfs.btrfs (btrfs-progs; run: bash test/setup.sh)';
    if (!fs.readFileSync('/proc/filesystems', 'utf8').includes('btrfs') && spawnSync('modprobe', ['btrfs']).status !== 0) return 'the kernel has no btrfs';
  }
  if (driver === 'overlay' && !fs.readFileSync('/proc/filesystems', 'utf8').includes('overlay') && spawnSync('modprobe', ['overlay']).status !== 0) return 'the kernel has no overlayfs';
  return null;
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
}

/** Start Docker 20.10 on `driver`. Throws (after cleaning up) when it does not come up within 90 s. */
export async function startDriverEngine(driver: DriverName): Promise<DriverEngine> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ls-drv-${driver}-`));
  const cleanups: (() => void | Promise<void>)[] = [() => fs.rmSync(dir, { recursive: true, force: true })];
  let proc: ChildProcess | null = null;
  const cleanup = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        process.stderr.write(`[driver-engines] cleanup: ${(err as Error).message}\n`);
      }
    }
    cleanups.length = 0;
  };
  try {
    let dataRoot = path.join(dir, 'root');
    if (driver === 'btrfs') {
      const img = path.join(dir, 'btrfs.img');
      fs.closeSync(fs.openSync(img, 'w'));
      fs.truncateSync(img, 2 * 1024 ** 3);
      sh('mkfs.btrfs', ['-q', img]);
      const mnt = path.join(dir, 'mnt');
      fs.mkdirSync(mnt);
      sh('mount', ['-o', 'loop', img, mnt]);
      // `umount -d` detaches the loop device mount made.
      cleanups.push(() => sh('umount', ['-d', mnt]));
      dataRoot = path.join(mnt, 'root');
    }
    fs.mkdirSync(dataRoot, { recursive: true });
    const exec = path.join(dir, 'exec');
    fs.mkdirSync(exec);
    fs.mkdirSync(path.join(dir, 'client'));
    fs.writeFileSync(path.join(dir, 'daemon.json'), '{}\n');
    const host = `unix://${dir}/docker.sock`;
    const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: path.join(dir, 'client'), DOCKER_BUILDKIT: '0' } as Record<string, string>;
    delete env.DOCKER_CONTEXT;
    const log = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
    proc = spawn(DOCKERD, [`--data-root=${dataRoot}`, `--exec-root=${exec}`, `--host=${host}`, `--pidfile=${dir}/docker.pid`, `--config-file=${dir}/daemon.json`, '--iptables=false', '--bridge=none', '--shutdown-timeout=2', `--storage-driver=${driver}`], { env, stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    const p = proc;
    let exited = false;
    p.on('exit', () => (exited = true));
    cleanups.push(() => stopDockerd(p, () => exited));
    const docker = async (args: string[], opts: DockerOptions = {}): Promise<DockerResult> => {
      const r = await execa(CLIENT, args, { env, reject: false, encoding: 'buffer', input: opts.input, timeout: opts.timeout ?? 120_000 });
      const out = { stdout: Buffer.from(r.stdout).toString('utf8'), stdoutBuffer: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr).toString('utf8'), exitCode: r.exitCode ?? -1 };
      if (out.exitCode !== 0 && opts.reject !== false) throw new Error(`docker ${args.join(' ')} (${driver}): exit ${out.exitCode}: ${out.stderr}`);
      return out;
    };
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (exited) throw new Error(`dockerd --storage-driver=${driver} exited: ${fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8').slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`dockerd --storage-driver=${driver} did not answer within 90 s`);
      const r = await docker(['info', '--format', '{{.Driver}}'], { reject: false, timeout: 5000 });
      if (r.exitCode === 0) {
        if (r.stdout.trim() !== driver) throw new Error(`dockerd runs on ${r.stdout.trim()}, not ${driver}`);
        break;
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    return { driver, dataRoot, host, docker, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Stop dockerd (it stops its containers first), waiting at most 25 s, then kill its process group. */
async function stopDockerd(p: ChildProcess, exited: () => boolean): Promise<void> {
  if (exited() || p.pid === undefined) return;
  p.kill('SIGTERM');
  const deadline = Date.now() + 25_000;
  while (!exited() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
  if (exited()) return;
  try {
    process.kill(-p.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  await new Promise((res) => setTimeout(res, 500));
}

/** `docker save` of `images` from the suite's docker20 engine, loaded into `target`. */
export async function loadFrom(source: Engine, target: DriverEngine, images: string[]): Promise<void> {
  const tar = (await source.docker(['save', ...images], { timeout: 300_000 })).stdoutBuffer;
  await target.docker(['load'], { input: tar, timeout: 300_000 });
}

/**
 * The private engine on `driver` for test `t`, started; null after skipping the test loudly (failing it under
 * LAYERSCOPE_REQUIRE_ENGINE=1) when LAYERSCOPE_DRIVERS leaves the driver out or this machine cannot run it.
 */
export async function startDriverEngineFor(t: TestContext, driver: DriverName): Promise<DriverEngine | null> {
  const wanted = (process.env.LAYERSCOPE_DRIVERS ?? 'vfs,overlay,btrfs').split(',');
  const why = !wanted.includes(driver) ? `not in LAYERSCOPE_DRIVERS=${process.env.LAYERSCOPE_DRIVERS}` : driverEngineUnavailable(driver);
  if (why) return skipUnavailable(t, 'no engine', `${driver}: ${why}`) || null;
  return startDriverEngine(driver);
}
