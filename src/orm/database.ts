import { ClosedError, ConditionFailedError, InvalidOptionsError, InvalidParameterError, MissingIndexError, OfflineError, TransactionFailedError } from '../core/errors.js'
import { isPlainObject } from '../core/json.js'
import type { Mutation } from '../core/mutation.js'
import { memoryStorage } from '../replica/memory.js'
import type { QuerySpec } from '../core/query.js'
import { LiveQueries, watchDoc, type LiveOptions } from '../replica/live.js'
import type { Plan, QueryHit } from '../replica/query.js'
import { Replica, type Progress, type Rejection } from '../replica/replica.js'
import { startSync, type Sync, type SyncOptions } from '../sync/index.js'
import { TabChannel } from '../tabs/channel.js'
import { TabSync } from '../tabs/tab-sync.js'
import { TABS_AREA } from '../tabs/leader.js'
import { AREAS as FILE_AREAS } from '../files/events.js'
import { FileSync, type FileSyncOptions } from '../files/file-sync.js'
import type { FileStore } from '../files/store.js'
import type { StatsSnapshot } from '../replica/stats.js'
import type { Storage } from '../replica/storage.js'
import { encodeKeyOf, metaOf, type ModelMeta } from './meta.js'
import { Query, type QuerySource } from './query.js'
import { Model } from './model.js'
import { readOnlyInstance, Transaction } from './transaction.js'
import type { Instance, KeyInput, ModelClass } from './types.js'

export interface DatabaseOptions {
  /** The database's name (one replica per name and storage). */
  name: string
  /** Every model the app uses; collection names must be unique. */
  models: ModelClass[]
  /** Where the replica lives; default `memoryStorage()`. */
  storage?: Storage
  /** The version of the models' schema that mutations are written under; default 1. */
  schemaVersion?: number
  /** A query that no index serves throws `MissingIndexError` instead of scanning its collection. */
  strictIndexes?: boolean
  /** Progress of long work at open, such as building a new index over a large collection. */
  onProgress?: (progress: Progress) => void
  /**
   * Log operations slower than `slowMs` (default 50) to `log` (default console.warn).
   * Also turned on by the environment variable TIDEPOOL_DEBUG (its value: the threshold in ms).
   */
  debug?: boolean | { slowMs?: number; log?: (line: string) => void }
  /** Sync with a Tidepool server. */
  sync?: SyncOptions
  /**
   * Sync without a server, through file stores (a shared folder, WebDAV):
   * the stores to link at once, or options with them. A replica syncs with a
   * server or through files, not both.
   */
  files?: FileStore[] | (FileSyncOptions & { stores?: FileStore[] })
}

const OPTIONS = ['name', 'models', 'storage', 'schemaVersion', 'strictIndexes', 'onProgress', 'debug', 'sync', 'files']

export interface RunOptions {
  /**
   * `'server'`: fail fast with `OfflineError` (nothing committed) when not
   * connected; otherwise commit, wait for the server, and re-run `fn` when it
   * rejects the mutation. If the connection drops while waiting, throws
   * `OfflineError` with `committed: true` (the mutation stays queued).
   */
  confirm?: 'local' | 'server'
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

const RUN_DEFAULTS = { retries: 4, initialBackoff: 10, maxBackoff: 500, readOnly: false, cacheModels: false, confirm: 'local' as 'local' | 'server' }

/** Opens (creating where needed) a database on its storage. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options?.sync !== undefined && options.files !== undefined) {
    throw new InvalidOptionsError('files', 'a replica syncs either with a server (sync) or through files (files), not both')
  }
  const { replica, metas, tabs } = await openReplica(options)
  const syncOptions = options.sync
  let sync: Sync | undefined
  if (syncOptions) sync = tabs ? new TabSync(replica, tabs, { start: () => startSync(replica, syncOptions) }) : await startSync(replica, syncOptions)
  const fileOptions = Array.isArray(options.files) ? { stores: options.files } : (options.files ?? {})
  const files = sync ? undefined : new FileSync(replica, options.name, fileOptions)
  for (const store of fileOptions.stores ?? []) files!.link(store)
  return new Database(options.name, replica, metas, options.strictIndexes === true, sync, tabs, files)
}

/**
 * Checks the options and opens the replica for the models: what a database
 * and a sync service worker share. On a storage that tabs share, the
 * replica tells the other tabs about its changes on `tabs`.
 */
export async function openReplica(options: DatabaseOptions): Promise<{ replica: Replica; metas: Map<ModelClass, ModelMeta>; tabs: TabChannel | undefined }> {
  if (!isPlainObject(options as unknown)) throw new InvalidOptionsError('options', 'openDatabase takes { name, models, storage }')
  for (const k of Object.keys(options)) {
    if (!OPTIONS.includes(k)) throw new InvalidOptionsError(k, 'unknown option')
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new InvalidOptionsError('onProgress', 'must be a function')
  if (options.sync !== undefined) {
    if (!isPlainObject(options.sync as unknown) || typeof options.sync.url !== 'string' || !/^https?:\/\//.test(options.sync.url)) {
      throw new InvalidOptionsError('sync', 'sync needs { url: "http(s)://…", token?: () => jwt }')
    }
    if (options.sync.token !== undefined && typeof options.sync.token !== 'function') throw new InvalidOptionsError('sync.token', 'must be a function returning the token')
    if (options.sync.serviceWorker !== undefined && typeof options.sync.serviceWorker !== 'boolean') throw new InvalidOptionsError('sync.serviceWorker', 'must be true or false')
    if (options.sync.serviceWorker && !options.storage?.shared) throw new InvalidOptionsError('sync.serviceWorker', 'a service worker pushes from a storage it shares with the page: use indexedDbStorage')
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
  const storage = options.storage ?? memoryStorage()
  // tabs sharing the storage tell each other their changes, and elect one of them to sync
  const tabs = storage.shared ? new TabChannel(storage.shared.channel) : undefined
  const replica = await Replica.open(storage, {
    collections: [...metas.values()].map(m => ({
      name: m.collection,
      key: m.keyNames.map(n => `${n}:${m.keyChecks[n]!.schema.kind}`),
      indexes: m.indexes,
    })),
    schemaVersion,
    // a replica synced with a server keeps no file-sync log; tabs sharing a storage keep their lease in it
    areas: [...(options.sync ? [] : Object.values(FILE_AREAS)), ...(storage.shared ? [TABS_AREA] : [])],
    onProgress: options.onProgress,
    debug: debugOptions(options.debug),
    peers: tabs?.notices(),
  }).catch((e: unknown) => {
    tabs?.close()
    throw e
  })
  return { replica, metas, tabs }
}

function debugOptions(d: DatabaseOptions['debug']): { slowMs: number; log: (line: string) => void } | undefined {
  const env = typeof process !== 'undefined' ? process.env?.TIDEPOOL_DEBUG : undefined
  if (!d && !env) return undefined
  const o = typeof d === 'object' ? d : {}
  return { slowMs: o.slowMs ?? (Number(env) || 50), log: o.log ?? (line => console.warn(line)) }
}

/** An open database: run transactions against its local replica. */
export class Database {
  private closed = false

  private readonly live: LiveQueries

  /** @internal use `openDatabase` */
  constructor(
    readonly name: string,
    private readonly replica: Replica,
    private readonly metas: Map<ModelClass, ModelMeta>,
    private readonly strictIndexes: boolean,
    private readonly engine: Sync | undefined,
    private readonly tabs: TabChannel | undefined,
    private readonly fileSync: FileSync | undefined,
  ) {
    this.live = new LiveQueries(replica, () => !engine?.upToDate)
    engine?.subscribe(() => this.live.metadataChanged())
  }

  /** Sync with the server: `status` (phase, pending, last error, last sync), `subscribe`, `syncNow()`. Undefined without `sync`. */
  get sync(): Sync | undefined {
    return this.engine
  }

  /**
   * Serverless sync through file stores: `link(store, { label })`, `sync()`,
   * `shareUrl()`, `addPeer(url)`. Throws `InvalidOptionsError` on a database
   * that syncs with a server.
   */
  get files(): FileSync {
    if (!this.fileSync) throw new InvalidOptionsError('files', 'this database syncs with a server; a replica syncs either with a server or through files')
    return this.fileSync
  }

  /** Mutations the server rejected (their effects rolled back), kept until `ack()`ed, even across restarts. */
  async rejections(): Promise<Array<Rejection & { ack(): Promise<void> }>> {
    return (await this.replica.rejections()).map(r => ({ ...r, ack: () => this.replica.ackRejection(r.id) }))
  }

  /** Calls `listener` for each mutation the server rejects. Returns a function that stops it. */
  on(event: 'rejected', listener: (r: Rejection & { ack(): Promise<void> }) => void): () => void {
    if (event !== 'rejected') throw new InvalidParameterError('event', `unknown event ${String(event)}`)
    if (!this.engine) return () => undefined
    return this.engine.onRejected(r => listener({ ...r, ack: () => this.replica.ackRejection(r.id) }))
  }

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
    if (opts.confirm === 'server' && !this.engine) throw new InvalidOptionsError('confirm', "confirm: 'server' needs openDatabase({ sync })")
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new ClosedError(`database ${this.name}`)
      if (opts.confirm === 'server' && !this.engine!.connected) throw new OfflineError(false)
      const tx = new Transaction(this.replica, this.metaFor, opts.readOnly, opts.cacheModels, this.checkPlan)
      try {
        const result = await fn(tx)
        const committed = await tx.commit()
        if (opts.confirm === 'server' && committed?.mutation) await this.confirmed(committed.mutation.id)
        return result
      } catch (e) {
        tx.abandon()
        if (!isRetryable(e)) throw e
        if (attempt >= opts.retries) throw new TransactionFailedError(`Transaction failed after ${attempt + 1} attempts: ${(e as Error).message}`, e)
        await sleep(backoff(attempt, opts.initialBackoff, opts.maxBackoff))
      }
    }
  }

  /** Waits for the server's verdict on a committed mutation; a rejection retries the transaction. */
  private async confirmed(mutationId: string): Promise<void> {
    const waiting = this.engine!.waitFor(mutationId)
    void this.engine!.syncNow()
    let result
    try {
      result = await waiting
    } catch {
      throw new OfflineError(true)
    }
    if (result.status === 'rejected') {
      throw Object.assign(new ConditionFailedError('', '', 'condition-failed', `the server rejected the mutation: ${result.reason}: ${result.message}`), { retryable: true })
    }
  }

  private readonly metaFor = (cls: ModelClass): ModelMeta => {
    const meta = this.metas.get(cls)
    if (meta) return meta
    if (typeof cls !== 'function') throw new InvalidParameterError('model', 'expected a model class')
    throw new InvalidParameterError('model', `${cls.name} is not one of the models database ${this.name} was opened with`)
  }

  private readonly checkPlan = (spec: QuerySpec): void => {
    if (!this.strictIndexes) return
    if (this.replica.explain(spec).type === 'scan') {
      const fields = [...spec.filters.filter(f => f.op === '==').map(f => f.path.join('.')), ...spec.filters.filter(f => f.op !== '==').map(f => f.path.join('.')), ...spec.orders.map(o => o.path.join('.'))]
      throw new MissingIndexError(spec.collection, [...new Set(fields)])
    }
  }

  /**
   * A query outside any transaction: `fetch()` and `count()` read the local
   * replica; `subscribe()` keeps a live result. Documents are read-only.
   */
  query<M extends ModelClass>(cls: M): Query<M> {
    const meta = this.metaFor(cls)
    return new Query<M>(this.querySource, meta, { collection: meta.collection, filters: [], orders: [] })
  }

  private readonly querySource: QuerySource = {
    fetch: async (meta, spec) => {
      this.assertOpen()
      this.checkPlan(spec)
      return (await this.replica.query(spec)).hits.map(h => readOnlyInstance(meta, h.id, h.doc))
    },
    count: async (_meta, spec) => {
      this.assertOpen()
      this.checkPlan(spec)
      return (await this.replica.query(spec)).hits.length
    },
    explain: spec => this.replica.explain(spec),
    subscribe: (meta, spec, cb, options) => {
      this.assertOpen()
      this.checkPlan(spec)
      const instances = new WeakMap<QueryHit, Model>()
      const instance = (h: QueryHit) => {
        let m = instances.get(h)
        if (!m) instances.set(h, (m = readOnlyInstance(meta, h.id, h.doc)))
        return m
      }
      return this.live.subscribe(
        spec,
        s => {
          const docs = s.hits.map(instance)
          cb({
            docs,
            changes: s.changes.map(c => ({ type: c.type, doc: instance(c.hit), oldIndex: c.oldIndex, newIndex: c.newIndex })),
            metadata: { fromCache: s.fromCache, hasPendingWrites: s.hasPendingWrites },
            size: docs.length,
            empty: docs.length === 0,
          })
        },
        options,
      )
    },
  }

  /** Which index a query uses, or that it scans. */
  explain<M extends ModelClass>(query: Query<M>): Plan {
    return query.explain()
  }

  /**
   * Watches one document: calls `callback` at once with it (undefined when
   * missing), then whenever it changes. Returns a function that stops it.
   */
  watch<M extends ModelClass>(
    cls: M,
    key: KeyInput<M>,
    callback: (doc: Readonly<Instance<M>> | undefined, metadata: { fromCache: boolean; hasPendingWrites: boolean }) => void,
    options: LiveOptions = {},
  ): () => void {
    this.assertOpen()
    const meta = this.metaFor(cls)
    const { id } = encodeKeyOf(meta, key)
    return watchDoc(
      this.replica,
      meta.collection,
      id,
      (hit, pending) => callback(hit ? (readOnlyInstance(meta, id, hit.doc) as Instance<M>) : undefined, { fromCache: true, hasPendingWrites: pending }),
      options,
    )
  }

  /** Cache hits and misses, writes skipped, and durations of commits, queries and subscription refreshes. */
  stats(): StatsSnapshot & { files?: FileSync['stats'] } {
    const files = this.fileSync?.stats
    return { ...this.replica.stats.snapshot(), ...(files && (files.syncs || files.stores) ? { files } : {}) }
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError(`database ${this.name}`)
  }

  /** Mutations committed locally and not yet confirmed by a server, in commit order. */
  pendingMutations(): Promise<Mutation[]> {
    return this.replica.outbox()
  }

  /** Closes the replica; later calls throw `ClosedError`. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.engine?.stop()
    await this.fileSync?.stop()
    this.tabs?.close()
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
    if (k === 'confirm') {
      if (v !== 'local' && v !== 'server') throw new InvalidOptionsError(k, "must be 'local' or 'server'")
      continue
    }
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
