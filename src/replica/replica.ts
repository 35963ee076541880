import type { Doc } from '../core/apply.js'
import { applyMutation, touchedKeys } from '../core/commit.js'
import { InvalidOptionsError, SchemaChangedError } from '../core/errors.js'
import { deepEqual } from '../core/json.js'
import { docKey, splitDocKey } from '../core/key.js'
import type { LoggedMutation, Mutation, Op, Precondition } from '../core/mutation.js'
import { prefixEnd } from '../core/encoding.js'
import type { QuerySpec } from '../core/query.js'
import { indexDef, indexEntries, indexPrefix, containsPrefix, type IndexDef } from './indexes.js'
import { execute, plan, type Plan, type QueryHit } from './query.js'
import { collectionRange, localView, seqKey, STORES, type DocRecord } from './records.js'
import { ChangeFeed, type ChangeListener, type PeerNotices } from './change-feed.js'
import { ViewWriter } from './view-writer.js'
import { Stats } from './stats.js'
import type { Storage, StorageReader, StorageWriter } from './storage.js'
import type { PulledChanges, RejectionReason } from '../core/changes.js'
import { OpsByDoc, rebase } from './rebase.js'
import { ensureHead, readHead, writeHead } from './head.js'
import { decodeClock, encodeClock, eventKey, receive, tick, ZERO } from '../core/hlc.js'
import { fold } from '../core/merge.js'
import { eventPrefix, eventRecordKey, FILES, localEventKey, opsPerDoc } from './events.js'

/** How a collection's documents are keyed and indexed; the key is stored so a changed definition is caught at open. */
export interface CollectionInfo {
  name: string
  /** Key component names (sorted) with their schema kinds, e.g. `raceID:int`. */
  key: string[]
  /** Indexes, each a list of dotted field paths. */
  indexes: ReadonlyArray<readonly string[]>
}

/** Progress of long work at open (building an index). */
export interface Progress {
  phase: 'index'
  collection: string
  index: string
  done: number
  total: number
}

export interface ReplicaOptions {
  collections: CollectionInfo[]
  schemaVersion: number
  onProgress?: (p: Progress) => void
  debug?: { slowMs: number; log: (line: string) => void }
  /** Other tabs on the same storage: told the keys each commit and pull changed, and telling theirs. */
  peers?: PeerNotices
}

/** A mutation the server refused, kept until the app acknowledges it. */
export interface Rejection {
  id: string
  mutation: Mutation
  reason: RejectionReason
  message: string
  /** The collections the mutation touched. */
  collections: string[]
  at: number
}

/** What a commit did: the outbox entry it appended and the documents it changed (none: nothing was written). */
export interface CommitResult {
  mutation?: Mutation
  changed: Array<{ collection: string; id: string }>
}

const BUILD_CHUNK = 1000

/**
 * The local replica: documents, indexes, the outbox, a changelog and meta
 * over one `Storage`. A commit checks preconditions, applies ops to the local
 * views, maintains indexes and appends the mutation to the outbox in one
 * storage transaction, so a crash leaves all of it or none.
 */
export class Replica {
  readonly stats: Stats
  private readonly feed: ChangeFeed

  private constructor(
    readonly storage: Storage,
    private currentClientId: string,
    readonly schemaVersion: number,
    private readonly indexes: Map<string, IndexDef[]>,
    options: ReplicaOptions,
  ) {
    this.stats = new Stats(options.debug)
    this.feed = new ChangeFeed(storage, options.peers)
  }

  static async open(storage: Storage, options: ReplicaOptions): Promise<Replica> {
    await storage.open(Object.values(STORES))
    try {
      const indexes = new Map(options.collections.map(c => [c.name, c.indexes.map(indexDef)]))
      // where the medium indexes records itself, index entries live in the records (`ix`), not in the indexes store
      const native = storage.recordIndex === true
      const { clientId, seen, build } = await storage.write(async w => {
        const head = await ensureHead(w, randomId)
        if (((await w.get(STORES.meta, 'recordIndex')) as boolean | undefined) !== native) {
          // the entries were kept the other way: every index is built again
          for (const c of options.collections) w.put(STORES.meta, `indexes:${c.name}`, [])
          w.deleteRange(STORES.indexes, { gte: '' })
          w.put(STORES.meta, 'recordIndex', native)
        }
        if (head.schemaVersion > options.schemaVersion) throw new SchemaChangedError(options.schemaVersion, head.schemaVersion)
        if (head.schemaVersion !== options.schemaVersion) writeHead(w, { ...head, schemaVersion: options.schemaVersion })
        const build: Array<{ collection: string; defs: IndexDef[] }> = []
        for (const c of options.collections) {
          const stored = (await w.get(STORES.meta, `key:${c.name}`)) as string[] | undefined
          if (!stored) w.put(STORES.meta, `key:${c.name}`, c.key)
          else if (!deepEqual(stored, c.key)) {
            throw new InvalidOptionsError(
              'models',
              `the key of ${c.name} is declared as {${c.key.join(', ')}} but the replica stores ${c.name} documents keyed by {${stored.join(', ')}}; ` +
                'a key definition cannot change under existing data (use a new collection name, or clear the replica)',
            )
          }
          const built = ((await w.get(STORES.meta, `indexes:${c.name}`)) as string[] | undefined) ?? []
          const declared = indexes.get(c.name)!
          const dropped = built.filter(id => !declared.some(d => d.id === id))
          const added = declared.filter(def => !built.includes(def.id))
          if (native) {
            // one pass rewrites every record's entries for the declared indexes
            if (dropped.length || added.length) build.push({ collection: c.name, defs: declared })
          } else {
            for (const old of dropped) dropIndex(w, c.name, old)
            for (const def of added) build.push({ collection: c.name, defs: [def] })
          }
          w.put(STORES.meta, `indexes:${c.name}`, built.filter(id => declared.some(d => d.id === id)))
        }
        return { clientId: head.clientId, seen: head.changeSeq, build }
      })
      const replica = new Replica(storage, clientId, options.schemaVersion, indexes, options)
      replica.feed.start(seen)
      for (const { collection, defs } of build) await replica.buildIndex(collection, defs, options.onProgress)
      return replica
    } catch (e) {
      await storage.close()
      throw e
    }
  }

  /**
   * Fills new indexes from the collection's documents, a chunk per storage
   * transaction, reporting progress: entries in the indexes store, or, where
   * the medium indexes records itself, every record rewritten with the
   * entries of all the declared indexes.
   */
  private async buildIndex(collection: string, defs: IndexDef[], onProgress: ReplicaOptions['onProgress']): Promise<void> {
    const total = await this.storage.read(async r => (await r.scan(STORES.docs, collectionRange(collection))).length)
    const { gte: first, lt: end } = collectionRange(collection)
    const index = defs.map(d => d.id).join(' + ')
    let after = first
    let done = 0
    onProgress?.({ phase: 'index', collection, index, done, total })
    for (;;) {
      const n = await this.storage.write(async w => {
        const chunk = await w.scan(STORES.docs, { gt: after, lt: end, limit: BUILD_CHUNK })
        const vw = this.viewWriter(w)
        for (const [k, v] of chunk) {
          const id = splitDocKey(k).id
          if (vw.native) vw.reindex(k, v as DocRecord)
          else for (const entry of defs.flatMap(def => indexEntries(collection, def, id, localView(v as DocRecord)))) w.put(STORES.indexes, entry, id)
        }
        if (chunk.length) after = chunk[chunk.length - 1]![0]
        else {
          const built = ((await w.get(STORES.meta, `indexes:${collection}`)) as string[] | undefined) ?? []
          w.put(STORES.meta, `indexes:${collection}`, [...new Set([...built, ...defs.map(d => d.id)])])
        }
        return chunk.length
      })
      if (n === 0) break
      done += n
      onProgress?.({ phase: 'index', collection, index, done, total })
    }
  }

  /** The id this replica pushes under (it changes when the server says the client diverged). */
  get clientId(): string {
    return this.currentClientId
  }

  /** Re-reads the client id, which another tab or worker on the same storage may have renewed (`renumber`). */
  async refreshClientId(): Promise<string> {
    this.currentClientId = (await this.storage.read(readHead)).clientId
    return this.currentClientId
  }

  /** Local views of the documents, in input order (undefined: missing). */
  async getDocs(keys: ReadonlyArray<{ collection: string; id: string }>): Promise<Doc[]> {
    const records = await this.storage.getMany(
      STORES.docs,
      keys.map(k => docKey(k.collection, k.id)),
    )
    return records.map(r => {
      const doc = localView(r as DocRecord | undefined)
      if (doc) this.stats.cacheHits++
      else this.stats.cacheMisses++
      return doc
    })
  }

  /**
   * Commits ops under preconditions against the current local views. Throws
   * `ConditionFailedError` (nothing written) when a precondition fails, and
   * the errors of `applyOp` when an op cannot apply. Writes nothing when no
   * document would change.
   */
  async commit(ops: Op[], preconditions: Precondition[]): Promise<CommitResult> {
    const start = performance.now()
    const { result, changes, changeSeq } = await this.storage.write(async w => {
      const keyList = touchedKeys(ops, preconditions)
      // both reads in flight at once: in a browser each is a round trip to the storage process
      const [records, head] = await Promise.all([w.getMany(STORES.docs, keyList) as Promise<Array<DocRecord | undefined>>, readHead(w)])
      const before = new Map<string, DocRecord | undefined>(keyList.map((k, i) => [k, records[i]]))
      const views = applyMutation(new Map(keyList.map((k, i) => [k, localView(records[i])])), ops, preconditions)
      const changed = keyList.filter(k => !deepEqual(views.get(k), localView(before.get(k))))
      this.stats.writesSkipped += new Set(ops.map(o => docKey(o.collection, o.id))).size - changed.length
      if (changed.length === 0) return { result: { changed: [] }, changes: [], changeSeq: 0 }

      // a newer version of the app opened this replica (another tab): its indexes and schema are not this code's to write
      if (head.schemaVersion > this.schemaVersion) throw new SchemaChangedError(this.schemaVersion, head.schemaVersion)
      const seq = head.seq + 1
      const time = Date.now()
      const hlc = encodeClock(tick(decodeClock(head.hlc ?? '') ?? ZERO, time))
      const mutation: Mutation = { id: randomId(), clientId: head.clientId, seq, ops, preconditions, schemaVersion: this.schemaVersion, time, hlc }
      const vw = this.viewWriter(w)
      for (const k of changed) {
        const old = before.get(k)
        const view = views.get(k)
        vw.write(k, old, !old?.base && !view ? undefined : { base: old?.base, rev: old?.rev ?? 0, view: view ?? null, seq })
      }
      w.put(STORES.outbox, seqKey(seq), mutation)
      const changeSeq = vw.log(head.changeSeq)
      writeHead(w, { ...head, seq, changeSeq, hlc })
      return { result: { mutation, changed: changed.map(splitDocKey) }, changes: vw.changes, changeSeq }
    })
    this.stats.record('commit', performance.now() - start)
    this.feed.deliver(changes, changeSeq)
    return result
  }

  private viewWriter(w: StorageWriter): ViewWriter {
    return new ViewWriter(w, collection => this.indexes.get(collection) ?? [], this.storage.recordIndex === true)
  }

  /** Runs a query against the local views, with the plan it used. */
  async query(spec: QuerySpec): Promise<{ hits: QueryHit[]; plan: Plan }> {
    const p = this.explain(spec)
    const start = performance.now()
    const hits = await this.storage.read(r => execute(r, spec, p, this.storage.recordIndex === true))
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

  /** The last server revision this replica has pulled (0: none). */
  async pulledRevision(): Promise<number> {
    return (await this.storage.read(readHead)).pulledRevision
  }

  /**
   * Applies a pull: acknowledged mutations leave the outbox and fold into the
   * bases, rejected ones leave it and are stored as rejections (their effects
   * roll back), server changes update the bases, and every affected view is
   * recomputed from its base and the mutations still pending. One storage
   * transaction: a crash leaves the replica before or after the whole pull.
   * A pull made `since` a revision the replica has moved past meanwhile (by
   * another tab's pull) is stale and changes nothing.
   */
  async applyPull(res: PulledChanges, since?: number): Promise<{ acked: Mutation[]; rejected: Rejection[]; stale: boolean }> {
    const start = performance.now()
    const { acked, rejected, changes, changeSeq, stale } = await this.storage.write(async w => {
      const head = await readHead(w)
      if (since !== undefined && head.pulledRevision !== since) {
        return { acked: [], rejected: [], changes: [], changeSeq: 0, stale: true }
      }
      const outbox = (await w.scan(STORES.outbox)).map(([, v]) => v as Mutation)
      const bySeq = new Map(outbox.map(m => [m.seq, m]))
      const acked: Mutation[] = []
      const rejected: Rejection[] = []
      for (const r of res.results) {
        const m = bySeq.get(r.seq)
        if (!m || m.id !== r.id) continue
        if (r.status === 'applied') acked.push(m)
        else rejected.push({ id: m.id, mutation: m, reason: r.reason, message: r.message, collections: [...new Set(m.ops.map(o => o.collection))], at: Date.now() })
      }
      const done = new Set([...acked.map(m => m.seq), ...rejected.map(r => r.mutation.seq)])
      const pending = outbox.filter(m => !done.has(m.seq))
      const changeByKey = new Map(res.changes.map(c => [docKey(c.collection, c.id), c]))
      const ackedOps = new OpsByDoc(acked)
      const pendingOps = new OpsByDoc(pending)
      const keys = new Set([...changeByKey.keys(), ...ackedOps.keys(), ...new OpsByDoc(rejected.map(r => r.mutation)).keys()])
      const keyList = [...keys]
      const records = (await w.getMany(STORES.docs, keyList)) as Array<DocRecord | undefined>
      const vw = this.viewWriter(w)
      keyList.forEach((k, i) => {
        const old = records[i]
        const change = changeByKey.get(k)
        const next = rebase(k, old?.base, ackedOps, change, pendingOps)
        const record: DocRecord = { base: next.base, rev: change?.revision ?? old?.rev ?? 0, ...(next.seq !== undefined ? { view: next.view ?? null, seq: next.seq } : {}) }
        vw.write(k, old, !record.base && next.seq === undefined ? undefined : record)
      })
      for (const seq of done) w.delete(STORES.outbox, seqKey(seq))
      for (const r of rejected) w.put(STORES.rejections, r.id, r)
      const changeSeq = vw.log(head.changeSeq)
      writeHead(w, { ...head, pulledRevision: res.revision, changeSeq: changeSeq || head.changeSeq })
      return { acked, rejected, changes: vw.changes, changeSeq, stale: false }
    })
    this.stats.record('pull', performance.now() - start)
    this.feed.deliver(changes, changeSeq)
    return { acked, rejected, stale }
  }

  /**
   * Serverless sync: merges other clients' mutations (each client's in
   * sequence order, from the one after what was merged of it before) and
   * moves this client's mutations up to `uploaded` from the outbox into the
   * event log; then every affected document becomes the fold of its events
   * in event order (core/merge.ts), with the still-pending local mutations
   * folded in by their clocks for the local view. One storage transaction:
   * a crash leaves all of it or none. A mutation already merged (the same
   * client and sequence number, seen through another store) is skipped.
   */
  async applyEvents(batch: { remote: Array<{ clientId: string; mutations: LoggedMutation[] }>; uploaded?: number }): Promise<{ merged: number; clamped: string[] }> {
    const start = performance.now()
    const { merged, clamped, changes, changeSeq } = await this.storage.write(async w => {
      const head = await readHead(w)
      let clock = decodeClock(head.hlc ?? '') ?? ZERO
      const clamped = new Set<string>()
      const affected = new Set<string>()
      let merged = 0
      for (const { clientId, mutations } of batch.remote) {
        if (clientId === head.clientId) continue
        let last = ((await w.get(STORES.files, FILES.received(clientId))) as number | undefined) ?? 0
        for (const m of mutations) {
          if (m.seq <= last) continue
          if (m.seq !== last + 1) break
          for (const [k, ops] of opsPerDoc(m.ops)) {
            w.put(STORES.events, eventRecordKey(k, eventKey(m.hlc, clientId, m.seq)), ops)
            affected.add(k)
          }
          const seen = decodeClock(m.hlc)
          if (seen) {
            const r = receive(clock, seen, Date.now())
            clock = r.clock
            if (r.clamped) clamped.add(clientId)
          }
          last = m.seq
          merged++
        }
        w.put(STORES.files, FILES.received(clientId), last)
      }
      let outbox = (await w.scan(STORES.outbox)).map(([, v]) => v as Mutation)
      if (batch.uploaded !== undefined) {
        for (const m of outbox.filter(m => m.seq <= batch.uploaded!)) {
          for (const [k, ops] of opsPerDoc(m.ops)) {
            w.put(STORES.events, eventRecordKey(k, localEventKey(m)), ops)
            affected.add(k)
          }
          w.put(STORES.files, FILES.own(m.seq), { seq: m.seq, id: m.id, hlc: m.hlc ?? '', ops: m.ops, time: m.time } satisfies LoggedMutation)
          w.delete(STORES.outbox, seqKey(m.seq))
        }
        outbox = outbox.filter(m => m.seq > batch.uploaded!)
      }
      const keyList = [...affected]
      const records = (await w.getMany(STORES.docs, keyList)) as Array<DocRecord | undefined>
      const pendingOps = new Map<string, Array<{ key: string; ops: Op[]; seq: number }>>()
      for (const m of outbox) {
        for (const [k, ops] of opsPerDoc(m.ops)) {
          if (!affected.has(k)) continue
          let list = pendingOps.get(k)
          if (!list) pendingOps.set(k, (list = []))
          list.push({ key: localEventKey(m), ops, seq: m.seq })
        }
      }
      const vw = this.viewWriter(w)
      for (let i = 0; i < keyList.length; i++) {
        const k = keyList[i]!
        const events = (await w.scan(STORES.events, { gte: eventPrefix(k), lt: prefixEnd(eventPrefix(k)) })).map(([key, ops]) => ({ key: key.slice(eventPrefix(k).length), ops: ops as Op[] }))
        const base = fold(events.map(e => e.ops))
        const pending = pendingOps.get(k) ?? []
        const view = pending.length ? fold([...events, ...pending].sort((a, b) => (a.key < b.key ? -1 : 1)).map(e => e.ops)) : undefined
        vw.write(k, records[i], !base && !pending.length ? undefined : { base, rev: 0, ...(pending.length ? { view: view ?? null, seq: pending.at(-1)!.seq } : {}) })
      }
      const changeSeq = vw.log(head.changeSeq)
      writeHead(w, { ...head, hlc: encodeClock(clock), changeSeq: changeSeq || head.changeSeq })
      return { merged, clamped: [...clamped], changes: vw.changes, changeSeq }
    })
    this.stats.record('pull', performance.now() - start)
    this.feed.deliver(changes, changeSeq)
    return { merged, clamped }
  }

  /** Serverless sync: how far each other client's mutations are merged (client id → last sequence number). */
  async mergedUpTo(): Promise<Record<string, number>> {
    const entries = await this.storage.read(r => r.scan(STORES.files, { gte: FILES.receivedPrefix, lt: prefixEnd(FILES.receivedPrefix) }))
    return Object.fromEntries(entries.map(([k, v]) => [k.slice(FILES.receivedPrefix.length), v as number]))
  }

  /** This client's mutations after `seq`, in order: those already in the event log, then those still pending. */
  async ownMutations(after: number): Promise<LoggedMutation[]> {
    return this.storage.read(async r => {
      const logged = (await r.scan(STORES.files, { gt: FILES.own(after), lt: prefixEnd(FILES.ownPrefix) })).map(([, v]) => v as LoggedMutation)
      const pending = (await r.scan(STORES.outbox, { gt: seqKey(after) })).map(([, v]) => v as Mutation)
      return [...logged, ...pending.map(m => ({ seq: m.seq, id: m.id, hlc: m.hlc ?? '', ops: m.ops, time: m.time }))]
    })
  }

  /** Serverless sync's own records (what was uploaded where, linked peers), kept with the replica. */
  async fileState<T>(key: string): Promise<T | undefined> {
    return (await this.storage.getMany(STORES.files, [`state/${key}`]))[0] as T | undefined
  }

  async setFileState(key: string, value: unknown): Promise<void> {
    await this.storage.write(async w => w.put(STORES.files, `state/${key}`, value))
  }

  /**
   * Takes a new client id and renumbers the outbox from 1, after the server
   * said this client diverged (restored from a backup, or copied): nothing is
   * lost, and nothing the server applied under the old id is sent again.
   */
  async renumber(): Promise<void> {
    this.currentClientId = await this.storage.write(async w => {
      const id = randomId()
      const outbox = (await w.scan(STORES.outbox)).map(([k, v]) => [k, v as Mutation] as const)
      outbox.forEach(([k, m], i) => {
        w.delete(STORES.outbox, k)
        w.put(STORES.outbox, seqKey(i + 1), { ...m, clientId: id, seq: i + 1 })
      })
      writeHead(w, { ...(await readHead(w)), clientId: id, seq: outbox.length })
      return id
    })
  }

  /** Rejections not yet acknowledged, oldest first. */
  async rejections(): Promise<Rejection[]> {
    const all = await this.storage.read(r => r.scan(STORES.rejections))
    return all.map(([, v]) => v as Rejection).sort((a, b) => a.mutation.seq - b.mutation.seq || a.at - b.at)
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
    return this.storage.read(async r => (await r.scan(STORES.outbox)).map(([, v]) => v as Mutation))
  }

  /** Every document's local view, for tests and tools. */
  async allDocs(collection?: string): Promise<Array<{ collection: string; id: string; data: NonNullable<Doc> }>> {
    return this.storage.read(async (r: StorageReader) => {
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

function dropIndex(w: StorageWriter, collection: string, index: string): void {
  for (const prefix of [indexPrefix(collection, index), containsPrefix(collection, index)]) w.deleteRange(STORES.indexes, { gte: prefix, lt: prefixEnd(prefix) })
}

export function randomId(): string {
  return globalThis.crypto.randomUUID()
}
