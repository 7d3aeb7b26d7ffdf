// Error family shared by every layer: a stable `code` that callers and tests branch on,
// and messages that say what failed with the values quoted. Wrap lower errors with `cause`.

export type ErrorCode =
  | 'E_NOT_FOUND'
  | 'E_EXISTS'
  | 'E_CONFLICT'
  | 'E_INVALID'
  | 'E_COMMAND'
  | 'E_DATASTORE'
  | 'E_COMPACTED';

export class BrindleError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'BrindleError';
  }
}

/** The key or resource does not exist. */
export class NotFoundError extends BrindleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_NOT_FOUND', message, options);
    this.name = 'NotFoundError';
  }
}

/** A create found the key already present. */
export class ExistsError extends BrindleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_EXISTS', message, options);
    this.name = 'ExistsError';
  }
}

/** A compare-and-swap lost: the stored revision is not the one the caller read. */
export class ConflictError extends BrindleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CONFLICT', message, options);
    this.name = 'ConflictError';
  }
}

/** Input that fails validation; `path` names the field (e.g. `spec.ingress[0].action`). */
export class InvalidError extends BrindleError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('E_INVALID', path ? `${path}: ${message}` : message, options);
    this.path = path;
    this.name = 'InvalidError';
  }
}

/** An external command (ip, nft, etcd, ...) failed. */
export class CommandError extends BrindleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_COMMAND', message, options);
    this.name = 'CommandError';
  }
}

/** The datastore cannot be reached or answered with an error. */
export class DatastoreError extends BrindleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_DATASTORE', message, options);
    this.name = 'DatastoreError';
  }
}

/** A watch asked for a revision older than the datastore still keeps: list again and resync. */
export class CompactedError extends BrindleError {
  readonly compactRevision: number;
  constructor(message: string, compactRevision: number, options?: { cause?: unknown }) {
    super('E_COMPACTED', message, options);
    this.compactRevision = compactRevision;
    this.name = 'CompactedError';
  }
}

export function isBrindleError(err: unknown, code?: ErrorCode): err is BrindleError {
  return err instanceof BrindleError && (code === undefined || err.code === code);
}
