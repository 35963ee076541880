import { applyLenient, type Doc } from '../core/apply.js'
import type { DocumentChange } from '../core/changes.js'
import { setKey, shallowCopy } from '../core/json.js'
import type { Mutation, Op } from '../core/mutation.js'
import { REALM_FIELD } from '../core/realms.js'

/** A server change applied to a base. */
export function applyChange(base: Doc, change: DocumentChange): Doc {
  if ('deleted' in change) return undefined
  if ('doc' in change) return change.doc
  const out = base ? shallowCopy(base) : {}
  for (const [k, v] of Object.entries(change.set)) setKey(out, k, v)
  for (const k of change.unset) delete out[k]
  return out
}

export interface Rebased {
  base: Doc
  view: Doc
  /** The last pending mutation touching the document (undefined: none, the view is the base). */
  seq: number | undefined
}

/** One document's share of some mutations (see `opsByDoc`). */
type DocOps = ReadonlyArray<{ mutation: Mutation; ops: Op[] }> | undefined

/**
 * A document's new base and view after a pull: the old base, then this
 * client's acknowledged mutations (their overwrites are not sent back), then
 * the server's change (which holds the latest value of every field it
 * names, increments included), and the realm of an acknowledged create
 * that named none (`user`'s private one); the view is that base with the mutations
 * still pending applied on top. Ops that cannot apply are skipped: the
 * server will reject their mutation, or already has.
 */
export function rebase(base: Doc, acked: DocOps, change: DocumentChange | undefined, pending: DocOps, user?: string): Rebased {
  let next = applyLenient(base, opsOf(acked))
  if (change) next = applyChange(next, change)
  // acknowledged without a realm (created before this client knew its user, or the realm cleared): the server kept it where it was, else put it in the user's private realm, and says so only when it was elsewhere
  if (user !== undefined && acked?.length && next && next[REALM_FIELD] === undefined) next = { ...next, [REALM_FIELD]: (base?.[REALM_FIELD] as string | undefined) ?? user }
  const view = applyLenient(next, opsOf(pending))
  return { base: next, view, seq: pending?.at(-1)?.mutation.seq }
}

function opsOf(list: DocOps): Op[] {
  return list ? list.flatMap(x => x.ops) : []
}
