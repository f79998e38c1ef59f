/**
 * Typed errors with stable codes. The CLI maps them to exit codes in one place (src/cli/exit.ts);
 * nothing in core calls process.exit.
 */
export class LayerscopeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** The file or directory the error is about, when there is one. */
    readonly path: string | null = null,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'LayerscopeError';
  }
}

/** The source could not be read or recognised at all. */
export class SourceError extends LayerscopeError {
  override name = 'SourceError';
}

/** The user asked for something that does not exist (image ref, container, layer index). */
export class NotFoundError extends LayerscopeError {
  override name = 'NotFoundError';
}

/** Bad command-line usage. */
export class UsageError extends LayerscopeError {
  override name = 'UsageError';
  constructor(message: string) {
    super('usage', message);
  }
}
