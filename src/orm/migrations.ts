import { docVersion, isBookkeeping, KeptAside, OLDER_WRITE_FIELD, readFrom, type DocReader } from '../core/doc-versions.js'
import { valueIssue } from '../core/values.js'
import { InvalidOptionsError } from '../core/errors.js'
import { deepCopy, isJsonValue, isPlainObject, setKey, type JsonObject } from '../core/json.js'
import { REALM_FIELD } from '../core/realms.js'
import { withNestedDefaults } from '../core/schema.js'
import type { ModelMeta } from './meta.js'

/**
 * An upcaster: turns a document of the previous schema version into one of
 * this version. It gets a copy to change in place or to return a new object
 * from, and must be pure: it runs whenever an older document is read, on
 * every replica, until the document is written again.
 */
export type Migration = (doc: JsonObject) => JsonObject | void

/** A model's `static MIGRATIONS`: upcasters by the schema version they lead to. */
export type Migrations = Readonly<Record<number, Migration>>

/** Checks a model's MIGRATIONS; returns them by version, in order. */
export function compileMigrations(collection: string, migrations: unknown): Array<[number, Migration]> {
  if (migrations === undefined) return []
  if (!isPlainObject(migrations)) throw new InvalidOptionsError('MIGRATIONS', `${collection}.MIGRATIONS must be an object of upcasters by version, e.g. { 2: doc => ({ ...doc, colour: 'red' }) }`)
  return Object.entries(migrations)
    .map(([k, fn]): [number, Migration] => {
      const v = Number(k)
      if (!Number.isInteger(v) || v < 2) throw new InvalidOptionsError('MIGRATIONS', `${collection}.MIGRATIONS[${k}]: a migration leads to a schema version, an integer from 2 (version 1 has nothing before it)`)
      if (typeof fn !== 'function') throw new InvalidOptionsError('MIGRATIONS', `${collection}.MIGRATIONS[${k}] must be a function (doc => doc)`)
      return [v, fn as Migration]
    })
    .sort((a, b) => a[0] - b[0])
}

/**
 * How an app at schema `version` reads a model's stored documents. One
 * written under this version (and by no older app since) is handed out as
 * stored: it was validated when written; where it lacks fields that have
 * defaults, they are filled in on a copy. Any other is copied, run through
 * the migrations from its version up to this one (none for a newer one: an
 * older app reads what it can), given its defaults, and validated: valid, it
 * is what the app reads, and remembers what is stored (`storedOf`); invalid,
 * it is kept aside.
 */
export function readerOf(meta: ModelMeta, version: number): DocReader {
  // fields a document may lack and still be read with their default: filled in here, so queries and indexes see them too
  const defaulted = meta.fieldNames.filter(n => meta.fields[n]!.schema.hasDefault && !meta.fields[n]!.schema.isOptional)
  const nested = meta.fieldNames.some(n => meta.fields[n]!.nestedDefaults)
  const specs = meta.fieldNames.map(n => meta.fields[n]!)
  const known = new Set([...meta.keyNames, ...meta.fieldNames])
  const ownRealm = meta.realmField
  /** The document with its defaults, in the model's field order (V8 then shares one shape for all of them, which the check and the reads need to be fast). */
  const shaped = (doc: JsonObject, stored: JsonObject): JsonObject => {
    const out: JsonObject = {}
    // the key and the realm are where the document lives: no migration moves it
    for (const name of meta.keyNames) out[name] = stored[name]!
    for (const spec of specs) {
      const name = spec.name
      const v = ownRealm && name === REALM_FIELD ? stored[name] : doc[name]
      if (v === undefined) {
        if (spec.schema.hasDefault && !spec.schema.isOptional) out[name] = spec.schema.defaultValue() as JsonObject[string]
      } else out[name] = spec.nestedDefaults ? (withNestedDefaults(spec.schema, v, false) as JsonObject[string]) : v
    }
    // fields this version does not know are kept, to be written back as they are
    for (const name in doc) if (!known.has(name) && !isBookkeeping(name) && doc[name] !== undefined) setKey(out, name, doc[name])
    return out
  }
  return stored => {
    const from = docVersion(stored)
    if (from === version && stored[OLDER_WRITE_FIELD] === undefined) {
      if (!nested && defaulted.every(n => stored[n] !== undefined)) return stored
      // trusted, only short of defaults: no copy of the values (the filled ones are new), no check
      return readFrom(shaped(stored, stored), stored)
    }
    // a copy the migrations may change as they like
    let doc: JsonObject = {}
    for (const name in stored) if (!isBookkeeping(name)) setKey(doc, name, deepCopy(stored[name]))
    for (const step of meta.migrations) {
      const [to, migrate] = step
      if (to <= from || to > version) continue
      try {
        const out = migrate(doc)
        if (out !== undefined) doc = out
      } catch (e) {
        return new KeptAside(stored, `MIGRATIONS[${to}] threw: ${(e as Error)?.message ?? String(e)}`)
      }
      if (!isPlainObject(doc)) return new KeptAside(stored, `MIGRATIONS[${to}] returned ${JSON.stringify(doc) ?? typeof doc}, not a document`)
    }
    const out = shaped(doc, stored)
    // what the app's types promise, and what every store can hold (a migration may leave NaN or a Date)
    const issue = meta.checkDoc(out)
    if (issue) return new KeptAside(stored, `${issue.path.slice(1).replaceAll('/', '.') || 'document'}: ${issue.reason}`)
    const bad = isJsonValue(out) ? undefined : valueIssue(out)
    if (bad) return new KeptAside(stored, `${bad.path || 'document'}: ${bad.reason}`)
    return readFrom(out, stored)
  }
}
