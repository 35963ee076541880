import { afterEach, beforeEach, describe, it } from 'vitest'
import { ClosedError, type KeyRange, type Storage, type StorageReader, type WriteBatch } from '../../src/index.js'
import { describeStorage } from '../../src/testing/storage.js'

/**
 * A storage adapter written against the public seam alone, as a user would
 * write one: plain Maps, one transaction at a time. The conformance suite is
 * its whole proof.
 */
const allWatchers = new WeakMap<object, Set<() => void>>()

function mapStorage(data = new Map<string, Map<string, unknown>>()): Storage {
  let open = false
  let queue: Promise<unknown> = Promise.resolve()
  // every connection to the same data hears every commit
  const watchers = allWatchers.get(data) ?? new Set<() => void>()
  allWatchers.set(data, watchers)
  const table = (store: string) => {
    if (!open) throw new ClosedError('map storage')
    const t = data.get(store)
    if (!t) throw new Error(`unknown store ${store}`)
    return t
  }
  const within = (k: string, r: KeyRange) =>
    (r.gt === undefined || k > r.gt) && (r.gte === undefined || k >= r.gte) && (r.lt === undefined || k < r.lt) && (r.lte === undefined || k <= r.lte)
  const reader: StorageReader = {
    async getMany(store, keys) {
      const t = table(store)
      return keys.map(k => t.get(k))
    },
    async scan(store, range = {}) {
      const entries = [...table(store)].filter(([k]) => within(k, range)).sort(([a], [b]) => (a < b ? -1 : 1))
      if (range.reverse) entries.reverse()
      return range.limit === undefined ? entries : entries.slice(0, range.limit)
    },
    async count(store) {
      return table(store).size
    },
  }
  // transactions take turns, so each sees one state and writers never interleave
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(() => {
      if (!open) throw new ClosedError('map storage')
      return fn()
    })
    queue = run.catch(() => undefined)
    return run
  }
  const apply = (batch: WriteBatch) => {
    // every store is checked first: a batch applies whole or not at all
    for (const store of batch.keys()) table(store)
    for (const [store, { ranges, entries }] of batch) {
      const t = table(store)
      for (const r of ranges) for (const k of [...t.keys()]) if (within(k, r)) t.delete(k)
      for (const [k, v] of entries) {
        if (v === undefined) t.delete(k)
        else t.set(k, v)
      }
    }
  }
  return {
    kind: 'map',
    async open(stores) {
      for (const s of stores) if (!data.has(s)) data.set(s, new Map())
      open = true
    },
    async close() {
      open = false
    },
    read: fn => serially(() => fn(reader)),
    write: fn =>
      serially(async () => {
        const { result, batch } = await fn(reader)
        apply(batch)
        for (const w of watchers) queueMicrotask(w)
        return result
      }),
    watch(onChange) {
      watchers.add(onChange)
      return () => watchers.delete(onChange)
    },
  }
}

describeStorage(
  {
    name: 'a Map-backed adapter written against the seam',
    make() {
      const data = new Map<string, Map<string, unknown>>()
      const storage = mapStorage(data)
      return { storage, reopen: () => mapStorage(data), cleanup: () => undefined }
    },
  },
  { describe, it, beforeEach, afterEach },
)
