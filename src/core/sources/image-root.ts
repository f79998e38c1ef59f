import { routedAccess } from './layer-access.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fg from 'fast-glob';
import type { OpenOptions, Source, StorageInfo, StoreSummary } from '../model/source.js';
import type { ContainerInfo, ImageInfo, Problem, StoreRef } from '../model/types.js';
import { problem } from '../model/types.js';
import { NotFoundError, SourceError } from '../model/errors.js';
import { PathTable } from '../model/paths.js';
import type { VolumeAccess, VolumeInfo, BindMount, VolumeListing } from '../model/volumes.js';
import { Evidence, EvidenceError, describeFsError, isPermissionError, permissionDenied } from './evidence.js';
import { recogniseSource } from './recognise.js';
import { ByteNames, byteNameFs } from './scan-names.js';
import { displayPath, pathToBytes, pathToText } from '../model/path.js';

/**
 * `--image-root DIR` (google/container-explorer's flag): DIR is a host's file system mounted read-only (a disk
 * image, a snapshot), and every container store on it is found and read as one source.
 *
 * container-explorer takes DIR/var/lib/docker and DIR/var/lib/containerd. A host is often configured otherwise,
 * so we read what the host's engines would read, in this order:
 * 1. etc/docker/daemon.json `data-root` (or the legacy `graph`), else var/lib/docker;
 * 2. etc/containerd/config.toml top-level `root`, else var/lib/containerd;
 * 3. etc/containers/storage.conf `[storage] graphroot`, else var/lib/containers/storage;
 * 4. rootless stores of every user: home/<user>/ and root/: .local/share/docker (or ~/.config/docker/daemon.json
 *    data-root), .local/share/containers/storage (or ~/.config/containers/storage.conf graphroot);
 * 5. a bounded scan of the whole disk for the files a store always holds (a store copied or moved elsewhere, a
 *    config we cannot read, an engine started with --data-root on its command line).
 *
 * Paths from configs are absolute paths of the evidence host: they are resolved UNDER DIR, component by
 * component, and never through a symlink (a symlink there is said, with where it points; the scan may still
 * find the real directory). Whether a directory is a store is decided by recogniseSource, as for a SOURCE.
 */

/** openSource reads `image-root:DIR` as every store under DIR (the CLI's --image-root DIR). */
export const IMAGE_ROOT_PREFIX = 'image-root:';

/** A store found on the disk. */
export interface FoundStore {
  /** What recogniseSource says it is (docker-root, containerd-root, containers-storage...). */
  kind: string;
  /** Host path of the store (under the image root). */
  location: string;
  /** That path relative to the image root (`var/lib/docker`). */
  relative: string;
  /** How it was found, e.g. `etc/docker/daemon.json data-root`, `default /var/lib/docker`, `found by scan`. */
  how: string[];
  /** The user whose rootless store it is (the home directory's name; `root` for root/). */
  owner?: string;
  /** A short name for tables: `docker`, `containerd`, `alice:docker`... unique among the stores found. */
  label: string;
  /**
   * The store's real host path as a byte string (latin1), set when it is not UTF-8: `location` and `relative` are
   * then escaped text for people (displayPath), and the store is opened through a private link (withStoreLink).
   */
  bytes?: string;
}

export interface Discovery {
  root: string;
  stores: FoundStore[];
  problems: Problem[];
  /** How long the scan took, and how many candidate files it matched (for messages and measurements). */
  scan: { ms: number; matches: number; depth: number } | null;
}

export interface DiscoverOptions {
  /** Directory levels the scan descends below the image root (default 8; 0 = no scan). */
  scanDepth?: number;
  /** Milliseconds the scan may take (default 120 000): a disk of millions of directories is not walked forever. */
  scanMs?: number;
}

/** Config files are small; a bigger one is not a config an engine wrote. */
const CONFIG_BYTES = 1 << 20;
/** Scan matches considered at most: a disk with more store signatures than this is said to have them. */
const SCAN_MATCHES = 10_000;
const DEFAULT_SCAN_DEPTH = 8;
const DEFAULT_SCAN_MS = 120_000;

/** Files every store of a kind keeps, and how many directories up from them the store is. */
const SIGNATURES: { pattern: string; up: number }[] = [
  // Docker data root, classic store: image/<driver>/repositories.json or image/<driver>/layerdb.
  { pattern: '**/image/*/repositories.json', up: 3 },
  { pattern: '**/image/*/layerdb', up: 3 },
  // containerd root (or a Docker data root's managed containerd: <root>/containerd/daemon/, mapped below).
  { pattern: '**/io.containerd.metadata.v1.bolt/meta.db', up: 2 },
  // containers-storage (podman, CRI-O, buildah): <graphroot>/<driver>-images/images.json, <driver>-layers/layers.json.
  { pattern: '**/*-images/images.json', up: 2 },
  { pattern: '**/*-layers/layers.json', up: 2 },
];

/**
 * Directories the scan never enters: layer contents and container file systems (millions of files, and none
 * of them a store's metadata), and a live host's pseudo file systems when DIR is `/`.
 */
const SCAN_IGNORE = [
  '**/overlay2/*/diff/**',
  '**/overlay2/*/merged/**',
  '**/overlay/*/diff/**',
  '**/overlay/*/merged/**',
  '**/aufs/diff/**',
  '**/aufs/mnt/**',
  '**/vfs/dir/**',
  '**/snapshots/*/fs/**',
  '**/io.containerd.content.v1.content/blobs/**',
  '**/volumes/*/_data/**',
  '**/containers/*/rootfs/**',
  'proc/**',
  'sys/**',
  'dev/**',
];

/** Find every store under `imageRoot`. Throws SourceError only when the image root itself cannot be read. */
export async function discoverStores(imageRoot: string, opts: DiscoverOptions = {}): Promise<Discovery> {
  const root = checkRoot(imageRoot);
  const problems: Problem[] = [];
  const found = new Map<string, FoundStore>();
  const byInode = new Map<string, FoundStore>();
  const ev = new Evidence(root === '/' ? '' : root);

  /** A candidate store directory (relative to the root): recognised, or passed over (said when it was named). */
  const look = (rel: string, how: string, via: { owner?: string; named: Named }): void => {
    rel = rel.replace(/^\/+|\/+$/g, '');
    const existing = found.get(rel);
    if (existing) {
      if (!existing.how.includes(how)) existing.how.push(how);
      if (via.owner && !existing.owner) existing.owner = via.owner;
      return;
    }
    const st = lstatUnder(ev, rel);
    if (st === 'unreadable') {
      problems.push(problem(via.named === 'default' ? 'info' : 'warning', 'image-root.unreadable', `${how}: /${rel} cannot be looked at (permission or I/O error); a store there is not read`, joinRoot(root, rel)));
      return;
    }
    if (st === 'symlink' || st === 'missing' || st === 'not-dir') {
      if (st === 'missing' && via.named === 'config') problems.push(problem('warning', 'image-root.store-missing', `${how} names /${rel}, which is not on this disk (or not under the image root)`, joinRoot(root, rel)));
      if (st === 'not-dir' && via.named !== 'scan') problems.push(problem('warning', 'image-root.store-not-dir', `${how} names /${rel}, which is not a directory`, joinRoot(root, rel)));
      if (st === 'symlink') problems.push(symlinkProblem(ev, root, rel, how));
      return;
    }
    const location = joinRoot(root, rel);
    let kind: string;
    try {
      kind = recogniseSource(location).kind;
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      // A default place that is empty or holds no store is not worth a word; a named one, or scan signatures
      // that are not a store we recognise, are.
      const quiet = via.named === 'default' && ['source.empty-dir', 'source.unrecognised'].includes(err.code);
      // The error names its own file (a meta.db, a subdirectory): the problem names that file, said once.
      const why = err.path && err.message.startsWith(`${err.path}: `) ? err.message.slice(err.path.length + 2) : err.message;
      const at = err.path && err.path !== location ? ` (${err.path.startsWith(location + '/') ? err.path.slice(location.length + 1) : err.path})` : '';
      if (!quiet) problems.push(problem(via.named === 'scan' ? 'info' : 'warning', 'image-root.not-a-store', `${how}: /${rel} is not a store we can read${at}: ${why}`, err.path ?? location));
      return;
    }
    if (kind === 'file' || kind === 'oci-layout') {
      if (via.named !== 'scan') problems.push(problem('warning', 'image-root.not-a-store', `${how}: /${rel} is ${kind === 'file' ? 'a file' : 'an OCI layout'}, not an engine's store`, location));
      return;
    }
    // One directory reached by two paths (a bind mount of a live host's store): one store, both paths said.
    const st2 = fs.lstatSync(location, { bigint: true });
    const inode = `${st2.dev}:${st2.ino}`;
    const same = byInode.get(inode);
    if (same) {
      const also = `${how} (as /${rel})`;
      if (!same.how.includes(also)) same.how.push(also);
      return;
    }
    const store: FoundStore = { kind, location, relative: rel, how: [how], ...(via.owner ? { owner: via.owner } : {}), label: '' };
    found.set(rel, store);
    byInode.set(inode, store);
  };

  /** look(), with what the file system refuses (EACCES, EIO...) said as a problem naming the path: the rest goes on. */
  const consider = (rel: string, how: string, via: { owner?: string; named: Named }): void => {
    try {
      look(rel, how, via);
    } catch (err) {
      const at = err instanceof EvidenceError || err instanceof SourceError ? err.path : null;
      const why = err instanceof EvidenceError || err instanceof SourceError ? err.message.replace(at ? `${at}: ` : '', '') : describeFsError(err);
      problems.push(problem('warning', 'image-root.unreadable', `${how}: /${rel.replace(/^\/+|\/+$/g, '')} cannot be looked at: ${why}`, at ?? joinRoot(root, rel)));
    }
  };

  /**
   * A store the scan found at a path that is not UTF-8. openSource opens paths given as text, and no text names
   * these bytes: the store is checked here by its bytes (never through a symlink), recognised and later opened
   * through a private link to it (withStoreLink), and said as a warning: a directory so named hides a store from
   * every tool that reads names as text.
   */
  const considerBytes = (relBytes: string): void => {
    const how = 'found by scan';
    const shown = displayPath(relBytes);
    const key = `\0${relBytes}`;
    const existing = found.get(key);
    if (existing) return;
    const real = pathToBytes(joinRoot(textToBytes(root), relBytes));
    const st = lstatBytes(textToBytes(root), relBytes);
    if (st === 'unreadable') {
      problems.push(problem('warning', 'image-root.unreadable', `${how}: /${shown} cannot be looked at (permission or I/O error); a store there is not read`, joinRoot(root, shown)));
      return;
    }
    if (st !== 'dir') {
      if (st === 'symlink') problems.push(problem('warning', 'image-root.symlink', `${how}: /${shown} passes through a symlink; not followed`, joinRoot(root, shown)));
      return;
    }
    let kind: string | null;
    try {
      kind = withStoreLink(real.toString('latin1'), (at) => recogniseSource(at).kind);
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      problems.push(problem('info', 'image-root.not-a-store', `${how}: /${shown} is not a store we can read: ${err.message}`, joinRoot(root, shown)));
      return;
    }
    if (kind === null) {
      // Said as an error, never passed over: renaming a store's directory must not hide it.
      problems.push(problem('error', 'image-root.name-not-utf8', `${how}: /${shown} holds store signature files, but its own name is not UTF-8 (shown escaped: \\xNN is a byte), and a store is opened by a path given as text: it is not read. Copy or rename it (on a copy of the evidence) to read it`, joinRoot(root, shown)));
      return;
    }
    if (kind === 'file' || kind === 'oci-layout') return;
    const st2 = fs.lstatSync(real, { bigint: true });
    const inode = `${st2.dev}:${st2.ino}`;
    const same = byInode.get(inode);
    if (same) {
      const also = `${how} (as /${shown})`;
      if (!same.how.includes(also)) same.how.push(also);
      return;
    }
    const owner = ownerOf(relBytes);
    const store: FoundStore = { kind, location: joinRoot(root, shown), relative: shown, how: [how], ...(owner ? { owner } : {}), label: '', bytes: real.toString('latin1') };
    found.set(key, store);
    byInode.set(inode, store);
    problems.push(problem('warning', 'image-root.name-not-utf8', `${how}: a ${KIND_LABEL[kind] ?? kind} store at /${shown}, a path that is not UTF-8 (shown escaped: \\xNN is a byte); tools reading names as text miss it. It is read through a private link to it, and paths inside it are said under that link`, joinRoot(root, shown)));
  };

  // 1-3: the system engines.
  for (const c of systemCandidates(ev, root, problems)) consider(c.rel, c.how, { named: c.named });
  // 4: rootless stores.
  for (const c of rootlessCandidates(ev, root, problems)) consider(c.rel, c.how, { owner: c.owner, named: c.named });
  // 5: the scan.
  const depth = opts.scanDepth ?? DEFAULT_SCAN_DEPTH;
  let scan: Discovery['scan'] = null;
  if (depth > 0) {
    const t0 = Date.now();
    const hits = await scanSignatures(root, depth, opts.scanMs ?? DEFAULT_SCAN_MS, problems);
    for (const hit of hits) {
      if (hit.text !== null) consider(hit.text, 'found by scan', { named: 'scan', owner: ownerOf(hit.bytes) });
      else considerBytes(hit.bytes);
    }
    scan = { ms: Date.now() - t0, matches: hits.length, depth };
  }
  const stores = [...found.values()].sort((a, b) => a.relative.localeCompare(b.relative));
  labelStores(stores);
  return { root, stores, problems, scan };
}

/** The image root, as a directory we may read (the user's path: its own symlinks are theirs, and followed). */
export function checkRoot(imageRoot: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(imageRoot);
  } catch (err) {
    if (isPermissionError(err)) throw permissionDenied(imageRoot, err);
    throw new SourceError('source.not-found', `cannot open the image root: ${describeFsError(err)}`, imageRoot);
  }
  if (!st.isDirectory()) throw new SourceError('source.not-a-dir', 'is not a directory: --image-root names the root of a mounted file system', imageRoot);
  try {
    fs.accessSync(imageRoot, fs.constants.R_OK | fs.constants.X_OK);
  } catch (err) {
    if (isPermissionError(err)) throw permissionDenied(imageRoot, err);
  }
  return path.resolve(imageRoot);
}

function joinRoot(root: string, rel: string): string {
  return rel ? (root === '/' ? `/${rel}` : `${root}/${rel}`) : root;
}

/** A path given as text, as a byte string (latin1) of its UTF-8 bytes. */
function textToBytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** lstatUnder for a path of bytes (rel: a latin1 byte string): each component lstat'ed, never followed. */
function lstatBytes(rootBytes: string, rel: string): 'dir' | 'missing' | 'symlink' | 'not-dir' | 'unreadable' {
  const comps = rel.split('/');
  let cur = rootBytes === '/' ? '' : rootBytes;
  for (let i = 0; i < comps.length; i++) {
    cur += '/' + comps[i]!;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(pathToBytes(cur));
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'missing' : 'unreadable';
    }
    if (st.isSymbolicLink()) return 'symlink';
    if (!st.isDirectory()) return i === comps.length - 1 ? 'not-dir' : 'missing';
  }
  return 'dir';
}

/**
 * Run `fn` with a text path that opens the directory whose host path is `real` (a byte string, latin1; not UTF-8)
 * (see makeStoreLink), removed when `fn` returns. Null when no text path can name it.
 */
function withStoreLink<T>(real: string, fn: (at: string) => T): T | null {
  const link = makeStoreLink(real);
  if (!link) return null;
  try {
    return fn(link.at);
  } finally {
    link.remove();
  }
}

/**
 * A text path to the directory at `real` (a byte string, latin1): a symlink of our own, in a fresh private
 * directory (mkdtemp, 0700, outside the evidence; nothing is written under DIR), to the deepest ancestor whose
 * name is not UTF-8, followed by the rest of the path, which is text. The link is never the path's last
 * component: the sources lstat their root and rightly refuse a symlink there (and openSource resolves `link/.`
 * back to `link`). Null when the directory's own name is not UTF-8: no text path names it then.
 */
function makeStoreLink(real: string): { at: string; remove(): void } | null {
  const comps = real.split('/');
  let k = comps.length - 1;
  while (k >= 0 && pathToText(comps[k]!) !== null) k--;
  if (k < 0 || k === comps.length - 1) return null;
  // not an output: a private link of ours in a fresh temp dir (never in the evidence), removed on close.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerscope-store-'));
  fs.symlinkSync(pathToBytes(comps.slice(0, k + 1).join('/')), path.join(dir, 'store'));
  const rest = comps.slice(k + 1).map((c) => pathToText(c)!);
  return { at: [dir, 'store', ...rest].join('/'), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

type Named = 'config' | 'default' | 'scan';
interface Candidate {
  rel: string;
  how: string;
  named: Named;
  owner?: string;
}

/** What kind of thing is at rel, never through a symlink ('unreadable': the file system refused, EACCES, EIO...). */
function lstatUnder(ev: Evidence, rel: string): 'dir' | 'missing' | 'symlink' | 'not-dir' | 'unreadable' {
  if (!rel) return 'dir';
  try {
    const st = ev.lstat(rel);
    if (st === null) return 'missing';
    if (st.isSymbolicLink()) return 'symlink';
    return st.isDirectory() ? 'dir' : 'not-dir';
  } catch (err) {
    if (err instanceof EvidenceError && err.code === 'evidence.symlink') return 'symlink';
    if (err instanceof EvidenceError && err.code === 'evidence.unsafe-path') return 'missing';
    if (err instanceof EvidenceError) return 'unreadable';
    throw err;
  }
}

/** The first symlink on the way to rel, and where it points: said, not followed. */
function symlinkProblem(ev: Evidence, root: string, rel: string, how: string): Problem {
  const comps = rel.split('/');
  for (let i = 1; i <= comps.length; i++) {
    const part = comps.slice(0, i).join('/');
    let target: string | null = null;
    try {
      target = ev.readlink(part);
    } catch {
      target = null;
    }
    if (target !== null) {
      const where = part === rel ? `/${rel} is a symlink` : `/${part} (on the way to /${rel}) is a symlink`;
      return problem('warning', 'image-root.symlink', `${how}: ${where} to ${JSON.stringify(Buffer.from(target, 'latin1').toString('utf8'))}; not followed (the scan finds the store where it really is, if it is on this disk)`, joinRoot(root, part));
    }
  }
  return problem('warning', 'image-root.symlink', `${how}: /${rel} passes through a symlink; not followed`, joinRoot(root, rel));
}

/**
 * An absolute path named by a config file, as a path relative to the image root: lexically normalised (`..` can
 * not climb above the root: the engine's `/` is the image root). Null for a relative path (engines refuse them).
 */
function configPath(value: string): string | null {
  if (!value.startsWith('/') || value.includes('\0')) return null;
  return path.posix.normalize(value).replace(/^\/+|\/+$/g, '');
}

/** A small config file of the evidence, or null when absent; unreadable ones are problems naming them. */
function readConfig(ev: Evidence, root: string, rel: string, problems: Problem[]): string | null {
  try {
    return ev.readFile(CONFIG_BYTES, rel)?.toString('utf8') ?? null;
  } catch (err) {
    const why = err instanceof EvidenceError ? err.message.replace(/^[^:]*: /, '') : describeFsError(err);
    problems.push(problem('warning', 'image-root.config-unreadable', `cannot read it (${why}); the default places and the scan are still tried`, joinRoot(root, rel)));
    return null;
  }
}

/** daemon.json's data root: `data-root`, or the legacy `graph` (dockerd refuses both at once). */
function daemonJsonRoot(ev: Evidence, root: string, rel: string, problems: Problem[]): { value: string; key: string }[] {
  const text = readConfig(ev, root, rel, problems);
  if (text === null) return [];
  let conf: unknown;
  try {
    conf = JSON.parse(text);
  } catch (err) {
    problems.push(problem('warning', 'image-root.config-invalid', `is not valid JSON (${(err as Error).message}): dockerd would refuse to start with it; the default data root and the scan are still tried`, joinRoot(root, rel)));
    return [];
  }
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) {
    problems.push(problem('warning', 'image-root.config-invalid', 'is not a JSON object; the default data root and the scan are still tried', joinRoot(root, rel)));
    return [];
  }
  const out: { value: string; key: string }[] = [];
  for (const key of ['data-root', 'graph']) {
    const v = (conf as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || configPath(v) === null) {
      problems.push(problem('warning', 'image-root.config-invalid', `${key} is ${JSON.stringify(v)}, not an absolute path`, joinRoot(root, rel)));
      continue;
    }
    out.push({ value: v, key });
  }
  if (out.length > 1) problems.push(problem('warning', 'image-root.config-conflict', 'sets both data-root and the deprecated graph, which dockerd refuses; both places are tried', joinRoot(root, rel)));
  return out;
}

/**
 * One string key of a TOML file, read minimally: `key = "basic string"` or `key = 'literal string'` on a line
 * of its own, inside `table` (null: before any table header, i.e. top-level). Escapes of basic strings beyond
 * \" and \\ are not decoded (a path needs none). Enough for containerd's `root` and containers-storage's
 * `[storage] graphroot`; anything else in the file is ignored.
 */
export function tomlString(text: string, table: string | null, key: string): string | null {
  let current: string | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const header = /^\[\s*([A-Za-z0-9_.\-"' ]+?)\s*\]\s*(#.*)?$/.exec(line);
    if (header) {
      current = header[1]!.replace(/["'\s]/g, '');
      continue;
    }
    if (line.startsWith('[[')) {
      current = '[[array]]';
      continue;
    }
    if (current !== table) continue;
    const m = /^("?)([A-Za-z0-9_-]+)\1\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')\s*(#.*)?$/.exec(line);
    if (m && m[2] === key) return m[3] !== undefined ? m[3].replace(/\\(["\\])/g, '$1') : m[4]!;
  }
  return null;
}

function tomlRoot(ev: Evidence, root: string, rel: string, table: string | null, key: string, problems: Problem[]): string | null {
  const text = readConfig(ev, root, rel, problems);
  if (text === null) return null;
  const v = tomlString(text, table, key);
  if (v === null) return null;
  if (configPath(v) === null) {
    problems.push(problem('warning', 'image-root.config-invalid', `${table ? `[${table}] ` : ''}${key} is ${JSON.stringify(v)}, not an absolute path`, joinRoot(root, rel)));
    return null;
  }
  return v;
}

/** The system engines' stores: what their configs name, else their defaults. */
function systemCandidates(ev: Evidence, root: string, problems: Problem[]): Candidate[] {
  const out: Candidate[] = [];
  const dockerConf = daemonJsonRoot(ev, root, 'etc/docker/daemon.json', problems);
  for (const d of dockerConf) out.push({ rel: configPath(d.value)!, how: `etc/docker/daemon.json ${d.key}`, named: 'config' });
  // The default is looked at even when a config names another place: an engine that ran before the config
  // was changed left its store there.
  out.push({ rel: 'var/lib/docker', how: 'default /var/lib/docker', named: 'default' });
  const ctd = tomlRoot(ev, root, 'etc/containerd/config.toml', null, 'root', problems);
  if (ctd) out.push({ rel: configPath(ctd)!, how: 'etc/containerd/config.toml root', named: 'config' });
  out.push({ rel: 'var/lib/containerd', how: 'default /var/lib/containerd', named: 'default' });
  const cs = tomlRoot(ev, root, 'etc/containers/storage.conf', 'storage', 'graphroot', problems);
  if (cs) out.push({ rel: configPath(cs)!, how: 'etc/containers/storage.conf graphroot', named: 'config' });
  out.push({ rel: 'var/lib/containers/storage', how: 'default /var/lib/containers/storage', named: 'default' });
  return out;
}

/** Users with a home directory on the disk: home/<user>/ and root/ (real directories only). */
function homes(ev: Evidence): { user: string; rel: string }[] {
  const out: { user: string; rel: string }[] = [];
  if (lstatUnder(ev, 'root') === 'dir') out.push({ user: 'root', rel: 'root' });
  let names: string[] = [];
  try {
    names = lstatUnder(ev, 'home') === 'dir' ? ev.readdir('home') : [];
  } catch {
    names = [];
  }
  for (const n of names.slice(0, 10_000)) if (lstatUnder(ev, `home/${n}`) === 'dir') out.push({ user: Buffer.from(n, 'latin1').toString('utf8'), rel: `home/${n}` });
  return out;
}

/** Rootless Docker and rootless podman of every user. */
function rootlessCandidates(ev: Evidence, root: string, problems: Problem[]): Candidate[] {
  const out: Candidate[] = [];
  for (const h of homes(ev)) {
    const conf = `${h.rel}/.config/docker/daemon.json`;
    if (!['missing', 'unreadable'].includes(lstatUnder(ev, conf))) for (const d of daemonJsonRoot(ev, root, conf, problems)) out.push({ rel: configPath(d.value)!, how: `${conf} ${d.key}`, named: 'config', owner: h.user });
    out.push({ rel: `${h.rel}/.local/share/docker`, how: `default ~${h.user}/.local/share/docker (rootless Docker)`, named: 'default', owner: h.user });
    const sconf = `${h.rel}/.config/containers/storage.conf`;
    if (!['missing', 'unreadable'].includes(lstatUnder(ev, sconf))) {
      const g = tomlRoot(ev, root, sconf, 'storage', 'graphroot', problems);
      if (g) out.push({ rel: configPath(g)!, how: `${sconf} graphroot`, named: 'config', owner: h.user });
    }
    out.push({ rel: `${h.rel}/.local/share/containers/storage`, how: `default ~${h.user}/.local/share/containers/storage (rootless podman)`, named: 'default', owner: h.user });
  }
  return out;
}

/** The user whose home a store is under, if any. */
function ownerOf(rel: string): string | undefined {
  const m = /^home\/([^/]+)\//.exec(rel);
  if (m) return Buffer.from(m[1]!, 'latin1').toString('utf8');
  return rel.startsWith('root/') ? 'root' : undefined;
}

/**
 * Store directories the scan finds by their signature files, relative to the root. Never follows a symlink,
 * never descends more than `depth` levels, passes over what it may not read (said once).
 */
async function scanSignatures(root: string, depth: number, budgetMs: number, problems: Problem[]): Promise<ScanHit[]> {
  const dirs = new Map<string, ScanHit>();
  const names = new ByteNames();
  const adapter = byteNameFs(names);
  let matches = 0;
  let unreadable = 0;
  let listed = 0;
  const deadline = Date.now() + budgetMs;
  let outOfTime = false;
  const stream = fg.stream(
    SIGNATURES.map((s) => s.pattern),
    {
      cwd: root,
      dot: true,
      deep: depth,
      onlyFiles: false,
      followSymbolicLinks: false,
      suppressErrors: true,
      ignore: SCAN_IGNORE,
      unique: true,
      caseSensitiveMatch: true,
      // The names are bytes of the evidence: the adapter reads them as bytes and gives fast-glob an alias for
      // each name it could not match (not UTF-8, a newline...), mapped back to the bytes in every call.
      // Past the deadline every directory reads as empty: the walk winds down at once (fast-glob has no abort).
      fs: {
        ...adapter,
        readdir: boundedReaddir(
          adapter.readdir as unknown as typeof fs.readdir,
          () => unreadable++,
          () => {
            listed++;
            if (!outOfTime && Date.now() >= deadline) outOfTime = true;
            return outOfTime;
          },
        ),
      } as unknown as fg.FileSystemAdapter,
    },
  );
  for await (const entry of stream) {
    const rel = String(entry);
    if (++matches > SCAN_MATCHES) {
      problems.push(problem('warning', 'image-root.scan-limit', `the scan met more than ${SCAN_MATCHES} store signature files; the rest of the disk was not scanned`, root));
      (stream as unknown as { destroy(): void }).destroy();
      break;
    }
    const sig = SIGNATURES.find((s) => matchesSignature(rel, s.pattern));
    if (!sig) continue;
    let dir = rel.split('/').slice(0, -sig.up).join('/');
    // A Docker data root's managed containerd lives in <data-root>/containerd/daemon/: the data root is the store.
    if (sig.up === 2 && rel.endsWith('io.containerd.metadata.v1.bolt/meta.db') && /(^|\/)containerd\/daemon$/.test(dir)) dir = dir.replace(/\/?containerd\/daemon$/, '');
    // The store's path as bytes (latin1 byte string), and as text when it is UTF-8 (what openSource can open).
    const bytes = names.bytes(dir).toString('latin1');
    if (!dirs.has(bytes)) dirs.set(bytes, { bytes, text: pathToText(bytes) });
  }
  if (outOfTime) problems.push(problem('warning', 'image-root.scan-time', `the scan stopped after ${Math.round(budgetMs / 1000)} s (${listed} directories listed): stores in the directories it had not reached yet are found only at the places configs name and at the defaults`, root));
  if (unreadable) problems.push(problem('info', 'image-root.scan-unreadable', `the scan could not read ${unreadable} director${unreadable === 1 ? 'y' : 'ies'} (permission or I/O errors); stores inside them are not found`, root));
  return [...dirs.values()];
}

/** A store directory the scan found, relative to the root: its bytes (latin1), and its text when it is UTF-8. */
interface ScanHit {
  bytes: string;
  text: string | null;
}

function matchesSignature(rel: string, pattern: string): boolean {
  const parts = rel.split('/');
  const pat = pattern.split('/').slice(1);
  if (parts.length < pat.length) return false;
  const tail = parts.slice(parts.length - pat.length);
  return pat.every((p, i) => (p === '*' ? true : p.startsWith('*') ? tail[i]!.endsWith(p.slice(1)) && tail[i]!.length > p.length - 1 : p === tail[i]));
}

/** fs.readdir that counts its failures (fast-glob suppresses them) and answers [] once `stop()` says so. */
function boundedReaddir(readdir: typeof fs.readdir, onError: () => void, stop: () => boolean): typeof fs.readdir {
  return ((...args: unknown[]) => {
    const cb = args[args.length - 1] as (err: NodeJS.ErrnoException | null, ...rest: unknown[]) => void;
    if (stop()) {
      process.nextTick(() => cb(null, []));
      return;
    }
    (readdir as unknown as (...a: unknown[]) => void)(...args.slice(0, -1), (err: NodeJS.ErrnoException | null, ...rest: unknown[]) => {
      if (err) onError();
      cb(err, ...rest);
    });
  }) as unknown as typeof fs.readdir;
}

const KIND_LABEL: Record<string, string> = { 'docker-root': 'docker', 'containerd-root': 'containerd', 'containers-storage': 'storage' };

/** Short unique labels: `docker`, `containerd`, `alice:docker`; a second one of a kind gets `#2`. */
function labelStores(stores: FoundStore[]): void {
  const seen = new Map<string, number>();
  for (const s of stores) {
    const base = `${s.owner ? `${s.owner}:` : ''}${KIND_LABEL[s.kind] ?? s.kind}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    s.label = n === 1 ? base : `${base}#${n}`;
  }
}

/** The StoreRef carried by the images and containers of a store. */
export function storeRef(s: FoundStore): StoreRef {
  return { label: s.label, location: s.location, relative: s.relative, kind: s.kind };
}

export type Opener = (location: string, opts: OpenOptions) => Promise<Source>;

/**
 * Every store under `imageRoot`, opened as one source (one PathTable: images of different stores that share
 * layers stack on one chain tree). A store that fails to open is a problem naming it; the others go on. Nothing
 * found at all is a SourceError.
 */
export async function openImageRoot(imageRoot: string, opts: OpenOptions & DiscoverOptions, open: Opener): Promise<Source> {
  opts.progress?.({ phase: 'looking for stores', done: 0, total: null, detail: `${imageRoot} (configs, default places, a scan ${opts.scanDepth ?? DEFAULT_SCAN_DEPTH} deep)` });
  const found = await discoverStores(imageRoot, { scanDepth: opts.scanDepth, scanMs: opts.scanMs });
  const paths = opts.paths ?? new PathTable();
  const problems: Problem[] = [...found.problems];
  const parts: { store: FoundStore; source: Source }[] = [];
  const summaries: StoreSummary[] = [];
  const links: { remove(): void }[] = [];
  const dropLinks = (): void => {
    for (const l of links) l.remove();
  };
  // Our private links go with the source; whatever ends the opening early takes them away.
  try {
    for (const store of found.stores) {
      opts.progress?.({ phase: 'stores', done: parts.length, total: found.stores.length, detail: store.relative });
      // A store whose path is not UTF-8 is opened through a private link, kept until the source is closed.
      const link = store.bytes !== undefined ? makeStoreLink(store.bytes) : null;
      if (link) links.push(link);
      try {
        const source = await open(link ? link.at : store.location, { ...opts, paths, systemRoot: found.root });
        // What the mount check must know of the store goes with its images and containers (it opens paths in it:
        // the link, for a store whose path is not UTF-8).
        const ref: StoreRef = { ...storeRef(store), ...(link ? { location: link.at } : {}), layerDirsNotMountable: source.layerDirsNotMountable ?? null };
        for (const i of source.images) i.store = ref;
        for (const c of source.containers) c.store = ref;
        parts.push({ store, source });
        summaries.push({ ...store, images: source.images.length, containers: source.containers.length });
      } catch (err) {
        if (!(err instanceof SourceError || err instanceof EvidenceError)) throw err;
        // The error's own path is said when it is not the store's (a meta.db, a config inside it).
        const opened = link ? link.at : store.location;
        const why = err.path === opened ? err.message.slice(opened.length + 2) : err.message;
        problems.push(problem('error', 'image-root.store-unreadable', `the ${KIND_LABEL[store.kind] ?? store.kind} store found here (${store.how.join('; ')}) cannot be opened: ${why}`, store.location));
        summaries.push({ ...store, images: null, containers: null });
      }
    }
  } catch (err) {
    dropLinks();
    throw err;
  }
  if (parts.length === 0) dropLinks();
  if (found.stores.length === 0) {
    const scanned = found.scan ? `, and a scan ${found.scan.depth} directories deep found no store signature (image/<driver>/repositories.json, io.containerd.metadata.v1.bolt/meta.db, <driver>-images/images.json)` : '';
    const said = found.problems.length ? ` (${found.problems.map((p) => `${p.path ?? ''}: ${p.message}`).join('; ')})` : '';
    throw new SourceError('source.no-stores', `no container store found: none at the places the host's configs name or at the defaults (var/lib/docker, var/lib/containerd, var/lib/containers/storage, home/*/.local/share/...)${scanned}${said}`, found.root);
  }
  if (parts.length === 0) throw new SourceError('source.no-stores', `found ${found.stores.length} store(s), none of which could be opened: ${problems.filter((p) => p.code === 'image-root.store-unreadable').map((p) => `${p.path}: ${p.message}`).join('; ')}`, found.root);
  return composite(found.root, parts, summaries, problems, paths, dropLinks);
}

/** The stores' sources as one. */
function composite(root: string, parts: { store: FoundStore; source: Source }[], summaries: StoreSummary[], problems: Problem[], paths: PathTable, cleanup: () => void): Source {
  const owner = new Map<ImageInfo, Source>();
  const cOwner = new Map<ContainerInfo, Source>();
  for (const { source } of parts) {
    for (const i of source.images) owner.set(i, source);
    for (const c of source.containers) cOwner.set(c, source);
  }
  const withStorage = parts.filter((p) => p.source.readStorage);
  const withVolumes = parts.filter((p) => p.source.volumes);
  return {
    kind: 'image-root',
    location: root,
    images: parts.flatMap((p) => p.source.images),
    containers: parts.flatMap((p) => p.source.containers),
    // Each store's problems, said with the store they are from when the path alone does not say it.
    problems: [...problems, ...parts.flatMap((p) => p.source.problems)],
    paths,
    stores: summaries,
    ...routedAccess(owner, cOwner),
    ...(withStorage.length
      ? {
          async readStorage(): Promise<StorageInfo> {
            const all = await Promise.all(withStorage.map((p) => p.source.readStorage!()));
            return { orphanDirs: all.flatMap((a) => a.orphanDirs), orphanLayers: all.flatMap((a) => a.orphanLayers) };
          },
        }
      : {}),
    ...(withVolumes.length ? { volumes: mergedVolumes(withVolumes.map((p) => p.source.volumes!)) } : {}),
    async close() {
      try {
        await Promise.all(parts.map((p) => p.source.close()));
      } finally {
        cleanup();
      }
    },
  };
}

/** Volumes and binds of every Docker data root found, each answered by the store it is from. */
function mergedVolumes(all: VolumeAccess[]): VolumeAccess {
  let listing: VolumeListing | null = null;
  const vOwner = new Map<VolumeInfo, VolumeAccess>();
  const bOwner = new Map<BindMount, VolumeAccess>();
  const list = (): VolumeListing => {
    if (listing) return listing;
    const lists = all.map((a) => {
      const l = a.list();
      for (const v of l.volumes) vOwner.set(v, a);
      for (const b of l.binds) bOwner.set(b, a);
      return l;
    });
    const roots = new Set(lists.map((l) => l.engineRoot));
    listing = { volumes: lists.flatMap((l) => l.volumes), binds: lists.flatMap((l) => l.binds), engineRoot: roots.size === 1 ? lists[0]!.engineRoot : null, problems: lists.flatMap((l) => l.problems) };
    return listing;
  };
  const of = <K>(m: Map<K, VolumeAccess>, k: K): VolumeAccess => {
    list();
    const a = m.get(k);
    if (!a) throw new NotFoundError('volume.not-found', 'not a volume or bind mount of this source');
    return a;
  };
  return {
    list,
    size: (v) => of(vOwner, v).size(v),
    bindSize: (b) => of(bOwner, b).bindSize(b),
    readTree: (v) => of(vOwner, v).readTree(v),
    readBindTree: (b) => of(bOwner, b).readBindTree(b),
  };
}
