import { docKey } from '../core/key.js'
import { eventKey } from '../core/hlc.js'
import type { Mutation, Op } from '../core/mutation.js'

/**
 * The events store holds each document's ops from every client under
 * `{length of the document key}:{document key}{event key}`: one document's
 * events are one key range, in event order. (The length makes the prefix
 * unambiguous: document keys may contain anything.)
 */
export function eventPrefix(key: string): string {
  return `${key.length.toString(36).padStart(4, '0')}:${key}`
}

export function eventRecordKey(key: string, event: string): string {
  return eventPrefix(key) + event
}

/** A mutation's ops grouped by the document they touch, in op order. */
export function opsPerDoc(ops: readonly Op[]): Map<string, Op[]> {
  const out = new Map<string, Op[]>()
  for (const op of ops) {
    const k = docKey(op.collection, op.id)
    let list = out.get(k)
    if (!list) out.set(k, (list = []))
    list.push(op)
  }
  return out
}

/** The event key of a local mutation, which carries its clock from the commit. */
export function localEventKey(m: Mutation): string {
  return eventKey(m.hlc ?? '', m.clientId, m.seq)
}

/** Bookkeeping keys in the files store. */
export const FILES = {
  received: (clientId: string) => `received/${clientId}`,
  receivedPrefix: 'received/',
  uploaded: (url: string) => `uploaded/${url}`,
  own: (seq: number) => `own/${String(seq).padStart(16, '0')}`,
  ownPrefix: 'own/',
}
