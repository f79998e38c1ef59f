import type { LayerTable } from '../model/layer-table.js';
import type { Source } from '../model/source.js';
import type { ContainerInfo, ImageInfo, LayerLayout, Problem } from '../model/types.js';
import type { IdMap } from '../model/idmap.js';
import { ProblemSink } from '../model/problem-sink.js';
import { findContainer, findImage } from '../analysis/select.js';
import type { StackView } from '../analysis/stack.js';
import { verifyLayerIntegrity, type IntegrityFinding, type IntegrityResult } from './integrity/index.js';
import { checkStacks, containerStack, imageStacks, type MountCheckOptions, type MountCheckReport, type MountDifference, type StackMountResult, type StackSpec } from './mount/index.js';
import { stackViewOf } from './mount/stacks.js';
import { visibilityOf, type Visibility } from './attribute.js';
import { archiveIntegrity, type ArchiveIntegrity, type ArchiveLayerCheck } from '../sources/archive/index.js';
import { fullTreeChanges } from './integrity/full-changes.js';

export { attributePath, visibilityOf, type Attribution, type Visibility, type ImageUse, type ContainerUse } from './attribute.js';

/**
 * `verify`: for each selected image and container, two independent checks, merged into one verdict per layer
 * and per stack.
 * - Integrity (src/core/verify/integrity, data roots): the bytes on disk are the bytes the image was built
 *   from: tar-split reassembly hashes to the diffID, headers agree with lstat, nothing added or removed.
 *   Archives: every layer blob is hashed (sequentially, listed in the same pass), against the manifest's blob
 *   digest when it gives one and, uncompressed, against the config's DiffID; a layer shared by two images but
 *   stored twice is checked in both places.
 * - Mount (src/core/verify/mount): the kernel's view of each stack, mounted read-only, agrees with ours.
 * Every finding is named with its layer and with the images and containers that use that layer.
 */

export const VERIFY_SCHEMA = 'layerscope.verify/v1';

export interface VerifyOptions {
  images?: string[];
  containers?: string[];
  /** Every image and every container (also the default when nothing is selected). */
  all?: boolean;
  /** Run the mount check (default true). */
  mount?: boolean;
  /** Run the integrity check (default true). */
  integrity?: boolean;
  /** Mount every layer's top-of-stack of the selected images (default true), or only each image's top. */
  everyLayer?: boolean;
  /** Hash file contents through the mount: CRC-64 against tar-split (as built), sha256 against the layer's file. */
  hash?: boolean;
  /** Compare the kernel's view with the image as built (tar-split), too (default true; data roots). */
  asBuilt?: boolean;
  mountOptions?: MountCheckOptions;
  /** Injected for tests; default verifyLayerIntegrity. */
  integrityFn?: (o: { tarSplitPath: string; diffDir: string; diffId: string; idMap?: IdMap | null; layout?: LayerLayout; whiteoutFiles?: boolean; changes?: () => Promise<LayerTable> }) => Promise<IntegrityResult>;
  onProgress?: (what: string) => void;
}

export interface LayerUse {
  images: { id: string; tags: string[]; index: number }[];
  containers: { id: string; name: string }[];
}

export type Verdict = 'ok' | 'failed' | 'error' | 'skipped';

export interface LayerVerdict {
  chainId: string;
  diffId: string;
  cacheId: string | null;
  dir: string | null;
  /** The store's tar-split of the layer (LayerInfo.tarSplit). */
  tarSplit: string | null;
  /** LayerInfo.idMap: the host ids of the layer dir mapped to the layer's. */
  idMap?: IdMap | null;
  /** LayerInfo.whiteoutFiles. */
  whiteoutFiles?: boolean;
  usedBy: LayerUse;
  integrity: { status: 'ok' | 'tampered' | 'error' | 'skipped'; message: string | null; result: IntegrityResult | null };
  /**
   * The stack whose top is this layer (null when it was not mounted): its status, and how many of its
   * differences are this layer's own (its entries, or entries its dir holds that the image was not built
   * with). Differences that come from lower layers count against those layers, not this one.
   */
  mount: { status: StackMountResult['status']; stackId: string; ownDifferences: number } | null;
  verdict: Verdict;
}

export interface Finding {
  check: 'integrity' | 'mount';
  kind: string;
  path: string;
  /** Archive integrity findings: the archive member (layer blob) concerned; `path` is then ''. */
  member?: string;
  expected?: string;
  actual?: string;
  message: string;
  /** Layer holding it (integrity; mount findings: the layer whose version we expected), when known. */
  layer: { chainId: string | null; role: 'image' | 'init' | 'rw'; indexIn: { image: string; index: number }[] } | null;
  /**
   * Mount findings: what the kernel's view was compared with: our reading of the disk ('disk'), or the image
   * as built, from tar-split ('as-built'); and the stacks where it shows (one finding per path, not per stack).
   */
  against?: 'disk' | 'as-built';
  stacks?: string[];
  usedBy: LayerUse;
  /** Integrity findings: whether the changed path is what each user's final view shows. */
  visibleIn?: { user: string; visibility: Visibility }[];
}

export interface VerifyReport {
  schema: typeof VERIFY_SCHEMA;
  source: { kind: string; location: string };
  selection: { images: { id: string; tags: string[] }[]; containers: { id: string; name: string }[] };
  layers: LayerVerdict[];
  stacks: (StackMountResult & { verdict: Verdict })[];
  mount: { ran: boolean; mode: MountCheckReport['mode']; skipped: string | null; leftovers: MountCheckReport['leftovers']; notes: string[] };
  integrity: { ran: boolean; skipped: string | null };
  findings: Finding[];
  problems: Problem[];
  ok: boolean;
}

export async function verifySource(source: Source, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const nothingSelected = !opts.images?.length && !opts.containers?.length;
  const all = opts.all || nothingSelected;
  const images: ImageInfo[] = all ? [...source.images] : [];
  const containers: ContainerInfo[] = all ? [...source.containers] : [];
  for (const r of opts.images ?? []) {
    const i = findImage(source, r);
    if (!images.includes(i)) images.push(i);
  }
  for (const r of opts.containers ?? []) {
    const c = findContainer(source, r);
    if (!containers.includes(c)) containers.push(c);
  }
  const doMount = opts.mount !== false;
  const doIntegrity = opts.integrity !== false;
  const everyLayer = opts.everyLayer !== false;

  // Layers to check: every layer of the selected images and of the selected containers' images.
  const layerImages = [...images];
  for (const c of containers) {
    const img = source.images.find((i) => i.id === c.image);
    if (img && !layerImages.includes(img)) layerImages.push(img);
  }
  const usedBy = (chainId: string): LayerUse => ({
    images: source.images.filter((i) => i.layers.some((l) => l.chainId === chainId)).map((i) => ({ id: i.id, tags: i.tags, index: i.layers.findIndex((l) => l.chainId === chainId) })),
    containers: source.containers.filter((c) => source.images.find((i) => i.id === c.image)?.layers.some((l) => l.chainId === chainId)).map((c) => ({ id: c.id, name: c.name })),
  });
  const layers = new Map<string, LayerVerdict>();
  for (const img of layerImages) {
    for (const l of img.layers) {
      if (layers.has(l.chainId)) continue;
      layers.set(l.chainId, {
        chainId: l.chainId,
        diffId: l.diffId,
        cacheId: l.cacheId,
        dir: l.location,
        tarSplit: l.tarSplit ?? null,
        idMap: l.idMap ?? null,
        whiteoutFiles: l.whiteoutFiles ?? false,
        usedBy: usedBy(l.chainId),
        integrity: { status: 'skipped', message: null, result: null },
        mount: null,
        verdict: 'skipped',
      });
    }
  }

  // Stacks to mount.
  const specs: StackSpec[] = [];
  const seen = new Set<string>();
  for (const img of images) for (const s of imageStacks(img, everyLayer)) if (!seen.has(s.id)) (seen.add(s.id), specs.push(s));
  for (const c of containers) specs.push(containerStack(source, c));

  const findings: Finding[] = [];
  const report: VerifyReport = {
    schema: VERIFY_SCHEMA,
    source: { kind: source.kind, location: source.location },
    selection: { images: images.map((i) => ({ id: i.id, tags: i.tags })), containers: containers.map((c) => ({ id: c.id, name: c.name })) },
    layers: [],
    stacks: [],
    mount: { ran: false, mode: null, skipped: doMount ? null : 'not asked (--no-mount)', leftovers: [], notes: [] },
    integrity: { ran: false, skipped: doIntegrity ? null : 'not asked (--no-integrity)' },
    findings,
    problems: source.problems.filter((p) => p.severity === 'error'),
    ok: false,
  };

  // Integrity.
  const archive = archiveIntegrity(source);
  if (doIntegrity) {
    if (archive) {
      report.integrity.ran = true;
      await archiveLayers(archive, layerImages, layers, findings, opts.onProgress);
      archiveFindings(source, findings);
    } else if (source.kind !== 'docker-root' && source.kind !== 'containers-storage') {
      report.integrity.skipped = `${source.kind} sources keep no tar-split: layer integrity can only be checked in a Docker data root or a containers/storage store`;
    } else {
      report.integrity.ran = true;
      const fn = opts.integrityFn ?? verifyLayerIntegrity;
      const stacks = new Map<string, Promise<StackView>>();
      const layoutOf = new Map(layerImages.flatMap((i) => i.layers.map((l) => [l.chainId, l.layout] as const)));
      let n = 0;
      for (const lv of layers.values()) {
        opts.onProgress?.(`integrity ${++n}/${layers.size} ${lv.chainId}`);
        if (!lv.dir) {
          lv.integrity = { status: 'error', message: 'the layer directory is missing', result: null };
          continue;
        }
        if (!lv.tarSplit) {
          lv.integrity = { status: 'skipped', message: 'the store keeps no tar-split for this layer', result: null };
          continue;
        }
        const tarSplitPath = lv.tarSplit;
        try {
          // A whole tree (vfs, btrfs, overlay's root): what the layer does not know is found in its changes
          // against the parent's tree, which the source reads.
          const use = lv.usedBy.images[0];
          const img = use ? source.images.find((i) => i.id === use.id) : undefined;
          const layout = layoutOf.get(lv.chainId);
          const changes = layout === 'full' && img && use ? fullTreeChanges(source, img, use.index) : undefined;
          const r = await fn({ tarSplitPath, diffDir: lv.dir, diffId: lv.diffId, idMap: lv.idMap, layout, whiteoutFiles: lv.whiteoutFiles, changes });
          const unreadable = r.computedDiffId === null;
          lv.integrity = {
            status: r.ok ? 'ok' : unreadable && r.findings.every((f) => f.kind === 'unreadable') ? 'error' : 'tampered',
            message: r.ok ? null : r.computedDiffId !== null && r.computedDiffId !== r.expectedDiffId ? `reassembled layer hashes to ${r.computedDiffId}, not ${r.expectedDiffId}` : r.findings[0]?.message ?? null,
            result: r,
          };
          for (const f of r.findings) findings.push(await integrityFinding(source, lv, f, stacks));
          if (!r.ok && r.findings.length === 0) {
            findings.push({ check: 'integrity', kind: 'content', path: '', message: lv.integrity.message ?? 'layer does not reassemble to its diffID', layer: layerRef(lv), usedBy: lv.usedBy });
          }
        } catch (err) {
          lv.integrity = { status: 'error', message: (err as Error).message, result: null };
        }
      }
    }
  }

  // Mount.
  if (doMount && specs.length) {
    const m = await checkStacks(source, specs, {
      ...opts.mountOptions,
      hash: opts.hash ?? opts.mountOptions?.hash,
      asBuilt: opts.asBuilt ?? opts.mountOptions?.asBuilt,
      onStack: (s, d, t) => opts.onProgress?.(`mount ${d + 1}/${t} ${s.label}`),
    });
    report.mount = { ran: m.mode !== null, mode: m.mode, skipped: m.skipped, leftovers: m.leftovers, notes: m.notes };
    const grouped = new Map<string, Finding>();
    for (const s of m.stacks) {
      const verdict: Verdict = s.status === 'agree' ? 'ok' : s.status === 'disagree' ? 'failed' : s.status === 'error' ? 'error' : 'skipped';
      report.stacks.push({ ...s, verdict });
      if (s.chainId && layers.has(s.chainId)) {
        const own = [...s.differences, ...(s.asBuilt?.differences ?? [])].filter((d) => d.layer === s.top).length;
        layers.get(s.chainId)!.mount = { status: s.status, stackId: s.id, ownDifferences: own };
      }
      const spec = specs.find((x) => x.id === s.id)!;
      for (const d of s.differences) addMountFinding(grouped, spec, d, 'disk', usedBy);
      for (const d of s.asBuilt?.differences ?? []) addMountFinding(grouped, spec, d, 'as-built', usedBy);
    }
    findings.push(...grouped.values());
  }

  await layerProblems(source, layerImages, report.problems);

  for (const lv of layers.values()) {
    const parts: Verdict[] = [];
    if (lv.integrity.status !== 'skipped') parts.push(lv.integrity.status === 'ok' ? 'ok' : lv.integrity.status === 'tampered' ? 'failed' : 'error');
    if (lv.mount) parts.push(lv.mount.ownDifferences > 0 ? 'failed' : lv.mount.status === 'agree' || lv.mount.status === 'disagree' ? 'ok' : lv.mount.status === 'error' ? 'error' : 'skipped');
    lv.verdict = parts.includes('failed') ? 'failed' : parts.includes('error') ? 'error' : parts.includes('ok') ? 'ok' : 'skipped';
    report.layers.push(lv);
  }
  report.ok = report.layers.every((l) => l.verdict === 'ok' || l.verdict === 'skipped') && report.stacks.every((s) => s.verdict === 'ok' || s.verdict === 'skipped') && findings.length === 0;
  return report;
}

/**
 * Problems of the archive itself that mean two readers can load different images from it (a member named
 * twice, manifest.json and index.json naming different images) or that a blob is not what names it: the layers
 * may all hash right, but the archive is not what it claims, so verify must not say OK.
 */
const ARCHIVE_TAMPER = new Set(['archive.member.duplicate', 'archive.manifest.disagrees', 'blob.digest.mismatch', 'blob.size.mismatch']);

function archiveFindings(source: Source, findings: Finding[]): void {
  const everyone: LayerUse = { images: source.images.map((i) => ({ id: i.id, tags: i.tags, index: -1 })), containers: [] };
  for (const p of source.problems) {
    if (!ARCHIVE_TAMPER.has(p.code)) continue;
    const member = p.path ?? '';
    if (findings.some((f) => f.member === member && f.message === p.message)) continue;
    findings.push({ check: 'integrity', kind: 'archive', path: '', member, message: p.message, layer: null, usedBy: everyone });
  }
}

/**
 * The error-severity problems of the layers verified, as `report` and `files` give them (a member climbing out
 * of the layer, a hardlink loop...): a layer can reassemble to its diffID and mount as modelled and still be
 * evidence of an attack. The tables are the source's (cached): read once whatever checks ran.
 */
async function layerProblems(source: Source, images: ImageInfo[], out: Problem[]): Promise<void> {
  const seen = new Set(out.map((p) => `${p.code}\0${p.path}\0${p.message}`));
  const sink = new ProblemSink(out);
  const done = new Set<string>();
  for (const img of images) {
    for (const l of img.layers) {
      if (done.has(l.chainId)) continue;
      done.add(l.chainId);
      const t = await source.readLayer(img, l.index);
      for (const p of t.problems) {
        const key = `${p.code}\0${p.path}\0${p.message}`;
        if (p.severity !== 'error' || seen.has(key)) continue;
        seen.add(key);
        sink.add(p);
      }
    }
  }
}

function layerRef(lv: LayerVerdict): Finding['layer'] {
  return { chainId: lv.chainId, role: 'image', indexIn: lv.usedBy.images.map((i) => ({ image: i.tags[0] ?? i.id.slice(7, 19), index: i.index })) };
}

async function integrityFinding(source: Source, lv: LayerVerdict, f: IntegrityFinding, stacks: Map<string, Promise<StackView>>): Promise<Finding> {
  const out: Finding = { check: 'integrity', kind: f.kind, path: f.path, message: f.message, layer: layerRef(lv), usedBy: lv.usedBy };
  if (f.expected !== undefined) out.expected = f.expected;
  if (f.actual !== undefined) out.actual = f.actual;
  // Is the altered path what users of the layer see? (Against the model read from disk: a tampered file is
  // visible in a final view when no later layer hides it.) Tagged images and containers; build intermediates
  // (untagged) are only counted in usedBy.
  if (f.path !== '' && f.kind !== 'unreadable') {
    out.visibleIn = [];
    const cached = (key: string, spec: StackSpec): Promise<StackView> => {
      let p = stacks.get(key);
      if (!p) {
        p = stackViewOf(source, spec).then((s) => s.view);
        stacks.set(key, p);
      }
      return p;
    };
    for (const u of lv.usedBy.images) {
      if (!u.tags.length) continue;
      const img = source.images.find((i) => i.id === u.id)!;
      try {
        const stack = await cached(img.id, imageStacks(img, false)[0]!);
        out.visibleIn.push({ user: u.tags[0]!, visibility: visibilityOf(stack, u.index, f.path) });
      } catch {}
    }
    for (const u of lv.usedBy.containers) {
      const c = source.containers.find((x) => x.id === u.id)!;
      try {
        const spec = containerStack(source, c);
        const index = spec.layers.findIndex((l) => l.chainId === lv.chainId);
        const stack = await cached(`container:${c.id}`, spec);
        out.visibleIn.push({ user: `container ${c.name}`, visibility: visibilityOf(stack, index, f.path, (n) => (spec.layers[n]?.role === 'rw' ? "the container's RW layer" : spec.layers[n]?.role === 'init' ? "the container's init layer" : `layer ${n}`)) });
      } catch {}
    }
  }
  return out;
}

function addMountFinding(grouped: Map<string, Finding>, spec: StackSpec, d: MountDifference, against: 'disk' | 'as-built', usedBy: (c: string) => LayerUse): void {
  const l = d.layer !== null ? spec.layers[d.layer] ?? null : null;
  const layerKey = l ? (l.chainId ?? `${spec.id}:${l.role}`) : `${spec.id}:?`;
  const key = [against, d.kind, d.path, layerKey, d.expected ?? '', d.actual ?? ''].join('\0');
  const known = grouped.get(key);
  if (known) {
    known.stacks!.push(spec.label);
    return;
  }
  const out: Finding = {
    check: 'mount',
    kind: d.kind,
    path: d.path,
    message: against === 'as-built' ? `${d.message} (ours = the image as built, from tar-split)` : d.message,
    against,
    stacks: [spec.label],
    layer: l ? { chainId: l.chainId, role: l.role, indexIn: l.chainId ? usedBy(l.chainId).images.map((i) => ({ image: i.tags[0] ?? i.id.slice(7, 19), index: i.index })) : [] } : null,
    usedBy: l?.chainId ? usedBy(l.chainId) : spec.container ? { images: [], containers: [{ id: spec.container.id, name: spec.container.name }] } : { images: [], containers: [] },
  };
  if (d.expected !== undefined) out.expected = d.expected;
  if (d.actual !== undefined) out.actual = d.actual;
  grouped.set(key, out);
}

/**
 * Archive integrity: each (image, layer) of the selection is hashed through the source (each stored blob once),
 * and the results are merged per layer (chainID). Two images may name two different blobs for one chainID (a
 * repeated layer stored twice): both are checked, and the layer is as good as the worse of them.
 */
async function archiveLayers(archive: ArchiveIntegrity, images: ImageInfo[], layers: Map<string, LayerVerdict>, findings: Finding[], onProgress?: (what: string) => void): Promise<void> {
  const per = new Map<string, ArchiveLayerCheck[]>();
  let n = 0;
  const total = images.reduce((a, i) => a + i.layers.length, 0);
  for (const img of images) {
    for (const l of img.layers) {
      onProgress?.(`integrity ${++n}/${total} ${l.chainId}`);
      let cs: ArchiveLayerCheck[];
      try {
        cs = await archive.check(img, l.index);
      } catch (err) {
        cs = [{ index: l.index, path: l.location ?? '', member: null, diffId: l.diffId, blobDigest: null, computedDiffId: null, computedBlobDigest: null, compression: null, storedBytes: null, status: 'error', findings: [{ kind: 'unreadable', member: l.location ?? '', message: (err as Error).message }], notes: [] }];
      }
      const list = per.get(l.chainId) ?? [];
      // one check per stored blob (the same blob named by two images is one check)
      for (const c of cs) if (!list.some((x) => x.path === c.path && x.blobDigest === c.blobDigest)) list.push(c);
      per.set(l.chainId, list);
    }
  }
  for (const [chainId, checks] of per) {
    const lv = layers.get(chainId);
    if (!lv) continue;
    const status = checks.some((c) => c.status === 'tampered') ? 'tampered' : checks.some((c) => c.status === 'error') ? 'error' : 'ok';
    const worst = checks.find((c) => c.status === status) ?? checks[0]!;
    const blobs = checks.map((c) => c.member ?? c.path).filter(Boolean);
    const result: IntegrityResult = {
      ok: status === 'ok',
      computedDiffId: worst.computedDiffId,
      expectedDiffId: lv.diffId,
      findings: checks.flatMap((c) => c.findings.map((f) => ({ kind: f.kind === 'unreadable' ? ('unreadable' as const) : ('content' as const), path: f.member, ...(f.expected !== undefined ? { expected: f.expected } : {}), ...(f.actual !== undefined ? { actual: f.actual } : {}), message: f.message }))),
      notes: [...new Set([...(blobs.length ? [`layer blob${blobs.length > 1 ? 's' : ''} hashed: ${blobs.join(', ')}`] : []), ...checks.flatMap((c) => c.notes)])],
      stats: { members: 0, filesRead: checks.length, bytesRead: checks.reduce((a, c) => a + (c.storedBytes ?? 0), 0), entriesOnDisk: 0 },
    };
    lv.integrity = { status, message: status === 'ok' ? null : worst.findings[0]?.message ?? 'the layer could not be hashed', result };
    for (const c of checks) {
      for (const f of c.findings) {
        const out: Finding = { check: 'integrity', kind: f.kind, path: '', member: f.member, message: f.message, layer: layerRef(lv), usedBy: lv.usedBy };
        if (f.expected !== undefined) out.expected = f.expected;
        if (f.actual !== undefined) out.actual = f.actual;
        findings.push(out);
      }
    }
  }
}
export { verifyInPlace, inPlaceStack, type InPlaceReport, type InPlaceMark, type InPlaceTarget, type InPlaceOptions } from './in-place.js';
