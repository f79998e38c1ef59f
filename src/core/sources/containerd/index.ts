import * as fs from 'node:fs';
import type { OpenOptions, Source, StorageInfo } from '../../model/source.js';
import type { ContainerInfo, ImageInfo, Problem } from '../../model/types.js';
import { LayerTable } from '../../model/layer-table.js';
import { PathTable } from '../../model/paths.js';
import { ProblemSink } from '../../model/problem-sink.js';
import { problem } from '../../model/types.js';
import { SourceError } from '../../model/errors.js';
import { chainIds, digestHex, isDigest, sha256Digest } from '../../analysis/chain.js';
import { Evidence, EvidenceError, describeFsError, openNoFollow, throwIfPermission } from '../evidence.js';
import { readLayerFromStream } from '../tar/layer-reader.js';
import { eachTreeBytes, readLayerDir } from '../walk/layer-dir.js';
import { imageFromConfig, parseConfig } from '../config.js';
import { fillVolumeSources } from '../volumes.js';
import { attachHostConfig, containerFields, readConfigV2 } from '../container-config.js';
import { GRAPH_DRIVER_NAMES } from '../drivers.js';
import { JsonDoc, parseJson, type JsonArr, type JsonObj } from '../shape.js';
import { BoltError, openBolt, type BoltDb } from './bbolt.js';
import { CONTENT_DIR, DOCKER_NAMESPACE, META_DB, SNAPSHOTTER, SNAPSHOTTER_DIR, findContainerdLayout, goTime, noContainerdMetadata, noContainerdNamespaces, uvarint, varint } from './layout.js';
import { cachedLocations, layerAccess } from '../layer-access.js';

export { openBolt, BoltError } from './bbolt.js';
export type { BoltDb, Bucket, BoltEntry, BoltMeta, BoltOptions } from './bbolt.js';
export { detectStores } from './detect.js';
export type { StoreDetection, DetectOptions } from './detect.js';
export { findContainerdLayout } from './layout.js';
export type { ContainerdLayout } from './layout.js';

/**
 * The containerd image store, read offline: a Docker data root on the containerd store (Docker 29+ fresh
 * installs, or `features.containerd-snapshotter`; namespace `moby`, containerd root in containerd/daemon/),
 * or a containerd root such as /var/lib/containerd (Kubernetes nodes; every namespace unless filtered).
 *
 * tag → meta.db v1/<ns>/images/<name>/target → content blob (index → platform manifest) → manifest → config
 * → rootfs.diff_ids → ChainIDs → meta.db v1/<ns>/snapshots/overlayfs/<chainID>/name → metadata.db
 * v1/snapshots/<name>/id → io.containerd.snapshotter.v1.overlayfs/snapshots/<id>/fs, read like an overlay2 diff.
 *
 * Read-only: the bolt files are opened O_RDONLY|O_NOFOLLOW (O_NOATIME when permitted) and never locked; blobs
 * and container configs go through `Evidence` (no symlinks, bounded sizes). Everything read is checked (blob
 * digests are recomputed, ids must be numbers or digests before they become paths); every inconsistency is a
 * Problem naming the file.
 */

const HEX64 = /^[0-9a-f]{64}$/;
const MAX_BLOB = 64 << 20;
const MAX_CHAIN = 4096;

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MANIFEST_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);
/** Graphdrivers: a container with one of these belongs to the classic store, not to this one. */
const GRAPHDRIVERS: ReadonlySet<string> = new Set([...GRAPH_DRIVER_NAMES, 'windowsfilter']);

export interface ContainerdOpenOptions extends OpenOptions {
  /** Platform for multi-platform indexes, `os/arch[/variant]`. Default linux/amd64. */
  platform?: string;
  /** Only this namespace. Default: `moby` for a Docker data root, every namespace for a containerd root. */
  namespace?: string;
}

interface SnapshotRecord {
  key: string;
  backend: string;
  /** Backend id (the snapshots/<id> dir name), decimal. */
  id: string | null;
  kind: 'view' | 'active' | 'committed' | null;
  /** Client key of the parent (meta.db). */
  parent: string | null;
  size: number | null;
  /** snapshots/<id>/fs, when it exists. */
  dir: string | null;
}

type Note = (severity: Problem['severity'], code: string, message: string, path: string | null) => void;

interface ResolvedImage {
  configDigest: string;
  manifestDigest: string;
  configBytes: Buffer;
  /** The manifest's layer blob digests (compressed), in order; null entries are malformed descriptors. */
  layerBlobs: (string | null)[];
}

export async function openContainerdRoot(root: string, opts: ContainerdOpenOptions = {}): Promise<Source> {
  const layout = findContainerdLayout(root);
  if (!layout) {
    throw new SourceError(
      'source.no-containerd-store',
      `has neither ${META_DB.join('/')} (a containerd root) nor containerd/daemon/${META_DB.join('/')} (a Docker data root on the containerd image store)`,
      root,
    );
  }
  const problems: Problem[] = [];
  // Counted past 100 of a kind: a store can hold a million bad names.
  const note: Note = new ProblemSink(problems).note;
  const ctd = new Evidence(layout.containerdRoot);
  const metaPath = ctd.path(...META_DB);
  let meta: BoltDb;
  try {
    // Evidence.lstat refuses a symlink in any component; openBolt opens the file itself O_NOFOLLOW.
    if (!ctd.lstat(...META_DB)?.isFile()) throw new SourceError('source.containerd.meta-unreadable', 'is not a regular file', metaPath);
    meta = openBolt(metaPath);
  } catch (err) {
    throwIfPermission(err, metaPath);
    if (err instanceof BoltError) throw new SourceError('source.containerd.meta-unreadable', err.message.replace(`${metaPath}: `, ''), metaPath);
    if (err instanceof EvidenceError) throw new SourceError('source.containerd.meta-unreadable', err.message.replace(`${err.path}: `, ''), err.path ?? metaPath);
    throw err;
  }
  const truncated = (db: BoltDb) => {
    if (db.truncated) note('error', 'bolt.truncated', `file is ${db.fileSize} bytes but its meta page says ${db.meta.pageCount} pages of ${db.meta.pageSize}: truncated, pages past the end are lost`, db.path);
    if (db.unstable) note('warning', 'bolt.unstable', 'the engine kept writing this database while it was read: the results may mix two moments; stop the engine, or copy the root first', db.path);
  };
  truncated(meta);
  const snapDbPath = ctd.path(SNAPSHOTTER_DIR, 'metadata.db');
  let snapDb: BoltDb | null = null;
  let snapSt: fs.Stats | null = null;
  try {
    snapSt = ctd.lstat(SNAPSHOTTER_DIR, 'metadata.db');
  } catch (err) {
    throwIfPermission(err, snapDbPath);
    if (!(err instanceof EvidenceError)) throw err;
    note('error', err.code, `snapshotter database unreadable: ${err.message.replace(`${err.path}: `, '')}`, err.path);
  }
  if (snapSt) {
    try {
      snapDb = openBolt(snapDbPath);
      truncated(snapDb);
    } catch (err) {
      throwIfPermission(err, snapDbPath);
      if (!(err instanceof BoltError)) throw err;
      note('error', err.code, `snapshotter database unreadable: ${err.message.replace(`${snapDbPath}: `, '')}; layers are read from their content blobs where present`, snapDbPath);
    }
  } else if (!problems.some((p) => p.path?.startsWith(ctd.path(SNAPSHOTTER_DIR)))) {
    note('warning', 'containerd.snapshotter.missing', 'no overlayfs snapshotter database: layers were never unpacked here', snapDbPath);
  }

  /** Run a bolt read; a malformed page becomes a problem and the fallback is used. */
  const bolt = <T>(fn: () => T, fallback: T, what: string): T => {
    try {
      return fn();
    } catch (err) {
      throwIfPermission(err, layout.containerdRoot);
      if (err instanceof BoltError) {
        note('error', err.code, `${what}: ${err.message.replace(`${err.path}: `, '')}`, err.path);
        return fallback;
      }
      if (err instanceof EvidenceError) {
        note('error', err.code, `${what}: ${err.message.replace(`${err.path}: `, '')}`, err.path);
        return fallback;
      }
      throw err;
    }
  };

  try {
    const v1 = bolt(() => meta.bucket(['v1']), undefined, 'meta.db');
    if (v1 === null && layout.kind === 'containerd') {
      // containerd writes v1/version the first time it opens its database: without it this is not containerd's.
      throw noContainerdMetadata(metaPath);
    }
    if (v1 === null) note('warning', 'containerd.meta.empty', 'meta.db has no v1 bucket (a containerd that never stored anything)', metaPath);
    const allNamespaces = v1 ? bolt(() => [...v1.bucketNames()].map((k) => k.toString('utf8')), null, 'meta.db namespaces') ?? [] : [];
    if (v1 && allNamespaces.length === 0 && layout.kind === 'containerd' && !problems.some((p) => p.severity === 'error')) {
      // Nothing to report, not even an empty store: containerd keeps everything in namespaces.
      throw noContainerdNamespaces(metaPath);
    }
    const wanted = opts.namespace ?? (layout.kind === 'docker' ? DOCKER_NAMESPACE : null);
    const namespaces = wanted === null ? allNamespaces : allNamespaces.filter((n) => n === wanted);
    if (wanted !== null && !allNamespaces.includes(wanted))
      note(layout.kind === 'docker' ? 'warning' : 'info', 'containerd.namespace.missing', `namespace ${JSON.stringify(wanted)} not found (present: ${allNamespaces.join(', ') || 'none'})`, metaPath);

    const snapsBucket = snapDb ? bolt(() => snapDb!.bucket(['v1', 'snapshots']), null, 'metadata.db') : null;

    // ---------------------------------------------------------------------------------------------------
    // Snapshots
    // ---------------------------------------------------------------------------------------------------
    const snapCache = new Map<string, SnapshotRecord | null>();
    const snapshot = (ns: string, key: string): SnapshotRecord | null => {
      const ck = ns + '\0' + key;
      if (snapCache.has(ck)) return snapCache.get(ck)!;
      const rec = bolt(() => readSnapshot(ns, key), null, `snapshot ${key} (namespace ${ns})`);
      snapCache.set(ck, rec);
      return rec;
    };
    const readSnapshot = (ns: string, key: string): SnapshotRecord | null => {
      const b = v1?.bucket(ns)?.bucket('snapshots')?.bucket(SNAPSHOTTER)?.bucket(key);
      if (!b) return null;
      const backend = b.get('name')?.toString('utf8') ?? null;
      const parent = b.get('parent')?.toString('utf8') ?? null;
      const rec: SnapshotRecord = { key, backend: backend ?? '', id: null, kind: null, parent, size: null, dir: null };
      if (!backend) {
        note('error', 'containerd.snapshot.no-name', `snapshot ${key} has no backend name`, metaPath);
        return rec;
      }
      if (!snapsBucket) return rec;
      const s = snapsBucket.bucket(backend);
      if (!s) {
        note('error', 'containerd.snapshot.backend-missing', `snapshot ${key}: backend snapshot ${JSON.stringify(backend)} is not in the snapshotter database`, snapDbPath);
        return rec;
      }
      const id = uvarint(s.get('id'));
      const kind = s.get('kind')?.[0];
      rec.kind = kind === 1 ? 'view' : kind === 2 ? 'active' : kind === 3 ? 'committed' : null;
      const size = varint(s.get('size'));
      rec.size = size !== null && size >= 0n ? Number(size) : null;
      if (id === null || id <= 0n) {
        note('error', 'containerd.snapshot.bad-id', `backend snapshot ${JSON.stringify(backend)} has no valid id`, snapDbPath);
        return rec;
      }
      rec.id = id.toString();
      const st = ctd.lstat(SNAPSHOTTER_DIR, 'snapshots', rec.id, 'fs');
      if (st && st.isDirectory()) rec.dir = ctd.path(SNAPSHOTTER_DIR, 'snapshots', rec.id, 'fs');
      else note('error', 'containerd.snapshot.dir-missing', `snapshot ${key}: directory ${st ? 'is not a directory' : 'missing'}`, ctd.path(SNAPSHOTTER_DIR, 'snapshots', rec.id, 'fs'));
      return rec;
    };

    // ---------------------------------------------------------------------------------------------------
    // Blobs
    // ---------------------------------------------------------------------------------------------------
    const blobCache = new Map<string, Buffer | null>();
    /** A content blob, digest-checked; null (with a problem unless `quiet`) when absent or bad. */
    const blob = (digest: string, what: string, quiet = false): Buffer | null => {
      if (blobCache.has(digest)) return blobCache.get(digest)!;
      let bytes: Buffer | null = null;
      const where = ctd.path(...CONTENT_DIR, digestHex(digest));
      try {
        bytes = ctd.readFile(MAX_BLOB, ...CONTENT_DIR, digestHex(digest));
      } catch (err) {
        throwIfPermission(err, where);
        note('error', err instanceof EvidenceError ? err.code : 'evidence.unreadable', `${what}: ${err instanceof EvidenceError ? err.message.replace(`${err.path}: `, '') : describeFsError(err)}`, where);
      }
      if (bytes === null) {
        if (!quiet) note('error', 'containerd.blob.missing', `${what}: blob ${digest} is not in the content store`, where);
      } else if (sha256Digest(bytes) !== digest) {
        note('error', 'containerd.blob.digest-mismatch', `${what}: blob content hashes to ${sha256Digest(bytes)}, not to its name`, where);
        bytes = null;
      }
      blobCache.set(digest, bytes);
      return bytes;
    };
    /** Blobs whose wrong shapes were reported (several names may point to one manifest: said once). */
    const shapeReported = new Set<string>();
    /** A manifest or index blob as a shape-checked document; null (with a problem) when it is not a JSON object. */
    const json = (bytes: Buffer, what: string, where: string): { root: JsonObj; report: () => void } | null => {
      const parsed = parseJson(bytes);
      if (!parsed.ok) {
        note('error', 'containerd.blob.invalid-json', `${what}: ${parsed.reason}`, where);
        return null;
      }
      const doc = new JsonDoc(where, what);
      const root = doc.root(parsed.value);
      const report = () => {
        const p = doc.problem('containerd.blob.bad-shape');
        if (p && !shapeReported.has(where)) {
          shapeReported.add(where);
          problems.push(p);
        }
      };
      if (!root) {
        report();
        return null;
      }
      return { root, report };
    };
    /** An index's manifest descriptor, its fields shape-checked. */
    interface Descriptor {
      digest: string;
      mediaType: string | null;
      platform: { os: string; architecture: string; variant?: string } | undefined;
      annotations: Record<string, string>;
    }
    const descriptors = (list: JsonArr | null): Descriptor[] => {
      const out: Descriptor[] = [];
      for (const [, m] of list?.objs() ?? []) {
        const digest = m.str('digest');
        const mediaType = m.str('mediaType');
        const p = m.obj('platform');
        const platform = p ? { os: p.str('os') ?? '', architecture: p.str('architecture') ?? '', ...(p.str('variant') !== null ? { variant: p.str('variant')! } : {}) } : undefined;
        const annotations = Object.fromEntries(m.obj('annotations')?.strs() ?? []);
        if (isDigest(digest)) out.push({ digest, mediaType, platform, annotations });
      }
      return out;
    };

    const want = parsePlatform(opts.platform ?? 'linux/amd64');
    /** Whether a blob is there (an lstat: a symlink counts as present, and is refused when read). */
    const hasBlob = (digest: string): boolean => {
      try {
        return ctd.lstat(...CONTENT_DIR, digestHex(digest)) !== null;
      } catch {
        return true;
      }
    };
    /** target descriptor → platform manifest → config. */
    const resolve = (name: string, digest: string, mediaType: string | null, depth = 0): ResolvedImage | null => {
      const where = ctd.path(...CONTENT_DIR, digestHex(digest));
      const bytes = blob(digest, `image ${name}`);
      if (!bytes) return null;
      const doc = json(bytes, `image ${name}: ${mediaType ?? 'target'}`, where);
      if (!doc) return null;
      try {
        return resolveDoc(name, digest, mediaType, depth, doc.root, where);
      } finally {
        doc.report();
      }
    };
    const resolveDoc = (name: string, digest: string, mediaType: string | null, depth: number, doc: JsonObj, where: string): ResolvedImage | null => {
      const manifests = doc.arr('manifests');
      const type = mediaType ?? doc.str('mediaType') ?? (manifests ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json');
      if (INDEX_TYPES.has(type) || (!MANIFEST_TYPES.has(type) && manifests)) {
        if (depth > 2) {
          note('error', 'containerd.index.too-deep', `image ${name}: indexes nested more than 2 deep`, where);
          return null;
        }
        const candidates = descriptors(manifests).filter((m) => !isAttestation(m));
        const matching = candidates.filter((m) => platformMatches(m.platform, want));
        for (const m of matching) {
          // Blobs of other platforms are normally absent (docker pulls one platform): stay quiet about those.
          if (!hasBlob(m.digest)) continue;
          return resolve(name, m.digest, m.mediaType, depth + 1);
        }
        if (!opts.platform) {
          const present = candidates.filter((m) => hasBlob(m.digest));
          if (present.length > 0) {
            const m = present[0]!;
            note('info', 'containerd.index.other-platform', `image ${name}: no ${formatPlatform(want)} manifest stored; using ${formatPlatform(parsePlatform(m.platform))}`, where);
            return resolve(name, m.digest, m.mediaType, depth + 1);
          }
        }
        const avail = candidates.map((m) => formatPlatform(parsePlatform(m.platform))).join(', ');
        note('warning', 'containerd.index.no-platform', `image ${name}: no stored manifest for ${formatPlatform(want)} (index lists: ${avail || 'nothing'})`, where);
        return null;
      }
      const config = doc.obj('config');
      if (!MANIFEST_TYPES.has(type) && !config) {
        note('warning', 'containerd.image.media-type', `image ${name}: target media type ${JSON.stringify(type)} is not an image manifest or index`, where);
        return null;
      }
      // Every field is read (and so shape-checked) before any decides.
      const configDigest = config?.str('digest') ?? null;
      const layers = doc.arr('layers');
      const layerBlobs = (layers?.objects() ?? []).map((l) => {
        const d = l?.str('digest') ?? null;
        return isDigest(d) ? d : null;
      });
      if (!isDigest(configDigest)) {
        note('error', 'containerd.manifest.bad-config', `image ${name}: manifest has no valid config digest`, where);
        return null;
      }
      const configBytes = blob(configDigest, `image ${name} config`);
      if (!configBytes) return null;
      // Only counted here: the config's own shape is checked, and reported, by parseConfig.
      const parsedConfig = parseJson(configBytes);
      const parsedLayers = parsedConfig.ok ? new JsonDoc(null).root(parsedConfig.value)?.obj('rootfs')?.arr('diff_ids')?.length ?? null : null;
      if (layers !== null && parsedLayers !== null && layers.length !== parsedLayers)
        note('warning', 'containerd.manifest.layer-count', `image ${name}: manifest lists ${layers.length} layers, config ${parsedLayers} diff_ids`, where);
      return { configDigest, manifestDigest: digest, configBytes, layerBlobs };
    };

    // ---------------------------------------------------------------------------------------------------
    // Images
    // ---------------------------------------------------------------------------------------------------
    interface Group {
      ns: string;
      resolved: ResolvedImage;
      tags: Set<string>;
      digests: Set<string>;
      targets: Set<string>;
    }
    const groups = new Map<string, Group>();
    /** Target digest (what Docker calls the image ID on this store) → config digest, per namespace. */
    const byTarget = new Map<string, string>();
    /** Image name → config digest, per namespace. */
    const byName = new Map<string, string>();
    const multiNs = namespaces.length > 1;
    let done = 0;
    for (const ns of namespaces) {
      const imagesB = bolt(() => v1!.bucket(ns)?.bucket('images') ?? null, null, `namespace ${ns} images`);
      if (!imagesB) continue;
      const names = bolt(() => [...imagesB.bucketNames()].map((k) => k.toString('utf8')), [] as string[], `namespace ${ns} image list`);
      for (const name of names) {
        opts.progress?.({ phase: 'images', done: done++, total: null, detail: name });
        const target = bolt(() => imagesB.bucket(name)?.bucket('target') ?? null, null, `image ${name}`);
        const digest = target?.get('digest')?.toString('utf8') ?? null;
        const mediaType = target?.get('mediatype')?.toString('utf8') ?? null;
        if (!isDigest(digest)) {
          note('error', 'containerd.image.bad-target', `image ${JSON.stringify(name)} (namespace ${ns}) has no valid target digest`, metaPath);
          continue;
        }
        const resolved = resolve(name, digest, mediaType);
        if (!resolved) continue;
        const gk = ns + '\0' + resolved.configDigest;
        let g = groups.get(gk);
        if (!g) {
          g = { ns, resolved, tags: new Set(), digests: new Set(), targets: new Set() };
          groups.set(gk, g);
        }
        g.targets.add(digest);
        byTarget.set(ns + '\0' + digest, resolved.configDigest);
        byName.set(ns + '\0' + name, resolved.configDigest);
        const ref = refOf(name, ns);
        const label = (r: string) => (multiNs ? `${ns}:${r}` : r);
        if (ref.kind === 'tag') {
          g.tags.add(label(ref.ref));
          g.digests.add(label(`${ref.repo}@${digest}`));
        } else if (ref.kind === 'digest') g.digests.add(label(ref.ref));
        else g.digests.add(label(digest));
        if (resolved.manifestDigest !== digest && ref.kind === 'tag') g.digests.add(label(`${ref.repo}@${resolved.manifestDigest}`));
      }
    }

    const images: ImageInfo[] = [];
    /** Layers read from content blobs: blob path → the diffID the config promises. */
    const blobLayers = new Map<string, string>();
    const chainChecked = new Set<string>();
    const imageChains = new Map<string, string[]>();
    for (const g of groups.values()) {
      const { ns, resolved } = g;
      const configPath = ctd.path(...CONTENT_DIR, digestHex(resolved.configDigest));
      const parsed = parseConfig(resolved.configBytes, configPath);
      for (const p of parsed.problems) problems.push(p);
      if (!parsed.config) continue;
      const { config, diffIds } = parsed;
      const chains = chainIds(diffIds);
      const built = imageFromConfig({
        id: resolved.configDigest,
        tags: [...g.tags].sort(),
        digests: [...g.digests].sort(),
        config,
        diffIds,
        where: configPath,
        place: (i, diffId, chainId) => {
          const rec = snapshot(ns, chainId);
          let location = rec?.dir ?? null;
          if (!location) {
            // Never unpacked (another platform, another snapshotter) or its dir is gone: read the layer blob.
            const blobDigest = resolved.layerBlobs.length === diffIds.length ? resolved.layerBlobs[i] : null;
            const st = blobDigest ? ctd.lstat(...CONTENT_DIR, digestHex(blobDigest)) : null;
            if (blobDigest && st?.isFile()) {
              location = ctd.path(...CONTENT_DIR, digestHex(blobDigest));
              blobLayers.set(location, diffId);
              note('info', 'containerd.layer.from-blob', `layer ${i} (${chains[i]}) has no unpacked snapshot: read from its content blob`, location);
            }
          }
          if (!rec) note(location ? 'info' : 'warning', 'containerd.snapshot.missing', `layer ${i} (${chains[i]}) of image ${resolved.configDigest}: no ${SNAPSHOTTER} snapshot in namespace ${ns} (not unpacked, or removed)`, metaPath);
          else {
            if (rec.kind !== null && rec.kind !== 'committed') note('warning', 'containerd.snapshot.not-committed', `snapshot ${chains[i]} is ${rec.kind}, not committed`, snapDbPath);
            if (i > 0) checkParentChain(ns, rec, chains[i - 1]!);
            else if (rec.parent !== null) checkParentChain(ns, rec, null);
          }
          return { cacheId: rec?.id ?? null, location, storedSize: rec?.size ?? null };
        },
      });
      problems.push(...built.problems);
      imageChains.set(ns + '\0' + resolved.configDigest, chains);
      images.push({ ...built.image, targets: [...g.targets].sort() });
    }
    images.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id));

    /**
     * A layer snapshot should sit directly on the previous layer's. Docker's classic builder on this store
     * commits the build container's RW snapshot, which sits on that container's `-init` snapshot: the mount
     * chain then holds layers that no diff_id describes. Say so.
     */
    function checkParentChain(ns: string, rec: SnapshotRecord, expected: string | null): void {
      if (chainChecked.has(ns + '\0' + rec.key)) return;
      chainChecked.add(ns + '\0' + rec.key);
      const hidden: string[] = [];
      const seen = new Set<string>([rec.key]);
      let p = rec.parent;
      while (p !== null && p !== expected && hidden.length < MAX_CHAIN) {
        if (seen.has(p)) {
          note('error', 'containerd.snapshot.loop', `snapshot parents of ${rec.key} loop at ${p}`, metaPath);
          return;
        }
        seen.add(p);
        hidden.push(p);
        const pr = snapshot(ns, p);
        if (!pr) break;
        p = pr.parent;
      }
      if (p !== expected) {
        note('warning', 'containerd.snapshot.parent-mismatch', `snapshot ${rec.key} does not sit on ${expected ?? 'nothing'} (parent chain: ${[rec.parent, ...hidden.slice(1)].join(' → ')})`, metaPath);
      } else if (hidden.length > 0) {
        const ids = hidden.map((k) => `${k}${snapshot(ns, k)?.id ? ` (snapshots/${snapshot(ns, k)!.id})` : ''}`);
        note('info', 'containerd.snapshot.hidden-parent', `snapshot ${rec.key} sits on ${hidden.length} snapshot(s) that are no image layer: ${ids.join(', ')}; their files are in the mounted rootfs but in no layer tar`, metaPath);
      }
    }

    // ---------------------------------------------------------------------------------------------------
    // Containers
    // ---------------------------------------------------------------------------------------------------
    const imageIdFor = (ns: string, raw: string | null): string => {
      if (!raw) return '';
      return byTarget.get(ns + '\0' + raw) ?? byName.get(ns + '\0' + raw) ?? (groups.has(ns + '\0' + raw) ? raw : raw);
    };
    const containers: ContainerInfo[] = [];
    const containerNs = new Map<ContainerInfo, string>();
    if (layout.dockerRoot) {
      readDockerContainers(layout.dockerRoot, wanted ?? DOCKER_NAMESPACE, containers);
    } else {
      for (const ns of namespaces) readContainerdContainers(ns, containers);
    }
    containers.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));

    function containerSnapshots(ns: string, key: string, initKey: string | null, who: string): Pick<ContainerInfo, 'mountId' | 'initId' | 'rwDir' | 'initDir' | 'parentChainId'> {
      const rw = snapshot(ns, key);
      const init = initKey ? snapshot(ns, initKey) : null;
      if (!rw) note('warning', 'containerd.container.no-snapshot', `${who}: no RW snapshot ${JSON.stringify(key)} in namespace ${ns}`, metaPath);
      if (initKey && !init && rw) note('warning', 'containerd.container.no-init-snapshot', `${who}: no init snapshot ${JSON.stringify(initKey)}`, metaPath);
      // The image top layer: the init snapshot's parent (Docker), or the RW snapshot's parent.
      const top = init ? init.parent : rw?.parent ?? null;
      return {
        mountId: rw?.id ?? null,
        initId: init?.id ?? null,
        rwDir: rw?.dir ?? null,
        initDir: init?.dir ?? null,
        parentChainId: top !== null && isDigest(top) ? top : null,
      };
    }

    function readDockerContainers(dockerRoot: string, ns: string, out: ContainerInfo[]): void {
      const dock = new Evidence(dockerRoot);
      let ids: string[] = [];
      try {
        ids = dock.readdir('containers');
      } catch (err) {
        throwIfPermission(err, dock.path('containers'));
        note('error', err instanceof EvidenceError ? err.code : 'evidence.unreadable', err instanceof Error ? err.message : String(err), dock.path('containers'));
      }
      let classic = 0;
      for (const id of ids) {
        const where = dock.path('containers', id);
        if (!HEX64.test(id)) {
          note('warning', 'containers.bad-name', 'not a container ID; ignored', where);
          continue;
        }
        let bytes: Buffer | null = null;
        try {
          bytes = dock.readFile(MAX_BLOB, 'containers', id, 'config.v2.json');
        } catch (err) {
          throwIfPermission(err, where);
          // The file itself is named (a symlink, a file too large...), as on the classic store.
          note('error', err instanceof EvidenceError ? err.code : 'evidence.unreadable', err instanceof Error ? err.message : String(err), err instanceof EvidenceError && err.path ? err.path : where);
          continue;
        }
        if (!bytes) {
          note('warning', 'containers.config.missing', 'no config.v2.json', where);
          continue;
        }
        const read = readConfigV2(bytes, dock.path('containers', id, 'config.v2.json'), id);
        problems.push(...read.problems);
        const cfg = read.config;
        if (!cfg) continue;
        const driver = cfg.driver;
        if (driver && GRAPHDRIVERS.has(driver)) {
          classic++;
          continue;
        }
        if (driver && driver !== SNAPSHOTTER)
          note('warning', 'containerd.snapshotter.unsupported', `container ${id.slice(0, 12)} uses snapshotter ${JSON.stringify(driver)}; only ${SNAPSHOTTER} is read`, where);
        const snaps = driver === null || driver === SNAPSHOTTER ? containerSnapshots(ns, id, `${id}-init`, `container ${id.slice(0, 12)}`) : containerSnapshots(ns, '\0none', null, `container ${id.slice(0, 12)}`);
        problems.push(...attachHostConfig(dock, id, cfg.inspect));
        const info: ContainerInfo = {
          ...containerFields(id, cfg),
          image: imageIdFor(ns, cfg.image),
          driver,
          ...snaps,
          stateDir: where,
        };
        out.push(info);
        containerNs.set(info, ns);
      }
      if (classic > 0) note('info', 'containerd.containers.classic', `${classic} container(s) use a graphdriver: they belong to the classic store of this data root`, dock.path('containers'));
      fillVolumeSources(out, dockerRoot);
    }

    function readContainerdContainers(ns: string, out: ContainerInfo[]): void {
      const cb = bolt(() => v1!.bucket(ns)?.bucket('containers') ?? null, null, `namespace ${ns} containers`);
      if (!cb) return;
      const ids = bolt(() => [...cb.bucketNames()].map((k) => k.toString('utf8')), [] as string[], `namespace ${ns} container list`);
      if (ids.length) note('info', 'containerd.containers.state-unknown', `namespace ${ns}: containerd keeps no task state on disk; its ${ids.length} container(s) are shown as 'created'`, metaPath);
      for (const id of ids) {
        const c = bolt(() => cb.bucket(id), null, `container ${id}`);
        if (!c) continue;
        bolt(() => {
          const labels = new Map<string, string>();
          const lb = c.bucket('labels');
          if (lb) for (const [k, v] of lb.values()) labels.set(k.toString('utf8'), v.toString('utf8'));
          const snapshotter = c.get('snapshotter')?.toString('utf8') || null;
          const key = c.get('snapshotKey')?.toString('utf8') || id;
          const imageName = c.get('image')?.toString('utf8') || null;
          if (snapshotter && snapshotter !== SNAPSHOTTER)
            note('warning', 'containerd.snapshotter.unsupported', `container ${id} uses snapshotter ${JSON.stringify(snapshotter)}; only ${SNAPSHOTTER} is read`, metaPath);
          const snaps = containerSnapshots(ns, snapshotter && snapshotter !== SNAPSHOTTER ? '\0none' : key, null, `container ${id}`);
          const pod = labels.get('io.kubernetes.pod.name');
          const cname = labels.get('io.kubernetes.container.name');
          const name = multiNs ? `${ns}:` : '';
          const info: ContainerInfo = {
            id,
            name: name + (pod && cname ? `${labels.get('io.kubernetes.pod.namespace') ?? ''}/${pod}/${cname}`.replace(/^\//, '') : id),
            image: imageIdFor(ns, imageName),
            imageRef: imageName,
            state: 'created',
            pid: null,
            exitCode: null,
            startedAt: null,
            finishedAt: null,
            created: goTime(c.get('createdat')),
            driver: snapshotter,
            ...snaps,
            mounts: specMounts(c.get('spec'), metaPath, `the runtime spec of container ${id} (v1/${ns}/containers/${id}/spec)`, problems),
          };
          out.push(info);
          containerNs.set(info, ns);
        }, undefined, `container ${id}`);
      }
    }

    // ---------------------------------------------------------------------------------------------------
    // Storage nobody references
    // ---------------------------------------------------------------------------------------------------
    // What nothing references is found now (the databases are open); it is sized on demand, in the walk workers.
    const unreferenced = findUnreferenced();
    let storage: Promise<StorageInfo> | null = null;
    const readStorage = async (): Promise<StorageInfo> => {
      const layerDirs = unreferenced.layers.map((l) => l.dir);
      const sized = await eachTreeBytes([...layerDirs.filter((d): d is string => d !== null), ...unreferenced.dirs]);
      for (const r of sized) for (const p of r.problems) note(p.severity, p.code, p.message, p.path);
      let k = 0;
      const layers = layerDirs.map((d) => (d === null ? 0 : sized[k++]!.bytes));
      return {
        orphanDirs: unreferenced.dirs.map((path) => ({ path, bytes: sized[k++]!.bytes })),
        orphanLayers: unreferenced.layers.map((l, i) => ({ chainId: l.chainId, cacheId: l.cacheId, bytes: layers[i]! })),
      };
    };
    function findUnreferenced(): { layers: { chainId: string; cacheId: string | null; dir: string | null }[]; dirs: string[] } {
      const usedKeys = new Set<string>();
      for (const [k, chains] of imageChains) {
        const ns = k.slice(0, k.indexOf('\0'));
        for (const c of chains) usedKeys.add(ns + '\0' + c);
      }
      for (const c of containers) {
        // A container keeps its whole parent chain alive.
        const ns = containerNs.get(c)!;
        let p: string | null = c.parentChainId;
        let guard = 0;
        while (p && guard++ < MAX_CHAIN && !usedKeys.has(ns + '\0' + p)) {
          usedKeys.add(ns + '\0' + p);
          p = snapshot(ns, p)?.parent ?? null;
        }
      }
      const orphanLayers: { chainId: string; cacheId: string | null; dir: string | null }[] = [];
      const knownIds = new Set<string>();
      for (const ns of namespaces) {
        const sb = bolt(() => v1!.bucket(ns)?.bucket('snapshots')?.bucket(SNAPSHOTTER) ?? null, null, `namespace ${ns} snapshots`);
        if (!sb) continue;
        for (const keyBuf of bolt(() => [...sb.bucketNames()], [] as Buffer[], `namespace ${ns} snapshot list`)) {
          const key = keyBuf.toString('utf8');
          const rec = snapshot(ns, key);
          if (rec?.id) knownIds.add(rec.id);
          if (!isDigest(key) || usedKeys.has(ns + '\0' + key)) continue;
          // Committed layer snapshots no image uses (and no container sits on).
          if (rec && rec.kind === 'committed')
            orphanLayers.push({ chainId: key, cacheId: rec.id, dir: rec.dir });
        }
      }
      // Snapshot dirs of every namespace (and of other snapshotter clients) are known to metadata.db.
      if (snapsBucket) {
        for (const name of bolt(() => [...snapsBucket.bucketNames()], [] as Buffer[], 'metadata.db snapshots')) {
          const id = uvarint(bolt(() => snapsBucket.bucket(name)?.get('id') ?? null, null, 'metadata.db snapshot'));
          if (id !== null) knownIds.add(id.toString());
        }
      }
      const orphanDirs: string[] = [];
      let dirs: string[] = [];
      try {
        dirs = ctd.readdir(SNAPSHOTTER_DIR, 'snapshots');
      } catch (err) {
        note('error', err instanceof EvidenceError ? err.code : 'evidence.unreadable', err instanceof Error ? err.message : String(err), ctd.path(SNAPSHOTTER_DIR, 'snapshots'));
      }
      for (const d of dirs) {
        if (!/^[0-9]+$/.test(d)) {
          note('warning', 'containerd.snapshot.odd-dir', 'not a snapshot id; ignored', ctd.path(SNAPSHOTTER_DIR, 'snapshots', d));
          continue;
        }
        if (!knownIds.has(d)) orphanDirs.push(ctd.path(SNAPSHOTTER_DIR, 'snapshots', d));
      }
      return { layers: orphanLayers, dirs: orphanDirs };
    }

    // ---------------------------------------------------------------------------------------------------
    // Layers
    // ---------------------------------------------------------------------------------------------------
    const paths = opts.paths ?? new PathTable();
    // A rootless containerd (its root owned by the user) mounts with `userxattr`: overlayfs reads user.overlay.*.
    const overlayXattrs = (ctd.lstat()?.uid ?? 0) === 0 ? 'trusted' : 'user';
    const layers = cachedLocations(paths, 'no snapshot directory on disk', (dir, ro) => {
      const diffId = blobLayers.get(dir);
      return diffId ? readBlobLayer(dir, diffId) : readLayerDir(dir, paths, { priority: ro?.priority, overlayXattrs });
    });
    /** A compressed or plain layer tar from the content store; its diffID is checked against the config's. */
    const readBlobLayer = async (file: string, diffId: string): Promise<LayerTable> => {
      let fd: number;
      try {
        fd = openNoFollow(file);
      } catch (err) {
        return LayerTable.empty(paths, [problem('error', 'layer.unreadable', `layer blob cannot be opened: ${describeFsError(err)}`, file)]);
      }
      const stream = fs.createReadStream('', { fd, autoClose: true });
      const r = await readLayerFromStream(stream, file);
      const problems = [...r.changes.problems];
      if (r.diffId && r.diffId !== diffId)
        problems.push(problem('error', 'layer.diff-id-mismatch', `uncompressed layer hashes to ${r.diffId}, not to the diffID ${diffId} the image config names`, file));
      return LayerTable.fromEntries(paths, r.changes.entries, problems);
    };

    return {
      kind: 'containerd-root',
      location: root,
      images,
      containers,
      problems,
      paths,
      readStorage: () => (storage ??= readStorage()),
      ...layerAccess(layers.read),
      async close() {
        layers.clear();
        meta.close();
        snapDb?.close();
      },
    };
  } catch (err) {
    meta.close();
    snapDb?.close();
    throw err;
  }
}

interface Platform {
  os: string;
  architecture: string;
  variant: string | null;
}

function parsePlatform(p: unknown): Platform {
  if (typeof p === 'string') {
    const [os = '', architecture = '', variant] = p.split('/');
    return { os, architecture: normArch(architecture), variant: variant ?? null };
  }
  const o = (p ?? {}) as Record<string, unknown>;
  return { os: String(o.os ?? ''), architecture: normArch(String(o.architecture ?? '')), variant: typeof o.variant === 'string' ? o.variant : null };
}

function normArch(a: string): string {
  return a === 'x86_64' || a === 'x86-64' ? 'amd64' : a === 'aarch64' ? 'arm64' : a;
}

function formatPlatform(p: Platform): string {
  return [p.os || '?', p.architecture || '?', ...(p.variant ? [p.variant] : [])].join('/');
}

function platformMatches(raw: unknown, want: Platform): boolean {
  const p = parsePlatform(raw);
  if (p.os !== want.os || p.architecture !== want.architecture) return false;
  return want.variant === null || p.variant === want.variant || (want.architecture === 'arm64' && want.variant === 'v8' && p.variant === null);
}

/** BuildKit attestation manifests (`unknown/unknown`, reference type attestation-manifest) are no image. */
function isAttestation(m: Record<string, any>): boolean {
  const a = m?.annotations ?? {};
  if (a['vnd.docker.reference.type'] === 'attestation-manifest') return true;
  const p = m?.platform;
  return p?.os === 'unknown' && p?.architecture === 'unknown';
}

/** An image name as references: docker.io/library/x:1 → tag `x:1`; repo@sha256:… → digest ref; dangling. */
function refOf(name: string, ns: string): { kind: 'tag'; ref: string; repo: string } | { kind: 'digest'; ref: string } | { kind: 'other' } {
  if (name.startsWith('moby-dangling@') || /^sha256:[0-9a-f]{64}$/.test(name)) return { kind: 'other' };
  const familiar = ns === DOCKER_NAMESPACE ? familiarName(name) : name;
  const at = familiar.indexOf('@');
  if (at >= 0) return { kind: 'digest', ref: familiar };
  const slash = familiar.lastIndexOf('/');
  const colon = familiar.lastIndexOf(':');
  if (colon > slash) return { kind: 'tag', ref: familiar, repo: familiar.slice(0, colon) };
  return { kind: 'tag', ref: familiar, repo: familiar };
}

/** Docker's familiar form: drop `docker.io/` and `library/`. */
export function familiarName(name: string): string {
  let n = name;
  if (n.startsWith('docker.io/')) n = n.slice('docker.io/'.length);
  if (n.startsWith('library/') && !n.slice('library/'.length).includes('/')) n = n.slice('library/'.length);
  return n;
}

/**
 * Mounts from a containerd container record's spec (a protobuf Any holding the OCI runtime spec JSON),
 * shape-checked: a spec that is not JSON, or whose mounts are not objects, is a problem (pushed to `problems`).
 */
function specMounts(spec: Buffer | null, file: string, what: string, problems: Problem[]): ContainerInfo['mounts'] {
  if (!spec) return [];
  const value = protoField(spec, 2);
  if (!value) return [];
  const parsed = parseJson(value);
  if (!parsed.ok) {
    problems.push(problem('error', 'containerd.container.spec.invalid-json', `${what}: invalid JSON: ${parsed.reason}`, file));
    return [];
  }
  const doc = new JsonDoc(file, what);
  const mounts = (doc.root(parsed.value)?.arr('mounts')?.objs() ?? []).map(([, m]) => {
    const options = m.arr('options')?.strs().map(([, o]) => o) ?? [];
    return {
      destination: m.str('destination') ?? '',
      source: m.str('source'),
      name: null,
      type: m.str('type'),
      rw: !options.includes('ro'),
    };
  });
  const p = doc.problem('containerd.container.spec.bad-shape');
  if (p) problems.push(p);
  return mounts;
}

/** The bytes of a length-delimited protobuf field (first occurrence), or null. */
function protoField(buf: Buffer, field: number): Buffer | null {
  let i = 0;
  const readV = (): number | null => {
    let x = 0;
    let mul = 1;
    for (let k = 0; k < 8 && i < buf.length; k++) {
      const b = buf[i++]!;
      x += (b & 0x7f) * mul;
      if (b < 0x80) return x;
      mul *= 128;
    }
    return null;
  };
  while (i < buf.length) {
    const tag = readV();
    if (tag === null) return null;
    const wire = tag & 7;
    const f = Math.floor(tag / 8);
    if (wire === 2) {
      const len = readV();
      if (len === null || i + len > buf.length) return null;
      if (f === field) return buf.subarray(i, i + len);
      i += len;
    } else if (wire === 0) {
      if (readV() === null) return null;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else return null;
  }
  return null;
}

/** For tests. */
export const _internal = { parsePlatform, platformMatches, isAttestation, refOf, protoField };
