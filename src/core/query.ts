import { getIn } from './apply.js'
import { encodeValue, typeRank } from './encoding.js'
import { deepEqual, type Json, type JsonObject } from './json.js'
import type { Path } from './mutation.js'

/** The operators of `where`: comparisons, `in` (one of a list of values) and `array-contains` (an array field holding the value). */
export type FilterOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'array-contains'
export const FILTER_OPS: readonly FilterOp[] = ['==', '!=', '<', '<=', '>', '>=', 'in', 'array-contains']
export const RANGE_OPS: readonly FilterOp[] = ['<', '<=', '>', '>=']

/** One `where` of a query: the field path, the operator and its operand. */
export interface Filter {
  path: Path
  op: FilterOp
  value: Json
}
/** One `orderBy` of a query: the field path and the direction. */
export interface Order {
  path: Path
  dir: 'asc' | 'desc'
}
/** A cursor over the query's order: values for its first fields (the document id last, if given). */
export interface Cursor {
  values: Json[]
  inclusive: boolean
}

/** A query as data: what the planner plans and what matching and sorting follow. */
export interface QuerySpec {
  collection: string
  filters: Filter[]
  orders: Order[]
  limit?: number
  start?: Cursor
  end?: Cursor
}

/** The id of a document, as an order path: results tie-break on it. */
export const ID_PATH: Path = ['__id']

/**
 * The order results come in: the explicit orders, then fields with a range
 * filter that no order names (ascending), then the document id in the
 * direction of the last order. So every query has one deterministic order.
 */
export function effectiveOrders(spec: QuerySpec): Order[] {
  const out = [...spec.orders]
  for (const f of spec.filters) {
    if (RANGE_OPS.includes(f.op) && !out.some(o => samePath(o.path, f.path))) out.push({ path: f.path, dir: 'asc' })
  }
  out.push({ path: ID_PATH, dir: out.at(-1)?.dir ?? 'asc' })
  return out
}

export function samePath(a: Path, b: Path): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function valueAt(doc: JsonObject, id: string, path: Path): Json | undefined {
  return path === ID_PATH ? id : getIn(doc, path)
}

/**
 * Whether a document passes one filter. Missing fields match nothing; range
 * filters only match values of the same type as the operand (numbers with
 * numbers, strings with strings...); `!=` matches a present, different value.
 */
export function passes(doc: JsonObject, f: Filter): boolean {
  const v = getIn(doc, f.path)
  if (v === undefined) return false
  switch (f.op) {
    case '==':
      return deepEqual(v, f.value)
    case '!=':
      return !deepEqual(v, f.value)
    case 'in':
      return (f.value as Json[]).some(x => deepEqual(v, x))
    case 'array-contains':
      return Array.isArray(v) && v.some(x => deepEqual(x, f.value))
    default: {
      if (typeRank(v) !== typeRank(f.value)) return false
      // numbers, strings and booleans compare as they are (the encoding keeps their order); the rest by encoding
      const scalar = typeof v !== 'object' || v === null
      const a = scalar ? (v as number) : encodeValue(v)
      const b = scalar ? (f.value as number) : encoded(f)
      switch (f.op) {
        case '<':
          return a < b
        case '<=':
          return a <= b
        case '>':
          return a > b
        default:
          return a >= b
      }
    }
  }
}

const operandEncodings = new WeakMap<Filter, string>()
function encoded(f: Filter): string {
  let e = operandEncodings.get(f)
  if (e === undefined) operandEncodings.set(f, (e = encodeValue(f.value)))
  return e
}

/** The encoded order values of a document, or undefined when an ordered field is missing (such documents are not in the result). */
export function orderKey(doc: JsonObject, id: string, orders: readonly Order[]): string[] | undefined {
  const out: string[] = []
  for (const o of orders) {
    const v = valueAt(doc, id, o.path)
    if (v === undefined) return undefined
    out.push(encodeValue(v))
  }
  return out
}

/** Compares two order keys under the orders' directions (keys may be prefixes, as cursors are). */
export function compareKeys(a: readonly string[], b: readonly string[], orders: readonly Order[]): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] === b[i]) continue
    const c = a[i]! < b[i]! ? -1 : 1
    return orders[i]!.dir === 'desc' ? -c : c
  }
  return 0
}

export function cursorKey(cursor: Cursor): string[] {
  return cursor.values.map(encodeValue)
}

/** Whether a document with this order key lies between the query's cursors. */
export function withinCursors(key: readonly string[], spec: QuerySpec, orders: readonly Order[]): boolean {
  if (spec.start) {
    const c = compareKeys(key, cursorKey(spec.start), orders)
    if (c < 0 || (c === 0 && !spec.start.inclusive)) return false
  }
  if (spec.end) {
    const c = compareKeys(key, cursorKey(spec.end), orders)
    if (c > 0 || (c === 0 && !spec.end.inclusive)) return false
  }
  return true
}

/** A document in a result, with its order key. */
export interface Hit {
  id: string
  doc: JsonObject
  key: string[]
}

/** The order key of a document if it belongs to the query's result (before the limit), else undefined. */
export function hitKey(doc: JsonObject, id: string, spec: QuerySpec, orders: readonly Order[]): string[] | undefined {
  for (const f of spec.filters) if (!passes(doc, f)) return undefined
  const key = orderKey(doc, id, orders)
  if (!key || !withinCursors(key, spec, orders)) return undefined
  return key
}

/** Evaluates a query over documents by brute force: the reference that indexed execution must match. */
export function evaluate(docs: Iterable<{ id: string; doc: JsonObject }>, spec: QuerySpec): Hit[] {
  const orders = effectiveOrders(spec)
  const hits: Hit[] = []
  for (const { id, doc } of docs) {
    const key = hitKey(doc, id, spec, orders)
    if (key) hits.push({ id, doc, key })
  }
  hits.sort((a, b) => compareKeys(a.key, b.key, orders))
  return spec.limit === undefined ? hits : hits.slice(0, spec.limit)
}
