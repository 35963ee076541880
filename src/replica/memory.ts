import BTreeModule from 'sorted-btree'
import { ClosedError, InvalidParameterError } from '../core/errors.js'
import { Mutex } from '../core/mutex.js'
import { inRange, type KeyRange, type Storage, type StorageReader, type StorageWriter } from './storage.js'

// sorted-btree is CommonJS: Node hands its exports object to a default import, bundlers its default export
type BTreeClass = typeof BTreeModule.default
const BTree: BTreeClass = (BTreeModule as { default?: BTreeClass }).default ?? (BTreeModule as unknown as BTreeClass)
type Tree = InstanceType<typeof BTreeModule.default<string, unknown>>
const simpleComparator = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const DELETED = Symbol('deleted')

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

  read<T>(fn: (reader: StorageReader) => Promise<T>): Promise<T> {
    if (!this.isOpen) return Promise.reject(new ClosedError('memory storage'))
    // a read that awaits between lookups must not see a write land in between
    return this.mutex.run(() => fn(new MemoryTx(this.tree.bind(this))))
  }

  getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    // a write lands all at once, synchronously: one synchronous lookup needs no lock
    if (!this.isOpen) return Promise.reject(new ClosedError('memory storage'))
    const tree = this.tree(store)
    return Promise.resolve(keys.map(k => tree.get(k)))
  }

  write<T>(fn: (writer: StorageWriter) => Promise<T>): Promise<T> {
    if (!this.isOpen) return Promise.reject(new ClosedError('memory storage'))
    return this.mutex.run(async () => {
      const tx = new MemoryTx(this.tree.bind(this))
      const result = await fn(tx)
      if (tx.commit()) for (const w of this.watchers) queueMicrotask(w)
      return result
    })
  }

  watch(onChange: () => void): () => void {
    // a wrapper per call, so that two databases on this storage each get their own notice
    const w = () => onChange()
    this.watchers.add(w)
    return () => this.watchers.delete(w)
  }
}

/** Reads see committed trees overlaid with this transaction's own pending writes. */
class MemoryTx implements StorageWriter {
  private readonly pending = new Map<string, Map<string, unknown>>()

  constructor(private readonly tree: (store: string) => Tree) {}

  async get(store: string, key: string): Promise<unknown> {
    return this.lookup(store, key)
  }

  async getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    return keys.map(k => this.lookup(store, k))
  }

  private lookup(store: string, key: string): unknown {
    const p = this.pending.get(store)?.get(key)
    if (p !== undefined) return p === DELETED ? undefined : p
    return this.tree(store).get(key)
  }

  async scan(store: string, range: KeyRange = {}): Promise<Array<[string, unknown]>> {
    const tree = this.tree(store)
    const merged = new Map<string, unknown>()
    const lo = range.gte ?? range.gt ?? tree.minKey()
    const hi = range.lte ?? range.lt ?? tree.maxKey()
    if (lo !== undefined && hi !== undefined) {
      tree.forRange(lo, hi, true, (k: string, v: unknown) => {
        if (inRange(k, range)) merged.set(k, v)
      })
    }
    const own = this.pending.get(store)
    let keys: string[]
    if (own) {
      for (const [k, v] of own) if (inRange(k, range)) merged.set(k, v)
      keys = [...merged.keys()].filter(k => merged.get(k) !== DELETED).sort()
    } else {
      keys = [...merged.keys()]
    }
    if (range.reverse) keys.reverse()
    if (range.limit !== undefined) keys = keys.slice(0, range.limit)
    return keys.map(k => [k, merged.get(k)])
  }

  async count(store: string): Promise<number> {
    const own = this.pending.get(store)
    if (!own) return this.tree(store).size
    // pending writes change the count: only those that add or remove an entry
    let n = this.tree(store).size
    for (const [k, v] of own) {
      const existed = this.tree(store).has(k)
      if (v === DELETED && existed) n--
      else if (v !== DELETED && !existed) n++
    }
    return n
  }

  put(store: string, key: string, value: unknown): void {
    this.tree(store)
    let p = this.pending.get(store)
    if (!p) this.pending.set(store, (p = new Map()))
    p.set(key, value)
  }

  delete(store: string, key: string): void {
    this.put(store, key, DELETED)
  }

  deleteRange(store: string, range: { gte?: string; lt?: string }): void {
    const tree = this.tree(store)
    const lo = range.gte ?? tree.minKey()
    const hi = range.lt ?? tree.maxKey()
    const doomed: string[] = []
    if (lo !== undefined && hi !== undefined) tree.forRange(lo, hi, range.lt === undefined, (k: string) => void doomed.push(k))
    for (const [k] of this.pending.get(store) ?? []) if (inRange(k, range)) doomed.push(k)
    for (const k of doomed) this.delete(store, k)
  }

  /** Applies the writes; whether there were any. */
  commit(): boolean {
    for (const [store, entries] of this.pending) {
      const t = this.tree(store)
      for (const [k, v] of entries) {
        if (v === DELETED) t.delete(k)
        else t.set(k, v)
      }
    }
    return this.pending.size > 0
  }
}
