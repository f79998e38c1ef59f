/** Hand-made data roots with volumes and a container `web` mounting them (no engine). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerRoot, CID } from '../attack6/helpers.js';
import { buildBolt } from '../support/bolt-writer.js';

export { CID };

/**
 * A data root at `dir/root` recorded by the engine as `/var/lib/docker` (ResolvConfPath...), whose container
 * `web` has `mountPoints` (config.v2.json MountPoints), with volumes `names` (each with an empty `_data`) listed in
 * metadata.db. Returns the root.
 */
export function volumesRoot(dir: string, names: string[], mountPoints: Record<string, object> = {}): string {
  const E = '/var/lib/docker';
  const root = containerRoot(dir, { MountPoints: mountPoints, ResolvConfPath: `${E}/containers/${CID}/resolv.conf`, HostnamePath: `${E}/containers/${CID}/hostname`, LogPath: `${E}/containers/${CID}/${CID}-json.log` }, {});
  mkdirSync(join(root, 'volumes'), { recursive: true });
  const meta: Record<string, string> = {};
  for (const n of names) {
    mkdirSync(join(root, 'volumes', n, '_data'), { recursive: true });
    meta[n] = JSON.stringify({ Name: n, Driver: 'local', Labels: null, Options: null });
  }
  writeFileSync(join(root, 'volumes', 'metadata.db'), buildBolt({ volumes: meta }));
  return root;
}

export const volumeMount = (name: string, dest: string) => ({ Name: name, Destination: dest, Driver: 'local', Type: 'volume', RW: true, Source: `/var/lib/docker/volumes/${name}/_data` });
export const bindMount = (source: string, dest: string) => ({ Source: source, Destination: dest, Type: 'bind', RW: true });
