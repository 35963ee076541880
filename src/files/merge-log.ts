import { opsByDoc } from '../core/commit.js'
import { prefixEnd } from '../core/encoding.js'
import { decodeClock, encodeClock, eventKey, receive, ZERO, type Clock } from '../core/hlc.js'
import { compact, fold, replacesEarlier, type DocEvent } from '../core/merge.js'
import type { LoggedMutation, Mutation, Op } from '../core/mutation.js'
import type { Replica } from '../replica/replica.js'
import type { AreaReader, AreaWriter, WriteScope } from '../replica/write-scope.js'
import { AREAS, eventPrefix, eventRecordKey, FILES, localEventKey } from './events.js'
import type { Checkpoint } from './layout.js'

/** A local mutation as the log keeps it. */
function logged(m: Mutation): LoggedMutation {
  return { seq: m.seq, id: m.id, hlc: m.hlc ?? '', ops: m.ops, time: m.time }
}

/** One mutation's ops, per document it touches. */
function docOps(m: { ops: readonly Op[] }): Array<[string, Op[]]> {
  return [...opsByDoc([m])].map(([k, [entry]]) => [k, entry!.ops])
}

/** Where the own log's folded base is described: { last, hlc }. */
const BASE = 'base'

/** The clock a merge moves this replica's to, and the clients whose clocks ran too far ahead. */
class Receiver {
  private clock: Clock
  private readonly far = new Set<string>()

  constructor(hlc: string | undefined) {
    this.clock = decodeClock(hlc ?? '') ?? ZERO
  }

  see(hlc: string, clientId: string): void {
    const seen = decodeClock(hlc)
    if (!seen) return
    const r = receive(this.clock, seen, Date.now())
    this.clock = r.clock
    if (r.clamped) this.far.add(clientId)
  }

  get encoded(): string {
    return encodeClock(this.clock)
  }

  get clamped(): string[] {
    return [...this.far]
  }
}

/** What a merge added to one document's events: where the earliest sorts, and whether any may make older ones irrelevant. */
interface Added {
  first: string
  replaces: boolean
  keys: Set<string>
}

function add(affected: Map<string, Added>, k: string, event: string, ops: readonly Op[]): void {
  const a = affected.get(k) ?? affected.set(k, { first: event, replaces: false, keys: new Set() }).get(k)!
  if (event < a.first) a.first = event
  a.replaces ||= ops.some(replacesEarlier)
  a.keys.add(event)
}

/**
 * Every affected document becomes the fold of its events in event order,
 * with the still-pending local mutations folded in by their clocks for the
 * local view. The events that later ones make irrelevant are dropped on the
 * way (`compact`), so the event log holds about one write per field of each
 * document, not its history. Events that all come after every event the
 * document had, none replacing anything, with nothing of its own pending
 * (increments arriving in order, say) fold onto the stored document instead
 * of refolding it from the start.
 */
async function refold(scope: WriteScope, affected: Map<string, Added>, outbox: Mutation[]): Promise<void> {
  const events = scope.area(AREAS.events)
  const keyList = [...affected.keys()]
  const records = await scope.records(keyList)
  const pendingOps = opsByDoc(outbox)
  for (let i = 0; i < keyList.length; i++) {
    const k = keyList[i]!
    const added = affected.get(k)!
    const prefix = eventPrefix(k)
    const pendingHere = pendingOps.get(k) ?? []
    if (!added.replaces && pendingHere.length === 0) {
      const tail = await events.scan({ gte: prefix + added.first, lt: prefixEnd(prefix) })
      if (tail.length === added.keys.size) {
        const base = fold(tail.map(([, ops]) => ops as Op[]), records[i]?.base)
        scope.writeRecord(k, records[i], base ? { base, rev: 0 } : undefined)
        continue
      }
    }
    const all = (await events.scan({ gte: prefix, lt: prefixEnd(prefix) })).map(([key, ops]) => ({ key: key.slice(prefix.length), ops: ops as Op[] }))
    const logged = compact(all)
    if (logged.length < all.length || logged.some((e, j) => e !== all[j])) {
      const kept = new Map(logged.map(e => [e.key, e]))
      for (const e of all) {
        const now = kept.get(e.key)
        if (!now) events.delete(prefix + e.key)
        else if (now !== e) events.put(prefix + e.key, now.ops)
      }
    }
    const base = fold(logged.map(e => e.ops))
    const pending = pendingHere.map(p => ({ key: localEventKey(p.mutation), ops: p.ops, seq: p.mutation.seq }))
    const view = pending.length ? fold([...logged, ...pending].sort((a, b) => (a.key < b.key ? -1 : 1)).map(e => e.ops)) : undefined
    scope.writeRecord(k, records[i], !base && !pending.length ? undefined : { base, rev: 0, ...(pending.length ? { view: view ?? null, seq: pending.at(-1)!.seq } : {}) })
  }
}

/** One of this client's own events, kept in the own log's folded base. */
interface OwnEvent extends DocEvent {
  doc: string
  hlc: string
  seq: number
  /** Its key in the files area. */
  record: string
}

const basePrefix = 'base/'

/** The own log's folded base, by document. */
async function ownBase(files: AreaReader | AreaWriter): Promise<Map<string, OwnEvent[]>> {
  const byDoc = new Map<string, OwnEvent[]>()
  for (const [record, v] of await files.scan({ gte: basePrefix, lt: prefixEnd(basePrefix) })) {
    const { doc, hlc, seq, ops } = v as { doc: string; hlc: string; seq: number; ops: Op[] }
    const list = byDoc.get(doc) ?? byDoc.set(doc, []).get(doc)!
    list.push({ doc, hlc, seq, ops, record, key: record.slice(basePrefix.length + eventPrefix(doc).length) })
  }
  return byDoc
}

/** Adds own mutations (in sequence order, after the base) to the base's events. */
function addOwn(byDoc: Map<string, OwnEvent[]>, mutations: LoggedMutation[], clientId: string): void {
  for (const m of mutations) {
    for (const [doc, ops] of docOps(m)) {
      const key = eventKey(m.hlc, clientId, m.seq)
      const list = byDoc.get(doc) ?? byDoc.set(doc, []).get(doc)!
      list.push({ doc, hlc: m.hlc, seq: m.seq, ops, key, record: basePrefix + eventRecordKey(doc, key) })
    }
  }
}

/**
 * Serverless sync's side of the replica: the event log that every client's
 * mutations are merged into, this client's own log, and the bookkeeping of
 * what was merged and uploaded, all in the replica's storage areas.
 */
export class MergeLog {
  constructor(private readonly replica: Replica) {}

  /**
   * Merges other clients' mutations (each client's in sequence order, from
   * the one after what was merged of it before) and moves this client's
   * mutations up to `uploaded` from the outbox into the event log; then every
   * affected document becomes the fold of its events in event order
   * (core/merge.ts), with the still-pending local mutations folded in by
   * their clocks for the local view. One storage transaction: a crash
   * leaves all of it or none. A mutation already merged (the same client
   * and sequence number, seen through another store) is skipped.
   */
  merge(batch: { remote: Array<{ clientId: string; mutations: LoggedMutation[] }>; uploaded?: number }): Promise<{ merged: number; clamped: string[] }> {
    return this.replica.transact('pull', async scope => {
      const head = await scope.head()
      const events = scope.area(AREAS.events)
      const files = scope.area(AREAS.files)
      const clock = new Receiver(head.hlc)
      const affected = new Map<string, Added>()
      let merged = 0
      for (const { clientId, mutations } of batch.remote) {
        if (clientId === head.clientId) continue
        let last = ((await files.get(FILES.received(clientId))) as number | undefined) ?? 0
        for (const m of mutations) {
          if (m.seq <= last) continue
          if (m.seq !== last + 1) break
          for (const [k, ops] of docOps(m)) {
            const event = eventKey(m.hlc, clientId, m.seq)
            events.put(eventRecordKey(k, event), ops)
            add(affected, k, event, ops)
          }
          clock.see(m.hlc, clientId)
          last = m.seq
          merged++
        }
        files.put(FILES.received(clientId), last)
      }
      let outbox = await scope.outbox()
      if (batch.uploaded !== undefined) {
        for (const m of outbox.filter(m => m.seq <= batch.uploaded!)) {
          for (const [k, ops] of docOps(m)) {
            events.put(eventRecordKey(k, localEventKey(m)), ops)
            add(affected, k, localEventKey(m), ops)
          }
          files.put(FILES.own(m.seq), logged(m))
          scope.deleteOutbox(m.seq)
        }
        outbox = outbox.filter(m => m.seq > batch.uploaded!)
      }
      await refold(scope, affected, outbox)
      scope.setHead({ ...head, hlc: clock.encoded })
      return { merged, clamped: clock.clamped }
    })
  }

  /**
   * Merges another client's checkpoint: its own events up to `last`,
   * compacted (core/merge.ts `compact`), for a reader that had merged less
   * of it. The events this replica already had (up to what it merged of
   * that client) are skipped; the others fold in like any event, so
   * increments the checkpoint carries count once.
   */
  mergeCheckpoint(clientId: string, checkpoint: Checkpoint): Promise<{ merged: number; clamped: string[] }> {
    return this.replica.transact('pull', async scope => {
      const head = await scope.head()
      const files = scope.area(AREAS.files)
      const received = ((await files.get(FILES.received(clientId))) as number | undefined) ?? 0
      if (clientId === head.clientId || received >= checkpoint.last) return { merged: 0, clamped: [] }
      const events = scope.area(AREAS.events)
      const affected = new Map<string, Added>()
      for (const [k, docEvents] of checkpoint.docs) {
        for (const [hlc, seq, ops] of docEvents) {
          if (seq <= received) continue
          const event = eventKey(hlc, clientId, seq)
          events.put(eventRecordKey(k, event), ops)
          add(affected, k, event, ops)
        }
      }
      const clock = new Receiver(head.hlc)
      clock.see(checkpoint.hlc, clientId)
      files.put(FILES.received(clientId), checkpoint.last)
      await refold(scope, affected, await scope.outbox())
      scope.setHead({ ...head, hlc: clock.encoded })
      return { merged: checkpoint.last - received, clamped: clock.clamped }
    })
  }

  /**
   * This client's own events up to `upTo`, compacted per document: what a
   * checkpoint of it holds. Built from the folded base (see `foldOwn`), the
   * own log and the outbox (a mutation one store has may still wait for
   * another).
   */
  ownCheckpoint(upTo: number): Promise<Checkpoint> {
    return this.replica.read(async scope => {
      const files = scope.area(AREAS.files)
      const folded = (await files.get(FILES.state(BASE))) as { last: number; hlc: string } | undefined
      const base = folded?.last ?? 0
      if (upTo < base) throw new Error(`a checkpoint at ${upTo} is older than the folded own log (${base})`)
      const byDoc = await ownBase(files)
      const own = (await files.scan({ gt: FILES.own(base), lte: FILES.own(upTo) })).map(([, v]) => v as LoggedMutation)
      const mutations = [...own, ...(await scope.outbox(own.at(-1)?.seq ?? base)).map(logged)].filter(m => m.seq <= upTo)
      addOwn(byDoc, mutations, this.replica.clientId)
      const docs = [...byDoc].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, events]): Checkpoint['docs'][number] => [k, compact(events).map(e => [e.hlc, e.seq, e.ops as Op[]])])
      const hlc = mutations.at(-1)?.hlc ?? folded?.hlc ?? ''
      return { last: upTo, hlc, docs }
    })
  }

  /** The own log up to `upTo` is folded into its compacted base: every store has a checkpoint that covers it. */
  foldOwn(upTo: number): Promise<void> {
    return this.replica.transact(null, async scope => {
      const files = scope.area(AREAS.files)
      const state = (await files.get(FILES.state(BASE))) as { last: number; hlc: string } | undefined
      const base = state?.last ?? 0
      if (upTo <= base) return
      const own = (await files.scan({ gt: FILES.own(base), lte: FILES.own(upTo) })).map(([k, v]) => [k, v as LoggedMutation] as const)
      if (own.length === 0 || own.at(-1)![1].seq !== upTo) return // not all of it out of the outbox yet
      const byDoc = await ownBase(files)
      const before = new Set([...byDoc.values()].flat())
      addOwn(byDoc, own.map(([, m]) => m), this.replica.clientId)
      const kept = new Set<OwnEvent>()
      for (const events of byDoc.values()) {
        for (const e of compact(events)) {
          kept.add(e)
          // what the base held untouched stays as it is
          if (!before.has(e)) files.put(e.record, { doc: e.doc, hlc: e.hlc, seq: e.seq, ops: e.ops })
        }
      }
      const rewritten = new Set([...kept].map(e => e.record))
      for (const e of before) if (!kept.has(e) && !rewritten.has(e.record)) files.delete(e.record)
      for (const [k] of own) files.delete(k)
      files.put(FILES.state(BASE), { last: upTo, hlc: own.at(-1)![1].hlc })
    })
  }

  /** How far this client's own log is folded into its base (0: not at all). */
  async ownFolded(): Promise<number> {
    return (await this.state<{ last: number }>(BASE))?.last ?? 0
  }

  /** How far each other client's mutations are merged (client id → last sequence number). */
  mergedUpTo(): Promise<Record<string, number>> {
    return this.replica.read(async scope => {
      const entries = await scope.area(AREAS.files).scan({ gte: FILES.receivedPrefix, lt: prefixEnd(FILES.receivedPrefix) })
      return Object.fromEntries(entries.map(([k, v]) => [k.slice(FILES.receivedPrefix.length), v as number]))
    })
  }

  /** This client's mutations after `seq` (not before what is folded), in order: those already in the event log, then those still pending. */
  ownMutations(after: number): Promise<LoggedMutation[]> {
    return this.replica.read(async scope => {
      const own = (await scope.area(AREAS.files).scan({ gt: FILES.own(after), lt: prefixEnd(FILES.ownPrefix) })).map(([, v]) => v as LoggedMutation)
      return [...own, ...(await scope.outbox(after)).map(logged)]
    })
  }

  /** File sync's own records (what was uploaded where, linked peers), kept with the replica. */
  state<T>(key: string): Promise<T | undefined> {
    return this.replica.read(async scope => (await scope.area(AREAS.files).get(FILES.state(key))) as T | undefined)
  }

  setState(key: string, value: unknown): Promise<void> {
    return this.replica.transact(null, async scope => scope.area(AREAS.files).put(FILES.state(key), value))
  }
}
