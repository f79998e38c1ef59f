import { displayPath, escapeControls, pathToText } from '../core/model/path.js';

/** Human byte count, decimal units as docker prints them (1 kB = 1000 B). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

export function formatPercent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** A layer path shown to people: absolute, escaped. */
export function showPath(path: string): string {
  return '/' + displayPath(path);
}

/**
 * A layer path in JSON: absolute text when the name is valid UTF-8; otherwise the escaped rendering, plus the
 * exact bytes in base64 so that a script can still find the file.
 */
export function jsonPath(path: string): { path: string; pathBase64?: string } {
  const text = pathToText(path);
  if (text !== null) return { path: '/' + text };
  return { path: showPath(path), pathBase64: Buffer.from('/' + path, 'latin1').toString('base64') };
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Escape control characters in any text taken from evidence (commands, tags, names) before printing it. */
export function safeText(s: string): string {
  return displayPath(Buffer.from(s, 'utf8').toString('latin1'));
}

/**
 * A message or path we composed (problems, findings, errors): control characters escaped, backslashes kept
 * (names inside were shown through displayPath already: escaping them again would double every backslash).
 */
export function safeMessage(s: string): string {
  return escapeControls(s);
}

export function formatMode(type: string, mode: number): string {
  const t = { file: '-', hardlink: '-', dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p', socket: 's' }[type] ?? '?';
  const rwx = (m: number, s: boolean, sc: string) => (m & 4 ? 'r' : '-') + (m & 2 ? 'w' : '-') + (s ? (m & 1 ? sc : sc.toUpperCase()) : m & 1 ? 'x' : '-');
  return t + rwx(mode >> 6, !!(mode & 0o4000), 's') + rwx(mode >> 3, !!(mode & 0o2000), 's') + rwx(mode, !!(mode & 0o1000), 't');
}

/**
 * Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC). A time the evidence holds may lie outside what a
 * JavaScript Date can show (tmpfs and btrfs keep 64-bit times): then `@<seconds>`, as `date -d @N` takes it.
 */
export function formatTime(sec: number): string {
  const d = new Date(Math.floor(sec) * 1000);
  return Number.isNaN(d.getTime()) ? `@${sec}` : d.toISOString().replace('T', ' ').slice(0, 19);
}
