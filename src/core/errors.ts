import type { RejectionReason } from './changes.js'

/**
 * Tidepool's error classes. Each carries the data a caller needs to react
 * (collection, id, field, reason) and keeps any underlying error as `cause`.
 */
export class TidepoolError extends Error {
  /** When true, `db.run` retries the transaction (with backoff) instead of failing. */
  retryable = false

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

export class ModelAlreadyExistsError extends TidepoolError {
  constructor(
    readonly collection: string,
    readonly id: string,
  ) {
    super(`Tried to recreate an existing model: ${collection} ${JSON.stringify(id)}`)
  }
}

/** Thrown when a transaction kept failing with retryable errors; `original` is the last one. */
export class TransactionFailedError extends TidepoolError {
  constructor(
    message: string,
    readonly original: unknown,
  ) {
    super(message, { cause: original })
  }
}

export class InvalidFieldError extends TidepoolError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field} ${reason}`)
  }
}

/**
 * A document exists but this version of the app cannot read it: it fails the
 * model's schema after its migrations (written by a newer version, or under
 * a schema that has since changed). It is kept as stored, and reads skip it.
 */
export class DocumentKeptAsideError extends TidepoolError {
  constructor(
    readonly collection: string,
    readonly id: string,
    /** Why, naming the field at fault. */
    readonly reason: string,
  ) {
    super(`${collection} ${JSON.stringify(id)} exists but this version of the app cannot read it (${reason}); it is kept as stored until a version that can read it writes it`)
  }
}

/** A value does not match its schema. `path` names the field (and nested path) at fault. */
export class ValidationError extends TidepoolError {
  constructor(
    readonly path: string,
    readonly reason: string,
    readonly value?: unknown,
  ) {
    super(`Validation Error - ${path}: ${reason}`)
  }
}

export class InvalidOptionsError extends TidepoolError {
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`Invalid option ${option}: ${reason}`)
  }
}

export class InvalidParameterError extends TidepoolError {
  constructor(
    readonly parameter: string,
    reason: string,
  ) {
    super(`Invalid parameter ${parameter}: ${reason}`)
  }
}

export class WriteAttemptedInReadOnlyTxError extends TidepoolError {
  constructor(readonly what: string) {
    super(`Tried to write in a read-only transaction: ${what}`)
  }
}

export class ModelTrackedTwiceError extends TidepoolError {
  constructor(
    readonly collection: string,
    readonly id: string,
  ) {
    super(`Model tracked twice in one transaction: ${collection} ${JSON.stringify(id)}`)
  }
}

export class DeletedTwiceError extends TidepoolError {
  constructor(
    readonly collection: string,
    readonly id: string,
  ) {
    super(`Tried to delete a model twice: ${collection} ${JSON.stringify(id)}`)
  }
}

/** There is no connection; `committed` tells whether the write was committed locally (and stays queued). */
export class OfflineError extends TidepoolError {
  constructor(
    readonly committed: boolean,
    message = committed ? 'Connection lost while waiting for the server; the write stays queued' : 'No connection to the server; nothing was committed',
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** The server refused the sync token (HTTP 401): the app's token function must give a valid one. */
export class AuthenticationError extends TidepoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * What a sync round's failure means to the app: no connection is an
 * `OfflineError`, a refused token an `AuthenticationError`; other failures
 * (a server error, a 404, another user's token) are what they are.
 */
export function roundFailure(e: unknown): unknown {
  if (!(e instanceof HttpError)) return e
  if (e.status === 0) return new OfflineError(false, `No connection to the server: ${e.message}`, { cause: e })
  if (e.status === 401) return new AuthenticationError(`The server refused the token: ${e.message}`, { cause: e })
  return e
}

/**
 * A replica belongs to one user: it holds their documents and their pending
 * writes. Opened or synced with a token for another user, it refuses until
 * `db.signOut()` clears it.
 */
export class WrongUserError extends TidepoolError {
  constructor(
    readonly owner: string,
    readonly userId: string,
  ) {
    super(
      `this replica belongs to user ${JSON.stringify(owner)}, not ${JSON.stringify(userId)}: sign ${JSON.stringify(owner)} out first ` +
        "(db.signOut(), on a database opened with their token, or without sync to drop their pending writes: signOut({ pending: 'discard' }))",
    )
  }
}

/** Why a document failed a check, as the replica and the server report it. */
export type ConditionReason = 'condition-failed' | 'not-found'

/**
 * A precondition failed at commit: what the transaction read has changed
 * since (retryable), or a blind update met a missing document (not retryable).
 */
export class ConditionFailedError extends TidepoolError {
  constructor(
    readonly collection: string,
    readonly id: string,
    readonly reason: ConditionReason,
    /** What changed (or what is missing), in words. */
    readonly detail: string,
  ) {
    super(`${reason === 'not-found' ? 'Document not found' : 'Condition failed'}: ${collection} ${JSON.stringify(id)} (${detail})`)
    this.retryable = reason === 'condition-failed'
  }
}

export class PermissionDeniedError extends TidepoolError {
  constructor(reason: string) {
    super(`Permission denied: ${reason}`)
  }
}

/** The database (or storage) was used after `close()`. */
export class ClosedError extends TidepoolError {
  constructor(what: string) {
    super(`${what} is closed`)
  }
}

/** A query no index serves, with `strictIndexes` on. */
export class MissingIndexError extends TidepoolError {
  constructor(
    readonly collection: string,
    readonly suggestion: string[],
  ) {
    super(`No index serves this query on ${collection}; add static INDEXES = [[${suggestion.map(s => JSON.stringify(s)).join(', ')}]] (or turn off strictIndexes)`)
  }
}

/**
 * The storage could not do what was asked: out of quota, an upgrade that
 * other connections kept blocked, a medium that refused to open, or data
 * written by a newer Tidepool. `code` names the case (`quota-exceeded`,
 * `blocked`, `unavailable`, `newer-format`).
 */
export class StorageError extends TidepoolError {
  constructor(
    readonly code: 'quota-exceeded' | 'blocked' | 'unavailable' | 'newer-format',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/**
 * Another tab or process opened this replica with a newer schema version:
 * this one's models are out of date, so it may read but no longer write.
 * Reload the page (or restart) to run the new code.
 */
export class SchemaChangedError extends TidepoolError {
  constructor(
    readonly current: number,
    readonly stored: number,
  ) {
    super(
      stored > current
        ? `this replica was opened elsewhere with schema version ${stored}, newer than this code's ${current}; reload to use the new version (writes are refused until then)`
        : `this replica was opened elsewhere by an older version of the app (schema version ${stored}), which made its indexes over again for itself; reload (writes are refused until then)`,
    )
  }
}

/**
 * An HTTP exchange with a Tidepool server failed, on either side: `status`
 * is the HTTP status (0: the network — offline, refused, timed out) and
 * `code` the protocol's error code (`unauthenticated`, `invalid-message`,
 * `too-large`, `offline`...).
 */
export class HttpError extends TidepoolError {
  /** How long the server asked to wait before trying again (its `Retry-After`), if it did. */
  readonly retryAfterMs: number | undefined

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options)
    this.retryAfterMs = options?.retryAfterMs
  }
}

/** A sync file that cannot be used: missing, half-written, or not Tidepool's. Readers skip it and keep their cursor. */
export class CorruptFileError extends TidepoolError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`)
  }
}

/**
 * The server rejected a mutation that `db.run({ confirm: 'server' })` waited
 * for: its effects are rolled back and the rejection is stored. Retryable,
 * so `db.run` runs the transaction again; after the last retry it is the
 * `original` of `TransactionFailedError`.
 */
export class RejectedError extends TidepoolError {
  constructor(
    readonly mutationId: string,
    readonly reason: RejectionReason,
    readonly detail: string,
  ) {
    super(`The server rejected the mutation: ${reason}: ${detail}`)
    this.retryable = true
  }
}

/** A feature needs an optional package that is not installed: `npm install` the `packages` named. */
export class MissingPackageError extends TidepoolError {
  constructor(
    readonly packageName: string,
    readonly feature: string,
    readonly packages: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`${feature} needs the package ${packageName}, which is not installed: npm install ${packages.join(' ')}`, options)
  }
}
