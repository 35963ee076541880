import { docVersion, KeptAside, type DocReader } from '../core/doc-versions.js'
import { InvalidOptionsError } from '../core/errors.js'
import { deepEqual, type JsonObject } from '../core/json.js'
import { COLLECTION_NAME } from '../core/key.js'
import { MEMBER_COLLECTION, REALM_COLLECTION } from '../core/realms.js'
import type { JsonSchema } from '../core/schema.js'
import { compileCheck, type Check } from '../core/validate.js'

/**
 * What the server checks writes to one collection against: the replicas'
 * own schema, as data, so the server needs no model classes (`schemasOf`
 * in `tidepool/server` builds these from models).
 */
export interface CollectionSchema {
  collection: string
  /** The JSON Schema of a whole document: its key components and fields as properties, `additionalProperties: true`. */
  schema: JsonSchema
  /** Fields a write may not change once the document has them. */
  readOnly?: readonly string[]
  /** The app schema version `schema` describes (default 1). Documents of other versions are checked through `read`, or not at all. */
  version?: number
  /**
   * How the app at `version` reads a stored document (its migrations, from
   * `schemasOf`): a document of an older or newer version is valid when the
   * app can read it.
   */
  read?: DocReader
}

/** Why a document a mutation would write is invalid, or undefined when it is valid. */
export type DocValidator = (collection: string, before: JsonObject | undefined, after: JsonObject) => string | undefined

/**
 * A validator that enforces the same schema as the replicas: the whole
 * document, and read-only fields unchanged. A collection no schema declares
 * is refused.
 */
export function schemaValidator(schemas: readonly CollectionSchema[]): DocValidator {
  const checks = new Map<string, Compiled>(schemas.map(s => [s.collection, compile(s)]))
  return (collection, before, after) => {
    const entry = checks.get(collection)
    // the built-in models' rules are the server's own (push.ts)
    if (!entry && (collection === REALM_COLLECTION || collection === MEMBER_COLLECTION)) return undefined
    if (!entry) return `no model declares the collection ${collection}`
    // during a rollout, apps of several versions write: a document is checked as the schema's version reads it
    let doc = after
    if (entry.read) {
      const read = entry.read(after)
      if (read instanceof KeptAside) return `${read.reason} (as schema version ${entry.version} reads this version ${docVersion(after)} document)`
      doc = read
    }
    const issue = doc !== after || docVersion(after) === entry.version ? entry.check(doc) : undefined
    if (issue) return `${issue.path.slice(1).replaceAll('/', '.') || 'document'}: ${issue.reason}`
    if (before) {
      for (const name of entry.readOnly) {
        if (name in before && !deepEqual(before[name], after[name])) return `${name} is read-only`
      }
    }
    return undefined
  }
}

interface Compiled {
  check: Check
  readOnly: readonly string[]
  version: number
  read: DocReader | undefined
}

function compile(s: CollectionSchema): Compiled {
  // descriptors may come from plain JavaScript or JSON: refuse a malformed one at start, not at the first push
  if (typeof s !== 'object' || s === null || typeof s.collection !== 'string' || !COLLECTION_NAME.test(s.collection)) {
    throw new InvalidOptionsError('schemas', `${JSON.stringify((s as { collection?: unknown } | null)?.collection)} is not a valid collection name`)
  }
  const readOnly = s.readOnly ?? []
  if (!Array.isArray(readOnly) || !readOnly.every(f => typeof f === 'string')) throw new InvalidOptionsError('schemas', `${s.collection}.readOnly must be a list of field names`)
  if (typeof s.schema !== 'object' || s.schema === null) throw new InvalidOptionsError('schemas', `${s.collection}.schema must be a JSON Schema object`)
  const version = s.version ?? 1
  if (!Number.isInteger(version) || version < 1) throw new InvalidOptionsError('schemas', `${s.collection}.version must be a positive integer`)
  if (s.read !== undefined && typeof s.read !== 'function') throw new InvalidOptionsError('schemas', `${s.collection}.read must be a function`)
  try {
    return { check: compileCheck(s.schema), readOnly, version, read: s.read }
  } catch (e) {
    throw new InvalidOptionsError('schemas', `${s.collection}.schema is not a valid JSON Schema: ${(e as Error).message}`)
  }
}
