import { applyOp, describe, holds, type Doc } from './apply.js'
import { ConditionFailedError, ValidationError } from './errors.js'
import { COLLECTION_NAME, docKey } from './key.js'
import type { Op, Path, Precondition } from './mutation.js'
import { idIssue, MAX_DEPTH, MAX_MUTATION_BYTES, utf8Length, valueIssue, wellFormed } from './values.js'

/** The documents a mutation touches, by its preconditions and ops: each document key once, in first-seen order. */
export function touchedKeys(ops: readonly Op[], preconditions: readonly Precondition[]): string[] {
  const keys = new Set<string>()
  for (const x of preconditions) keys.add(docKey(x.collection, x.id))
  for (const x of ops) keys.add(docKey(x.collection, x.id))
  return [...keys]
}

/**
 * Throws `ValidationError` when a mutation breaks the value rules
 * (core/values.ts): collections, ids, paths and every value it writes or
 * compares, and its size. The replica checks before it commits, the server
 * before it reads anything, so what one accepts the other does too.
 */
export function assertMutation(ops: readonly Op[], preconditions: readonly Precondition[]): void {
  const size = { bytes: 0 }
  for (const x of [...preconditions, ...ops]) {
    const where = `${x.collection} ${JSON.stringify(x.id)}`
    const fail = (path: string, reason: string): never => {
      throw new ValidationError(path || where, path ? `${reason} (in ${where})` : reason)
    }
    if (typeof x.collection !== 'string' || !COLLECTION_NAME.test(x.collection)) fail('', `${JSON.stringify(x.collection)} is not a collection name`)
    if (typeof x.id !== 'string') fail('', 'a document id is a string')
    const bad = idIssue(x.id, 'the document id')
    if (bad) fail('', bad)
    const path: Path = 'path' in x ? x.path : []
    for (const k of path) if (typeof k !== 'string' || k === '__proto__' || !wellFormed(k)) fail(path.join('.'), 'is not a field path that every store and parser accepts')
    // a value written at a path nests inside the levels of that path
    const check = (v: unknown, depth: number) => {
      const issue = valueIssue(v, depth, size)
      if (issue) fail([...path, issue.path].filter(Boolean).join('.'), issue.reason)
    }
    switch (x.type) {
      case 'create':
      case 'put':
        check(x.data, MAX_DEPTH)
        if (x.type === 'put') check(x.fields, 2)
        break
      case 'set':
        check(x.value, MAX_DEPTH - path.length)
        break
      case 'increment':
        if (typeof x.by !== 'number' || !Number.isFinite(x.by)) fail(path.join('.'), 'an increment is a finite number')
        break
      case 'arrayUnion':
      case 'arrayRemove':
        check(x.values, MAX_DEPTH - path.length)
        break
      case 'equals':
        if (x.value !== undefined) check(x.value, MAX_DEPTH - path.length)
        break
    }
  }
  // the bound is cheap and rarely near the limit; only then is the JSON measured
  if (size.bytes > MAX_MUTATION_BYTES) {
    const bytes = utf8Length(JSON.stringify({ ops, preconditions }))
    if (bytes > MAX_MUTATION_BYTES) throw new ValidationError('mutation', `is ${bytes} bytes in UTF-8, more than the ${MAX_MUTATION_BYTES} a mutation may have; split the transaction`)
  }
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
