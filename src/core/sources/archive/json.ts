/**
 * JSON read from an archive (manifests, indexes, configs) is attacker-controlled, and so is its cost: every bound
 * here is checked before the bytes are parsed, and every document is read and parsed once per archive, whatever
 * number of manifest entries name it.
 *
 * - A member is at most {@link MAX_JSON} bytes (a real config is a few KiB; the largest seen are ~1 MiB).
 * - The JSON read from one archive is at most {@link MAX_JSON_TOTAL} bytes in all (distinct members, counted
 *   once): 60 manifest entries naming one 31 MB config cost 31 MB, and a second, third... large config is
 *   refused with an error naming it instead of taking the memory.
 * - Nesting deeper than {@link MAX_JSON_DEPTH} is refused before JSON.parse (which throws a RangeError on 100k
 *   nested arrays, and whose result would make any recursive consumer overflow the stack).
 * - At most {@link MAX_JSON_VALUES} values per document and {@link MAX_JSON_VALUES_TOTAL} in all: parsing
 *   multiplies memory by the number of values (`[[],[],…]` is 3 bytes per array in the file and ~32 in the heap).
 */
import { createHash } from 'node:crypto';
import { displayPath } from '../../model/path.js';

export const MAX_JSON = 32 * 1024 * 1024;
export const MAX_JSON_TOTAL = 64 * 1024 * 1024;
export const MAX_JSON_DEPTH = 128;
export const MAX_JSON_VALUES = 1_000_000;
export const MAX_JSON_VALUES_TOTAL = 4_000_000;

/** A member that cannot serve as JSON (or as a layer): stable `code`, message naming the member. */
export class ArchiveMemberError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * Nesting depth and an upper bound on the number of values of a JSON text, without parsing it (linear, no
 * recursion, no allocation). Stops early once `maxDepth` is exceeded. Strings are skipped whole.
 */
export function jsonShape(b: Uint8Array, maxDepth = MAX_JSON_DEPTH): { depth: number; values: number } {
  let depth = 0;
  let maxSeen = 0;
  let values = 1;
  const n = b.length;
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === 0x22) {
      // skip the string: find the closing quote not preceded by an odd number of backslashes
      let j = i + 1;
      for (;;) {
        j = b.indexOf(0x22, j);
        if (j < 0) return { depth: maxSeen, values };
        let bs = 0;
        for (let k = j - 1; k > i && b[k] === 0x5c; k--) bs++;
        if (bs % 2 === 0) break;
        j++;
      }
      i = j;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      values++;
      if (depth > maxSeen) {
        maxSeen = depth;
        if (maxSeen > maxDepth) return { depth: maxSeen, values };
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x2c) values++;
  }
  return { depth: maxSeen, values };
}

/** A short, never-throwing description of an untrusted JSON value, for messages. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 100 ? v.slice(0, 100) + '…' : v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v;
}

export function asObject(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

export function quoteMember(path: string): string {
  return JSON.stringify(displayPath(path));
}

export interface JsonSource {
  /** Bytes of a member, links resolved (cached; budgeted). Null when the name is not in the archive. */
  readJson(path: string): { path: string; bytes: Buffer } | null;
}

export interface JsonDoc {
  /** Resolved member path. */
  path: string;
  bytes: Buffer;
}

/**
 * Per-archive cache of documents: bytes (from the store, which reads each member once), shape checks, parsed
 * values and sha256 digests, each computed once per resolved member.
 */
export class ArchiveJson {
  private readonly parsed = new Map<string, unknown>();
  private readonly shapes = new Map<string, string | null>();
  private readonly digests = new Map<string, string>();
  private valuesTotal = 0;

  constructor(private readonly store: JsonSource) {}

  /** The member's bytes, or null when absent; throws ArchiveMemberError when it cannot be read. */
  bytes(path: string): JsonDoc | null {
    return this.store.readJson(path);
  }

  /**
   * Checks the bounds of a document before it is parsed (here or by someone else, e.g. parseConfig); throws
   * ArchiveMemberError naming the member. Counted once per member.
   */
  checkShape(doc: JsonDoc): void {
    let why = this.shapes.get(doc.path);
    if (why === undefined) {
      const s = jsonShape(doc.bytes);
      why = null;
      if (s.depth > MAX_JSON_DEPTH) why = `nests deeper than ${MAX_JSON_DEPTH} levels (no image document comes close); not parsed`;
      else if (s.values > MAX_JSON_VALUES) why = `holds about ${s.values} values, more than the ${MAX_JSON_VALUES} one document may hold here; not parsed`;
      else if (this.valuesTotal + s.values > MAX_JSON_VALUES_TOTAL)
        why = `would take the JSON values parsed from this archive past ${MAX_JSON_VALUES_TOTAL} in all; not parsed`;
      else this.valuesTotal += s.values;
      this.shapes.set(doc.path, why);
    }
    if (why !== null) throw new ArchiveMemberError('archive.json.too-complex', `${quoteMember(doc.path)} ${why}`);
  }

  /** Parsed once per member; throws ArchiveMemberError (`archive.json.invalid`, `archive.json.too-complex`). */
  value(doc: JsonDoc): unknown {
    if (this.parsed.has(doc.path)) return this.parsed.get(doc.path);
    this.checkShape(doc);
    let v: unknown;
    try {
      v = JSON.parse(doc.bytes.toString('utf8'));
    } catch (err) {
      // SyntaxError, or RangeError on nesting the shape check did not foresee: never past this point.
      throw new ArchiveMemberError('archive.json.invalid', `${quoteMember(doc.path)} is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
    }
    this.parsed.set(doc.path, v);
    return v;
  }

  /** `sha256:<hex>` of a member's bytes, once per member. */
  sha256(doc: JsonDoc): string {
    let d = this.digests.get(doc.path);
    if (!d) {
      d = 'sha256:' + createHash('sha256').update(doc.bytes).digest('hex');
      this.digests.set(doc.path, d);
    }
    return d;
  }

  /** Whether `digest` (any algorithm node knows: sha256, sha512) names these bytes; null for an unknown algorithm. */
  matches(doc: JsonDoc, digest: string): boolean | null {
    if (digest.startsWith('sha256:')) return this.sha256(doc) === digest;
    if (digest.startsWith('sha512:')) return 'sha512:' + createHash('sha512').update(doc.bytes).digest('hex') === digest;
    return null;
  }
}
