import { displayPath } from '../core/model/path.js';
import { formatBytes, safeMessage, safeText } from '../report/format.js';
import type { Line } from './rows.js';
import type { EntryRef, ExtractState, VerifyState, ViewerState } from './state/index.js';
import { rowCount, rowText, VIEW_WINDOW } from './viewer.js';

/** The viewer's and extract's lines: pure, from their state. Text from the file was made safe in rowText. */

export function viewerTitle(v: ViewerState): string {
  const mode = v.content ? (v.hex ? 'hex' : 'text') : '';
  return `View /${displayPath(v.entry.path)} at L${v.entry.layer}${mode ? ` · ${mode}` : ''}`;
}

function bytes(n: number): string {
  return `${n.toLocaleString('en')} bytes${n >= 1000 ? ` (${formatBytes(n)})` : ''}`;
}

/** The three lines above the content: where the bytes come from, their hash, what is shown. */
export function viewerHead(v: ViewerState): Line[] {
  const from = v.from === null ? '' : v.from === v.entry.layer ? `written by L${v.from}` : `written by L${v.from}, seen at L${v.entry.layer}`;
  const size = v.size ?? v.recorded;
  // The bytes read are what is shown and hashed; a layer record that disagrees is said first.
  const differs = v.size !== null && v.recorded !== null && v.size !== v.recorded;
  const sizeText = size === null ? '' : differs ? `${bytes(size)} read, the layer records ${v.recorded!.toLocaleString('en')}` : bytes(size);
  const first: Line = { text: [from, sizeText, v.entry.note ?? ''].filter(Boolean).join(' · ') || `/${displayPath(v.entry.path)}`, tone: differs ? 'warning' : undefined };
  let hash: Line;
  if (v.sha256) hash = { text: `sha256 ${v.sha256}` };
  else if (v.status === 'error') hash = { text: safeMessage(v.message ?? 'unreadable'), tone: 'warning' };
  else if (v.message) hash = { text: `sha256 not computed: ${safeMessage(v.message)}`, tone: 'warning' };
  else hash = { text: `sha256 … (hashing: ${formatBytes(v.hashed)}${v.recorded ? ` of ${formatBytes(v.recorded)}` : ''})`, tone: 'dim' };
  return [first, hash, statusLine(v)];
}

function statusLine(v: ViewerState): Line {
  const c = v.content;
  if (!c) return { text: v.status === 'loading' ? 'reading…' : '', tone: 'dim' };
  const parts: string[] = [];
  const n = rowCount(c, v.hex);
  const total = v.size ?? v.recorded ?? c.size;
  parts.push(total > c.window.length ? `the first ${formatBytes(VIEW_WINDOW)} of ${formatBytes(total)} shown (extract copies all of it)` : `${n.toLocaleString('en')} ${v.hex ? 'dump lines' : 'lines'}`);
  if (c.binary && !v.hex) parts.push('binary: shown as text');
  const q = v.search;
  if (q) {
    const what = `/${safeText(q.query)}`;
    if (q.error) parts.push(`${what}: invalid regular expression: ${safeText(q.error)}`);
    else if (!q.hits.length) parts.push(`${what}: no match`);
    else parts.push(`${what}: ${q.hit + 1}/${q.hits.length}${q.truncated ? '+' : ''} (n/N)`);
  }
  if (v.hscroll) parts.push(`→${v.hscroll}`);
  return { text: parts.join(' · '), tone: q?.error || (q && !q.hits.length) ? 'warning' : 'dim' };
}

/** The content rows on screen. */
export function viewerLines(v: ViewerState, rows: number, width: number): Line[] {
  const out = viewerHead(v);
  const c = v.content;
  if (!c) return out;
  const n = rowCount(c, v.hex);
  const hits = v.search?.hits.length ? new Set(v.search.hits) : null;
  const current = v.search?.hits[v.search.hit];
  for (let r = v.scroll; r < Math.min(n, v.scroll + rows); r++) {
    const text = rowText(c, v.hex, r);
    const shown = v.hscroll ? text.slice(v.hscroll) : text;
    out.push({ text: shown.length > width ? shown.slice(0, width) : shown, selected: r === current, tone: hits?.has(r) ? 'warning' : undefined });
  }
  if (n === 0) out.push({ text: '(empty file)', tone: 'dim' });
  return out;
}

export function entryText(e: EntryRef): string {
  return `${e.isDir ? 'directory' : 'file'} /${displayPath(e.path)}, as L${e.layer} shows it${e.note ? ` (${e.note})` : ''}`;
}

export function extractTitle(x: ExtractState): string {
  return `Extract /${displayPath(x.entry.path)} at L${x.entry.layer}`;
}

export function extractLines(x: ExtractState): Line[] {
  const out: Line[] = [{ text: `What: ${entryText(x.entry)}${x.entry.isDir ? ', with everything below it' : ''}` }, { text: '' }];
  out.push({ text: `Into directory: ${safeText(x.dir)}${x.status === 'prompt' ? '█' : ''}`, tone: 'heading' });
  out.push({ text: '' });
  if (x.status === 'prompt') {
    out.push({ text: 'Created if missing; files land at DIR/<path>. As layerscope extract: refused inside the', tone: 'dim' });
    out.push({ text: 'evidence, nothing that exists is overwritten, no symlink is followed.', tone: 'dim' });
    out.push({ text: '' });
    out.push({ text: 'Enter extracts · Esc cancels', tone: 'dim' });
    return out;
  }
  if (x.status === 'running') return [...out, { text: 'extracting…', tone: 'dim' }];
  for (const l of x.lines) out.push({ text: l, tone: x.status === 'error' ? 'warning' : undefined });
  out.push({ text: '' });
  out.push({ text: 'Esc closes', tone: 'dim' });
  return out;
}

export function verifyTitle(v: VerifyState): string {
  return `Verify in place: L${v.layer}${v.status === 'running' ? ' (running)' : v.status === 'error' ? ' (could not run)' : v.ok ? ': OK' : ': FAILED'}`;
}

export function verifyLines(v: VerifyState): Line[] {
  if (v.status === 'running') return [{ text: `${safeMessage(v.progress)}…`, tone: 'dim' }, { text: '' }, { text: 'Ctrl-C or q quits at any time: a mount is undone first.', tone: 'dim' }];
  const out: Line[] = v.lines.map((text) => ({ text, tone: /^(FAILED|  ! |could not)/.test(text) ? 'warning' : undefined }));
  return out;
}
