import { ClosedError, InvalidOptionsError, InvalidParameterError, TransactionFailedError } from '../core/errors.js'
import { isPlainObject } from '../core/json.js'
import type { Mutation } from '../core/mutation.js'
import { memoryStorage } from '../replica/memory.js'
import { Replica } from '../replica/replica.js'
import type { Storage } from '../replica/storage.js'
import { metaOf, type ModelMeta } from './meta.js'
import { Model } from './model.js'
import { Transaction } from './transaction.js'
import type { ModelClass } from './types.js'

export interface DatabaseOptions {
  /** The database's name (one replica per name and storage). */
  name: string
  /** Every model the app uses; collection names must be unique. */
  models: ModelClass[]
  /** Where the replica lives; default `memoryStorage()`. */
  storage?: Storage
  /** The version of the models' schema that mutations are written under; default 1. */
  schemaVersion?: number
}

export interface RunOptions {
  /** Retries after a retryable failure (default 4, so up to 5 attempts). */
  retries?: number
  /** First backoff in ms (default 10); doubles each retry, ±10% jitter. */
  initialBackoff?: number
  /** Cap on a backoff in ms (default 500). */
  maxBackoff?: number
  /** Any write throws `WriteAttemptedInReadOnlyTxError`. */
  readOnly?: boolean
  /** Reading a document twice returns the first instance instead of throwing. */
  cacheModels?: boolean
}

const RUN_DEFAULTS = { retries: 4, initialBackoff: 10, maxBackoff: 500, readOnly: false, cacheModels: false }

/** Opens (creating where needed) a database on its storage. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (!isPlainObject(options as unknown)) throw new InvalidOptionsError('options', 'openDatabase takes { name, models, storage }')
  for (const k of Object.keys(options)) {
    if (!['name', 'models', 'storage', 'schemaVersion'].includes(k)) throw new InvalidOptionsError(k, 'unknown option')
  }
  if (typeof options.name !== 'string' || options.name === '') throw new InvalidOptionsError('name', 'a database needs a name')
  if (!Array.isArray(options.models)) throw new InvalidOptionsError('models', 'models must be an array of model classes')
  const schemaVersion = options.schemaVersion ?? 1
  if (!Number.isInteger(schemaVersion) || schemaVersion < 1) throw new InvalidOptionsError('schemaVersion', 'must be a positive integer')
  const metas = new Map<ModelClass, ModelMeta>()
  const byName = new Map<string, ModelClass>()
  for (const cls of options.models) {
    if (typeof cls !== 'function' || !(cls.prototype instanceof Model)) throw new InvalidOptionsError('models', `${String(cls)} is not a model class`)
    const meta = metaOf(cls)
    const other = byName.get(meta.collection)
    if (other && other !== cls) {
      throw new InvalidOptionsError('models', `${other.name} and ${cls.name} both use the collection ${meta.collection}; set static COLLECTION on one of them`)
    }
    byName.set(meta.collection, cls)
    metas.set(cls, meta)
  }
  const replica = await Replica.open(options.storage ?? memoryStorage(), {
    collections: [...metas.values()].map(m => ({ name: m.collection, key: m.keyNames.map(n => `${n}:${m.keyChecks[n]!.schema.kind}`) })),
    schemaVersion,
  })
  return new Database(options.name, replica, metas)
}

/** An open database: run transactions against its local replica. */
export class Database {
  private closed = false

  /** @internal use `openDatabase` */
  constructor(
    readonly name: string,
    private readonly replica: Replica,
    private readonly metas: Map<ModelClass, ModelMeta>,
  ) {}

  /** This replica's client id (random, kept in the replica). */
  get clientId(): string {
    return this.replica.clientId
  }

  /**
   * Runs `fn` in a transaction and commits what it did as one mutation.
   * Retries (with exponential backoff) when a precondition fails at commit or
   * `fn` throws an error with `retryable: true`; after the last retry throws
   * `TransactionFailedError` with the last error as `.original`. Returns what
   * `fn` returned.
   */
  run<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T>
  run<T>(options: RunOptions, fn: (tx: Transaction) => Promise<T> | T): Promise<T>
  async run<T>(a: RunOptions | ((tx: Transaction) => Promise<T> | T), b?: (tx: Transaction) => Promise<T> | T): Promise<T> {
    const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b]
    if (typeof fn !== 'function') throw new InvalidParameterError('fn', 'db.run needs a function')
    const opts = checkRunOptions(options)
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new ClosedError(`database ${this.name}`)
      const tx = new Transaction(this.replica, this.metaFor, opts.readOnly, opts.cacheModels)
      try {
        const result = await fn(tx)
        await tx.commit()
        return result
      } catch (e) {
        tx.abandon()
        if (!isRetryable(e)) throw e
        if (attempt >= opts.retries) throw new TransactionFailedError(`Transaction failed after ${attempt + 1} attempts: ${(e as Error).message}`, e)
        await sleep(backoff(attempt, opts.initialBackoff, opts.maxBackoff))
      }
    }
  }

  private readonly metaFor = (cls: ModelClass): ModelMeta => {
    const meta = this.metas.get(cls)
    if (meta) return meta
    if (typeof cls !== 'function') throw new InvalidParameterError('model', 'expected a model class')
    throw new InvalidParameterError('model', `${cls.name} is not one of the models database ${this.name} was opened with`)
  }

  /** Mutations committed locally and not yet confirmed by a server, in commit order. */
  pendingMutations(): Promise<Mutation[]> {
    return this.replica.outbox()
  }

  /** Closes the replica; later calls throw `ClosedError`. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.replica.close()
  }
}

function isRetryable(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { retryable?: unknown }).retryable === true
}

function checkRunOptions(o: unknown): Required<RunOptions> {
  if (!isPlainObject(o)) throw new InvalidOptionsError('options', 'run options must be an object')
  for (const [k, v] of Object.entries(o)) {
    if (!(k in RUN_DEFAULTS)) throw new InvalidOptionsError(k, 'unknown option')
    const expected = typeof RUN_DEFAULTS[k as keyof RunOptions]
    if (typeof v !== expected) throw new InvalidOptionsError(k, `must be a ${expected}`)
    if (expected === 'number' && (!Number.isInteger(v) || (v as number) < 0)) throw new InvalidOptionsError(k, 'must be a non-negative integer')
  }
  const opts = { ...RUN_DEFAULTS, ...o } as Required<RunOptions>
  if (opts.initialBackoff > opts.maxBackoff) throw new InvalidOptionsError('initialBackoff', 'cannot exceed maxBackoff')
  return opts
}

/** Exponential: initial × 2^attempt, capped, with ±10% jitter so contenders spread out. */
export function backoff(attempt: number, initial: number, max: number): number {
  const base = Math.min(max, initial * 2 ** attempt)
  return base * (0.9 + Math.random() * 0.2)
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}
