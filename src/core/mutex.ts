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
