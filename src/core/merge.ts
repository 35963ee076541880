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
