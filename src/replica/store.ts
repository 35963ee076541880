import { Overlay, reader, type Reader, type Writer } from './overlay.js'
import type { Storage } from './storage.js'

export type { Reader, Writer } from './overlay.js'

/**
 * A storage adapter as the replica uses it: write transactions go through
 * the one overlay, so every adapter gets reads of its own writes, range
 * deletes and merged scans from the same code.
 */
export class Store {
  constructor(readonly adapter: Storage) {}

  get kind(): string {
    return this.adapter.kind
  }

  get recordIndex(): boolean {
    return this.adapter.recordIndex === true
  }

  get shared(): { channel: string } | undefined {
    return this.adapter.shared
  }

  open(stores: readonly string[]): Promise<void> {
    return this.adapter.open(stores)
  }

  close(): Promise<void> {
    return this.adapter.close()
  }

  read<T>(fn: (r: Reader) => Promise<T>): Promise<T> {
    return this.adapter.read(r => fn(reader(r)))
  }

  /** A write transaction: what `fn` puts and deletes commits atomically when it resolves, nothing of it if it rejects. */
  write<T>(fn: (w: Writer) => Promise<T>): Promise<T> {
    return this.adapter.write(async r => {
      const overlay = new Overlay(r)
      const result = await fn(overlay)
      return { result, batch: overlay.batch() }
    })
  }

  /** A consistent read of a few keys outside a transaction: the adapter's cheapest way. */
  getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    return this.adapter.peek ? this.adapter.peek(store, keys) : this.adapter.read(r => r.getMany(store, keys))
  }

  /** The adapter's version token (see `Storage.version`), where it has one. */
  version(): string | undefined {
    return this.adapter.version?.()
  }

  watch(onChange: () => void): (() => void) | undefined {
    return this.adapter.watch?.(onChange)
  }
}
