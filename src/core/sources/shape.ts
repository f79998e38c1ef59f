import type { Problem, Severity } from '../model/types.js';
import { problem } from '../model/types.js';

/**
 * Shape-checked reading of the JSON documents an engine keeps (config.v2.json, repositories.json, image
 * configs, manifests and indexes, containerd records' specs...).
 *
 * Evidence may hold anything where an object is expected: `null`, an array, a string; a `Name` that is a
 * number, a `State` that is an array, `MountPoints` that is a string, a list with `null` members. The engine
 * itself (Go's encoding/json) refuses such a document, so each one is a finding about the evidence, never a
 * crash of ours. Fields are read through typed accessors: a field of the wrong type reads as absent and is
 * recorded (where in the document, what was there, what was expected); `problem()` then sums up the whole
 * document in one Problem naming the file, and the caller goes on with what was well-formed.
 *
 * Conventions, as Go writes these documents: an absent field and a `null` field are both "not set" (a nil
 * pointer, slice or map is written as null); a `null` *member* of a list or map is recorded (a nil element
 * that the engine would trip over).
 */

/** Deeper than any document an engine writes (< 20), and shallow enough for every recursive consumer. */
export const MAX_JSON_DEPTH = 512;

export type ParsedJson = { ok: true; value: unknown } | { ok: false; reason: string };

/** Parse a JSON document from the evidence; never throws (syntax errors, nesting beyond `maxDepth`). */
export function parseJson(bytes: Uint8Array | string, maxDepth = MAX_JSON_DEPTH): ParsedJson {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (nestingDepth(text, maxDepth) > maxDepth) return { ok: false, reason: `nested more than ${maxDepth} levels deep` };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    // JSON.parse of a deeply nested text can also run out of stack (RangeError): the same finding.
    return { ok: false, reason: err instanceof RangeError ? `too deeply nested to parse (${err.message})` : (err as Error).message };
  }
}

/** Maximum nesting of arrays and objects in a JSON text (stops counting past `limit`). Strings are skipped. */
function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped char
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** "null", "an array", "a string"...: what a JSON value is, for messages. */
export function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'object':
      return 'an object';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return typeof v;
  }
}

const MAX_LISTED = 8;

/** One JSON document from the evidence: collects its wrong shapes, and sums them up in one Problem. */
export class JsonDoc {
  private readonly issues: string[] = [];
  private readonly seen = new Set<string>();
  private count = 0;
  private rootBad = false;

  /** `file`: the host path of the document (the Problem's path); `what`: how messages name it. */
  constructor(
    readonly file: string | null,
    readonly what = 'document',
  ) {}

  /** The document's root as an object; null (recorded) when it is anything else. */
  root(value: unknown): JsonObj | null {
    if (isObject(value)) return new JsonObj(value, '', this);
    this.rootBad = true;
    this.record('', value, 'a JSON object');
    return null;
  }

  /** The document's root as an array; null (recorded) when it is anything else. */
  rootArray(value: unknown): JsonArr | null {
    if (Array.isArray(value)) return new JsonArr(value, '', this);
    this.rootBad = true;
    this.record('', value, 'a JSON array');
    return null;
  }

  /** Note that the value at `at` (a field path such as `State.Running`) is not what was expected. */
  record(at: string, found: unknown, expected: string): void {
    // A field read twice is one finding.
    if (this.seen.has(at)) return;
    this.seen.add(at);
    this.count++;
    if (this.issues.length < MAX_LISTED) this.issues.push(`${at === '' ? 'the document' : at} is ${describeValue(found)}, expected ${expected}`);
  }

  /** Whether any wrong shape was met. */
  get ok(): boolean {
    return this.count === 0;
  }

  /** Every wrong shape met so far, in one sentence (null when none). */
  summary(): string | null {
    if (this.count === 0) return null;
    const more = this.count - this.issues.length;
    return this.issues.join('; ') + (more > 0 ? `; and ${more} more` : '');
  }

  /**
   * One Problem naming the file and every wrong shape met (null when the document was well-formed). The
   * message says what became of the values; `prefix` replaces that head.
   */
  problem(code: string, severity: Severity = 'error', prefix?: string): Problem | null {
    const s = this.summary();
    if (s === null) return null;
    const head = prefix ?? (this.rootBad ? `${this.what} is unusable` : `${this.what} has the wrong shape (those values are read as absent)`);
    return problem(severity, code, `${head}: ${s}`, this.file);
  }
}

/** A short, safe rendering of a wrong value: its kind, and for scalars the value itself (truncated). */
function describeValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return `${jsonKind(v)} (${String(v)})`;
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)})`;
  return jsonKind(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Typed accessors shared by objects (string keys) and arrays (indexes). */
abstract class JsonNode<K extends string | number> {
  constructor(
    /** Where this node sits in its document, e.g. `State` or `manifests[2]` ('' for the root). */
    readonly at: string,
    protected readonly doc: JsonDoc,
  ) {}

  /** The raw member (undefined when absent): for an object, the field as Go's encoding/json finds it. */
  abstract raw(key: K): unknown;

  /** The member under exactly this key or index (iterating members, reading a map). */
  protected abstract member(key: K): unknown;

  /** The path of a member, for messages. */
  protected pathOf(key: K): string {
    if (typeof key === 'number') return `${this.at}[${key}]`;
    if (IDENT.test(key)) return this.at === '' ? key : `${this.at}.${key}`;
    return `${this.at}[${JSON.stringify(key.length > 60 ? key.slice(0, 60) + '…' : key)}]`;
  }

  /** A member of the expected type; absent or null reads as null; anything else is recorded, and reads as null. */
  private typed<T>(key: K, test: (v: unknown) => v is T, expected: string): T | null {
    const v = this.raw(key);
    if (v === undefined || v === null) return null;
    if (test(v)) return v;
    this.doc.record(this.pathOf(key), v, expected);
    return null;
  }

  str(key: K): string | null {
    return this.typed(key, (v): v is string => typeof v === 'string', 'a string');
  }

  /** A finite JSON number. */
  num(key: K): number | null {
    return this.typed(key, (v): v is number => typeof v === 'number' && Number.isFinite(v), 'a number');
  }

  /** A number that is a safe integer (a Pid, an ExitCode: Go ints refuse 1.5). */
  int(key: K): number | null {
    return this.typed(key, (v): v is number => typeof v === 'number' && Number.isSafeInteger(v), 'an integer');
  }

  bool(key: K): boolean | null {
    return this.typed(key, (v): v is boolean => typeof v === 'boolean', 'a boolean');
  }

  obj(key: K): JsonObj | null {
    const v = this.typed(key, isObject, 'an object');
    return v === null ? null : new JsonObj(v, this.pathOf(key), this.doc);
  }

  arr(key: K): JsonArr | null {
    const v = this.typed(key, (x): x is unknown[] => Array.isArray(x), 'an array');
    return v === null ? null : new JsonArr(v, this.pathOf(key), this.doc);
  }

  /** The members, in order: keys of an object, indexes of an array. */
  abstract keys(): K[];

  /** Every member that is an object; the others (null included) are recorded and skipped. */
  objs(): [K, JsonObj][] {
    const out: [K, JsonObj][] = [];
    for (const k of this.keys()) {
      const v = this.member(k);
      if (isObject(v)) out.push([k, new JsonObj(v, this.pathOf(k), this.doc)]);
      else this.doc.record(this.pathOf(k), v, 'an object');
    }
    return out;
  }

  /** Every member that is a string; the others (null included) are recorded and skipped. */
  strs(): [K, string][] {
    const out: [K, string][] = [];
    for (const k of this.keys()) {
      const v = this.member(k);
      if (typeof v === 'string') out.push([k, v]);
      else this.doc.record(this.pathOf(k), v, 'a string');
    }
    return out;
  }
}

/** Go's simple folding of a field name: case, and the two non-ASCII letters that fold to ASCII ones (K, ſ). */
function foldKey(k: string): string {
  const l = k.toLowerCase();
  return /[\u212a\u017f]/.test(l) ? l.replace(/\u212a/g, 'k').replace(/\u017f/g, 's') : l;
}

export class JsonObj extends JsonNode<string> {
  constructor(
    private readonly value: Record<string, unknown>,
    at: string,
    doc: JsonDoc,
  ) {
    super(at, doc);
  }

  private folded: Map<string, string> | null = null;

  /**
   * A field as the engines read it: Go's encoding/json matches object keys to struct fields without regard to
   * case, and of several matching keys the last one wins (`{"Privileged": false, "privileged": true}` is a
   * privileged container to Docker). Maps (labels, annotations) are read with keys()/strs(), exactly.
   */
  raw(key: string): unknown {
    if (!this.folded) {
      this.folded = new Map();
      for (const k of Object.keys(this.value)) this.folded.set(foldKey(k), k);
    }
    const k = this.folded.get(foldKey(key));
    return k === undefined ? undefined : this.value[k];
  }

  protected member(key: string): unknown {
    return Object.prototype.hasOwnProperty.call(this.value, key) ? this.value[key] : undefined;
  }

  has(key: string): boolean {
    return this.raw(key) !== undefined;
  }

  keys(): string[] {
    return Object.keys(this.value);
  }
}

export class JsonArr extends JsonNode<number> {
  constructor(
    private readonly value: unknown[],
    at: string,
    doc: JsonDoc,
  ) {
    super(at, doc);
  }

  get length(): number {
    return this.value.length;
  }

  raw(i: number): unknown {
    return this.value[i];
  }

  protected member(i: number): unknown {
    return this.value[i];
  }

  /** Every member as an object, positions kept: null where a member is not one (recorded, null included). */
  objects(): (JsonObj | null)[] {
    return this.keys().map((i) => {
      const v = this.value[i];
      if (isObject(v)) return new JsonObj(v, this.pathOf(i), this.doc);
      this.doc.record(this.pathOf(i), v, 'an object');
      return null;
    });
  }

  keys(): number[] {
    return this.value.map((_, i) => i);
  }
}
