/**
 * Tar members of one layer -> normalised {@link LayerChanges} (formats.md §6, image-spec layer.md semantics).
 * The one place where OCI whiteout encodings in tars are interpreted:
 * - `<dir>/.wh.<name>` -> WhiteoutEntry `<dir>/<name>` (a whiteout never applies to its own layer: when the same
 *   layer also puts `<name>`, the put stays and, for a dir, becomes opaque, since "delete then recreate" hides
 *   every lower child);
 * - `<dir>/.wh..wh..opq` -> the dir's PutEntry gets `opaque: true` (synthesised as a 0755 root-owned dir, with an
 *   info problem, when the layer has no entry for the dir); `trusted.overlay.opaque=y` means the same;
 * - other names under a top-level `.wh..wh.*` (AUFS metadata) are skipped, with a warning for any with content;
 *   a bare `.wh.` is invalid;
 * - hardlinks (typeflag 1) become type 'hardlink' with a cleaned linkname and the target's size;
 * - duplicates: last wins; unsafe names are problems and are skipped, never followed;
 * - entries come out in walk order.
 */
import { baseName, cleanLayerPath, compareWalkOrder, displayPath, joinPath, parentPath, UnsafePathError } from '../../model/path.js';
import { ProblemSink } from '../../model/problem-sink.js';
import { problem, type Attrs, type LayerChanges, type LayerEntry, type Problem, type PutEntry, type WhiteoutEntry } from '../../model/types.js';
import type { TarEntry } from './header.js';
import { LIMITS } from '../../model/limits.js';

import { WH_META_PREFIX as WH_META, WH_OPAQUE as WH_OPQ, WH_PLNK, whiteoutName } from '../whiteout-names.js';

export { WH_PLNK };

export class LayerChangesBuilder {
  private readonly puts = new Map<string, PutEntry>();
  private readonly whiteouts = new Map<string, WhiteoutEntry>();
  private readonly opaqueMarkers = new Set<string>();
  /** AUFS hardlink pool files by base name (see add). */
  private readonly plnk = new Map<string, Attrs>();
  readonly problems: Problem[] = [];
  /** A layer of a million crafted members must not make a million problems. */
  private readonly sink = new ProblemSink(this.problems);
  private auFsSkipped = 0;
  private duplicates = 0;

  /** `label` names the layer in problem paths (e.g. `blobs/sha256/ab12…`). */
  constructor(private readonly label: string) {}

  private where(name: string): string {
    return `${this.label}:${displayPath(name)}`;
  }

  private dropped = 0;

  add(e: TarEntry): void {
    // A layer's rows are held until it is stacked: past LIMITS.layerEntries the rest is counted, not kept.
    if (this.puts.size + this.whiteouts.size >= LIMITS.layerEntries) {
      if (this.dropped++ === 0) this.sink.add(problem('error', 'limit.layer-entries', `layer holds more than ${LIMITS.layerEntries} entries; the rest is not read`, this.label));
      return;
    }
    if (e.typeflag === 'g') {
      // Not a file of the layer: the engine skips it and applies none of its records. GNU tar and bsdtar apply
      // them to the members after it, so `tar -x` of this layer gives another tree than the engine's.
      const all = [...(e.pax?.keys() ?? [])];
      const keys = all.slice(0, 8).map(displayPath).join(', ') + (all.length > 8 ? `, ${all.length - 8} more` : '');
      this.sink.add(
        problem('warning', 'layer.pax-global', `PAX global header at offset ${e.headerOffset} ignored, as the engine ignores it${keys ? ` (records: ${keys}); GNU tar would apply them to the members after it` : ''}`, this.label),
      );
      return;
    }
    let path: string;
    try {
      path = fastClean(e.name) ?? cleanLayerPath(e.name);
    } catch (err) {
      if (!(err instanceof UnsafePathError)) throw err;
      this.sink.add(problem('error', 'layer.path.unsafe', `member at offset ${e.headerOffset} skipped: ${err.message}`, this.where(e.name)));
      return;
    }
    // Docker and containerd apply regular files, dirs, links, devices and fifos; any other type (a contiguous
    // file '7' included, which Go reads like a file) fails the whole layer: "unhandled tar header type".
    if (e.type === 'other' || e.typeflag === '7') {
      this.sink.add(
        problem('error', 'layer.member.unsupported', `member of tar type '${printableFlag(e.typeflag)}' skipped (offset ${e.headerOffset}): Docker and containerd refuse a layer holding it ("unhandled tar header type")`, this.where(e.name)),
      );
      return;
    }
    if (e.name.charCodeAt(0) === 0x2f)
      this.sink.add(problem('warning', 'layer.path.absolute', `absolute member name at offset ${e.headerOffset}: read as relative to the layer root, as the engine does`, this.where(e.name)));
    if (path === '') {
      // The layer root ('./'): not a change of its own (a data root's diff dir has no entry for itself either).
      if (e.xattrs.get('trusted.overlay.opaque')?.toString('latin1') === 'y')
        this.sink.add(problem('warning', 'layer.opaque.root', 'opaque marker on the layer root ignored', this.where(e.name)));
      return;
    }
    const base = baseName(path);
    const dir = parentPath(path);
    if (path.startsWith(WH_META) && path !== WH_OPQ) {
      // AUFS metadata: only names that start with `.wh..wh.` at the layer root (moby's UnpackLayer and
      // containerd test the whole member name; a `.wh..wh.x` deeper down is an ordinary whiteout below).
      // AUFS's hardlink pool is not extracted, but its regular files are what hardlinks into it become (the
      // latest pool file of that base name, at the time of the link).
      if (path.startsWith(WH_PLNK) && e.type === 'file') this.plnk.set(base, this.attrsOf(e));
      this.auFsSkipped++;
      // Docker's overlay2 driver applies layers without this skip (archive.Unpack): there the member is in every
      // container of the image. Anything with content or a link is said, so the two readings are never silent.
      if (e.type !== 'dir' && !(e.type === 'file' && e.realSize === 0))
        this.sink.add(
          problem('warning', 'layer.aufs-metadata.content', `AUFS metadata member ${e.type === 'file' ? `(${e.realSize} bytes) ` : `(${e.type}) `}skipped as containerd and moby's layer unpacker skip it; Docker's overlay2 driver extracts it, so containers there have it`, this.where(e.name)),
        );
      return;
    }
    const wn = whiteoutName(base, dir === '');
    if (wn.kind === 'opaque') {
      if (dir === '') this.sink.add(problem('warning', 'layer.opaque.root', 'opaque marker on the layer root ignored', this.where(e.name)));
      else this.opaqueMarkers.add(dir);
      return;
    }
    if (wn.kind === 'invalid') {
      this.sink.add(problem('error', 'layer.whiteout.invalid', `invalid whiteout name ${JSON.stringify(base)} skipped`, this.where(e.name)));
      return;
    }
    if (wn.kind === 'whiteout') {
      const p = joinPath(dir, wn.target);
      this.whiteouts.set(p, { kind: 'whiteout', path: p, uid: e.uid, gid: e.gid });
      return;
    }

    let attrs = this.attrsOf(e);
    let opaque = false;
    switch (e.type) {
      case 'file':
        attrs.size = e.realSize;
        if (e.sparse)
          this.sink.add(
            problem('warning', 'tar.sparse', `sparse member (GNU sparse format is not reconstructed; listed with its real size ${e.realSize})`, this.where(e.name)),
          );
        break;
      case 'symlink':
        attrs.linkname = e.linkname;
        attrs.size = Buffer.byteLength(e.linkname, 'latin1');
        break;
      case 'hardlink': {
        try {
          attrs.linkname = cleanLayerPath(e.linkname);
        } catch (err) {
          if (!(err instanceof UnsafePathError)) throw err;
          this.sink.add(problem('error', 'layer.hardlink.unsafe', `hardlink skipped: target ${err.message}`, this.where(e.name)));
          return;
        }
        if (attrs.linkname === '' || attrs.linkname === path) {
          this.sink.add(problem('error', 'layer.hardlink.invalid', `hardlink to ${attrs.linkname === '' ? 'the layer root' : 'itself'} skipped`, this.where(e.name)));
          return;
        }
        if (attrs.linkname.startsWith(WH_PLNK)) {
          // moby applies a hardlink into the pool as a file of its own: the pool file's header and bytes.
          const src = this.plnk.get(baseName(attrs.linkname));
          if (!src) {
            this.sink.add(problem('error', 'layer.aufs-hardlink.invalid', `hardlink into ${WH_PLNK} whose pool file the layer does not hold before it: the engine refuses this layer ("Invalid aufs hardlink")`, this.where(e.name)));
            return;
          }
          this.sink.add(problem('info', 'layer.aufs-hardlink', `hardlink into ${WH_PLNK}: a file of its own, with the pool file's attributes and bytes (as the engine applies it)`, this.where(e.name)));
          attrs = { ...src };
        }
        break;
      }
      case 'char':
      case 'block':
        attrs.devMajor = e.devMajor;
        attrs.devMinor = e.devMinor;
        break;
      default:
        break;
    }
    for (const [name, value] of e.xattrs) {
      if (name === 'trusted.overlay.opaque' && value.toString('latin1') === 'y' && e.type === 'dir') opaque = true;
      else if (name.startsWith('user.overlay.'))
        // A rootful engine sets it as a plain xattr, which overlayfs ignores (no userxattr mount); a rootless one
        // mounts with userxattr and would honour it. Read as the usual rootful engine loads the layer.
        this.sink.add(problem('warning', 'layer.xattr.user-overlay', `${displayPath(name)}: honoured only by a rootless engine (userxattr); read as a rootful engine applies it, with no effect`, this.where(e.name)));
    }
    const put: PutEntry = { kind: 'put', path, attrs };
    if (opaque) put.opaque = true;
    if (this.puts.has(path)) {
      this.duplicates++;
      // last wins, but an opaque marker given by an earlier duplicate's xattr is still an opaque marker
      if (this.puts.get(path)!.opaque && e.type === 'dir') put.opaque = true;
    }
    this.puts.set(path, put);
  }

  finish(): LayerChanges {
    const problems = this.problems;
    const sink = this.sink;
    if (this.auFsSkipped)
      problems.push(problem('info', 'layer.aufs-metadata', `${this.auFsSkipped} AUFS metadata member(s) (.wh..wh.*) skipped`, this.label));
    if (this.duplicates)
      problems.push(problem('warning', 'layer.duplicate', `${this.duplicates} duplicate member(s); the last of each was kept`, this.label));
    for (const dir of this.opaqueMarkers) {
      const put = this.puts.get(dir);
      if (put && put.attrs.type === 'dir') put.opaque = true;
      else if (put) {
        sink.add(problem('warning', 'layer.opaque.not-dir', `opaque marker inside ${put.attrs.type} ignored`, this.where(dir)));
      } else {
        this.puts.set(dir, {
          kind: 'put',
          path: dir,
          attrs: { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, mtimeNsec: 0 },
          opaque: true,
        });
        sink.add(
          problem('info', 'layer.opaque.synthesized', 'opaque marker for a dir the layer has no entry for: dir entry synthesised (0755 0:0)', this.where(dir)),
        );
      }
    }
    const entries: LayerEntry[] = [];
    for (const [path, wh] of this.whiteouts) {
      const put = this.puts.get(path);
      if (put) {
        // Same-layer whiteout + entry: the whiteout removes the lower object, the entry recreates it.
        if (put.attrs.type === 'dir') put.opaque = true;
        sink.add(
          problem('info', 'layer.whiteout.same-layer', `whiteout and entry for the same path in one layer: the entry is kept${put.attrs.type === 'dir' ? ' as an opaque dir' : ''}`, this.where(path)),
        );
        continue;
      }
      entries.push(wh);
    }
    for (const put of this.puts.values()) {
      if (put.attrs.type === 'hardlink') this.resolveHardlink(put);
      entries.push(put);
    }
    entries.sort((a, b) => compareWalkOrder(a.path, b.path));
    return { entries, problems };
  }

  /** Where each hardlink chain ends, by every name on it: a chain of N links costs N steps, not N^2. */
  private readonly linkEnds = new Map<string, LinkEnd>();

  /** Header fields as attributes (overlay bookkeeping xattrs left out; sizes set by type). */
  private attrsOf(e: TarEntry): Attrs {
    const attrs: Attrs = { type: e.type === 'other' ? 'file' : e.type, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, size: 0, mtime: e.mtime, mtimeNsec: e.mtimeNsec };
    if (e.type === 'file') attrs.size = e.realSize;
    for (const [name, value] of e.xattrs) {
      if (name.startsWith('trusted.overlay.')) continue;
      (attrs.xattrs ??= {})[name] = value.toString('hex');
    }
    return attrs;
  }

  private resolveHardlink(put: PutEntry): void {
    const end = this.linkEnd(put.attrs.linkname!);
    switch (end.kind) {
      case 'file':
        put.attrs.size = end.size;
        return;
      case 'cross':
        this.sink.add(problem('warning', 'layer.hardlink.cross-layer', `hardlink target ${JSON.stringify(displayPath(end.target))} is not in this layer (size left 0)`, this.where(put.path)));
        return;
      case 'loop':
        this.sink.add(problem('error', 'layer.hardlink.loop', 'hardlink chain loops', this.where(put.path)));
        return;
      case 'not-file':
        this.sink.add(problem('warning', 'layer.hardlink.not-file', `hardlink to a ${end.type}`, this.where(put.path)));
    }
  }

  /** Follows hardlinks from `start` to what they end at, remembering the answer for every name passed. */
  private linkEnd(start: string): LinkEnd {
    const chain: string[] = [];
    const onChain = new Set<string>();
    let target = start;
    let end: LinkEnd;
    for (;;) {
      const known = this.linkEnds.get(target);
      if (known) {
        end = known;
        break;
      }
      const t = this.puts.get(target);
      if (!t) {
        end = { kind: 'cross', target };
        break;
      }
      if (t.attrs.type !== 'hardlink') {
        end = t.attrs.type === 'file' ? { kind: 'file', size: t.attrs.size } : { kind: 'not-file', type: t.attrs.type };
        break;
      }
      if (onChain.has(target)) {
        end = { kind: 'loop' };
        break;
      }
      onChain.add(target);
      chain.push(target);
      target = t.attrs.linkname!;
    }
    for (const p of chain) this.linkEnds.set(p, end);
    return end;
  }
}

type LinkEnd = { kind: 'file'; size: number } | { kind: 'cross'; target: string } | { kind: 'loop' } | { kind: 'not-file'; type: string };

/**
 * The cleaned form of the names tar writers produce (`./a/b`, `a/b/`), without the general algorithm; null when
 * the name needs it (`..`, `.` or empty components, absolute, NUL), and then {@link cleanLayerPath} decides.
 */
function fastClean(raw: string): string | null {
  let s = raw;
  if (s.startsWith('./')) s = s.slice(2);
  if (s.endsWith('/')) s = s.slice(0, -1);
  if (s === '' || s.charCodeAt(0) === 0x2f || s.includes('//') || s.includes('\0')) return null;
  if (s === '.' || s === '..' || s.startsWith('./') || s.startsWith('../') || s.endsWith('/.') || s.endsWith('/..') || s.includes('/./') || s.includes('/../'))
    return null;
  return s;
}

function printableFlag(f: string): string {
  const c = f.charCodeAt(0);
  return c >= 0x20 && c < 0x7f ? f : '\\x' + c.toString(16).padStart(2, '0');
}

/** Convenience: build LayerChanges from a list of tar entries. */
export function layerChangesFromEntries(entries: Iterable<TarEntry>, label: string): LayerChanges {
  const b = new LayerChangesBuilder(label);
  for (const e of entries) b.add(e);
  return b.finish();
}
