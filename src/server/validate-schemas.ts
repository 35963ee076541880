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
}

/** Why a document a mutation would write is invalid, or undefined when it is valid. */
export type DocValidator = (collection: string, before: JsonObject | undefined, after: JsonObject) => string | undefined

/**
 * A validator that enforces the same schema as the replicas: the whole
 * document, and read-only fields unchanged. A collection no schema declares
 * is refused.
 */
export function schemaValidator(schemas: readonly CollectionSchema[]): DocValidator {
  const checks = new Map<string, { check: Check; readOnly: readonly string[] }>(schemas.map(s => [s.collection, compile(s)]))
  return (collection, before, after) => {
    const entry = checks.get(collection)
    // the built-in models' rules are the server's own (push.ts)
    if (!entry && (collection === REALM_COLLECTION || collection === MEMBER_COLLECTION)) return undefined
    if (!entry) return `no model declares the collection ${collection}`
    const issue = entry.check(after)
    if (issue) return `${issue.path.slice(1).replaceAll('/', '.') || 'document'}: ${issue.reason}`
    if (before) {
      for (const name of entry.readOnly) {
        if (name in before && !deepEqual(before[name], after[name])) return `${name} is read-only`
      }
    }
    return undefined
  }
}

function compile(s: CollectionSchema): { check: Check; readOnly: readonly string[] } {
  // descriptors may come from plain JavaScript or JSON: refuse a malformed one at start, not at the first push
  if (typeof s !== 'object' || s === null || typeof s.collection !== 'string' || !COLLECTION_NAME.test(s.collection)) {
    throw new InvalidOptionsError('schemas', `${JSON.stringify((s as { collection?: unknown } | null)?.collection)} is not a valid collection name`)
  }
  const readOnly = s.readOnly ?? []
  if (!Array.isArray(readOnly) || !readOnly.every(f => typeof f === 'string')) throw new InvalidOptionsError('schemas', `${s.collection}.readOnly must be a list of field names`)
  if (typeof s.schema !== 'object' || s.schema === null) throw new InvalidOptionsError('schemas', `${s.collection}.schema must be a JSON Schema object`)
  try {
    return { check: compileCheck(s.schema), readOnly }
  } catch (e) {
    throw new InvalidOptionsError('schemas', `${s.collection}.schema is not a valid JSON Schema: ${(e as Error).message}`)
  }
}
