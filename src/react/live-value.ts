/**
 * A value kept by a subscription to Tidepool, in the shape
 * `useSyncExternalStore` reads: the subscription opens with the first
 * component and closes after the last. It closes a microtask late, so
 * Strict Mode's unmount-and-mount of the same component keeps it (and its
 * value) rather than reading everything again.
 */
export class LiveValue<T> {
  private value: T | undefined
  private close: (() => void) | undefined
  private readonly listeners = new Set<() => void>()

  constructor(private readonly open: (set: (value: T) => void) => () => void) {}

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    this.close ??= this.open(value => {
      this.value = value
      for (const l of this.listeners) l()
    })
    return () => {
      this.listeners.delete(listener)
      queueMicrotask(() => {
        if (this.listeners.size || !this.close) return
        this.close()
        this.close = undefined
      })
    }
  }

  /** The last value, the same object until a new one comes: React compares it by identity. */
  readonly get = (): T | undefined => this.value
}
