import BTreeModule from 'sorted-btree'
import { ClosedError, InvalidParameterError } from '../core/errors.js'
import { Mutex } from '../core/mutex.js'
import { inRange, type KeyRange, type Storage, type StorageReader, type WriteBatch } from './storage.js'

// sorted-btree is CommonJS: Node hands its exports object to a default import, bundlers its default export
type BTreeClass = typeof BTreeModule.default
const BTree: BTreeClass = (BTreeModule as { default?: BTreeClass }).default ?? (BTreeModule as unknown as BTreeClass)
type Tree = InstanceType<typeof BTreeModule.default<string, unknown>>
const simpleComparator = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Storage in memory, in sorted B-trees. Data lives as long as the returned
 * object: close and reopen a database on the same `memoryStorage()` and the
 * data is still there.
 */
export function memoryStorage(): Storage {
  return new MemoryStorage()
}

class MemoryStorage implements Storage {
  readonly kind = 'memory'
  private readonly stores = new Map<string, Tree>()
  private readonly mutex = new Mutex()
  private readonly watchers = new Set<() => void>()
  private isOpen = false
  private readonly reader: StorageReader = {
    getMany: async (store, keys) => this.lookup(store, keys),
    scan: async (store, range = {}) => scan(this.tree(store), range),
    count: async store => this.tree(store).size,
  }

  async open(stores: readonly string[]): Promise<void> {
    for (const s of stores) if (!this.stores.has(s)) this.stores.set(s, new BTree(undefined, simpleComparator) as Tree)
    this.isOpen = true
  }

  async close(): Promise<void> {
    this.isOpen = false
  }

  private tree(store: string): Tree {
    if (!this.isOpen) throw new ClosedError('memory storage')
    const t = this.stores.get(store)
    if (!t) throw new InvalidParameterError('store', `unknown store ${store}`)
    return t
  }

  private lookup(store: string, keys: readonly string[]): unknown[] {
    const tree = this.tree(store)
    return keys.map(k => tree.get(k))
  }

  read<T>(fn: (reader: StorageReader) => Promise<T>): Promise<T> {
    if (!this.isOpen) return Promise.reject(new ClosedError('memory storage'))
    // a read that awaits between lookups must not see a write land in between
    return this.mutex.run(() => fn(this.reader))
  }

  peek(store: string, keys: readonly string[]): Promise<unknown[]> {
    // a write lands all at once, synchronously: one synchronous lookup needs no lock
    try {
      return Promise.resolve(this.lookup(store, keys))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  write<T>(fn: (reader: StorageReader) => Promise<{ result: T; batch: WriteBatch }>): Promise<T> {
    if (!this.isOpen) return Promise.reject(new ClosedError('memory storage'))
    return this.mutex.run(async () => {
      const { result, batch } = await fn(this.reader)
      if (this.apply(batch)) for (const w of this.watchers) queueMicrotask(w)
      return result
    })
  }

  /** Applies a batch at once; whether it held any write. */
  private apply(batch: WriteBatch): boolean {
    let any = false
    // every store is checked before any is touched: a batch applies whole or not at all
    for (const store of batch.keys()) this.tree(store)
    for (const [store, { ranges, entries }] of batch) {
      const tree = this.tree(store)
      for (const range of ranges) {
        for (const [k] of scan(tree, range)) tree.delete(k)
      }
      for (const [k, v] of entries) {
        if (v === undefined) tree.delete(k)
        else tree.set(k, v)
      }
      any ||= ranges.length > 0 || entries.size > 0
    }
    return any
  }

  watch(onChange: () => void): () => void {
    // a wrapper per call, so that two databases on this storage each get their own notice
    const w = () => onChange()
    this.watchers.add(w)
    return () => this.watchers.delete(w)
  }
}

function scan(tree: Tree, range: KeyRange): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = []
  const lo = range.gte ?? range.gt ?? tree.minKey()
  const hi = range.lte ?? range.lt ?? tree.maxKey()
  if (lo === undefined || hi === undefined || lo > hi) return out
  const stopAt = range.reverse ? undefined : range.limit
  tree.forRange(lo, hi, true, (k: string, v: unknown) => {
    if (!inRange(k, range)) return
    out.push([k, v])
    if (out.length === stopAt) return { break: true }
  })
  if (range.reverse) out.reverse()
  return range.limit === undefined ? out : out.slice(0, range.limit)
}
