import type { ContainerAnalysis } from '../core/analysis/container.js';
import type { ContainerInfo } from '../core/model/types.js';
import { containerInspectText } from '../report/inspect.js';
import { formatBytes, safeText } from '../report/format.js';
import { CONTAINER_TABS } from './container-tabs.js';
import type { Line } from './rows.js';
import { logsHead, type State } from './state/index.js';

/**
 * Pure presentation of the container screen's tabs other than changes (which is the image view): model in,
 * lines out. Everything from the evidence goes through safeText here (log text arrives made safe).
 */

/** `[1 Changes] 2 docker diff 3 Inspect & risk 4 Mounts 5 Logs`: the tab bar, in the header line. */
export function tabBar(s: Pick<State, 'tabs'>): string {
  return CONTAINER_TABS.map((t) => (t.tab === s.tabs.tab ? `[${t.key} ${t.title}]` : `${t.key} ${t.title}`)).join(' ');
}

/** Drop the first `n` characters (horizontal scroll), marking that something is left out. */
function shift(text: string, n: number): string {
  if (n <= 0) return text;
  const chars = [...text];
  return chars.length <= n ? '' : '…' + chars.slice(n + 1).join('');
}

const inspectCache = new WeakMap<ContainerAnalysis, string[]>();

/** The inspect tab: the risk findings first, then what docker inspect prints, grouped as `inspect` prints it. */
export function inspectTabLines(ca: ContainerAnalysis): string[] {
  let lines = inspectCache.get(ca);
  if (!lines) {
    lines = containerInspectText(ca.container, ca.risks, ca.problems, { risksFirst: true }).replace(/\n$/, '').split('\n');
    inspectCache.set(ca, lines);
  }
  return lines;
}

export function inspectLines(s: State, rows: number): Line[] {
  const ca = s.container;
  if (!ca) return [];
  const all = inspectTabLines(ca);
  const risks = all.indexOf('');
  return all.slice(s.tabs.scroll.inspect, s.tabs.scroll.inspect + rows).map((text, k) => {
    const i = s.tabs.scroll.inspect + k;
    const heading = /^[A-Z][A-Z ]+(\(|$|  )/.test(text);
    const isRisk = i > 0 && i < risks && /^  (HIGH|MEDIUM|LOW) /.test(text);
    return { text: shift(text, s.tabs.hscroll), tone: heading ? 'heading' : isRisk ? (text.startsWith('  HIGH') ? 'deleted' : 'warning') : undefined };
  });
}

/** One mount as the mounts tab lists it. */
export interface MountRow {
  type: string;
  name: string | null;
  source: string;
  destination: string;
  rw: boolean;
  mode: string;
}

/** The container's mounts: docker inspect's `Mounts` when the engine's files were read, else config.v2.json's. */
export function mountRows(c: ContainerInfo): MountRow[] {
  if (c.inspect) {
    return c.inspect.Mounts.map((m) => ({ type: m.Type ?? '-', name: m.Name ?? null, source: m.Source, destination: m.Destination, rw: m.RW, mode: m.Mode }));
  }
  return c.mounts.map((m) => ({ type: m.type ?? '-', name: m.name, source: m.source ?? '', destination: m.destination, rw: m.rw, mode: '' }));
}

export function mountLines(s: State, rows: number): Line[] {
  const ca = s.container;
  if (!ca) return [];
  const all = mountRows(ca.container);
  const info = s.tabs.mountInfo;
  // As wide as the longest destination (up to 24): at 80 columns the notes after the source must still fit.
  const dw = Math.min(24, Math.max(11, ...all.map((m) => safeText(m.destination).length)));
  const out: Line[] = [{ text: `  ${'Type'.padEnd(7)} ${'RW'.padEnd(2)} ${'Size'.padStart(8)}  ${'Destination'.padEnd(dw)} Volume or source`, tone: 'heading' }];
  if (!all.length) out.push({ text: '  (no mounts: the container saw only its own filesystem)', tone: 'dim' });
  const top = s.tabs.scroll.mounts;
  for (let i = top; i < Math.min(all.length, top + rows - 1); i++) {
    const m = all[i]!;
    const sel = i === s.tabs.mountsCursor;
    // A volume by its name (its host path is in the inspect tab), a bind by its host source.
    const what = m.type === 'volume' && m.name ? safeText(m.name) : safeText(m.source);
    const x = info?.[i];
    const size = !info ? '…' : x?.bytes !== null && x?.bytes !== undefined ? formatBytes(x.bytes) : '-';
    const note = x?.note ? `  (${x.note})` : x?.browsable ? '  Enter: browse' : '';
    const text = `${sel ? '▶' : ' '} ${safeText(m.type).padEnd(7)} ${m.rw ? 'rw' : 'ro'} ${size.padStart(8)}  ${safeText(m.destination).padEnd(dw)} ${what}${m.mode ? `  mode ${safeText(m.mode)}` : ''}${note}`;
    out.push({ text: shift(text, s.tabs.hscroll), selected: sel, tone: m.rw && m.type === 'bind' ? 'warning' : undefined });
  }
  return out;
}

/** `2024-01-02T03:04:05.123456789Z` shown as `2024-01-02 03:04:05` (the nanoseconds are in `logs -t`). */
function shortTime(t: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(t);
  return m ? `${m[1]} ${m[2]}` : t === '' ? '-'.padEnd(19) : t.slice(0, 19).padEnd(19);
}

export function logLines(s: State, rows: number): Line[] {
  const l = s.tabs.logs;
  if (!l || l.status === 'loading') return [{ text: 'reading the logs…', tone: 'dim' }];
  const out: Line[] = [];
  for (const n of l.notes.slice(0, 3)) out.push({ text: n, tone: l.status === 'error' ? 'warning' : 'dim' });
  for (const p of l.problems.slice(0, 2)) out.push({ text: p, tone: 'warning' });
  const q = s.tabs.logSearch;
  const head = q ? (q.error ? `invalid regular expression: ${safeText(q.error)}` : `${q.hits.length} line${q.hits.length === 1 ? '' : 's'} match ${JSON.stringify(q.query)}${q.hits.length ? ` (${q.hit + 1}/${q.hits.length}: n next, N previous)` : ''}`) : `${l.lines.length.toLocaleString('en')} entries${l.truncated ? ' (the last ones; layerscope logs prints them all)' : ''} · E = stderr`;
  out.push({ text: head, tone: 'heading' });
  while (out.length < logsHead(s)) out.push({ text: '' });
  const hits = q ? new Set(q.hits) : null;
  const current = q && q.hits.length ? q.hits[q.hit] : -1;
  const top = s.tabs.scroll.logs;
  const room = rows - out.length;
  for (let i = top; i < Math.min(l.lines.length, top + room); i++) {
    const e = l.lines[i]!;
    const text = `${shortTime(e.time)} ${e.stream === 'stderr' ? 'E' : ' '} ${e.text}`;
    out.push({ text: shift(text, s.tabs.hscroll), selected: i === current, tone: hits?.has(i) ? 'modified' : e.stream === 'stderr' ? 'warning' : undefined });
  }
  if (l.status === 'ready' && !l.lines.length) out.push({ text: '  (no entries)', tone: 'dim' });
  return out;
}
