import type { Doc } from '../core/apply.js'
import { KeptAside } from '../core/doc-versions.js'
import {
  DeletedTwiceError,
  DocumentKeptAsideError,
  InvalidFieldError,
  InvalidParameterError,
  ModelTrackedTwiceError,
  TidepoolError,
  WriteAttemptedInReadOnlyTxError,
} from '../core/errors.js'
import { deepCopy, isPlainObject, type Json, type JsonObject } from '../core/json.js'
import { assertField } from '../core/validate.js'
import { docKey } from '../core/key.js'
import type { Op, Precondition } from '../core/mutation.js'
import type { CommitResult, Replica } from '../replica/replica.js'
import type { QueryHit } from '../replica/query.js'
import { Query } from './query.js'
import { QueryRunner } from './query-runner.js'
import type { FieldOwner } from './field.js'
import { encodeKeyOf, keyComponents, withDefaultId, type ModelMeta } from './meta.js'
import { Data, Key, type Model } from './model.js'
import { changedFields, collect, type Entry } from './entries.js'
import { instantiate } from './instances.js'
import { STATE } from './state.js'
import type { DataInput, ExpectedInput, Instance, KeyInput, ModelClass, SingleKeyInput, UpdateInput } from './types.js'

/** How `tx.get` reads: whether it creates a missing document, and whether the commit depends on what it saw. */
export interface GetOptions {
  /** Create the document from the given data when it does not exist (`doc.isNew` tells). */
  createIfMissing?: boolean
  /** `false`: the commit does not require what this read saw to be unchanged. Default true. */
  track?: boolean
}

/** An item of a batch `tx.get([...])`: a key from `Model.key()`, or one with data from `Model.data()`. */
export type KeyLike = Key | Data

/**
 * A transaction: reads come from the local replica; writes are buffered and
 * committed atomically, as one mutation, when the function passed to
 * `db.run` returns.
 */
export class Transaction implements FieldOwner {
  private readonly entries = new Map<string, Entry>()
  private readonly queries: QueryRunner
  /** Separate reads of the replica so far: more than one may each have seen a different state. */
  private reads = 0
  /** The storage's version before the first read (undefined: it cannot tell, or nothing was read yet). */
  private version: string | undefined
  finished = false

  /** @internal made by `db.run` for each attempt */
  constructor(
    private readonly replica: Replica,
    private readonly metaFor: (cls: ModelClass) => ModelMeta,
    private readOnly: boolean,
    private cacheModels: boolean,
    /** A query that would scan throws `MissingIndexError`. */
    strictIndexes: boolean,
  ) {
    this.queries = new QueryRunner(replica, strictIndexes, {
      guard: () => {
        if (this.finished) throw new TidepoolError('The transaction has finished; cannot query')
        this.read()
      },
      instance: (meta, hit) => this.tracked(meta, hit),
    })
  }

  /** Counts a read, taking the storage's version before the first: what `commit` compares to know whether the reads need checking. */
  private read(): void {
    if (this.reads++ === 0) this.version = this.replica.version()
  }

  /** The user new documents belong to by default, once known. */
  get userId(): string | undefined {
    return this.replica.userId
  }

  /** The app's schema version, which new documents record. */
  get schemaVersion(): number {
    return this.replica.schemaVersion
  }

  /** From now on, any write throws `WriteAttemptedInReadOnlyTxError`. */
  makeReadOnly(): void {
    this.readOnly = true
  }

  /** Reading a document twice returns the instance read first (instead of throwing). */
  enableModelCache(): void {
    this.cacheModels = true
  }

  /** Throws unless the transaction can still write: `TidepoolError` once it has finished, `WriteAttemptedInReadOnlyTxError` when it is read-only. `what` names the write in the message. */
  assertWritable(what: string): void {
    if (this.finished) throw new TidepoolError(`The transaction has finished; cannot ${what}`)
    if (this.readOnly) throw new WriteAttemptedInReadOnlyTxError(what)
  }

  /** Reads one document; undefined when it does not exist. */
  get<M extends ModelClass>(cls: M, key: KeyInput<M>, options?: GetOptions & { createIfMissing?: false }): Promise<Instance<M> | undefined>
  /** Reads one document, creating it from `data` when it does not exist. */
  get<M extends ModelClass>(cls: M, data: DataInput<M> | SingleKeyInput<M>, options: GetOptions & { createIfMissing: true }): Promise<Instance<M>>
  get<M extends ModelClass>(key: Data<M>, options: GetOptions & { createIfMissing: true }): Promise<Instance<M>>
  get<M extends ModelClass>(key: Key<M>, options?: GetOptions): Promise<Instance<M> | undefined>
  /** Reads many documents at once, in input order; repeated keys are an error. */
  get<const T extends readonly KeyLike[]>(
    keys: T,
    options?: GetOptions,
  ): Promise<{ -readonly [I in keyof T]: T[I] extends Key<infer M> ? Instance<M> | undefined : never }>
  async get(a: unknown, b?: unknown, c?: unknown): Promise<unknown> {
    if (Array.isArray(a)) return this.getMany(a, checkGetOptions(b))
    if (a instanceof Key) return (await this.getMany([a], checkGetOptions(b)))[0]
    if (typeof a === 'function') {
      const options = checkGetOptions(c)
      const meta = this.metaFor(a as ModelClass)
      const item = options.createIfMissing ? (meta.cls as typeof Model).data.call(meta.cls, b as never) : (meta.cls as typeof Model).key.call(meta.cls, b as never)
      return (await this.getMany([item], options))[0]
    }
    throw new InvalidParameterError('key', 'tx.get takes (Model, key), a key from Model.key(), or an array of keys')
  }

  private async getMany(items: readonly unknown[], options: GetOptions): Promise<Array<Model | undefined>> {
    if (this.finished) throw new TidepoolError('The transaction has finished; cannot get')
    const track = options.track !== false
    const seen = items.length > 1 ? new Set<string>() : undefined
    const toLoad: Array<{ entry: Entry; item: Key }> = []
    const cached: Array<{ entry: Entry; item: Key }> = []
    const result: Entry[] = []
    let waitForOthers = false
    for (const item of items) {
      if (!(item instanceof Key)) throw new InvalidParameterError('keys', 'a batch get takes keys from Model.key() or Model.data()')
      if (options.createIfMissing && !(item instanceof Data)) {
        throw new InvalidParameterError('keys', 'createIfMissing needs the data to create with: use Model.data({...})')
      }
      const meta = this.metaFor(item.Cls)
      const k = docKey(meta.collection, item.encodedKey)
      if (seen) {
        if (seen.has(k)) throw new ModelTrackedTwiceError(meta.collection, item.encodedKey)
        seen.add(k)
      }
      const prior = this.entries.get(k)
      if (prior) {
        // the model cache hands back what a read of this transaction holds, with its changes (created by createIfMissing too)
        if (!this.cacheModels || !(prior.kind === 'read' || (prior.kind === 'create' && prior.read))) throw new ModelTrackedTwiceError(meta.collection, item.encodedKey)
        waitForOthers ||= prior.loading !== undefined
        cached.push({ entry: prior, item })
        result.push(prior)
        continue
      }
      const entry: Entry = { meta, id: item.encodedKey, kind: 'read', read: true, existed: false, track }
      this.entries.set(k, entry)
      toLoad.push({ entry, item })
      result.push(entry)
    }
    if (toLoad.length) {
      // entries are tracked before the read resolves, so a concurrent get of the same key sees them
      this.read()
      const loading = this.replica.getDocs(toLoad.map(({ entry }) => ({ collection: entry.meta.collection, id: entry.id })))
      for (const { entry } of toLoad) entry.loading = loading
      const docs = await loading
      toLoad.forEach(({ entry, item }, i) => {
        entry.loading = undefined
        this.loaded(entry, docs[i], item, options)
      })
    }
    // a cached entry may still be loading for an earlier, concurrent get
    if (waitForOthers) await Promise.all(result.map(e => e.loading))
    // a cached miss asked again with createIfMissing: created now
    if (options.createIfMissing) for (const { entry, item } of cached) if (entry.kind === 'read' && !entry.existed && !entry.model) this.loaded(entry, undefined, item, options)
    return result.map(e => (e.kind !== 'delete' ? e.model : undefined))
  }

  private loaded(entry: Entry, doc: Doc | KeptAside, item: Key, options: GetOptions): void {
    if (doc instanceof KeptAside) {
      // it exists, unreadable here: the read says so (a precondition), the app gets nothing, and nothing may overwrite it
      entry.existed = true
      entry.aside = doc.reason
      if (options.createIfMissing) throw new DocumentKeptAsideError(entry.meta.collection, entry.id, doc.reason)
    } else if (doc) {
      entry.existed = true
      entry.model = instantiate(entry.meta, this, entry.id, item.keyComponents, doc, false)
    } else if (options.createIfMissing) {
      entry.kind = 'create'
      entry.model = instantiate(entry.meta, this, entry.id, item.keyComponents, (item as Data).data as JsonObject, true)
    }
  }

  /**
   * A query over the local replica. The commit requires every returned
   * document to still exist and every field read to be unchanged; documents
   * that would newly match are not checked (no predicate locks).
   */
  query<M extends ModelClass>(cls: M): Query<M> {
    const meta = this.metaFor(cls)
    return new Query<M>(this.queries, meta, { collection: meta.collection, filters: [], orders: [] })
  }

  /** A query result as this transaction's instance: the one it already tracks, or a new tracked read. */
  private tracked(meta: ModelMeta, hit: QueryHit): Model | undefined {
    const k = docKey(meta.collection, hit.id)
    const prior = this.entries.get(k)
    if (prior) {
      if (prior.kind === 'delete') return undefined
      if (!prior.model) throw new ModelTrackedTwiceError(meta.collection, hit.id)
      return prior.model
    }
    const model = instantiate(meta, this, hit.id, keyComponents(meta, hit.doc) as JsonObject, hit.doc, false)
    this.entries.set(k, { meta, id: hit.id, kind: 'read', read: true, existed: true, track: true, model })
    return model
  }

  /** Creates a document; the commit fails with `ModelAlreadyExistsError` if it exists by then. */
  create<M extends ModelClass>(cls: M, data: DataInput<M>): Instance<M> {
    this.assertWritable('create')
    const { meta, id, components, data: full } = this.keyed(cls, data)
    const k = docKey(meta.collection, id)
    const prior = this.entries.get(k)
    if (prior?.aside !== undefined) throw new DocumentKeptAsideError(meta.collection, id, prior.aside)
    // creating a document this transaction read as missing is fine; anything else tracks it twice
    if (prior && !(prior.kind === 'read' && !prior.existed)) throw new ModelTrackedTwiceError(meta.collection, id)
    const model = instantiate(meta, this, id, components, full, true)
    this.entries.set(k, { meta, id, kind: 'create', model, read: prior?.read ?? false, existed: false, track: prior?.track ?? true })
    return model as Instance<M>
  }

  /**
   * Writes the whole document whether or not it exists. With `expected`, the
   * commit requires those fields to hold these values if the document exists.
   */
  createOrOverwrite<M extends ModelClass>(cls: M, data: DataInput<M>, expected?: ExpectedInput<M>): Instance<M> {
    this.assertWritable('createOrOverwrite')
    const { meta, id, components, data: full } = this.keyed(cls, data)
    const k = docKey(meta.collection, id)
    if (this.entries.has(k)) throw new ModelTrackedTwiceError(meta.collection, id)
    if (expected !== undefined) {
      if (!isPlainObject(expected)) throw new InvalidParameterError('expected', 'expected values must be an object of field values')
      for (const name of Object.keys(expected)) if (!meta.fields[name]) throw new InvalidParameterError('expected', `${meta.collection} has no field ${name}`)
    }
    const model = instantiate(meta, this, id, components, full, true)
    this.entries.set(k, { meta, id, kind: 'overwrite', model, read: false, existed: false, track: true, expected: expected as JsonObject | undefined })
    return model as Instance<M>
  }

  /** Sets fields of an existing document without reading it (no preconditions but existence). */
  updateWithoutRead<M extends ModelClass>(cls: M, data: UpdateInput<M>): void {
    this.assertWritable('updateWithoutRead')
    const meta = this.metaFor(cls)
    if (!isPlainObject(data)) throw new InvalidParameterError('data', 'updateWithoutRead takes an object with the key and the fields to set')
    const { id } = encodeKeyOf(meta, keyComponents(meta, data))
    const k = docKey(meta.collection, id)
    if (this.entries.has(k)) throw new ModelTrackedTwiceError(meta.collection, id)
    const update: JsonObject = {}
    for (const [name, value] of Object.entries(data as Record<string, unknown>)) {
      if (meta.keyChecks[name]) continue
      const spec = meta.fields[name]
      if (!spec) throw new InvalidParameterError('data', `${meta.collection} has no field ${name}`)
      if (spec.schema.isReadOnly) throw new InvalidFieldError(name, 'is immutable so value cannot be changed')
      assertField(spec.name, spec.schema.isOptional, spec.check, value)
      update[name] = deepCopy(value) as Json
    }
    this.entries.set(k, { meta, id, kind: 'update', read: false, existed: true, track: true, update })
  }

  /** Deletes documents given as instances or keys. Deleting a missing document does nothing, unless it was read as existing. */
  delete(...targets: Array<Model | Key>): void {
    this.assertWritable('delete')
    for (const t of targets) {
      let meta: ModelMeta
      let id: string
      if (t instanceof Key) {
        meta = this.metaFor(t.Cls)
        id = t.encodedKey
      } else if (t && typeof t === 'object' && STATE in t) {
        meta = t[STATE].meta
        id = t[STATE].id
      } else {
        throw new InvalidParameterError('delete', 'tx.delete takes model instances or keys')
      }
      const k = docKey(meta.collection, id)
      const prior = this.entries.get(k)
      if (!prior) {
        this.entries.set(k, { meta, id, kind: 'delete', read: false, existed: false, track: true })
        continue
      }
      if (prior.kind === 'delete') throw new DeletedTwiceError(meta.collection, id)
      prior.cancelled = prior.kind === 'create'
      prior.kind = 'delete'
    }
  }

  private keyed(cls: ModelClass, data: unknown): { meta: ModelMeta; id: string; components: JsonObject; data: JsonObject } {
    const meta = this.metaFor(cls)
    if (!isPlainObject(data)) throw new InvalidParameterError('data', `${meta.collection} data must be an object`)
    const full = withDefaultId(meta, data)
    const { id, components } = encodeKeyOf(meta, keyComponents(meta, full))
    return { meta, id, components, data: full }
  }

  /**
   * Runs `finalize()` hooks, turns what the transaction did into ops and
   * preconditions, and commits them to the replica as one mutation.
   * Returns undefined when there was nothing to write; a transaction that
   * read in more than one step then checks that its reads still hold
   * (`ConditionFailedError`, which retries, when they do not).
   */
  async commit(): Promise<CommitResult | undefined> {
    for (const e of this.entries.values()) {
      if (e.model && e.kind !== 'delete' && (e.kind !== 'read' || (e.existed && changedFields(e.model).length > 0))) await e.model.finalize()
    }
    this.finished = true
    const ops: Op[] = []
    const pcs: Precondition[] = []
    for (const e of this.entries.values()) collect(e, ops, pcs, this.replica.schemaVersion)
    if (ops.length === 0) {
      // reads made at different moments are consistent only if what they saw still holds together; else the transaction retries.
      // Nothing committed since before the first read: they saw one state
      if (this.reads > 1 && pcs.length && (this.version === undefined || this.version !== this.replica.version())) await this.replica.verify(pcs)
      return undefined
    }
    if (this.readOnly) throw new WriteAttemptedInReadOnlyTxError(`commit changes to ${ops[0]!.collection}`)
    return this.replica.commit(ops, pcs)
  }

  /** Ends the transaction without committing (the function threw). */
  abandon(): void {
    this.finished = true
  }
}

function checkGetOptions(o: unknown): GetOptions {
  if (o === undefined) return {}
  if (!isPlainObject(o)) throw new InvalidParameterError('options', 'get options must be an object')
  for (const [k, v] of Object.entries(o)) {
    if (k !== 'createIfMissing' && k !== 'track') throw new InvalidParameterError('options', `unknown get option ${k}`)
    if (typeof v !== 'boolean') throw new InvalidParameterError('options', `${k} must be a boolean`)
  }
  return o as GetOptions
}
