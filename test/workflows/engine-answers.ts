/**
 * The engine's answers, read the way the workflow suites compare them: tars (docker save's layers, docker export)
 * as manifests of members by cleaned path, with each regular file's sha256.
 */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { readTarStream } from '../../src/core/sources/tar/index.js';
import { cleanLayerPath } from '../../src/core/model/path.js';
import type { Engine } from '../support/engine.js';

export interface TarItem {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  dev: string;
  sha256: string | null;
}

/** Members of a tar by cleaned path (byte string); hardlinks carry their target's digest. */
export async function tarManifest(tar: Buffer | AsyncIterable<Buffer>): Promise<Map<string, TarItem>> {
  const out = new Map<string, TarItem>();
  for await (const e of readTarStream(Buffer.isBuffer(tar) ? [tar] : tar, { label: 'test' })) {
    const p = cleanLayerPath(e.name);
    if (p === '') continue;
    let sha: string | null = null;
    if (e.type === 'file') {
      const h = createHash('sha256');
      for await (const c of e.body()) h.update(c);
      sha = h.digest('hex');
    }
    out.set(p, { type: e.type, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, size: e.type === 'file' ? e.size : 0, mtime: e.mtime, linkname: e.type === 'hardlink' ? cleanLayerPath(e.linkname) : e.linkname, dev: e.type === 'char' || e.type === 'block' ? `${e.devMajor}:${e.devMinor}` : '', sha256: sha });
  }
  for (const v of out.values()) {
    if (v.type !== 'hardlink') continue;
    const t = out.get(v.linkname);
    v.type = 'file';
    v.sha256 = t?.sha256 ?? null;
    v.size = t?.size ?? 0;
  }
  return out;
}

/** Each layer tar of `docker save IMAGE`, base first, as a manifest. */
export async function savedLayers(e: Engine, image: string): Promise<Map<string, TarItem>[]> {
  const save = await e.docker(['save', image], { timeout: 300_000 });
  const members = new Map<string, Buffer>();
  for await (const m of readTarStream([save.stdoutBuffer], { label: 'save' })) {
    if (m.type === 'file') members.set(cleanLayerPath(m.name), await m.readBody(64 << 20));
    else if (m.type === 'symlink') members.set(cleanLayerPath(m.name), Buffer.from('->' + m.linkname));
  }
  const manifest = JSON.parse(members.get('manifest.json')!.toString('utf8'))[0];
  const out: Map<string, TarItem>[] = [];
  for (const l of manifest.Layers as string[]) {
    // The containerd store saves layers as they are kept: gzip-compressed.
    const raw = members.get(cleanLayerPath(l))!;
    out.push(await tarManifest(raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw));
  }
  return out;
}
