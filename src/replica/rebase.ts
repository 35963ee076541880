import { applyOp, type Doc } from '../core/apply.js'
import type { JsonObject } from '../core/json.js'
import { docKey } from '../core/key.js'
import type { Mutation, Op } from '../core/mutation.js'
import type { DocumentChange } from '../core/changes.js'

/** Applies ops, skipping any that cannot apply (the server will reject their mutation, or already has). */
function applyAll(doc: Doc, ops: readonly Op[]): Doc {
  let out = doc
  for (const op of ops) {
    try {
      out = applyOp(out, op)
    } catch {
      // skipped: see above
    }
  }
  return out
}

/** A server change applied to a base. */
export function applyChange(base: Doc, change: DocumentChange): Doc {
  if ('deleted' in change) return undefined
  if ('doc' in change) return change.doc
  const out: JsonObject = { ...(base ?? {}) }
  for (const [k, v] of Object.entries(change.set)) out[k] = v
  for (const k of change.unset) delete out[k]
  return out
}

export interface Rebased {
  base: Doc
  view: Doc
  /** The last pending mutation touching the document (undefined: none, the view is the base). */
  seq: number | undefined
}

/**
 * A document's new base and view after a pull: the old base, then this
 * client's acknowledged mutations (their overwrites are not sent back), then
 * the server's change (which holds the latest value of every field it
 * names, increments included); the view is that base with the mutations
 * still pending applied on top.
 */
export function rebase(key: string, base: Doc, acked: readonly Mutation[], change: DocumentChange | undefined, pending: readonly Mutation[]): Rebased {
  const touching = (m: Mutation) => m.ops.filter(op => docKey(op.collection, op.id) === key)
  let next = base
  for (const m of acked) next = applyAll(next, touching(m))
  if (change) next = applyChange(next, change)
  let view = next
  let seq: number | undefined
  for (const m of pending) {
    const ops = touching(m)
    if (ops.length === 0) continue
    view = applyAll(view, ops)
    seq = m.seq
  }
  return { base: next, view, seq }
}
