import { backoff, sleep } from '../core/backoff.js'
import { AuthenticationError, ClosedError, HttpError, InvalidOptionsError, InvalidParameterError, OfflineError, RejectedError, roundFailure, TransactionFailedError } from '../core/errors.js'
import type { ModelMeta } from '../orm/meta.js'
import { Transaction } from '../orm/transaction.js'
import type { ModelClass } from '../orm/types.js'
import type { Replica } from '../replica/replica.js'
import type { Sync } from '../sync/index.js'
import { checkRunOptions, type RunOptions } from './options.js'

/** What a transaction runs against. */
export interface RunContext {
  name: string
  replica: Replica
  metaFor: (cls: ModelClass) => ModelMeta
  strictIndexes: boolean
  /** The server sync, for `confirm: 'server'`. */
  sync: Sync | undefined
  closed(): boolean
}

/**
 * Runs `fn` in a transaction and commits what it did as one mutation,
 * retrying with exponential backoff when a precondition fails at commit or
 * `fn` throws an error with `retryable: true`; after the last retry throws
 * `TransactionFailedError` with the last error as `.original`.
 */
export async function run<T>(ctx: RunContext, options: RunOptions, fn: (tx: Transaction) => Promise<T> | T): Promise<T> {
  if (typeof fn !== 'function') throw new InvalidParameterError('fn', 'db.run needs a function')
  const opts = checkRunOptions(options)
  const sync = opts.confirm === 'server' ? ctx.sync : undefined
  if (opts.confirm === 'server' && !sync) throw new InvalidOptionsError('confirm', "confirm: 'server' needs openDatabase({ sync })")
  for (let attempt = 0; ; attempt++) {
    if (ctx.closed()) throw new ClosedError(`database ${ctx.name}`)
    // not connected: why, as the last round found (a refused token is not a lost connection); nothing committed
    if (sync && !sync.connected) throw notConnected(sync.failure)
    const tx = new Transaction(ctx.replica, ctx.metaFor, opts.readOnly, opts.cacheModels, ctx.strictIndexes)
    try {
      const result = await fn(tx)
      const committed = await tx.commit()
      if (sync && committed?.mutation) await confirmed(sync, committed.mutation.id)
      return result
    } catch (e) {
      tx.abandon()
      if (!isRetryable(e)) throw e
      if (attempt >= opts.retries) throw new TransactionFailedError(`Transaction failed after ${attempt + 1} attempts: ${(e as Error).message}`, e)
      await sleep(backoff(attempt, { initial: opts.initialBackoff, max: opts.maxBackoff, jitter: 0.1 }))
    }
  }
}

/** Waits for the server's verdict on a committed mutation; a rejection is a `RejectedError`, which retries the transaction. */
async function confirmed(sync: Sync, mutationId: string): Promise<void> {
  const waiting = sync.waitFor(mutationId)
  // its failure reaches the wait below
  sync.syncNow().catch(() => undefined)
  let result
  try {
    result = await waiting
  } catch (e) {
    const why = roundFailure(e)
    if (why instanceof AuthenticationError) throw new AuthenticationError(`${why.message}; the write stays queued`, { cause: e })
    throw new OfflineError(true, undefined, { cause: e })
  }
  if (result.status === 'rejected') throw new RejectedError(mutationId, result.reason, result.message)
}

function notConnected(failure: unknown): Error {
  const why = failure === undefined ? undefined : roundFailure(failure)
  // a lost connection is already an OfflineError (roundFailure): what remains is the server's answer
  if (why instanceof AuthenticationError || why instanceof HttpError) return why
  return new OfflineError(false, undefined, { cause: failure })
}

function isRetryable(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { retryable?: unknown }).retryable === true
}
