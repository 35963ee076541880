import { InvalidParameterError, ValidationError, WriteAttemptedInReadOnlyTxError } from '../core/errors.js'
import { deepCopy, type Json, type JsonObject } from '../core/json.js'
import { REALM_COLLECTION, REALM_FIELD } from '../core/realms.js'
import { VERSION_FIELD } from '../core/doc-versions.js'
import { valueIssue } from '../core/values.js'
import { withNestedDefaults } from '../core/schema.js'
import { assertField } from '../core/validate.js'
import type { FieldOwner } from './field.js'
import { keyComponents, type ModelMeta } from './meta.js'
import type { Model } from './model.js'
import { STATE, type DocState } from './state.js'

/**
 * Makes a model instance. `isNew`: from create data (defaults applied,
 * validated now); otherwise from a stored document (defaults fill required
 * fields that are absent).
 */
export function instantiate(meta: ModelMeta, tx: FieldOwner, id: string, key: JsonObject, data: JsonObject, isNew: boolean): Model {
  const model = Object.create(meta.cls.prototype) as Model
  let doc = data
  if (isNew) {
    for (const name in data) {
      if (!meta.fields[name] && !meta.keyChecks[name]) throw new InvalidParameterError('data', `${meta.collection} has no field ${name}`)
    }
    // the data is copied, so later changes to the caller's objects never reach the document;
    // built by assignment in a fixed order (not by spreading), so V8 shares one shape for every document
    doc = {}
    for (const name of meta.keyNames) doc[name] = key[name]!
    for (const name of meta.fieldNames) {
      const spec = meta.fields[name]!
      const given = data[name]
      // given as undefined is not omitted: no default applies, and only an optional field may be absent
      if (given === undefined && name in data && !spec.schema.isOptional) throw new ValidationError(name, 'is required and cannot be set to undefined')
      const v = given === undefined ? (name in data ? undefined : spec.schema.defaultValue()) : deepCopy(given)
      if (v !== undefined) doc[name] = (spec.nestedDefaults ? withNestedDefaults(spec.schema, v, true) : v) as Json
    }
    // omitted: the creator's private realm (a Realm lives in its own); a server fills it in where the user is not known yet
    if (meta.realmField && doc[REALM_FIELD] === undefined) {
      const realm = meta.collection === REALM_COLLECTION ? (key.id as string) : tx.userId
      if (realm !== undefined) doc[REALM_FIELD] = realm
    }
    // version 1 is the default, not stored: replicas of apps that never raise it look as they always did
    if (tx.schemaVersion !== undefined && tx.schemaVersion > 1) doc[VERSION_FIELD] = tx.schemaVersion
    checkDoc(meta, doc)
  }
  const state: DocState = { meta, id, key, isNew, doc, fields: {}, owner: tx }
  model[STATE] = state
  return model
}

/** Checks a whole new document with one validator call; the message names the field at fault. */
function checkDoc(meta: ModelMeta, doc: JsonObject): void {
  const bad = valueIssue(doc)
  const issue = meta.checkDoc(doc)
  if (!bad && !issue) return
  for (const name of meta.fieldNames) {
    const spec = meta.fields[name]!
    assertField(name, spec.schema.isOptional, spec.check, doc[name])
  }
  if (issue) throw new ValidationError(issue.path.slice(1).replaceAll('/', '.'), issue.reason)
  throw new ValidationError(bad!.path || meta.collection, bad!.reason)
}

/** Instances outside a transaction (query results, snapshots) are read-only. */
const READ_ONLY: FieldOwner = {
  finished: true,
  assertWritable(what: string) {
    throw new WriteAttemptedInReadOnlyTxError(`${what}: documents from db.query and db.watch are read-only; change them in db.run`)
  },
}

export function readOnlyInstance(meta: ModelMeta, id: string, doc: JsonObject): Model {
  return instantiate(meta, READ_ONLY, id, keyComponents(meta, doc) as JsonObject, doc, false)
}
