import { SourceError } from '../../model/errors.js';
import { displayPath } from '../../model/path.js';

/**
 * A tar stream that cannot be read on: truncated, a header whose checksum is wrong, a size that cannot be.
 * `code` is stable (`tar.truncated`, `tar.checksum`, `tar.size`, `tar.header`, `tar.numeric`), `member` is the
 * member being read (byte string, '' when unknown) and `offset` the byte offset of its header in the tar.
 */
export class TarError extends SourceError {
  override name = 'TarError';
  constructor(
    code: string,
    message: string,
    readonly offset: number,
    readonly member: string = '',
    /** What the tar is (a file path, a member of an archive...), for the message. */
    label: string | null = null,
  ) {
    super(code, `${message}${member ? ` (member ${JSON.stringify(displayPath(member))}` : ' ('}${member ? ', ' : ''}header at offset ${offset})`, label);
  }
}

/** Compressed data that cannot be read: unsupported format, corrupt stream, or output beyond the bomb guard. */
export class CompressionError extends SourceError {
  override name = 'CompressionError';
}
