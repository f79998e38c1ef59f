import { isUtf8 } from 'node:buffer';
/**
 * Telling a binary file from text, as grep and git do: a NUL in the first bytes, or bytes that are not UTF-8.
 * Shared by `cat` (which refuses to write a binary file to a terminal) and the TUI's viewer (which shows it as a
 * hex dump).
 */

/** Bytes looked at to decide. */
export const SNIFF = 8192;

export function isBinary(head: Uint8Array): boolean {
  const b = head.subarray(0, SNIFF);
  if (b.includes(0)) return true;
  // A multi-byte character cut at the end of the sniffed bytes is not a reason to call the file binary.
  const cut = head.length > SNIFF || b.length === SNIFF ? b.subarray(0, Math.max(0, b.length - 3)) : b;
  return !isUtf8(cut);
}
