import { getIn } from '../core/apply.js'
import { encodeValue } from '../core/encoding.js'
import type { Json, JsonObject } from '../core/json.js'
import type { Path } from '../core/mutation.js'

/**
 * An index over one or more field paths. Entries live in the `indexes` store,
 * keyed `collection ⁰¹ indexId ⁰¹ encoded values ⁰⁰ documentId` (order-preserving
 * encodings, so a key range is a value range), with the document id as value.
 * A document lacking any indexed field has no entry. A one-field index over
 * an array field also gets an entry per element (`⁰²` instead of `⁰¹`) for
 * `array-contains`.
 */
export interface IndexDef {
  id: string
  paths: Path[]
}

export function indexDef(paths: readonly string[]): IndexDef {
  return { id: paths.join(','), paths: paths.map(p => p.split('.')) }
}

export function indexPrefix(collection: string, index: string): string {
  return `${collection}\u0001${index}\u0001`
}

export function containsPrefix(collection: string, index: string): string {
  return `${collection}\u0001${index}\u0002`
}

/** Entries sort after every key of their index values by this separator, then by document id. */
export const ID_SEPARATOR = '\u0000'

/** The index entry keys of one document. */
export function indexEntries(collection: string, def: IndexDef, id: string, doc: JsonObject | undefined): string[] {
  if (!doc) return []
  const values: Json[] = []
  for (const p of def.paths) {
    const v = getIn(doc, p)
    if (v === undefined) return []
    values.push(v)
  }
  const out = [indexPrefix(collection, def.id) + values.map(encodeValue).join('') + ID_SEPARATOR + id]
  const first = values[0]
  if (def.paths.length === 1 && Array.isArray(first)) {
    const seen = new Set<string>()
    for (const el of first) {
      const enc = encodeValue(el)
      if (seen.has(enc)) continue
      seen.add(enc)
      out.push(containsPrefix(collection, def.id) + enc + ID_SEPARATOR + id)
    }
  }
  return out
}
