import { isUtf8 } from 'node:buffer';
import { escapeControls, utf8SequenceLength } from '../core/model/path.js';
import { entryTime, type LogEntry } from '../core/sources/logs/index.js';

/**
 * Container log entries for people and for scripts. To a pipe or a file, `logs` writes the raw bytes (the
 * CLI does that itself: byte-identical to docker logs); these renderers are for a terminal and for JSON.
 */

const NL = 0x0a;
const TAB = 0x09;
const CR = 0x0d;

/**
 * A log line made safe for a terminal: a container's output can carry escape sequences that recolour, retitle,
 * move the cursor, rewrite what is on screen or worse (an attack on whoever reads the log). Line breaks and tabs
 * stay; a CR before a line break (what a TTY container writes) is dropped; every other control character, C1
 * code, bidi override and zero-width character is shown escaped (\e, \r, \x07, \u{202e}), and bytes that are not
 * UTF-8 as \xNN. Backslashes are kept as they are (escapes are for safety, not for reversibility: --raw gives
 * the bytes).
 */
export function terminalSafe(line: Buffer): string {
  let out = '';
  let start = 0;
  const flush = (end: number) => {
    if (end > start) out += escapeControls(line.subarray(start, end).toString('utf8'));
  };
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === NL || c === TAB) {
      flush(i);
      out += String.fromCharCode(c);
      start = ++i;
      continue;
    }
    if (c === CR && line[i + 1] === NL) {
      flush(i);
      start = ++i;
      continue;
    }
    const n = utf8SequenceLength(line, i);
    if (n === 0) {
      flush(i);
      out += '\\x' + c.toString(16).padStart(2, '0');
      start = ++i;
      continue;
    }
    i += n;
  }
  flush(line.length);
  return out;
}

/**
 * One entry as a JSON object (one a line: JSON Lines): `stream`, `time` (as docker logs -t prints it),
 * `partial`, and `line`, the text. A line that is not valid UTF-8 keeps its exact bytes in `lineBase64`
 * (`line` then shows the invalid bytes as U+FFFD).
 */
export function logEntryJson(e: LogEntry): { stream: string; time: string; partial: boolean; line: string; lineBase64?: string } {
  const exact = isUtf8(e.line);
  return { stream: e.stream, time: entryTime(e), partial: e.partial, line: e.line.toString('utf8'), ...(exact ? {} : { lineBase64: e.line.toString('base64') }) };
}
