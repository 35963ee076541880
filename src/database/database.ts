import { ClosedError, InvalidOptionsError, InvalidParameterError, OfflineError } from '../core/errors.js'
import type { Mutation } from '../core/mutation.js'
import type { Syncer } from '../core/syncer.js'
import { AREAS as FILE_AREAS } from '../files/events.js'
import { FileSync } from '../files/file-sync.js'
import { encodeKeyOf, type ModelMeta } from '../orm/meta.js'
import { Query } from '../orm/query.js'
import { QueryRunner } from '../orm/query-runner.js'
import { readOnlyInstance } from '../orm/instances.js'
import type { Transaction } from '../orm/transaction.js'
import type { Instance, KeyInput, ModelClass } from '../orm/types.js'
import { LiveQueries, type LiveOptions } from '../replica/live.js'
import type { ReportOptions } from '../replica/inspect.js'
import type { Plan } from '../replica/query.js'
import type { AsideDoc, Rejection, Replica } from '../replica/replica.js'
import type { StatsSnapshot } from '../replica/stats.js'
import type { Sync } from '../sync/index.js'
import type { TabChannel } from '../tabs/channel.js'
import type { RunOptions } from './options.js'
import { StatusHistory, type DatabaseReport } from './report.js'
import { run, type RunContext } from './run.js'

/**
 * An open database: run transactions against its local replica, query it,
 * watch it, and sync it through its one syncer (a server, another tab's
 * connection, or file stores). `S` is the type of `db.sync`.
 */
export class Database<S extends Sync | undefined = Sync | undefined> {
  private closed = false
  private readonly live: LiveQueries
  private readonly queries: QueryRunner
  private readonly context: RunContext
  private readonly history: StatusHistory

  /** @internal use `openDatabase` */
  constructor(
    readonly name: string,
    private readonly replica: Replica,
    private readonly metas: Map<ModelClass, ModelMeta>,
    strictIndexes: boolean,
    private readonly syncer: Syncer | undefined,
    private readonly tabs: TabChannel | undefined,
  ) {
    this.live = new LiveQueries(replica, () => !syncer?.upToDate)
    this.history = new StatusHistory(syncer)
    syncer?.subscribe(() => this.live.metadataChanged())
    this.queries = new QueryRunner(replica, strictIndexes, { guard: () => this.assertOpen(), instance: (meta, hit) => readOnlyInstance(meta, hit.id, hit.doc), live: this.live })
    this.context = { name, replica, metaFor: this.metaFor, strictIndexes, sync: this.serverSync, closed: () => this.closed }
  }

  /** Sync with the server: `status` (phase, pending, last error, last sync), `subscribe`, `syncNow()`. Undefined without `sync`. */
  get sync(): S {
    return this.serverSync as S
  }

  private get serverSync(): Sync | undefined {
    return this.syncer instanceof FileSync ? undefined : (this.syncer as Sync | undefined)
  }

  /**
   * Serverless sync through file stores: `link(store, { label })`, `sync()`,
   * `shareUrl()`, `addPeer(url)`. Throws `InvalidOptionsError` on a database
   * that syncs with a server.
   */
  get files(): FileSync {
    if (!(this.syncer instanceof FileSync)) throw new InvalidOptionsError('files', 'this database syncs with a server; a replica syncs either with a server or through files')
    return this.syncer
  }

  /** Mutations the server rejected (their effects rolled back), kept until `ack()`ed, even across restarts. */
  async rejections(): Promise<Array<Rejection & {
    /** Forgets the rejection: it is no longer kept or listed. */
    ack(): Promise<void>
  }>> {
    return (await this.replica.rejections()).map(r => ({ ...r, ack: () => this.replica.ackRejection(r.id) }))
  }

  /** Calls `listener` for each mutation the server rejects. Returns a function that stops it. */
  on(event: 'rejected', listener: (r: Rejection & { ack(): Promise<void> }) => void): () => void
  /**
   * Calls `listener` the first time a stored document is met that this
   * version of the app cannot read (it fails the model's schema after its
   * migrations). Such a document is kept as stored, skipped by queries and
   * reads, and counted in `db.stats().keptAside`.
   */
  on(event: 'invalid', listener: (doc: AsideDoc) => void): () => void
  /** Calls `listener` after every change to the replica's documents: this tab's commits, another tab's, and what sync brings. */
  on(event: 'change', listener: () => void): () => void
  on(event: 'rejected' | 'invalid' | 'change', listener: ((r: Rejection & { ack(): Promise<void> }) => void) | ((doc: AsideDoc) => void) | (() => void)): () => void {
    if (event === 'invalid') return this.replica.onAside(listener as (doc: AsideDoc) => void)
    if (event === 'change') return this.replica.onChange(() => (listener as () => void)())
    if (event !== 'rejected') throw new InvalidParameterError('event', `unknown event ${String(event)}`)
    const sync = this.serverSync
    if (!sync) return () => undefined
    return sync.onRejected(r => (listener as (r: Rejection & { ack(): Promise<void> }) => void)({ ...r, ack: () => this.replica.ackRejection(r.id) }))
  }

  /**
   * The user this replica belongs to: the subject of the sync token, or the
   * user a server named (`anonymous` on a server without auth). Undefined
   * until known, and after `signOut()`.
   */
  get userId(): string | undefined {
    return this.replica.userId
  }

  /** File sync's event log and cursors belong to the identity a sign-out ends: the next sync merges everything again, under the new one. */
  private get syncAreas(): string[] {
    return this.syncer instanceof FileSync ? Object.values(FILE_AREAS) : []
  }

  /**
   * Signs the replica's user out: with `pending: 'push'` (the default) the
   * outbox is pushed first, and if it cannot be the call rejects with
   * `OfflineError` and changes nothing; with `pending: 'discard'` pending
   * writes are dropped and returned. Then the replica is emptied (live
   * queries see every document removed) and takes a new client id, so the
   * next user starts from nothing. Every tab on the replica follows.
   */
  async signOut(options: { pending?: 'push' | 'discard' } = {}): Promise<{ discarded: Mutation[] }> {
    this.assertOpen()
    if (typeof options !== 'object' || options === null) throw new InvalidParameterError('options', "signOut takes { pending: 'push' | 'discard' }")
    const pending = options.pending ?? 'push'
    if (pending !== 'push' && pending !== 'discard') throw new InvalidParameterError('pending', "pending must be 'push' or 'discard'")
    // a push in flight may yet be applied: what it carried is not discarded unless the server refused it
    if (pending === 'discard') {
      await this.serverSync?.idle()
      return { discarded: (await this.replica.clear({ areas: this.syncAreas }))! }
    }
    // pushed, then cleared only if nothing was written meanwhile (here or in another tab): else pushed again
    for (let attempt = 0; attempt < 3; attempt++) {
      let failure: unknown
      if ((await this.replica.pendingCount()) > 0) await this.serverSync?.syncNow().catch((e: unknown) => (failure = e))
      const left = await this.replica.pendingCount()
      if (left > 0) {
        const why = failure instanceof Error ? ` (${failure.message})` : ''
        throw new OfflineError(false, `${left} pending write${left === 1 ? '' : 's'} could not be pushed${why}, so nothing was signed out (sign out with pending: 'discard' to drop them)`, { cause: failure })
      }
      if (await this.replica.clear({ onlyIfPushed: true, areas: this.syncAreas })) return { discarded: [] }
    }
    throw new OfflineError(false, "writes kept coming while signing out, so nothing was signed out (sign out with pending: 'discard' to drop them)")
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
  run<T>(a: RunOptions | ((tx: Transaction) => Promise<T> | T), b?: (tx: Transaction) => Promise<T> | T): Promise<T> {
    return typeof a === 'function' ? run(this.context, {}, a) : run(this.context, a, b!)
  }

  private readonly metaFor = (cls: ModelClass): ModelMeta => {
    const meta = this.metas.get(cls)
    if (meta) return meta
    if (typeof cls !== 'function') throw new InvalidParameterError('model', 'expected a model class')
    throw new InvalidParameterError('model', `${cls.name} is not one of the models database ${this.name} was opened with`)
  }

  /**
   * A query outside any transaction: `fetch()` and `count()` read the local
   * replica; `subscribe()` keeps a live result. Documents are read-only.
   */
  query<M extends ModelClass>(cls: M): Query<M> {
    const meta = this.metaFor(cls)
    return new Query<M>(this.queries, meta, { collection: meta.collection, filters: [], orders: [] })
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
    return this.live.watch(
      meta.collection,
      id,
      (hit, pending) => callback(hit ? (readOnlyInstance(meta, id, hit.doc) as Instance<M>) : undefined, { fromCache: true, hasPendingWrites: pending }),
      options,
    )
  }

  /** Cache hits and misses, writes skipped, and durations of commits, queries and subscription refreshes. */
  stats(): StatsSnapshot & { files?: FileSync['stats'] } {
    const files = this.syncer instanceof FileSync ? this.syncer.stats : undefined
    return { ...this.replica.stats.snapshot(), ...(files && (files.syncs || files.stores) ? { files } : {}) }
  }

  /**
   * What the database holds and does, for tools (the devtools panel,
   * `tidepool inspect`): identity and revision, documents by collection,
   * the outbox with each mutation's ops and preconditions, stored
   * rejections, the user's memberships, the sync status and its history,
   * open subscriptions and `stats()`. With `documents`, also the first
   * documents of one collection. It reads every document record, so it is
   * for looking, not for a hot path.
   */
  async inspect(options: ReportOptions = {}): Promise<DatabaseReport> {
    this.assertOpen()
    const report = await this.replica.report(options)
    // copies: the report is the caller's to change, and memory storage hands out what it holds
    return structuredClone({
      name: this.name,
      at: Date.now(),
      ...report,
      // file sync with no store linked yet syncs with nothing: no status to show
      ...(this.syncer && !(this.syncer instanceof FileSync && this.syncer.stats.stores === 0) ? { status: this.syncer.status } : {}),
      statusHistory: this.history.list(),
      subscriptions: this.live.describe(),
      stats: this.stats(),
    })
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
    await this.syncer?.stop()
    this.tabs?.close()
    await this.replica.close()
  }
}

/** The database's syncer, whichever it is (a server's, or file sync's); undefined for a database that does not sync. */
export function syncerOf(db: Database): Syncer | undefined {
  if (db.sync) return db.sync
  try {
    return db.files
  } catch {
    return undefined
  }
}
