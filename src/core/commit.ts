import { applyOp, describe, holds, type Doc } from './apply.js'
import { ConditionFailedError } from './errors.js'
import { docKey } from './key.js'
import type { Op, Precondition } from './mutation.js'

/** The documents a mutation touches, by its preconditions and ops: each document key once, in first-seen order. */
export function touchedKeys(ops: readonly Op[], preconditions: readonly Precondition[]): string[] {
  const keys = new Set<string>()
  for (const x of preconditions) keys.add(docKey(x.collection, x.id))
  for (const x of ops) keys.add(docKey(x.collection, x.id))
  return [...keys]
}

/**
 * The commit kernel that the replica and the server share: checks every
 * precondition against the documents as they are (`docs`, by document key;
 * missing: undefined), then applies the ops in order. Pure: returns the
 * documents as the mutation leaves them and changes nothing it is given.
 * Throws `ConditionFailedError` (reason `condition-failed`) when a
 * precondition fails, and the errors of `applyOp` when an op cannot apply;
 * a mutation applies whole or not at all.
 */
export function applyMutation(docs: ReadonlyMap<string, Doc>, ops: readonly Op[], preconditions: readonly Precondition[]): Map<string, Doc> {
  for (const pc of preconditions) {
    if (!holds(docs.get(docKey(pc.collection, pc.id)), pc)) throw new ConditionFailedError(pc.collection, pc.id, 'condition-failed', describe(pc))
  }
  const out = new Map(docs)
  for (const op of ops) {
    const k = docKey(op.collection, op.id)
    out.set(k, applyOp(out.get(k), op))
  }
  return out
}

/** Mutations' ops grouped by the document they touch, in mutation order, so work on one document costs only what touches it. */
export function opsByDoc<M extends { ops: readonly Op[] }>(mutations: Iterable<M>): Map<string, Array<{ mutation: M; ops: Op[] }>> {
  const out = new Map<string, Array<{ mutation: M; ops: Op[] }>>()
  for (const mutation of mutations) {
    for (const op of mutation.ops) {
      const k = docKey(op.collection, op.id)
      let list = out.get(k)
      if (!list) out.set(k, (list = []))
      const entry = list.at(-1)
      if (entry?.mutation === mutation) entry.ops.push(op)
      else list.push({ mutation, ops: [op] })
    }
  }
  return out
}
