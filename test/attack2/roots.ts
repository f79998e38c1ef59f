/** A minimal overlay2 data root holding one image of N layers, built in code (no engine). */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { symlinkSync } from 'node:fs';
import { classicRoot, writeTree, type Files } from '../support/roots.js';

/** overlay2/l/ names: 26 base32 characters. */
const shortName = (i: number) => 'LAYER'.padEnd(24, 'Q') + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[Math.floor(i / 26) % 26] + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[i % 26];
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

export interface BuiltRoot {
  root: string;
  imageId: string;
  /** overlay2/<cache-id>/diff of each layer, base first. */
  diffs: string[];
  /** image/overlay2/layerdb/sha256/<chainID> of each layer. */
  layerdb: string[];
}

/** `layers[i]` are the files of layer i's diff dir (null = a directory). DiffIDs are made up (no tar-split). */
export function dataRoot(dir: string, layers: Files[], extra: Files = {}, tag = 'app:1'): BuiltRoot {
  const diffIds = layers.map((_, i) => 'sha256:' + sha(`layer ${i}`));
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, history: layers.map((_, i) => ({ created_by: `step ${i}` })) }));
  const imageId = sha(cfg);
  const files: Files = { [`image/overlay2/imagedb/content/sha256/${imageId}`]: cfg, 'overlay2/l': null, ...extra };
  files['image/overlay2/repositories.json'] = JSON.stringify({ Repositories: { [tag.split(':')[0]!]: { [tag]: 'sha256:' + imageId } } });
  let chain = '';
  const diffs: string[] = [];
  const layerdb: string[] = [];
  layers.forEach((l, i) => {
    chain = i === 0 ? diffIds[0]! : 'sha256:' + sha(`${chain} ${diffIds[i]}`);
    const cache = sha(`cache ${i}`);
    const short = shortName(i);
    const db = `image/overlay2/layerdb/sha256/${chain.slice(7)}`;
    files[`${db}/diff`] = diffIds[i]!;
    files[`${db}/cache-id`] = cache;
    if (i > 0) files[`${db}/parent`] = layerdb.length ? 'sha256:' + layerdb[i - 1]!.split('/').pop() : '';
    files[`overlay2/${cache}/diff`] = null;
    files[`overlay2/${cache}/link`] = short;
    if (i > 0) files[`overlay2/${cache}/lower`] = Array.from({ length: i }, (_, j) => 'l/' + shortName(i - 1 - j)).join(':');
    for (const [rel, c] of Object.entries(l)) files[`overlay2/${cache}/diff/${rel}`] = c;
    diffs.push(`overlay2/${cache}/diff`);
    layerdb.push(db);
  });
  const root = writeTree(join(dir, 'root'), { ...classicRoot('overlay2'), ...files });
  diffs.forEach((d, i) => symlinkSync(`../${d.split('/')[1]}/diff`, join(root, 'overlay2/l', shortName(i))));
  return { root, imageId, diffs: diffs.map((d) => join(root, d)), layerdb: layerdb.map((d) => join(root, d)) };
}
