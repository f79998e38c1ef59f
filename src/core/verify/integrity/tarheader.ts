/**
 * The header blocks of ONE tar member, as tar-split stores them in its raw segments (optional PAX 'x'/'g' and
 * GNU 'L'/'K' extension headers, then the member's own ustar/GNU/v7 header), decoded with the shared header
 * state machine of src/core/sources/tar (names and PAX values stay raw bytes; SCHILY.xattr.* values are
 * byte-exact Buffers). Only the driving is here: tar-split hands us the header bytes of each member in one
 * piece, with the bodies left out (they are on disk).
 */
import { BLOCK, HeaderAssembler, type TarEntry } from '../../sources/tar/header.js';

export type { TarEntry };
export { HeaderAssembler };

/** Bytes of zero padding after a body of `size` bytes. */
export function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * Decode the member whose header blocks fill `buf` (from a block boundary), with one assembler per layer.
 * `padAfter`: the zero padding the next segment starts with (after this member's body; after a PAX global
 * header's records, which Go's reader returns as a member before reading their padding). Throws TarError /
 * Error on malformed headers.
 */
export function decodeMemberHeaders(buf: Buffer, asm: HeaderAssembler): { entry: TarEntry; padAfter: number } {
  let off = 0;
  const need = (n: number, what: string) => {
    if (off + n > buf.length) throw new Error(`truncated tar header: ${what} needs ${n} bytes, ${buf.length - off} stored`);
  };
  for (;;) {
    need(BLOCK, 'a header block');
    let step = asm.header(buf, off, off);
    off += BLOCK;
    while (step.kind === 'continuation') {
      need(BLOCK, 'a sparse map block');
      step = asm.continuation(buf, off);
      off += BLOCK;
    }
    if (step.kind === 'end') throw new Error('zero block where a member header was expected');
    if (step.kind === 'entry') {
      if (off !== buf.length) throw new Error(`${buf.length - off} unexpected bytes after the member header`);
      return { entry: step.entry, padAfter: paddingOf(step.entry.size) };
    }
    need(step.size, 'an extension body');
    const global = asm.extensionBody(buf.subarray(off, off + step.size));
    off += step.size;
    if (global) {
      // tar-split records a PAX global header as a member of its own (size 0): header and records here.
      const pad = paddingOf(step.size);
      if (off === buf.length) return { entry: global, padAfter: pad };
      if (off + pad === buf.length) return { entry: global, padAfter: 0 };
      throw new Error(`${buf.length - off} unexpected bytes after a PAX global header`);
    }
    off += paddingOf(step.size);
  }
}
