import { unref } from '../core/backoff.js'
import { InvalidOptionsError } from '../core/errors.js'
import type { Compaction, ServerStore } from './store.js'

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `30d`, `12h`, `90m`, `45s` (or milliseconds as a number): how long history is kept. */
export function parseKeep(option: string, value: string | number): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value
  } else {
    const m = /^(\d+)\s*([smhd])$/.exec(value.trim())
    if (m) return Number(m[1]) * UNITS[m[2]!]!
  }
  throw new InvalidOptionsError(option, `takes a duration such as 30d, 12h, 90m or 45s (or milliseconds), got ${JSON.stringify(value)}`)
}

/** How often a server that keeps a bounded history compacts it. */
export const COMPACT_EVERY_MS = 3_600_000

/**
 * Compacts now and then every `every` ms, keeping `keepMs` of history.
 * Several servers on one database may all do it: a compaction that finds
 * nothing old enough does nothing. Returns the stop.
 */
export function compactEvery(store: ServerStore, keepMs: number, onDone: (c: Compaction) => void, onError: (e: unknown) => void, every = COMPACT_EVERY_MS): () => void {
  let running = false
  const run = () => {
    if (running) return
    running = true
    store
      .compact(keepMs)
      .then(onDone, onError)
      .finally(() => (running = false))
  }
  run()
  const timer = unref(setInterval(run, every))
  return () => clearInterval(timer)
}
