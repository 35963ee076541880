import { InvalidParameterError } from '../core/errors.js'
import { byIndexKey, inRange, type KeyRange, type StorageReader, type WriteBatch } from './storage.js'

/** What the replica reads through in a transaction. */
export interface Reader extends StorageReader {
  get(store: string, key: string): Promise<unknown>
}

/** What the replica writes through: its writes are seen by its own reads at once, and by others at commit. */
export interface Writer extends Reader {
  /** Values must be JSON-compatible and never changed after `put`. */
  put(store: string, key: string, value: unknown): void
  delete(store: string, key: string): void
  /** Deletes every entry in the range (at least one bound). */
  deleteRange(store: string, range: { gte?: string; lt?: string }): void
}

interface Pending {
  ranges: Array<{ gte?: string; lt?: string }>
  /** A value, or undefined: deleted. */
  entries: Map<string, unknown>
  /** The entries' keys in order, made when a scan needs them and dropped when a key is added or removed. */
  sorted?: string[]
}

/** A reader over one consistent state, with `get`. */
export function reader(r: StorageReader): Reader {
  return {
    get: async (store, key) => (await r.getMany(store, [key]))[0],
    getMany: (store, keys) => r.getMany(store, keys),
    scan: (store, range) => r.scan(store, range),
    count: store => r.count(store),
    ...(r.scanIndex ? { scanIndex: r.scanIndex.bind(r) } : {}),
    ...(r.scanJoined ? { scanJoined: r.scanJoined.bind(r) } : {}),
  }
}

/** `scanJoined` where the reader has it, else the index scan and the lookup it stands for. */
export function scanJoined(r: StorageReader, index: string, values: string, prefix: string, range: KeyRange): Promise<Array<[string, string, unknown]>> {
  return r.scanJoined ? r.scanJoined(index, values, prefix, range) : joinByLookup(r, index, values, prefix, range)
}

/** What `scanJoined` stands for, in two reads. */
async function joinByLookup(r: StorageReader, index: string, values: string, prefix: string, range: KeyRange): Promise<Array<[string, string, unknown]>> {
  const entries = await r.scan(index, range)
  const found = await r.getMany(
    values,
    entries.map(([, v]) => prefix + (v as string)),
  )
  return entries.map(([k, v], i) => [k, v as string, found[i]])
}

/**
 * The one read-your-writes layer of every storage: a write transaction's
 * puts and deletes wait here, its reads see them merged over what the
 * adapter reads, and at the end they become the adapter's `WriteBatch`.
 */
export class Overlay implements Writer {
  private readonly pending = new Map<string, Pending>()

  constructor(private readonly r: StorageReader) {}

  async get(store: string, key: string): Promise<unknown> {
    return (await this.getMany(store, [key]))[0]
  }

  async getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    const p = this.pending.get(store)
    if (!p) return this.r.getMany(store, keys)
    const below = keys.filter(k => !p.entries.has(k) && !covered(p, k))
    const found = below.length ? await this.r.getMany(store, below) : []
    const byKey = new Map(below.map((k, i) => [k, found[i]]))
    return keys.map(k => (p.entries.has(k) ? p.entries.get(k) : byKey.get(k)))
  }

  async scan(store: string, range: KeyRange = {}): Promise<Array<[string, unknown]>> {
    const p = this.pending.get(store)
    if (!p) return this.r.scan(store, range)
    const below = await this.scanBelow(store, p, range)
    const own = pendingIn(p, range).flatMap((k): Array<[string, unknown]> => (p.entries.get(k) === undefined ? [] : [[k, p.entries.get(k)]]))
    const merged = [...below, ...own].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    if (range.reverse) merged.reverse()
    return range.limit === undefined ? merged : merged.slice(0, range.limit)
  }

  async scanIndex(store: string, range: KeyRange = {}): Promise<Array<[string, string, unknown]>> {
    if (!this.r.scanIndex) throw new InvalidParameterError('scanIndex', 'this storage does not index records')
    const p = this.pending.get(store)
    if (!p) return this.r.scanIndex(store, range)
    // read whole, not paged: entries are continued by index key, which several of them may share
    const { limit: _limit, ...whole } = range
    const below = (await this.r.scanIndex(store, whole)).filter(([, k]) => !p.entries.has(k) && !covered(p, k))
    const own: Array<[string, string, unknown]> = []
    for (const [k, v] of p.entries) {
      for (const ix of (v as { ix?: string[] } | undefined)?.ix ?? []) if (inRange(ix, range)) own.push([ix, k, v])
    }
    const merged = [...below, ...own].sort(byIndexKey)
    if (range.reverse) merged.reverse()
    return range.limit === undefined ? merged : merged.slice(0, range.limit)
  }

  scanJoined(index: string, values: string, prefix: string, range: KeyRange = {}): Promise<Array<[string, string, unknown]>> {
    // this transaction's own writes to either store are merged by the two reads it stands for
    if (this.r.scanJoined && !this.pending.has(index) && !this.pending.has(values)) return this.r.scanJoined(index, values, prefix, range)
    return joinByLookup(this, index, values, prefix, range)
  }

  /**
   * What the adapter holds in the range that this transaction has not
   * replaced or deleted, paged: enough of it to fill a limited scan however
   * many entries the pending writes hide.
   */
  private async scanBelow(store: string, p: Pending, range: KeyRange): Promise<Array<[string, unknown]>> {
    const kept: Array<[string, unknown]> = []
    let page: KeyRange = range.limit === undefined ? range : { ...range, limit: range.limit + p.entries.size }
    for (;;) {
      const entries = await this.r.scan(store, page)
      for (const e of entries) if (!p.entries.has(e[0]) && !covered(p, e[0])) kept.push(e)
      const last = entries.at(-1)
      if (range.limit === undefined || !last || entries.length < page.limit! || kept.length >= range.limit) return kept
      const at = last[0]
      page = range.reverse ? { ...page, lt: at, lte: undefined } : { ...page, gt: at, gte: undefined }
    }
  }

  async count(store: string): Promise<number> {
    const p = this.pending.get(store)
    let n = await this.r.count(store)
    if (!p) return n
    const gone = new Set<string>()
    for (const range of p.ranges) for (const [k] of await this.r.scan(store, range)) gone.add(k)
    n -= gone.size
    const keys = [...p.entries.keys()].filter(k => !gone.has(k))
    const below = await this.r.getMany(store, keys)
    keys.forEach((k, i) => (n += (p.entries.get(k) !== undefined ? 1 : 0) - (below[i] !== undefined ? 1 : 0)))
    for (const [k, v] of p.entries) if (gone.has(k) && v !== undefined) n++
    return n
  }

  put(store: string, key: string, value: unknown): void {
    this.set(store, key, value)
  }

  delete(store: string, key: string): void {
    this.set(store, key, undefined)
  }

  private set(store: string, key: string, value: unknown): void {
    const p = this.of(store)
    if (!p.entries.has(key)) p.sorted = undefined
    p.entries.set(key, value)
  }

  deleteRange(store: string, range: { gte?: string; lt?: string }): void {
    if (range.gte === undefined && range.lt === undefined) throw new InvalidParameterError('range', 'deleteRange needs a bound')
    const p = this.of(store)
    // earlier writes in the range are deleted with it; the range goes first in the batch
    const doomed = pendingIn(p, range)
    for (const k of doomed) p.entries.delete(k)
    if (doomed.length) p.sorted = undefined
    p.ranges.push(range)
  }

  /** The writes, for the adapter to apply at commit. */
  batch(): WriteBatch {
    return this.pending
  }

  private of(store: string): Pending {
    let p = this.pending.get(store)
    if (!p) this.pending.set(store, (p = { ranges: [], entries: new Map() }))
    return p
  }
}

/** The pending keys within a range, in order: a binary search in the sorted keys, so a transaction that scans after many writes stays linear. */
function pendingIn(p: Pending, range: KeyRange): string[] {
  const keys = (p.sorted ??= [...p.entries.keys()].sort())
  const lower = range.gte ?? range.gt
  let lo = 0
  let hi = keys.length
  while (lower !== undefined && lo < hi) {
    const mid = (lo + hi) >> 1
    if (keys[mid]! < lower) lo = mid + 1
    else hi = mid
  }
  const out: string[] = []
  for (let i = lo; i < keys.length; i++) {
    const k = keys[i]!
    if ((range.lt !== undefined && k >= range.lt) || (range.lte !== undefined && k > range.lte)) break
    if (inRange(k, range)) out.push(k)
  }
  return out
}

function covered(p: Pending, key: string): boolean {
  return p.ranges.length > 0 && p.ranges.some(r => inRange(key, r))
}
