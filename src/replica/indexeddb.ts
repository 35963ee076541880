import { ClosedError, InvalidParameterError, StorageError } from '../core/errors.js'
import { assertKnownOptions } from '../core/options.js'
import { memoryStorage } from './memory.js'
import { byIndexKey, inRange, type Durability, type KeyRange, type Storage, type StorageReader, type WriteBatch } from './storage.js'

/** How `indexedDbStorage` opens its database: durability, what to do where IndexedDB is unavailable, and the factory to use. */
export interface IndexedDbStorageOptions {
  /** `relaxed` (default, as browsers do) or `strict` (flushed to disk before a commit resolves). */
  durability?: Durability
  /**
   * Where IndexedDB is missing or refuses to open (some private modes):
   * `'memory'` (default) keeps the replica in memory for this page's life and
   * warns loudly (see `fallbackReason`); `'error'` throws `StorageError`.
   */
  fallback?: 'memory' | 'error'
  /** Called once when the storage falls back to memory, with the reason. Default: `console.warn`. */
  onFallback?: (reason: string) => void
  /** How long an upgrade waits for other connections to close before `StorageError('blocked')`, in ms (default 10,000). */
  blockedTimeout?: number
  /** The IndexedDB factory and key range class; default: the global ones (pass fake-indexeddb's in Node tests). */
  indexedDB?: IDBFactory
  /** The IDBKeyRange class that goes with `indexedDB`. */
  IDBKeyRange?: typeof IDBKeyRange
}

/**
 * Storage in an IndexedDB database: one object store per store, string keys,
 * values stored as structured clones. Every tab of an origin may open the
 * same database; IndexedDB serializes their readwrite transactions.
 */
export function indexedDbStorage(name: string, options: IndexedDbStorageOptions = {}): IndexedDbStorage {
  if (typeof name !== 'string' || name === '') throw new InvalidParameterError('name', 'indexedDbStorage needs a database name')
  assertKnownOptions('indexedDbStorage', options, ['durability', 'fallback', 'onFallback', 'blockedTimeout', 'indexedDB', 'IDBKeyRange'])
  if (options.fallback !== undefined && options.fallback !== 'memory' && options.fallback !== 'error') {
    throw new InvalidParameterError('fallback', "must be 'memory' or 'error'")
  }
  return new IndexedDbStorage(name, options)
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

/** Quota errors get a message that says what to do; others pass through. */
function storageFailure(e: unknown, name: string): unknown {
  if ((e as { name?: string } | null)?.name === 'QuotaExceededError') {
    return new StorageError('quota-exceeded', `IndexedDB ${name}: the browser's storage quota for this site is used up; nothing of this transaction was written. Free space (or ask for navigator.storage.persist()) and retry.`, { cause: e })
  }
  return e
}

/**
 * The storage `indexedDbStorage` returns: a `Storage` that may have fallen
 * back to memory where IndexedDB was unavailable (`fallbackReason` says why).
 */
export class IndexedDbStorage implements Storage {
  private db: IDBDatabase | undefined
  private opening: Promise<IDBDatabase> | undefined
  private stores: readonly string[] = []
  private closed = true
  /** Set when IndexedDB could not be used: the replica lives in memory. */
  private memory: Storage | undefined
  private reason: string | undefined

  constructor(
    private readonly name: string,
    private readonly options: IndexedDbStorageOptions,
  ) {}

  get kind(): string {
    return this.memory ? 'memory' : 'indexeddb'
  }

  /** Records are indexed by their `ix` keys in an IndexedDB multi-entry index (not in memory). */
  get recordIndex(): boolean {
    return !this.memory
  }

  /** Tabs of an origin open the same database under this name, and coordinate on it. */
  get shared(): { channel: string } | undefined {
    return this.memory ? undefined : { channel: `tidepool:${this.name}` }
  }

  /** Why this storage keeps its data in memory instead of IndexedDB (undefined: it does not). */
  get fallbackReason(): string | undefined {
    return this.reason
  }

  async open(stores: readonly string[]): Promise<void> {
    if (this.memory) return this.memory.open(stores)
    if (this.db) return
    this.stores = stores
    this.closed = false
    try {
      await this.connection()
    } catch (e) {
      if (e instanceof StorageError && e.code === 'blocked') throw e
      this.closed = true
      const reason = `IndexedDB is unavailable (${(e as Error).message}); the replica is kept in memory and is lost when the page closes`
      if (this.options.fallback === 'error') throw new StorageError('unavailable', reason, { cause: e })
      this.reason = reason
      this.memory = memoryStorage()
      ;(this.options.onFallback ?? (r => console.warn(`tidepool: ${r}`)))(reason)
      await this.memory.open(stores)
    }
  }

  /** The open connection, opened (again) where needed: another tab's upgrade closes it. */
  private connection(): Promise<IDBDatabase> {
    if (this.db) return Promise.resolve(this.db)
    if (this.closed) return Promise.reject(new ClosedError(`indexeddb storage ${this.name}`))
    this.opening ??= this.connect().finally(() => (this.opening = undefined))
    return this.opening
  }

  private async connect(): Promise<IDBDatabase> {
    let db = await this.openVersion(undefined)
    if (this.stores.some(s => !db.objectStoreNames.contains(s)) || !this.hasRecordIndexes(db)) {
      db.close()
      db = await this.openVersion(db.version + 1)
    }
    // another tab upgrades: step aside at once instead of blocking it, and reopen on next use
    db.onversionchange = () => {
      db.close()
      if (this.db === db) this.db = undefined
    }
    if (this.closed) {
      db.close()
      throw new ClosedError(`indexeddb storage ${this.name}`)
    }
    this.db = db
    return db
  }

  private openVersion(version: number | undefined): Promise<IDBDatabase> {
    const factory = this.options.indexedDB ?? globalThis.indexedDB
    if (!factory) return Promise.reject(new StorageError('unavailable', 'no indexedDB in this environment'))
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const req = version === undefined ? factory.open(this.name) : factory.open(this.name, version)
      req.onupgradeneeded = () => {
        for (const s of this.stores) {
          const store = req.result.objectStoreNames.contains(s) ? req.transaction!.objectStore(s) : req.result.createObjectStore(s)
          if (!store.indexNames.contains(IX)) store.createIndex(IX, IX, { multiEntry: true })
        }
      }
      req.onsuccess = () => {
        clearTimeout(timer)
        resolve(req.result)
      }
      req.onerror = () => {
        clearTimeout(timer)
        // another tab upgraded past `version` meanwhile: open whatever is current
        if (req.error?.name === 'VersionError') {
          req.onsuccess = null
          resolve(this.openVersion(undefined))
        } else reject(req.error ?? new StorageError('unavailable', 'IndexedDB open failed'))
      }
      // blocked: a connection that does not step aside on versionchange (old code in another tab)
      req.onblocked = () => {
        timer ??= setTimeout(() => {
          reject(new StorageError('blocked', `IndexedDB ${this.name}: another tab keeps an old connection open and blocks the upgrade; close or reload the other tabs of this site`))
        }, this.options.blockedTimeout ?? 10_000)
      }
    })
  }

  /** Every store has the multi-entry index on `ix` (databases from before it existed get it by an upgrade). */
  private hasRecordIndexes(db: IDBDatabase): boolean {
    if (this.stores.length === 0) return true
    const tx = db.transaction([...this.stores], 'readonly')
    return this.stores.every(s => tx.objectStore(s).indexNames.contains(IX))
  }

  async close(): Promise<void> {
    if (this.memory) return this.memory.close()
    this.closed = true
    this.db?.close()
    this.db = undefined
    await this.opening?.catch(() => undefined)
  }

  read<T>(fn: (reader: StorageReader) => Promise<T>): Promise<T> {
    if (this.memory) return this.memory.read(fn)
    return this.run('readonly', async tx => ({ result: await fn(tx), batch: undefined }))
  }

  write<T>(fn: (reader: StorageReader) => Promise<{ result: T; batch: WriteBatch }>): Promise<T> {
    if (this.memory) return this.memory.write(fn)
    return this.run('readwrite', fn)
  }

  private async run<T>(mode: IDBTransactionMode, fn: (tx: IdbTx) => Promise<{ result: T; batch: WriteBatch | undefined }>): Promise<T> {
    const db = await this.connection()
    let tx: IDBTransaction
    try {
      tx = db.transaction([...this.stores], mode, { durability: this.options.durability === 'strict' ? 'strict' : 'relaxed' })
    } catch (e) {
      // closed under us by a versionchange between connection() and here: once more
      if ((e as Error).name !== 'InvalidStateError' || this.closed) throw e
      return this.run(mode, fn)
    }
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve()
      tx.onerror = () => reject(storageFailure(tx.error, this.name))
      tx.onabort = () => reject(storageFailure(tx.error, this.name) ?? new StorageError('unavailable', 'IndexedDB transaction aborted'))
    })
    let result: T
    try {
      const idb = new IdbTx(tx, this.options.IDBKeyRange ?? globalThis.IDBKeyRange)
      const out = await fn(idb)
      // still inside the transaction: the requests go out before it can complete
      if (out.batch) idb.apply(out.batch)
      result = out.result
    } catch (e) {
      done.catch(() => undefined)
      try {
        tx.abort()
      } catch {
        // already finished
      }
      throw storageFailure(e, this.name)
    }
    await done
    return result
  }
}

/** The multi-entry index over each value's `ix` keys (`recordIndex`). */
const IX = 'ix'

/** From this many keys on, `getMany` reads by range (see getRange). */
const MANY = 64

class IdbTx implements StorageReader {
  constructor(
    private readonly tx: IDBTransaction,
    private readonly KeyRange: typeof IDBKeyRange,
  ) {}

  getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    const os = this.tx.objectStore(store)
    if (keys.length < MANY) return Promise.all(keys.map(k => request(os.get(k))))
    return this.getRange(os, keys)
  }

  /**
   * Many keys: a get each costs as much as a put, so first ask which keys
   * exist between the lowest and the highest (one request), then read only
   * those, in one request where they are most of the range. New documents,
   * as in an import, then cost nothing to look up.
   */
  private async getRange(os: IDBObjectStore, keys: readonly string[]): Promise<unknown[]> {
    const sorted = [...new Set(keys)].sort()
    const range = this.KeyRange.bound(sorted[0]!, sorted.at(-1)!)
    const limit = sorted.length * 2
    const present = (await request(os.getAllKeys(range, limit))) as string[]
    // a sparse range: the keys are spread among many others
    if (present.length >= limit) return Promise.all(keys.map(k => request(os.get(k))))
    const wanted = new Set(sorted)
    const found = present.filter(k => wanted.has(k))
    const values = new Map<string, unknown>()
    if (found.length * 2 >= present.length) {
      const all = await request(os.getAll(range, limit))
      present.forEach((k, i) => wanted.has(k) && values.set(k, all[i]))
    } else {
      const got = await Promise.all(found.map(k => request(os.get(k))))
      found.forEach((k, i) => values.set(k, got[i]))
    }
    return keys.map(k => values.get(k))
  }

  /** The IndexedDB key range for a range; 'empty' where IDBKeyRange.bound would throw (an empty range is just empty). */
  private keyRange(range: KeyRange): IDBKeyRange | undefined | 'empty' {
    const lower = range.gte ?? range.gt
    const upper = range.lte ?? range.lt
    if (lower !== undefined && upper !== undefined && (lower > upper || (lower === upper && (range.gt !== undefined || range.lt !== undefined)))) return 'empty'
    if (lower !== undefined && upper !== undefined) return this.KeyRange.bound(lower, upper, range.gte === undefined, range.lte === undefined)
    if (lower !== undefined) return this.KeyRange.lowerBound(lower, range.gte === undefined)
    if (upper !== undefined) return this.KeyRange.upperBound(upper, range.lte === undefined)
    return undefined
  }

  scanIndex(store: string, range: KeyRange = {}): Promise<Array<[string, string, unknown]>> {
    const kr = this.keyRange(range)
    const out: Array<[string, string, unknown]> = []
    if (kr === 'empty') return Promise.resolve(out)
    const index = this.tx.objectStore(store).index(IX)
    // a whole range in two bulk requests; the index keys, which they do not return, are the records' own `ix` keys in the range
    if (range.limit === undefined) {
      return Promise.all([request(index.getAllKeys(kr)), request(index.getAll(kr))]).then(([keys, values]) => {
        const records = new Map(keys.map((k, i) => [k as string, values[i]]))
        const entries: Array<[string, string, unknown]> = []
        for (const [k, v] of records) for (const ix of (v as { ix?: string[] }).ix ?? []) if (inRange(ix, range)) entries.push([ix, k, v])
        entries.sort(byIndexKey)
        return range.reverse ? entries.reverse() : entries
      })
    }
    return new Promise((resolve, reject) => {
      const req = index.openCursor(kr, range.reverse ? 'prev' : 'next')
      req.onerror = () => reject(req.error)
      req.onsuccess = () => {
        const cursor = req.result
        if (!cursor || (range.limit !== undefined && out.length >= range.limit)) return resolve(out)
        out.push([cursor.key as string, cursor.primaryKey as string, cursor.value])
        cursor.continue()
      }
    })
  }

  scan(store: string, range: KeyRange = {}): Promise<Array<[string, unknown]>> {
    const out: Array<[string, unknown]> = []
    const kr = this.keyRange(range)
    if (kr === 'empty') return Promise.resolve(out)
    const os = this.tx.objectStore(store)
    // two bulk requests are much faster than a cursor step per entry; a cursor serves the reverse-with-limit case
    if (!range.reverse || range.limit === undefined) {
      return Promise.all([request(os.getAllKeys(kr, range.reverse ? undefined : range.limit)), request(os.getAll(kr, range.reverse ? undefined : range.limit))]).then(([keys, values]) => {
        const entries = keys.map((k, i): [string, unknown] => [k as string, values[i]])
        return range.reverse ? entries.reverse() : entries
      })
    }
    return new Promise((resolve, reject) => {
      const req = os.openCursor(kr, 'prev')
      req.onerror = () => reject(req.error)
      req.onsuccess = () => {
        const cursor = req.result
        if (!cursor || (range.limit !== undefined && out.length >= range.limit)) return resolve(out)
        out.push([cursor.key as string, cursor.value])
        cursor.continue()
      }
    })
  }

  count(store: string): Promise<number> {
    return request(this.tx.objectStore(store).count())
  }

  /** Issues a batch's requests: range deletes first, then puts and deletes. */
  apply(batch: WriteBatch): void {
    for (const [store, { ranges, entries }] of batch) {
      const os = this.tx.objectStore(store)
      for (const { gte, lt } of ranges) {
        if (gte !== undefined && lt !== undefined && gte >= lt) continue
        os.delete(gte !== undefined && lt !== undefined ? this.KeyRange.bound(gte, lt, false, true) : gte !== undefined ? this.KeyRange.lowerBound(gte) : this.KeyRange.upperBound(lt!, true))
      }
      for (const [k, v] of entries) {
        if (v === undefined) os.delete(k)
        else os.put(v, k)
      }
    }
  }
}
