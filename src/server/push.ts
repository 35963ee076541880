import { applyMutation, assertMutation, touchedKeys } from '../core/commit.js'
import { ConditionFailedError, ModelAlreadyExistsError, PermissionDeniedError, TidepoolError } from '../core/errors.js'
import { deepEqual, type JsonObject } from '../core/json.js'
import { docKey, encodeKey, splitDocKey } from '../core/key.js'
import { MEMBER_COLLECTION, PUBLIC_REALM, REALM_COLLECTION, REALM_FIELD, realmIssue, ROLES } from '../core/realms.js'
import { Access } from './access.js'
import type { Op } from '../core/mutation.js'
import { PROTOCOL_VERSION, type MutationResult, type PushRequest, type PushResponse, type RejectionReason } from '../protocol/messages.js'
import { BatchTx } from './batch-tx.js'
import type { Committed, FieldMeta, ServerDoc, ServerStore, ServerTx } from './store.js'

export interface PushContext {
  /** The authenticated user; a client id is bound to the user of its first push. */
  userId: string
  /** A server admin: every role in every realm. */
  admin: boolean
  /** Mutations written under an older schema version are answered `upgrade-required`. */
  minSchemaVersion: number
  /** Checks a document a mutation would write; returns why it is invalid, if it is. */
  validate?: (collection: string, before: JsonObject | undefined, after: JsonObject) => string | undefined
}

/** One push of a group commit, and what became of it: its answer, or the error it alone failed with. */
export interface PushJob {
  req: PushRequest
  ctx: PushContext
}
export type PushOutcome = { response: PushResponse } | { error: unknown }

type Outcome = { result: MutationResult } | { stop: NonNullable<PushResponse['stopped']> }

/**
 * Applies pushed mutations in order, exactly once: a mutation applies only as the client's next sequence number; a known
 * `(seq, id)` is acknowledged again; a known `seq` with another id, or a gap,
 * means the client diverged (restored from a backup, or copied).
 * `onCommitted` hears what it wrote once it is durable, before the answer.
 */
export async function push(store: ServerStore, req: PushRequest, ctx: PushContext, onCommitted?: (c: Committed) => void): Promise<PushResponse> {
  const { outcomes, committed } = await commitBatch(store, [{ req, ctx }])
  if (committed) onCommitted?.(committed)
  const [outcome] = outcomes
  if ('error' in outcome!) throw outcome.error
  return outcome!.response
}

/**
 * Several pushes in one durable transaction (a group commit): each mutation
 * is still checked, applied or rejected on its own, in the order the pushes
 * came; a push that fails (its client belongs to another user) writes
 * nothing and fails alone. Nothing is answered before the whole batch is
 * durable.
 */
export async function commitBatch(store: ServerStore, jobs: readonly PushJob[]): Promise<{ outcomes: PushOutcome[]; committed: Committed | undefined }> {
  const done: Committed = { first: 0, last: 0, written: [], moved: [], members: [], clients: [] }
  const { outcomes, first, last } = await store.transaction(async inner => {
    const tx = await BatchTx.begin(inner, jobs.map(j => j.req.clientId), readAhead(jobs))
    const first = tx.locked + 1
    const outcomes: Array<{ results: MutationResult[]; stopped?: NonNullable<PushResponse['stopped']> } | { error: unknown }> = []
    for (const { req, ctx } of jobs) {
      try {
        outcomes.push(await tx.layered(() => pushOne(tx, req, ctx, done)))
      } catch (e) {
        outcomes.push({ error: e })
      }
    }
    return { outcomes, first, last: await tx.flush() }
  })
  return {
    outcomes: outcomes.map((o, i) =>
      'error' in o ? o : { response: { type: 'push-result', v: PROTOCOL_VERSION, results: o.results, ...(o.stopped ? { stopped: o.stopped } : {}), revision: last, user: jobs[i]!.ctx.userId } },
    ),
    committed: last >= first ? { ...done, first, last } : undefined,
  }
}

/** The documents and Realm records a batch will read, so they come in a few statements rather than one per mutation. */
function readAhead(jobs: readonly PushJob[]): Array<{ collection: string; id: string }> {
  const keys = new Set<string>()
  for (const { req, ctx } of jobs) {
    keys.add(docKey(REALM_COLLECTION, ctx.userId))
    for (const m of req.mutations) {
      try {
        for (const k of touchedKeys(m.ops, m.preconditions)) keys.add(k)
      } catch {
        // a malformed mutation is rejected when its turn comes
      }
    }
  }
  return [...keys].map(splitDocKey)
}

/** One push's mutations; what it committed is added to `done` only if it completes. */
async function pushOne(tx: ServerTx, req: PushRequest, ctx: PushContext, done: Committed): Promise<{ results: MutationResult[]; stopped?: NonNullable<PushResponse['stopped']> }> {
  const mine: Committed = { first: 0, last: 0, written: [], moved: [], members: [], clients: [] }
  const access = new Access(tx, ctx.userId, ctx.admin)
  const results: MutationResult[] = []
  let stopped: NonNullable<PushResponse['stopped']> | undefined
  for (const m of req.mutations) {
    const outcome = await handle(tx, access, req, m, ctx, mine)
    if ('stop' in outcome) {
      stopped = outcome.stop
      break
    }
    results.push(outcome.result)
  }
  done.written.push(...mine.written)
  done.moved.push(...mine.moved)
  done.members.push(...mine.members)
  if (mine.written.length || mine.members.length) done.clients.push({ clientId: req.clientId, userId: ctx.userId })
  return stopped ? { results, stopped } : { results }
}

async function handle(tx: ServerTx, access: Access, req: PushRequest, m: PushRequest['mutations'][number], ctx: PushContext, done: Committed): Promise<Outcome> {
  const { clientId } = req
  const revision = await tx.nextRevision()
  const client = await tx.getClient(clientId)
  if (client && client.userId !== ctx.userId) throw new PermissionDeniedError(`client ${clientId} belongs to another user`)
  const last = client?.lastSeq ?? 0
  if (m.seq <= last) {
    const prior = await tx.getResult(clientId, m.seq)
    if (prior && prior.id === m.id) return { result: prior }
    return { stop: { reason: 'client-diverged', message: `mutation ${m.seq} of client ${clientId} is already known with another id` } }
  }
  if (m.seq !== last + 1) return { stop: { reason: 'client-diverged', message: `client ${clientId} sent mutation ${m.seq}, expected ${last + 1}` } }
  if (m.schemaVersion < ctx.minSchemaVersion) {
    return { stop: { reason: 'upgrade-required', message: `schema version ${m.schemaVersion} is no longer accepted`, minSchemaVersion: ctx.minSchemaVersion } }
  }
  const result = await apply(tx, access, clientId, m, revision, ctx, done)
  access.settle(result.status === 'applied')
  await tx.saveResult(clientId, result)
  // outcomes the client has pulled it never asks for again (a seq it sends once more that is not among the kept ones means it diverged)
  await tx.saveClient({ clientId, userId: ctx.userId, lastSeq: m.seq, lastMutationId: m.id, pulled: Math.max(client?.pulled ?? 0, Math.min(req.pulled ?? 0, revision - 1)) })
  return { result }
}

class Rejected extends Error {
  constructor(
    readonly reason: RejectionReason,
    message: string,
  ) {
    super(message)
  }
}

/** Realms and members first: a mutation that creates a realm may fill it. */
const ORDER = (collection: string) => (collection === REALM_COLLECTION ? 0 : collection === MEMBER_COLLECTION ? 1 : 2)

/** Checks and applies one mutation; a failure is a rejection with a reason, and nothing of it is written. */
async function apply(tx: ServerTx, access: Access, clientId: string, m: PushRequest['mutations'][number], revision: number, ctx: PushContext, done: Committed): Promise<MutationResult> {
  try {
    // before any read: ids and names the stores cannot hold never reach them
    assertMutation(m.ops, m.preconditions)
    const keyList = touchedKeys(m.ops, m.preconditions)
    const stored = await tx.getDocs(keyList.map(splitDocKey))
    // to a mutation, a document its user cannot read is missing: a rejection tells nothing of it
    const before = new Map<string, ServerDoc | undefined>()
    for (const [i, k] of keyList.entries()) {
      const d = stored[i]
      const hidden = d?.data != null && !(await access.reads(d.realm))
      if (hidden && m.ops.some(o => (o.type === 'create' || o.type === 'put') && docKey(o.collection, o.id) === k)) {
        throw denied(splitDocKey(k), 'permission denied (keys are unique across realms: create documents with random ids)')
      }
      before.set(k, hidden ? undefined : d)
    }
    const views = applyMutation(new Map(keyList.map(k => [k, before.get(k)?.data ?? undefined])), m.ops, m.preconditions)
    const touched = new Map<string, Map<string, FieldMeta['kind']>>()
    for (const op of m.ops) {
      const k = docKey(op.collection, op.id)
      let fields = touched.get(k)
      if (!fields) touched.set(k, (fields = new Map()))
      for (const [field, kind] of fieldsOf(op, before.get(k)?.data ?? undefined)) fields.set(field, kind)
    }
    const writes: ServerDoc[] = []
    const moved: Committed['moved'] = []
    const members: Array<{ userId: string; realm: string; roles: string[] }> = []
    // the writer's own roles change as the mutation goes: a realm it creates, it may fill
    const member = (g: (typeof members)[number]) => {
      members.push(g)
      if (g.userId === ctx.userId) access.grant(g.realm, g.roles)
    }
    for (const [k, fields] of [...touched].sort(([a], [b]) => ORDER(splitDocKey(a).collection) - ORDER(splitDocKey(b).collection))) {
      const { collection, id } = splitDocKey(k)
      const old = before.get(k)
      const from = old?.data ? old.realm : undefined
      let after = views.get(k)
      const meta = { ...(old?.fields ?? {}) }
      // the realm given by the server, where the writer left it out: the writer fills in only its own private realm itself (see rebase), any other it is sent
      let given: FieldMeta | undefined
      if (after && after[REALM_FIELD] === undefined) {
        // omitted on create: the writer's private realm (a Realm lives in its own); cleared on a document that has one: where it was
        after = { ...after, [REALM_FIELD]: collection === REALM_COLLECTION ? id : (from ?? ctx.userId) }
        given = { rev: revision, client: collection !== REALM_COLLECTION && from === undefined ? clientId : '', kind: 'overwrite' }
      }
      const to = after ? (after[REALM_FIELD] as string) : undefined
      if (after) {
        const problem = realmIssue(to) ?? builtinIssue(collection, id, after) ?? ctx.validate?.(collection, old?.data ?? undefined, after)
        if (problem) throw new Rejected('invalid', `${named({ collection, id })}: ${problem}`)
      }
      await authorize(tx, access, { collection, id }, from, to, views)
      if (deepEqual(after, old?.data ?? undefined)) continue
      for (const [field, kind] of fields) meta[field] = { rev: revision, client: clientId, kind }
      if (given) meta[REALM_FIELD] = given
      // the realm of the row, a tombstone's too: a key deleted in one realm and created in another has left the first
      const was = old?.realm
      if (was !== undefined && to !== undefined && was !== to) {
        // a move is a delete in one realm and a create in the other: readers of the new one need it whole
        meta[''] = { rev: revision, client: clientId, kind: 'overwrite' }
        moved.push({ collection, id, from: was })
      }
      writes.push({ collection, id, data: after ?? null, revision, fields: meta, realm: to ?? was ?? ctx.userId })
      if (collection === MEMBER_COLLECTION) {
        const doc = (after ?? old!.data!) as { realmId: string; userId: string; roles?: string[] }
        member({ userId: doc.userId, realm: doc.realmId, roles: after ? (doc.roles ?? []) : [] })
      }
      if (collection === REALM_COLLECTION && !old?.data && after) {
        // its creator becomes its admin (a server-side write, sent back to the creator)
        const memberKey = encodeKey(['realmId', 'userId'], { realmId: id, userId: ctx.userId })
        const data = { realmId: id, userId: ctx.userId, roles: ['admin'] }
        writes.push({ collection: MEMBER_COLLECTION, id: memberKey, data, revision, realm: id, fields: { '': { rev: revision, client: '', kind: 'overwrite' } } })
        member({ userId: ctx.userId, realm: id, roles: ['admin'] })
      }
    }
    // one row per document (a mutation that makes a realm may also write its creator's Member itself): the last write wins
    const rows = [...new Map(writes.map(w => [docKey(w.collection, w.id), w])).values()]
    await tx.putDocs(rows)
    for (const mv of moved) await tx.saveExit(mv.collection, mv.id, mv.from, revision)
    for (const g of members) await tx.saveMembership(g.userId, g.realm, g.roles, revision)
    done.written.push(...rows)
    done.moved.push(...moved)
    done.members.push(...members.map(g => g.userId))
    return { seq: m.seq, id: m.id, status: 'applied', revision }
  } catch (e) {
    const reject = (reason: RejectionReason, message: string): MutationResult => ({ seq: m.seq, id: m.id, status: 'rejected', revision, reason, message })
    if (e instanceof Rejected) return reject(e.reason, e.message)
    if (e instanceof ConditionFailedError) return e.reason === 'condition-failed' ? reject('condition-failed', `${e.collection} ${JSON.stringify(e.id)}: ${e.detail}`) : reject('not-found', e.message)
    if (e instanceof ModelAlreadyExistsError) return reject('already-exists', e.message)
    if (e instanceof TidepoolError) return reject('invalid', e.message)
    throw e
  }
}

function denied(doc: { collection: string; id: string }, why = 'permission denied'): Rejected {
  return new Rejected('permission-denied', `${named(doc)}: ${why}`)
}

/** A document as the app names it: the built-in models by their class names and key components. */
function named(doc: { collection: string; id: string }): string {
  if (doc.collection === REALM_COLLECTION) return `Realm ${JSON.stringify(doc.id)}`
  if (doc.collection === MEMBER_COLLECTION) {
    const [realmId, userId] = doc.id.split('\0')
    return `Member { realmId: ${JSON.stringify(realmId)}, userId: ${JSON.stringify(userId)} }`
  }
  return `${doc.collection} ${JSON.stringify(doc.id)}`
}

/**
 * Whether the user may write a document that was in realm `from` (undefined:
 * it did not exist) and is to be in realm `to` (undefined: deleted): write in
 * both, admin for the realm's own `Realm` and `Member` documents. A new realm
 * takes a name nobody holds; members belong to realms that exist (a private
 * realm stays private).
 */
async function authorize(tx: ServerTx, access: Access, doc: { collection: string; id: string }, from: string | undefined, to: string | undefined, views: Map<string, unknown>): Promise<void> {
  const builtin = doc.collection === REALM_COLLECTION || doc.collection === MEMBER_COLLECTION
  const may = (realm: string) => (builtin ? access.administers(realm) : access.writes(realm))
  if (from !== undefined && !(await may(from))) throw denied(doc, `no ${builtin ? 'admin' : 'write'} role in realm ${JSON.stringify(from)}`)
  if (to === undefined || to === from) return
  if (doc.collection === REALM_COLLECTION && from === undefined) {
    if (to === PUBLIC_REALM || to === access.userId || (await tx.realmTaken(to))) throw denied(doc, `the realm ${JSON.stringify(to)} is taken`)
    return
  }
  if (doc.collection === MEMBER_COLLECTION && to !== PUBLIC_REALM) {
    const realmKey = docKey(REALM_COLLECTION, to)
    const [realm] = views.has(realmKey) ? [views.get(realmKey)] : (await tx.getDocs([{ collection: REALM_COLLECTION, id: to }])).map(d => d?.data ?? undefined)
    if (!realm) throw denied(doc, `members belong to a realm made with a Realm document; ${JSON.stringify(to)} has none`)
  }
  if (!(await may(to))) throw denied(doc, `no ${builtin ? 'admin' : 'write'} role in realm ${JSON.stringify(to)}`)
}

/** What the built-in models require beyond their schemas (a server without models still checks it). */
function builtinIssue(collection: string, id: string, doc: JsonObject): string | undefined {
  if (collection === REALM_COLLECTION) {
    if (doc[REALM_FIELD] !== id) return 'a Realm lives in its own realm (realmId equals id)'
    if (doc.name !== undefined && typeof doc.name !== 'string') return 'name must be a string'
  }
  if (collection === MEMBER_COLLECTION) {
    if (typeof doc.userId !== 'string' || doc.userId === '') return 'userId must be a non-empty string'
    if (encodeKey(['realmId', 'userId'], { realmId: doc[REALM_FIELD], userId: doc.userId }) !== id) return 'a Member is keyed by its realmId and userId'
    if (!Array.isArray(doc.roles) || !doc.roles.every(r => (ROLES as readonly unknown[]).includes(r))) return `roles must be a list of ${ROLES.join(', ')}`
  }
  return undefined
}

/** The fields an op changes, and how ('' is the document's existence). */
function fieldsOf(op: Op, before: JsonObject | undefined): Array<[string, FieldMeta['kind']]> {
  switch (op.type) {
    case 'create':
      return [['', 'overwrite'], ...Object.keys(op.data).map(f => [f, 'overwrite'] as [string, 'overwrite'])]
    case 'put': {
      const fields = new Set([...Object.keys(op.data), ...op.fields.filter(f => before && f in before)])
      return [['', 'overwrite'], ...[...fields].map(f => [f, 'overwrite'] as [string, 'overwrite'])]
    }
    case 'delete':
      return [['', 'overwrite']]
    case 'set':
    case 'unset':
      return [[op.path[0]!, 'overwrite']]
    default:
      return [[op.path[0]!, 'merge']]
  }
}
