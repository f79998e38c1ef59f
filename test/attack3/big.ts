/** Helpers for attack3: big layers built as a gzip stream (the archive stays small). */
import { createHash } from 'node:crypto';
import { constants, createGzip } from 'node:zlib';
import { header, tar, type RawMember } from '../sources/tar/helpers.js';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A layer given as a generator of tar chunks: its DiffID (sha256 of the tar) and its gzip blob. */
export async function gzLayer(chunks: () => Iterable<Buffer>): Promise<{ diffId: string; blob: Buffer }> {
  const h = createHash('sha256');
  const gz = createGzip({ level: constants.Z_BEST_COMPRESSION, memLevel: 9 });
  const out: Buffer[] = [];
  gz.on('data', (d: Buffer) => out.push(d));
  const done = new Promise<void>((r) => gz.on('end', r));
  let pending: Buffer[] = [];
  let n = 0;
  for (const c of chunks()) {
    h.update(c);
    pending.push(c);
    n += c.length;
    if (n >= 1 << 20) {
      const b = Buffer.concat(pending);
      pending = [];
      n = 0;
      if (!gz.write(b)) await new Promise((r) => gz.once('drain', r));
    }
  }
  gz.end(Buffer.concat(pending));
  await done;
  return { diffId: 'sha256:' + h.digest('hex'), blob: Buffer.concat(out) };
}

/** Members of one file each, named by `name(i)`, empty: header blocks only. */
export function* emptyFiles(count: number, name: (i: number) => string): Iterable<Buffer> {
  for (let i = 0; i < count; i++) yield header({ name: name(i), body: Buffer.alloc(0) });
  yield Buffer.alloc(1024);
}

/** An OCI archive of images, each a list of gzip layers. */
export function ociOf(images: { tag: string; layers: { diffId: string; blob: Buffer }[] }[]): Buffer {
  const members: RawMember[] = [{ name: 'blobs/', type: '5', mode: 0o755 }, { name: 'blobs/sha256/', type: '5', mode: 0o755 }];
  const have = new Set<string>();
  const put = (b: Buffer) => {
    const d = sha(b);
    if (!have.has(d)) {
      have.add(d);
      members.push({ name: `blobs/sha256/${d.slice(7)}`, body: b });
    }
    return d;
  };
  const index: unknown[] = [];
  for (const img of images) {
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', rootfs: { type: 'layers', diff_ids: img.layers.map((l) => l.diffId) }, history: img.layers.map((_, i) => ({ created_by: `step ${i}` })) }));
    const cfgD = put(cfg);
    const layers = img.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(l.blob), size: l.blob.length }));
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfgD, size: cfg.length }, layers }));
    const md = put(m);
    index.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: m.length, annotations: { 'io.containerd.image.name': `docker.io/library/${img.tag}`, 'org.opencontainers.image.ref.name': img.tag.split(':')[1] } });
  }
  members.push({ name: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') });
  members.push({ name: 'index.json', body: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: index })) });
  return tar(members);
}
