import { applyLenient, type Doc } from './apply.js'
import type { Op } from './mutation.js'

/**
 * The deterministic merge of serverless sync: a document is the fold of
 * every op ever written to it, in event order (hybrid logical clock, then
 * writer, then sequence number), whoever wrote them and whenever they
 * arrived. So replicas that have read the same logs hold the same documents.
 *
 * Folding in event order gives the merge rules: the newest create or put
 * against the newest delete decides whether the document exists (a field
 * write after a delete finds no document and does nothing, so it never
 * resurrects one); a field holds its last `set` plus the increments after it;
 * an op that cannot apply (an increment of a string, say) is skipped on every
 * replica alike.
 */
export function fold(events: Iterable<readonly Op[]>, start: Doc = undefined): Doc {
  let doc = start
  for (const ops of events) doc = applyLenient(doc, ops, NEWEST_CREATE_WINS)
  return doc
}

const NEWEST_CREATE_WINS = { createReplaces: true }

/** Whether an op replaces what some earlier op wrote, so that `compact` may drop that one. */
export function replacesEarlier(op: Op): boolean {
  return op.type === 'create' || op.type === 'delete' || op.type === 'put' || ((op.type === 'set' || op.type === 'unset') && op.path.length === 1)
}

/** One document's event: its place in event order and its ops. */
export interface DocEvent {
  key: string
  ops: readonly Op[]
}

/**
 * Drops the ops that later ops of the same events overwrite, whatever else
 * is folded between them: everything before a create or delete (which
 * replace the whole document), and every op within a top-level field that a
 * later `set`, `unset` or `put` of that field replaces. What is left folds to
 * the same document as all of them, alone or interleaved with any other
 * events, arriving in any order, so a client may hand its own events
 * compacted to readers that are behind (a checkpoint) and a replica may keep
 * its event log compacted. Increments and array ops after the last write of
 * their field stay one by one, each with its own event key, so a reader that
 * already has some of them counts none twice.
 *
 * Only top-level writes replace: an op on `a.b` also creates `a` as an
 * object, which decides whether a later increment of `a` applies, so a set
 * of `a.b` does not make an earlier op on `a.b` irrelevant everywhere.
 */
export function compact<E extends DocEvent>(events: readonly E[]): E[] {
  const replaced = new Set<string>()
  let whole = false
  const kept: E[] = []
  for (let i = events.length - 1; i >= 0 && !whole; i--) {
    const ops: Op[] = []
    const all = events[i]!.ops
    for (let j = all.length - 1; j >= 0 && !whole; j--) {
      const op = all[j]!
      switch (op.type) {
        case 'create':
        case 'delete':
          ops.push(op)
          whole = true
          break
        case 'put':
          // a put also brings a missing document into being: it stays whatever follows
          ops.push(op)
          for (const k of op.fields) replaced.add(k)
          break
        default: {
          const field = op.path[0]
          if (field === undefined || replaced.has(field)) break
          ops.push(op)
          if ((op.type === 'set' || op.type === 'unset') && op.path.length === 1) replaced.add(field)
        }
      }
    }
    if (ops.length) kept.push(ops.length === all.length ? events[i]! : { ...events[i]!, ops: ops.reverse() })
  }
  return kept.reverse()
}
