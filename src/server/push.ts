import type { Doc } from '../core/apply.js'
import { applyMutation, assertMutation, touchedKeys } from '../core/commit.js'
import { ConditionFailedError, ModelAlreadyExistsError, PermissionDeniedError, TidepoolError } from '../core/errors.js'
import { deepEqual, type JsonObject } from '../core/json.js'
import { docKey, splitDocKey } from '../core/key.js'
import type { Op } from '../core/mutation.js'
import { PROTOCOL_VERSION, type MutationResult, type PushRequest, type PushResponse, type RejectionReason } from '../protocol/messages.js'
import type { FieldMeta, ServerDoc, ServerStore, ServerTx } from './store.js'

export interface PushContext {
  /** The authenticated user; a client id is bound to the user of its first push. */
  userId: string
  /** Mutations written under an older schema version are answered `upgrade-required`. */
  minSchemaVersion: number
  /** Called after a push commits, with the revisions it took and the documents it wrote. */
  onCommitted?: (info: { first: number; last: number; written: ServerDoc[] }) => void
  /** Checks a document a mutation would write; returns why it is invalid, if it is. */
  validate?: (collection: string, before: JsonObject | undefined, after: JsonObject) => string | undefined
}

type Outcome = { result: MutationResult } | { stop: NonNullable<PushResponse['stopped']> }

/**
 * Applies pushed mutations in order, exactly once: a mutation applies only as the client's next sequence number; a known
 * `(seq, id)` is acknowledged again; a known `seq` with another id, or a gap,
 * means the client diverged (restored from a backup, or copied).
 */
export async function push(store: ServerStore, req: PushRequest, ctx: PushContext): Promise<PushResponse> {
  // one durable commit for the whole batch (each mutation stays all-or-nothing: a rejected one writes nothing)
  const written: ServerDoc[] = []
  const revisions: number[] = []
  const { results, stopped } = await store.transaction(async tx => {
    const results: MutationResult[] = []
    for (const m of req.mutations) {
      const outcome = await handle(tx, req.clientId, m, ctx, written, revisions)
      if ('stop' in outcome) return { results, stopped: outcome.stop }
      results.push(outcome.result)
    }
    return { results, stopped: undefined }
  })
  if (revisions.length) ctx.onCommitted?.({ first: revisions[0]!, last: revisions[revisions.length - 1]!, written })
  return { type: 'push-result', v: PROTOCOL_VERSION, results, ...(stopped ? { stopped } : {}), revision: await store.revision() }
}

async function handle(tx: ServerTx, clientId: string, m: PushRequest['mutations'][number], ctx: PushContext, written: ServerDoc[], revisions: number[]): Promise<Outcome> {
  const revision = await tx.nextRevision()
  revisions.push(revision)
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
  const result = await apply(tx, clientId, m, revision, ctx, written)
  await tx.saveResult(clientId, result)
  await tx.saveClient({ clientId, userId: ctx.userId, lastSeq: m.seq, lastMutationId: m.id })
  return { result }
}

/** Checks and applies one mutation; a failure is a rejection with a reason, and nothing of it is written. */
async function apply(tx: ServerTx, clientId: string, m: PushRequest['mutations'][number], revision: number, ctx: PushContext, written: ServerDoc[]): Promise<MutationResult> {
  const reject = (reason: RejectionReason, message: string): MutationResult => ({ seq: m.seq, id: m.id, status: 'rejected', revision, reason, message })
  try {
    // before any read: ids and names the stores cannot hold never reach them
    assertMutation(m.ops, m.preconditions)
  } catch (e) {
    if (e instanceof TidepoolError) return reject('invalid', e.message)
    throw e
  }
  const keyList = touchedKeys(m.ops, m.preconditions)
  const stored = await tx.getDocs(keyList.map(splitDocKey))
  const before = new Map<string, ServerDoc | undefined>(keyList.map((k, i) => [k, stored[i]]))
  let views: Map<string, Doc>
  try {
    views = applyMutation(new Map(keyList.map((k, i) => [k, stored[i]?.data ?? undefined])), m.ops, m.preconditions)
  } catch (e) {
    if (e instanceof ConditionFailedError) return e.reason === 'condition-failed' ? reject('condition-failed', `${e.collection} ${JSON.stringify(e.id)}: ${e.detail}`) : reject('not-found', e.message)
    if (e instanceof ModelAlreadyExistsError) return reject('already-exists', e.message)
    if (e instanceof TidepoolError) return reject('invalid', e.message)
    throw e
  }
  const touched = new Map<string, Map<string, FieldMeta['kind']>>()
  for (const op of m.ops) {
    const k = docKey(op.collection, op.id)
    let fields = touched.get(k)
    if (!fields) touched.set(k, (fields = new Map()))
    for (const [field, kind] of fieldsOf(op, before.get(k)?.data ?? undefined)) fields.set(field, kind)
  }
  const writes: ServerDoc[] = []
  for (const [k, fields] of touched) {
    const { collection, id } = splitDocKey(k)
    const old = before.get(k)
    const after = views.get(k)
    if (after && ctx.validate) {
      const problem = ctx.validate(collection, old?.data ?? undefined, after)
      if (problem) return reject('invalid', `${collection} ${JSON.stringify(id)}: ${problem}`)
    }
    if (deepEqual(after, old?.data ?? undefined)) continue
    const meta = { ...(old?.fields ?? {}) }
    for (const [field, kind] of fields) meta[field] = { rev: revision, client: clientId, kind }
    writes.push({ collection, id, data: after ?? null, revision, fields: meta })
  }
  await tx.putDocs(writes)
  written.push(...writes)
  return { seq: m.seq, id: m.id, status: 'applied', revision }
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
