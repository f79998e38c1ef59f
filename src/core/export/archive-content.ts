import * as fs from 'node:fs';
import type { Source } from '../model/source.js';
import type { ImageInfo } from '../model/types.js';
import { baseName, cleanLayerPath, displayPath } from '../model/path.js';
import { openNoFollow } from '../sources/evidence.js';
import { TarFileReader, rangeStream, readTarStream, decompress, peek, sniffCompression, type StreamEntry } from '../sources/tar/index.js';
import type { TarEntry } from '../sources/tar/header.js';
import { resolveMember, type Member } from '../sources/archive/store.js';
import { WH_PLNK } from '../sources/tar/layer-changes.js';
import { ContentError, safeHostPath, type ContentReader } from './content.js';

/**
 * File contents from image archives we can read again: a `docker save` / OCI archive *file* that is not
 * compressed as a whole (its members are found by seeking), and OCI layout *directories*. Archives read once
 * (stdin, `docker:REF`, a .tar.gz of a save) cannot be re-read: no reader for them.
 *
 * A layer is a tar (possibly gzip/zstd) stored as a member or blob; the file we want is found by streaming that
 * tar from its start, so {@link ContentReader.forEach} asks for every file it needs from one layer in a single
 * pass; `read` (one file) costs one pass over its layer.
 */
export function archiveReader(source: Source, image: ImageInfo): ContentReader | null {
  if (source.kind !== 'docker-archive' && source.kind !== 'oci-archive' && source.kind !== 'oci-dir') return null;
  const loc = source.location;
  if (loc === '-' || /^(docker|podman):/.test(loc)) return null;
  if (image.layers.some((l) => !l.location)) return null;
  let st: fs.Stats;
  try {
    st = fs.statSync(loc);
  } catch {
    return null;
  }
  let layerBytes: (layer: number) => AsyncIterable<Buffer>;
  let release = () => {};
  if (st.isDirectory()) {
    layerBytes = (layer) => {
      const rel = cleanLayerPath(image.layers[layer]!.location!);
      const host = safeHostPath(loc, rel);
      const fd = openNoFollow(host);
      const size = fs.fstatSync(fd).size;
      return closing(rangeStream(fd, 0, size), fd);
    };
  } else if (st.isFile()) {
    const fd = openNoFollow(fs.realpathSync(loc));
    const head = Buffer.alloc(512);
    fs.readSync(fd, head, 0, head.length, 0);
    if (sniffCompression(head) !== 'none') {
      fs.closeSync(fd);
      return null;
    }
    release = () => {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    };
    // Members listed once, lazily (bodies skipped: a seek per member).
    let index: { members: Map<string, Member>; entries: Map<string, TarEntry>; reader: TarFileReader } | null = null;
    const list = () => {
      if (index) return index;
      const reader = new TarFileReader(fd, { end: fs.fstatSync(fd).size, label: loc });
      const members = new Map<string, Member>();
      const entries = new Map<string, TarEntry>();
      for (const e of reader.entries()) {
        let p: string;
        try {
          p = cleanLayerPath(e.name);
        } catch {
          continue;
        }
        const type = e.type === 'file' || e.type === 'dir' || e.type === 'symlink' || e.type === 'hardlink' ? e.type : 'other';
        let linkname = e.linkname;
        if (type === 'hardlink') {
          try {
            linkname = cleanLayerPath(e.linkname);
          } catch {
            continue;
          }
        }
        members.set(p, { path: p, type, linkname, size: e.size });
        entries.set(p, e);
      }
      index = { members, entries, reader };
      return index;
    };
    layerBytes = (layer) => {
      const ix = list();
      const where = cleanLayerPath(image.layers[layer]!.location!);
      let resolved: string;
      try {
        resolved = resolveMember(ix.members, where);
      } catch (err) {
        throw new ContentError('content.no-layer', `layer ${layer}: ${(err as Error).message}`, loc);
      }
      return ix.reader.bodyStream(ix.entries.get(resolved)!);
    };
  } else return null;

  /** A layer's members with their cleaned paths (unsafe names left out, as the analysis leaves them out). */
  async function* members(layer: number): AsyncGenerator<{ path: string; entry: StreamEntry }> {
    const label = `${loc}:${image.layers[layer]!.location}`;
    const { head, stream } = await peek(layerBytes(layer), 512);
    for await (const e of readTarStream(decompress(stream, sniffCompression(head), { label }), { label })) {
      if (e.type === 'other') continue;
      let p: string;
      try {
        p = cleanLayerPath(e.name);
      } catch {
        continue;
      }
      yield { path: p, entry: e };
    }
  }

  /** The pool path a hardlink's target names, when it is in AUFS's hardlink pool. */
  function poolLink(linkname: string): string | null {
    try {
      const t = cleanLayerPath(linkname);
      return t.startsWith(WH_PLNK) ? t : null;
    } catch {
      return null;
    }
  }

  /** For each wanted path stored more than once in the layer, how many copies come before the last. */
  async function occurrences(layer: number, wanted: ReadonlySet<string>): Promise<Map<string, number>> {
    const n = new Map<string, number>();
    for await (const { path } of members(layer)) if (wanted.has(path)) n.set(path, (n.get(path) ?? -1) + 1);
    return n;
  }

  const reader: ContentReader = {
    kind: 'archive',
    async *read(img, layer, path, expectedSize) {
      let found = false;
      const chunks: Buffer[] = [];
      // One file: stream the layer until it is met. Its body is only valid during the callback, so copy it.
      await reader.forEach!(img, layer, new Set([path]), async (_p, body) => {
        found = true;
        for await (const c of body) chunks.push(Buffer.from(c));
      });
      if (!found) throw new ContentError('content.missing', `layer ${layer} of the archive holds no file at this path`, '/' + displayPath(path));
      const n = chunks.reduce((a, c) => a + c.length, 0);
      if (expectedSize !== undefined && n !== expectedSize) throw new ContentError('content.size-mismatch', `layer ${layer}: ${n} bytes in the archive, ${expectedSize} expected`, '/' + displayPath(path));
      yield* chunks;
    },
    async forEach(img, layer, wanted, cb) {
      if (img.id !== image.id && img.layers[layer]?.diffId !== image.layers[layer]?.diffId) throw new ContentError('content.other-image', 'reader made for another image', null);
      const left = new Set(wanted);
      if (!left.size) return left;
      // A path stored twice in one layer: the analysis keeps the last copy, as an extracting engine does, so the
      // bytes must come from the last one too. Only a layer said to hold duplicates pays a first pass to count.
      const table = await source.readLayer(image, layer);
      const skip = table.problems.some((p) => p.code === 'layer.duplicate') ? await occurrences(layer, left) : null;
      // Hardlinks into AUFS's pool are files of their own made of a pool file's bytes (see layer-changes.ts):
      // which pool file (base name, how many of that name came before) is learnt here, its bytes read after.
      const pooled: { path: string; base: string; nth: number }[] = [];
      const poolSeen = new Map<string, number>();
      const it = members(layer);
      try {
        for await (const { path: p, entry: e } of it) {
          if (e.type === 'file' && p.startsWith(WH_PLNK)) poolSeen.set(baseName(p), (poolSeen.get(baseName(p)) ?? 0) + 1);
          if (!left.has(p)) continue;
          const earlier = skip?.get(p);
          if (earlier) {
            // an earlier copy (of any type): the one kept comes later
            skip!.set(p, earlier - 1);
            continue;
          }
          if (e.type === 'hardlink' && poolLink(e.linkname)) {
            const base = baseName(poolLink(e.linkname)!);
            const n = poolSeen.get(base);
            if (n) pooled.push({ path: p, base, nth: n - 1 });
            continue;
          }
          if (e.type !== 'file') continue; // left in `left`: reported as missing
          left.delete(p);
          await cb(p, e.body(), { size: e.size, sparse: e.sparse });
          if (!left.size && !pooled.length) break;
        }
      } finally {
        await it.return?.(undefined);
      }
      // One more pass per round: a pool file's body can be read once per pass, and two names may share it.
      while (pooled.length) {
        const round = new Map<string, { path: string; base: string; nth: number }>();
        for (const q of pooled) if (!round.has(`${q.base}\0${q.nth}`)) round.set(`${q.base}\0${q.nth}`, q);
        const count = new Map<string, number>();
        for await (const { path: p, entry: e } of members(layer)) {
          if (e.type !== 'file' || !p.startsWith(WH_PLNK)) continue;
          const base = baseName(p);
          const nth = count.get(base) ?? 0;
          count.set(base, nth + 1);
          const q = round.get(`${base}\0${nth}`);
          if (!q) continue;
          left.delete(q.path);
          pooled.splice(pooled.indexOf(q), 1);
          await cb(q.path, e.body(), { size: e.size, sparse: e.sparse });
        }
      }
      return left;
    },
    close: () => release(),
  };
  return reader;
}

async function* closing(s: AsyncIterable<Buffer>, fd: number): AsyncIterable<Buffer> {
  try {
    yield* s;
  } finally {
    try {
      fs.closeSync(fd);
    } catch {
      /* closed by the stream */
    }
  }
}
