/**
 * Hand-made evidence for recognition tests: minimal Docker data roots, containerd roots and look-alikes built
 * in a temp dir (no engine needed), and a way to run the built CLI on them, as root or as another user.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execa } from 'execa';
import { buildBolt, uvarintBytes, type BoltTree } from './bolt-writer.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/layerscope.js');

/** Files to create: relative path → content (text or bytes), or null for a directory. */
export type Files = Record<string, string | Buffer | null>;

export function writeTree(root: string, files: Files): string {
  fs.mkdirSync(root, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(content === null ? p : path.dirname(p), { recursive: true });
    if (content !== null) fs.writeFileSync(p, content);
  }
  return root;
}

export const hex = (c: string) => c.repeat(64).slice(0, 64);

/** containerd's meta.db: v1 with its schema version, plus `namespaces`. */
export function metaDb(namespaces: BoltTree = {}): Buffer {
  return buildBolt({ v1: { version: uvarintBytes(3), ...namespaces } });
}

/** The managed containerd Docker 20.10 leaves in every data root: namespace moby with runtime records only. */
export function docker20Containerd(): Files {
  return { 'containerd/daemon/io.containerd.metadata.v1.bolt/meta.db': metaDb({ moby: { containers: { [hex('c')]: { image: 'x', snapshotter: 'overlayfs' } } } }) };
}

/** What a Docker engine on `driver` creates when it starts (no image yet), plus `extra`. */
export function classicRoot(driver: string, extra: Files = {}): Files {
  return {
    [`image/${driver}/imagedb/content/sha256`]: null,
    [`image/${driver}/imagedb/metadata/sha256`]: null,
    [`image/${driver}/layerdb/sha256`]: null,
    [`image/${driver}/repositories.json`]: '{"Repositories":{}}',
    [driver]: null,
    containers: null,
    network: null,
    volumes: null,
    'engine-id': 'x',
    ...extra,
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI; `user` runs it as that uid/gid (setpriv, no supplementary groups). */
export async function cli(args: string[], opts: { user?: number } = {}): Promise<CliResult> {
  const cmd = opts.user === undefined ? ['node', BIN, ...args] : ['setpriv', `--reuid=${opts.user}`, `--regid=${opts.user}`, '--clear-groups', 'node', BIN, ...args];
  const r = await execa(cmd[0]!, cmd.slice(1), { reject: false, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
