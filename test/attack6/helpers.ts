/** A one-image overlay2 data root with one container whose config.v2.json / hostconfig.json are given (no engine). */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataRoot } from '../attack2/roots.js';

export const CID = 'c'.repeat(64);

/** `config` / `host`: an object (JSON-encoded) or the exact text; `host: null` writes no hostconfig.json. */
export function containerRoot(dir: string, config: object | string, host: object | string | null): string {
  const r = dataRoot(dir, [{ 'etc/hostname': 'box\n' }]);
  const mount = 'd'.repeat(64);
  const chain = readdirSync(join(r.root, 'image/overlay2/layerdb/sha256'))[0]!;
  const cdir = join(r.root, 'containers', CID);
  mkdirSync(cdir, { recursive: true });
  const base = { ID: CID, Name: '/web', Image: 'sha256:' + r.imageId, Created: '2024-01-01T00:00:00Z', Driver: 'overlay2', State: { StartedAt: '2024-01-01T00:00:00Z' } };
  writeFileSync(join(cdir, 'config.v2.json'), typeof config === 'string' ? config : JSON.stringify({ ...base, Config: { Image: 'app:1', User: '1000' }, ...config }));
  if (host !== null) writeFileSync(join(cdir, 'hostconfig.json'), typeof host === 'string' ? host : JSON.stringify(host));
  const m = join(r.root, 'image/overlay2/layerdb/mounts', CID);
  mkdirSync(m, { recursive: true });
  writeFileSync(join(m, 'mount-id'), mount);
  writeFileSync(join(m, 'init-id'), mount + '-init');
  writeFileSync(join(m, 'parent'), 'sha256:' + chain);
  mkdirSync(join(r.root, 'overlay2', mount, 'diff'), { recursive: true });
  mkdirSync(join(r.root, 'overlay2', mount + '-init', 'diff'), { recursive: true });
  return r.root;
}
