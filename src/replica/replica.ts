import type { Doc } from '../core/apply.js'
import { applyMutation, assertMutation, touchedKeys } from '../core/commit.js'
import { InvalidOptionsError, SchemaChangedError, WrongUserError } from '../core/errors.js'
import { decodeClock, encodeClock, tick, ZERO } from '../core/hlc.js'
import { KeptAside, type DocReader } from '../core/doc-versions.js'
import { deepEqual } from '../core/json.js'
import { docKey, splitDocKey } from '../core/key.js'
import type { Mutation, Op, Precondition } from '../core/mutation.js'
import type { QuerySpec } from '../core/query.js'
import { ChangeFeed, type ChangeListener, type PeerNotices } from './change-feed.js'
import { readHead, writeHead, type Head } from './head.js'
import { indexDef, type IndexDef } from './indexes.js'
import { readRejections, reportOf, type ReplicaReport, type ReportOptions } from './inspect.js'
import { buildIndex, prepare, type CollectionInfo, type Progress } from './opening.js'
import { execute, plan, type Plan, type QueryHit } from './query.js'
import { collectionRange, localView, STORES, type DocRecord } from './records.js'
import type { Rejection } from '../core/changes.js'
import { Stats, type AsideDoc, type OperationKind } from './stats.js'
import type { Storage } from './storage.js'
import { Store, type Writer } from './store.js'
import { ViewWriter } from './view-writer.js'
import { ReadScope, WriteScope } from './write-scope.js'

export type { CollectionInfo, Progress } from './opening.js'
export type { Rejection } from '../core/changes.js'
export type { AsideDoc } from './stats.js'

export interface ReplicaOptions {
  collections: CollectionInfo[]
  schemaVersion: number
  /**
   * Storage areas the sync flavours keep beside the documents (file sync's
   * event log, the tabs' lease), each a store of its own: named when the
   * replica opens, so every adapter creates them up front.
   */
  areas?: readonly string[]
  onProgress?: (p: Progress) => void
  debug?: { slowMs: number; log: (line: string) => void }
  /** Other tabs on the same storage: told the keys each commit and pull changed, and telling theirs. */
  peers?: PeerNotices
}

/** What a commit did: the outbox entry it appended and the documents it changed (none: nothing was written). */
export interface CommitResult {
  mutation?: Mutation
  changed: Array<{ collection: string; id: string }>
}

const AREA_NAME = /^[a-z][a-z0-9_]*$/

/**
 * The local replica: documents, indexes, the outbox, a changelog and meta
 * over one `Storage`. Every write goes through `transact`, one storage
 * transaction that also writes the head and the changelog and delivers the
 * changes, so a crash leaves all of it or none. What each sync flavour does
 * with the replica (applying pulls, merging file logs) lives with that
 * flavour, in src/sync and src/files, on top of `transact`.
 */
export class Replica {
  readonly stats: Stats
  private readonly feed: ChangeFeed

  private constructor(
    private readonly storage: Store,
    private currentClientId: string,
    private currentUserId: string | undefined,
    private currentSignedOut: string | undefined,
    readonly schemaVersion: number,
    private readonly indexes: Map<string, IndexDef[]>,
    private readonly areas: ReadonlySet<string>,
    options: ReplicaOptions,
  ) {
    this.stats = new Stats(options.debug)
    this.feed = new ChangeFeed(storage, options.peers, () => this.refreshClientId(), (collection, id, doc) => this.shown(collection, id, doc))
    for (const c of options.collections) if (c.read) this.readers.set(c.name, c.read)
  }

  private readonly readers = new Map<string, DocReader>()
  private readonly asideListeners = new Set<(doc: AsideDoc) => void>()

  /** A stored document as the app reads it: as stored, migrated, or kept aside (reported the first time it is seen). */
  private appView(collection: string, id: string, doc: Doc): Doc | KeptAside {
    const read = this.readers.get(collection)
    if (!read) return doc
    if (!doc) {
      // gone: nothing is kept aside any more
      this.stats.readable(collection, id)
      return doc
    }
    const out = read(doc)
    if (!(out instanceof KeptAside)) this.stats.readable(collection, id)
    else {
      const aside = { collection, id, reason: out.reason, stored: out.stored }
      if (this.stats.keepAside(aside)) for (const l of [...this.asideListeners]) l(aside)
    }
    return out
  }

  /** A stored document as the app reads it; undefined where it is kept aside. */
  private shown(collection: string, id: string, doc: Doc): Doc {
    const out = this.appView(collection, id, doc)
    return out instanceof KeptAside ? undefined : out
  }

  /**
   * Calls `listener` for each document this app version cannot read (kept
   * aside, unchanged): at once for those met so far (opening meets them
   * when it builds indexes), then the first time each other one is met.
   */
  onAside(listener: (doc: AsideDoc) => void): () => void {
    this.asideListeners.add(listener)
    for (const doc of this.stats.keptAside()) listener(doc)
    return () => this.asideListeners.delete(listener)
  }

  static async open(adapter: Storage, options: ReplicaOptions): Promise<Replica> {
    const storage = new Store(adapter)
    const areas = new Set(options.areas ?? [])
    for (const a of areas) {
      if (!AREA_NAME.test(a) || Object.values<string>(STORES).includes(a)) throw new InvalidOptionsError('areas', `${a} is not a free storage area name`)
    }
    await storage.open([...Object.values(STORES), ...areas])
    try {
      const indexes = new Map(options.collections.map(c => [c.name, c.indexes.map(indexDef)]))
      const { clientId, userId, signedOut, seen, build } = await prepare(storage, options.collections, indexes, options.schemaVersion, randomId)
      const replica = new Replica(storage, clientId, userId, signedOut, options.schemaVersion, indexes, areas, options)
      replica.feed.start(seen)
      for (const b of build) await buildIndex(storage, w => replica.viewWriter(w), b, options.onProgress)
      return replica
    } catch (e) {
      await storage.close()
      throw e
    }
  }

  /** The id this replica pushes under (it changes when the server says the client diverged). */
  get clientId(): string {
    return this.currentClientId
  }

  /** The user the replica belongs to, once known. */
  get userId(): string | undefined {
    return this.currentUserId
  }

  /** Who signed out of the replica last, while nobody has signed in since. */
  get signedOut(): string | undefined {
    return this.currentSignedOut
  }

  /** Set where other tabs open the same data: the name they coordinate on (src/tabs). */
  get shared(): { channel: string } | undefined {
    return this.storage.shared
  }

  /**
   * Records the user the replica belongs to; throws `WrongUserError` if it
   * already belongs to another (only signing out clears it). With
   * `clientId`, only while the replica still has that id: a server's answer
   * to a client signed out meanwhile claims nothing.
   */
  async claimUser(userId: string, clientId?: string): Promise<void> {
    if (this.currentUserId === userId) return
    await this.transact(null, async scope => {
      const head = await scope.head()
      if (clientId !== undefined && head.clientId !== clientId) return
      if (head.userId !== undefined && head.userId !== userId) throw new WrongUserError(head.userId, userId)
      if (head.userId === undefined) {
        const { signedOut: _gone, ...rest } = head
        scope.setHead({ ...rest, userId })
      }
    })
  }

  /**
   * Empties the replica for the next user: every document (live queries see
   * them removed), the outbox, rejections, and the identity (a new client
   * id, nothing pulled, no user). Returns the pending mutations it dropped;
   * with `onlyIfPushed`, clears nothing and returns undefined if any are pending.
   * `areas` names the storage areas that hold sync data of the old identity
   * (file sync's event log and cursors), emptied with it.
   */
  clear(options: { onlyIfPushed?: boolean; areas?: readonly string[] } = {}): Promise<Mutation[] | undefined> {
    return this.transact(null, async scope => {
      const head = await scope.head()
      const outbox = await scope.outbox()
      // a write committed since the caller pushed (here or in another tab): the caller pushes again
      if (options.onlyIfPushed && outbox.length) return undefined
      for (const [k, r] of await scope.allRecords()) scope.writeRecord(k, r, undefined)
      for (const m of outbox) scope.deleteOutbox(m.seq)
      await scope.clearRejections()
      for (const name of options.areas ?? []) {
        const area = scope.area(name)
        for (const [k] of await area.scan()) area.delete(k)
      }
      const { userId, pullBase: _base, pullStarted: _started, ...rest } = head
      scope.setHead({ ...rest, clientId: randomId(), seq: 0, pulledRevision: 0, ...(userId !== undefined ? { signedOut: userId } : {}) })
      return outbox
    })
  }

  /** Re-reads the client id, which another tab or worker on the same storage may have renewed. */
  async refreshClientId(): Promise<string> {
    this.identify(await this.storage.read(readHead))
    return this.currentClientId
  }

  /**
   * Runs `fn` in one storage transaction over the replica, and then, once:
   * appends the documents it changed to the changelog, writes the head,
   * records the duration under `kind` (null: not an operation of the app's),
   * and tells listeners and other tabs what changed. A throw commits nothing.
   */
  async transact<T>(kind: OperationKind | null, fn: (scope: WriteScope) => Promise<T>): Promise<T> {
    const start = performance.now()
    const { result, changes, changeSeq, head } = await this.storage.write(async w => {
      const views = this.viewWriter(w)
      const scope = new WriteScope(w, this.areas, views)
      const result = await fn(scope)
      let head = scope.nextHead
      let changeSeq = 0
      if (views.changes.length) {
        head ??= await scope.head()
        changeSeq = views.log(head.changeSeq)
        head = { ...head, changeSeq }
      }
      if (head) writeHead(w, head)
      return { result, changes: views.changes, changeSeq, head }
    })
    if (head) this.identify(head)
    if (kind) this.stats.record(kind, performance.now() - start)
    this.feed.deliver(changes, changeSeq)
    return result
  }

  /** Takes the identity a head holds (the client id, and the user's) as this replica's. */
  private identify(head: Head): void {
    this.currentClientId = head.clientId
    this.currentUserId = head.userId
    this.currentSignedOut = head.signedOut
  }

  /** Runs `fn` over one consistent state of the replica. */
  read<T>(fn: (scope: ReadScope) => Promise<T>): Promise<T> {
    return this.storage.read(r => fn(new ReadScope(r, this.areas)))
  }

  /** Local views of the documents as the app reads them, in input order (undefined: missing; `KeptAside`: unreadable by this version). */
  async getDocs(keys: ReadonlyArray<{ collection: string; id: string }>): Promise<Array<Doc | KeptAside>> {
    const records = await this.storage.getMany(
      STORES.docs,
      keys.map(k => docKey(k.collection, k.id)),
    )
    return records.map((r, i) => {
      const doc = localView(r as DocRecord | undefined)
      if (doc) this.stats.cacheHits++
      else this.stats.cacheMisses++
      return this.appView(keys[i]!.collection, keys[i]!.id, doc)
    })
  }

  /**
   * Commits ops under preconditions against the current local views. Throws
   * `ConditionFailedError` (nothing written) when a precondition fails, and
   * the errors of `applyOp` when an op cannot apply. Writes nothing when no
   * document would change.
   */
  commit(ops: Op[], preconditions: Precondition[]): Promise<CommitResult> {
    // what a server would refuse is refused here, before anything is read
    try {
      assertMutation(ops, preconditions)
    } catch (e) {
      return Promise.reject(e)
    }
    return this.transact('commit', async scope => {
      const keyList = touchedKeys(ops, preconditions)
      // both reads in flight at once: in a browser each is a round trip to the storage process
      const [records, head] = await Promise.all([scope.records(keyList), scope.head()])
      const views = applyMutation(new Map(keyList.map((k, i) => [k, localView(records[i])])), ops, preconditions)
      const changed = keyList.flatMap((k, i) => (deepEqual(views.get(k), localView(records[i])) ? [] : [i]))
      this.stats.writesSkipped += new Set(ops.map(o => docKey(o.collection, o.id))).size - changed.length
      if (changed.length === 0) return { changed: [] }

      // another version of the app opened this replica since (another tab or process): its index entries hold documents as that version reads them
      if (head.schemaVersion !== this.schemaVersion) throw new SchemaChangedError(this.schemaVersion, head.schemaVersion)
      const seq = head.seq + 1
      const time = Date.now()
      const hlc = encodeClock(tick(decodeClock(head.hlc ?? '') ?? ZERO, time))
      const mutation: Mutation = { id: randomId(), clientId: head.clientId, seq, ops, preconditions, schemaVersion: this.schemaVersion, time, hlc }
      for (const i of changed) {
        const old = records[i]
        const view = views.get(keyList[i]!)
        scope.writeRecord(keyList[i]!, old, !old?.base && !view ? undefined : { base: old?.base, rev: old?.rev ?? 0, view: view ?? null, seq })
      }
      scope.putOutbox(mutation)
      scope.setHead({ ...head, seq, hlc })
      return { mutation, changed: changed.map(i => splitDocKey(keyList[i]!)) }
    })
  }

  /**
   * Checks preconditions against the local views in one read, writing
   * nothing: what a transaction that wrote nothing read is then known to
   * hold at one moment. Throws `ConditionFailedError` when one fails.
   */
  async verify(preconditions: Precondition[]): Promise<void> {
    const keyList = touchedKeys([], preconditions)
    const records = await this.storage.getMany(STORES.docs, keyList)
    applyMutation(new Map(keyList.map((k, i) => [k, localView(records[i] as DocRecord | undefined)])), [], preconditions)
  }

  /** A token that changes whenever the replica's data may have changed (undefined: the storage cannot tell), for `verify`'s callers. */
  version(): string | undefined {
    return this.storage.version()
  }

  /** Writes document records the way every write of the replica must: with their index entries and the change list. */
  private viewWriter(w: Writer): ViewWriter {
    return new ViewWriter(w, collection => this.indexes.get(collection) ?? [], this.storage.recordIndex, (collection, id, doc) => this.shown(collection, id, doc))
  }

  /** Runs a query against the local views, with the plan it used. */
  async query(spec: QuerySpec): Promise<{ hits: QueryHit[]; plan: Plan }> {
    const p = this.explain(spec)
    const start = performance.now()
    const hits = await this.storage.read(r => execute(r, spec, p, this.storage.recordIndex, (id, doc) => this.shown(spec.collection, id, doc)))
    this.stats.record('query', performance.now() - start, () => `${spec.collection} ${p.type === 'index' ? `by index ${p.index}` : 'by scan'}`)
    return { hits, plan: p }
  }

  explain(spec: QuerySpec): Plan {
    return plan(spec, this.indexes.get(spec.collection) ?? [])
  }

  /** Calls `listener` after every change to the documents, made here or, where the storage can tell, elsewhere (another process or tab). */
  onChange(listener: ChangeListener): () => void {
    return this.feed.subscribe(listener)
  }

  /** Delivers what other processes or tabs changed that this replica has not delivered yet. */
  catchUp(): Promise<void> {
    return this.feed.catchUp()
  }

  /** The replica's counters and identity as committed now. */
  head(): Promise<Head> {
    return this.storage.read(readHead)
  }

  /** Rejections not yet acknowledged, oldest first. */
  rejections(): Promise<Rejection[]> {
    return this.storage.read(readRejections)
  }

  /** What the replica holds, for tools (`db.inspect()`), in one read. */
  report(options?: ReportOptions): Promise<ReplicaReport> {
    return this.storage.read(r => reportOf(r, options))
  }

  async ackRejection(id: string): Promise<void> {
    await this.storage.write(async w => w.delete(STORES.rejections, id))
  }

  /** Whether a document has local mutations the server has not confirmed. */
  async pendingOf(collection: string, id: string): Promise<boolean> {
    const [r] = await this.storage.getMany(STORES.docs, [docKey(collection, id)])
    return (r as DocRecord | undefined)?.view !== undefined
  }

  /** How many mutations are pending, without reading them. */
  pendingCount(): Promise<number> {
    return this.storage.read(r => r.count(STORES.outbox))
  }

  /** Pending mutations in commit order. */
  outbox(): Promise<Mutation[]> {
    return this.read(scope => scope.outbox())
  }

  /** Every document's local view, for tests and tools. */
  async allDocs(collection?: string): Promise<Array<{ collection: string; id: string; data: NonNullable<Doc> }>> {
    return this.storage.read(async r => {
      const range = collection === undefined ? {} : collectionRange(collection)
      const out: Array<{ collection: string; id: string; data: NonNullable<Doc> }> = []
      for (const [k, v] of await r.scan(STORES.docs, range)) {
        const data = localView(v as DocRecord)
        if (data) out.push({ ...splitDocKey(k), data })
      }
      return out
    })
  }

  close(): Promise<void> {
    this.feed.close()
    return this.storage.close()
  }
}

export function randomId(): string {
  return globalThis.crypto.randomUUID()
}
