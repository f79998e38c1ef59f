/**
 * Crafted archives for the hostile-evidence tests, built in code: legacy `docker save` (manifest.json,
 * `<id>/layer.tar`), OCI archives (oci-layout, index.json, blobs/sha256/*, optionally gzip layers and a Docker
 * >= 25 manifest.json beside), and a way to run the BUILT CLI (bin/layerscope.js -> dist/) as a process with a
 * heap limit and a probe that reports the bytes it read and its peak RSS.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { tar, type RawMember } from '../tar/helpers.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
/** The CLI under test; LAYERSCOPE_TEST_BIN runs these tests against another build (e.g. main's, to see them fail). */
const BIN = process.env.LAYERSCOPE_TEST_BIN ?? join(ROOT, 'bin/layerscope.js');
const PROBE = join(import.meta.dirname, 'probe.mjs');

export const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
export const hex = (d: string) => d.slice('sha256:'.length);

/** A layer tar holding these files (name -> content). */
export function layerTar(files: Record<string, string | Buffer>): Buffer {
  return tar(Object.entries(files).map(([name, body]) => ({ name, body: Buffer.isBuffer(body) ? body : Buffer.from(body) })));
}

/** The same layer with one byte of one file's content changed (still a valid tar: the attacker's edit). */
export function tamperLayer(layer: Buffer, file: string): Buffer {
  const out = Buffer.from(layer);
  for (let off = 0; off + 512 <= out.length; off += 512) {
    const name = out.toString('latin1', off, off + 100).replace(/\0.*$/s, '');
    if (name === file) {
      out[off + 512] ^= 0x01;
      return out;
    }
  }
  throw new Error(`no member ${file} in layer`);
}

export interface ImageSpec {
  tag: string;
  /** Layers as they are built (their sha256 are the DiffIDs). */
  layers: Buffer[];
  /** The exact bytes the archive stores instead, per layer index (tampered); default: the layer (gzipped if asked). */
  stored?: (Buffer | undefined)[];
  /** Extra config fields (a large label...). */
  extra?: Record<string, unknown>;
}

export function configOf(img: ImageSpec): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      rootfs: { type: 'layers', diff_ids: img.layers.map(sha256) },
      history: img.layers.map((_, i) => ({ created_by: `/bin/sh -c step ${i}` })),
      ...img.extra,
    }),
  );
}

/**
 * A legacy (Docker <= 24) `docker save`: `<v1id>/layer.tar` per layer, `<imageID>.json`, manifest.json. Layer
 * directories are per image (`<tag>-<i>`), so a layer two images share is stored twice, as docker 20.10 can.
 */
export function legacySave(images: ImageSpec[], opts: { extra?: RawMember[]; manifest?: unknown } = {}): Buffer {
  const members: RawMember[] = [];
  const manifest: unknown[] = [];
  for (const img of images) {
    const cfg = configOf(img);
    const cfgName = hex(sha256(cfg)) + '.json';
    const dirs = img.layers.map((_, i) => `${img.tag.replace(/[^a-z0-9]/g, '')}${i}`);
    img.layers.forEach((l, i) => {
      members.push({ name: `${dirs[i]}/`, type: '5', mode: 0o755 });
      members.push({ name: `${dirs[i]}/layer.tar`, body: img.stored?.[i] ?? l });
    });
    if (!members.some((m) => m.name === cfgName)) members.push({ name: cfgName, body: cfg });
    manifest.push({ Config: cfgName, RepoTags: [img.tag], Layers: dirs.map((d) => `${d}/layer.tar`) });
  }
  members.push(...(opts.extra ?? []));
  members.push({ name: 'manifest.json', body: Buffer.from(JSON.stringify(opts.manifest ?? manifest)) });
  return tar(members);
}

export interface OciOptions {
  /** gzip every layer blob (containerd-store / skopeo style). */
  gzip?: boolean;
  /** Also write a Docker >= 25 manifest.json. */
  dockerManifest?: boolean;
  /** Replace index.json by this member (or drop it: null). */
  index?: RawMember | null;
  extra?: RawMember[];
}

/** An OCI archive (or its members, to lay out as a directory). */
export function ociMembers(images: ImageSpec[], opts: OciOptions = {}): RawMember[] {
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer) => {
    const d = sha256(b);
    if (!blobs.has(d)) blobs.set(d, b);
    return d;
  };
  const index: unknown[] = [];
  const dockerManifest: unknown[] = [];
  for (const img of images) {
    const cfg = configOf(img);
    const cfgD = put(cfg);
    const layerDescs = img.layers.map((l, i) => {
      const built = opts.gzip ? gzipSync(l) : l;
      // the manifest names the blob as built; the archive may store other bytes under that name
      const d = sha256(built);
      const stored = img.stored?.[i];
      if (!blobs.has(d)) blobs.set(d, stored ?? built);
      return { mediaType: opts.gzip ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar', digest: d, size: built.length };
    });
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfgD, size: cfg.length }, layers: layerDescs }));
    const md = put(manifest);
    index.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'io.containerd.image.name': `docker.io/library/${img.tag}`, 'org.opencontainers.image.ref.name': img.tag.split(':')[1] } });
    dockerManifest.push({ Config: `blobs/sha256/${hex(cfgD)}`, RepoTags: [img.tag], Layers: layerDescs.map((l) => `blobs/sha256/${hex(l.digest)}`) });
  }
  const members: RawMember[] = [{ name: 'blobs/', type: '5', mode: 0o755 }, { name: 'blobs/sha256/', type: '5', mode: 0o755 }];
  for (const [d, b] of blobs) members.push({ name: `blobs/sha256/${hex(d)}`, body: b });
  members.push({ name: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') });
  if (opts.index !== null) members.push(opts.index ?? { name: 'index.json', body: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: index })) });
  if (opts.dockerManifest) members.push({ name: 'manifest.json', body: Buffer.from(JSON.stringify(dockerManifest)) });
  members.push(...(opts.extra ?? []));
  return members;
}

export function ociArchive(images: ImageSpec[], opts: OciOptions = {}): Buffer {
  return tar(ociMembers(images, opts));
}

// ------------------------------------------------------------------------------------------------------------

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ls-hostile-'));
  // rm -rf: Node's recursive rmSync recurses on the JS stack and overflows on trees thousands of levels deep.
  return { dir, cleanup: () => execFileSync('rm', ['-rf', '--one-file-system', dir]) };
}

/** Fails loudly when dist/ is older than src/ (these tests run the built CLI, as users do). */
export function assertBuilt(): void {
  if (process.env.LAYERSCOPE_TEST_BIN) return;
  const main = join(ROOT, 'dist/cli/main.js');
  assert.ok(existsSync(main), 'dist/ is missing: run `npm run build` first');
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
  // The build is incremental: it rewrites what changed, so compare the newest file on each side.
  assert.ok(newest(join(ROOT, 'src')) <= newest(join(ROOT, 'dist')) + 1, 'dist/ is older than src/: run `npm run build` first');
}

/** A fingerprint of a file: content hash, size, mtime and mode. Equal before and after = not written. */
export function fingerprint(path: string): string {
  const st = statSync(path);
  return `${sha256(readFileSync(path))} ${st.size} ${st.mtimeMs} ${st.mode}`;
}

export interface CliRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Bytes the CLI process read (rchar), and its peak RSS, from probe.mjs. */
  rchar: number;
  maxRSS: number;
  ms: number;
}

/**
 * Runs `node --max-old-space-size=<heap> bin/layerscope.js ARGS`, with stdin from a buffer, a file, or a
 * generator (streamed, never stored), and kills it after `timeoutMs`.
 */
export async function runCli(
  args: string[],
  opts: { stdin?: Buffer | string | (() => AsyncIterable<Buffer>) | Readable; heapMB?: number; timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliRun> {
  const { dir, cleanup } = tempDir();
  const probe = join(dir, 'probe.json');
  const t0 = Date.now();
  const child = spawn(process.execPath, [`--max-old-space-size=${opts.heapMB ?? 256}`, '--import', PROBE, BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env, LAYERSCOPE_TEST_PROBE: probe, NODE_ENV: 'production' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  child.stdin.on('error', () => {
    /* EPIPE: the CLI stopped reading (that is the point of some tests) */
  });
  const s = opts.stdin;
  if (s === undefined) child.stdin.end();
  else if (Buffer.isBuffer(s)) child.stdin.end(s);
  else if (typeof s === 'string') {
    // a path: stream the file (or device) in
    const { createReadStream } = await import('node:fs');
    const rs = createReadStream(s);
    rs.on('error', () => undefined);
    rs.pipe(child.stdin);
    child.on('close', () => rs.destroy());
  } else {
    const src = typeof s === 'function' ? s() : s;
    void (async () => {
      try {
        for await (const c of src) {
          if (child.stdin.destroyed) break;
          if (!child.stdin.write(c))
            await new Promise<void>((r) => {
              const done = () => {
                child.stdin.off('drain', done);
                child.stdin.off('close', done);
                r();
              };
              child.stdin.on('drain', done);
              child.stdin.on('close', done);
            });
        }
        child.stdin.end();
      } catch {
        /* the child closed its stdin */
      }
    })();
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('close', (c, sig) => r([c, sig])));
  clearTimeout(timer);
  const ms = Date.now() - t0;
  let rchar = -1;
  let maxRSS = -1;
  try {
    ({ rchar, maxRSS } = JSON.parse(readFileSync(probe, 'utf8')) as { rchar: number; maxRSS: number });
  } catch {
    /* killed: no probe */
  }
  cleanup();
  return { code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), rchar, maxRSS, ms };
}

/** Runs the CLI with `--format json` and parses the report; asserts no internal error. */
export async function reportJson(args: string[], opts: Parameters<typeof runCli>[1] = {}): Promise<CliRun & { json: { problems: { severity: string; code: string; message: string; path: string | null }[]; images: { tags: string[] }[] } | null }> {
  const r = await runCli([...args, '--format', 'json'], opts);
  assertNoCrash(r);
  let json = null;
  try {
    json = r.stdout ? JSON.parse(r.stdout) : null;
  } catch {
    /* not JSON (an error exit) */
  }
  return { ...r, json };
}

export function assertNoCrash(r: CliRun): void {
  assert.equal(r.signal, null, `killed by ${r.signal} after ${r.ms} ms (time bound blown?)\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error|TypeError|RangeError|heap out of memory|Allocation failed/, r.stderr);
}
