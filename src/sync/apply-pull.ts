import type { Doc } from '../core/apply.js'
import type { DocumentChange, Eviction, PulledChanges, RejectionReason } from '../core/changes.js'
import { WrongUserError } from '../core/errors.js'
import { REALM_FIELD } from '../core/realms.js'
import type { WriteScope } from '../replica/write-scope.js'
import { opsByDoc } from '../core/commit.js'
import { docKey, splitDocKey } from '../core/key.js'
import type { Mutation, Op } from '../core/mutation.js'
import type { Rejection, Replica } from '../replica/replica.js'
import type { Head } from '../replica/head.js'
import type { DocRecord } from '../replica/records.js'
import { rebase } from './rebase.js'

/**
 * Applies a pull: acknowledged mutations leave the outbox and fold into the
 * bases, rejected ones leave it and are stored as rejections (their effects
 * roll back), server changes update the bases, and every affected view is
 * recomputed from its base and the mutations still pending. One storage
 * transaction: a crash leaves the replica before or after the whole pull.
 * A pull made `since` a revision the replica has moved past meanwhile (by
 * another tab's pull) is stale and changes nothing.
 */
export function applyPull(replica: Replica, res: PulledChanges & { user?: string }, since?: number, options: PullOptions = {}): Promise<{ acked: Mutation[]; rejected: Rejection[]; stale: boolean }> {
  return replica.transact('pull', async scope => {
    const head = await scope.head()
    // another tab pulled meanwhile, or the replica was signed out (a new client id): this answer is not for it
    if ((since !== undefined && head.pulledRevision !== since) || (options.clientId !== undefined && head.clientId !== options.clientId)) return { acked: [], rejected: [], stale: true }
    if (res.user !== undefined && head.userId !== undefined && head.userId !== res.user) throw new WrongUserError(head.userId, res.user)
    const outbox = await scope.outbox()
    const bySeq = new Map(outbox.map(m => [m.seq, m]))
    const acked: Mutation[] = []
    const rejected: Rejection[] = []
    for (const r of res.results) {
      const m = bySeq.get(r.seq)
      if (!m || m.id !== r.id) continue
      if (r.status === 'applied') acked.push(m)
      else rejected.push(rejection(m, r.reason, r.message))
    }
    const done = new Set([...acked.map(m => m.seq), ...rejected.map(r => r.mutation.seq)])
    const changeByKey = new Map<string, DocumentChange>(res.changes.map(c => [docKey(c.collection, c.id), c]))
    const ackedOps = opsByDoc(acked)
    const resyncDone = head.resync && options.resynced && !res.more
    if (resyncDone && !options.heldNothing) {
      // the last page of a resync: a synced document it did not bring (nor acknowledged as this client's) is gone from the server, deleted while this replica was away
      for (const [k, r] of await scope.allRecords()) {
        if (!r.base || options.resynced!.has(k) || changeByKey.has(k) || ackedOps.has(k)) continue
        const { collection, id } = splitDocKey(k)
        changeByKey.set(k, { collection, id, revision: res.revision, deleted: true })
      }
    }
    const evicted = await evictedKeys(scope, res.evict, changeByKey, ackedOps)
    // the server answers as if the document were missing (it tells nothing of what its user cannot read); this replica knows why
    for (const r of rejected) {
      if ((r.reason === 'not-found' || r.reason === 'condition-failed') && r.mutation.ops.some(o => evicted.has(docKey(o.collection, o.id)))) Object.assign(r, { reason: 'permission-denied', message: lost(r.mutation, evicted) })
    }
    // a pending write on a document its user can no longer read: refused here, if the server has not seen it yet
    const placeholders = [...(options.placeholders ?? [])]
    for (const m of outbox) {
      if (done.has(m.seq) || m.seq <= (options.sentUpTo ?? Infinity) || !m.ops.some(o => evicted.has(docKey(o.collection, o.id)))) continue
      rejected.push(rejection(m, 'permission-denied', lost(m, evicted)))
      placeholders.push(placeholder(m))
      done.add(m.seq)
    }
    const pendingOps = opsByDoc(outbox.filter(m => !done.has(m.seq)))
    const user = res.user ?? head.userId
    const keyList = [...new Set([...changeByKey.keys(), ...ackedOps.keys(), ...opsByDoc(rejected.map(r => r.mutation)).keys(), ...evicted])]
    const records = await scope.records(keyList)
    keyList.forEach((k, i) => {
      const old = records[i]
      if (evicted.has(k)) return scope.writeRecord(k, old, undefined)
      const change = changeByKey.get(k)
      const next = rebase(old?.base, ackedOps.get(k), change, pendingOps.get(k), user)
      const record: DocRecord = { base: next.base, rev: change?.revision ?? old?.rev ?? 0, ...(next.seq !== undefined ? { view: next.view ?? null, seq: next.seq } : {}) }
      scope.writeRecord(k, old, !record.base && next.seq === undefined ? undefined : record)
    })
    for (const seq of done) scope.deleteOutbox(seq)
    // in the same transaction: a placeholder takes a rejected mutation's place in the queue
    for (const m of placeholders) scope.putOutbox(m)
    for (const r of rejected) scope.reject(r)
    const { pullBase: _base, pullStarted: _started, resync: _resync, ...rest } = head
    const pullBase = res.more ? (head.pullBase ?? since ?? head.pulledRevision) : undefined
    const pullStarted = res.more ? nextStarted(head, since ?? head.pulledRevision, res) : undefined
    scope.setHead({
      ...rest,
      pulledRevision: res.revision,
      ...(pullBase !== undefined ? { pullBase } : {}),
      ...(pullStarted !== undefined ? { pullStarted } : {}),
      ...(head.resync && !resyncDone ? { resync: true as const } : {}),
      ...(res.user !== undefined ? { userId: res.user } : {}),
    })
    return { acked, rejected, stale: false }
  })
}

/** Why a mutation on documents the user lost is refused, naming them. */
function lost(m: Mutation, evicted: ReadonlySet<string>): string {
  const docs = [...new Set(m.ops.filter(o => evicted.has(docKey(o.collection, o.id))).map(o => `${o.collection} ${JSON.stringify(o.id)}`))]
  return `the user can no longer read ${docs.join(', ')} (access was revoked, or the document moved away)`
}

/**
 * What the page after `res` sends as `started`: a pull from 0 keeps the head
 * its first page came with; a pull from a revision sends none (its own
 * start is checked against the horizon already).
 */
export function nextStarted(head: Head, since: number, res: { head?: number }): number | undefined {
  if ((head.pullBase ?? since) !== 0) return undefined
  return head.pullBase !== undefined ? head.pullStarted : res.head
}

/** Marks a pull from 0 that takes pages as a resync, where it stands: interrupted, it starts again from 0. */
export function markResync(replica: Replica): Promise<void> {
  return replica.transact(null, async scope => scope.setHead({ ...(await scope.head()), resync: true }))
}

/**
 * Begins a resync, after the server said it forgot the history since this
 * replica's revision: the next pull starts from 0 (the outbox is kept).
 */
export function startResync(replica: Replica): Promise<Head> {
  return replica.transact(null, async scope => {
    const { pullBase: _base, pullStarted: _started, ...head } = await scope.head()
    const next: Head = { ...head, pulledRevision: 0, resync: true }
    scope.setHead(next)
    return next
  })
}

export interface PullOptions {
  /** A resync is under way: the documents its pages brought so far (this one's included). */
  resynced?: ReadonlySet<string>
  /** The resync began on a replica that held no synced document (a first sync): it has nothing to drop at its end. */
  heldNothing?: boolean
  /** The client id the pull was made under: an answer for another is stale. */
  clientId?: string
  /** Empty mutations that take the place of rejected ones in the outbox (see `rejectLocally`). */
  placeholders?: readonly Mutation[]
  /**
   * The last sequence number the server may have seen. A pending mutation
   * after it that writes an evicted document is rejected here; one the
   * server may have seen waits for the server's answer. Default: all.
   */
  sentUpTo?: number
}

function rejection(m: Mutation, reason: RejectionReason, message: string): Rejection {
  return { id: m.id, mutation: m, reason, message, collections: [...new Set(m.ops.map(o => o.collection))], at: Date.now() }
}

/** An empty mutation in `m`'s place, so the server's count of this client's mutations goes on without a gap. */
function placeholder(m: Mutation): Mutation {
  return { ...m, id: globalThis.crypto.randomUUID(), ops: [], preconditions: [] }
}

/**
 * The documents an eviction names: those it lists, and every one in (or
 * pending into) a lost realm, unless the same answer changes it (it moved to
 * a realm the user still reads).
 */
async function evictedKeys(scope: WriteScope, evict: Eviction | undefined, changed: ReadonlyMap<string, unknown>, acked: ReadonlyMap<string, Array<{ mutation: Mutation; ops: Op[] }>>): Promise<Set<string>> {
  const keys = new Set((evict?.docs ?? []).map(d => docKey(d.collection, d.id)))
  if (!evict?.realms.length) return keys
  const lost = new Set(evict.realms)
  for (const [k, r] of await scope.allRecords()) {
    if (changed.has(k)) continue
    const inLost = (d: Doc | null | undefined) => d != null && lost.has(d[REALM_FIELD] as string)
    // the server holds the document as this answer's acknowledged mutations left it: one of them may have moved it out of the lost realm
    const base = acked.has(k) ? rebase(r.base, acked.get(k), undefined, undefined).base : r.base
    if (inLost(base) || inLost(r.view)) keys.add(k)
  }
  return keys
}

/**
 * Takes a new client id and renumbers the outbox from 1, after the server
 * said this client diverged (restored from a backup, or copied): nothing is
 * lost, and nothing the server applied under the old id is sent again.
 */
export function renumber(replica: Replica): Promise<void> {
  return replica.transact(null, async scope => {
    const clientId = globalThis.crypto.randomUUID()
    const outbox = await scope.outbox()
    for (const m of outbox) scope.deleteOutbox(m.seq)
    outbox.forEach((m, i) => scope.putOutbox({ ...m, clientId, seq: i + 1 }))
    scope.setHead({ ...(await scope.head()), clientId, seq: outbox.length })
  })
}

/**
 * Makes a pending mutation a stored rejection without the server (reason
 * `invalid`, with `message`), as a rejection pulled from it would be: its
 * effects roll back, and an empty mutation takes its place in the outbox so
 * that the server's count of this client's mutations goes on without a gap
 * and the ones behind it follow. For a mutation the server refuses whole,
 * every time.
 */
export async function rejectLocally(replica: Replica, m: Mutation, message: string): Promise<Rejection[]> {
  const instead = placeholder(m)
  for (;;) {
    const since = (await replica.head()).pulledRevision
    const result = { seq: m.seq, id: m.id, status: 'rejected' as const, revision: since, reason: 'invalid' as const, message }
    const applied = await applyPull(replica, { revision: since, changes: [], results: [result] }, since, { placeholders: [instead] })
    // another tab pulled in between: once more, from where it left the replica
    if (!applied.stale) return applied.rejected
  }
}
