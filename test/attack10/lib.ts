/** A minimal containers/storage store made by hand (one image, one layer; no tar-split), for attacks on metadata. */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

export function makeCsStore(dir: string, opts: { uid?: number; gid?: number; name?: string; files?: Record<string, string> } = {}): { layerId: string; imageId: string } {
  const sha = (b: string | Buffer) => crypto.createHash('sha256').update(b).digest('hex');
  const layerId = sha('layer' + dir);
  const diffId = 'sha256:' + sha('diff' + dir);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created: '2024-01-01T00:00:00Z', created_by: 'x' }] }));
  const imageId = sha(config);
  for (const d of ['overlay-layers', `overlay-images/${imageId}`, 'overlay-containers', `overlay/${layerId}/diff`]) fs.mkdirSync(path.join(dir, d), { recursive: true });
  for (const [f, c] of Object.entries(opts.files ?? { hello: 'hi\n' })) fs.writeFileSync(path.join(dir, 'overlay', layerId, 'diff', f), c);
  fs.writeFileSync(path.join(dir, 'overlay-layers', 'layers.json'), JSON.stringify([{ id: layerId, created: '2024-01-01T00:00:00Z', 'diff-digest': diffId, 'diff-size': 3 }]));
  fs.writeFileSync(path.join(dir, 'overlay-images', 'images.json'), JSON.stringify([{ id: imageId, names: [opts.name ?? 'localhost/x:1'], layer: layerId, created: '2024-01-01T00:00:00Z', 'big-data-names': ['sha256:' + imageId] }]));
  fs.writeFileSync(path.join(dir, 'overlay-images', imageId, '=' + Buffer.from('sha256:' + imageId).toString('base64')), config);
  fs.writeFileSync(path.join(dir, 'overlay-containers', 'containers.json'), '[]');
  const own = (p: string): void => {
    fs.lchownSync(p, opts.uid ?? 0, opts.gid ?? 0);
    if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) own(path.join(p, e));
  };
  own(dir);
  return { layerId, imageId };
}
