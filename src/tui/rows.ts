import type { ImageAnalysis } from '../core/analysis/analyze.js';
import type { ContainerAnalysis } from '../core/analysis/container.js';
import type { EndReason, VersionInfo } from '../core/analysis/stack.js';
import { historySteps, type HistoryStep } from '../core/sources/config.js';
import { displayPath, type Attrs } from '../core/model/index.js';
import { riskLine } from '../report/inspect.js';
import { historyNote } from '../report/text.js';
import { formatBytes, formatMode, formatPercent, formatTime, shortId, safeText, showPath, safeMessage } from '../report/format.js';
import { ADDED, DELETED, MODIFIED, nameOf, pathOf, type FlatTree, type VisibleView } from './file-tree.js';
import type { SearchHit } from './search.js';
import { tabBar } from './container-rows.js';
import { currentProblems, pickerImages, SUMMARY_HEAD, type ContainerStats, type ImageStats, type State } from './state/index.js';
import type { ContainerInfo, ImageInfo, Problem, StoreRef } from '../core/model/types.js';
import { cutColumns } from './width.js';

/**
 * Pure presentation: model in, lines of text out. Every string that comes from evidence (names, link targets,
 * commands, tags, ids, container names) goes through displayPath/safeText here, so that no control character
 * or escape sequence from an image can reach the terminal. Components only colour and clip these lines.
 */

export type Tone = 'added' | 'modified' | 'deleted' | 'opaque' | 'dim' | 'heading' | 'warning' | undefined;

export interface Line {
  text: string;
  tone?: Tone;
  selected?: boolean;
}

export const CURSOR = '▶';

/** Ids come from evidence too (a container dir's name, a config's digest): shortened, then escaped. */
function sid(id: string): string {
  return safeText(shortId(id));
}

function mark(selected: boolean): string {
  return selected ? CURSOR : ' ';
}

function padL(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

function padR(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/**
 * A history command shown short, as dive does: `RUN ...`, `COPY ...`; escaped. Given the layer, an entry
 * without a command shows what it says instead (`(imported: Imported from -)`: historyNote).
 */
export function shortCommand(createdBy: string | null, layer?: { comment: string | null; created: string | null }): string {
  const note = layer ? historyNote({ comment: layer.comment, created: layer.created, createdBy }) : createdBy === null ? '(no history entry)' : null;
  if (note !== null) return safeText(note);
  if (createdBy === null) return '(no history entry)';
  let c = createdBy.trim();
  const nop = /^\/bin\/sh -c #\(nop\)\s*/.exec(c);
  if (nop) c = c.slice(nop[0].length);
  else if (c.startsWith('/bin/sh -c ')) c = 'RUN ' + c.slice('/bin/sh -c '.length);
  c = c.replace(/ # buildkit$/, '');
  return safeText(c.replace(/\s+/g, ' '));
}

// ---------------------------------------------------------------------------------------------------------
// layers, details, summary
// ---------------------------------------------------------------------------------------------------------

export function layerHeader(): Line {
  return { text: `   #     Size   Hidden  Command`, tone: 'heading' };
}

export function layerRow(a: ImageAnalysis, i: number, selected: boolean): Line {
  const l = a.layers[i]!;
  const info = a.image.layers[i]!;
  const text = `${mark(selected)}${padL(String(i), 3)} ${padL(formatBytes(l.bytes), 8)} ${padL(l.hiddenBytes ? formatBytes(l.hiddenBytes) : '-', 8)}  ${shortCommand(info.createdBy, info)}`;
  return { text, selected, tone: l.hiddenBytes > 0 ? 'warning' : undefined };
}

/** A history step that made no layer (ENV, CMD, LABEL...), greyed between the layers. */
export function emptyStepRow(step: HistoryStep): Line {
  return { text: `       ·        ·  ${shortCommand(step.createdBy)}`, tone: 'dim' };
}

/**
 * The layer list: a header, then the layers from `scroll`; with `steps` (the config's history), the steps that
 * made no layer are shown greyed where they happened (before the layer they precede, and after the last one),
 * never selectable: the cursor moves over layers only, and the window keeps it on screen.
 */
export function layerLines(a: ImageAnalysis, cursor: number, scroll: number, rows: number, steps: HistoryStep[] | null = null): Line[] {
  const out: Line[] = [layerHeader()];
  if (!steps) {
    for (let i = scroll; i < Math.min(a.layers.length, scroll + rows - 1); i++) out.push(layerRow(a, i, i === cursor));
    return out;
  }
  // Display rows: the layers and the empty steps in history order (built once per history).
  let dl = displayCache.get(steps);
  if (!dl) {
    const rows: (number | HistoryStep)[] = [];
    const index = new Map<number, number>();
    for (const st of steps) {
      if (st.layer !== null) index.set(st.layer, rows.length);
      rows.push(st.layer === null ? st : st.layer);
    }
    dl = { rows, index };
    displayCache.set(steps, dl);
  }
  const display = dl.rows;
  const at = (layer: number) => dl!.index.get(layer) ?? -1;
  let start = Math.max(0, at(scroll));
  // The empty steps just before the first layer shown come with it.
  while (start > 0 && typeof display[start - 1] !== 'number') start--;
  const cur = at(cursor);
  if (cur >= start + rows - 1) start = cur - rows + 2;
  for (let k = start; k < Math.min(display.length, start + rows - 1); k++) {
    const d = display[k]!;
    out.push(typeof d === 'number' ? layerRow(a, d, d === cursor) : emptyStepRow(d));
  }
  return out;
}

const displayCache = new WeakMap<HistoryStep[], { rows: (number | HistoryStep)[]; index: Map<number, number> }>();

/** Greedy word wrap of escaped text into lines of at most `width` characters (long words are cut). */
export function wrapText(text: string, width: number): string[] {
  const w = Math.max(8, width);
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    let wd = word;
    while (wd.length > w) {
      if (line) out.push(line), (line = '');
      out.push(wd.slice(0, w));
      wd = wd.slice(w);
    }
    if (!line) line = wd;
    else if (line.length + 1 + wd.length <= w) line += ' ' + wd;
    else out.push(line), (line = wd);
  }
  if (line) out.push(line);
  return out.length ? out : [''];
}

/** Parts joined by `sep` while they fit in `width`: a figure is shown whole or not at all, never cut. */
export function fitParts(parts: string[], width: number, sep = '  '): string {
  let out = '';
  for (const p of parts) {
    const next = out ? out + sep + p : p;
    if (next.length > width && out) break;
    out = next;
  }
  return out;
}

/**
 * The layer details pane: what made the layer first (the whole command, wrapped over up to `cmdLines` lines; `c`
 * shows every step in full), its figures, then its ids and where it lives. Figures are never cut mid-number.
 */
export function detailLines(a: ImageAnalysis, layer: number, width = 200, cmdLines = 3): Line[] {
  const info = a.image.layers[layer];
  const l = a.layers[layer];
  if (!info || !l) return [{ text: 'no layer' }];
  const created = info.created ? safeText(info.created.replace('T', ' ').replace(/\.\d+/, '')) : 'unknown';
  const cmd = wrapText(commandText(info), width);
  const shown = cmd.length > cmdLines ? [...cmd.slice(0, cmdLines - 1), cmd[cmdLines - 1]!.slice(0, Math.max(0, width - 12)) + ' … (c: all)'] : cmd;
  return [
    { text: fitParts([`Layer ${layer} of ${a.layers.length}`, `created ${created}`], width), tone: 'heading' },
    ...shown.map((text): Line => ({ text })),
    { text: fitParts([`A ${l.added}`, `M ${l.modified}`, `D ${l.deleted}`, `opaque ${l.opaqueDirs}`], width) },
    { text: fitParts([`${formatBytes(l.bytes)}`, `${formatBytes(l.hiddenBytes)} hidden`], width, ', ') },
    // A container's own layers (init, RW) are no image layer: they have neither.
    { text: `diffId  ${info.diffId ? safeText(info.diffId) : "- (the container's own layer)"}` },
    { text: `chainId ${info.chainId ? safeText(info.chainId) : '-'}` },
    { text: `cacheId ${info.cacheId === null ? '- (not a data root)' : safeText(info.cacheId)}` },
    { text: `dir     ${info.location === null ? '-' : safeText(info.location)}` },
    { text: `comment ${info.comment ? safeText(info.comment) : '-'}` },
  ];
}

/** The command that made a layer, as the details show it: the short form, or what the history says instead. */
function commandText(info: { createdBy: string | null; comment: string | null; created?: string | null }): string {
  return shortCommand(info.createdBy, { comment: info.comment, created: info.created ?? null });
}

export function imageName(img: ImageInfo): string {
  return img.tags.length ? safeText(img.tags.join(', ')) : img.digests.length ? safeText(img.digests[0]!) : `<none> ${sid(img.id)}`;
}

export function summaryLines(a: ImageAnalysis, cursor: number, scroll: number, rows: number, focused: boolean, width = 200): Line[] {
  const out: Line[] = [
    { text: fitParts([`Total ${formatBytes(a.bytes)}`, `hidden ${formatBytes(a.hiddenBytes)}`, `${a.hidden.length} files`], width) },
    { text: fitParts([`Efficiency ${formatPercent(a.efficiency)}`, `visible ${formatBytes(a.visibleBytes)}`], width) },
    { text: a.hidden.length ? `    Size  Layer  Largest hidden files` : 'No hidden bytes: nothing shipped is unseen.', tone: 'heading' },
  ];
  for (let i = scroll; i < Math.min(a.hidden.length, scroll + rows - SUMMARY_HEAD); i++) {
    const h = a.hidden[i]!;
    const sel = focused && i === cursor;
    // Like dive's "count": how many layers wrote this path (each copy ships its bytes).
    const id = a.view.lookup(h.path);
    const copies = id < 0 ? 1 : a.view.versions(id).filter((v) => !a.view.store.isWhiteout(v) && !a.view.store.isImplicit(v)).length;
    out.push({ text: `${mark(sel)}${padL(formatBytes(h.bytes), 7)} ${padR(`L${h.layer}>L${h.by}`, 6)} ${showPath(h.path)} (${h.reason}${copies > 1 ? `, ${copies} copies` : ''})`, selected: sel, tone: 'deleted' });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// the file tree
// ---------------------------------------------------------------------------------------------------------

const REASON: Record<EndReason, string> = { deleted: 'deleted', overwritten: 'overwritten', opaque: 'opaque dir', replaced: 'replaced', updated: 'updated' };

function linkSuffix(attrs: Attrs): string {
  if (attrs.type === 'symlink') return ` -> ${displayPath(attrs.linkname ?? '')}`;
  if (attrs.type === 'hardlink') return ` => ${showPath(attrs.linkname ?? '')}`;
  if ((attrs.type === 'char' || attrs.type === 'block') && attrs.devMajor !== undefined) return ` [${attrs.devMajor},${attrs.devMinor ?? 0}]`;
  return '';
}

/** What the entry at tree index i shows, from the version behind it. */
function entryOf(t: FlatTree, i: number): { attrs: Attrs | null; until: number; reason: EndReason | null; opaque: boolean; v: VersionInfo | null } {
  const id = t.ver[i]!;
  if (id < 0) return { attrs: null, until: Infinity, reason: null, opaque: false, v: null };
  const v = t.view.info(id);
  if (v.kind === 'whiteout') return { attrs: v.deleted?.attrs ?? null, until: Infinity, reason: null, opaque: false, v };
  const removed = t.change[i] === DELETED;
  return { attrs: v.attrs, until: removed ? Infinity : v.until, reason: removed ? null : v.endReason, opaque: v.opaque && v.layer === t.layer, v };
}

export interface FileRowOptions {
  attrs: boolean;
  /** The uid:gid column (dropped in narrow panes). */
  owner?: boolean;
  collapsed: boolean;
  selected: boolean;
  /** The change letters and colours (off for a plain tree: a volume has no layers to compare). */
  marks?: boolean;
  /** Verify in place found the kernel's view (or the layer as built) differs here: what differs. */
  flag?: string | null;
}

export function fileRow(t: FlatTree, i: number, o: FileRowOptions): Line {
  const e = entryOf(t, i);
  const change = t.change[i]!;
  const isDel = change === DELETED;
  let letter = change === ADDED ? 'A' : change === MODIFIED ? 'M' : isDel ? 'D' : ' ';
  let tone: Tone = change === ADDED ? 'added' : change === MODIFIED ? 'modified' : isDel ? 'deleted' : undefined;
  if (e.opaque && !isDel) {
    letter = 'O';
    tone = 'opaque';
  }
  if (o.marks === false) {
    letter = ' ';
    tone = undefined;
  }
  const a = e.attrs;
  // The column after the letter is the verify mark.
  let cols = `${mark(o.selected)}${letter}${o.flag ? '!' : ' '}`;
  if (o.flag) tone = 'warning';
  if (o.attrs) {
    const owner = o.owner === false ? '' : a ? `${padL(`${a.uid}:${a.gid}`, 9)} ` : ' '.repeat(10);
    cols += `${a ? formatMode(a.type, a.mode) : padR('?', 10)} ${owner}`;
  }
  const dir = t.isDir[i] === 1;
  // Sizes are regular-file bytes: a symlink or device shows none (its "size" is not content).
  const showSize = isDel || t.size[i]! > 0 || (!dir && a?.type === 'file');
  cols += `${padL(showSize ? formatBytes(t.size[i]!) : '', 8)} `;
  const indent = '  '.repeat(t.depth[i]!);
  // A dir shown with contents (a removed dir shows what it took along) can be folded.
  const twisty = dir && (!isDel || t.end[i]! > i + 1) ? (o.collapsed ? '▸ ' : '▾ ') : '  ';
  let name = displayPath(nameOf(t, i)) + (dir ? '/' : '');
  if (a) name += linkSuffix(a);
  const notes: string[] = [];
  if (isDel && e.v?.kind === 'whiteout') {
    const gone = e.v.deleted;
    if (!gone) notes.push('whiteout of nothing');
    else notes.push(`deleted: hid ${t.size[i] ? formatBytes(t.size[i]!) : 'no bytes'} from L${gone.layer}`);
  } else if (isDel && e.v) notes.push(`${REASON[e.v.endReason ?? 'deleted']} here, from L${e.v.layer}`);
  else if (e.opaque) notes.push('opaque: hides lower contents');
  if (!isDel && e.until !== Infinity && e.reason && e.reason !== 'updated') notes.push(`hidden by L${e.until} (${REASON[e.reason]})`);
  if (e.v?.redirect !== undefined) notes.push(`redirect ${displayPath(e.v.redirect)}`);
  if (e.v?.metacopy) notes.push('metacopy');
  if (notes.length === 0 && e.until !== Infinity && e.reason !== 'updated') notes.push(`hidden by L${e.until}`);
  if (o.flag) notes.unshift(`verify: ${o.flag}`);
  return { text: cols + indent + twisty + name + (notes.length ? `  [${notes.join('; ')}]` : ''), tone, selected: o.selected };
}

export function fileLines(t: FlatTree, v: VisibleView, cursor: number, scroll: number, rows: number, attrs: boolean, owner = true, marks = true, flags: ReadonlyMap<string, string> | null = null): Line[] {
  const out: Line[] = [];
  for (let r = scroll; r < Math.min(v.rows.length, scroll + rows); r++) {
    const i = v.rows[r]!;
    const flag = flags?.size ? (flags.get(pathOf(t, i)) ?? null) : null;
    out.push(fileRow(t, i, { attrs, owner, collapsed: v.collapsed[i] === 1, selected: r === cursor, marks, flag }));
  }
  if (v.rows.length === 0) out.push({ text: t.n === 0 ? '  (this layer changes nothing)' : '  (everything is filtered out)', tone: 'dim' });
  return out;
}

export function fileHeader(attrs: boolean, owner = true): Line {
  return { text: `  ${attrs ? `Mode       ${owner ? 'Uid:Gid   ' : ''}` : ''}    Size Name`, tone: 'heading' };
}

export function filesTitle(s: Pick<State, 'layer' | 'mode' | 'sort' | 'filters'> & Partial<Pick<State, 'pathFilter'>>): string {
  const view = s.mode === 'changes' ? `L${s.layer} changes` : `everything up to L${s.layer}`;
  const off = (['added', 'removed', 'modified', 'unmodified'] as const).filter((k) => !s.filters[k]).map((k) => k[0]!.toUpperCase());
  const f = s.pathFilter && !s.pathFilter.editing && !s.pathFilter.error && s.pathFilter.query ? `, filter /${safeText(s.pathFilter.query)}/` : '';
  return `Files: ${view}${s.sort === 'size' ? ', by size' : ''}${off.length ? `, hiding ${off.join('')}` : ''}${f}`;
}

// ---------------------------------------------------------------------------------------------------------
// search
// ---------------------------------------------------------------------------------------------------------

export function versionText(v: VersionInfo): string {
  if (v.kind === 'whiteout') return `L${v.layer} D`;
  const a = v.attrs!;
  let s = `L${v.layer} ${v.change === 'modified' ? 'M' : 'A'}${a.type === 'file' ? ' ' + formatBytes(a.size) : a.type === 'dir' ? ' dir' : ' ' + a.type}`;
  if (v.until !== Infinity) s += ` (${REASON[v.endReason ?? 'deleted']} L${v.until})`;
  return s;
}

export function searchHitRow(h: SearchHit, selected: boolean): Line {
  const vs = h.versions.filter((v) => !v.implicit);
  const last = h.versions[h.versions.length - 1]!;
  const dead = last.kind === 'whiteout' || last.until !== Infinity;
  return { text: `${mark(selected)}${showPath(h.path)}  ${vs.map(versionText).join(', ')}`, selected, tone: dead ? 'deleted' : undefined };
}

export function searchLines(s: State, rows: number): Line[] {
  const r = s.search?.result;
  if (!r) return [];
  if (r.error) return [{ text: `invalid regular expression: ${safeText(r.error)}`, tone: 'warning' }];
  if (r.hits.length === 0) return [{ text: `no path ever matched ${JSON.stringify(safeText(r.query))}`, tone: 'dim' }];
  const cursor = s.search!.cursor;
  const scroll = Math.max(0, Math.min(cursor - Math.floor(rows / 2), r.hits.length - rows));
  const out: Line[] = [];
  for (let i = scroll; i < Math.min(r.hits.length, scroll + rows); i++) out.push(searchHitRow(r.hits[i]!, i === cursor));
  return out;
}

export function searchTitle(s: State): string {
  const r = s.search?.result;
  if (!r) return 'Search';
  return `Search ${r.regex ? 'regex' : 'substring'} ${JSON.stringify(safeText(r.query))}: ${r.hits.length}${r.truncated ? '+' : ''} paths`;
}

// ---------------------------------------------------------------------------------------------------------
// picker and containers
// ---------------------------------------------------------------------------------------------------------

export function imageRow(img: ImageInfo, stats: ImageStats | undefined, selected: boolean): Line {
  const stored = img.layers.every((l) => l.storedSize !== null) ? img.layers.reduce((a, l) => a + (l.storedSize ?? 0), 0) : null;
  const size = stats ? formatBytes(stats.bytes) : stored !== null ? formatBytes(stored) : '…';
  const hidden = stats ? formatBytes(stats.hiddenBytes) : '…';
  return { text: `${mark(selected)}${padR(imageName(img), 30)} ${sid(img.id)} ${padL(size, 9)} ${padL(hidden, 9)} ${padL(String(img.layers.length), 6)}`, selected };
}

function containerState(c: ContainerInfo): string {
  return safeText(c.state === 'exited' && c.exitCode !== null ? `exited(${c.exitCode})` : String(c.state));
}

export function containerRow(c: ContainerInfo, stats: ContainerStats | undefined, selected: boolean): Line {
  const changes = stats ? `A ${stats.added}  C ${stats.changed}  D ${stats.deleted}` : '…';
  // Each column ends with a space even when its value is longer than the column: values never run together.
  return { text: `${mark(selected)}${padR(safeText(c.name), 22)} ${padR(c.imageRef !== null ? safeText(c.imageRef) : sid(c.image), 20)} ${padR(containerState(c), 12)} ${changes}`, selected };
}

/**
 * A group heading of the picker for a source of several stores (--image-root): the store its rows are from. The
 * rows keep their columns (80 columns hold them); the store says itself once above them.
 */
function storeHeading(st: StoreRef): Line {
  return { text: cutColumns(` ▸ ${safeText(st.label)}  ${safeText(st.relative ? '/' + st.relative : st.location)}`, 76), tone: 'dim' };
}

export function pickerLines(s: State): Line[] {
  const out: Line[] = [];
  const images = pickerImages(s);
  const hidden = s.images.length - images.length;
  if (images.length) {
    out.push({ text: ` ${padR('Image', 30)} ${padR('ID', 12)} ${padL('Size', 9)} ${padL('Hidden', 9)} ${padL('Layers', 6)}`, tone: 'heading' });
    images.forEach((img, i) => {
      if (img.store && img.store.relative !== images[i - 1]?.store?.relative) out.push(storeHeading(img.store));
      out.push(imageRow(img, s.imageStats[img.id], i === s.pickerCursor));
    });
  }
  if (s.containers.length) {
    if (out.length) out.push({ text: '' });
    out.push({ text: ` ${padR('Container', 22)} ${padR('Image', 20)} ${padR('State', 12)} docker diff`, tone: 'heading' });
    s.containers.forEach((c, i) => {
      if (c.store && c.store.relative !== s.containers[i - 1]?.store?.relative) out.push(storeHeading(c.store));
      out.push(containerRow(c, s.containerStats[c.id], images.length + i === s.pickerCursor));
    });
  }
  if (hidden > 0) out.push({ text: '' }, { text: `${hidden} intermediate image${hidden === 1 ? '' : 's'} (untagged layers of tagged ones) not listed: a shows them`, tone: 'dim' });
  else if (s.showAllImages) out.push({ text: '' }, { text: 'all images listed: a hides intermediate ones', tone: 'dim' });
  if (!out.length) out.push({ text: 'This source holds no images and no containers. Name another (a data root, an archive; the demo: demo/demo.tar in the package).', tone: 'warning' });
  return out;
}

/** A time the engine recorded, or '-' when it is unset (Go's zero time, 0001-01-01T00:00:00Z, means never). */
export function engineTime(t: string | null | undefined): string {
  if (!t || t.startsWith('0001-01-01')) return '-';
  return safeText(t);
}

function when(t: number): string {
  if (!t) return '-';
  return formatTime(t);
}

export function containerInfoLines(c: ContainerAnalysis): Line[] {
  const ct = c.container;
  return [
    { text: `${safeText(ct.name)}  ${sid(ct.id)}  ${containerState(ct)}${ct.pid ? `  pid ${ct.pid}` : ''}  image ${safeText(ct.imageRef ?? '')} ${sid(ct.image)}`, tone: 'heading' },
    { text: `started ${engineTime(ct.startedAt)}  finished ${engineTime(ct.finishedAt)}  driver ${safeText(ct.driver ?? '-')}` },
    { text: `${ct.store ? `store ${safeText(ct.store.label)}  ` : ''}rw dir ${ct.rwDir ? safeText(ct.rwDir) : '-'}` },
    ...riskInfoLines(c),
    { text: `docker diff: A ${c.counts.added}  C ${c.counts.changed}  D ${c.counts.deleted}`, tone: 'heading' },
  ];
}

/** At most this many risk lines above the changes (layerscope inspect lists them all). */
const RISK_LINES = 6;

/** The container's risk findings (none when the source keeps no docker-inspect data for it). */
function riskInfoLines(c: ContainerAnalysis): Line[] {
  const r = c.risks;
  if (!r) return [];
  const lines: Line[] = r.findings.slice(0, RISK_LINES).map((f) => ({ text: `risk ${riskLine(f)}`, tone: f.severity === 'high' ? 'deleted' : 'warning' }));
  if (r.findings.length > RISK_LINES) lines.push({ text: `risk … ${r.findings.length - RISK_LINES} more (layerscope inspect --container lists them all)`, tone: 'warning' });
  if (!r.findings.length) lines.push({ text: `risk: none found${r.complete ? '' : ' (HostConfig unreadable: not checked)'}`, tone: 'dim' });
  else if (!r.complete) lines.push({ text: 'risk: HostConfig unreadable: its settings were not checked', tone: 'warning' });
  return lines;
}

/** rw-layer attributes by absolute path (docker diff paths are absolute). */
const rwIndex = new WeakMap<ContainerAnalysis, Map<string, Attrs>>();

export function containerChangeRow(c: ContainerAnalysis, i: number, selected: boolean): Line {
  let idx = rwIndex.get(c);
  if (!idx) {
    idx = new Map();
    for (const e of c.rw.each()) if (e.kind === 'put') idx.set('/' + e.path, e.attrs);
    rwIndex.set(c, idx);
  }
  const ch = c.changes[i]!;
  const a = idx.get(ch.path);
  const size = ch.kind === 'D' || !a ? '' : a.type === 'dir' ? 'dir' : formatBytes(a.size);
  const mode = ch.kind === 'D' || !a ? '' : formatMode(a.type, a.mode);
  const time = ch.kind === 'D' || !a ? '' : when(a.mtime);
  const name = '/' + displayPath(ch.path.replace(/^\//, '')) + (a ? linkSuffix(a) : '');
  const tone: Tone = ch.kind === 'A' ? 'added' : ch.kind === 'C' ? 'modified' : 'deleted';
  return { text: `${mark(selected)}${ch.kind} ${padR(mode, 10)} ${padL(size, 8)} ${padR(time, 19)} ${name}`, tone, selected };
}

export function containerChangeLines(c: ContainerAnalysis, cursor: number, scroll: number, rows: number): Line[] {
  const out: Line[] = [{ text: `  ${padR('Mode', 10)} ${padL('Size', 8)} ${padR('Modified (UTC)', 19)} Path`, tone: 'heading' }];
  for (let i = scroll; i < Math.min(c.changes.length, scroll + rows - 1); i++) out.push(containerChangeRow(c, i, i === cursor));
  if (c.changes.length === 0) out.push({ text: '  (no changes: docker diff prints nothing)', tone: 'dim' });
  return out;
}

export function problemLines(ps: Problem[]): Line[] {
  if (!ps.length) return [{ text: 'No problems found in the evidence.', tone: 'dim' }];
  return ps.map((p) => ({
    text: `${padR(p.severity, 7)} ${safeText(p.code)}: ${safeMessage(p.message)}${p.path ? `  (${safeMessage(p.path)})` : ''}`,
    tone: p.severity === 'error' ? 'deleted' : p.severity === 'warning' ? 'warning' : undefined,
  }));
}

/** Header line: what is open. */
export function headerText(s: State): string {
  const parts = ['layerscope'];
  if (s.screen === 'image' && s.analysis) parts.push(`${imageName(s.analysis.image)} ${sid(s.analysis.image.id)}`);
  // The tabs before the name: at 80 columns a long name is cut, never the way to the other tabs.
  if (s.screen === 'container' && s.container) parts.push(tabBar(s), `container ${safeText(s.container.container.name)}`);
  if (s.location) parts.push(safeText(s.location));
  if (s.note) parts.push(safeText(s.note));
  const n = currentProblems(s).length;
  if (n) parts.push(`${n} problem${n === 1 ? '' : 's'} (p)`);
  return parts.join(' │ ');
}

// ---------------------------------------------------------------------------------------------------------
// the image's config and history (the `c` overlay)
// ---------------------------------------------------------------------------------------------------------

/** A config value as one line of text: strings as they are, lists and maps as compact JSON; escaped. */
function configValue(v: unknown): string {
  if (v === undefined || v === null) return '-';
  return safeText(typeof v === 'string' ? (v === '' ? '""' : v) : JSON.stringify(v));
}

const historyCache = new WeakMap<ImageInfo, HistoryStep[] | null>();

/** The config's history steps (null when they do not line up with the layers), computed once per image. */
export function stepsOf(img: ImageInfo): HistoryStep[] | null {
  if (!historyCache.has(img)) historyCache.set(img, historySteps(img.config, configLayers(img)));
  return historyCache.get(img)!;
}

/** The image's own layers (a container's stack adds its init and RW layers, which no history entry made). */
function configLayers(img: ImageInfo): number {
  return img.layers.filter((l) => l.diffId !== '').length;
}

/**
 * What the image says of itself: platform, the run config (Env, Entrypoint, Cmd, User, WorkingDir, ExposedPorts,
 * Volumes, Labels...), then every history step in full, wrapped (`docker history --no-trunc`, empty steps
 * included), the selected layer's step marked.
 */
export function imageConfigLines(a: ImageAnalysis, layer: number, width: number): Line[] {
  // Built once per (image, layer, width): a config of 100,000 steps must not be wrapped again at every key.
  const key = `${layer}:${width}`;
  const hit = configCache.get(a);
  if (hit?.key === key) return hit.lines;
  const lines = buildConfigLines(a, layer, width);
  configCache.set(a, { key, lines });
  return lines;
}

const configCache = new WeakMap<ImageAnalysis, { key: string; lines: Line[] }>();

function buildConfigLines(a: ImageAnalysis, layer: number, width: number): Line[] {
  const img = a.image;
  const cfg = img.config;
  const run = (cfg.config && typeof cfg.config === 'object' ? cfg.config : {}) as Record<string, unknown>;
  const out: Line[] = [{ text: `${imageName(img)}  ${safeText(img.id)}`, tone: 'heading' }];
  out.push({ text: `platform ${safeText([img.os ?? '?', img.architecture ?? '?', img.variant ?? ''].filter(Boolean).join('/'))}  created ${safeText(img.created ?? '-')}` });
  out.push({ text: '' }, { text: 'CONFIG', tone: 'heading' });
  for (const k of ['User', 'WorkingDir', 'Entrypoint', 'Cmd', 'StopSignal', 'Shell']) if (k in run) out.push({ text: `  ${k.padEnd(11)}${configValue(run[k])}` });
  for (const k of ['Env', 'ExposedPorts', 'Volumes', 'Labels', 'OnBuild']) {
    const v = run[k];
    if (v === undefined || v === null) continue;
    const items = Array.isArray(v) ? v.map(configValue) : typeof v === 'object' ? Object.entries(v as Record<string, unknown>).map(([x, y]) => (y && typeof y === 'object' && !Object.keys(y).length ? safeText(x) : `${safeText(x)}=${configValue(y)}`)) : [configValue(v)];
    out.push({ text: `  ${k}:${items.length ? '' : ' (none)'}` });
    for (const it of items) for (const w of wrapText(it, width - 4)) out.push({ text: `    ${w}` });
  }
  if (Object.keys(run).length === 0) out.push({ text: '  (the image config has no run config)', tone: 'dim' });
  out.push({ text: '' }, { text: 'HISTORY (every step, oldest first; · made no layer; ▶ the selected layer)', tone: 'heading' });
  const steps = stepsOf(img);
  if (!steps) {
    out.push({ text: "  the history does not line up with the layers: the layers' own commands are shown instead", tone: 'warning' });
    img.layers.forEach((l, i) => out.push(...stepLines(`L${i}`, l.createdBy, l.comment, i === layer, width)));
    return out;
  }
  for (const st of steps) out.push(...stepLines(st.layer === null ? ' ·' : `L${st.layer}`, st.createdBy, st.comment, st.layer === layer, width, st.created));
  // A container's own layers come after the image's history.
  for (let i = configLayers(img); i < img.layers.length; i++) out.push(...stepLines(`L${i}`, img.layers[i]!.createdBy, img.layers[i]!.comment, i === layer, width));
  return out;
}

function stepLines(label: string, createdBy: string | null, comment: string | null, selected: boolean, width: number, created: string | null = null): Line[] {
  const head = `${selected ? CURSOR : ' '}${label.padStart(4)}  `;
  const text = commandText({ createdBy, comment }) + (created ? `  (${safeText(created.replace('T', ' ').replace(/\.\d+/, ''))})` : '');
  return wrapText(text, width - head.length).map((w, i) => ({ text: (i === 0 ? head : ' '.repeat(head.length)) + w, selected: selected && i === 0, tone: label === ' ·' ? 'dim' : undefined }));
}
