import { InvalidFieldError, InvalidOptionsError, InvalidParameterError } from '../core/errors.js'
import { appFields } from '../core/doc-versions.js'
import { assertKnownOptions } from '../core/options.js'
import type { JsonObject } from '../core/json.js'
import type { Shape } from '../core/schema.js'
import type { Field } from './field.js'
import type { Migrations } from './migrations.js'
import { DEFAULT_KEY, encodeKeyOf, keyComponents, metaOf, withDefaultId, type ModelMeta } from './meta.js'
import { currentDoc, fieldOf, STATE, type DocState } from './state.js'
import type { DataInput, FieldShapeOf, FieldValues, Instance, KeyInput, KeyValues, ModelClass, RealmValues, SingleKeyInput } from './types.js'

/**
 * The address of one document: its model class and encoded key.
 * `Order.key(id)` makes one; `tx.get(key)` reads it.
 */
export class Key<M extends ModelClass = ModelClass> {
  constructor(
    readonly Cls: M,
    readonly encodedKey: string,
    readonly keyComponents: JsonObject,
  ) {}
  get collection(): string {
    return metaOf(this.Cls).collection
  }
}

/** A key together with the data to create the document with (`tx.get(data, { createIfMissing: true })`). */
export class Data<M extends ModelClass = ModelClass> extends Key<M> {
  constructor(
    Cls: M,
    encodedKey: string,
    keyComponents: JsonObject,
    readonly data: DataInput<M>,
  ) {
    super(Cls, encodedKey, keyComponents)
  }
}

/**
 * The base of every model. Subclass it with static `KEY`, `FIELDS`,
 * `COLLECTION` and `INDEXES` (the seed's class style), or extend
 * `model({...})` to have fields typed inside methods too.
 *
 * Instances are made by transactions, never with `new`: the constructor does
 * not run, so keep state in fields, not in class properties.
 */
export class Model {
  /** Key components; default: `{ id: S.str }`, a random UUID when omitted on create. */
  static KEY: Shape = DEFAULT_KEY
  static FIELDS: Shape = {}
  /** The collection name; default: the class name (set it where code is minified). */
  static COLLECTION?: string
  /** Indexes to maintain, each a list of field paths. */
  static INDEXES: ReadonlyArray<readonly string[]> = []
  /**
   * Upcasters by the schema version they lead to: `{ 2: doc => ({ ...doc, colour: 'red' }) }`.
   * They run when a document written under an older `schemaVersion` is read;
   * its next write stores it in the new form.
   */
  static MIGRATIONS?: Migrations

  declare [STATE]: DocState

  /** The encoded key: component names sorted, non-strings JSON-encoded, joined with NUL. */
  get _id(): string {
    return this[STATE].id
  }

  /** True when this instance was created in the current transaction (by create or createIfMissing). */
  get isNew(): boolean {
    return this[STATE].isNew
  }

  /** The tracked field `name`, for `incrementBy()` and `validate()`. */
  getField<N extends string>(name: N): Field {
    if (!this[STATE].meta.fields[name]) throw new InvalidParameterError('name', `${this[STATE].meta.collection} has no field ${name}`)
    return fieldOf(this[STATE], name)
  }

  /** Runs before each write of this document (create or update), inside the transaction. */
  async finalize(): Promise<void> {}

  /** The document's key and fields (without marking fields as read). */
  toJSON(): JsonObject {
    return appFields(currentDoc(this[STATE]))
  }

  /** The key of a document of this model. */
  static key<M extends ModelClass>(this: M, key: KeyInput<M>): Key<M> {
    const { id, components } = encodeKeyOf(metaOf(this), key)
    return new Key(this, id, components)
  }

  /** A key with the data to create the document with, for batch `tx.get([...], { createIfMissing: true })`. */
  static data<M extends ModelClass>(this: M, data: DataInput<M> | SingleKeyInput<M>): Data<M> {
    const meta = metaOf(this)
    // a bare key value: every field takes its default
    if (typeof data !== 'object' || data === null) data = { [meta.keyNames[0]!]: data } as DataInput<M>
    const withKey = withDefaultId(meta, data)
    const { id, components } = encodeKeyOf(meta, keyComponents(meta, withKey as Record<string, unknown>))
    return new Data(this, id, components, withKey as DataInput<M>)
  }
}

/**
 * Instances are sealed the way the seed library seals them, without the cost
 * of a Proxy on every read: an assignment to a property that neither the
 * instance nor its class has walks up the prototype chain to this guard,
 * which refuses it. Known fields are accessors found before it, so reads and
 * writes of fields never reach it.
 */
// the state slot is found on the way up, so setting it on a new instance never reaches the guard (a Proxy call per instance);
// so is `then`, which every `await` of an instance looks up (an instance is no promise)
Object.defineProperty(Model.prototype, STATE, { value: undefined, writable: true })
Object.defineProperty(Model.prototype, 'then', { value: undefined, writable: true })
Object.setPrototypeOf(
  Model.prototype,
  new Proxy(Object.prototype, {
    set(target, prop, value, receiver: unknown) {
      // an instance has its own state (a prototype, given methods or mixins, has only the slot's undefined)
      const state = typeof receiver === 'object' && receiver !== null ? (receiver as Partial<Model>)[STATE] : undefined
      if (state && typeof prop === 'string') {
        const { meta } = state
        throw new InvalidFieldError(prop, `is not a field of ${meta.collection} (its fields: ${meta.fieldNames.join(', ') || 'none'}); declare it in FIELDS`)
      }
      return Reflect.set(target, prop, value, receiver)
    },
  }),
)

/** What `model({...})` takes: the collection, key, fields and indexes of a typed model. */
export interface ModelConfig<K extends Shape, F extends Shape> {
  collection: string
  key?: K
  fields: F
  /** Field lists to index; `realmId` (every document's realm) may be one of them. */
  indexes?: ReadonlyArray<ReadonlyArray<(keyof F & string) | 'realmId'>>
}

/** The class `model({...})` returns: extend it, and `this` is typed in your methods. */
export interface TypedModelClass<K extends Shape, F extends Shape> {
  new (): Model & KeyValues<K> & FieldValues<F> & RealmValues<K>
  readonly prototype: Model & KeyValues<K> & FieldValues<F> & RealmValues<K>
  KEY: K
  FIELDS: F
  COLLECTION: string
  INDEXES: ReadonlyArray<readonly string[]>
  MIGRATIONS?: Migrations
  /** The key of a document of this model (`Model.key`). */
  key: typeof Model.key
  /** A key with the data to create the document with (`Model.data`). */
  data: typeof Model.data
}

/**
 * A typed model base:
 * ```ts
 * class RaceResult extends model({
 *   collection: 'RaceResult',
 *   key: { raceID: S.int, runnerName: S.str },
 *   fields: { seconds: S.double.optional() },
 * }) {
 *   fast() { return (this.seconds ?? Infinity) < 600 }
 * }
 * ```
 */
export function model<F extends Shape, K extends Shape = typeof DEFAULT_KEY>(config: ModelConfig<K, F>): TypedModelClass<K, F> {
  if (typeof config !== 'object' || config === null) throw new InvalidParameterError('config', 'model() takes { collection, key, fields, indexes }')
  if (typeof config.collection !== 'string') throw new InvalidParameterError('collection', 'model() needs a collection name')
  assertKnownOptions('model()', config, ['collection', 'key', 'fields', 'indexes'])
  const Base = class extends Model {
    static override KEY: Shape = config.key ?? DEFAULT_KEY
    static override FIELDS: Shape = config.fields
    static override COLLECTION = config.collection
    static override INDEXES = config.indexes ?? []
  }
  return Base as unknown as TypedModelClass<K, F>
}

/** Compiles the models a database opens with; two resolving to one collection is an error. */
export function compileModels(models: readonly ModelClass[]): Map<ModelClass, ModelMeta> {
  const metas = new Map<ModelClass, ModelMeta>()
  const byName = new Map<string, ModelClass>()
  for (const cls of models) {
    if (typeof cls !== 'function' || !(cls.prototype instanceof Model)) throw new InvalidOptionsError('models', `${String(cls)} is not a model class`)
    const meta = metaOf(cls)
    const other = byName.get(meta.collection)
    if (other && other !== cls) {
      throw new InvalidOptionsError('models', `${other.name} and ${cls.name} both use the collection ${meta.collection}; set static COLLECTION on one of them`)
    }
    byName.set(meta.collection, cls)
    metas.set(cls, meta)
  }
  return metas
}

/** Re-exported for `Instance<typeof Order>`-style annotations. */
export type { DataInput, FieldShapeOf, Instance, KeyInput, ModelClass }
