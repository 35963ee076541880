import type { JsonObject } from './json.js'

/**
 * The reserved field that records the app schema version a document was last
 * written under (absent: version 1). It travels with the document through
 * every sync path, so a reader anywhere knows which migrations it still needs.
 */
export const VERSION_FIELD = '_v'

/** The schema version a stored document was written under. */
export function docVersion(doc: JsonObject): number {
  const v = doc[VERSION_FIELD]
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : 1
}

/**
 * Where a document as the app reads it (migrated, defaults filled) keeps the
 * stored document it was made from: writes and preconditions refer to what
 * is stored. A symbol, so it never reaches JSON, comparisons or the app.
 */
export const STORED = Symbol('tidepool.stored')

/** A stored document this app version cannot read (it fails the schema after its migrations): kept, unchanged, and never handed out. */
export class KeptAside {
  constructor(
    readonly stored: JsonObject,
    /** Why, naming the field at fault. */
    readonly reason: string,
  ) {}
}

/** How the app reads one collection's stored documents: as they are, migrated, or kept aside. */
export type DocReader = (stored: JsonObject) => JsonObject | KeptAside

/** The document a stored one was read as, where reading changed it. */
export function storedOf(doc: JsonObject): JsonObject {
  return (doc as { [STORED]?: JsonObject })[STORED] ?? doc
}
