import type { PathTable } from '../model/paths.js';
import { ROOT_PATH } from '../model/paths.js';
import { F_METACOPY, F_OPAQUE, T_DIR, T_FILE, T_HARDLINK, T_WHITEOUT, type LayerTable } from '../model/layer-table.js';
import { LIMITS, LimitError } from '../model/limits.js';
import type { Attrs } from '../model/types.js';

/**
 * The history of every path of every image of a source, built by applying each layer once, along the chain
 * tree: images that share their first k layers share the stacked state of those k layers.
 *
 * The unit is a chain node: one layer on top of a given lower chain (what a chainID names). Applying it records,
 * append-only, what the layer did against the state below it:
 * - a *version* per row of the layer (and per parent dir the layer implied): its change (added / modified /
 *   deleted), and for a whiteout the version it deleted;
 * - an *end* per version of a lower layer that this layer ended (deleted, overwritten, hidden by an opaque dir,
 *   replaced by a non-dir, or updated: a dir entry over a dir), with the reason;
 * - a *hidden event* per file (or hard-link group) whose bytes nobody can see any more.
 * Nothing is ever changed after it is recorded, so one node's records serve every image above it. Which records
 * count for a given image is decided at query time: those whose chain node is on the image's chain (a
 * {@link StackView}). A version is visible at layer N of an image when it is the latest version of its path on
 * the chain at or below N, is a put, and has no end on the chain at or below N.
 *
 * Whiteout semantics (the one place they are implemented): image-spec layer.md. Within a layer, whiteouts and
 * opaque markers apply to the lower layers only (phase 1), then the layer's own entries are put (phase 2), hard
 * links last (phase 3), whatever their order in the layer.
 *
 * Memory: everything is in typed arrays indexed by version / end / path id (about 25 bytes a version);
 * the only objects are one per chain node and one per hard-link group.
 */

export type EndReason =
  /** A whiteout in a later layer deleted it (or one of its parent dirs). */
  | 'deleted'
  /** A later layer wrote the same path again. */
  | 'overwritten'
  /** A later layer made a parent dir opaque. */
  | 'opaque'
  /** A later layer replaced it, or a parent dir of it, with a non-directory. */
  | 'replaced'
  /**
   * A directory whose attributes a later layer wrote again (a dir entry over a dir): its children stay, so
   * nothing is hidden. Only directories end this way.
   */
  | 'updated';

export type ChangeKind = 'added' | 'modified' | 'deleted';

const REASONS: readonly EndReason[] = ['deleted', 'overwritten', 'opaque', 'replaced', 'updated'];
const R_DELETED = 0;
const R_OVERWRITTEN = 1;
const R_OPAQUE = 2;
const R_REPLACED = 3;
const R_UPDATED = 4;

/** Version flags. */
const V_WHITEOUT = 1;
/** A dir created only because a child needed it (tar layers may omit parent dir entries). */
const V_IMPLICIT = 2;
/** The path existed below (else: added). Whiteouts are always 'deleted'. */
const V_MODIFIED = 4;

const NONE = -1;

export const IMPLICIT_DIR_ATTRS: Readonly<Attrs> = Object.freeze({ type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, mtimeNsec: 0 });

/** What applying one layer did, counted as it happened (the report's per-layer figures). */
export interface ApplyCounts {
  /** Puts; added + modified = entries. */
  entries: number;
  added: number;
  modified: number;
  /** Whiteouts. */
  deleted: number;
  opaqueDirs: number;
  /** Regular-file bytes, each inode once (hardlinks and metacopy placeholders add nothing). */
  bytes: number;
}

/** One layer on a given lower chain. */
export interface ChainNode {
  readonly id: number;
  readonly parent: ChainNode | null;
  /** 0 for a base layer. */
  readonly depth: number;
  /** What identifies it among its parent's children (a chainID plus where the layer was read from). */
  readonly key: string;
  readonly table: LayerTable;
  /** Versions [versionBase, versionEnd): row i of the table is version versionBase + i; implied dirs follow. */
  versionBase: number;
  versionEnd: number;
  /** Ends and hidden events this layer recorded: [start, end) in the store's arrays. */
  endStart: number;
  endEnd: number;
  hiddenStart: number;
  hiddenEnd: number;
  /** Null until applied. */
  counts: ApplyCounts | null;
}

/**
 * One version as an object, as this stack sees it (when it ended, and why): for code that shows a handful of
 * them (the TUI's rows on screen, search hits). Nothing keeps these.
 */
export interface VersionInfo {
  id: number;
  layer: number;
  kind: 'put' | 'whiteout';
  /** For puts. */
  attrs: Attrs | null;
  opaque: boolean;
  /** A dir the layer implied (a tar without the parent's entry). */
  implicit: boolean;
  change: ChangeKind;
  /** The layer that ended it in this stack; Infinity while visible (always Infinity for whiteouts). */
  until: number;
  endReason: EndReason | null;
  /** For whiteouts: the version deleted. */
  deleted: VersionInfo | null;
  redirect?: string;
  metacopy?: boolean;
}

/** Bytes that a layer ships but the image does not show. */
export interface HiddenEvent {
  path: string;
  layer: number;
  bytes: number;
  by: number;
  reason: EndReason;
  /** Other names of the same inode in that layer. */
  links?: string[];
}

interface LinkGroup {
  /** The version the inode's bytes are accounted to (the file, not the link entries). */
  file: number;
  bytes: number;
  members: number[];
}

type I32 = Int32Array<ArrayBuffer>;
type U8 = Uint8Array<ArrayBuffer>;

class Grow {
  static i32(a: I32, need: number, fill = NONE): I32 {
    if (need <= a.length) return a;
    const b = new Int32Array(Math.max(need, Math.ceil(a.length * 1.5) + 64));
    b.fill(fill, a.length);
    b.set(a);
    return b;
  }
  static u8(a: U8, need: number): U8 {
    if (need <= a.length) return a;
    const b = new Uint8Array(Math.max(need, Math.ceil(a.length * 1.5) + 64));
    b.set(a);
    return b;
  }
}

export class StackStore {
  readonly nodes: ChainNode[] = [];
  private readonly byKey = new Map<string, ChainNode>();
  private nodeDepth = new Int32Array(64);

  // versions
  private vCount = 0;
  private vNode = new Int32Array(1024);
  private vPath = new Int32Array(1024);
  private vNext = new Int32Array(1024);
  private vInfo = new Uint8Array(1024);
  private vFirstEnd = new Int32Array(1024).fill(NONE);
  /** For whiteouts: the version deleted (NONE when nothing was there). */
  private vDeleted = new Int32Array(1024).fill(NONE);
  private vGroup = new Int32Array(1024).fill(NONE);
  /** Newest version of each path (by application order), NONE when none. */
  private head = new Int32Array(1024).fill(NONE);

  // ends
  private eCount = 0;
  private eNode = new Int32Array(256);
  private eVersion = new Int32Array(256);
  private eNext = new Int32Array(256);
  private eReason = new Uint8Array(256);

  // hidden events
  private hCount = 0;
  private hVersion = new Int32Array(256);
  private hNode = new Int32Array(256);
  private hReason = new Uint8Array(256);

  private readonly groups: LinkGroup[] = [];
  private applying: ChainNode | null = null;

  /** Work done, for the tests that prove sharing (each chain node is applied once). */
  readonly stats = { applies: 0, rowsApplied: 0 };

  constructor(readonly paths: PathTable) {}

  /** Bytes held by the store's arrays (memory benchmarks). */
  get byteSize(): number {
    return (
      this.vNode.byteLength * 6 + this.vInfo.byteLength + this.head.byteLength + this.eNode.byteLength * 3 + this.eReason.byteLength + this.hVersion.byteLength * 2 + this.hReason.byteLength
    );
  }

  /** The chain node for `table` on top of `parent` (created unapplied when new). */
  chain(parent: ChainNode | null, key: string, table: LayerTable): ChainNode {
    const k = `${parent ? parent.id : ''}\0${key}`;
    const known = this.byKey.get(k);
    if (known) return known;
    const depth = parent ? parent.depth + 1 : 0;
    if (depth >= LIMITS.chainLayers) throw new LimitError('limit.chain-layers', `a stack of more than ${LIMITS.chainLayers} layers`);
    const node: ChainNode = { id: this.nodes.length, parent, depth, key, table, versionBase: NONE, versionEnd: NONE, endStart: 0, endEnd: 0, hiddenStart: 0, hiddenEnd: 0, counts: null };
    this.nodes.push(node);
    this.byKey.set(k, node);
    this.nodeDepth = Grow.i32(this.nodeDepth, this.nodes.length, 0);
    this.nodeDepth[node.id] = depth;
    return node;
  }

  /** Apply a node (its parent must be applied). Idempotent: a node is applied once. */
  apply(node: ChainNode): ApplyCounts {
    const steps = this.applySteps(node);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * Apply a node in slices (the generator yields every few thousand rows, so a UI can keep answering keys).
   * No other node may be applied until this one is done.
   */
  *applySteps(node: ChainNode, slice = 4096): Generator<void, ApplyCounts> {
    if (node.counts) return node.counts;
    if (node.parent && !node.parent.counts) throw new Error(`chain node ${node.key}: its parent is not applied`);
    if (this.applying) throw new Error(`chain node ${node.key}: ${this.applying.key} is being applied`);
    this.applying = node;
    try {
      const a = new Applier(this, node);
      yield* a.run(slice);
      node.counts = a.counts;
      this.stats.applies++;
      this.stats.rowsApplied += node.table.n;
      return a.counts;
    } finally {
      this.applying = null;
    }
  }

  /** Queries for the stack whose top is `top` (an image's top layer, a container's RW layer...). */
  view(top: ChainNode | null): StackView {
    return new StackView(this, top);
  }

  // ----- facts about a version, the same from every chain -------------------------------------------------

  nodeOf(v: number): ChainNode {
    return this.nodes[this.vNode[v]!]!;
  }

  /** Layer index (depth in its chain) of the layer that wrote version v. */
  layerOf(v: number): number {
    return this.nodeDepth[this.vNode[v]!]!;
  }

  pathIdOf(v: number): number {
    return this.vPath[v]!;
  }

  isWhiteout(v: number): boolean {
    return (this.vInfo[v]! & V_WHITEOUT) !== 0;
  }

  isImplicit(v: number): boolean {
    return (this.vInfo[v]! & V_IMPLICIT) !== 0;
  }

  change(v: number): ChangeKind {
    const i = this.vInfo[v]!;
    return i & V_WHITEOUT ? 'deleted' : i & V_MODIFIED ? 'modified' : 'added';
  }

  /** For a whiteout: the version it deleted, or -1 (a whiteout of nothing). */
  deletedBy(v: number): number {
    return this.vDeleted[v]!;
  }

  /** Row of version v in its layer's table, or -1 for an implied dir. */
  rowOf(v: number): number {
    const node = this.nodeOf(v);
    const r = v - node.versionBase;
    return r < node.table.n ? r : NONE;
  }

  /** Attributes of a put version (a fresh object). */
  attrs(v: number): Attrs {
    const node = this.nodeOf(v);
    const r = v - node.versionBase;
    return r < node.table.n ? node.table.attrs(r) : { ...IMPLICIT_DIR_ATTRS };
  }

  /** Type code (T_*) of a version: T_DIR for implied dirs, T_WHITEOUT for whiteouts. */
  typeOf(v: number): number {
    const node = this.nodeOf(v);
    const r = v - node.versionBase;
    return r < node.table.n ? node.table.types[r]! : T_DIR;
  }

  isDir(v: number): boolean {
    return this.typeOf(v) === T_DIR;
  }

  /** Content bytes a version's file holds (0 for non-files and metacopy placeholders). */
  fileBytes(v: number): number {
    const node = this.nodeOf(v);
    const r = v - node.versionBase;
    if (r >= node.table.n || node.table.types[r] !== T_FILE || node.table.isMetacopy(r)) return 0;
    return node.table.sizes[r]!;
  }

  /** Size column of a put (content length, link length...; 0 for dirs). */
  size(v: number): number {
    const node = this.nodeOf(v);
    const r = v - node.versionBase;
    return r < node.table.n ? node.table.sizes[r]! : 0;
  }

  isOpaque(v: number): boolean {
    const node = this.nodeOf(v);
    const r = v - node.versionBase;
    return r < node.table.n && node.table.isOpaque(r);
  }

  isMetacopy(v: number): boolean {
    const node = this.nodeOf(v);
    const r = v - node.versionBase;
    return r < node.table.n && node.table.isMetacopy(r);
  }

  redirect(v: number): string | undefined {
    const node = this.nodeOf(v);
    const r = v - node.versionBase;
    return r < node.table.n ? node.table.redirect(r) : undefined;
  }

  /** Other versions sharing v's inode in its layer (hard links), v excluded; [] when none. */
  linkedWith(v: number): number[] {
    const g = this.vGroup[v]!;
    return g === NONE ? [] : this.groups[g]!.members.filter((m) => m !== v);
  }

  // ----- internals shared with Applier and StackView ------------------------------------------------------

  /** @internal */ nodeIdOf(v: number): number {
    return this.vNode[v]!;
  }
  /** @internal */ get versionCount(): number {
    return this.vCount;
  }
  /** @internal */ headOf(p: number): number {
    return p < this.head.length ? this.head[p]! : NONE;
  }
  /** @internal */ nextVersion(v: number): number {
    return this.vNext[v]!;
  }
  /** @internal */ firstEnd(v: number): number {
    return this.vFirstEnd[v]!;
  }
  /** @internal */ endNode(e: number): number {
    return this.eNode[e]!;
  }
  /** @internal */ endVersion(e: number): number {
    return this.eVersion[e]!;
  }
  /** @internal */ nextEnd(e: number): number {
    return this.eNext[e]!;
  }
  /** @internal */ endReason(e: number): EndReason {
    return REASONS[this.eReason[e]!]!;
  }
  /** @internal */ depthOfNode(id: number): number {
    return this.nodeDepth[id]!;
  }
  /** @internal */ hiddenAt(h: number): { version: number; node: number; reason: EndReason } {
    return { version: this.hVersion[h]!, node: this.hNode[h]!, reason: REASONS[this.hReason[h]!]! };
  }
  /** @internal */ groupOf(v: number): LinkGroup | null {
    const g = this.vGroup[v]!;
    return g === NONE ? null : this.groups[g]!;
  }

  /** @internal Reserve version ids [vCount, vCount + n). */
  reserveVersions(n: number): number {
    const base = this.vCount;
    this.ensureVersions(base + n);
    this.vCount += n;
    return base;
  }

  private ensureVersions(need: number): void {
    if (need <= this.vNode.length) return;
    this.vNode = Grow.i32(this.vNode, need, 0);
    this.vPath = Grow.i32(this.vPath, need, 0);
    this.vNext = Grow.i32(this.vNext, need);
    this.vInfo = Grow.u8(this.vInfo, need);
    this.vFirstEnd = Grow.i32(this.vFirstEnd, need);
    this.vDeleted = Grow.i32(this.vDeleted, need);
    this.vGroup = Grow.i32(this.vGroup, need);
  }

  /** @internal Record version v of path p, written by node, and make it the newest of p. */
  linkVersion(v: number, node: ChainNode, p: number, info: number, deleted = NONE): void {
    this.vNode[v] = node.id;
    this.vPath[v] = p;
    this.vInfo[v] = info;
    this.vDeleted[v] = deleted;
    if (p >= this.head.length) this.head = Grow.i32(this.head, Math.max(p + 1, this.paths.count));
    this.vNext[v] = this.head[p]!;
    this.head[p] = v;
  }

  /** @internal A new version id for a dir the layer implies. */
  implicitVersion(): number {
    return this.reserveVersions(1);
  }

  /** @internal Record that node ended version v. */
  recordEnd(node: ChainNode, v: number, reason: number): void {
    const e = this.eCount++;
    if (e >= this.eNode.length) {
      this.eNode = Grow.i32(this.eNode, e + 1, 0);
      this.eVersion = Grow.i32(this.eVersion, e + 1, 0);
      this.eNext = Grow.i32(this.eNext, e + 1);
      this.eReason = Grow.u8(this.eReason, e + 1);
    }
    this.eNode[e] = node.id;
    this.eVersion[e] = v;
    this.eReason[e] = reason;
    this.eNext[e] = this.vFirstEnd[v]!;
    this.vFirstEnd[v] = e;
  }

  /** @internal */ recordHidden(node: ChainNode, v: number, reason: number): void {
    const h = this.hCount++;
    if (h >= this.hVersion.length) {
      this.hVersion = Grow.i32(this.hVersion, h + 1, 0);
      this.hNode = Grow.i32(this.hNode, h + 1, 0);
      this.hReason = Grow.u8(this.hReason, h + 1);
    }
    this.hVersion[h] = v;
    this.hNode[h] = node.id;
    this.hReason[h] = reason;
  }

  /** @internal */ get endCount(): number {
    return this.eCount;
  }
  /** @internal */ get hiddenCount(): number {
    return this.hCount;
  }

  /** @internal */ joinGroup(file: number, bytes: number, member: number): void {
    let g = this.vGroup[file]!;
    if (g === NONE) {
      g = this.groups.length;
      this.groups.push({ file, bytes, members: [file] });
      this.vGroup[file] = g;
    }
    this.groups[g]!.members.push(member);
    this.vGroup[member] = g;
  }
}

/**
 * The chain of one stack (an image up to its top layer, or a container), and every question asked of it: which
 * version of a path is visible at layer N, what ended a version, what a layer changed.
 */
export class StackView {
  /** Node id at each depth of this chain, base first. */
  readonly chain: Int32Array;
  readonly nodes: readonly ChainNode[];
  /** Index of the top layer. */
  readonly top: number;
  readonly paths: PathTable;

  /** `topNode` null: the empty stack (an image of no layers, a container whose image is gone). */
  constructor(readonly store: StackStore, topNode: ChainNode | null) {
    const nodes: ChainNode[] = [];
    for (let n: ChainNode | null = topNode; n; n = n.parent) nodes.push(n);
    nodes.reverse();
    this.nodes = nodes;
    this.chain = Int32Array.from(nodes, (n) => n.id);
    this.top = nodes.length - 1;
    this.paths = store.paths;
  }

  /** Number of layers in this stack. */
  get layerCount(): number {
    return this.chain.length;
  }

  /** Whether version v was written by a layer of this chain at or below layer N. */
  owns(v: number, n = this.top): boolean {
    const id = this.store.nodeIdOf(v);
    const d = this.store.depthOfNode(id);
    return d <= n && this.chain[d] === id;
  }

  private onChain(nodeId: number, n: number): boolean {
    const d = this.store.depthOfNode(nodeId);
    return d <= n && this.chain[d] === nodeId;
  }

  /** The newest version (put or whiteout) of path p on this chain at or below layer N, or -1. */
  latest(p: number, n = this.top): number {
    const s = this.store;
    for (let v = s.headOf(p); v !== NONE; v = s.nextVersion(v)) if (this.onChain(s.nodeIdOf(v), n)) return v;
    return NONE;
  }

  /** The end of version v on this chain at or below layer N (an index into the store's ends), or -1. */
  endOf(v: number, n = this.top): number {
    const s = this.store;
    for (let e = s.firstEnd(v); e !== NONE; e = s.nextEnd(e)) if (this.onChain(s.endNode(e), n)) return e;
    return NONE;
  }

  /** The layer that ended version v in this stack (Infinity while visible at the top). */
  until(v: number): number {
    const e = this.endOf(v);
    return e === NONE ? Infinity : this.store.depthOfNode(this.store.endNode(e));
  }

  /** Why version v ended in this stack, or null while it is visible. */
  endReason(v: number): EndReason | null {
    const e = this.endOf(v);
    return e === NONE ? null : this.store.endReason(e);
  }

  /** The put of path p visible at layer N, or -1. */
  versionAt(p: number, n = this.top): number {
    const v = this.latest(p, n);
    if (v === NONE || this.store.isWhiteout(v)) return NONE;
    return this.endOf(v, n) === NONE ? v : NONE;
  }

  /** The version layer N wrote for path p (a put, else a whiteout), or -1. */
  versionIn(p: number, layer: number): number {
    const s = this.store;
    for (let v = s.headOf(p); v !== NONE; v = s.nextVersion(v)) {
      const id = s.nodeIdOf(v);
      if (this.chain[layer] === id) return v;
    }
    return NONE;
  }

  /** The version of kind put/whiteout that layer N wrote for path p (a layer may whiteout and re-create). */
  versionOfKind(p: number, layer: number, whiteout: boolean): number {
    const s = this.store;
    for (let v = s.headOf(p); v !== NONE; v = s.nextVersion(v)) {
      if (this.chain[layer] === s.nodeIdOf(v) && s.isWhiteout(v) === whiteout) return v;
    }
    return NONE;
  }

  /** The put path p had just below layer N that layer N ended (deleted, replaced, hidden by opaque), or -1. */
  removedAt(p: number, layer: number): number {
    if (layer === 0) return NONE;
    const v = this.latest(p, layer - 1);
    if (v === NONE || this.store.isWhiteout(v)) return NONE;
    const e = this.endOf(v, layer);
    return e !== NONE && this.store.depthOfNode(this.store.endNode(e)) === layer ? v : NONE;
  }

  /** Every version of path p on this chain, oldest first. */
  versions(p: number): number[] {
    const out: number[] = [];
    const s = this.store;
    for (let v = s.headOf(p); v !== NONE; v = s.nextVersion(v)) if (this.onChain(s.nodeIdOf(v), this.top)) out.push(v);
    return out.reverse();
  }

  /** Whether any layer of this chain wrote path p (a put that is not an implied dir, or a whiteout). */
  mentions(p: number): boolean {
    const s = this.store;
    for (let v = s.headOf(p); v !== NONE; v = s.nextVersion(v)) if (!s.isImplicit(v) && this.onChain(s.nodeIdOf(v), this.top)) return true;
    return false;
  }

  /** Layer index of the layer that wrote version v. */
  layerOf(v: number): number {
    return this.store.layerOf(v);
  }

  /** Version v as an object, as this stack sees it. */
  info(v: number): VersionInfo {
    const s = this.store;
    const whiteout = s.isWhiteout(v);
    const d = whiteout ? s.deletedBy(v) : -1;
    const out: VersionInfo = {
      id: v,
      layer: s.layerOf(v),
      kind: whiteout ? 'whiteout' : 'put',
      attrs: whiteout ? null : s.attrs(v),
      opaque: s.isOpaque(v),
      implicit: s.isImplicit(v),
      change: s.change(v),
      until: whiteout ? Infinity : this.until(v),
      endReason: whiteout ? null : this.endReason(v),
      deleted: d >= 0 ? this.info(d) : null,
    };
    const r = s.redirect(v);
    if (r !== undefined) out.redirect = r;
    if (s.isMetacopy(v)) out.metacopy = true;
    return out;
  }

  lookup(path: string): number {
    return this.paths.lookup(path);
  }

  /** Every hidden event of this stack (bytes some layer ships that the top does not show), in record order. */
  hidden(): HiddenEvent[] {
    const s = this.store;
    const out: HiddenEvent[] = [];
    for (const node of this.nodes) {
      for (let h = node.hiddenStart; h < node.hiddenEnd; h++) {
        const { version, reason } = s.hiddenAt(h);
        const g = s.groupOf(version);
        const ev: HiddenEvent = { path: this.paths.path(s.pathIdOf(version)), layer: s.layerOf(version), bytes: g ? g.bytes : s.fileBytes(version), by: node.depth, reason };
        if (g && g.members.length > 1) ev.links = g.members.filter((m) => m !== version).map((m) => this.paths.path(s.pathIdOf(m)));
        out.push(ev);
      }
    }
    return out;
  }

  /** The table of layer N. */
  table(layer: number): LayerTable {
    return this.nodes[layer]!.table;
  }

  /** Version of row i of layer N's table. */
  versionOfRow(layer: number, i: number): number {
    return this.nodes[layer]!.versionBase + i;
  }
}

/** One application of a chain node: the mutable state of a single `apply`. */
class Applier {
  readonly counts: ApplyCounts = { entries: 0, added: 0, modified: 0, deleted: 0, opaqueDirs: 0, bytes: 0 };
  private readonly s: StackStore;
  private readonly view: StackView;
  private readonly depth: number;
  private readonly t: LayerTable;
  private base = 0;
  /** Live version of dirs looked up while ensuring parents; kept exact by every put and end. */
  private readonly liveMemo = new Map<number, number>();

  constructor(store: StackStore, private readonly node: ChainNode) {
    this.s = store;
    this.view = new StackView(store, node);
    this.depth = node.depth;
    this.t = node.table;
  }

  *run(slice: number): Generator<void> {
    const { s, t, node } = this;
    if (t.paths !== s.paths) throw new Error('layer table interned in another path table');
    this.base = s.reserveVersions(t.n);
    node.versionBase = this.base;
    node.endStart = s.endCount;
    node.hiddenStart = s.hiddenCount;
    const types = t.types;
    const flags = t.flags;
    let budget = slice;
    // Phase 1: deletions against the lower state.
    for (let i = 0; i < t.n; i++) {
      if (types[i] === T_WHITEOUT) {
        this.whiteout(i);
        this.counts.deleted++;
      } else if (flags[i]! & F_OPAQUE) {
        this.makeOpaque(t.pathIds[i]!);
        this.counts.opaqueDirs++;
      }
      if (--budget === 0) {
        budget = slice;
        yield;
      }
    }
    // Phase 2: the layer's own content; phase 3: hard links, once the files they name are in.
    let links = 0;
    for (let i = 0; i < t.n; i++) {
      const type = types[i]!;
      if (type === T_WHITEOUT) continue;
      if (type === T_HARDLINK) {
        links++;
        continue;
      }
      this.put(i);
      if (type === T_FILE && !(flags[i]! & F_METACOPY)) this.counts.bytes += t.sizes[i]!;
      if (--budget === 0) {
        budget = slice;
        yield;
      }
    }
    if (links) {
      for (let i = 0; i < t.n; i++) {
        if (types[i] !== T_HARDLINK) continue;
        const v = this.put(i);
        this.joinTarget(i, v);
      }
    }
    node.versionEnd = s.versionCount;
    node.endEnd = s.endCount;
    node.hiddenEnd = s.hiddenCount;
  }

  private live(p: number): number {
    return this.view.versionAt(p, this.depth);
  }

  private liveDir(p: number): boolean {
    let v = this.liveMemo.get(p);
    if (v === undefined) {
      v = this.live(p);
      this.liveMemo.set(p, v);
    }
    return v !== NONE && this.s.isDir(v);
  }

  private whiteout(i: number): void {
    const p = this.t.pathIds[i]!;
    const target = this.live(p);
    if (target !== NONE) this.end(p, target, R_DELETED);
    this.s.linkVersion(this.base + i, this.node, p, V_WHITEOUT, target);
    this.liveMemo.delete(p);
  }

  private makeOpaque(p: number): void {
    const paths = this.s.paths;
    for (let c = paths.firstChild(p); c !== NONE; c = paths.nextSibling(c)) {
      const v = this.live(c);
      if (v !== NONE) this.end(c, v, R_OPAQUE);
    }
  }

  private put(i: number): number {
    const p = this.t.pathIds[i]!;
    this.ensureParents(p);
    const isDir = this.t.types[i] === T_DIR;
    const prev = this.live(p);
    // A version of this very layer (an implied dir put before its own entry) passes its classification on.
    const existedBelow = prev !== NONE ? this.s.layerOf(prev) < this.depth || this.s.change(prev) === 'modified' : this.endedHere(p);
    if (prev !== NONE) {
      const prevDir = this.s.isDir(prev);
      if (prevDir && isDir) this.endOne(p, prev, R_UPDATED);
      else this.end(p, prev, isDir ? R_OVERWRITTEN : prevDir ? R_REPLACED : R_OVERWRITTEN);
    }
    const v = this.base + i;
    this.s.linkVersion(v, this.node, p, existedBelow ? V_MODIFIED : 0);
    this.liveMemo.delete(p);
    this.counts.entries++;
    if (existedBelow) this.counts.modified++;
    else this.counts.added++;
    return v;
  }

  /** A hard link shares its target's bytes when the target is a file this layer put and still shows. */
  private joinTarget(i: number, v: number): void {
    const target = this.s.paths.lookup(this.t.linkname(i) ?? '');
    if (target < 0) return;
    const tv = this.live(target);
    if (tv === NONE || tv < this.base || tv >= this.base + this.t.n) return;
    if (this.t.types[tv - this.base] !== T_FILE) return;
    this.s.joinGroup(tv, this.s.fileBytes(tv), v);
  }

  /** Parents must be live directories; a tar may omit their entries. Fixed top-down. */
  private ensureParents(p: number): void {
    const paths = this.s.paths;
    let missing: number[] | null = null;
    for (let q = paths.parent(p); q !== ROOT_PATH && q !== NONE; q = paths.parent(q)) {
      if (this.liveDir(q)) break;
      (missing ??= []).push(q);
    }
    if (!missing) return;
    for (let k = missing.length - 1; k >= 0; k--) this.ensureDir(missing[k]!);
  }

  private ensureDir(q: number): void {
    const prev = this.live(q);
    if (prev !== NONE) this.end(q, prev, R_REPLACED);
    const modified = prev !== NONE || this.endedHere(q);
    const v = this.s.implicitVersion();
    this.s.linkVersion(v, this.node, q, V_IMPLICIT | (modified ? V_MODIFIED : 0));
    this.liveMemo.set(q, v);
  }

  /** The path's last version below this layer is a put that this layer ended (phase 1 deleted it). */
  private endedHere(p: number): boolean {
    const v = this.view.latest(p, this.depth - 1);
    if (v === NONE || this.s.isWhiteout(v)) return false;
    const e = this.view.endOf(v, this.depth);
    return e !== NONE && this.s.endNode(e) === this.node.id;
  }

  /** End the live version of p and of its whole live subtree. */
  private end(p: number, v: number, reason: number): void {
    this.endOne(p, v, reason);
    this.endChildren(p, reason === R_OVERWRITTEN ? R_REPLACED : reason);
  }

  private endChildren(p: number, reason: number): void {
    const paths = this.s.paths;
    const stack: number[] = [];
    const pushLive = (d: number) => {
      for (let c = paths.firstChild(d); c !== NONE; c = paths.nextSibling(c)) stack.push(c);
    };
    pushLive(p);
    while (stack.length) {
      const c = stack.pop()!;
      const v = this.live(c);
      if (v === NONE) continue;
      this.endOne(c, v, reason);
      // A dead node cannot hold live children: only live dirs are entered.
      pushLive(c);
    }
  }

  private endOne(p: number, v: number, reason: number): void {
    this.s.recordEnd(this.node, v, reason);
    this.liveMemo.delete(p);
    const g = this.s.groupOf(v);
    if (g) {
      if (g.bytes > 0 && g.members.every((m) => this.view.endOf(m, this.depth) !== NONE)) this.s.recordHidden(this.node, g.file, reason);
    } else if (this.s.fileBytes(v) > 0) {
      this.s.recordHidden(this.node, v, reason);
    }
  }
}
