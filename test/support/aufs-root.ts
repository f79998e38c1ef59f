/**
 * An aufs-layout Docker data root, made from what a real engine wrote: no kernel here has aufs (moby dropped the
 * driver in v24, mainline Linux never had it), so no engine can make one. How it is made, as moby's aufs driver
 * (daemon/graphdriver/aufs, 20.10) lays a store out:
 *
 * - image/aufs/: the engine's image/overlay2/ metadata of the chosen images (imagedb configs and metadata,
 *   layerdb chains with their cache-ids and tar-splits, repositories.json), copied as is: that format is the same
 *   for every driver, and cache-ids are random 64-hex ids under aufs too (kept, so both roots name layers alike);
 * - aufs/diff/<cache-id>: each layer's tar from the engine's `docker save`, extracted with GNU tar WITHOUT
 *   converting whiteouts, as aufs's ApplyDiff untars a layer (`.wh.<name>` and `.wh..wh..opq` stay files);
 * - aufs/layers/<id>: the ids of every layer below, nearest first, one a line (empty for a base layer), as
 *   Create writes them; aufs/mnt/<id>: empty mount points;
 * - containers: containers/<id>/ and layerdb/mounts/<id>/ copied (config.v2.json's Driver says aufs); the RW
 *   layer `aufs/diff/<mount-id>` and init layer `<mount-id>-init` are the engine's overlay2 upper dirs rewritten as
 *   the aufs module writes a RW branch: a 0:0 whiteout device becomes `.wh.<name>`, an opaque dir's xattr becomes
 *   `.wh..wh..opq`, both hard links to the branch's `.wh..wh.aufs`, beside its `.wh..wh.plnk/` and
 *   `.wh..wh.orph/` dirs; every dir touched keeps its times.
 *
 * Every layer's bytes, owners, modes, times and xattrs come from the engine; only the form of the whiteouts is
 * ours, and that form is checked by the tar-split (integrity) for image layers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execa } from 'execa';
import { getAttributeSync, listAttributesSync, removeAttributeSync } from '@napi-rs/xattr';
import type { Engine } from './engine.js';
import { chainIds } from '../../src/core/analysis/chain.js';

export interface AufsRoot {
  root: string;
  images: { id: string; tags: string[]; chainIds: string[]; cacheIds: string[] }[];
  containers: { id: string; name: string; mountId: string }[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Build an aufs data root at `dest` (must not exist) from `images` and `containers` (names) of `engine`. */
export async function buildAufsRoot(engine: Engine, dest: string, images: string[], containers: string[], work: string): Promise<AufsRoot> {
  const src = path.join(engine.dataRoot, 'image', 'overlay2');
  const meta = path.join(dest, 'image', 'aufs');
  for (const d of ['imagedb/content/sha256', 'imagedb/metadata/sha256', 'layerdb/sha256', 'layerdb/mounts']) fs.mkdirSync(path.join(meta, d), { recursive: true });
  for (const d of ['diff', 'layers', 'mnt']) fs.mkdirSync(path.join(dest, 'aufs', d), { recursive: true });
  fs.mkdirSync(path.join(dest, 'containers'), { recursive: true });

  const saveDir = path.join(work, 'save');
  fs.mkdirSync(saveDir, { recursive: true });
  const saveTar = path.join(work, 'save.tar');
  await execa('sh', ['-c', `docker save ${images.map((i) => `'${i}'`).join(' ')} > '${saveTar}'`], { env: engine.env });
  await execa('tar', ['-xf', saveTar, '-C', saveDir]);
  const manifest = JSON.parse(fs.readFileSync(path.join(saveDir, 'manifest.json'), 'utf8')) as { Config: string; RepoTags: string[] | null; Layers: string[] }[];

  const out: AufsRoot = { root: dest, images: [], containers: [] };
  const done = new Set<string>();
  const keptIds = new Set<string>();
  for (const m of manifest) {
    const id = path.basename(m.Config).replace(/\.json$/, '');
    if (!HEX64.test(id)) throw new Error(`docker save: config ${m.Config} is not named by an image ID`);
    keptIds.add(id);
    await execa('cp', ['-a', path.join(src, 'imagedb/content/sha256', id), path.join(meta, 'imagedb/content/sha256', id)]);
    if (fs.existsSync(path.join(src, 'imagedb/metadata/sha256', id))) await execa('cp', ['-a', path.join(src, 'imagedb/metadata/sha256', id), path.join(meta, 'imagedb/metadata/sha256', id)]);
    const config = JSON.parse(fs.readFileSync(path.join(saveDir, m.Config), 'utf8')) as { rootfs: { diff_ids: string[] } };
    const chains = chainIds(config.rootfs.diff_ids);
    const cacheIds: string[] = [];
    for (let i = 0; i < chains.length; i++) {
      const hex = chains[i]!.slice(7);
      const cacheId = fs.readFileSync(path.join(src, 'layerdb/sha256', hex, 'cache-id'), 'utf8').trim();
      if (!HEX64.test(cacheId)) throw new Error(`engine layerdb ${hex}: cache-id ${cacheId}`);
      cacheIds.push(cacheId);
      if (done.has(cacheId)) continue;
      done.add(cacheId);
      await execa('cp', ['-a', path.join(src, 'layerdb/sha256', hex), path.join(meta, 'layerdb/sha256', hex)]);
      const diff = path.join(dest, 'aufs/diff', cacheId);
      fs.mkdirSync(diff, { mode: 0o755 });
      // As root: owners, modes, devices, xattrs (PAX SCHILY.xattr) and times as the tar has them; .wh. names kept.
      await execa('tar', ['-x', '-p', '--same-owner', '--numeric-owner', '--xattrs', '--xattrs-include=*', '-f', path.join(saveDir, m.Layers[i]!), '-C', diff]);
      writeParents(dest, cacheId, cacheIds.slice(0, i).reverse());
    }
    out.images.push({ id: 'sha256:' + id, tags: m.RepoTags ?? [], chainIds: chains, cacheIds });
  }
  // Tags of the images kept, as the engine recorded them.
  const repos = JSON.parse(fs.readFileSync(path.join(src, 'repositories.json'), 'utf8')) as { Repositories: Record<string, Record<string, string>> };
  const kept: Record<string, Record<string, string>> = {};
  for (const [name, refs] of Object.entries(repos.Repositories)) {
    for (const [ref, id] of Object.entries(refs)) if (keptIds.has(id.slice(7))) (kept[name] ??= {})[ref] = id;
  }
  fs.writeFileSync(path.join(meta, 'repositories.json'), JSON.stringify({ Repositories: kept }));

  for (const name of containers) {
    const id = JSON.parse((await engine.docker(['container', 'inspect', name])).stdout)[0].Id as string;
    const mounts = path.join(src, 'layerdb/mounts', id);
    const mountId = fs.readFileSync(path.join(mounts, 'mount-id'), 'utf8').trim();
    const parent = fs.readFileSync(path.join(mounts, 'parent'), 'utf8').trim();
    const topCache = fs.readFileSync(path.join(src, 'layerdb/sha256', parent.slice(7), 'cache-id'), 'utf8').trim();
    const image = out.images.find((i) => i.cacheIds[i.cacheIds.length - 1] === topCache);
    if (!image) throw new Error(`container ${name}: its image is not among ${images.join(', ')}`);
    await execa('cp', ['-a', path.join(engine.dataRoot, 'containers', id), path.join(dest, 'containers', id)]);
    await execa('cp', ['-a', mounts, path.join(meta, 'layerdb/mounts', id)]);
    const cfgPath = path.join(dest, 'containers', id, 'config.v2.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    cfg.Driver = 'aufs';
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    const below = [...image.cacheIds].reverse();
    for (const layer of [`${mountId}-init`, mountId]) {
      await overlayToAufsBranch(path.join(engine.dataRoot, 'overlay2', layer, 'diff'), path.join(dest, 'aufs/diff', layer));
    }
    writeParents(dest, `${mountId}-init`, below);
    writeParents(dest, mountId, [`${mountId}-init`, ...below]);
    out.containers.push({ id, name, mountId });
  }
  return out;
}

/** aufs/layers/<id> (the ids below, nearest first, each on its own line) and the mount point aufs/mnt/<id>. */
function writeParents(root: string, id: string, below: string[]): void {
  fs.writeFileSync(path.join(root, 'aufs/layers', id), below.map((b) => b + '\n').join(''));
  fs.mkdirSync(path.join(root, 'aufs/mnt', id), { mode: 0o755 });
}

/**
 * An overlay upper dir rewritten in place of a copy as an aufs RW branch (see the file comment). Nothing is
 * followed: the walk lstat's, and symlinks are entries like any other.
 */
export async function overlayToAufsBranch(upper: string, branch: string): Promise<void> {
  await execa('cp', ['-a', upper, branch]);
  const base = path.join(branch, '.wh..wh.aufs');
  const whiteouts: string[] = [];
  const opaque: string[] = [];
  const walk = (rel: string) => {
    const abs = rel === '' ? branch : path.join(branch, rel);
    for (const name of fs.readdirSync(abs)) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(path.join(branch, r));
      if (st.isCharacterDevice() && st.rdev === 0) whiteouts.push(r);
      const x = listAttributesSync(path.join(branch, r)).filter((k) => k.startsWith('trusted.overlay.'));
      // aufs keeps none of overlayfs's xattrs: an opaque dir gets its marker file, the rest goes.
      for (const k of x) {
        if (k === 'trusted.overlay.opaque' && st.isDirectory() && getAttributeSync(path.join(branch, r), k)?.toString() === 'y') opaque.push(r);
        removeAttributeSync(path.join(branch, r), k);
      }
      if (st.isDirectory()) walk(r);
    }
  };
  // To the nanosecond (a Date has milliseconds): rows compare mtimes with their nanoseconds.
  const keepTimes = new Map<string, bigint>();
  const touch = (dir: string) => {
    if (!keepTimes.has(dir)) keepTimes.set(dir, fs.lstatSync(dir, { bigint: true }).mtimeNs);
  };
  walk('');
  touch(branch);
  fs.writeFileSync(base, '', { mode: 0o444 });
  fs.mkdirSync(path.join(branch, '.wh..wh.plnk'), { mode: 0o700 });
  fs.mkdirSync(path.join(branch, '.wh..wh.orph'), { mode: 0o700 });
  for (const w of whiteouts) {
    const abs = path.join(branch, w);
    touch(path.dirname(abs));
    fs.unlinkSync(abs);
    fs.linkSync(base, path.join(path.dirname(abs), '.wh.' + path.basename(abs)));
  }
  for (const d of opaque) {
    touch(path.join(branch, d));
    fs.linkSync(base, path.join(branch, d, '.wh..wh..opq'));
  }
  for (const [dir, ns] of keepTimes) {
    const stamp = `@${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
    await execa('touch', ['-h', '-m', '-d', stamp, dir]);
  }
}
