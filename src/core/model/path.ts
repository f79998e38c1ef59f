/**
 * Paths inside layers are *byte strings*: a JS string in which every char code is one byte (0..255) of the
 * name as the filesystem or the tar header stores it ("latin1"/"binary" encoding). Linux names are bytes, not
 * text, and a forensic tool must neither lose nor invent bytes: a name that is not valid UTF-8 must still be
 * found again on disk, compared with a tar entry, and shown faithfully.
 *
 * Layer paths are relative to the layer root, '/'-separated, with no leading '/', no '.' or '..' components
 * and no empty components. The root itself is the empty string.
 */

/** Convert raw bytes into a byte string. */
export function bytesToPath(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Convert a byte string back into the raw bytes of the name (for fs calls: pass the Buffer, not a string). */
export function pathToBytes(path: string): Buffer {
  return Buffer.from(path, 'latin1');
}

/** Convert a JS (UTF-16) string, e.g. typed by a user, into the byte string of its UTF-8 encoding. */
export function textToPath(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * The byte string as text when it is valid UTF-8; otherwise null. Use for JSON output, where the name must
 * round-trip: callers fall back to an escaped form plus a base64 copy of the raw bytes.
 */
export function pathToText(path: string): string | null {
  try {
    return utf8Strict.decode(pathToBytes(path));
  } catch {
    return null;
  }
}

/**
 * A printable, unambiguous rendering of a name for terminals and text reports. Valid UTF-8 is decoded; bytes
 * that are not, and every control character (C0, DEL, C1, including ESC, which could otherwise drive the
 * terminal), plus the backslash itself, are written as escapes. Never send a raw name to a terminal.
 */
export function displayPath(path: string): string {
  const text = pathToText(path);
  if (text !== null) return escapeText(text);
  // Not UTF-8: decode what can be decoded, escape the invalid bytes as \xNN.
  const bytes = pathToBytes(path);
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) {
      out += '\\x' + bytes[i]!.toString(16).padStart(2, '0');
      i += 1;
    } else {
      out += escapeText(bytes.subarray(i, i + len).toString('utf8'));
      i += len;
    }
  }
  return out;
}

/**
 * A name inside a message: quoted, shown through displayPath (escaped once: reports print messages with
 * safeMessage, which does not escape again).
 */
export function quotedPath(path: string): string {
  return `"${displayPath(path)}"`;
}

function escapeText(text: string, backslash = true): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += backslash ? '\\\\' : ch;
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x1b) out += '\\e';
    else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) out += '\\x' + c.toString(16).padStart(2, '0');
    // Bidi overrides and zero-width characters can make a name look like another one.
    else if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0x200b || c === 0x200e || c === 0x200f || c === 0xfeff)
      out += '\\u{' + c.toString(16) + '}';
    else out += ch;
  }
  return out;
}

/**
 * Text we composed (a problem message, which already shows evidence names through displayPath) made safe for a
 * terminal: control, C1, bidi and zero-width characters escaped; backslashes kept, so a name shown inside is
 * not escaped twice.
 */
export function escapeControls(text: string): string {
  return escapeText(text, false);
}

/** Length of a valid UTF-8 sequence starting at i, or 0 if the byte there does not start one. */
export function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; }
  else return 0;
  if (i + n > b.length) return 0;
  let cp = c & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) {
    const cc = b[i + k]!;
    if ((cc & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

export class UnsafePathError extends Error {
  readonly code = 'UNSAFE_PATH';
  constructor(readonly raw: string, reason: string) {
    super(`unsafe path ${JSON.stringify(displayPath(raw))}: ${reason}`);
  }
}

/**
 * Clean a path found in evidence (tar member name, link name, whiteout target) into layer-path form.
 * Leading '/' and './' are dropped, '.' and empty components removed. A '..' is resolved when it stays
 * inside the root and rejected when it would climb out (moby and containerd refuse such members too).
 * Returns '' for the root. A NUL byte is rejected.
 */
export function cleanLayerPath(raw: string): string {
  if (raw.includes('\0')) throw new UnsafePathError(raw, 'contains a NUL byte');
  const out: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new UnsafePathError(raw, "climbs out of the layer root with '..'");
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out.join('/');
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

export function joinPath(parent: string, name: string): string {
  return parent === '' ? name : parent + '/' + name;
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: string, ancestor: string): boolean {
  if (ancestor === '') return true;
  return path === ancestor || (path.startsWith(ancestor) && path.charCodeAt(ancestor.length) === 0x2f);
}

/**
 * Compare two layer paths in the order of a depth-first walk that visits the entries of each directory sorted
 * by name bytes (Go's filepath.Walk, and so `docker diff` and moby's tar writer): "a" < "a/b" < "a-b".
 */
export function compareWalkOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // '/' ends a component: it must sort before every byte that can continue a name.
    if (ca === 0x2f) ca = -1;
    if (cb === 0x2f) cb = -1;
    return ca - cb;
  }
  return a.length - b.length;
}
