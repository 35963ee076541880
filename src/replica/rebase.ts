import { applyOp, type Doc } from '../core/apply.js'
import { setKey, shallowCopy } from '../core/json.js'
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

/** The ops of each document, in mutation order, so that a rebase costs only what touches its document. */
export class OpsByDoc {
  private readonly byKey = new Map<string, Array<{ seq: number; op: Op }>>()

  constructor(mutations: readonly Mutation[]) {
    for (const m of mutations) {
      for (const op of m.ops) {
        const k = docKey(op.collection, op.id)
        let list = this.byKey.get(k)
        if (!list) this.byKey.set(k, (list = []))
        list.push({ seq: m.seq, op })
      }
    }
  }

  of(key: string): ReadonlyArray<{ seq: number; op: Op }> {
    return this.byKey.get(key) ?? []
  }

  keys(): IterableIterator<string> {
    return this.byKey.keys()
  }
}

/**
 * A document's new base and view after a pull: the old base, then this
 * client's acknowledged mutations (their overwrites are not sent back), then
 * the server's change (which holds the latest value of every field it
 * names, increments included); the view is that base with the mutations
 * still pending applied on top.
 */
export function rebase(key: string, base: Doc, acked: OpsByDoc, change: DocumentChange | undefined, pending: OpsByDoc): Rebased {
  let next = applyAll(
    base,
    acked.of(key).map(x => x.op),
  )
  if (change) next = applyChange(next, change)
  const mine = pending.of(key)
  const view = applyAll(
    next,
    mine.map(x => x.op),
  )
  return { base: next, view, seq: mine.at(-1)?.seq }
}
