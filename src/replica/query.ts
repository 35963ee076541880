import { encodeValue, prefixEnd, TAG, typeTag } from '../core/encoding.js'
import type { JsonObject } from '../core/json.js'
import { docKey } from '../core/key.js'
import type { Path } from '../core/mutation.js'
import { effectiveOrders, hitKey, ID_PATH, RANGE_OPS, compareKeys, samePath, type Filter, type Hit, type Order, type QuerySpec } from '../core/query.js'
import { containsPrefix, ID_SEPARATOR, indexPrefix, type IndexDef } from './indexes.js'
import { collectionRange, localView, STORES, type DocRecord } from './records.js'
import type { KeyRange } from './storage.js'
import { scanJoined } from './overlay.js'
import type { Reader } from './store.js'

/** How a query runs: over one index range, or by scanning its collection. */
export type Plan =
  | {
      type: 'index'
      index: string
      /** The range of index keys read; no document outside it is read. */
      range: { gte: string; lt: string }
      /** The index yields documents in the query's order, so a limit stops the read early. */
      ordered: boolean
      reverse: boolean
      /** Served by the per-element entries of an array field. */
      contains: boolean
    }
  | { type: 'scan'; reason: string }

/** A result document with whether local mutations to it are pending. */
export interface QueryHit extends Hit {
  pending: boolean
}

const TYPE_END: Record<string, string> = { [TAG.null]: '1', [TAG.false]: '3', [TAG.true]: '3', [TAG.number]: '4', [TAG.string]: '5', [TAG.array]: '6', [TAG.object]: '7' }
const TYPE_START: Record<string, string> = { [TAG.null]: TAG.null, [TAG.false]: TAG.false, [TAG.true]: TAG.false, [TAG.number]: TAG.number, [TAG.string]: TAG.string, [TAG.array]: TAG.array, [TAG.object]: TAG.object }
/** Above every type tag and the id separator: the end of "anything after this prefix". */
const AFTER = '\u007f'

/** Picks the index that constrains the query most; a scan when none applies. */
export function plan(spec: QuerySpec, indexes: readonly IndexDef[]): Plan {
  const orders = effectiveOrders(spec)
  let best: { plan: Plan; score: number } | undefined
  for (const def of indexes) {
    const candidate = planWith(spec, orders, def)
    if (candidate && (!best || candidate.score > best.score)) best = candidate
  }
  return best?.plan ?? { type: 'scan', reason: indexes.length ? 'no index matches the filters and order' : `${spec.collection} declares no indexes` }
}

function planWith(spec: QuerySpec, orders: Order[], def: IndexDef): { plan: Plan; score: number } | undefined {
  // a document lacking an indexed field has no entry: every indexed field must be one the query requires
  const required = (p: Path) => spec.filters.some(f => samePath(f.path, p)) || spec.orders.some(o => samePath(o.path, p))
  if (!def.paths.every(required)) return undefined
  const contains = def.paths.length === 1 ? spec.filters.find(f => f.op === 'array-contains' && samePath(f.path, def.paths[0]!)) : undefined
  if (contains) {
    const base = containsPrefix(spec.collection, def.id) + encodeValue(contains.value) + ID_SEPARATOR
    const ordered = orders.length === 1 && orders[0]!.dir === 'asc'
    return { score: 20 + (ordered ? 1 : 0), plan: { type: 'index', index: def.id, range: { gte: base, lt: prefixEnd(base) }, ordered, reverse: false, contains: true } }
  }
  let base = indexPrefix(spec.collection, def.id)
  let eq = 0
  const eqPaths: Path[] = []
  for (const p of def.paths) {
    const f = spec.filters.find(x => x.op === '==' && samePath(x.path, p))
    if (!f) break
    base += encodeValue(f.value)
    eqPaths.push(p)
    eq++
  }
  const next = def.paths[eq]
  const ranges = next ? spec.filters.filter(f => RANGE_OPS.includes(f.op) && samePath(f.path, next)) : []
  const range = rangeFor(base, ranges)
  if (!range) return { score: 100, plan: { type: 'index', index: def.id, range: { gte: base, lt: base }, ordered: true, reverse: false, contains: false } }
  // the index orders by its remaining fields, then the id: is that the query's order?
  const rest = def.paths.slice(eq)
  const wanted = orders.filter(o => o.path !== ID_PATH && !eqPaths.some(p => samePath(p, o.path)))
  const dirs = new Set([...wanted.map(o => o.dir), orders.at(-1)!.dir])
  const ordered = dirs.size === 1 && wanted.length === rest.length && wanted.every((o, i) => samePath(o.path, rest[i]!))
  if (eq === 0 && ranges.length === 0 && !ordered) return undefined
  const score = eq * 4 + (ranges.length ? 2 : 0) + (ordered ? 1 : 0)
  return { score, plan: { type: 'index', index: def.id, range, ordered, reverse: ordered && dirs.has('desc'), contains: false } }
}

/** The key range of the range filters on the field after the equality prefix; undefined when they exclude everything. */
function rangeFor(base: string, filters: Filter[]): { gte: string; lt: string } | undefined {
  let gte = base
  let lt = base + AFTER
  for (const f of filters) {
    const tag = typeTag(f.value)
    const enc = encodeValue(f.value)
    // entries holding exactly `value` continue with more values or the id separator, all below AFTER
    const lower = { '>': base + enc + AFTER, '>=': base + enc, '<': base + TYPE_START[tag]!, '<=': base + TYPE_START[tag]! }[f.op as '<']
    const upper = { '>': base + TYPE_END[tag]!, '>=': base + TYPE_END[tag]!, '<': base + enc, '<=': base + enc + AFTER }[f.op as '<']
    if (lower > gte) gte = lower
    if (upper < lt) lt = upper
  }
  return gte < lt ? { gte, lt } : undefined
}

const CHUNK = 256

/** Runs a query against the local views, as `show` makes them (the app's reading; undefined: skipped). */
export async function execute(reader: Reader, spec: QuerySpec, p: Plan, recordIndex: boolean, show: (id: string, doc: JsonObject | undefined) => JsonObject | undefined): Promise<QueryHit[]> {
  const orders = effectiveOrders(spec)
  const hits: QueryHit[] = []
  const consider = (id: string, record: DocRecord | undefined) => {
    const doc = show(id, localView(record))
    if (!doc) return
    const key = hitKey(doc, id, spec, orders)
    if (key) hits.push({ id, doc, key, pending: record?.view !== undefined })
  }
  if (p.type === 'scan') {
    for (const [k, v] of await reader.scan(STORES.docs, collectionRange(spec.collection))) {
      consider(k.slice(spec.collection.length + 1), v as DocRecord)
    }
  } else {
    const streaming = p.ordered && spec.limit !== undefined
    let range: KeyRange = { ...p.range, reverse: p.reverse }
    for (;;) {
      const chunk = streaming ? { ...range, limit: Math.max(CHUNK, spec.limit!) } : range
      let entries: Array<[string, unknown]>
      if (recordIndex) {
        // the records come with their index keys: one read
        const found = await reader.scanIndex!(STORES.docs, chunk)
        for (const [, key, record] of found) consider(key.slice(spec.collection.length + 1), record as DocRecord)
        entries = found.map(([k]) => [k, undefined])
      } else {
        // index entries hold the document's id: the records come with them, in one statement where the storage can
        const found = await scanJoined(reader, STORES.indexes, STORES.docs, docKey(spec.collection, ''), chunk)
        for (const [, id, record] of found) consider(id, record as DocRecord | undefined)
        entries = found.map(([k, id]) => [k, id])
      }
      const last = entries.at(-1)
      // a short chunk was the range's end; a full one may have more past it
      if (!streaming || !last || hits.length >= spec.limit! || entries.length < chunk.limit!) break
      range = p.reverse ? { ...range, lt: last[0] } : { ...range, gte: last[0] + '\u0000' }
    }
  }
  // an ordered index yields the query's order already
  if (p.type === 'scan' || !p.ordered) hits.sort((a, b) => compareKeys(a.key, b.key, orders))
  return spec.limit === undefined ? hits : hits.slice(0, spec.limit)
}
