import * as fs from 'node:fs';
import { cleanLayerPath, compareWalkOrder, joinPath, parentPath, baseName, bytesToPath, quotedPath as show } from '../../model/path.js';
import type { EntryType, LayerLayout } from '../../model/types.js';
import type { IdMap } from '../../model/idmap.js';
import { describeFsError, isNotFound } from '../../sources/evidence.js';
import { HostPaths } from '../../sources/walk/host-paths.js';
import type { LayerTable } from '../../model/layer-table.js';
import { decodeMemberHeaders, HeaderAssembler, paddingOf, type TarEntry } from './tarheader.js';
import { collectTreeXattrs, type TreeXattrs } from '../../sources/xattrs.js';
import { entryTypeOf } from '../../sources/fs-types.js';
import { InlineBodies, WorkerBodies, type BodyFinding, type BodySink } from './bodies.js';
import { readTarSplit, type SplitEntry } from './tarsplit-read.js';
import { ThreadError, threadsUsable } from './threads.js';
import { readTreeXattrs } from './xattr-tree.js';

export type { TarSplitEntry } from './tarsplit-read.js';

/**
 * Layer integrity from moby's tar-split (layerdb/sha256/<chainID>/tar-split.json.gz).
 *
 * `docker run` never re-reads layer data, so an edit in overlay2/<cache-id>/diff silently changes every
 * container started from the image. tar-split keeps the tar's headers and padding; with the diff dir's file
 * bodies it reassembles the original layer tar byte for byte, whose sha256 must be the diffID. We reassemble
 * into a hash only (nothing is written), and then close the blind spots of reassembly alone:
 * - headers come from tar-split, not from disk: decode them and compare with lstat (type, mode, owner, mtime,
 *   size, symlink target, device numbers, hardlink identity, xattrs, whiteouts and opaque markers);
 * - a tar-split entry's name is not hashed: it must equal the name in its own (hashed) header, otherwise an
 *   attacker could point the reassembly at an untouched copy of a file they modified;
 * - files added to the diff dir are never read: walk the dir and list what the layer does not know;
 * - zero-size members are never opened: they are checked by lstat like everything else.
 * Every finding is collected; nothing stops at the first. Memory is bounded by the number of entries (paths),
 * never by file sizes: tar-split and bodies are streamed.
 *
 * Reading, hashing and CRC-ing the bodies is bodies.ts's part, in a worker thread for big layers: this file
 * parses, decides what is read and checks everything else, on the other core. Nothing here recurses (a path can
 * have thousands of components) and paths longer than PATH_MAX are reached through /proc/self/fd anchors.
 *
 * Evidence is only read: files are opened O_NOFOLLOW|O_NOATIME, so their atimes stay (checked). Directory and
 * symlink atimes can still move under relatime (readdir and readlink have no O_NOATIME in Node; seen on ext4
 * with atimes older than a day): mount the evidence read-only or noatime when atimes matter.
 */

export type IntegrityFindingKind =
  | 'content'
  | 'size'
  | 'mode'
  | 'owner'
  | 'mtime'
  | 'type'
  | 'linkname'
  | 'xattr'
  | 'missing'
  | 'added'
  | 'unsafe'
  | 'unreadable';

export interface IntegrityFinding {
  kind: IntegrityFindingKind;
  /** Layer-relative path on disk (byte string; '' = the diff dir itself). For a whiteout: the path it hides. */
  path: string;
  /**
   * Short renderings of the two sides: mode '0755', owner 'uid:gid', mtime ISO-8601 seconds, size in bytes,
   * content CRC-64 hex, type names, xattr `name=hex`; for 'linkname', the raw targets as byte strings.
   */
  expected?: string;
  actual?: string;
  message: string;
}

export interface IntegrityResult {
  /** True when the reassembled tar hashes to the diffID and nothing was found. */
  ok: boolean;
  /** sha256 of the reassembled tar (`sha256:<hex>`); null when tar-split itself could not be read to the end. */
  computedDiffId: string | null;
  expectedDiffId: string;
  findings: IntegrityFinding[];
  /** Checks that could not be made, and oddities that are not findings (e.g. duplicate members). */
  notes: string[];
  stats: { members: number; filesRead: number; bytesRead: number; entriesOnDisk: number };
}

export interface VerifyLayerOptions {
  /** Host path of layerdb/sha256/<chainID>/tar-split.json.gz. */
  tarSplitPath: string;
  /** Host path of overlay2/<cache-id>/diff. */
  diffDir: string;
  /** `sha256:<hex>` from layerdb `diff` / the image config's rootfs.diff_ids. */
  diffId: string;
  /**
   * Where file bodies are read, CRC'd and hashed: 'threads' (a worker thread, beside the checks), 'inline' (on
   * the calling thread), or 'auto' (default: the thread for layers whose tar-split is big enough to pay for it).
   * The findings are the same. With a free core the thread makes a layer of small files ~1.6x faster; it costs
   * ~8% more CPU in all (the two threads touch the same files' dentries from two cores, two heaps), so on a host
   * whose every core is busy with other work (Linux shares CPU per session) it is ~10% slower than inline.
   */
  threads?: 'auto' | 'threads' | 'inline';
  /** A rootless store's id mapping: owners on disk are host ids, the layer's are its containers' (IdMap). */
  idMap?: IdMap | null;
  /**
   * How the dir holds the layer (LayerInfo.layout). 'aufs': the tar was extracted as it is, so its `.wh.` members
   * are plain files on disk and are checked like any other member (default 'diff': overlay form). 'full': the
   * whole tree as of this layer (vfs, btrfs, the first overlay driver's root), where a deleted path is simply
   * absent, no dir is marked opaque, files of the layers below are there too and may share inodes with them
   * (hard-linked copies). What the layer does not know is then found in its changes against the parent's tree
   * (`changes`), not by walking the dir.
   */
  layout?: LayerLayout;
  /**
   * The diff dir may hold whiteouts as `.wh.NAME` files and opaque markers as `.wh..wh..opq` files (a
   * containers/storage store mounted through fuse-overlayfs extracts layers so): those count as the members'.
   */
  whiteoutFiles?: boolean;
  /** For 'full': the layer's changes against its parent's tree (walk/tree-diff.ts), read on demand. */
  changes?: () => Promise<LayerTable>;
}

/** tar-split.json.gz of at least this size (about a thousand members) uses the threads. */
const WORKER_MIN_TARSPLIT = 64 << 10;

/** Headers of one member never legitimately reach this size; past it we keep hashing but stop decoding. */
const MAX_HEADER_BYTES = 64 << 20;
const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;
/**
 * overlay xattrs that change what a mount shows (a renamed dir's lower children, data from a lower file, an
 * entry hidden by an xattr whiteout). A layer applied from a tar never has them (its only overlay xattr is
 * opaque=y, from .wh..wh..opq): on a layer dir they were put there by hand. Others (origin, impure, nlink,
 * uuid) are overlayfs' bookkeeping and change nothing a container sees.
 */
const VISIBLE_OVERLAY_XATTR = /^(trusted|user)\.overlay\.(redirect|metacopy|whiteout|whiteouts)$/;
/** Labels a host's LSM sets on every file; a layer tar does not carry them (moby never exports them). */
const HOST_XATTRS = new Set(['security.selinux', 'security.apparmor', 'security.SMACK64']);

export async function verifyLayerIntegrity(opts: VerifyLayerOptions): Promise<IntegrityResult> {
  try {
    return await new LayerVerifier(opts).run();
  } catch (err) {
    if (!(err instanceof ThreadError)) throw err;
    // Nothing was written anywhere: verify the layer again with the bodies read on this thread.
    const r = await new LayerVerifier({ ...opts, threads: 'inline' }).run();
    r.notes.push(`${err.message}; the layer was verified again without it`);
    return r;
  }
}

class LayerVerifier {
  private readonly findings: IntegrityFinding[] = [];
  private readonly notes: string[] = [];
  private readonly stats = { members: 0, filesRead: 0, bytesRead: 0, entriesOnDisk: 0 };
  /** GNU sparse members met (tar-split cannot rebuild their bytes as stored). */
  private sparse = 0;
  private readonly diffDir: string;
  private readonly paths: HostPaths;
  /** Paths the layer puts on disk (whiteouts under the name they hide). */
  private readonly known = new Set<string>();
  /** Ancestors of known paths: moby creates missing parents itself, so they may exist without a member. */
  private readonly implied = new Set<string>(['']);
  private readonly opaqueExpected = new Set<string>();
  private readonly opaqueOnDisk = new Set<string>();
  /**
   * Members whose on-disk xattrs must equal what their header records (type checked; whiteouts excluded), with
   * those records (null = none). Compared once at the end against one read of the whole tree's xattrs.
   */
  private readonly xattrMembers = new Map<string, Map<string, Buffer> | null>();
  /**
   * Per dir below the diff dir: null = it and every dir above it are real dirs; otherwise why paths below it
   * cannot be reached safely (the topmost cause, inherited by every dir below).
   */
  private readonly dirState = new Map<string, Blocked | null>();
  /**
   * Findings made during reassembly, with their place in the order they would have had if every body were read
   * on the spot: 2m for member m's own checks, 2m+1 for its body (bodies.ts), 2m+1.5 for what comes between
   * members. Bodies' findings are merged in by this key when the reassembly ends.
   */
  private readonly order = new Map<IntegrityFinding, number>();
  private orderNow: number | null = null;

  private readonly full: boolean;

  constructor(private readonly opts: VerifyLayerOptions) {
    this.full = opts.layout === 'full';
    this.diffDir = opts.diffDir.replace(/\/+$/, '');
    this.paths = new HostPaths(this.diffDir);
  }

  async run(): Promise<IntegrityResult> {
    try {
      return await this.check();
    } finally {
      this.paths.close();
    }
  }

  private async check(): Promise<IntegrityResult> {
    const expected = this.opts.diffId;
    // The diff dir itself must be a real directory: a `diff` symlink planted in the evidence is not followed.
    // (The components above it are the caller's: the docker-root source walks them with lstat.)
    let rootProblem: string | null = null;
    try {
      const st = fs.lstatSync(this.paths.host(''));
      if (!st.isDirectory()) rootProblem = st.isSymbolicLink() ? 'is a symlink; not followed' : 'is not a directory';
    } catch (err) {
      rootProblem = describeFsError(err);
    }
    if (rootProblem !== null) {
      this.add(rootProblem.includes('symlink') ? 'unsafe' : 'unreadable', '', `the diff dir ${this.opts.diffDir} ${rootProblem}: nothing of the layer was checked`);
      return { ok: false, computedDiffId: null, expectedDiffId: expected, findings: this.findings, notes: this.notes, stats: this.stats };
    }
    // One getfattr walk of the whole tree, running beside the reassembly (it is I/O and another process).
    const treeXattrs = collectTreeXattrs(this.diffDir);
    let computed = await this.reassemble();
    if (this.sparse && computed !== expected) {
      // tar-split keeps a sparse member's expanded content, not the sparse map and data the diffID was computed
      // over: the tar cannot be rebuilt (moby's `docker save` of such a layer fails the same way).
      this.add('unreadable', '', `the layer holds ${this.sparse} GNU sparse member(s): tar-split cannot rebuild the tar its diffID was computed over, so the layer as a whole cannot be checked (each file was still checked against its CRC-64)`);
      computed = null;
    }
    if (this.full) await this.compareChanges();
    else this.walkDisk();
    let tree = await treeXattrs;
    if (tree === null) {
      tree = readTreeXattrs(
        this.paths,
        (rel, err) => this.add('unreadable', rel, `cannot read the xattrs of ${rel === '' ? 'the diff dir' : show(rel)}: ${describeFsError(err)}`),
        (rel, why) => this.notes.push(`xattrs of ${show(rel)} were not compared: ${why}`),
      );
    }
    this.compareXattrs(tree);
    // A whole tree marks no dir opaque, and its files share inodes with the layers below (the first overlay
    // driver hard-links them): neither says anything about the layer.
    if (!this.full) {
      this.checkOpaque();
      this.checkLinkCounts();
    } else this.findings.sort(byPathThenKind);
    const ok = computed !== null && computed === expected && this.findings.length === 0;
    return { ok, computedDiffId: computed, expectedDiffId: expected, findings: this.findings, notes: this.notes, stats: this.stats };
  }

  private dropAttributeFindings(rel: string): void {
    const keep = (f: IntegrityFinding) => f.path !== rel || f.kind === 'content' || f.kind === 'unsafe' || f.kind === 'unreadable';
    this.xattrMembers.delete(rel);
    const kept = this.findings.filter(keep);
    this.findings.length = 0;
    this.findings.push(...kept);
  }

  private add(kind: IntegrityFindingKind, path: string, message: string, expected?: string, actual?: string): void {
    const f: IntegrityFinding = { kind, path, message };
    if (expected !== undefined) f.expected = expected;
    if (actual !== undefined) f.actual = actual;
    this.findings.push(f);
    if (this.orderNow !== null) this.order.set(f, this.orderNow);
  }

  /** What fs calls take for rel: a string when ASCII, else the bytes; past PATH_MAX through an fd anchor. */
  private host(rel: string): string | Buffer {
    return this.paths.host(rel);
  }

  /** Put the bodies' findings where reading on the spot would have put them (see `order`). */
  private mergeBodyFindings(body: BodyFinding[]): void {
    this.orderNow = null;
    if (body.length === 0) return;
    const key = this.order;
    for (const b of body) {
      const f: IntegrityFinding = { kind: b.kind, path: b.path, message: b.message };
      if (b.expected !== undefined) f.expected = b.expected;
      if (b.actual !== undefined) f.actual = b.actual;
      key.set(f, 2 * b.member + 1);
      this.findings.push(f);
    }
    // Stable: findings with the same key keep the order they were made in.
    const merged = this.findings.slice().sort((a, b) => (key.get(a) ?? Number.MAX_VALUE) - (key.get(b) ?? Number.MAX_VALUE));
    this.findings.length = 0;
    this.findings.push(...merged);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Reassembly
  // ---------------------------------------------------------------------------------------------------------

  private useThreads(): boolean {
    const mode = this.opts.threads ?? 'auto';
    if (mode !== 'auto') return mode === 'threads';
    let size = 0;
    try {
      const st = fs.lstatSync(this.opts.tarSplitPath);
      size = st.isFile() ? st.size : 0;
    } catch {
      size = 0; // reassemble() reports it
    }
    return size >= WORKER_MIN_TARSPLIT && threadsUsable();
  }

  private async reassemble(): Promise<string | null> {
    const threads = this.useThreads();
    const sink: BodySink = threads ? new WorkerBodies(this.diffDir) : new InlineBodies(this.diffDir);
    const entries: AsyncGenerator<SplitEntry[]> = readTarSplit(this.opts.tarSplitPath);
    const asm = new HeaderAssembler(this.opts.tarSplitPath);
    let pending: Buffer[] = [];
    let pendingLen = 0;
    /** Padding after the previous member's body, at the start of the next segment bytes. */
    let pad = 0;
    const seen = new Set<string>();
    let failed: unknown = null;
    this.orderNow = 1.5;
    try {
      for await (const batch of entries) {
        for (const e of batch) {
          this.orderNow = 2 * this.stats.members + 1.5;
          if (e.type === 2) {
            if (e.text === null) continue; // no bytes (and nothing to hash)
            const bytes = sink.segment(e.text, pending);
            if (pendingLen + bytes.length <= MAX_HEADER_BYTES) pending.push(bytes);
            pendingLen += bytes.length;
            const p = sink.room();
            if (p) await p;
            continue;
          }
          if (e.type !== 1) {
            this.add('unreadable', '', `tar-split entry of unknown type ${e.typeText}: the layer cannot be reassembled as moby would`);
            continue;
          }
          const m = ++this.stats.members;
          this.orderNow = 2 * m;
          const entryName = e.name;
          const entrySize = e.size;
          const segment = pendingLen > MAX_HEADER_BYTES ? null : pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
          pending = [];
          pendingLen = 0;

          let header: TarEntry | null = null;
          let padAfter: number | null = null;
          try {
            if (segment === null) throw new Error(`more than ${MAX_HEADER_BYTES} bytes of headers`);
            if (segment.length < pad) throw new Error('segment shorter than the previous body padding');
            ({ entry: header, padAfter } = decodeMemberHeaders(segment.subarray(pad), asm));
          } catch (err) {
            this.add('unreadable', safeClean(entryName), `tar header of member ${show(entryName)} cannot be decoded from tar-split (${(err as Error).message}); its attributes are not checked`);
          }
          const rawName = header?.name ?? entryName;
          if (header && header.name !== entryName) {
            this.add('unsafe', safeClean(header.name), `tar-split entry names ${show(entryName)} but its (hashed) tar header names ${show(header.name)}: tar-split was edited; the header's name is checked`, header.name, entryName);
          }
          // Body bytes in the tar: 0 for header-only types whatever their size field says (as Go's reader). A GNU
          // sparse member is recorded by tar-split as Go reads it: its expanded content, padded as such.
          const body = header ? (header.sparse ? header.realSize : header.size) : entrySize;
          if (header?.sparse) {
            this.sparse++;
            padAfter = paddingOf(body);
          }
          if (header && body !== entrySize) {
            if (header.type === 'file' || header.type === 'other') {
              this.add('unsafe', safeClean(rawName), `tar-split entry says ${entrySize} body bytes but the tar header says ${body}: tar-split was edited`, String(body), String(entrySize));
            } else {
              // Go's reader keeps a header-only member's size field (tar-split records it) but reads no body.
              this.notes.push(`${header.type} member ${show(rawName)} has a size field of ${entrySize}; it has no body (docker save would misassemble it)`);
            }
          }
          pad = padAfter ?? paddingOf(body);
          if (header?.typeflag === 'g') {
            // Not a file: moby skips a PAX global header when it applies the layer, and applies none of its records.
            this.notes.push(`PAX global header ${show(rawName)} in the layer: ignored, as the engine ignored it`);
            continue;
          }

          let rel: string;
          try {
            if (rawName.startsWith('/')) throw new Error('absolute path');
            rel = cleanLayerPath(rawName);
          } catch (err) {
            this.add('unsafe', rawName, `member name ${show(rawName)} is refused (${err instanceof Error ? err.message : String(err)}); not opened`);
            continue;
          }
          if (seen.has(rel)) {
            // Apply is last-wins: the earlier member's attributes are not what the disk should show. Its content
            // findings stay (tar-split reads the one on-disk file for both, so they cannot both match anyway).
            this.notes.push(`member ${show(rel)} appears more than once in the layer; the last one is what is on disk`);
            this.dropAttributeFindings(rel);
          }
          seen.add(rel);
          const crc = e.payload !== null && e.payload.length === 8 ? e.payload : null;
          if (body > 0 && crc === null) this.add('unreadable', rel, `tar-split entry of ${show(rel)} has no 8-byte CRC-64 payload; its content is hashed but not checked on its own`);
          const st = this.member(rel, header, body);
          if (st !== null) {
            const p = sink.file({ member: m, rel, size: body, ino: st.ino, dev: st.dev, crc }) ?? sink.room();
            if (p) await p;
          }
        }
      }
    } catch (err) {
      failed = err;
    }
    // Every body sent is read even when tar-split broke off: their findings stand.
    const result = await sink.finish();
    this.stats.filesRead = result.filesRead;
    this.stats.bytesRead = result.bytesRead;
    this.mergeBodyFindings(result.findings);
    if (failed !== null) {
      this.add('unreadable', '', `tar-split ${this.opts.tarSplitPath} cannot be read to the end: ${describeFsError(failed)}`);
      return null;
    }
    return result.digest;
  }

  // ---------------------------------------------------------------------------------------------------------
  // One member
  // ---------------------------------------------------------------------------------------------------------

  /**
   * Check one member against the disk. Returns the lstat of its body's file when the body is to be read (a
   * regular file, of the type the header says, reached through real dirs only), else null.
   */
  private member(rel: string, h: TarEntry | null, body: number): fs.Stats | null {
    const base = baseName(rel);
    const parent = parentPath(rel);
    if (base.startsWith('.wh.') && this.opts.layout !== 'aufs') {
      if (base === '.wh..wh..opq') {
        this.opaqueExpected.add(parent);
        this.markKnown(parent);
        if (this.opts.whiteoutFiles && this.isMarkerFile(rel)) {
          this.markKnown(rel);
          this.opaqueOnDisk.add(parent);
        }
        return null;
      }
      if (base.startsWith('.wh..wh.') && parent === '') {
        this.notes.push(`AUFS metadata member ${show(rel)} is skipped on apply (moby does the same)`);
        return null;
      }
      const target = joinPath(parent, base.slice(4));
      this.markKnown(target);
      if (this.opts.whiteoutFiles && this.isMarkerFile(rel)) this.markKnown(rel);
      else this.checkWhiteout(target, h);
      return null;
    }
    this.markKnown(rel);
    if (rel === '') return null; // moby skips the root member on apply: the diff dir keeps its own attributes.

    const blocked = this.ancestorsBlocked(rel);
    if (blocked) {
      this.add(blocked.kind, rel, `${show(rel)} cannot be reached safely: ${blocked.why}`);
      return null;
    }
    // Number stats here (BigIntStats cost ~14 BigInts an entry, which showed as GC on layers of small files);
    // the few places that need exact inode numbers or nanoseconds lstat again with bigint.
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.host(rel));
    } catch (err) {
      if (isNotFound(err)) this.add('missing', rel, `${show(rel)} is in the layer but not in the diff dir`, h ? typeName(h) : undefined);
      else this.add('unreadable', rel, `cannot lstat ${show(rel)}: ${describeFsError(err)}`);
      return null;
    }
    const typeOk = h ? this.checkAttrs(rel, h, st) : true;
    if (body === 0) return null;
    if (!typeOk || !st.isFile()) return null; // never open something that is not the regular file we expect
    return st;
  }

  private markKnown(rel: string): void {
    this.known.add(rel);
    let p = parentPath(rel);
    while (p !== '' && !this.implied.has(p)) {
      this.implied.add(p);
      p = parentPath(p);
    }
  }

  /** Every ancestor of rel (below the diff dir) must be a real directory, not a symlink. */
  private ancestorsBlocked(rel: string): Blocked | null {
    const parent = parentPath(rel);
    return parent === '' ? null : this.dirStateOf(parent);
  }

  /**
   * Whether dir and every dir above it (below the diff dir) are real dirs, each lstat'ed once. Iterative: up to
   * the nearest dir already known, then down, so a member N levels deep costs one step when its parent is known
   * (walk order) and N steps once otherwise, never a recursion N deep.
   */
  private dirStateOf(dir: string): Blocked | null {
    const below: string[] = [];
    let cur = dir;
    let state: Blocked | null | undefined;
    while (cur !== '' && (state = this.dirState.get(cur)) === undefined) {
      below.push(cur);
      cur = parentPath(cur);
    }
    if (cur === '') state = null; // the diff dir itself, checked before anything else
    for (let i = below.length - 1; i >= 0; i--) {
      const d = below[i]!;
      if (state === null) {
        try {
          const st = fs.lstatSync(this.host(d));
          if (st.isSymbolicLink()) state = { kind: 'unsafe', why: `its ancestor ${show(d)} is a symlink (not followed)` };
          else if (!st.isDirectory()) state = { kind: 'type', why: `its ancestor ${show(d)} is not a directory` };
        } catch (err) {
          state = isNotFound(err) ? { kind: 'missing', why: `its ancestor ${show(d)} does not exist` } : { kind: 'unreadable', why: `its ancestor ${show(d)}: ${describeFsError(err)}` };
        }
      }
      this.dirState.set(d, state!);
    }
    return state!;
  }

  /** Compare a decoded header with lstat. Returns false when the type differs (nothing else is compared). */
  private checkAttrs(rel: string, h: TarEntry, st: fs.Stats): boolean {
    const want = h.type === 'other' ? null : h.type;
    if (want === null) {
      this.notes.push(`member ${show(rel)} has tar type '${h.typeflag}', which this check does not model; its attributes were not compared`);
      return false;
    }
    if (want === 'hardlink') {
      this.checkHardlink(rel, h, st);
      this.trackLinks(rel, st);
      return true;
    }
    const have = entryTypeOf(st);
    if (have !== want) {
      this.add('type', rel, `${show(rel)} is a ${have} on disk, the layer has a ${want}`, want, have);
      return false;
    }
    this.checkCommon(rel, h, st, want);
    if (want === 'file') this.trackLinks(rel, st);
    if (want === 'file' && Number(st.size) !== h.realSize) {
      this.add('size', rel, `${show(rel)} is ${st.size} bytes on disk, ${h.realSize} in the layer`, String(h.realSize), String(st.size));
    }
    if (want === 'symlink') {
      let target: string;
      try {
        target = bytesToPath(fs.readlinkSync(this.host(rel), { encoding: 'buffer' }));
      } catch (err) {
        this.add('unreadable', rel, `cannot read the symlink ${show(rel)}: ${describeFsError(err)}`);
        return true;
      }
      if (target !== h.linkname) this.add('linkname', rel, `symlink ${show(rel)} points to ${show(target)} on disk, to ${show(h.linkname)} in the layer`, h.linkname, target);
    }
    if (want === 'char' || want === 'block') {
      const [maj, min] = devNumbers(BigInt(st.rdev));
      if (maj !== h.devMajor || min !== h.devMinor) this.add('type', rel, `device ${show(rel)} is ${maj}:${min} on disk, ${h.devMajor}:${h.devMinor} in the layer`, `${want} ${h.devMajor}:${h.devMinor}`, `${want} ${maj}:${min}`);
    }
    this.xattrMembers.set(rel, h.xattrs.size > 0 ? h.xattrs : null);
    return true;
  }

  /** The owner of a file on disk as the layer's tar records it (through the store's id map, when it has one). */
  private owner(st: { uid: number | bigint; gid: number | bigint }): { uid: number; gid: number } {
    const uid = Number(st.uid);
    const gid = Number(st.gid);
    const m = this.opts.idMap;
    return m ? { uid: m.uid(uid), gid: m.gid(gid) } : { uid, gid };
  }

  /** mode (not for symlinks: Linux has no symlink modes), owner, mtime (seconds). */
  private checkCommon(rel: string, h: TarEntry, st: fs.Stats, want: EntryType): void {
    const mode = st.mode & 0o7777;
    if (want !== 'symlink' && mode !== h.mode) this.add('mode', rel, `${show(rel)} has mode ${octal(mode)} on disk, ${octal(h.mode)} in the layer`, octal(h.mode), octal(mode));
    const { uid, gid } = this.owner(st);
    if (uid !== h.uid || gid !== h.gid) this.add('owner', rel, `${show(rel)} is owned by ${uid}:${gid} on disk, ${h.uid}:${h.gid} in the layer`, `${h.uid}:${h.gid}`, `${uid}:${gid}`);
    // mtimeMs is a double: near a second boundary it can round up to the next second, so confirm with ns.
    let mtime = Math.floor(st.mtimeMs / 1000);
    if (mtime !== h.mtime) {
      try {
        mtime = floorSeconds(fs.lstatSync(this.host(rel), { bigint: true }).mtimeNs);
      } catch (err) {
        this.add('unreadable', rel, `cannot lstat ${show(rel)} again: ${describeFsError(err)}`);
        return;
      }
    }
    if (mtime !== h.mtime) this.add('mtime', rel, `${show(rel)} was modified at ${iso(mtime)} on disk, ${iso(h.mtime)} in the layer`, iso(h.mtime), iso(mtime));
  }

  /** Names the layer gives each multiply-linked inode (files with nlink 1 cannot hide a name, so are not kept). */
  private readonly linkNames = new Map<string, { path: string; nlink: number; names: Set<string> }>();

  private trackLinks(rel: string, lst: fs.Stats): void {
    if (lst.nlink <= 1 || !lst.isFile()) return;
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(this.host(rel), { bigint: true }); // exact inode number for the key
    } catch (err) {
      this.add('unreadable', rel, `cannot lstat ${show(rel)} again: ${describeFsError(err)}`);
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    let e = this.linkNames.get(key);
    if (!e) this.linkNames.set(key, (e = { path: rel, nlink: Number(st.nlink), names: new Set() }));
    e.names.add(rel);
  }

  /**
   * An inode with more names on disk than the layer gives it shares its bytes with a name elsewhere: outside the
   * diff dir (a handle an attacker keeps to rewrite the layer later), or an added name (reported as added too).
   */
  private checkLinkCounts(): void {
    for (const e of this.linkNames.values()) {
      if (e.nlink > e.names.size) {
        this.add('linkname', e.path, `${show(e.path)} has ${e.nlink} names on disk but ${e.names.size} in the layer: another name (outside this layer, or added) shares its inode, so writing through it changes this layer`, `${e.names.size} names`, `${e.nlink} names`);
      }
    }
    this.findings.sort(byPathThenKind);
  }

  private checkHardlink(rel: string, h: TarEntry, lst: fs.Stats): void {
    let st: fs.BigIntStats | null = null;
    try {
      if (lst.nlink > 1) st = fs.lstatSync(this.host(rel), { bigint: true });
    } catch {
      st = null; // reported as not the same inode
    }
    let target: string;
    try {
      target = cleanLayerPath(h.linkname);
    } catch (err) {
      this.add('unsafe', rel, `hardlink ${show(rel)} names an unsafe target ${show(h.linkname)}: ${(err as Error).message}`);
      return;
    }
    const blocked = this.ancestorsBlocked(target);
    let tst: fs.BigIntStats | null = null;
    if (!blocked) {
      try {
        tst = fs.lstatSync(this.host(target), { bigint: true });
      } catch {
        tst = null;
      }
    }
    if (tst === null || st === null || tst.ino !== st.ino || tst.dev !== st.dev) {
      this.add('linkname', rel, `${show(rel)} should be a hardlink to ${show(target)} but is ${tst === null ? 'not (the target is absent)' : 'a separate inode'} on disk`, target, tst === null ? '(target absent)' : '(separate inode)');
    }
  }

  /** A `.wh.` marker file as containers/storage extracts one for fuse-overlayfs: a regular file, reached safely. */
  private isMarkerFile(rel: string): boolean {
    if (this.ancestorsBlocked(rel)) return false;
    try {
      return fs.lstatSync(this.host(rel)).isFile();
    } catch {
      return false;
    }
  }

  private checkWhiteout(target: string, h: TarEntry | null): void {
    const blocked = this.ancestorsBlocked(target);
    if (blocked) {
      this.add(blocked.kind, target, `whiteout ${show(target)} cannot be reached safely: ${blocked.why}`);
      return;
    }
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(this.host(target), { bigint: true });
    } catch (err) {
      if (this.full && isNotFound(err)) return;
      if (isNotFound(err)) this.add('missing', target, `the layer deletes ${show(target)} but its whiteout (char device 0:0) is not in the diff dir: the lower file shows again`, 'char 0:0 (whiteout)');
      else this.add('unreadable', target, `cannot lstat ${show(target)}: ${describeFsError(err)}`);
      return;
    }
    const have = entryTypeOf(st);
    if (this.full) {
      this.add('missing', target, `the layer deletes ${show(target)}, but the layer's tree still has a ${have} there: the deleted file shows again`, '(absent)', have);
      return;
    }
    const [maj, min] = have === 'char' ? devNumbers(st.rdev) : [0, 0];
    if (have !== 'char' || maj !== 0 || min !== 0) {
      this.add('type', target, `the layer deletes ${show(target)}, but the diff dir has a ${have === 'char' ? `char device ${maj}:${min}` : have} there instead of a whiteout`, 'char 0:0 (whiteout)', have === 'char' ? `char ${maj}:${min}` : have);
      return;
    }
    // moby mknods whiteouts with mode 0 and chowns them to the header's owner; it sets no times.
    const mode = Number(st.mode & 0o7777n);
    if (mode !== 0) this.add('mode', target, `whiteout ${show(target)} has mode ${octal(mode)}, moby creates them with 0000`, octal(0), octal(mode));
    const owner = this.owner(st);
    if (h && (owner.uid !== h.uid || owner.gid !== h.gid)) {
      this.add('owner', target, `whiteout ${show(target)} is owned by ${owner.uid}:${owner.gid}, ${h.uid}:${h.gid} in the layer`, `${h.uid}:${h.gid}`, `${owner.uid}:${owner.gid}`);
    }
  }

  /**
   * xattrs the tar records (PAX SCHILY.xattr.*) against the content xattrs on disk (overlay's own and host LSM
   * labels excluded), for every member; content xattrs on entries that have no member of their own (implied
   * parent dirs, whiteouts) are extra too. Opaque markers are collected here for checkOpaque.
   */
  private compareXattrs(tree: TreeXattrs): void {
    for (const [rel, want] of this.xattrMembers) {
      const have = tree.get(rel);
      if (want) {
        for (const [name, value] of want) {
          const got = have?.get(name);
          if (got === undefined) this.add('xattr', rel, `${show(rel)} lacks the xattr ${name} the layer records`, `${name}=${value.toString('hex')}`, 'absent');
          else if (!got.equals(value)) this.add('xattr', rel, `xattr ${name} of ${show(rel)} differs from the layer's`, `${name}=${value.toString('hex')}`, `${name}=${got.toString('hex')}`);
        }
      }
      if (have) this.extraXattrs(rel, have, want);
    }
    for (const [rel, have] of tree) {
      this.noteOpaque(rel, have);
      // Members were compared above; unknown entries are reported as added already.
      if (this.xattrMembers.has(rel) || !(this.known.has(rel) || this.implied.has(rel))) continue;
      this.extraXattrs(rel, have, null);
    }
  }

  private extraXattrs(rel: string, have: Map<string, Buffer>, want: Map<string, Buffer> | null): void {
    for (const [name, value] of have) {
      if (!want?.has(name) && VISIBLE_OVERLAY_XATTR.test(name)) {
        this.add('xattr', rel, `${rel === '' ? 'the diff dir' : show(rel)} has ${name}, which changes what an overlay mount shows there; no layer tar produces it`, 'absent', `${name}=${value.toString('hex')}`);
        continue;
      }
      if (want?.has(name) || OVERLAY_XATTR.test(name) || HOST_XATTRS.has(name)) continue;
      this.add('xattr', rel, `${rel === '' ? 'the diff dir' : show(rel)} has an xattr ${name} the layer does not record`, 'absent', `${name}=${value.toString('hex')}`);
    }
  }

  private noteOpaque(rel: string, xattrs: Map<string, Buffer>): void {
    const v = xattrs.get('trusted.overlay.opaque') ?? xattrs.get('user.overlay.opaque');
    if (v === undefined) return;
    if (v.toString('latin1') === 'y') this.opaqueOnDisk.add(rel);
    // 'x' marks a dir whose children may be xattr whiteouts (hidden entries): not something a tar gives.
    else this.add('xattr', rel, `${rel === '' ? 'the diff dir' : show(rel)} has overlay.opaque=${JSON.stringify(v.toString('latin1'))}, which no layer tar produces (the kernel reads 'x' as "entries here may be whiteouts")`, 'absent', `overlay.opaque=${v.toString('hex')}`);
  }

  // ---------------------------------------------------------------------------------------------------------
  // What the layer does not know
  // ---------------------------------------------------------------------------------------------------------

  /** Walk the diff dir (lstat-free readdir with d_type; symlinks are never entered) and list added entries. */
  private walkDisk(): void {
    const stack: string[] = [''];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let names: fs.Dirent[];
      try {
        names = fs.readdirSync(this.host(dir), { encoding: 'latin1', withFileTypes: true }) as unknown as fs.Dirent[];
      } catch (err) {
        this.add('unreadable', dir, `cannot list ${dir === '' ? 'the diff dir' : show(dir)}: ${describeFsError(err)}`);
        continue;
      }
      const addedHere: string[] = [];
      for (const d of names) {
        const rel = joinPath(dir, d.name);
        this.stats.entriesOnDisk++;
        const isKnown = this.known.has(rel) || this.implied.has(rel);
        if (!isKnown) addedHere.push(rel);
        if (d.isDirectory()) stack.push(rel);
      }
      for (const rel of addedHere) this.reportAdded(rel);
    }
  }

  /**
   * A whole tree: what its changes against the parent's tree hold that the layer does not. A path put there is
   * added (or changed) by hand; a path of the layers below that is gone without the layer deleting it (its own
   * whiteout, an opaque dir or a replaced parent above it) was deleted by hand.
   */
  private async compareChanges(): Promise<void> {
    if (!this.opts.changes) {
      this.notes.push("the layer's tree was not compared with its parent's: entries added to it by hand are not looked for");
      return;
    }
    let table: LayerTable;
    try {
      table = await this.opts.changes();
    } catch (err) {
      this.add('unreadable', '', `the layer's changes against its parent's tree cannot be computed: ${(err as Error).message}`);
      return;
    }
    for (const p of table.problems) if (p.severity === 'error') this.add('unreadable', '', `comparing the layer's tree with its parent's: ${p.message}${p.path ? ` (${p.path})` : ''}`);
    const added: string[] = [];
    for (let i = 0; i < table.n; i++) {
      const rel = table.path(i);
      this.stats.entriesOnDisk++;
      if (!table.isWhiteout(i)) {
        if (!this.known.has(rel) && !this.implied.has(rel)) added.push(rel);
        continue;
      }
      if (this.known.has(rel) || this.deletedAbove(rel)) continue;
      this.add('missing', rel, `${show(rel)} of the layers below is gone from this layer's tree, but the layer does not delete it`, '(present)', '(absent)');
    }
    for (const rel of added) this.reportAdded(rel);
  }

  /**
   * A path below a dir the layer makes opaque. (The engine's changes list no path below a deleted dir or below
   * a non-dir that replaced a dir: only paths whose parent is a dir in both trees.)
   */
  private deletedAbove(rel: string): boolean {
    for (let at = rel.lastIndexOf('/'); at > 0; at = rel.lastIndexOf('/', at - 1)) if (this.opaqueExpected.has(rel.slice(0, at))) return true;
    return this.opaqueExpected.has('');
  }

  private reportAdded(rel: string): void {
    let what = 'entry';
    let actual: string | undefined;
    try {
      const st = fs.lstatSync(this.host(rel), { bigint: true });
      what = entryTypeOf(st);
      if (what === 'char' && st.rdev === 0n) what = 'whiteout (char 0:0)';
      actual = `${what} ${octal(Number(st.mode & 0o7777n))} ${this.owner(st).uid}:${this.owner(st).gid} ${what === 'file' ? st.size + ' bytes' : ''}`.trim();
    } catch {
      // reported without details
    }
    const hint = what.startsWith('whiteout') ? ': it hides the lower layers\' file of that name' : '';
    this.add('added', rel, `${show(rel)} (${what}) is in the ${this.full ? "layer's tree (not in the tree below)" : 'diff dir'} but not in the layer${hint}`, undefined, actual);
  }

  private checkOpaque(): void {
    for (const d of this.opaqueExpected) {
      if (!this.opaqueOnDisk.has(d)) this.add('xattr', d, `the layer makes ${d === '' ? 'the root' : show(d)} opaque, but it lacks trusted.overlay.opaque=y on disk: lower files show through`, 'trusted.overlay.opaque=79', 'absent');
    }
    for (const d of this.opaqueOnDisk) {
      if (!this.opaqueExpected.has(d)) this.add('xattr', d, `${d === '' ? 'the diff dir' : show(d)} is marked opaque on disk (hides every lower file below it) but the layer has no .wh..wh..opq for it`, 'absent', 'trusted.overlay.opaque=79');
    }
    this.findings.sort(byPathThenKind);
  }
}

function typeName(h: TarEntry): string {
  return h.type === 'other' ? `tar type '${h.typeflag}'` : h.type;
}


/** Linux dev_t → (major, minor), glibc's encoding. */
function devNumbers(rdev: bigint): [number, number] {
  return [Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)), Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn))];
}

function floorSeconds(ns: bigint): number {
  const s = ns / 1_000_000_000n;
  return Number(ns < 0n && s * 1_000_000_000n !== ns ? s - 1n : s);
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function iso(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? String(sec) : d.toISOString().replace('.000Z', 'Z');
}


function safeClean(raw: string): string {
  try {
    return cleanLayerPath(raw);
  } catch {
    return raw;
  }
}

interface Blocked {
  kind: IntegrityFindingKind;
  why: string;
}

const KIND_ORDER: IntegrityFindingKind[] = ['unsafe', 'unreadable', 'missing', 'added', 'type', 'content', 'size', 'linkname', 'mode', 'owner', 'mtime', 'xattr'];

/** Findings in walk order of their paths, then by kind (most serious first). */
function byPathThenKind(a: IntegrityFinding, b: IntegrityFinding): number {
  return compareWalkOrder(a.path, b.path) || KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind);
}
