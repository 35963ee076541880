import { ClosedError, InvalidParameterError } from '../core/errors.js'
import type { Durability, KeyRange, Storage, StorageReader, StorageWriter } from './storage.js'

export interface IndexedDbStorageOptions {
  /** `relaxed` (default, as browsers do) or `strict` (flushed to disk before a commit resolves). */
  durability?: Durability
  /** The IndexedDB factory and key range class; default: the global ones (pass fake-indexeddb's in Node tests). */
  indexedDB?: IDBFactory
  IDBKeyRange?: typeof IDBKeyRange
}

/**
 * Storage in an IndexedDB database: one object store per store, string keys,
 * values stored as structured clones. Every tab of an origin may open the
 * same database; IndexedDB serializes their readwrite transactions.
 */
export function indexedDbStorage(name: string, options: IndexedDbStorageOptions = {}): Storage {
  if (typeof name !== 'string' || name === '') throw new InvalidParameterError('name', 'indexedDbStorage needs a database name')
  return new IndexedDbStorage(name, options)
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
}

class IndexedDbStorage implements Storage {
  readonly kind = 'indexeddb'
  private db: IDBDatabase | undefined
  private stores: readonly string[] = []
  private notifier: BroadcastChannel | undefined
  /** Tells this storage's own commit notices from other connections'. */
  private readonly instance = globalThis.crypto.randomUUID()

  constructor(
    private readonly name: string,
    private readonly options: IndexedDbStorageOptions,
  ) {}

  private factory(): IDBFactory {
    const f = this.options.indexedDB ?? globalThis.indexedDB
    if (!f) throw new InvalidParameterError('indexedDB', 'IndexedDB is not available here')
    return f
  }

  async open(stores: readonly string[]): Promise<void> {
    if (this.db) return
    this.stores = stores
    let db = await this.openVersion(undefined, stores)
    const missing = stores.filter(s => !db.objectStoreNames.contains(s))
    if (missing.length) {
      const version = db.version + 1
      db.close()
      db = await this.openVersion(version, stores)
    }
    db.onversionchange = () => {
      db.close()
      this.db = undefined
    }
    this.db = db
  }

  private openVersion(version: number | undefined, stores: readonly string[]): Promise<IDBDatabase> {
    return new Promise((resolve, reject) => {
      const req = version === undefined ? this.factory().open(this.name) : this.factory().open(this.name, version)
      req.onupgradeneeded = () => {
        for (const s of stores) if (!req.result.objectStoreNames.contains(s)) req.result.createObjectStore(s)
      }
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
      req.onblocked = () => reject(new Error(`IndexedDB ${this.name}: upgrade blocked by another open connection`))
    })
  }

  async close(): Promise<void> {
    this.db?.close()
    this.db = undefined
    this.notifier?.close()
    this.notifier = undefined
  }

  private transaction(mode: IDBTransactionMode): IDBTransaction {
    if (!this.db) throw new ClosedError(`indexeddb storage ${this.name}`)
    return this.db.transaction([...this.stores], mode, { durability: this.options.durability === 'strict' ? 'strict' : 'relaxed' })
  }

  read<T>(fn: (reader: StorageReader) => Promise<T>): Promise<T> {
    return this.run('readonly', fn)
  }

  async write<T>(fn: (writer: StorageWriter) => Promise<T>): Promise<T> {
    const result = await this.run('readwrite', fn)
    if (typeof BroadcastChannel !== 'undefined') {
      this.notifier ??= new BroadcastChannel(this.channelName)
      this.notifier.postMessage(this.instance)
    }
    return result
  }

  getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    return this.read(r => r.getMany(store, keys))
  }

  /** Tabs (and databases) on one IndexedDB database tell each other about commits on a BroadcastChannel. */
  watch(onChange: () => void): () => void {
    if (typeof BroadcastChannel === 'undefined') return () => undefined
    const channel = new BroadcastChannel(this.channelName)
    channel.onmessage = (e: MessageEvent) => {
      if (e.data !== this.instance) onChange()
    }
    return () => channel.close()
  }

  private get channelName(): string {
    return `tidepool:${this.name}`
  }

  private async run<T>(mode: IDBTransactionMode, fn: (tx: IdbTx) => Promise<T>): Promise<T> {
    const tx = this.transaction(mode)
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve()
      tx.onerror = () => reject(tx.error)
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
    })
    let result: T
    try {
      result = await fn(new IdbTx(tx, this.options.IDBKeyRange ?? globalThis.IDBKeyRange))
    } catch (e) {
      done.catch(() => undefined)
      try {
        tx.abort()
      } catch {
        // already finished
      }
      throw e
    }
    await done
    return result
  }
}

class IdbTx implements StorageWriter {
  constructor(
    private readonly tx: IDBTransaction,
    private readonly KeyRange: typeof IDBKeyRange,
  ) {}

  get(store: string, key: string): Promise<unknown> {
    return request(this.tx.objectStore(store).get(key))
  }

  getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    const os = this.tx.objectStore(store)
    return Promise.all(keys.map(k => request(os.get(k))))
  }

  scan(store: string, range: KeyRange = {}): Promise<Array<[string, unknown]>> {
    const lower = range.gte ?? range.gt
    const upper = range.lte ?? range.lt
    const out: Array<[string, unknown]> = []
    // IDBKeyRange.bound throws on an empty range; an empty range is just empty
    if (lower !== undefined && upper !== undefined && (lower > upper || (lower === upper && (range.gt !== undefined || range.lt !== undefined)))) {
      return Promise.resolve(out)
    }
    let kr: IDBKeyRange | undefined
    if (lower !== undefined && upper !== undefined) kr = this.KeyRange.bound(lower, upper, range.gte === undefined, range.lte === undefined)
    else if (lower !== undefined) kr = this.KeyRange.lowerBound(lower, range.gte === undefined)
    else if (upper !== undefined) kr = this.KeyRange.upperBound(upper, range.lte === undefined)
    return new Promise((resolve, reject) => {
      const req = this.tx.objectStore(store).openCursor(kr, range.reverse ? 'prev' : 'next')
      req.onerror = () => reject(req.error)
      req.onsuccess = () => {
        const cursor = req.result
        if (!cursor || (range.limit !== undefined && out.length >= range.limit)) return resolve(out)
        out.push([cursor.key as string, cursor.value])
        cursor.continue()
      }
    })
  }

  put(store: string, key: string, value: unknown): void {
    this.tx.objectStore(store).put(value, key)
  }

  delete(store: string, key: string): void {
    this.tx.objectStore(store).delete(key)
  }
}
