import type { Attrs, LayerEntry } from '../model/types.js';

/**
 * The history of every path of an image, built by applying its layers bottom to top once.
 *
 * Each path ever mentioned by a layer has one `PathNode` in a trie, holding the list of `Version`s layers gave
 * it, oldest first. A version lives from the layer that wrote it (`layer`) until the layer that ended it
 * (`until`, Infinity while visible at the top). From this single structure we read, without re-stacking:
 * - the merged view at any layer N (versions with layer <= N < until),
 * - each layer's own changes, classified added / modified / deleted,
 * - every byte that is shipped but not visible (versions that ended), with the layer and reason that hid it.
 * Cost: O(entries of all layers) time and memory; a dying subtree is walked once, since a dead node cannot
 * hold live children.
 *
 * Whiteout semantics (the one place they are implemented): image-spec layer.md. Within a layer, whiteouts and
 * opaque markers apply to the lower layers only (phase 1), then the layer's own entries are put (phase 2),
 * whatever their order in the layer.
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

export interface Version {
  layer: number;
  kind: 'put' | 'whiteout';
  /** For puts. */
  attrs: Attrs | null;
  opaque: boolean;
  /** Dir created only because a child needed it (tar layers may omit parent dir entries). */
  implicit: boolean;
  change: ChangeKind;
  /** Layer that ended this version; Infinity while visible (always Infinity for whiteouts). */
  until: number;
  endReason: EndReason | null;
  /** For whiteouts: the version it deleted (null when the path did not exist below). */
  deleted: Version | null;
  /** Hardlink group, for regular files that share an inode within their layer. */
  group: LinkGroup | null;
  /** Overlay features flagged by the source. */
  redirect?: string;
  metacopy?: boolean;
}

/** Names of one inode within one layer. Its bytes stay visible while any member does. */
export interface LinkGroup {
  layer: number;
  /** The name the inode's bytes are accounted to (the file, not the link entries). */
  path: string;
  bytes: number;
  alive: number;
  members: string[];
}

export class PathNode {
  children: Map<string, PathNode> | null = null;
  versions: Version[] = [];
  /** The version visible right now (during stacking), or, after stacking, at the top. */
  live: Version | null = null;
  constructor(
    readonly name: string,
    readonly parent: PathNode | null,
    /** Layer path of this node ('' for the root). */
    readonly path: string,
  ) {}

  child(name: string): PathNode | undefined {
    return this.children?.get(name);
  }

  /** The version in effect at layer N (visible or a whiteout), or null. */
  versionAt(layer: number): Version | null {
    for (let i = this.versions.length - 1; i >= 0; i--) {
      const v = this.versions[i]!;
      if (v.layer <= layer) return v.kind === 'put' && v.until > layer ? v : null;
    }
    return null;
  }

  /** The version a given layer wrote for this path (a put or a whiteout), or null. */
  versionIn(layer: number): Version | null {
    for (let i = this.versions.length - 1; i >= 0; i--) {
      const v = this.versions[i]!;
      if (v.layer === layer) {
        // A layer may whiteout and re-create the same path (tar form): the put is what it leaves.
        return v;
      }
      if (v.layer < layer) break;
    }
    return null;
  }
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

export class LayerStack {
  readonly root = new PathNode('', null, '');
  /**
   * The dir node of the previous put: layers come in walk order, so most entries share their parent with the
   * entry before them, and finding it costs one string compare instead of a walk down the trie.
   */
  private lastDir = '';
  private lastDirNode: PathNode = this.root;
  readonly hidden: HiddenEvent[] = [];
  layerCount = 0;

  /** Apply the next layer. Entries may come in any order; each path at most once per kind. */
  apply(entries: readonly LayerEntry[]): ApplyCounts {
    const layer = this.layerCount++;
    const counts: ApplyCounts = { entries: 0, added: 0, modified: 0, deleted: 0, opaqueDirs: 0, bytes: 0 };
    // Phase 1: deletions against the lower state.
    for (const e of entries) {
      if (e.kind === 'whiteout') {
        this.whiteout(layer, e.path);
        counts.deleted++;
      } else if (e.opaque) {
        this.makeOpaque(layer, e.path);
        counts.opaqueDirs++;
      }
    }
    // Phase 2: the layer's own content. Files before their hardlinks, so groups know their bytes.
    const groups = new Map<string, LinkGroup>();
    const links: LayerEntry[] = [];
    for (const e of entries) {
      if (e.kind !== 'put') continue;
      if (e.attrs.type === 'hardlink') {
        links.push(e);
        continue;
      }
      const v = this.put(layer, e.path, e.attrs, !!e.opaque, false);
      tally(counts, v);
      if (e.redirect !== undefined) v.redirect = e.redirect;
      if (e.metacopy) v.metacopy = true;
      if (e.attrs.type === 'file') {
        const g: LinkGroup = { layer, path: e.path, bytes: e.metacopy ? 0 : e.attrs.size, alive: 1, members: [e.path] };
        v.group = g;
        groups.set(e.path, g);
        counts.bytes += g.bytes;
      }
    }
    for (const e of links) {
      if (e.kind !== 'put') continue;
      const v = this.put(layer, e.path, e.attrs, false, false);
      tally(counts, v);
      const g = groups.get(e.attrs.linkname ?? '');
      // A link whose target is in the same layer shares the target's bytes; one whose target is elsewhere
      // (never produced by Docker; tolerated) is accounted as its own zero-byte entry.
      if (g && this.lookup(g.path)?.live?.group === g) {
        g.alive++;
        g.members.push(e.path);
        v.group = g;
      }
    }
    return counts;
  }

  lookup(path: string): PathNode | null {
    if (path === '') return this.root;
    let n: PathNode | undefined = this.root;
    let start = 0;
    while (n) {
      const slash = path.indexOf('/', start);
      const c: PathNode | undefined = n.children?.get(slash < 0 ? path.slice(start) : path.slice(start, slash));
      if (slash < 0) return c ?? null;
      n = c;
      start = slash + 1;
    }
    return null;
  }

  private node(path: string): PathNode {
    if (path === '') return this.root;
    const slash = path.lastIndexOf('/');
    const dir = slash < 0 ? '' : path.slice(0, slash);
    let parent: PathNode;
    if (dir === this.lastDir) parent = this.lastDirNode;
    else {
      parent = this.node(dir);
      this.lastDir = dir;
      this.lastDirNode = parent;
    }
    const name = slash < 0 ? path : path.slice(slash + 1);
    let n = parent.children?.get(name);
    if (!n) {
      n = new PathNode(name, parent, path);
      (parent.children ??= new Map()).set(name, n);
    }
    return n;
  }

  private whiteout(layer: number, path: string): void {
    const n = this.node(path);
    const target = n.live;
    if (target) this.end(n, layer, 'deleted');
    n.versions.push({ layer, kind: 'whiteout', attrs: null, opaque: false, implicit: false, change: 'deleted', until: Infinity, endReason: null, deleted: target, group: null });
  }

  private makeOpaque(layer: number, path: string): void {
    const n = this.lookup(path);
    if (!n?.children) return;
    for (const c of n.children.values()) if (c.live) this.end(c, layer, 'opaque');
  }

  private put(layer: number, path: string, attrs: Attrs, opaque: boolean, implicit: boolean): Version {
    const n = this.node(path);
    // Parents must be live directories; a tar may omit their entries. Fix them top-down, so that replacing a
    // non-dir ancestor cannot end a dir we have just created below it.
    const missing: PathNode[] = [];
    for (let p = n.parent; p && p.parent; p = p.parent) {
      if (p.live?.attrs?.type === 'dir') break;
      missing.push(p);
    }
    for (let i = missing.length - 1; i >= 0; i--) this.ensureDir(layer, missing[i]!);
    const prev = n.live;
    const existedBelow = prev !== null ? prev.layer < layer : endedIn(n, layer);
    if (prev) {
      if (prev.layer === layer) {
        // Same path twice in one layer (tolerated for tars: last wins). Replace in place.
        if (prev.attrs?.type === 'dir' && attrs.type !== 'dir') this.endChildren(n, layer, 'replaced');
        prev.attrs = attrs;
        prev.opaque = opaque;
        prev.implicit = implicit;
        return prev;
      }
      if (prev.attrs?.type === 'dir' && attrs.type === 'dir') this.endVersionOnly(n, layer, 'updated');
      else this.end(n, layer, attrs.type === 'dir' ? 'overwritten' : prev.attrs?.type === 'dir' ? 'replaced' : 'overwritten');
    }
    const v: Version = { layer, kind: 'put', attrs, opaque, implicit, change: existedBelow ? 'modified' : 'added', until: Infinity, endReason: null, deleted: null, group: null };
    n.versions.push(v);
    n.live = v;
    return v;
  }

  private ensureDir(layer: number, n: PathNode): void {
    const attrs: Attrs = { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, mtimeNsec: 0 };
    const prev = n.live;
    if (prev) this.end(n, layer, 'replaced');
    const v: Version = { layer, kind: 'put', attrs, opaque: false, implicit: true, change: prev || endedIn(n, layer) ? 'modified' : 'added', until: Infinity, endReason: null, deleted: null, group: null };
    n.versions.push(v);
    n.live = v;
  }

  /** End the live version of n and of its whole live subtree. */
  private end(n: PathNode, layer: number, reason: EndReason): void {
    this.endVersionOnly(n, layer, reason);
    this.endChildren(n, layer, reason === 'overwritten' ? 'replaced' : reason);
  }

  private endChildren(n: PathNode, layer: number, reason: EndReason): void {
    if (!n.children) return;
    const stack: PathNode[] = [];
    for (const c of n.children.values()) if (c.live) stack.push(c);
    while (stack.length) {
      const c = stack.pop()!;
      this.endVersionOnly(c, layer, reason);
      if (c.children) for (const cc of c.children.values()) if (cc.live) stack.push(cc);
    }
  }

  private endVersionOnly(n: PathNode, layer: number, reason: EndReason): void {
    const v = n.live;
    if (!v) return;
    v.until = layer;
    v.endReason = reason;
    n.live = null;
    const g = v.group;
    if (g && --g.alive === 0 && g.bytes > 0) {
      const ev: HiddenEvent = { path: g.path, layer: g.layer, bytes: g.bytes, by: layer, reason };
      if (g.members.length > 1) ev.links = g.members.filter((m) => m !== g.path);
      this.hidden.push(ev);
    }
  }
}

function tally(counts: ApplyCounts, v: Version): void {
  counts.entries++;
  if (v.change === 'modified') counts.modified++;
  else counts.added++;
}

/** The node's last version is a put from a lower layer that this layer ended (phase 1 deleted it). */
function endedIn(n: PathNode, layer: number): boolean {
  for (let i = n.versions.length - 1; i >= 0; i--) {
    const v = n.versions[i]!;
    if (v.layer < layer) return v.kind === 'put' && v.until === layer;
  }
  return false;
}
