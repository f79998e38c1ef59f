/**
 * The images in an archive, recognised by content (formats.md §4):
 * - `oci-layout`/`index.json` present: an OCI layout (Docker >= 25 save, containerd-store save, skopeo/podman
 *   oci-archive, OCI dir). Images come from index.json -> (index ->)* manifest -> config + layers, with a
 *   platform chosen in multi-platform indexes and attestation manifests skipped. A `manifest.json` beside it
 *   (Docker >= 25) only adds RepoTags.
 * - otherwise `manifest.json`: legacy `docker save` or skopeo docker-archive.
 * Layer order always comes from the manifests, never from the order of members in the tar.
 */
import { isDigest, sha256Digest } from '../../analysis/chain.js';
import { cleanLayerPath } from '../../model/path.js';
import { problem, type ImageInfo, type Problem } from '../../model/types.js';
import { imageFromConfig, parseConfig } from '../config.js';
import type { ArchiveStore } from './store.js';

export interface LayerRef {
  /** Member path the manifest names (before link resolution). */
  path: string;
  diffId: string;
  /** Digest the manifest gives for the stored blob (compressed), when known. */
  blobDigest: string | null;
  mediaType: string | null;
}

export interface LoadedImages {
  images: ImageInfo[];
  /** Layer refs per image ID, in layer order. */
  layerRefs: Map<string, LayerRef[]>;
  problems: Problem[];
  format: 'oci' | 'docker';
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const DIGEST_ANY = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** The host platform, as OCI names it (linux/amd64, linux/arm64/v8...). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: arch[process.arch] ?? process.arch };
  if (p.architecture === 'arm64') p.variant = 'v8';
  return p;
}

export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.split('/');
  if (!os || !architecture) throw new Error(`platform ${JSON.stringify(s)} is not os/arch[/variant]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: { os?: unknown; architecture?: unknown; variant?: unknown }): string {
  return [p.os, p.architecture, p.variant].filter((x) => typeof x === 'string' && x).join('/') || 'unknown';
}

function platformMatches(p: Record<string, unknown> | undefined, want: Platform): boolean {
  if (!p) return false;
  if (p.os !== want.os || p.architecture !== want.architecture) return false;
  if (!want.variant) return true;
  const v = typeof p.variant === 'string' ? p.variant : '';
  if (v === want.variant) return true;
  // arm64's default variant is v8
  return want.architecture === 'arm64' && want.variant === 'v8' && v === '';
}

/**
 * The familiar form of a reference, as a data root's repositories.json names it (`bloat:1`, `user/app:2`,
 * `registry.example/x:1`): `docker.io/library/` and `docker.io/` are dropped.
 */
export function familiarRef(ref: string): string {
  for (const prefix of ['docker.io/library/', 'index.docker.io/library/', 'registry-1.docker.io/library/', 'docker.io/', 'index.docker.io/']) {
    if (ref.startsWith(prefix)) {
      const rest = ref.slice(prefix.length);
      // docker.io/library/x -> x; docker.io/user/x -> user/x
      return rest;
    }
  }
  return ref;
}

function blobPath(digest: string): string | null {
  const m = DIGEST_ANY.exec(digest);
  if (!m) return null;
  return `blobs/${m[1]}/${m[2]}`;
}

function asObject(v: unknown): Record<string, unknown> | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

interface Candidate {
  /** manifest.json `Parent` (legacy builder / docker commit parent image ID), when the save recorded it. */
  parent?: string | null;
  configBytes: Buffer;
  configWhere: string;
  layers: { path: string; blobDigest: string | null; mediaType: string | null }[];
  tags: string[];
  digests: string[];
}

export function loadImages(store: ArchiveStore, opts: { platform?: string; location: string }): LoadedImages {
  const problems: Problem[] = [];
  const note = (sev: Problem['severity'], code: string, msg: string, path: string | null) => problems.push(problem(sev, code, msg, path));
  const want = opts.platform ? parsePlatform(opts.platform) : hostPlatform();

  const readJson = (path: string, what: string): { value: unknown; bytes: Buffer } | null => {
    let bytes: Buffer | null;
    try {
      bytes = store.readSmall(path);
    } catch (err) {
      note('error', (err as { code?: string }).code ?? 'archive.member.unreadable', `${what}: ${(err as Error).message}`, path);
      return null;
    }
    if (bytes === null) return null;
    try {
      return { value: JSON.parse(bytes.toString('utf8')), bytes };
    } catch (err) {
      note('error', 'archive.json.invalid', `${what} is not valid JSON: ${(err as Error).message}`, path);
      return null;
    }
  };

  /** A blob named by a descriptor, checked against its digest. */
  const readBlob = (digest: unknown, what: string, missingSeverity: Problem['severity'] = 'error'): { value: unknown; bytes: Buffer; path: string } | null => {
    if (typeof digest !== 'string' || !blobPath(digest)) {
      note('error', 'archive.descriptor.invalid', `${what}: descriptor digest ${JSON.stringify(String(digest).slice(0, 100))} is not a digest`, null);
      return null;
    }
    const path = blobPath(digest)!;
    const r = readJson(path, what);
    if (!r) {
      if (!store.members.has(path)) note(missingSeverity, 'archive.blob.missing', `${what} ${digest} is referenced but not in the archive`, path);
      return null;
    }
    if (digest.startsWith('sha256:') && sha256Digest(r.bytes) !== digest)
      note('error', 'blob.digest.mismatch', `${what}: blob bytes hash to ${sha256Digest(r.bytes)}, not to ${digest}`, path);
    return { ...r, path };
  };

  const candidates: Candidate[] = [];
  const hasOci = store.members.has('index.json') || store.members.has('oci-layout');
  const hasManifest = store.members.has('manifest.json');
  let format: 'oci' | 'docker' = 'docker';

  if (hasOci) {
    format = 'oci';
    const layout = readJson('oci-layout', 'oci-layout');
    if (layout && typeof asObject(layout.value)?.imageLayoutVersion !== 'string')
      note('warning', 'oci.layout.invalid', 'oci-layout has no imageLayoutVersion', 'oci-layout');
    const index = readJson('index.json', 'index.json');
    const manifests = asObject(index?.value)?.manifests;
    if (index && !Array.isArray(manifests)) note('error', 'oci.index.invalid', 'index.json has no manifests array', 'index.json');
    if (Array.isArray(manifests)) {
      for (const d of manifests) {
        const desc = asObject(d);
        if (!desc) continue;
        const ann = asObject(desc.annotations) ?? {};
        const tags: string[] = [];
        const digests: string[] = [];
        const name = typeof ann['io.containerd.image.name'] === 'string' ? (ann['io.containerd.image.name'] as string) : null;
        const refName = typeof ann['org.opencontainers.image.ref.name'] === 'string' ? (ann['org.opencontainers.image.ref.name'] as string) : null;
        const ref = name ?? refName;
        if (ref) (ref.includes('@') ? digests : tags).push(familiarRef(ref));
        const manifest = resolveManifest(desc, 0, new Set());
        if (manifest) candidates.push({ ...manifest, tags, digests });
      }
    }
    if (hasManifest) addDockerManifest(true);
  } else if (hasManifest) {
    addDockerManifest(false);
  } else if (store.members.has('repositories')) {
    throw new ArchiveFormatError('archive.v1', 'a pre-Docker-1.10 (v1) image archive: repositories and <id>/json only, no manifest.json; not supported (moby no longer loads it either)');
  } else {
    throw new ArchiveFormatError('archive.unrecognised', 'not an image archive: no manifest.json, no index.json/oci-layout');
  }

  function resolveManifest(desc: Record<string, unknown>, depth: number, seen: Set<string>): Omit<Candidate, 'tags' | 'digests'> | null {
    const digest = desc.digest;
    if (depth > 8 || (typeof digest === 'string' && seen.has(digest))) {
      note('error', 'oci.index.loop', `index nesting loops or is too deep at ${String(digest)}`, null);
      return null;
    }
    if (typeof digest === 'string') seen.add(digest);
    const blob = readBlob(digest, depth === 0 ? 'manifest named by index.json' : 'manifest named by an index');
    if (!blob) return null;
    const m = asObject(blob.value);
    if (!m) {
      note('error', 'oci.manifest.invalid', 'manifest is not a JSON object', blob.path);
      return null;
    }
    if (Array.isArray(m.manifests)) {
      // an image index: choose one platform
      const all = (m.manifests as unknown[]).map(asObject).filter((x): x is Record<string, unknown> => x !== null);
      const images = all.filter((x) => {
        const a = asObject(x.annotations);
        const p = asObject(x.platform);
        return a?.['vnd.docker.reference.type'] !== 'attestation-manifest' && !(p?.os === 'unknown' && p?.architecture === 'unknown');
      });
      const skipped = all.length - images.length;
      const match = images.find((x) => platformMatches(asObject(x.platform) ?? undefined, want));
      const available = images.map((x) => formatPlatform(asObject(x.platform) ?? {}));
      const wantText = formatPlatform(want);
      if (match) {
        note(
          'info',
          'oci.platform.chosen',
          `multi-platform index: chose ${formatPlatform(asObject(match.platform) ?? {})} (wanted ${wantText}; available: ${available.join(', ')}${skipped ? `; ${skipped} attestation manifest(s) skipped` : ''})`,
          blob.path,
        );
        return resolveManifest(match, depth + 1, seen);
      }
      if (images.length === 1) {
        note('warning', 'oci.platform.mismatch', `index has only ${available[0]}, not ${wantText}: using it`, blob.path);
        return resolveManifest(images[0]!, depth + 1, seen);
      }
      note('error', 'oci.platform.unavailable', `no manifest for ${wantText} in this index (available: ${available.join(', ') || 'none'})`, blob.path);
      return null;
    }
    const config = asObject(m.config);
    const layers = Array.isArray(m.layers) ? (m.layers as unknown[]).map(asObject) : null;
    if (!config || !layers || layers.some((l) => l === null)) {
      note('error', 'oci.manifest.invalid', 'manifest has no config descriptor or no layers array', blob.path);
      return null;
    }
    const cfgPath = typeof config.digest === 'string' ? blobPath(config.digest) : null;
    let configBytes: Buffer | null = null;
    if (!cfgPath) note('error', 'archive.descriptor.invalid', 'config descriptor digest is not a digest', blob.path);
    else {
      try {
        configBytes = store.readSmall(cfgPath);
      } catch (err) {
        note('error', 'archive.member.unreadable', `image config: ${(err as Error).message}`, cfgPath);
      }
      if (configBytes === null && !problems.some((p) => p.path === cfgPath))
        note('error', 'archive.blob.missing', `image config ${String(config.digest)} is referenced but not in the archive`, cfgPath);
      if (configBytes && String(config.digest).startsWith('sha256:') && sha256Digest(configBytes) !== config.digest)
        note('error', 'blob.digest.mismatch', `image config bytes hash to ${sha256Digest(configBytes)}, not to ${String(config.digest)}`, cfgPath);
    }
    if (!configBytes) return null;
    const out: Candidate['layers'] = [];
    for (const l of layers as Record<string, unknown>[]) {
      const p = typeof l.digest === 'string' ? blobPath(l.digest) : null;
      if (!p) {
        note('error', 'archive.descriptor.invalid', `layer descriptor digest ${JSON.stringify(String(l.digest).slice(0, 100))} is not a digest`, blob.path);
        out.push({ path: '', blobDigest: null, mediaType: null });
        continue;
      }
      if (!store.members.has(p)) note('error', 'archive.blob.missing', `layer blob ${String(l.digest)} is referenced but not in the archive`, p);
      out.push({ path: p, blobDigest: l.digest as string, mediaType: typeof l.mediaType === 'string' ? l.mediaType : null });
    }
    return { configBytes, configWhere: cfgPath!, layers: out };
  }

  function addDockerManifest(tagsOnly: boolean): void {
    const mj = readJson('manifest.json', 'manifest.json');
    if (!mj) return;
    if (!Array.isArray(mj.value)) {
      note('error', 'archive.manifest.invalid', 'manifest.json is not a JSON array', 'manifest.json');
      return;
    }
    for (const [i, raw] of (mj.value as unknown[]).entries()) {
      const e = asObject(raw);
      const where = `manifest.json[${i}]`;
      if (!e || typeof e.Config !== 'string' || !Array.isArray(e.Layers)) {
        note('error', 'archive.manifest.invalid', `${where} has no Config or Layers`, 'manifest.json');
        continue;
      }
      const tags = Array.isArray(e.RepoTags) ? (e.RepoTags as unknown[]).filter((t): t is string => typeof t === 'string').map(familiarRef) : [];
      let cfgPath: string;
      try {
        cfgPath = cleanLayerPath(e.Config);
      } catch (err) {
        note('error', 'archive.manifest.unsafe', `${where} Config: ${(err as Error).message}`, 'manifest.json');
        continue;
      }
      let configBytes: Buffer | null = null;
      try {
        configBytes = store.readSmall(cfgPath);
      } catch (err) {
        note('error', (err as { code?: string }).code ?? 'archive.member.unreadable', `${where} Config: ${(err as Error).message}`, cfgPath);
        continue;
      }
      if (tagsOnly) {
        // Docker >= 25: the OCI index has the images; take the tags (familiar form) for the same config.
        const id = configBytes ? sha256Digest(configBytes) : null;
        const c = candidates.find((x) => sha256Digest(x.configBytes) === id);
        if (c) {
          for (const t of tags) if (!c.tags.includes(t)) c.tags.push(t);
          if (isDigest(e.Parent)) c.parent = e.Parent;
          continue;
        }
        // Another platform's manifest (containerd store saves list the daemon's platform here), or an image the
        // index does not list: the index is what the engine itself loads; do not substitute another platform.
        continue;
      }
      if (!configBytes) {
        note('error', 'archive.blob.missing', `${where}: image config ${JSON.stringify(e.Config)} is not in the archive`, cfgPath);
        continue;
      }
      const layers: Candidate['layers'] = [];
      for (const l of e.Layers as unknown[]) {
        let p = '';
        try {
          p = typeof l === 'string' ? cleanLayerPath(l) : '';
        } catch (err) {
          note('error', 'archive.manifest.unsafe', `${where} layer: ${(err as Error).message}`, 'manifest.json');
        }
        if (p && !store.members.has(p) && !problems.some((x) => x.path === p))
          note('error', 'archive.blob.missing', `${where}: layer ${JSON.stringify(l)} is not in the archive`, p);
        // blobs/sha256/<hex> names its own digest
        const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(p);
        layers.push({ path: p, blobDigest: m ? `sha256:${m[1]}` : null, mediaType: null });
      }
      candidates.push({ configBytes, configWhere: cfgPath, layers, tags, digests: [], parent: isDigest(e.Parent) ? e.Parent : null });
    }
  }

  // Candidates -> images (merged by image ID: several tags of one image are one image)
  const images: ImageInfo[] = [];
  const layerRefs = new Map<string, LayerRef[]>();
  for (const c of candidates) {
    const id = sha256Digest(c.configBytes);
    const existing = images.find((x) => x.id === id);
    if (existing) {
      for (const t of c.tags) if (!existing.tags.includes(t)) existing.tags.push(t);
      for (const t of c.digests) if (!existing.digests.includes(t)) existing.digests.push(t);
      if (!existing.parent && c.parent) existing.parent = c.parent;
      continue;
    }
    const parsed = parseConfig(c.configBytes, c.configWhere);
    problems.push(...parsed.problems);
    if (!parsed.config) continue;
    const { config } = parsed;
    let diffIds = parsed.diffIds;
    if (diffIds.length !== c.layers.length) {
      note('error', 'archive.layers.mismatch', `config has ${diffIds.length} diff_ids but the manifest lists ${c.layers.length} layers; using the first ${Math.min(diffIds.length, c.layers.length)}`, c.configWhere);
      diffIds = diffIds.slice(0, Math.min(diffIds.length, c.layers.length));
    }
    const refs: LayerRef[] = [];
    const built = imageFromConfig({
      id,
      tags: c.tags,
      digests: c.digests,
      config,
      diffIds,
      where: c.configWhere,
      place: (i, diffId) => {
        const l = c.layers[i]!;
        refs.push({ path: l.path, diffId, blobDigest: l.blobDigest && isDigest(l.blobDigest) ? l.blobDigest : null, mediaType: l.mediaType });
        return { cacheId: null, location: l.path || null, storedSize: null };
      },
    });
    problems.push(...built.problems);
    layerRefs.set(id, refs);
    // Every image in an archive was asked for by name or ID when it was saved: none is a hidden build step.
    images.push({ ...built.image, parent: c.parent ?? null, intermediate: false });
  }
  for (const img of images) {
    img.tags.sort();
    img.digests.sort();
  }
  images.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id));
  return { images, layerRefs, problems, format };
}

export class ArchiveFormatError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}
