import { UsageError } from '../model/errors.js';

/**
 * An output the user named cannot be written as asked: it overlaps the evidence, something already exists where
 * we would create an entry, a symlink or a non-directory stands in the way, or the OS refused a write. These are
 * usage errors (exit 2): nothing was read wrongly, the destination is wrong. `reason` is a stable code
 * (`output.*`), `target` the host path concerned; the message names both the path and the reason.
 */
export class OutputError extends UsageError {
  override name = 'OutputError';
  constructor(
    readonly reason: OutputRefusal,
    readonly target: string,
    message: string,
  ) {
    super(`refusing to write ${target}: ${message}`);
  }
}

export type OutputRefusal =
  /** The output is the evidence, lies inside it, or contains it (paths, device+inode, or mounts say so). */
  | 'output.evidence'
  /** Something (a file, a symlink, a dir for a file output) already exists where we would create an entry. */
  | 'output.exists'
  /** A symlink at or below the output path: never followed. */
  | 'output.symlink'
  /** A non-directory where a directory is needed. */
  | 'output.not-dir'
  /** A name we will not create ('', '.', '..', a '/' or NUL inside), or a path we cannot resolve safely. */
  | 'output.bad-path'
  /** The evidence location could not be resolved, so no overlap can be ruled out. */
  | 'output.unresolved'
  /** Something this run created was replaced while it ran. */
  | 'output.changed'
  /** The OS refused (EACCES, ENOSPC, EROFS, ...). */
  | 'output.failed';

/** A user-named input file (a --config) that is not something we read whole: missing, not regular, too large. */
export class InputFileError extends UsageError {
  override name = 'InputFileError';
  constructor(
    readonly reason: 'input.missing' | 'input.not-a-file' | 'input.too-large' | 'input.unreadable',
    readonly target: string,
    message: string,
  ) {
    super(message);
  }
}

/** errno code → words, for messages. */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the device',
    EROFS: 'read-only filesystem',
    EDQUOT: 'disk quota exceeded',
    EIO: 'I/O error',
    ENAMETOOLONG: 'name too long',
    EXDEV: 'crosses filesystems',
    EMLINK: 'too many links',
  };
  if (e?.code) return `${e.code}${words[e.code] ? ` (${words[e.code]})` : ''}`;
  return String(err);
}
