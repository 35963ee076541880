import { opsByDoc } from '../core/commit.js'
import { prefixEnd } from '../core/encoding.js'
import { decodeClock, encodeClock, eventKey, receive, ZERO } from '../core/hlc.js'
import { fold } from '../core/merge.js'
import type { LoggedMutation, Mutation, Op } from '../core/mutation.js'
import type { Replica } from '../replica/replica.js'
import { AREAS, eventPrefix, eventRecordKey, FILES, localEventKey } from './events.js'

/** A local mutation as the log keeps it. */
function logged(m: Mutation): LoggedMutation {
  return { seq: m.seq, id: m.id, hlc: m.hlc ?? '', ops: m.ops, time: m.time }
}

/** One mutation's ops, per document it touches. */
function docOps(m: { ops: readonly Op[] }): Array<[string, Op[]]> {
  return [...opsByDoc([m])].map(([k, [entry]]) => [k, entry!.ops])
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
      let clock = decodeClock(head.hlc ?? '') ?? ZERO
      const clamped = new Set<string>()
      const affected = new Set<string>()
      let merged = 0
      for (const { clientId, mutations } of batch.remote) {
        if (clientId === head.clientId) continue
        let last = ((await files.get(FILES.received(clientId))) as number | undefined) ?? 0
        for (const m of mutations) {
          if (m.seq <= last) continue
          if (m.seq !== last + 1) break
          for (const [k, ops] of docOps(m)) {
            events.put(eventRecordKey(k, eventKey(m.hlc, clientId, m.seq)), ops)
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
        files.put(FILES.received(clientId), last)
      }
      let outbox = await scope.outbox()
      if (batch.uploaded !== undefined) {
        for (const m of outbox.filter(m => m.seq <= batch.uploaded!)) {
          for (const [k, ops] of docOps(m)) {
            events.put(eventRecordKey(k, localEventKey(m)), ops)
            affected.add(k)
          }
          files.put(FILES.own(m.seq), logged(m))
          scope.deleteOutbox(m.seq)
        }
        outbox = outbox.filter(m => m.seq > batch.uploaded!)
      }
      const keyList = [...affected]
      const records = await scope.records(keyList)
      const pendingOps = opsByDoc(outbox)
      for (let i = 0; i < keyList.length; i++) {
        const k = keyList[i]!
        const prefix = eventPrefix(k)
        const logged = (await events.scan({ gte: prefix, lt: prefixEnd(prefix) })).map(([key, ops]) => ({ key: key.slice(prefix.length), ops: ops as Op[] }))
        const base = fold(logged.map(e => e.ops))
        const pending = (pendingOps.get(k) ?? []).map(p => ({ key: localEventKey(p.mutation), ops: p.ops, seq: p.mutation.seq }))
        const view = pending.length ? fold([...logged, ...pending].sort((a, b) => (a.key < b.key ? -1 : 1)).map(e => e.ops)) : undefined
        scope.writeRecord(k, records[i], !base && !pending.length ? undefined : { base, rev: 0, ...(pending.length ? { view: view ?? null, seq: pending.at(-1)!.seq } : {}) })
      }
      scope.setHead({ ...head, hlc: encodeClock(clock) })
      return { merged, clamped: [...clamped] }
    })
  }

  /** How far each other client's mutations are merged (client id → last sequence number). */
  mergedUpTo(): Promise<Record<string, number>> {
    return this.replica.read(async scope => {
      const entries = await scope.area(AREAS.files).scan({ gte: FILES.receivedPrefix, lt: prefixEnd(FILES.receivedPrefix) })
      return Object.fromEntries(entries.map(([k, v]) => [k.slice(FILES.receivedPrefix.length), v as number]))
    })
  }

  /** This client's mutations after `seq`, in order: those already in the event log, then those still pending. */
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
