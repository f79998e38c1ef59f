import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { bytesToPath, cleanLayerPath, textToPath } from '../../model/path.js';
import type { LayerChanges } from '../../model/types.js';
import { openNoFollow } from '../../sources/evidence.js';
import { layerChangesFromEntries } from '../../sources/tar/layer-changes.js';
import { decodeMemberHeaders, HeaderAssembler, type TarEntry } from '../integrity/tarheader.js';
import type { TarSplitEntry } from '../integrity/tarsplit.js';

/**
 * A layer AS BUILT: its changeset decoded from the tar headers that moby's tar-split kept
 * (layerdb/sha256/<chainID>/tar-split.json.gz), not from the diff dir. Stacking these gives the view the image
 * was built to have, which the mount check compares with the kernel's view of the disk: a file added, removed,
 * chmod'ed or re-pointed in a diff dir shows up as a disagreement in every stack where it is visible. tar-split
 * also keeps each file's CRC-64 (Go hash/crc64, ISO), so with hashing the kernel's bytes are checked too.
 *
 * tar-split itself is only trusted as far as the integrity check proves it (its segments hash to the diffID);
 * here it is read as data, with the same limits: streamed, headers bounded, names cleaned.
 */

export interface AsBuiltLayer {
  changes: LayerChanges;
  /** CRC-64 (hex) of each regular file's body, by layer path. */
  crc: Map<string, string>;
}

const MAX_HEADER_BYTES = 64 << 20;


export async function readAsBuiltLayer(tarSplitPath: string, label = tarSplitPath): Promise<AsBuiltLayer> {
  const entries: TarEntry[] = [];
  const crc = new Map<string, string>();
  const asm = new HeaderAssembler(tarSplitPath);
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let pad = 0;
  for await (const e of jsonLines(tarSplitPath)) {
    if (e.type === 2) {
      const bytes = typeof e.payload === 'string' ? Buffer.from(e.payload, 'base64') : Buffer.alloc(0);
      pendingLen += bytes.length;
      if (pendingLen > MAX_HEADER_BYTES) throw new Error(`more than ${MAX_HEADER_BYTES} bytes of tar headers before one member`);
      pending.push(bytes);
      continue;
    }
    if (e.type !== 1) throw new Error(`tar-split entry of unknown type ${JSON.stringify(e.type)}`);
    const segment = Buffer.concat(pending, pendingLen);
    pending = [];
    pendingLen = 0;
    if (segment.length < pad) throw new Error('tar-split segment shorter than the previous body padding');
    const { entry: h, padAfter } = decodeMemberHeaders(segment.subarray(pad), asm);
    const entryName = typeof e.name_raw === 'string' ? bytesToPath(Buffer.from(e.name_raw, 'base64')) : textToPath(typeof e.name === 'string' ? e.name : '');
    if (h.name !== entryName) throw new Error(`tar-split entry names ${JSON.stringify(entryName)} but its tar header names ${JSON.stringify(h.name)}`);
    pad = padAfter;
    entries.push(h);
    if (h.type === 'file' && typeof e.payload === 'string') {
      const c = Buffer.from(e.payload, 'base64');
      if (c.length === 8) {
        try {
          crc.set(cleanLayerPath(h.name), c.toString('hex'));
        } catch {}
      }
    }
  }
  return { changes: layerChangesFromEntries(entries, label), crc };
}

async function* jsonLines(file: string): AsyncGenerator<TarSplitEntry> {
  const fd = openNoFollow(file);
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw new Error(`${file}: not a regular file`);
  }
  const src = fs.createReadStream('', { fd, autoClose: true });
  const gunzip = zlib.createGunzip();
  src.on('error', (err) => gunzip.destroy(err));
  src.pipe(gunzip);
  let rest: Buffer | null = null;
  let n = 0;
  const parse = (line: Buffer): TarSplitEntry | null => {
    n++;
    if (line.length === 0) return null;
    const v = JSON.parse(line.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null) throw new Error(`${file}: line ${n} is not a JSON object`);
    return v as TarSplitEntry;
  };
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const buf: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, start);
        if (nl < 0) break;
        const e = parse(buf.subarray(start, nl));
        if (e) yield e;
        start = nl + 1;
      }
      rest = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    }
    if (rest) {
      const e = parse(rest);
      if (e) yield e;
    }
  } finally {
    src.destroy();
    gunzip.destroy();
  }
}
