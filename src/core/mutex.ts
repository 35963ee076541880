/** Serializes async critical sections in one process. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve()
  private pending = 0

  /** Nothing holds or waits for the lock: a synchronous section may run right now. */
  get idle(): boolean {
    return this.pending === 0
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++
    const result = this.tail.then(fn)
    this.tail = result.then(
      () => void this.pending--,
      () => void this.pending--,
    )
    return result
  }
}

/** What `transaction` needs of a SQL connection: its BEGIN, COMMIT and ROLLBACK, and whether a transaction is open. */
export interface SqlConnection {
  begin(kind: 'deferred' | 'immediate'): void
  commit(): void
  rollback(): void
  readonly inTransaction: boolean
  /** Where the commit's flush to disk runs off the event loop: awaited after COMMIT with the connection still held, so nothing reads a commit before it is durable. */
  flushed?(): Promise<void>
}

/**
 * Runs `fn` in one transaction on a single connection (better-sqlite3's, in
 * the replica and in the server): after every other use of the connection
 * queued on `mutex`, committed when `fn` resolves, rolled back when it throws.
 */
export function transaction<T>(mutex: Mutex, conn: () => SqlConnection, kind: 'deferred' | 'immediate', fn: () => Promise<T>): Promise<T> {
  return mutex.run(async () => {
    const c = conn()
    c.begin(kind)
    try {
      const result = await fn()
      c.commit()
      await c.flushed?.()
      return result
    } catch (e) {
      if (c.inTransaction) c.rollback()
      throw e
    }
  })
}
