import { storeOf, type Source } from '../model/source.js';
import type { IdMap } from '../model/idmap.js';
import type { ContainerInfo, ImageInfo, LayerLayout } from '../model/types.js';
import type { LayerTable } from '../model/layer-table.js';
import { verifyLayerIntegrity, type IntegrityResult } from './integrity/index.js';
import { checkStacks, containerStack, imageStacks, type MountCheckOptions, type StackMountResult, type StackSpec } from './mount/index.js';
import { fullTreeChanges } from './integrity/full-changes.js';

/**
 * `verify` for what one screen shows: the overlay mount check of one stack (an image's layers up to N, or a
 * container's whole stack) and, on a Docker data root, the integrity check (tar-split) of one layer. The same
 * checks as verifySource, cut to one stack and one layer, so that the TUI can run them in seconds; every entry
 * where the kernel's view (or the layer as built) and ours differ is returned with its layer path, to be marked.
 */

export interface InPlaceTarget {
  image: ImageInfo;
  /** A container: its stack (image layers, init, RW) is mounted; `layer` indexes that stack. */
  container?: ContainerInfo | null;
  /** The layer shown: image stacks are mounted up to it; its integrity is checked. */
  layer: number;
}

export interface InPlaceMark {
  /** Layer path (byte string). */
  path: string;
  check: 'mount' | 'integrity';
  kind: string;
  message: string;
  /** 'disk': the kernel's view differs from our reading of the disk; 'as-built': from the image as built. */
  against?: 'disk' | 'as-built';
}

export interface InPlaceReport {
  stack: { label: string; result: StackMountResult | null };
  mount: { ran: boolean; skipped: string | null; notes: string[] };
  integrity: { ran: boolean; skipped: string | null; layer: number; status: 'ok' | 'tampered' | 'error' | 'skipped'; message: string | null; result: IntegrityResult | null };
  marks: InPlaceMark[];
  ok: boolean;
}

export interface InPlaceOptions {
  mountOptions?: MountCheckOptions;
  integrityFn?: (o: { tarSplitPath: string; diffDir: string; diffId: string; idMap?: IdMap | null; layout?: LayerLayout; whiteoutFiles?: boolean; changes?: () => Promise<LayerTable> }) => Promise<IntegrityResult>;
  onProgress?: (what: string) => void;
}

export function inPlaceStack(source: Source, t: InPlaceTarget): StackSpec {
  if (t.container) return containerStack(source, t.container);
  const spec = imageStacks(t.image, true).find((s) => s.top === t.layer);
  if (!spec) throw new Error(`the image has no layer ${t.layer}`);
  return spec;
}

export async function verifyInPlace(source: Source, t: InPlaceTarget, opts: InPlaceOptions = {}): Promise<InPlaceReport> {
  const spec = inPlaceStack(source, t);
  const marks: InPlaceMark[] = [];
  const report: InPlaceReport = {
    stack: { label: spec.label, result: null },
    mount: { ran: false, skipped: null, notes: [] },
    integrity: { ran: false, skipped: null, layer: t.layer, status: 'skipped', message: null, result: null },
    marks,
    ok: false,
  };

  // Integrity of the layer shown (no mount, no root needed beyond reading the store).
  const ref = spec.layers[t.layer];
  const storeKind = storeOf(source, spec.image ?? spec.container).kind;
  if (storeKind !== 'docker-root' && storeKind !== 'containers-storage') report.integrity.skipped = `${storeKind} sources keep no tar-split: layer integrity is checked in Docker data roots and containers/storage stores`;
  else if (!ref || ref.role !== 'image' || !ref.chainId || !ref.diffId) report.integrity.skipped = `the container's ${ref?.role === 'init' ? 'init' : 'RW'} layer has no tar-split: nothing to check it against (the mount check covers it)`;
  else if (!ref.dir) report.integrity = { ...report.integrity, ran: true, status: 'error', message: 'the layer directory is missing' };
  else if (!ref.tarSplit) report.integrity.skipped = 'the store keeps no tar-split for this layer';
  else {
    opts.onProgress?.(`integrity of layer ${t.layer} (tar-split)`);
    report.integrity.ran = true;
    const tarSplitPath = ref.tarSplit;
    try {
      // A whole tree (vfs, btrfs, overlay's root) is checked against its changes, which the source reads.
      const index = ref.index ?? t.layer;
      const changes = ref.layout === 'full' ? fullTreeChanges(source, t.image, index) : undefined;
      const r = await (opts.integrityFn ?? verifyLayerIntegrity)({ tarSplitPath, diffDir: ref.dir, diffId: ref.diffId, idMap: ref.idMap ?? null, layout: ref.layout, whiteoutFiles: ref.whiteoutFiles ?? false, changes });
      const unreadable = r.computedDiffId === null && r.findings.every((f) => f.kind === 'unreadable');
      report.integrity.status = r.ok ? 'ok' : unreadable ? 'error' : 'tampered';
      report.integrity.result = r;
      if (!r.ok) report.integrity.message = r.computedDiffId !== null && r.computedDiffId !== r.expectedDiffId ? `reassembled layer hashes to ${r.computedDiffId}, not ${r.expectedDiffId}` : (r.findings[0]?.message ?? null);
      for (const f of r.findings) if (f.path !== '' && f.kind !== 'unreadable') marks.push({ path: f.path, check: 'integrity', kind: f.kind, message: f.message });
    } catch (err) {
      report.integrity = { ...report.integrity, status: 'error', message: (err as Error).message };
    }
  }

  // The kernel's view of the stack.
  opts.onProgress?.(`mounting ${spec.label} read-only`);
  const m = await checkStacks(source, [spec], opts.mountOptions);
  report.mount = { ran: m.mode !== null, skipped: m.skipped, notes: m.notes };
  const s = m.stacks[0] ?? null;
  report.stack.result = s;
  if (s) {
    for (const d of s.differences) marks.push({ path: d.path, check: 'mount', kind: d.kind, message: d.message, against: 'disk' });
    for (const d of s.asBuilt?.differences ?? []) marks.push({ path: d.path, check: 'mount', kind: d.kind, message: `${d.message} (against the image as built)`, against: 'as-built' });
  }
  const mountOk = !s || s.status === 'agree' || s.status === 'skipped';
  const integrityOk = report.integrity.status === 'ok' || report.integrity.status === 'skipped';
  report.ok = mountOk && integrityOk && marks.length === 0 && (report.mount.ran || report.integrity.ran);
  return report;
}
