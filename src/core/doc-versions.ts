import { setKey, type JsonObject } from './json.js'

/**
 * The reserved field that records the app schema version a document was last
 * written under (absent: version 1). It travels with the document through
 * every sync path, so a reader anywhere knows which migrations it still needs.
 */
export const VERSION_FIELD = '_v'

/**
 * Set when an older app wrote a document of a newer version (which keeps its
 * version: its newer fields are still there): to that version's readers the
 * document is no longer known valid, and is checked when read. A write by
 * an app of the document's version clears it.
 */
export const OLDER_WRITE_FIELD = '_w'

/** Whether a field is one a document keeps for Tidepool (its version marks), never the app's. */
export function isBookkeeping(name: string): boolean {
  return name === VERSION_FIELD || name === OLDER_WRITE_FIELD
}

/** The schema version a stored document was written under. */
export function docVersion(doc: JsonObject): number {
  const v = doc[VERSION_FIELD]
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : 1
}

/**
 * Where a document read as something other than what is stored (migrated,
 * defaults filled) keeps the stored document: writes and preconditions refer
 * to what is stored. A symbol key, which JSON, `for…in`, comparisons and
 * structured clones leave out. (A WeakMap beside the documents cost a read
 * of 100,000 of them more than the migration did, in the collector.)
 */
const STORED = Symbol('tidepool.stored')

/** Records that `read` is how the app reads `stored`. */
export function readFrom(read: JsonObject, stored: JsonObject): JsonObject {
  ;(read as { [STORED]?: JsonObject })[STORED] = stored
  return read
}

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

/** A document as the app sees it: without the version it records, or where it was read from. */
export function appFields(doc: JsonObject): JsonObject {
  if (!(VERSION_FIELD in doc) && !(OLDER_WRITE_FIELD in doc) && storedOf(doc) === doc) return doc
  const out: JsonObject = {}
  // for…in leaves the symbol out
  for (const name in doc) if (!isBookkeeping(name)) setKey(out, name, doc[name])
  return out
}
