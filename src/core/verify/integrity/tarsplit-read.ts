import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { bytesToPath, textToPath } from '../../model/path.js';
import { openNoFollow } from '../../sources/evidence.js';

/**
 * Reading tar-split.json.gz: gunzip (in libuv's thread pool), split lines, JSON, base64, streamed (memory
 * bounded by one line). Parsing it in a worker thread of its own and handing the entries over was measured: on
 * 2 cores it saved the checking thread ~15% but cost ~10% more CPU in all, and was no faster; it was not kept.
 */

/** One line of tar-split.json.gz, as moby writes it. */
export interface TarSplitEntry {
  type: number;
  name?: string;
  name_raw?: string;
  size?: number;
  payload?: string | null;
  position?: number;
}

/** One line, with its fields taken as the verifier reads them (and nothing else kept). */
export interface SplitEntry {
  /** 1 = file entry, 2 = raw segment, 0 = anything else (`typeText` says what). */
  type: 0 | 1 | 2;
  typeText: string;
  /** Entry name as a byte string (from name_raw when present, else the UTF-8 bytes of name). */
  name: string;
  /** size when a positive number, else 0. */
  size: number;
  /** File entries: payload decoded from base64 when it is a string, else null. */
  payload: Buffer | null;
  /** Segments: payload as it is, base64 (decoded by the sink, into its own buffer), or null when not a string. */
  text: string | null;
}

/** A tar-split line holds one segment or one entry; moby's are a few KiB. Longer is an attack on our memory. */
const MAX_LINE_BYTES = 256 << 20;
const CHUNK = 1 << 20;

export function normalize(e: TarSplitEntry): SplitEntry {
  const type = e.type === 1 ? 1 : e.type === 2 ? 2 : 0;
  if (type === 2) return { type, typeText: '2', name: '', size: 0, payload: null, text: typeof e.payload === 'string' ? e.payload : null };
  if (type === 0) return { type, typeText: String(JSON.stringify(e.type)), name: '', size: 0, payload: null, text: null };
  return {
    type,
    typeText: '1',
    name: typeof e.name_raw === 'string' ? bytesToPath(Buffer.from(e.name_raw, 'base64')) : textToPath(typeof e.name === 'string' ? e.name : ''),
    size: typeof e.size === 'number' && e.size > 0 ? e.size : 0,
    payload: typeof e.payload === 'string' ? Buffer.from(e.payload, 'base64') : null,
    text: null,
  };
}

/**
 * The lines, a batch per decompressed chunk (one await per chunk, not per line); the file is opened without
 * following symlinks. A line that does not parse ends the stream after the lines before it were handed out.
 */
export async function* readTarSplit(path: string): AsyncGenerator<SplitEntry[]> {
  const fd = openNoFollow(path);
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new Error('not a regular file');
  }
  const src = fs.createReadStream('', { fd, autoClose: true, highWaterMark: CHUNK });
  const gunzip = zlib.createGunzip({ chunkSize: CHUNK });
  src.on('error', (err) => gunzip.destroy(err));
  src.pipe(gunzip);
  /** Pieces of a line that spans chunks (kept as a list: concatenating per chunk would be quadratic). */
  let parts: Buffer[] = [];
  let partsLen = 0;
  let lineNo = 0;
  const parse = (line: Buffer): SplitEntry | null => {
    lineNo++;
    if (line.length === 0) return null;
    let v: unknown;
    try {
      v = JSON.parse(line.toString('utf8'));
    } catch {
      throw new Error(`line ${lineNo} is not JSON`);
    }
    if (typeof v !== 'object' || v === null) throw new Error(`line ${lineNo} is not a JSON object`);
    return normalize(v as TarSplitEntry);
  };
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let start = 0;
      const batch: SplitEntry[] = [];
      let bad: unknown = null;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        let line = chunk.subarray(start, nl);
        if (partsLen > 0) {
          line = Buffer.concat([...parts, line]);
          parts = [];
          partsLen = 0;
        }
        try {
          const e = parse(line);
          if (e) batch.push(e);
        } catch (err) {
          bad = err;
          break;
        }
        start = nl + 1;
      }
      if (batch.length > 0) yield batch;
      if (bad !== null) throw bad;
      if (start < chunk.length) {
        // Copy: zlib may reuse its output buffer.
        parts.push(Buffer.from(chunk.subarray(start)));
        partsLen += chunk.length - start;
        if (partsLen > MAX_LINE_BYTES) throw new Error(`line ${lineNo + 1} is longer than ${MAX_LINE_BYTES} bytes`);
      }
    }
    if (partsLen > 0) {
      const e = parse(Buffer.concat(parts));
      if (e) yield [e];
    }
  } finally {
    src.destroy();
    gunzip.destroy();
  }
}
