/** A range of keys: bounds (each optional), the direction, and at most how many entries. */
export interface KeyRange {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  reverse?: boolean
  limit?: number
}

/** What a transaction reads through. */
export interface StorageReader {
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
  /**
   * Optional, where one statement can do it: the entries of `index` within
   * the range, each with the value of `values` at `prefix` plus the entry's
   * value (a string) — as [entry key, entry value, that value or undefined],
   * in the order and with the limit of `scan`. What an index lookup followed
   * by `getMany` reads, in one read.
   */
  scanJoined?(index: string, values: string, prefix: string, range?: KeyRange): Promise<Array<[string, string, unknown]>>
}

/**
 * The writes of one transaction, per store: the key ranges to delete (each
 * with at least one bound), applied first, then the entries to put (a value)
 * or delete (`undefined`). Values may be kept by reference: they are never
 * changed after they are handed over.
 */
export type WriteBatch = ReadonlyMap<string, { ranges: ReadonlyArray<{ gte?: string; lt?: string }>; entries: ReadonlyMap<string, unknown> }>

/** How hard a commit tries to survive a power loss: `relaxed` survives a process crash, `strict` an OS crash too. */
export type Durability = 'relaxed' | 'strict'

/**
 * The seam every storage adapter implements: named ordered key-value stores
 * with string keys and JSON-compatible values, read and written in
 * transactions. It is small on purpose. A transaction's own writes, and
 * everything else the replica keeps (views, outbox, indexes, change feed),
 * are written once above it (replica/overlay.ts, replica/replica.ts), so an
 * adapter is a couple of hundred lines; `describeStorage` from
 * `tidepool/testing` checks one.
 *
 * Guarantees an adapter gives:
 * - `read(fn)` sees one consistent, committed state for its whole duration.
 * - `write(fn)` is serialized with every other writer of the same data (in
 *   this process and, where the medium is shared, in others); `fn` reads
 *   the state as it is then, and returns the writes, which the adapter
 *   applies atomically before `write` resolves: all of them, with the
 *   adapter's durability, or none if `fn` rejects or the medium fails.
 * - `fn` awaits only the reader it is given: awaiting anything else (timers,
 *   network, another transaction) may end the transaction (IndexedDB) or
 *   deadlock (the others).
 * - Any use after `close()` throws `ClosedError`; `open()` may be called again.
 *
 * Keys order by UTF-16 code unit on every adapter for keys made of characters
 * below U+D800 (SQLite compares UTF-8 bytes, which agrees on that range);
 * callers that need an order encode their keys in it.
 */
export interface Storage {
  /** Short adapter name, for messages and stats: `memory`, `sqlite`, `indexeddb`. */
  readonly kind: string
  /** Opens (creating where missing) the named stores. May be called again after `close()`. */
  open(stores: readonly string[]): Promise<void>
  /** Runs `fn` in a read transaction, over one consistent, committed state; resolves with what it returns. */
  read<T>(fn: (reader: StorageReader) => Promise<T>): Promise<T>
  /** Runs `fn` in a write transaction, serialized with every other writer; applies the `batch` it returns atomically, then resolves with its `result`. */
  write<T>(fn: (reader: StorageReader) => Promise<{ result: T; batch: WriteBatch }>): Promise<T>
  /**
   * Optional: a consistent read of a few keys outside any transaction object,
   * the hot path of `tx.get`, where the medium can serve it more cheaply than
   * a read transaction.
   */
  peek?(store: string, keys: readonly string[]): Promise<unknown[]>
  /**
   * Optional: calls `onChange` soon after another connection (another
   * process, or another database object on the same file) commits; returns a
   * function that stops watching. Without it, changes made elsewhere reach
   * only new reads. Storages that tabs share say so with `shared` instead,
   * and the tabs tell each other (src/tabs).
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
  /**
   * Optional: a token that differs from an earlier one whenever anything
   * may have been committed to the medium between the two calls, by this
   * storage or by any other writer of the same data. Equal tokens mean
   * nothing was: reads made between them saw one state, and need no
   * checking again.
   */
  version?(): string
  /** Closes the medium: any use after it throws `ClosedError`, until `open()` is called again. */
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

/** The order of `scanIndex` entries: by index key, then by the entry's key (as IndexedDB orders a multi-entry index). */
export function byIndexKey(a: readonly [string, string, unknown], b: readonly [string, string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0
}
