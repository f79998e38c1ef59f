import { isUtf8 } from 'node:buffer';
import { parseRfc3339 } from './time.js';
import type { DecodedEntry, EntryResult } from './entry.js';

/**
 * The json-file log driver's format: one JSON object a line,
 * `{"log":"<text, with its \n when the line was complete>","stream":"stdout"|"stderr","time":"<RFC 3339>"}`
 * (plus `attrs` when log-opt labels/env ask for them). The engine cuts lines longer than 16 KiB into partial
 * entries: every piece but the last has no trailing `\n` in `log`. `docker logs` writes `log` as it is.
 */

/**
 * One line of a json-file log: its bytes, or null when it is longer than the bound (then it was skipped, never
 * held whole). `offset` is where it starts in the (decompressed) file, `lineNo` counts from 1.
 */
export interface RawLine {
  bytes: Buffer | null;
  offset: number;
  lineNo: number;
  length: number;
  /** False for a last line with no `\n`: the file ends inside it. */
  terminated: boolean;
}

/**
 * The lines of a byte stream, each at most `maxLine` bytes held; a longer line is passed over a chunk at a
 * time (memory stays at one chunk plus `maxLine`) and reported with `bytes: null`.
 */
export async function* jsonLines(chunks: AsyncIterable<Buffer>, maxLine: number, startOffset = 0): AsyncGenerator<RawLine> {
  let parts: Buffer[] = [];
  let held = 0;
  let length = 0;
  let skipping = false;
  let offset = startOffset;
  let lineStart = startOffset;
  let lineNo = 1;
  for await (const chunk of chunks) {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl;
      const piece = chunk.subarray(pos, end);
      length += piece.length;
      if (!skipping) {
        if (held + piece.length > maxLine) {
          skipping = true;
          parts = [];
          held = 0;
        } else if (piece.length) {
          parts.push(piece);
          held += piece.length;
        }
      }
      if (nl < 0) break;
      yield { bytes: skipping ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts, held), offset: lineStart, lineNo, length, terminated: true };
      parts = [];
      held = 0;
      skipping = false;
      lineNo++;
      lineStart = offset + nl + 1;
      length = 0;
      pos = nl + 1;
    }
    offset += chunk.length;
  }
  if (length > 0 || skipping) yield { bytes: skipping ? null : Buffer.concat(parts, held), offset: lineStart, lineNo, length, terminated: false };
}

/** Count the entries (lines) of a json-file stream, for --tail: what docker's tail reader counts. */
export async function countJsonLines(chunks: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  let pending = false;
  for await (const chunk of chunks) {
    let pos = chunk.indexOf(0x0a);
    while (pos >= 0) {
      n++;
      pos = chunk.indexOf(0x0a, pos + 1);
    }
    pending = chunk.length > 0 && chunk[chunk.length - 1] !== 0x0a;
  }
  return pending ? n + 1 : n;
}

/**
 * Bytes that are not UTF-8 made UTF-8 as Go's decoder does: each byte that does not start a valid sequence
 * becomes U+FFFD (WHATWG decoding, Node's, would turn some invalid runs into one U+FFFD instead).
 */
function goLossyUtf8(b: Buffer): string {
  if (isUtf8(b)) return b.toString('utf8');
  const out: Buffer[] = [];
  const bad = Buffer.from([0xef, 0xbf, 0xbd]);
  let start = 0;
  let i = 0;
  while (i < b.length) {
    const n = seqLen(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out.push(b.subarray(start, i), bad);
    i++;
    start = i;
  }
  out.push(b.subarray(start));
  return Buffer.concat(out).toString('utf8');
}

function seqLen(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n === 0 || i + n > b.length) return 0;
  for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  const c1 = b[i + 1]!;
  if (c === 0xe0 && c1 < 0xa0) return 0;
  if (c === 0xed && c1 > 0x9f) return 0;
  if (c === 0xf0 && c1 < 0x90) return 0;
  if (c === 0xf4 && c1 > 0x8f) return 0;
  return n;
}

/** One json-file line decoded, or why it cannot be. */
export function decodeJsonLine(raw: Buffer): EntryResult {
  // The engine writes each entry as one JSON object, `{` first: anything else (a blank line, garbage) is refused
  // before the costly parse, so that a file of bad lines costs what a file of good ones does.
  let i = 0;
  while (i < raw.length && (raw[i] === 0x20 || raw[i] === 0x09 || raw[i] === 0x0d)) i++;
  if (i === raw.length) return { error: 'an empty line, not JSON' };
  if (raw[i] !== 0x7b) return { error: 'not a JSON object' };
  let v: unknown;
  try {
    v = JSON.parse(goLossyUtf8(raw));
  } catch (err) {
    return { error: `not JSON (${(err as Error).message})` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: 'not a JSON object' };
  // Keys as Go's decoder matches them: the exact name first, else any spelling of it ("Log", "LOG").
  const o = goKeys(v as Record<string, unknown>, ['log', 'stream', 'time']);
  if (typeof o.log !== 'string') return { error: o.log === undefined ? 'has no "log"' : '"log" is not a string' };
  if (typeof o.stream !== 'string') return { error: o.stream === undefined ? 'has no "stream"' : '"stream" is not a string' };
  if (typeof o.time !== 'string') return { error: o.time === undefined ? 'has no "time"' : '"time" is not a string' };
  const t = parseRfc3339(o.time);
  if (!t) return { error: `"time" ${JSON.stringify(o.time.slice(0, 60))} is not an RFC 3339 time` };
  // A JS string holds UTF-16; lone surrogates (from \ud800 escapes) become U+FFFD in UTF-8, as in Go.
  const line = Buffer.from(o.log, 'utf8');
  const entry: DecodedEntry = { source: o.stream, timeNs: t.ns, offsetMin: t.offsetMin, line, partial: line.length === 0 || line[line.length - 1] !== 0x0a };
  return { entry };
}

/** The fields `names` of a decoded object as Go's encoding/json finds them: an exact key, else a case-insensitive one. */
function goKeys(o: Record<string, unknown>, names: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) {
    if (Object.prototype.hasOwnProperty.call(o, n)) out[n] = o[n];
    else {
      const k = Object.keys(o).find((x) => x.toLowerCase() === n);
      if (k !== undefined) out[n] = o[k];
    }
  }
  return out;
}
