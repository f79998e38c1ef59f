import type { MergedRow } from '../../analysis/views.js';
import type { EntryType } from '../../model/types.js';
import type { KernelEntry } from './walk.js';

/**
 * Compare the kernel's view of a mounted stack with ours (mergedRows of the same stack).
 *
 * Expected kernel behaviour, which is NOT a disagreement:
 * - hardlinks: the kernel lists every name as a regular file (our 'hardlink' entries compare as 'file', with
 *   the linked file's size);
 * - whiteouts (char 0:0, xattr whiteouts) are invisible, and so is everything they delete: our view has
 *   neither;
 * - an opaque dir hides every lower child: so does our view;
 * - directory sizes are whatever the uppermost real dir reports (a filesystem detail, not content): not
 *   compared; device nodes, fifos and sockets have no size;
 * - the mount root itself is not compared (the kernel takes it from the uppermost layer's root dir).
 */

export type MountDiffKind = 'missing' | 'extra' | 'type' | 'size' | 'mode' | 'owner' | 'linkname' | 'device' | 'content';

export interface MountDifference {
  kind: MountDiffKind;
  /** Layer path (byte string). */
  path: string;
  /** Our side, rendered short (mode 0755, owner uid:gid, size in bytes, type name, link target as byte string). */
  expected?: string;
  /** The kernel's side. */
  actual?: string;
  /**
   * Index, within the stack, of the layer whose version our view shows. For 'extra': null, except against the
   * as-built view, where it is the layer whose directory holds the unexpected entry.
   */
  layer: number | null;
  message: string;
}

export interface CompareOptions {
  /** Owners are not comparable (user namespace: unmapped ids show as the overflow id). */
  ignoreOwner?: boolean;
  /** Device numbers are not available (find -printf). */
  ignoreDevices?: boolean;
  /** A rootless store: the kernel shows host ids, our side the containers' (Source.idMap). */
  idMap?: { uid(host: number): number; gid(host: number): number } | null;
  /** A regular file's content as our side expects it (hashing asked): sha256 and/or CRC-64, hex. */
  expectedContent?: (row: MergedRow) => { sha256?: string; crc64?: string } | null;
}

const oct = (m: number): string => m.toString(8).padStart(4, '0');
const kernelType = (t: EntryType): EntryType => (t === 'hardlink' ? 'file' : t);

export function compareViews(expected: readonly MergedRow[], kernel: readonly KernelEntry[], opts: CompareOptions = {}): MountDifference[] {
  const out: MountDifference[] = [];
  const k = new Map<string, KernelEntry>();
  for (const e of kernel) k.set(e.path, e);
  const seen = new Set<string>();
  for (const row of expected) {
    seen.add(row.path);
    const a = row.attrs;
    const e = k.get(row.path);
    if (!e) {
      out.push({ kind: 'missing', path: row.path, expected: kernelType(a.type), layer: row.layer, message: `in our view (from layer ${row.layer}) but not in the kernel's` });
      continue;
    }
    const want = kernelType(a.type);
    if (want !== e.type) {
      out.push({ kind: 'type', path: row.path, expected: want, actual: e.type, layer: row.layer, message: `type differs: ours ${want}, kernel's ${e.type}` });
      continue;
    }
    if (a.mode !== e.mode) out.push({ kind: 'mode', path: row.path, expected: oct(a.mode), actual: oct(e.mode), layer: row.layer, message: `mode differs: ours ${oct(a.mode)}, kernel's ${oct(e.mode)}` });
    const uid = opts.idMap ? opts.idMap.uid(e.uid) : e.uid;
    const gid = opts.idMap ? opts.idMap.gid(e.gid) : e.gid;
    if (!opts.ignoreOwner && (a.uid !== uid || a.gid !== gid)) {
      out.push({ kind: 'owner', path: row.path, expected: `${a.uid}:${a.gid}`, actual: `${uid}:${gid}`, layer: row.layer, message: `owner differs: ours ${a.uid}:${a.gid}, kernel's ${uid}:${gid}${opts.idMap ? ` (host ${e.uid}:${e.gid})` : ''}` });
    }
    const linkDiffers = want === 'symlink' && (a.linkname ?? '') !== (e.linkname ?? '');
    if ((want === 'file' || (want === 'symlink' && !linkDiffers)) && a.size !== e.size) {
      out.push({ kind: 'size', path: row.path, expected: String(a.size), actual: String(e.size), layer: row.layer, message: `size differs: ours ${a.size}, kernel's ${e.size}` });
    }
    if (linkDiffers) {
      out.push({ kind: 'linkname', path: row.path, expected: a.linkname ?? '', actual: e.linkname ?? '', layer: row.layer, message: 'symlink target differs' });
    }
    if (!opts.ignoreDevices && (want === 'char' || want === 'block') && (a.devMajor !== e.devMajor || a.devMinor !== e.devMinor)) {
      out.push({ kind: 'device', path: row.path, expected: `${a.devMajor}:${a.devMinor}`, actual: `${e.devMajor}:${e.devMinor}`, layer: row.layer, message: 'device numbers differ' });
    }
    if (want === 'file' && opts.expectedContent && (e.sha256 || e.crc64)) {
      const h = opts.expectedContent(row);
      if (h?.sha256 && e.sha256 && h.sha256 !== e.sha256) out.push({ kind: 'content', path: row.path, expected: `sha256:${h.sha256}`, actual: `sha256:${e.sha256}`, layer: row.layer, message: "content differs: the kernel's bytes are not the layer's" });
      else if (h?.crc64 && e.crc64 && h.crc64 !== e.crc64) out.push({ kind: 'content', path: row.path, expected: `crc64:${h.crc64}`, actual: `crc64:${e.crc64}`, layer: row.layer, message: "content differs: the kernel's bytes are not the layer's" });
    }
  }
  for (const e of kernel) {
    if (seen.has(e.path)) continue;
    out.push({ kind: 'extra', path: e.path, actual: e.type, layer: null, message: `in the kernel's view but not in ours` });
  }
  return out;
}
