import { InvalidFieldError, InvalidOptionsError, InvalidParameterError } from '../core/errors.js'
import type { Json, JsonObject } from '../core/json.js'
import { COLLECTION_NAME, encodeKey } from '../core/key.js'
import { REALM_FIELD } from '../core/realms.js'
import { isSchema, S, shapeSchema, type AnySchema, type JsonSchema, type Shape, type StrSchema } from '../core/schema.js'
import { assertValid, compileCheck, type Check } from '../core/validate.js'
import type { FieldSpec } from './field.js'
import { compileMigrations, readerOf, type Migration } from './migrations.js'
import { fieldOf, STATE, type Stateful } from './state.js'
import type { CollectionInfo } from '../replica/opening.js'
import type { ModelClass } from './types.js'

/** What Tidepool derives once from a model class: names, validators, key encoding. */
export interface ModelMeta {
  cls: ModelClass
  collection: string
  /** Key component names, sorted (the order of the encoding). */
  keyNames: string[]
  keyChecks: Record<string, { schema: AnySchema; check: Check }>
  fields: Record<string, FieldSpec>
  fieldNames: string[]
  /** Key and field names together: what a `put` by this model replaces. */
  allNames: string[]
  /** Whether the key is the default `{ id: S.str }`, generated when missing. */
  defaultKey: boolean
  /** Validates a whole document (key and fields). */
  checkDoc: Check
  /** Declared indexes, as dotted field paths. */
  indexes: string[][]
  /** Whether `realmId` is a field of the documents (false where it is a key component, as for `Member`). */
  realmField: boolean
  /** The JSON Schema of a whole document, as the replica records it to tell what a later version changed. */
  docSchema: JsonSchema
  /** `static MIGRATIONS`, by the version each leads to, in order. */
  migrations: Array<[number, Migration]>
}

const metas = new WeakMap<ModelClass, ModelMeta>()

/** The metadata of a model class, compiled on first use. */
export function metaOf(cls: ModelClass): ModelMeta {
  let meta = metas.get(cls)
  if (!meta) {
    meta = compile(cls)
    metas.set(cls, meta)
  }
  return meta
}

function compile(cls: ModelClass): ModelMeta {
  const collection = cls.COLLECTION ?? cls.name
  if (!COLLECTION_NAME.test(collection)) {
    throw new InvalidOptionsError('COLLECTION', `${JSON.stringify(collection)} is not a valid collection name (letters, digits, _ . -, starting with a letter or _)`)
  }
  const key = cls.KEY
  const fields = cls.FIELDS ?? {}
  checkShape(collection, 'KEY', key)
  checkShape(collection, 'FIELDS', fields)
  if (Object.keys(key).length === 0) throw new InvalidOptionsError('KEY', `${collection} needs at least one key component`)
  for (const name of Object.keys(key)) {
    if (name in fields) throw new InvalidOptionsError('FIELDS', `${collection}.${name} is both a key component and a field`)
    if (key[name]!.isOptional) throw new InvalidOptionsError('KEY', `${collection}.${name}: key components cannot be optional`)
    if (key[name]!.hasDefault) throw new InvalidOptionsError('KEY', `${collection}.${name}: key components cannot have a default (every key is given in full); remove .default()`)
  }
  if (REALM_FIELD in fields) throw new InvalidOptionsError('FIELDS', `${collection}.${REALM_FIELD} is reserved: every document has it, naming its realm`)
  const realmField = !(REALM_FIELD in key)
  if (!realmField && key[REALM_FIELD]!.kind !== 'str') throw new InvalidOptionsError('KEY', `${collection}.${REALM_FIELD} names the document's realm: it must be S.str`)
  const keyNames = Object.keys(key).sort()
  const keyChecks: ModelMeta['keyChecks'] = {}
  for (const name of keyNames) keyChecks[name] = { schema: key[name]!, check: compileCheck(key[name]!.jsonSchema()) }
  const specs: Record<string, FieldSpec> = {}
  const allFields: Shape = realmField ? { ...fields, [REALM_FIELD]: REALM_SCHEMA } : fields
  for (const [name, schema] of Object.entries(allFields)) {
    specs[name] = { name, schema, check: compileCheck(schema.jsonSchema()), composite: ['obj', 'arr', 'map'].includes(schema.kind), nestedDefaults: nestsDefaults(schema) }
  }
  const docSchema = shapeSchema({ ...key, ...allFields }, true)
  const meta: ModelMeta = {
    cls,
    collection,
    keyNames,
    keyChecks,
    fields: specs,
    fieldNames: Object.keys(allFields),
    // a put leaves the realm as it is unless its data names one
    allNames: [...keyNames, ...Object.keys(fields)],
    defaultKey: keyNames.length === 1 && keyNames[0] === 'id' && key.id === DEFAULT_KEY.id,
    docSchema,
    checkDoc: compileCheck(docSchema),
    indexes: checkIndexes(collection, cls.INDEXES ?? [], key, allFields),
    realmField,
    migrations: compileMigrations(collection, cls.MIGRATIONS),
  }
  installAccessors(meta)
  return meta
}

function nestsDefaults(schema: AnySchema): boolean {
  return Object.values(schema.props).some(p => p.hasDefault || nestsDefaults(p)) || (schema.element !== undefined && (schema.element.hasDefault || nestsDefaults(schema.element)))
}

function checkIndexes(collection: string, indexes: ReadonlyArray<readonly string[]>, key: Shape, fields: Shape): string[][] {
  if (!Array.isArray(indexes)) throw new InvalidOptionsError('INDEXES', `${collection}.INDEXES must be an array of field lists, e.g. [['product'], ['done', 'createdAt']]`)
  return indexes.map(ix => {
    if (!Array.isArray(ix) || ix.length === 0 || !ix.every(p => typeof p === 'string')) {
      throw new InvalidOptionsError('INDEXES', `${collection}: each index is a non-empty list of field paths, got ${JSON.stringify(ix)}`)
    }
    for (const p of ix) {
      const head = p.split('.')[0]!
      if (!(head in key) && !(head in fields)) throw new InvalidOptionsError('INDEXES', `${collection}: index field ${p} is not a key component or field`)
    }
    return [...ix]
  })
}

function checkShape(collection: string, what: string, shape: Shape): void {
  if (typeof shape !== 'object' || shape === null) throw new InvalidOptionsError(what, `${collection}.${what} must be an object of schemas`)
  for (const [name, s] of Object.entries(shape)) {
    if (!isSchema(s)) throw new InvalidOptionsError(what, `${collection}.${name} must be a schema built with S`)
    if (name.startsWith('_') || name.includes('.') || RESERVED.has(name)) {
      throw new InvalidOptionsError(what, `${collection}.${name}: a field name cannot start with _, contain a dot, or be one of ${[...RESERVED].join(', ')}`)
    }
  }
}

const RESERVED = new Set(['isNew', 'getField', 'finalize', 'constructor', 'toJSON', 'then'])

/** The reserved field every document has (optional in storage: a server fills it in where the client did not know its user). */
const REALM_SCHEMA = S.str.min(1).max(1024).optional()

/**
 * Model's default KEY: one string component `id`, a random UUID when `create`
 * is not given one (so its type says it has a default).
 */
export const DEFAULT_KEY = { id: S.str as unknown as StrSchema<string, false, true, false> }

/** Key components and fields become accessors on the class's prototype. */
function installAccessors(meta: ModelMeta): void {
  const proto = meta.cls.prototype as object
  for (const name of meta.keyNames) {
    define(proto, meta, name, {
      get(this: Stateful) {
        return this[STATE].key[name]
      },
      set() {
        throw new InvalidFieldError(name, 'is immutable so value cannot be changed')
      },
    })
  }
  for (const name of meta.fieldNames) {
    define(proto, meta, name, {
      get(this: Stateful) {
        return fieldOf(this[STATE], name).get()
      },
      set(this: Stateful, v: unknown) {
        fieldOf(this[STATE], name).set(v)
      },
    })
  }
}

function define(proto: object, meta: ModelMeta, name: string, accessors: PropertyDescriptor): void {
  const own = Object.getOwnPropertyDescriptor(proto, name)
  if (own && typeof own.value === 'function') {
    throw new InvalidOptionsError('FIELDS', `${meta.collection}.${name} is both a field and a method`)
  }
  Object.defineProperty(proto, name, { ...accessors, enumerable: true, configurable: true })
}

/** What the replica needs to know of a model, for an app at schema `version`: its collection, key, indexes, schema, and how to read its documents. */
export function collectionInfo(meta: ModelMeta, version: number): CollectionInfo {
  return {
    name: meta.collection,
    key: meta.keyNames.map(n => `${n}:${meta.keyChecks[n]!.schema.kind}`),
    indexes: meta.indexes,
    schema: meta.docSchema,
    migrations: meta.migrations.map(([v]) => v),
    read: readerOf(meta, version),
  }
}

/** Checks key components and encodes them; a single-component key may be given as a bare value. */
export function encodeKeyOf(meta: ModelMeta, input: unknown): { id: string; components: JsonObject } {
  let components: Record<string, unknown>
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) components = input as Record<string, unknown>
  else if (meta.keyNames.length === 1) components = { [meta.keyNames[0]!]: input }
  else throw new InvalidParameterError('key', `${meta.collection} needs a key object {${meta.keyNames.join(', ')}}`)
  for (const name of Object.keys(components)) {
    if (!meta.keyChecks[name]) {
      throw new InvalidParameterError('key', `${meta.collection} has no key component ${name}: its key is {${meta.keyNames.join(', ')}}${meta.fields[name] ? ` (${name} is a field: Model.data() takes fields too)` : ''}`)
    }
  }
  const out: JsonObject = {}
  for (const name of meta.keyNames) {
    const v = components[name]
    if (v === undefined) throw new InvalidParameterError('key', `${meta.collection} key component ${name} is missing`)
    assertValid(name, meta.keyChecks[name]!.check, v)
    out[name] = v as Json
  }
  return { id: encodeKey(meta.keyNames, out), components: out }
}

/** The key components of some data or a stored document. */
export function keyComponents(meta: ModelMeta, data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const n of meta.keyNames) out[n] = data[n]
  return out
}

/** Data for a new document: with the default key, a random UUID when no id is given. */
export function withDefaultId<T extends object>(meta: ModelMeta, data: T): T {
  return meta.defaultKey && (data as { id?: unknown }).id === undefined ? { ...data, id: globalThis.crypto.randomUUID() } : data
}
