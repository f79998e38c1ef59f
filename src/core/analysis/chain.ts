import { createHash } from 'node:crypto';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** True for a well-formed `sha256:<64 hex>` digest. Everything read from evidence is checked with this. */
export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/** sha256 of bytes as a `sha256:<hex>` digest. */
export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/**
 * ChainIDs from DiffIDs (image-spec config.md): ChainID(L0) = DiffID(L0),
 * ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)), both operands the full `sha256:<hex>` strings.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : 'sha256:' + createHash('sha256').update(prev + ' ' + diffId).digest('hex'));
  }
  return out;
}

/** The hex part of a digest. */
export function digestHex(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice(7) : digest;
}
