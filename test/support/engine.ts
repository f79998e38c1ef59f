/**
 * Helpers for engine-backed tests. The engines are private Docker daemons started by test/run.mjs (npm test),
 * which passes them in LAYERSCOPE_TEST_ENGINES (JSON):
 *   { docker20: {host, dataRoot, execRoot, version, apiVersion, storageDriver, client, dockerConfig, path, pid},
 *     docker26?: {...}, docker26c?: {...} }
 * and why any is missing in LAYERSCOPE_TEST_ENGINES_UNAVAILABLE (JSON { name: reason }).
 *
 * Without an engine (or without root) a test is SKIPPED loudly: t.skip(reason) plus a line
 * "SKIPPED (no engine): <test>: <reason>" on stderr. With LAYERSCOPE_REQUIRE_ENGINE=1 (CI) it FAILS instead.
 *
 *   const e = getEngine(t); if (!e) return;       // skipped
 *   const { stdout } = await e.docker(['image', 'inspect', IMAGES.bloat]);
 *
 * The fixture names are in ./fixtures-manifest.mjs.
 */
import fs from 'node:fs';
import type { TestContext } from 'node:test';
import { execa } from 'execa';

export { copyTree, diffManifests, findOpaqueDir, hashTree, treeManifest } from './tree.js';
export type { CopyTreeResult, TreeOptions } from './tree.js';

export type EngineName = 'docker20' | 'docker26' | 'docker26c';

export interface EngineInfo {
  host: string;
  dataRoot: string;
  execRoot?: string;
  version: string;
  apiVersion?: string;
  storageDriver?: string;
  client?: string;
  dockerConfig?: string;
  path?: string;
  pid?: number;
}

export interface DockerResult {
  /** stdout decoded as UTF-8 (lossy for names that are not UTF-8: use stdoutBuffer for those). */
  stdout: string;
  /** stdout byte for byte. */
  stdoutBuffer: Buffer;
  stderr: string;
  exitCode: number;
}

export interface DockerOptions {
  /** Throw when the command exits non-zero (default true). */
  reject?: boolean;
  /** Bytes or text for stdin. */
  input?: string | Buffer;
  /** Milliseconds (default 120 000). */
  timeout?: number;
}

export interface Engine extends EngineInfo {
  name: EngineName;
  /** Run the docker CLI that matches this engine against it. */
  docker(args: string[], opts?: DockerOptions): Promise<DockerResult>;
  /** Environment (DOCKER_HOST, DOCKER_CONFIG, PATH) for running other tools (skopeo, the CLI) against it. */
  env: Record<string, string>;
}

export const REQUIRE_ENGINE = process.env.LAYERSCOPE_REQUIRE_ENGINE === '1';

function parseJson<T>(name: string): T | null {
  const raw = process.env[name];
  if (!raw) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

/** Skip (or, under LAYERSCOPE_REQUIRE_ENGINE=1, fail) the test with a loud reason. Returns false when skipped. */
export function skipUnavailable(t: TestContext, kind: string, reason: string): false {
  return unavailable(t, kind, reason);
}

function unavailable(t: TestContext, kind: string, reason: string): false {
  const msg = `${kind}: ${reason}`;
  if (REQUIRE_ENGINE) {
    throw new Error(`LAYERSCOPE_REQUIRE_ENGINE=1 and ${msg}`);
  }
  process.stderr.write(`SKIPPED (${kind}): ${t.name}: ${reason}\n`);
  t.skip(`SKIPPED (${kind}): ${reason}`);
  return false;
}

/** True when running as root; otherwise skips (or fails under LAYERSCOPE_REQUIRE_ENGINE=1) the test. */
export function requireRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return true;
  return unavailable(t, 'not root', 'this test needs root (overlay mounts, trusted.* xattrs, data roots are 0700)');
}

/** All engines that run.mjs started (possibly none). */
export function engines(): Partial<Record<EngineName, EngineInfo>> {
  return parseJson<Partial<Record<EngineName, EngineInfo>>>('LAYERSCOPE_TEST_ENGINES') ?? {};
}

/**
 * The engine `which`, or null after skipping the test (t.skip + a stderr line). Under
 * LAYERSCOPE_REQUIRE_ENGINE=1 a missing engine throws, failing the test.
 */
export function getEngine(t: TestContext, which: EngineName = 'docker20'): Engine | null {
  if (process.getuid?.() !== 0) {
    return unavailable(t, 'no engine', `${which}: not root (engines and their data roots need root)`) || null;
  }
  const all = parseJson<Partial<Record<EngineName, EngineInfo>>>('LAYERSCOPE_TEST_ENGINES');
  if (!all) {
    return (
      unavailable(
        t,
        'no engine',
        `${which}: LAYERSCOPE_TEST_ENGINES is not set: run the tests through \`node test/run.mjs [file...]\` or \`npm test\`, which start the engines`,
      ) || null
    );
  }
  const info = all[which];
  if (!info) {
    const why = parseJson<Record<string, string>>('LAYERSCOPE_TEST_ENGINES_UNAVAILABLE')?.[which] ?? 'not started by test/run.mjs';
    return unavailable(t, 'no engine', `${which}: ${why}`) || null;
  }
  const sock = info.host.replace(/^unix:\/\//, '');
  if (!fs.existsSync(sock)) {
    return unavailable(t, 'no engine', `${which}: socket ${sock} is gone (engine stopped?)`) || null;
  }
  const client = info.client ?? (which === 'docker20' ? '/usr/bin/docker' : '/opt/layerscope/docker26/usr/bin/docker');
  const env: Record<string, string> = {
    DOCKER_HOST: info.host,
    DOCKER_BUILDKIT: '0',
    PATH: info.path ?? process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
  };
  if (info.dockerConfig) env.DOCKER_CONFIG = info.dockerConfig;
  return {
    ...info,
    name: which,
    env,
    async docker(args: string[], opts: DockerOptions = {}): Promise<DockerResult> {
      const r = await execa(client, args, {
        env: { ...env, DOCKER_CONTEXT: undefined },
        extendEnv: true,
        encoding: 'buffer',
        reject: false,
        timeout: opts.timeout ?? 120_000,
        ...(opts.input !== undefined ? { input: typeof opts.input === 'string' ? Buffer.from(opts.input) : opts.input } : {}),
        stripFinalNewline: false,
      });
      const stdoutBuffer = Buffer.from(r.stdout as Uint8Array);
      const stderr = Buffer.from(r.stderr as Uint8Array).toString('utf8');
      const exitCode = r.exitCode ?? 1;
      if (exitCode !== 0 && opts.reject !== false) {
        throw new Error(`docker ${args.join(' ')} (${which}) exited ${exitCode}${r.timedOut ? ' (timed out)' : ''}: ${stderr.trim()}`);
      }
      return { stdout: stdoutBuffer.toString('utf8'), stdoutBuffer, stderr, exitCode };
    },
  };
}

export { quickFingerprint } from './fingerprint.mjs';
import { quickFingerprint } from './fingerprint.mjs';

/**
 * Wait until the engine stops writing into its data root: two fingerprints `intervalMs` apart agree. The
 * containerd image store (docker26c) garbage-collects snapshots and content a little after builds, loads and
 * even `docker diff`, so call this before hashing evidence that a test wants to prove unchanged.
 * Returns true when quiet, false after timeoutMs.
 */
export async function waitIdle(e: Pick<EngineInfo, 'dataRoot'>, { timeoutMs = 15_000, intervalMs = 1000 } = {}): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  let prev = quickFingerprint(e.dataRoot);
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const cur = quickFingerprint(e.dataRoot);
    if (cur === prev) return true;
    prev = cur;
  }
  return false;
}
