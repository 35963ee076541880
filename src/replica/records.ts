import type { JsonObject } from '../core/json.js'

/**
 * One record per document. `base` is the server-confirmed version (absent
 * until a server has confirmed one) at revision `rev`. While local mutations
 * are pending, `view` holds base plus those mutations, materialized so that
 * a read costs one lookup (`null`: deleted locally), and `seq` is the last
 * outbox entry that touched the document.
 */
export interface DocRecord {
  base?: JsonObject
  rev: number
  view?: JsonObject | null
  seq?: number
  /** The document's index entry keys, where the storage indexes records itself (`recordIndex`). */
  ix?: string[]
}

/** What the app sees of a document: the local view while pending, else the base. */
export function localView(r: DocRecord | undefined): JsonObject | undefined {
  if (!r) return undefined
  if (r.view !== undefined) return r.view ?? undefined
  return r.base
}

/** The replica's own store names, shared by every adapter (sync flavours add areas of their own). */
export const STORES = {
  docs: 'docs',
  outbox: 'outbox',
  meta: 'meta',
  rejections: 'rejections',
  /** Index entries (see indexes.ts). */
  indexes: 'indexes',
  /** Which documents each commit changed, so other processes and tabs can refresh what they show. */
  changes: 'changes',
} as const

/** Outbox and changelog keys sort in sequence order. */
export function seqKey(seq: number): string {
  return String(seq).padStart(16, '0')
}

/** The keys of one collection's documents in the docs store (collection names hold no NUL). */
export function collectionRange(collection: string): { gte: string; lt: string } {
  return { gte: `${collection}\0`, lt: `${collection}\u0001` }
}
