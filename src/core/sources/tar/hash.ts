import { createHash } from 'node:crypto';

/**
 * Pass a chunk stream through while hashing it: for a member body that is read anyway (a JSON member, a
 * nested layer tar), the sha256 costs no second read. `digest()` is the `sha256:<hex>` of every byte once the
 * stream has been read to its end, and null before (or when it was abandoned).
 */
export function withSha256(source: AsyncIterable<Buffer | Uint8Array>): { stream: AsyncIterable<Buffer>; digest: () => string | null } {
  const h = createHash('sha256');
  let done: string | null = null;
  const stream = (async function* () {
    for await (const c of source) {
      const b = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      h.update(b);
      yield b;
    }
    done = 'sha256:' + h.digest('hex');
  })();
  return { stream, digest: () => done };
}
