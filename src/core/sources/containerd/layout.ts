/**
 * Where the containerd store lives under a path the user names, and small decoders for containerd's bolt
 * values. Shared by the source (index.ts) and store detection (detect.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SourceError } from '../../model/errors.js';
import { Evidence, isPermissionError, permissionDenied } from '../evidence.js';

export const META_DB = ['io.containerd.metadata.v1.bolt', 'meta.db'] as const;
export const CONTENT_DIR = ['io.containerd.content.v1.content', 'blobs', 'sha256'] as const;
export const SNAPSHOTTER = 'overlayfs';
export const SNAPSHOTTER_DIR = 'io.containerd.snapshotter.v1.overlayfs';
export const DOCKER_NAMESPACE = 'moby';
/** dockerd's managed containerd keeps its root here, below the Docker data root. */
export const DOCKER_CONTAINERD_ROOT = ['containerd', 'daemon'] as const;

export interface ContainerdLayout {
  /** 'docker': a Docker data root whose managed containerd lives in containerd/daemon; 'containerd': a containerd root. */
  kind: 'docker' | 'containerd';
  /** The containerd root (holds io.containerd.* dirs). */
  containerdRoot: string;
  /** The Docker data root (containers/ ...), for kind 'docker'. */
  dockerRoot: string | null;
}

/**
 * Recognise a containerd store: `root` itself (e.g. /var/lib/containerd) or a Docker data root holding a
 * managed containerd in containerd/daemon/. No symlink is followed at any step below `root` (a planted
 * `io.containerd.metadata.v1.bolt -> /elsewhere` is not taken). Null when neither. This only says where a
 * store's meta.db would be: whether it is one (a bbolt file with containerd's v1 schema) is for the reader to
 * find out, and a Docker data root's containerd/daemon/ exists on every engine since 20.10, image store or not
 * (open.ts decides which store of a data root to read). A directory we may not read is a SourceError
 * (source.permission-denied), never "no store here".
 */
export function findContainerdLayout(root: string): ContainerdLayout | null {
  const r = root.replace(/\/+$/, '') || '/';
  const ev = new Evidence(r);
  const isFile = (...parts: string[]) => {
    try {
      return ev.lstat(...parts)?.isFile() ?? false;
    } catch (err) {
      if (isPermissionError(err)) throw permissionDenied((err as { path?: string }).path ?? r, err);
      return false;
    }
  };
  try {
    if (!fs.statSync(r).isDirectory()) return null;
  } catch (err) {
    if (isPermissionError(err)) throw permissionDenied(r, err);
    return null;
  }
  if (isFile(...META_DB)) return { kind: 'containerd', containerdRoot: r, dockerRoot: null };
  if (isFile(...DOCKER_CONTAINERD_ROOT, ...META_DB)) return { kind: 'docker', containerdRoot: path.join(r, ...DOCKER_CONTAINERD_ROOT), dockerRoot: r };
  return null;
}

/** A containerd root's meta.db without containerd's v1 bucket: containerd writes v1/version the first time it opens it. */
export function noContainerdMetadata(metaPath: string): SourceError {
  return new SourceError('source.containerd.no-metadata', 'is a bbolt database but holds no containerd metadata (no v1 bucket): not the database of a containerd that ever ran, or its content was wiped', metaPath);
}

/** A containerd root's meta.db without any namespace: nothing to report, not even an empty store. */
export function noContainerdNamespaces(metaPath: string): SourceError {
  return new SourceError(
    'source.containerd.no-namespaces',
    'holds no namespace: containerd keeps every image, container and snapshot in a namespace (k8s.io for Kubernetes, moby for Docker, default for ctr), so this containerd never stored anything here. Is this the root your containerd uses? (see root = in /etc/containerd/config.toml; k3s keeps its own in /var/lib/rancher/k3s/agent/containerd)',
    metaPath,
  );
}

/** Go binary.Uvarint; null when malformed. */
export function uvarint(buf: Buffer | null): bigint | null {
  if (!buf) return null;
  let x = 0n;
  let s = 0n;
  for (let i = 0; i < buf.length && i < 10; i++) {
    const b = buf[i]!;
    if (b < 0x80) return x | (BigInt(b) << s);
    x |= BigInt(b & 0x7f) << s;
    s += 7n;
  }
  return null;
}

/** Go binary.Varint (zig-zag); null when malformed. */
export function varint(buf: Buffer | null): bigint | null {
  const u = uvarint(buf);
  if (u === null) return null;
  const v = u >> 1n;
  return u & 1n ? -v - 1n : v;
}

/**
 * Go time.Time.MarshalBinary (version 1 or 2): seconds since year 1 (int64 BE), nanoseconds (int32 BE), zone
 * offset in minutes (int16 BE; -1 = UTC), [v2: seconds of offset]. Returned as an RFC 3339 UTC string.
 */
export function goTime(buf: Buffer | null): string | null {
  if (!buf || buf.length < 15 || (buf[0] !== 1 && buf[0] !== 2)) return null;
  const sec = buf.readBigInt64BE(1);
  const nsec = buf.readInt32BE(9);
  if (nsec < 0 || nsec > 999_999_999) return null;
  const unix = sec - 62135596800n; // seconds from 0001-01-01 to 1970-01-01
  const ms = Number(unix) * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return null;
  const iso = new Date(ms).toISOString().replace(/\.\d{3}Z$/, '');
  return `${iso}.${String(nsec).padStart(9, '0')}Z`;
}
