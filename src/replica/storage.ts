/**
 * The storage interface every adapter implements: named ordered key-value
 * stores, string keys, JSON-compatible values, and transactions. Everything
 * above it (views, outbox, indexes, subscriptions) is written once in the
 * replica layer, so an adapter stays a couple of hundred lines.
 *
 * Guarantees an adapter gives:
 * - `write(fn)` is atomic and isolated: the puts and deletes made through the
 *   writer become visible together when `fn`'s promise resolves, and none of
 *   them if it rejects. Write transactions are serialized with every other
 *   writer of the same data (in this process and, where the medium is shared,
 *   in others). Inside `fn`, reads see the transaction's own writes.
 * - `read(fn)` sees a consistent, committed state for its whole duration.
 * - `fn` awaits only the reader/writer it is given: awaiting anything else
 *   (timers, network, another transaction) may end the transaction
 *   (IndexedDB) or deadlock (the others).
 * - When `write` resolves the data is committed with the adapter's durability.
 * - Any use after `close()` throws `ClosedError`.
 *
 * Keys order by UTF-16 code unit on every adapter for keys made of characters
 * below U+D800 (SQLite compares UTF-8 bytes, which agrees on that range);
 * callers that need an order encode their keys in it.
 */
export interface KeyRange {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  reverse?: boolean
  limit?: number
}

export interface StorageReader {
  get(store: string, key: string): Promise<unknown>
  /** Values in the order of `keys`, undefined where missing. */
  getMany(store: string, keys: readonly string[]): Promise<unknown[]>
  /** Entries in key order (reversed with `reverse`), within the range. */
  scan(store: string, range?: KeyRange): Promise<Array<[string, unknown]>>
  /** How many entries the store holds, without reading them. */
  count(store: string): Promise<number>
  /**
   * Where the storage has `recordIndex`: the entries of `store` whose values
   * list, in their `ix` array, keys within the range — as [that key, the
   * entry's key, its value], in order of those keys.
   */
  scanIndex?(store: string, range?: KeyRange): Promise<Array<[string, string, unknown]>>
}

export interface StorageWriter extends StorageReader {
  /** Values must be JSON-compatible; the adapter may keep them by reference, so never change one after `put`. */
  put(store: string, key: string, value: unknown): void
  delete(store: string, key: string): void
  /** Deletes every entry in the range (at least one bound), as one request where the medium has one. */
  deleteRange(store: string, range: { gte?: string; lt?: string }): void
}

/** How hard a commit tries to survive a power loss: `relaxed` survives a process crash, `strict` an OS crash too. */
export type Durability = 'relaxed' | 'strict'

export interface Storage {
  /** Short adapter name, for messages and stats: `memory`, `sqlite`, `indexeddb`. */
  readonly kind: string
  /** Opens (creating where missing) the named stores. May be called again after `close()`. */
  open(stores: readonly string[]): Promise<void>
  read<T>(fn: (reader: StorageReader) => Promise<T>): Promise<T>
  write<T>(fn: (writer: StorageWriter) => Promise<T>): Promise<T>
  /**
   * A consistent read of a few keys, outside any transaction object: the hot
   * path of `tx.get`, which adapters serve as cheaply as their medium allows.
   */
  getMany(store: string, keys: readonly string[]): Promise<unknown[]>
  /**
   * Calls `onChange` soon after another connection (another process or
   * database object on the same file) commits; returns a function that stops
   * watching. Optional: without it, changes made elsewhere reach only new
   * reads. Storages that tabs share say so with `shared` instead, and the
   * tabs tell each other (src/tabs).
   */
  watch?(onChange: () => void): () => void
  /**
   * The medium indexes values by the keys in their `ix` array itself
   * (IndexedDB's multi-entry indexes), so `scanIndex` reads them: cheaper
   * than index entries written as entries of their own.
   */
  readonly recordIndex?: boolean
  /** Set where other tabs open the same data: the name they coordinate on (src/tabs). */
  readonly shared?: { channel: string }
  close(): Promise<void>
}

/** Whether `key` lies inside `range`, for adapters that filter by hand. */
export function inRange(key: string, range: KeyRange): boolean {
  if (range.gt !== undefined && !(key > range.gt)) return false
  if (range.gte !== undefined && !(key >= range.gte)) return false
  if (range.lt !== undefined && !(key < range.lt)) return false
  if (range.lte !== undefined && !(key <= range.lte)) return false
  return true
}
