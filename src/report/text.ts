import type { SourceAnalysis } from '../core/analysis/host.js';
import type { ImageAnalysis } from '../core/analysis/analyze.js';
import type { ChangeRow, MergedRow } from '../core/analysis/views.js';
import type { DockerChange } from '../core/analysis/docker-diff.js';
import { displayPath } from '../core/model/path.js';
import type { VolumeReport } from '../core/analysis/volumes.js';
import type { StoreSummary } from '../core/model/source.js';
import { riskLines } from './inspect.js';
import { formatBytes, formatMode, formatPercent, safeText, shortId, showPath, safeMessage } from './format.js';

/** The report for people. Every evidence-derived string goes through showPath/safeText. */
export function reportText(a: SourceAnalysis, opts: { hiddenLimit?: number } = {}): string {
  const out: string[] = [];
  out.push(`layerscope report: ${safeText(a.source.location)} (${a.source.kind})`);
  out.push(`${a.images.length} image(s), ${a.containers.length} container(s), ${a.problems.length} problem(s)`);
  // Never let "0 errors" read as "the layers are good" when nobody hashed them.
  if (a.source.stores) out.push(...storesText(a.source.stores));
  if (a.problems.some((p) => p.code === 'archive.layers.not-hashed'))
    out.push('layer integrity: NOT CHECKED (uncompressed layers were listed without being hashed: --verify, or layerscope verify, hashes them)');
  a.images.forEach((img, i) => {
    out.push('');
    out.push(...imageText(img, opts.hiddenLimit ?? 10));
    const s = a.sharing[i]!;
    out.push(`  shared with other images: ${formatBytes(s.sharedBytes)}   held by this image alone: ${formatBytes(s.uniqueBytes)}`);
  });
  if (a.containers.length) {
    out.push('', 'CONTAINERS');
    const stores = a.containers.some((c) => c.container.store);
    out.push(table(
      [...(stores ? ['STORE'] : []), 'NAME', 'ID', 'IMAGE', 'STATE', 'ADDED', 'CHANGED', 'DELETED'],
      a.containers.map((c) => [
        ...(stores ? [safeText(c.container.store?.label ?? '-')] : []),
        safeText(c.container.name),
        c.container.id.slice(0, 12),
        safeText(c.container.imageRef ?? shortId(c.container.image)),
        c.container.state + (c.container.state === 'exited' && c.container.exitCode !== null ? ` (${c.container.exitCode})` : ''),
        String(c.counts.added),
        String(c.counts.changed),
        String(c.counts.deleted),
      ]),
    ));
    const risky = a.containers.filter((c) => c.risks && (c.risks.findings.length || !c.risks.complete));
    if (risky.length) {
      out.push('', 'CONTAINER RISKS (what gives a container power over its host; the inspect field each comes from)');
      for (const c of risky) out.push(`  ${safeText(c.container.name)}`, ...riskLines(c.risks, '    '));
    }
  }
  const st = a.storage;
  if (st && (st.orphanDirs.length || st.orphanLayers.length)) {
    out.push('', 'UNREFERENCED STORAGE');
    for (const d of st.orphanDirs) out.push(`  ${formatBytes(d.bytes).padStart(9)}  ${safeText(d.path)}  (no layer or container uses this directory)`);
    for (const l of st.orphanLayers) out.push(`  ${formatBytes(l.bytes).padStart(9)}  layer ${l.chainId}  (no image uses this layer)`);
  }
  if (a.volumes) out.push(...volumesText(a.volumes));
  if (a.problems.length) {
    out.push('', 'PROBLEMS');
    for (const p of a.problems) out.push(`  ${p.severity.toUpperCase().padEnd(7)} ${p.code}: ${safeMessage(p.message)}${p.path ? `\n          at ${safeMessage(p.path)}` : ''}`);
  }
  return out.join('\n') + '\n';
}

/** The STORES section of a source of several stores (--image-root): where each is, how it was found, what it holds. */
export function storesText(stores: StoreSummary[]): string[] {
  return [
    '',
    'STORES',
    table(
      ['STORE', 'KIND', 'IMAGES', 'CONTAINERS', 'WHERE', 'FOUND BY'],
      stores.map((s) => [safeText(s.label), s.kind, s.images === null ? 'unreadable' : String(s.images), s.containers === null ? '-' : String(s.containers), safeText(s.location), safeText(s.how.join('; '))]),
    ),
  ];
}

/** VOLUMES and BIND MOUNTS sections (nothing when the data root has neither). */
export function volumesText(r: VolumeReport): string[] {
  const out: string[] = [];
  if (r.volumes.length) {
    out.push('', `VOLUMES (mountpoints as the engine reports them${r.engineRoot ? '' : '; the engine\'s data root is not recorded, shown under the evidence path'})`);
    out.push(table(
      ['NAME', 'DRIVER', 'SIZE', 'CREATED', 'MOUNTPOINT', 'USED BY'],
      r.volumes.map((v) => [
        safeText(v.name) + (v.anonymous ? ' (anonymous)' : ''),
        safeText(v.driver),
        v.bytes === null ? '-' : formatBytes(v.bytes),
        v.createdAt ?? '-',
        safeText(v.mountpoint || '-'),
        v.usedBy.length ? v.usedBy.map((u) => `${safeText(u.container)}:${safeText(u.destination)} (${u.rw ? 'rw' : 'ro'})`).join(', ') : '-',
      ]),
    ));
    for (const v of r.volumes) {
      const labels = Object.entries(v.labels ?? {});
      if (labels.length) out.push(`  ${safeText(v.name)} labels: ${labels.map(([k, x]) => safeText(`${k}=${x}`)).join(', ')}`);
      if (v.mount) out.push(`  ${safeText(v.name)}: a mount of ${safeText(v.mount.device)} (type ${safeText(v.mount.type)}) while in use: its data was there, not in _data`);
    }
  }
  if (r.binds.length) {
    out.push('', 'BIND MOUNTS');
    out.push(table(
      ['CONTAINER', 'DESTINATION', 'MODE', 'SOURCE'],
      r.binds.map((b) => [
        safeText(b.container),
        safeText(b.destination),
        b.rw ? 'rw' : 'ro',
        safeText(b.source) + (b.evidencePath ? `  (in the evidence at ${safeText(b.evidencePath)}${b.bytes === null ? '' : `, ${formatBytes(b.bytes)}`})` : `  (${safeText(b.outside ?? 'outside the evidence: not read')})`),
      ]),
    ));
  }
  return out;
}

export function imageText(a: ImageAnalysis, hiddenLimit: number): string[] {
  const img = a.image;
  const out: string[] = [];
  const name = img.tags.length ? img.tags.map(safeText).join(', ') : '<untagged>';
  const platform = [img.os, img.architecture, img.variant].filter(Boolean).join('/');
  out.push(`IMAGE ${name}  ${img.id}`);
  if (img.store) out.push(`  store ${safeText(img.store.label)}: ${safeText(img.store.location)}`);
  out.push(`  ${safeText(platform) || 'unknown platform'}, created ${img.created === null ? 'unknown' : safeText(img.created)}, ${img.layers.length} layer(s)`);
  out.push(`  total ${formatBytes(a.bytes)}   visible ${formatBytes(a.visibleBytes)}   hidden ${formatBytes(a.hiddenBytes)}   efficiency ${formatPercent(a.efficiency)}`);
  out.push(table(
    ['#', 'BYTES', 'HIDDEN', 'ADDED', 'MODIFIED', 'DELETED', 'OPAQUE', 'CREATED BY'],
    a.layers.map((l) => [
      String(l.index),
      formatBytes(l.bytes),
      l.hiddenBytes ? formatBytes(l.hiddenBytes) : '-',
      String(l.added),
      String(l.modified),
      String(l.deleted),
      String(l.opaqueDirs),
      safeText(historyNote(img.layers[l.index]!) ?? commandOf(img.layers[l.index]!.createdBy)).slice(0, 70),
    ]),
  ));
  if (a.hidden.length) {
    out.push(`  hidden files (${a.hidden.length}, largest first):`);
    for (const h of a.hidden.slice(0, hiddenLimit)) {
      out.push(`    ${formatBytes(h.bytes).padStart(9)}  ${showPath(h.path)}  from layer ${h.layer}, ${hiddenHow(h.reason, h.by)}`);
    }
    if (a.hidden.length > hiddenLimit) out.push(`    ... ${a.hidden.length - hiddenLimit} more (--format json lists all)`);
  }
  return out;
}

/** How a later layer hid a file, e.g. "deleted by layer 5", "hidden by an opaque directory in layer 6". */
export function hiddenHow(reason: string, by: number): string {
  switch (reason) {
    case 'deleted':
      return `deleted by layer ${by}`;
    case 'overwritten':
      return `overwritten by layer ${by}`;
    case 'opaque':
      return `hidden by an opaque directory in layer ${by}`;
    case 'replaced':
      return `replaced by a non-directory in layer ${by}`;
    default:
      return `${reason} in layer ${by}`;
  }
}

/**
 * What a layer's history entry says when it gives no command (null when it gives one): an imported layer's
 * comment (`docker import` writes `Imported from -` and no created_by), another entry's comment, or that there
 * is no entry at all (the history is missing, or does not line up with the layers). Unescaped.
 */
export function historyNote(l: { createdBy: string | null; comment: string | null; created: string | null }): string | null {
  if (l.createdBy !== null && l.createdBy.trim() !== '') return null;
  const comment = l.comment?.trim() || null;
  if (comment && /^imported from\b/i.test(comment)) return `(imported: ${comment})`;
  if (comment) return `(no command; comment: ${comment})`;
  return l.createdBy !== null || l.created !== null ? '(no command in its history entry)' : '(no history entry)';
}

/** `/bin/sh -c #(nop) ENV X=1` → `ENV X=1`; `/bin/sh -c rm x` → `RUN rm x`. */
export function commandOf(createdBy: string | null): string {
  if (!createdBy) return '';
  const nop = createdBy.match(/^\/bin\/sh -c #\(nop\)\s*(.*)$/s);
  if (nop) return nop[1]!.trim();
  const run = createdBy.match(/^\/bin\/sh -c (.*)$/s);
  if (run) return 'RUN ' + run[1]!.trim();
  return createdBy.trim();
}

/**
 * A link's target after its path: ` -> target` for a symlink (its text, which may be relative), ` => /path` for a
 * hard link (another path in the image), as `ls -l` and the TUI tell them apart; '' for anything else.
 */
export function linkText(a: { type: string; linkname?: string }): string {
  if (a.linkname === undefined) return '';
  return a.type === 'hardlink' ? ` => ${showPath(a.linkname)}` : ` -> ${displayPath(a.linkname)}`;
}

function changeCells(r: ChangeRow): string[] {
  if (r.change === 'deleted') {
    const what = r.deletedAttrs ? `${r.deletedAttrs.type} from layer ${r.deletedLayer}${r.deletedBytes ? `, hides ${formatBytes(r.deletedBytes)}` : ''}` : 'nothing below (no-op whiteout)';
    return ['deleted', '-', '-', '-', '-', `${showPath(r.path)}  (${what})`];
  }
  const a = r.attrs!;
  const link = linkText(a);
  const notes = [r.opaque ? 'opaque' : '', r.hiddenBy !== null && r.hiddenReason !== 'updated' ? `hidden by layer ${r.hiddenBy} (${r.hiddenReason})` : '', r.redirect !== undefined ? `redirect ${displayPath(r.redirect)}` : '', r.metacopy ? 'metacopy' : ''].filter(Boolean);
  return [r.change, a.type, formatMode(a.type, a.mode), `${a.uid}:${a.gid}`, a.type === 'dir' ? '-' : String(a.size), showPath(r.path) + link + (notes.length ? `  [${notes.join(', ')}]` : '')];
}

const CHANGE_HEADER = ['CHANGE', 'TYPE', 'MODE', 'UID:GID', 'SIZE', 'PATH'];
const MERGED_HEADER = ['MODE', 'UID:GID', 'SIZE', 'LAYER', 'PATH'];

function mergedCells(r: MergedRow): string[] {
  return [formatMode(r.attrs.type, r.attrs.mode), `${r.attrs.uid}:${r.attrs.gid}`, r.attrs.type === 'dir' ? '-' : String(r.attrs.size), String(r.layer), showPath(r.path) + linkText(r.attrs)];
}

export function changeRowsText(rows: ChangeRow[]): string {
  return table(CHANGE_HEADER, rows.map(changeCells)) + '\n';
}

export function mergedRowsText(rows: MergedRow[]): string {
  return table(MERGED_HEADER, rows.map(mergedCells)) + '\n';
}

/** changeRowsText for a listing too big to hold: `rows` is walked twice (widths, then lines). */
export function changeRowsLines(rows: () => Iterable<ChangeRow>): Generator<string> {
  return tableLines(CHANGE_HEADER, () => mapIter(rows(), changeCells));
}

/** mergedRowsText for a listing too big to hold: `rows` is walked twice (widths, then lines). */
export function mergedRowsLines(rows: () => Iterable<MergedRow>): Generator<string> {
  return tableLines(MERGED_HEADER, () => mapIter(rows(), mergedCells));
}

function* mapIter<T, U>(it: Iterable<T>, f: (x: T) => U): Generator<U> {
  for (const x of it) yield f(x);
}

/** The same lines as `docker diff` (escaped when a name holds control characters). */
/** docker diff's lines; with `digests` (by absolute path), the sha256 of each added or changed file after two spaces. */
export function dockerChangesText(changes: DockerChange[], digests?: ReadonlyMap<string, string>): string {
  return changes.map((c) => `${c.kind} ${'/' + displayPath(c.path.slice(1))}${digests?.has(c.path) ? `  sha256:${digests.get(c.path)}` : ''}\n`).join('');
}

export function table(header: string[], rows: string[][]): string {
  return [...tableLines(header, () => rows)].join('\n');
}

/** The lines of `table`, for rows given as a walk that can be repeated: one walk for the widths, one to print. */
export function* tableLines(header: string[], rows: () => Iterable<string[]>): Generator<string> {
  const widths = header.map((h) => h.length);
  for (const r of rows()) for (let i = 0; i < widths.length - 1; i++) widths[i] = Math.max(widths[i]!, width(r[i] ?? ''));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c)))).join('  ');
  yield line(header);
  for (const r of rows()) yield line(r);
}

function width(s: string): number {
  return [...s].length;
}
