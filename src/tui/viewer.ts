import { userRegExp } from './regex.js';
import { createHash } from 'node:crypto';
import { isBinary } from '../report/content-text.js';
import { hexLine } from '../report/hexdump.js';
import { terminalSafe } from '../report/logs.js';

/**
 * The file viewer's content: a bounded window of a file's bytes (never the whole of a 1 GB file), indexed once
 * into rows when it is read (in the driver), so that a keypress renders only the rows on screen. Text shows its
 * control characters escaped; binary shows as `hexdump -C` lines (a run of equal lines is one `*`).
 */

/** Bytes of a file the viewer holds: the first VIEW_WINDOW bytes; the rest is hashed, not kept. */
export const VIEW_WINDOW = 4 * 1024 * 1024;
/** A text line longer than this is shown on several rows (a minified file must not cost a 4 MB decode per frame). */
export const TEXT_ROW_BYTES = 2048;
/** Search hits kept. */
export const VIEW_HITS = 10_000;

export interface ViewerContent {
  /** The first bytes of the file: all of it when `size` <= VIEW_WINDOW. */
  window: Buffer;
  /** Bytes the evidence holds for the file (counted while reading it through). */
  size: number;
  binary: boolean;
  /** Text rows: byte offset where each row starts in the window, and one more: the end. */
  textRows: Uint32Array;
  /** Hex rows: byte offset of each hexdump line, or -1 for the `*` of a run of equal lines. */
  hexRows: Int32Array;
}

/** Index a window: its text rows and its hex rows. */
export function indexWindow(window: Buffer, size: number): ViewerContent {
  return { window, size, binary: isBinary(window), textRows: textRows(window), hexRows: hexRows(window) };
}

function textRows(b: Buffer): Uint32Array {
  const starts: number[] = [0];
  let i = 0;
  while (i < b.length) {
    const nl = b.indexOf(0x0a, i);
    const end = nl < 0 ? b.length : nl + 1;
    // Long lines are cut into rows of at most TEXT_ROW_BYTES, never inside a UTF-8 sequence.
    while (end - i > TEXT_ROW_BYTES) {
      let cut = i + TEXT_ROW_BYTES;
      while (cut > i + 1 && (b[cut]! & 0xc0) === 0x80) cut--;
      starts.push(cut);
      i = cut;
    }
    i = end;
    if (i < b.length) starts.push(i);
  }
  starts.push(b.length);
  return Uint32Array.from(starts);
}

function hexRows(b: Buffer): Int32Array {
  const rows = new Int32Array(Math.ceil(b.length / 16));
  let n = 0;
  let starred = false;
  for (let at = 0; at < b.length; at += 16) {
    const full = at + 16 <= b.length;
    if (full && at >= 16 && b.compare(b, at - 16, at, at, at + 16) === 0) {
      if (!starred) rows[n++] = -1;
      starred = true;
      continue;
    }
    starred = false;
    rows[n++] = at;
  }
  return rows.subarray(0, n);
}

export function rowCount(c: ViewerContent, hex: boolean): number {
  return hex ? c.hexRows.length : c.textRows.length - 1;
}

/** Row r as text, made safe for a terminal (tabs expanded, controls escaped). */
export function rowText(c: ViewerContent, hex: boolean, r: number): string {
  if (hex) {
    const at = c.hexRows[r]!;
    return at < 0 ? '*' : hexLine(c.window.subarray(at, at + 16), at);
  }
  const start = c.textRows[r]!;
  let end = c.textRows[r + 1]!;
  if (end > start && c.window[end - 1] === 0x0a) end--;
  return expandTabs(terminalSafe(c.window.subarray(start, end)));
}

function expandTabs(s: string): string {
  if (!s.includes('\t')) return s;
  let out = '';
  for (const ch of s) out += ch === '\t' ? ' '.repeat(8 - (out.length % 8)) : ch;
  return out;
}

/** The byte offset a row starts at (hex `*` rows: the offset of the line after the run's first). */
export function rowOffset(c: ViewerContent, hex: boolean, r: number): number {
  if (!hex) return c.textRows[r]!;
  const at = c.hexRows[r]!;
  return at >= 0 ? at : c.hexRows[r - 1]! + 16;
}

/** The row holding byte offset `off`. */
export function rowAt(c: ViewerContent, hex: boolean, off: number): number {
  const n = rowCount(c, hex);
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (rowOffset(c, hex, mid) <= off) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export interface ViewerSearch {
  query: string;
  regex: boolean;
  /** Rows with a hit (in order, each once). */
  hits: number[];
  hit: number;
  error: string | null;
  /** More than VIEW_HITS rows matched. */
  truncated: boolean;
}

/**
 * Rows of the window that match. Text: each row's shown text (substring or regex). Hex: the bytes themselves
 * (the query's UTF-8 bytes, or, when it reads as hex digits like `7f 45 4c 46`, those bytes; a regex runs over the
 * bytes read as Latin-1), so that a match across two dump lines is found too.
 */
export function searchContent(c: ViewerContent, hex: boolean, query: string, regex: boolean): ViewerSearch {
  const out: ViewerSearch = { query, regex, hits: [], hit: 0, error: null, truncated: false };
  let re: RegExp | null = null;
  if (regex) {
    try {
      re = userRegExp(query, hex ? 'g' : '');
    } catch (err) {
      out.error = (err as Error).message;
      return out;
    }
  }
  const add = (row: number) => {
    if (out.hits.length && out.hits[out.hits.length - 1] === row) return true;
    if (out.hits.length >= VIEW_HITS) {
      out.truncated = true;
      return false;
    }
    out.hits.push(row);
    return true;
  };
  if (!hex) {
    const n = rowCount(c, false);
    for (let r = 0; r < n; r++) {
      const t = rowText(c, false, r);
      if ((re ? re.test(t) : t.includes(query)) && !add(r)) break;
    }
    return out;
  }
  const offsets: number[] = [];
  if (re) {
    const text = c.window.toString('latin1');
    for (const m of text.matchAll(re)) {
      offsets.push(m.index);
      if (offsets.length > VIEW_HITS * 4) break;
    }
  } else {
    const needles = [Buffer.from(query, 'utf8')];
    const digits = query.replace(/\s+/g, '');
    if (/^([0-9a-fA-F]{2})+$/.test(digits)) needles.push(Buffer.from(digits, 'hex'));
    for (const needle of needles) {
      if (!needle.length) continue;
      for (let at = c.window.indexOf(needle); at >= 0 && offsets.length <= VIEW_HITS * 4; at = c.window.indexOf(needle, at + 1)) offsets.push(at);
    }
  }
  for (const off of offsets.sort((a, b) => a - b)) if (!add(rowAt(c, true, off))) break;
  return out;
}

/**
 * Read a file's bytes for the viewer: keep the first VIEW_WINDOW, hash all of them. `onWindow` is called once,
 * as soon as the window is full (or the file ends), so the viewer shows the start of a big file at once; the
 * hash follows. `alive()` false stops the reading (the viewer was closed). Between chunks the event loop gets a
 * turn, so keys are answered while a big file is hashed.
 */
export async function readForViewer(
  body: AsyncIterable<Buffer>,
  on: { window(c: ViewerContent): void; progress?(hashed: number): void; alive(): boolean },
): Promise<{ sha256: string; size: number } | null> {
  const h = createHash('sha256');
  const parts: Buffer[] = [];
  let kept = 0;
  let size = 0;
  let shown = false;
  let last = Date.now();
  for await (const chunk of body) {
    if (!on.alive()) return null;
    h.update(chunk);
    size += chunk.length;
    if (kept < VIEW_WINDOW) {
      const take = chunk.subarray(0, VIEW_WINDOW - kept);
      // Copied: a reader may reuse its buffer.
      parts.push(Buffer.from(take));
      kept += take.length;
    }
    if (!shown && kept >= VIEW_WINDOW) {
      shown = true;
      on.window(indexWindow(Buffer.concat(parts), size));
    }
    if (Date.now() - last > 200) {
      last = Date.now();
      on.progress?.(size);
    }
    await new Promise((r) => setImmediate(r));
  }
  if (!on.alive()) return null;
  if (!shown) on.window(indexWindow(Buffer.concat(parts), size));
  return { sha256: h.digest('hex'), size };
}
