/** Hand-made data roots with one container `web` whose log files are given (no engine). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerRoot, CID } from '../attack6/helpers.js';
import { varint } from '../support/protobuf.js';

export { CID };

/** A json-file line as the engine writes it. */
export const jl = (log: string, stream = 'stdout', time = '2024-05-01T12:00:00.000000001Z') => JSON.stringify({ log, stream, time }) + '\n';

/** A local-driver frame: [size][LogEntry protobuf][size]. */
export function frame(fields: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(fields.length);
  return Buffer.concat([h, fields, h]);
}
export { varint };
export const fieldBytes = (f: number, b: Buffer | string) => {
  const v = Buffer.from(b);
  return Buffer.concat([varint(BigInt((f << 3) | 2)), varint(BigInt(v.length)), v]);
};
export const fieldVarint = (f: number, n: bigint) => Buffer.concat([varint(BigInt(f << 3)), varint(n)]);
export const localEntry = (line: string, source = 'stdout', ns = 1714564800000000001n) => frame(Buffer.concat([fieldBytes(1, source), fieldVarint(2, ns), fieldBytes(3, line)]));

/**
 * A data root whose container `web` has LogConfig `logConfig` and the given files in containers/<id>/ (paths
 * relative to it; a Buffer/string is a file). Returns the root and the container dir.
 */
export function logsRoot(dir: string, logConfig: unknown, files: Record<string, Buffer | string>, config: object = {}): { root: string; cdir: string } {
  const root = containerRoot(dir, config, { LogConfig: logConfig });
  const cdir = join(root, 'containers', CID);
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(join(cdir, rel, '..'), { recursive: true });
    writeFileSync(join(cdir, rel), data);
  }
  return { root, cdir };
}
