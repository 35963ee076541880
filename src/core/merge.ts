import { applyOp, type Doc } from './apply.js'
import type { Op } from './mutation.js'

/**
 * The deterministic merge of serverless sync: a document is the fold of
 * every op ever written to it, in event order (hybrid logical clock, then
 * writer, then sequence number), whoever wrote them and whenever they
 * arrived. So replicas that have read the same logs hold the same documents.
 *
 * Folding in event order gives the rules of DESIGN.md: the newest create or
 * put against the newest delete decides whether the document exists (a field
 * write after a delete finds no document and does nothing, so it never
 * resurrects one); a field holds its last `set` plus the increments after it;
 * an op that cannot apply (an increment of a string, say) is skipped on every
 * replica alike.
 */
export function fold(events: Iterable<readonly Op[]>, start: Doc = undefined): Doc {
  let doc = start
  for (const ops of events) {
    for (const op of ops) {
      try {
        // a create that meets a document is the newest create: it replaces it
        doc = op.type === 'create' ? op.data : applyOp(doc, op)
      } catch {
        // not applicable here, and so nowhere
      }
    }
  }
  return doc
}
