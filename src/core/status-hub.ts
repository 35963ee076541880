/** A set of listeners for one kind of event. */
export class Listeners<T> {
  private readonly set = new Set<(value: T) => void>()

  add(listener: (value: T) => void): () => void {
    this.set.add(listener)
    return () => this.set.delete(listener)
  }

  emit(value: T): void {
    for (const l of [...this.set]) l(value)
  }
}

/** A status that listeners follow: told it at once when they subscribe, then after every change. */
export class StatusHub<S extends object> {
  private readonly listeners = new Listeners<S>()

  constructor(private value: S) {}

  get current(): S {
    return this.value
  }

  /** Changes some fields; listeners hear of it only when something changed. */
  set(change: Partial<S>): void {
    for (const k in change) {
      const [was, now] = [this.value[k], change[k]]
      if (Object.is(was, now) || (typeof was === 'object' && typeof now === 'object' && JSON.stringify(was) === JSON.stringify(now))) continue
      return this.replace({ ...this.value, ...change })
    }
  }

  /** Takes a whole status (another tab's, say). */
  replace(next: S): void {
    this.value = next
    this.listeners.emit(next)
  }

  subscribe(listener: (s: S) => void): () => void {
    const stop = this.listeners.add(listener)
    listener(this.value)
    return stop
  }
}

/** Callers waiting for a result by id (the server's verdict on a mutation), settled or failed from elsewhere. */
export class Waiters<V> {
  private readonly map = new Map<string, { resolve: (v: V) => void; reject: (e: unknown) => void }>()

  wait(id: string): Promise<V> {
    return new Promise((resolve, reject) => this.map.set(id, { resolve, reject }))
  }

  ids(): IterableIterator<string> {
    return this.map.keys()
  }

  settle(id: string, value: V): void {
    this.map.get(id)?.resolve(value)
    this.map.delete(id)
  }

  fail(id: string, error: unknown): void {
    this.map.get(id)?.reject(error)
    this.map.delete(id)
  }

  failAll(error: unknown): void {
    for (const w of this.map.values()) w.reject(error)
    this.map.clear()
  }
}
