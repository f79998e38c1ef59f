/**
 * The images in an archive, recognised by content (formats.md §4):
 * - `oci-layout`/`index.json` present: an OCI layout (Docker >= 25 save, containerd-store save, skopeo/podman
 *   oci-archive, OCI dir). Images come from index.json -> (index ->)* manifest -> config + layers, with a
 *   platform chosen in multi-platform indexes and attestation manifests skipped. A `manifest.json` beside it
 *   (Docker >= 25) only adds RepoTags.
 * - otherwise `manifest.json`: legacy `docker save` or skopeo docker-archive.
 * Layer order always comes from the manifests, never from the order of members in the tar.
 */
import { isDigest } from '../../analysis/chain.js';
import { cleanLayerPath } from '../../model/path.js';
import { ProblemSink } from '../../model/problem-sink.js';
import { problem, type ImageInfo, type Problem } from '../../model/types.js';
import { imageFromConfig, parseConfig } from '../config.js';
import { ArchiveJson, ArchiveMemberError, asObject, describeValue, type JsonDoc } from './json.js';
import { resolveMember, type ArchiveStore } from './store.js';

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
  /**
   * Other manifest entries for the same image (same config) that name other layer blobs: the image is listed
   * once, from its first entry, but these blobs are layers of it too and are checked as such.
   */
  alternates: Map<string, LayerRef[][]>;
  problems: Problem[];
  format: 'oci' | 'docker';
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** `algorithm:encoded` (image-spec descriptor.md), bounded in length: a digest is never longer than sha512 in hex. */
const DIGEST_ANY = /^([a-z0-9]{1,32}(?:[+._-][a-z0-9]{1,32}){0,4}):([a-zA-Z0-9=_-]{1,256})$/;

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

/** Problems of one code listed one by one up to this many, then counted (a hostile index cannot flood us). */
const MAX_LISTED = 100;
/** Layers per image. Docker's overlay2 refuses more than 125; OCI sets no limit, so be generous but bounded. */
const MAX_LAYERS = 1000;
/** Image indexes nested deeper than this are refused (real ones nest once). */
const MAX_INDEX_DEPTH = 8;
/** Other layer-blob lists kept per image (manifest entries repeating a config with other layer paths). */
const MAX_ALTERNATES = 16;
/** Manifests and indexes read to learn which images an index names under any platform. */
const MAX_INDEX_BLOBS = 4096;

interface Candidate {
  /** manifest.json `Parent` (legacy builder / docker commit parent image ID), when the save recorded it. */
  parent?: string | null;
  config: JsonDoc;
  layers: { path: string; blobDigest: string | null; mediaType: string | null }[];
  tags: string[];
  digests: string[];
}

type Resolved = Omit<Candidate, 'tags' | 'digests'>;

/** The reason a root document (index.json, manifest.json) cannot be used. */
interface RootFailure {
  code: string;
  message: string;
}

function errorCode(err: unknown): string {
  return err instanceof ArchiveMemberError ? err.code : 'archive.member.unreadable';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Images from the archive's manifests. Throws {@link ArchiveFormatError} when nothing in the archive can be
 * recognised as a list of images: no manifest.json and no index.json, or the one that is there cannot be used
 * (missing, a dangling or escaping link, not JSON, not the expected shape, empty). Every other failure is a
 * problem and the rest is still read; an archive that yields no image at all says so with an error problem.
 */
export function loadImages(store: ArchiveStore, opts: { platform?: string; location: string }): LoadedImages {
  const problems: Problem[] = [];
  const { note } = new ProblemSink(problems, MAX_LISTED);
  const want = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const json = new ArchiveJson(store);

  /** A member's bytes; null when absent (noted when `missing` says how) or unusable (noted). */
  const bytesOf = (path: string, what: string, missing: { severity: Problem['severity']; message: string } | null): JsonDoc | null => {
    let doc: JsonDoc | null;
    try {
      doc = json.bytes(path);
    } catch (err) {
      note('error', errorCode(err), `${what}: ${errorText(err)}`, path);
      return null;
    }
    if (!doc && missing) note(missing.severity, 'archive.blob.missing', missing.message, path);
    return doc;
  };

  const valueOf = (doc: JsonDoc, what: string): { ok: true; value: unknown } | { ok: false } => {
    try {
      return { ok: true, value: json.value(doc) };
    } catch (err) {
      note('error', errorCode(err), `${what}: ${errorText(err)}`, doc.path);
      return { ok: false };
    }
  };

  /** A root document, or why it cannot be used. */
  const root = (name: string): { doc: JsonDoc; value: unknown } | RootFailure => {
    let doc: JsonDoc | null;
    try {
      doc = json.bytes(name);
    } catch (err) {
      return { code: errorCode(err), message: `${name} cannot be read: ${errorText(err)}` };
    }
    if (!doc) return { code: name === 'index.json' ? 'oci.index.missing' : 'archive.manifest.missing', message: `${name} is not in the archive` };
    try {
      return { doc, value: json.value(doc) };
    } catch (err) {
      return { code: errorCode(err), message: errorText(err) };
    }
  };

  /** Checks a blob against the digest that names it (sha256, sha512; other algorithms are said to be unchecked). */
  const checkDigest = (doc: JsonDoc, digest: string, what: string) => {
    const ok = json.matches(doc, digest);
    if (ok === false) note('error', 'blob.digest.mismatch', `${what}: blob bytes hash to ${json.sha256(doc)}, not to ${digest}`, doc.path);
    else if (ok === null) note('warning', 'blob.digest.unverifiable', `${what}: digest ${describeValue(digest)} uses an algorithm we cannot check (sha256, sha512)`, doc.path);
  };

  /** A JSON blob named by a descriptor's digest, checked against it. */
  const readBlob = (digest: string, what: string, missingSeverity: Problem['severity']): { doc: JsonDoc; value: unknown } | null => {
    const path = blobPath(digest)!;
    const doc = bytesOf(path, what, { severity: missingSeverity, message: `${what} ${digest} is referenced but not in the archive` });
    if (!doc) return null;
    checkDigest(doc, digest, what);
    const v = valueOf(doc, what);
    return v.ok ? { doc, value: v.value } : null;
  };

  /** The size a descriptor gives against the member's, when both are known: a free tamper hint without hashing. */
  const checkSize = (path: string, size: unknown, what: string) => {
    if (typeof size !== 'number' || !Number.isSafeInteger(size)) return;
    let m: { size: number } | undefined;
    try {
      m = store.members.get(resolveMember(store.members, path));
    } catch {
      return; // reported when the layer is read
    }
    if (m && m.size !== size) note('error', 'blob.size.mismatch', `${what}: the manifest gives ${size} bytes, the archive holds ${m.size}`, path);
  };

  const candidates: Candidate[] = [];
  const missingNoted = new Set<string>();
  let otherConfigs: Set<string> | null = null;
  const hasOci = store.members.has('index.json') || store.members.has('oci-layout');
  const hasManifest = store.members.has('manifest.json');
  let format: 'oci' | 'docker' = 'docker';

  if (hasOci) {
    format = 'oci';
    if (store.members.has('oci-layout')) {
      const layout = bytesOf('oci-layout', 'oci-layout', null);
      const v = layout ? valueOf(layout, 'oci-layout') : null;
      if (v?.ok && typeof asObject(v.value)?.imageLayoutVersion !== 'string') note('warning', 'oci.layout.invalid', 'oci-layout has no imageLayoutVersion', 'oci-layout');
    }
    const cause = readIndex();
    if (cause) {
      // Docker >= 25 writes manifest.json beside the index, and docker load (classic store) reads only it.
      if (!hasManifest) throw new ArchiveFormatError(cause.code, `${cause.message}${store.members.has('index.json') ? '' : ' (oci-layout is)'}: no image can be found in this OCI layout`);
      note('error', cause.code, `${cause.message}: images read from manifest.json instead (as docker load does)`, 'index.json');
      addDockerManifest(false, cause);
    } else if (hasManifest) addDockerManifest(true, null);
  } else if (hasManifest) {
    addDockerManifest(false, null);
  } else if (store.members.has('repositories')) {
    throw new ArchiveFormatError('archive.v1', 'a pre-Docker-1.10 (v1) image archive: repositories and <id>/json only, no manifest.json; not supported (moby no longer loads it either)');
  } else {
    throw new ArchiveFormatError('archive.unrecognised', 'not an image archive: no manifest.json, no index.json/oci-layout');
  }

  /** index.json -> candidates; the reason when it cannot be used at all. */
  function readIndex(): RootFailure | null {
    const idx = root('index.json');
    if ('code' in idx) return idx;
    const obj = asObject(idx.value);
    if (!obj) return { code: 'oci.index.invalid', message: `index.json is ${describeValue(idx.value)}, not a JSON object` };
    const manifests = obj.manifests;
    if (!Array.isArray(manifests)) return { code: 'oci.index.invalid', message: `index.json has no "manifests" array (found ${manifests === undefined ? 'nothing' : describeValue(manifests)})` };
    if (manifests.length === 0) return { code: 'oci.index.empty', message: 'index.json lists no manifests' };
    const cache = new Map<string, Resolved | null>();
    for (const [i, d] of (manifests as unknown[]).entries()) {
      const where = `index.json manifests[${i}]`;
      const desc = asObject(d);
      if (!desc) {
        note('error', 'oci.descriptor.invalid', `${where} is ${describeValue(d)}, not a descriptor object`, 'index.json');
        continue;
      }
      const ann = asObject(desc.annotations) ?? {};
      const tags: string[] = [];
      const digests: string[] = [];
      const name = typeof ann['io.containerd.image.name'] === 'string' ? (ann['io.containerd.image.name'] as string) : null;
      const refName = typeof ann['org.opencontainers.image.ref.name'] === 'string' ? (ann['org.opencontainers.image.ref.name'] as string) : null;
      const ref = name ?? refName;
      if (ref) (ref.includes('@') ? digests : tags).push(familiarRef(ref));
      // Many tags of one image name one manifest: resolved once.
      const key = typeof desc.digest === 'string' ? desc.digest : null;
      let manifest = key !== null ? cache.get(key) : undefined;
      if (manifest === undefined) {
        manifest = resolveManifest(desc, where, 0, new Set());
        if (key !== null) cache.set(key, manifest);
      }
      if (manifest) candidates.push({ ...manifest, tags, digests });
    }
    return null;
  }

  function resolveManifest(desc: Record<string, unknown>, where: string, depth: number, seen: Set<string>, from = 'index.json'): Resolved | null {
    const digest = desc.digest;
    if (typeof digest !== 'string' || !blobPath(digest)) {
      note('error', 'archive.descriptor.invalid', `${where}: descriptor digest ${describeValue(digest)} is not a digest`, from);
      return null;
    }
    if (depth > MAX_INDEX_DEPTH || seen.has(digest)) {
      note('error', 'oci.index.loop', `index nesting loops or is deeper than ${MAX_INDEX_DEPTH} at ${digest}`, blobPath(digest));
      return null;
    }
    seen.add(digest);
    const blob = readBlob(digest, depth === 0 ? 'manifest named by index.json' : 'manifest named by an index', 'error');
    if (!blob) return null;
    const m = asObject(blob.value);
    if (!m) {
      note('error', 'oci.manifest.invalid', `manifest is ${describeValue(blob.value)}, not a JSON object`, blob.doc.path);
      return null;
    }
    if (m.manifests !== undefined) {
      // an image index: choose one platform
      if (!Array.isArray(m.manifests)) {
        note('error', 'oci.index.invalid', `image index "manifests" is ${describeValue(m.manifests)}, not an array`, blob.doc.path);
        return null;
      }
      const all: Record<string, unknown>[] = [];
      for (const [i, x] of (m.manifests as unknown[]).entries()) {
        const o = asObject(x);
        if (o) all.push(o);
        else note('error', 'oci.descriptor.invalid', `image index manifests[${i}] is ${describeValue(x)}, not a descriptor object`, blob.doc.path);
      }
      const images = all.filter((x) => {
        const a = asObject(x.annotations);
        const p = asObject(x.platform);
        return a?.['vnd.docker.reference.type'] !== 'attestation-manifest' && !(p?.os === 'unknown' && p?.architecture === 'unknown');
      });
      const skipped = all.length - images.length;
      const match = images.find((x) => platformMatches(asObject(x.platform) ?? undefined, want));
      const available = images.map((x) => formatPlatform(asObject(x.platform) ?? {}));
      const wantText = formatPlatform(want);
      const shown = available.length > 20 ? `${available.slice(0, 20).join(', ')}, … (${available.length} in all)` : available.join(', ');
      if (match) {
        note(
          'info',
          'oci.platform.chosen',
          `multi-platform index: chose ${formatPlatform(asObject(match.platform) ?? {})} (wanted ${wantText}; available: ${shown}${skipped ? `; ${skipped} attestation manifest(s) skipped` : ''})`,
          blob.doc.path,
        );
        return resolveManifest(match, `${where} -> ${digest}`, depth + 1, seen, blob.doc.path);
      }
      if (images.length === 1) {
        note('warning', 'oci.platform.mismatch', `index has only ${available[0]}, not ${wantText}: using it`, blob.doc.path);
        return resolveManifest(images[0]!, `${where} -> ${digest}`, depth + 1, seen, blob.doc.path);
      }
      note('error', 'oci.platform.unavailable', `no manifest for ${wantText} in this index (available: ${shown || 'none'}${skipped ? `; ${skipped} attestation manifest(s) skipped` : ''})`, blob.doc.path);
      return null;
    }
    const config = asObject(m.config);
    if (!config || !Array.isArray(m.layers)) {
      note('error', 'oci.manifest.invalid', `manifest has no config descriptor or no layers array (config: ${describeValue(m.config)}, layers: ${describeValue(m.layers)})`, blob.doc.path);
      return null;
    }
    const layerDescs = (m.layers as unknown[]).map(asObject);
    const badLayer = layerDescs.findIndex((l) => l === null);
    if (badLayer >= 0) {
      note('error', 'oci.manifest.invalid', `manifest layers[${badLayer}] is ${describeValue((m.layers as unknown[])[badLayer])}, not a descriptor object`, blob.doc.path);
      return null;
    }
    const cfgDigest = config.digest;
    if (typeof cfgDigest !== 'string' || !blobPath(cfgDigest)) {
      note('error', 'archive.descriptor.invalid', `config descriptor digest ${describeValue(cfgDigest)} is not a digest`, blob.doc.path);
      return null;
    }
    const cfgPath = blobPath(cfgDigest)!;
    const cfg = bytesOf(cfgPath, 'image config', { severity: 'error', message: `image config ${cfgDigest} is referenced but not in the archive` });
    if (!cfg) return null;
    checkDigest(cfg, cfgDigest, 'image config');
    const out: Candidate['layers'] = [];
    for (const [i, l] of (layerDescs as Record<string, unknown>[]).entries()) {
      const p = typeof l.digest === 'string' ? blobPath(l.digest) : null;
      if (!p) {
        note('error', 'archive.descriptor.invalid', `layer descriptor ${i} digest ${describeValue(l.digest)} is not a digest`, blob.doc.path);
        out.push({ path: '', blobDigest: null, mediaType: null });
        continue;
      }
      if (!store.members.has(p)) note('error', 'archive.blob.missing', `layer blob ${l.digest as string} is referenced but not in the archive`, p);
      else checkSize(p, l.size, `layer ${i} blob`);
      out.push({ path: p, blobDigest: l.digest as string, mediaType: typeof l.mediaType === 'string' ? l.mediaType : null });
    }
    return { config: cfg, layers: out };
  }

  function addDockerManifest(besideIndex: boolean, indexCause: RootFailure | null): void {
    let value: unknown;
    if (besideIndex) {
      const doc = bytesOf('manifest.json', 'manifest.json', null);
      const v = doc ? valueOf(doc, 'manifest.json') : null;
      if (!v?.ok) return;
      value = v.value;
      if (!Array.isArray(value)) {
        note('error', 'archive.manifest.invalid', `manifest.json is ${describeValue(value)}, not a JSON array`, 'manifest.json');
        return;
      }
    } else {
      const r = root('manifest.json');
      const fail = (f: RootFailure): never => {
        throw new ArchiveFormatError(f.code, indexCause ? `${indexCause.message}; and ${f.message}` : f.message);
      };
      if ('code' in r) fail(r);
      value = (r as { value: unknown }).value;
      if (!Array.isArray(value)) fail({ code: 'archive.manifest.invalid', message: `manifest.json is ${describeValue(value)}, not a JSON array` });
      if ((value as unknown[]).length === 0) fail({ code: 'archive.manifest.empty', message: 'manifest.json lists no images (an empty array)' });
    }
    const fromIndex = new Map<string, Candidate>();
    if (besideIndex) for (const c of candidates) if (!fromIndex.has(json.sha256(c.config))) fromIndex.set(json.sha256(c.config), c);
    for (const [i, raw] of (value as unknown[]).entries()) {
      const e = asObject(raw);
      const where = `manifest.json[${i}]`;
      if (!e || typeof e.Config !== 'string' || !Array.isArray(e.Layers)) {
        note('error', 'archive.manifest.invalid', `${where} has no Config string or no Layers array (it is ${describeValue(raw)}${e ? `; Config: ${describeValue(e.Config)}, Layers: ${describeValue(e.Layers)}` : ''})`, 'manifest.json');
        continue;
      }
      const tags = Array.isArray(e.RepoTags) ? (e.RepoTags as unknown[]).filter((t): t is string => typeof t === 'string').map(familiarRef) : [];
      let cfgPath: string;
      try {
        cfgPath = cleanLayerPath(e.Config);
      } catch (err) {
        note('error', 'archive.manifest.unsafe', `${where} Config: ${errorText(err)}`, 'manifest.json');
        continue;
      }
      const cfg = bytesOf(cfgPath, `${where} Config`, {
        severity: 'error',
        message: besideIndex
          ? `${where}: image config ${describeValue(e.Config)} is not in the archive (docker load on the classic store reads manifest.json and would fail here)`
          : `${where}: image config ${describeValue(e.Config)} is not in the archive`,
      });
      if (!cfg) continue;
      const c: Candidate = { config: cfg, layers: manifestLayers(e.Layers as unknown[], where), tags, digests: [], parent: isDigest(e.Parent) ? e.Parent : null };
      if (!besideIndex) {
        candidates.push(c);
        continue;
      }
      // Docker >= 25 writes both: the containerd store (and we) load index.json, the classic store (the default up
      // to Docker 28) loads manifest.json. Where they name the same image, manifest.json adds its tags, and
      // layer blobs of its own are checked as alternates; where it names an image the index does not, the two
      // engines load different images from this file: both are analysed and the disagreement is an error.
      const id = json.sha256(cfg);
      if (fromIndex.has(id)) candidates.push(c);
      else if (otherPlatformConfigs().has(id)) {
        // containerd-store saves list the daemon's platform here; the index chose another (--platform).
        note('info', 'archive.manifest.other-platform', `${where} names image ${id} of another platform of the index (not the one chosen)`, 'manifest.json');
      } else {
        note(
          'error',
          'archive.manifest.disagrees',
          `${where} names image ${id}${tags.length ? ` (${tags.slice(0, 4).join(', ')})` : ''}, which index.json does not list: docker load installs it on the classic store and index.json's images on the containerd store; both are analysed`,
          'manifest.json',
        );
        candidates.push(c);
      }
    }
  }

  function manifestLayers(list: unknown[], where: string): Candidate['layers'] {
    const layers: Candidate['layers'] = [];
    for (const [j, l] of list.entries()) {
      let p = '';
      if (typeof l !== 'string') note('error', 'archive.manifest.invalid', `${where} Layers[${j}] is ${describeValue(l)}, not a path`, 'manifest.json');
      else {
        try {
          p = cleanLayerPath(l);
        } catch (err) {
          note('error', 'archive.manifest.unsafe', `${where} layer: ${errorText(err)}`, 'manifest.json');
        }
      }
      if (p && !store.members.has(p) && !missingNoted.has(p)) {
        missingNoted.add(p);
        note('error', 'archive.blob.missing', `${where}: layer ${describeValue(l)} is not in the archive`, p);
      }
      // blobs/sha256/<hex> names its own digest
      const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(p);
      layers.push({ path: p, blobDigest: m ? `sha256:${m[1]}` : null, mediaType: null });
    }
    return layers;
  }

  /**
   * Image IDs (config digests) every manifest of index.json names, whatever its platform. Read only when
   * manifest.json names an image outside the chosen ones; blobs that cannot be read were noted by the main pass.
   */
  function otherPlatformConfigs(): Set<string> {
    if (otherConfigs) return otherConfigs;
    otherConfigs = new Set();
    const seen = new Set<string>();
    const visit = (descs: unknown, depth: number) => {
      if (!Array.isArray(descs) || depth > MAX_INDEX_DEPTH) return;
      for (const d of descs) {
        const digest = asObject(d)?.digest;
        const path = typeof digest === 'string' ? blobPath(digest) : null;
        if (!path || seen.has(path) || seen.size >= MAX_INDEX_BLOBS) continue;
        seen.add(path);
        let v: unknown;
        try {
          const doc = json.bytes(path);
          v = doc && json.matches(doc, digest as string) === true ? json.value(doc) : null;
        } catch {
          continue;
        }
        const m = asObject(v);
        if (!m) continue;
        if (m.manifests !== undefined) visit(m.manifests, depth + 1);
        else if (typeof asObject(m.config)?.digest === 'string') otherConfigs!.add(asObject(m.config)!.digest as string);
      }
    };
    try {
      const idx = json.bytes('index.json');
      if (idx) visit(asObject(json.value(idx))?.manifests, 0);
    } catch {
      /* noted by the main pass */
    }
    return otherConfigs;
  }

  // Candidates -> images (merged by image ID: several tags of one image are one image)
  const images: ImageInfo[] = [];
  const byId = new Map<string, ImageInfo>();
  const layerRefs = new Map<string, LayerRef[]>();
  const alternates = new Map<string, LayerRef[][]>();
  const altKeys = new Map<string, Set<string>>();
  const tooManyAlts = new Set<string>();
  const rejected = new Set<string>();
  for (const c of candidates) {
    const id = json.sha256(c.config);
    const existing = byId.get(id);
    if (existing) {
      const refs = layerRefs.get(id)!;
      if (c.layers.length === refs.length) {
        const alt = c.layers.map((l, i) => ({ path: l.path, diffId: refs[i]!.diffId, blobDigest: l.blobDigest && isDigest(l.blobDigest) ? l.blobDigest : null, mediaType: l.mediaType }));
        const key = refsKey(alt);
        const keys = altKeys.get(id) ?? new Set([refsKey(refs)]);
        altKeys.set(id, keys);
        if (!keys.has(key)) {
          keys.add(key);
          const alts = alternates.get(id) ?? [];
          // Each alternate is hashed under --verify: a manifest repeating one config with new layer paths
          // must not multiply the work (or the findings) without bound.
          if (alts.length < MAX_ALTERNATES) alternates.set(id, [...alts, alt]);
          else if (alts.length === MAX_ALTERNATES && !tooManyAlts.has(id)) {
            tooManyAlts.add(id);
            note('error', 'archive.manifest.alternates', `more than ${MAX_ALTERNATES} manifest entries name image ${id} with other layer blobs; the blobs of the rest are not checked`, 'manifest.json');
          }
        }
      }
      for (const t of c.tags) if (!existing.tags.includes(t)) existing.tags.push(t);
      for (const t of c.digests) if (!existing.digests.includes(t)) existing.digests.push(t);
      if (!existing.parent && c.parent) existing.parent = c.parent;
      continue;
    }
    if (rejected.has(id)) continue;
    try {
      json.checkShape(c.config);
    } catch (err) {
      note('error', errorCode(err), `image config: ${errorText(err)}`, c.config.path);
      rejected.add(id);
      continue;
    }
    const parsed = parseConfig(c.config.bytes, c.config.path);
    for (const p of parsed.problems) note(p.severity, p.code, p.message, p.path);
    if (!parsed.config) {
      rejected.add(id);
      continue;
    }
    const { config } = parsed;
    let diffIds = parsed.diffIds;
    if (diffIds.length > MAX_LAYERS) {
      note('error', 'archive.layers.too-many', `config lists ${diffIds.length} layers, more than the ${MAX_LAYERS} an image can sensibly have (overlay2 stops at 125); image not read`, c.config.path);
      rejected.add(id);
      continue;
    }
    if (diffIds.length !== c.layers.length) {
      note('error', 'archive.layers.mismatch', `config has ${diffIds.length} diff_ids but the manifest lists ${c.layers.length} layers; using the first ${Math.min(diffIds.length, c.layers.length)}`, c.config.path);
      diffIds = diffIds.slice(0, Math.min(diffIds.length, c.layers.length));
    }
    const refs: LayerRef[] = [];
    const built = imageFromConfig({
      id,
      tags: c.tags,
      digests: c.digests,
      config,
      diffIds,
      where: c.config.path,
      place: (i, diffId) => {
        const l = c.layers[i]!;
        refs.push({ path: l.path, diffId, blobDigest: l.blobDigest && isDigest(l.blobDigest) ? l.blobDigest : null, mediaType: l.mediaType });
        return { cacheId: null, location: l.path || null, storedSize: null };
      },
    });
    for (const p of built.problems) note(p.severity, p.code, p.message, p.path);
    layerRefs.set(id, refs);
    // Every image in an archive was asked for by name or ID when it was saved: none is a hidden build step.
    const img: ImageInfo = { ...built.image, parent: c.parent ?? null, intermediate: false };
    images.push(img);
    byId.set(id, img);
  }
  if (images.length === 0)
    problems.push(
      problem(
        'error',
        'archive.no-images',
        `no image could be read from this archive (${candidates.length} manifest entr${candidates.length === 1 ? 'y' : 'ies'} found${problems.some((p) => p.severity === 'error') ? '; the errors above say why' : ''})`,
        null,
      ),
    );
  for (const img of images) {
    img.tags.sort();
    img.digests.sort();
  }
  images.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id));
  return { images, layerRefs, alternates, problems, format };
}

/** One key per list of layer blobs (path and digest of each). */
function refsKey(refs: LayerRef[]): string {
  return JSON.stringify(refs.map((r) => [r.path, r.blobDigest]));
}

export class ArchiveFormatError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}
