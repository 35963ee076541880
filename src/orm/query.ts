import { InvalidParameterError, ValidationError } from '../core/errors.js'
import { isPlainObject, type Json } from '../core/json.js'
import { valueIssue } from '../core/values.js'
import type { Path } from '../core/mutation.js'
import { effectiveOrders, FILTER_OPS, ID_PATH, type FilterOp, type QuerySpec } from '../core/query.js'
import type { AnySchema } from '../core/schema.js'
import { assertValid, compileCheck, type Check } from '../core/validate.js'
import type { LiveOptions } from '../replica/live.js'
import type { Plan } from '../replica/query.js'
import type { ModelMeta } from './meta.js'
import type { Model } from './model.js'
import { STATE } from './state.js'
import type { FieldShapeOf, Instance, KeyShapeOf, KeyValues, FieldValues, ModelClass, RealmValues } from './types.js'

/** A model's data as a plain object type: its key and fields. */
export type DocData<M extends ModelClass> = KeyValues<KeyShapeOf<M>> & FieldValues<FieldShapeOf<M>> & RealmValues<KeyShapeOf<M>>

type Prev = [never, 0, 1, 2, 3]
/** Field paths of a data type, dotted into objects and maps (three levels deep). */
export type FieldPath<T, D extends number = 3> = [D] extends [never]
  ? never
  : T extends object
    ? {
        [K in keyof T & string]: K | (NonNullable<T[K]> extends readonly unknown[] ? never : NonNullable<T[K]> extends object ? `${K}.${FieldPath<NonNullable<T[K]>, Prev[D]>}` : never)
      }[keyof T & string]
    : never

/** The type of the value at a dotted path. */
export type ValueAt<T, P extends string> = P extends `${infer K}.${infer R}`
  ? K extends keyof T
    ? ValueAt<NonNullable<T[K]>, R>
    : never
  : P extends keyof T
    ? NonNullable<T[P]>
    : never

type ElementOf<T> = T extends ReadonlyArray<infer E> ? E : never

/** What a filter's operand must be, by operator. */
export type Operand<T, Op extends FilterOp> = Op extends 'in' ? readonly T[] : Op extends 'array-contains' ? ElementOf<T> : T

/** A live query's result, as `subscribe` delivers it: the documents, what changed since the last snapshot, and how current it is. */
export interface Snapshot<M extends ModelClass> {
  /** The result, in order; read-only instances (change documents in `db.run`). */
  docs: Array<Readonly<Instance<M>>>
  /** What changed since the previous snapshot, with each document's position before and after (-1: not there). */
  changes: Array<{ type: 'added' | 'modified' | 'removed'; doc: Readonly<Instance<M>>; oldIndex: number; newIndex: number }>
  /** `fromCache`: the replica may not hold everything the server announced; `hasPendingWrites`: a document in the result has mutations no server has confirmed. */
  metadata: { fromCache: boolean; hasPendingWrites: boolean }
  size: number
  empty: boolean
}

/** Where a query runs: a transaction (results tracked) or the database (read-only results, live). */
export interface QuerySource {
  fetch(meta: ModelMeta, spec: QuerySpec): Promise<Model[]>
  count(meta: ModelMeta, spec: QuerySpec): Promise<number>
  explain(spec: QuerySpec): Plan
  subscribe?(meta: ModelMeta, spec: QuerySpec, cb: (s: Snapshot<ModelClass>) => void, options: LiveOptions): () => void
}

/**
 * A query over one model's documents. Immutable: each method returns a new
 * query. Results come in the order of the `orderBy`s, then the fields of
 * range filters, then the document id.
 */
export class Query<M extends ModelClass> {
  /** @internal made by `db.query(Model)` and `tx.query(Model)` */
  constructor(
    private readonly source: QuerySource,
    private readonly meta: ModelMeta,
    /** The query as data. */
    readonly spec: QuerySpec,
  ) {}

  /** Filters on a field path (dotted into objects and maps). A document without the field never matches. */
  where<P extends FieldPath<DocData<M>>, Op extends FilterOp>(path: P, op: Op, value: Operand<ValueAt<DocData<M>, P>, Op>): Query<M> {
    if (!FILTER_OPS.includes(op)) throw new InvalidParameterError('op', `unknown operator ${String(op)}; use one of ${FILTER_OPS.join(' ')}`)
    const split = splitPath(this.meta, path)
    const schema = schemaAt(this.meta, split)
    if (op === 'in') {
      if (!Array.isArray(value)) throw new InvalidParameterError('value', `'in' takes an array of values for ${path}`)
      for (const v of value as Json[]) checkOperand(path, schema, v)
    } else if (op === 'array-contains') {
      if (schema && schema.kind !== 'arr') throw new InvalidParameterError('op', `'array-contains' needs an array field; ${path} is S.${schema.kind}`)
      checkOperand(path, schema?.element, value as Json)
    } else {
      checkOperand(path, schema, value as Json)
    }
    return this.with({ filters: [...this.spec.filters, { path: split, op, value: value as Json }] })
  }

  /** Orders by a field path; documents without it are not in the result. */
  orderBy(path: FieldPath<DocData<M>>, dir: 'asc' | 'desc' = 'asc'): Query<M> {
    if (dir !== 'asc' && dir !== 'desc') throw new InvalidParameterError('dir', `orderBy direction must be 'asc' or 'desc'`)
    const split = splitPath(this.meta, path)
    schemaAt(this.meta, split)
    return this.with({ orders: [...this.spec.orders, { path: split, dir }] })
  }

  /** At most `n` documents: the first ones in the query's order. */
  limit(n: number): Query<M> {
    if (!Number.isInteger(n) || n < 0) throw new InvalidParameterError('limit', 'a limit is a non-negative integer')
    return this.with({ limit: n })
  }

  /** Starts at the document, or at these values of the order's fields (the document id last). */
  startAt(...at: CursorArgs<M>): Query<M> {
    return this.with({ start: { values: this.cursor(at), inclusive: true } })
  }
  /** Starts after the document, or after these values of the order's fields (the document id last). */
  startAfter(...at: CursorArgs<M>): Query<M> {
    return this.with({ start: { values: this.cursor(at), inclusive: false } })
  }
  /** Ends at the document (included), or at these values of the order's fields (the document id last). */
  endAt(...at: CursorArgs<M>): Query<M> {
    return this.with({ end: { values: this.cursor(at), inclusive: true } })
  }
  /** Ends before the document, or before these values of the order's fields (the document id last). */
  endBefore(...at: CursorArgs<M>): Query<M> {
    return this.with({ end: { values: this.cursor(at), inclusive: false } })
  }

  /** The matching documents, in order. */
  fetch(): Promise<Array<Instance<M>>> {
    return this.source.fetch(this.meta, this.spec) as Promise<Array<Instance<M>>>
  }

  /** How many documents match (up to the limit). */
  count(): Promise<number> {
    return this.source.count(this.meta, this.spec)
  }

  /** Which index serves this query, or that it scans the collection. */
  explain(): Plan {
    return this.source.explain(this.spec)
  }

  /**
   * Calls `callback` at once with the current result, then whenever the result
   * changes (and, with `includeMetadataChanges`, when only its metadata
   * does). Returns a function that stops it. Only on `db.query`.
   */
  subscribe(callback: (snapshot: Snapshot<M>) => void, options: LiveOptions = {}): () => void {
    if (!this.source.subscribe) throw new InvalidParameterError('subscribe', 'subscribe to db.query(...), not to a query inside a transaction')
    return this.source.subscribe(this.meta, this.spec, callback as (s: Snapshot<ModelClass>) => void, options)
  }

  private with(change: Partial<QuerySpec>): Query<M> {
    return new Query(this.source, this.meta, { ...this.spec, ...change })
  }

  private cursor(at: unknown[]): Json[] {
    const orders = effectiveOrders(this.spec)
    if (at.length === 1 && at[0] !== null && typeof at[0] === 'object' && STATE in (at[0] as object)) {
      const state = (at[0] as Model)[STATE]
      if (state.meta !== this.meta) throw new InvalidParameterError('cursor', `a cursor document must be a ${this.meta.collection}`)
      const doc = (at[0] as Model).toJSON()
      return orders.map(o => {
        const v = o.path === ID_PATH ? state.id : getPath(doc, o.path)
        if (v === undefined) throw new InvalidParameterError('cursor', `the cursor document has no ${o.path.join('.')}`)
        return v
      })
    }
    if (at.length === 0 || at.length > orders.length) throw new InvalidParameterError('cursor', `a cursor takes a document or 1 to ${orders.length} values (the order's fields, then the id)`)
    for (const v of at) {
      const bad = valueIssue(v)
      if (bad || v === undefined) throw new InvalidParameterError('cursor', bad ? `${bad.path ? `${bad.path} ` : ''}${bad.reason}` : 'a cursor value cannot be undefined')
    }
    return at as Json[]
  }
}

/** What a cursor method takes: a document of the query's model, or values of the order's fields (the document id last). */
export type CursorArgs<M extends ModelClass> = [doc: Instance<M>] | Json[]

function getPath(doc: Record<string, unknown>, path: Path): Json | undefined {
  let cur: unknown = doc
  for (const k of path) cur = isPlainObject(cur) ? cur[k] : undefined
  return cur as Json | undefined
}

function splitPath(meta: ModelMeta, path: unknown): Path {
  if (typeof path !== 'string' || path === '') throw new InvalidParameterError('path', `a field path is a non-empty string, got ${JSON.stringify(path)}`)
  return path.split('.')
}

/** The schema at a path, checking that the path exists in the model (undefined: inside a map or untyped value). */
function schemaAt(meta: ModelMeta, path: Path): AnySchema | undefined {
  const [head, ...rest] = path
  let schema: AnySchema | undefined = meta.keyChecks[head!]?.schema ?? meta.fields[head!]?.schema
  if (!schema) throw new InvalidParameterError('path', `${meta.collection} has no field ${head}`)
  for (const k of rest) {
    if (schema?.kind === 'obj') {
      schema = schema.props[k]
      if (!schema) throw new InvalidParameterError('path', `${meta.collection}.${path.join('.')}: no such property`)
    } else if (schema?.kind === 'map') schema = schema.element
    else if (schema) throw new InvalidParameterError('path', `${meta.collection}.${path.join('.')}: S.${schema.kind} has no properties`)
  }
  return schema
}

const checks = new WeakMap<AnySchema, Check>()

function checkOperand(path: string, schema: AnySchema | undefined, value: Json): void {
  if (value === undefined) throw new ValidationError(path, 'a filter value cannot be undefined', value)
  let check: Check = () => undefined
  if (schema && value !== null) {
    check = checks.get(schema) ?? compileCheck(schema.jsonSchema())
    checks.set(schema, check)
  }
  assertValid(path, check, value)
}
