/**
 * Read one layer tar into LayerChanges, from a seekable byte range (headers only, bodies skipped) or from a
 * stream (sniffed, decompressed, hashed on the way: sha256 of the raw blob and of the uncompressed tar).
 */
import { createHash } from 'node:crypto';
import { problem, type LayerChanges } from '../../model/types.js';
import { CompressionError, TarError } from './errors.js';
import { decompress, peek, sniffCompression, type Compression, type DecompressOptions } from './decompress.js';
import { TarFileReader } from './file-reader.js';
import { looksLikeTarHeader } from './header.js';
import { LayerChangesBuilder } from './layer-changes.js';
import { ByteSource, readTarStream } from './stream-reader.js';

export interface LayerReadResult {
  changes: LayerChanges;
  compression: Compression;
  /** `sha256:` of the bytes as stored (compressed); null when not computed or not complete. */
  blobDigest: string | null;
  /** `sha256:` of the uncompressed tar; null when not computed or not complete. */
  diffId: string | null;
  /** Whether the content looked like a tar at all. */
  isTar: boolean;
  /** Bytes of the stored (possibly compressed) blob read. */
  storedBytes: number;
}

/**
 * Headers of an uncompressed layer tar in `[start, end)` of an open file, without reading bodies. Nothing is
 * hashed. Read errors become error problems (the entries before them are kept).
 */
export function readLayerFromFile(fd: number, start: number, end: number, label: string): LayerChanges {
  const reader = new TarFileReader(fd, { start, end, label });
  const builder = new LayerChangesBuilder(label);
  try {
    for (const e of reader.entries()) builder.add(e);
    if (!reader.endMarker) builder.problems.push(problem('info', 'tar.no-end-marker', 'layer tar has no end-of-archive marker', label));
  } catch (err) {
    if (!(err instanceof TarError)) throw err;
    builder.problems.push(problem('error', err.code, `layer tar unreadable past this point: ${err.message}`, label));
  }
  return builder.finish();
}

/** Whether a block (the first 512 bytes of a body) is an uncompressed tar. */
export function isTarHead(head: Buffer): boolean {
  return looksLikeTarHeader(head) || (head.length >= 1024 && head.subarray(0, 1024).every((b) => b === 0));
}

/**
 * A layer from a stream of its stored bytes: compression sniffed from the first bytes, the uncompressed tar
 * parsed, both hashes computed over every byte (the stream is always read to its end, so the hashes are
 * complete unless reading fails). Errors in the layer become error problems.
 */
export async function readLayerFromStream(input: AsyncIterable<Buffer | Uint8Array>, label: string, opts: DecompressOptions = {}): Promise<LayerReadResult> {
  const rawHash = createHash('sha256');
  const tarHash = createHash('sha256');
  let rawComplete = false;
  let storedBytes = 0;
  const hashedRaw = (async function* () {
    for await (const c of input) {
      rawHash.update(c);
      storedBytes += c.byteLength;
      yield c;
    }
    rawComplete = true;
  })();
  const { head, stream } = await peek(hashedRaw, 6);
  const compression = sniffCompression(head);
  const builder = new LayerChangesBuilder(label);
  let tarComplete = false;
  let isTar = true;
  try {
    const plain = decompress(stream, compression, { ...opts, label });
    // Uncompressed: the blob is the tar, one hash serves both (sha256 is the costly part of reading a layer).
    const hashedTar =
      compression === 'none'
        ? plain
        : (async function* () {
            for await (const c of plain) {
              tarHash.update(c);
              yield c;
            }
            tarComplete = true;
          })();
    const p = await peek(hashedTar, 1024);
    if (!isTarHead(p.head) && p.head.length > 0) {
      isTar = false;
      for await (const _ of p.stream) void _;
    } else {
      const state = { endMarker: false };
      const src = new ByteSource(p.stream);
      let broken = false;
      try {
        for await (const e of readTarStream(src, { label, drainAfterEnd: true, state })) builder.add(e);
      } catch (err) {
        if (!(err instanceof TarError)) throw err;
        broken = true;
        builder.problems.push(problem('error', err.code, `layer unreadable past this point: ${err.message}`, label));
        // The tar is broken, its bytes are not: read them to the end so that the uncompressed hash is complete
        // (a layer edited into an invalid tar must still be reported as not matching its DiffID).
        await src.drain();
      }
      if (!broken && !state.endMarker && p.head.length > 0) builder.problems.push(problem('info', 'tar.no-end-marker', 'layer tar has no end-of-archive marker', label));
    }
  } catch (err) {
    if (!(err instanceof TarError) && !(err instanceof CompressionError)) throw err;
    builder.problems.push(problem('error', err.code, `layer unreadable past this point: ${err.message}`, label));
  }
  // Whatever happened, finish reading the stored bytes so the caller's outer stream stays in step (cheap).
  if (!rawComplete) {
    try {
      for await (const _ of hashedRaw) void _;
    } catch {
      /* the outer reader reports its own errors */
    }
  }
  const blobDigest = rawComplete ? 'sha256:' + rawHash.digest('hex') : null;
  return {
    changes: builder.finish(),
    compression,
    blobDigest,
    diffId: compression === 'none' ? blobDigest : tarComplete ? 'sha256:' + tarHash.digest('hex') : null,
    isTar,
    storedBytes,
  };
}
