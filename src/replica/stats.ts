import type { JsonObject } from '../core/json.js'

/** Kinds of async operation whose durations are measured. */
export type OperationKind = 'commit' | 'query' | 'refresh' | 'push' | 'pull' | 'fileSync'

/** How long operations of one kind took, in ms: the median, 95th percentile and longest of the last 1,000, and how many ran in all. */
export interface DurationStats {
  count: number
  p50: number
  p95: number
  max: number
}

/** A stored document this app version cannot read. */
export interface AsideDoc {
  collection: string
  id: string
  /** Why, naming the field at fault. */
  reason: string
  /** The document as stored (kept unchanged). */
  stored: JsonObject
}

/** What `db.stats()` reports: reads served by the replica, writes skipped, kept-aside documents and operation durations. */
export interface StatsSnapshot {
  /** Documents a read found in the local replica. */
  cacheHits: number
  /** Documents a read did not find in the local replica. */
  cacheMisses: number
  /** Document writes skipped because the document did not change (whole commits included). */
  writesSkipped: number
  /** Documents met since open that this app version cannot read (kept aside, unchanged), by collection. */
  keptAside: Record<string, number>
  /** Durations in milliseconds, over the last 1,000 operations of each kind (count: all of them). */
  operations: Partial<Record<OperationKind, DurationStats>>
}

const WINDOW = 1000

/** Counters and duration percentiles; `debug` logs operations slower than `slowMs`. */
export class Stats {
  cacheHits = 0
  cacheMisses = 0
  writesSkipped = 0
  private readonly samples = new Map<OperationKind, { count: number; recent: number[] }>()
  /** Kept-aside documents met, by document key, with why. */
  private readonly aside = new Map<string, AsideDoc>()

  constructor(
    private readonly debug: { slowMs: number; log: (line: string) => void } | undefined,
  ) {}

  record(kind: OperationKind, ms: number, detail?: () => string): void {
    let s = this.samples.get(kind)
    if (!s) this.samples.set(kind, (s = { count: 0, recent: [] }))
    s.recent[s.count % WINDOW] = ms
    s.count++
    if (this.debug && ms >= this.debug.slowMs) this.debug.log(`tidepool: slow ${kind} ${ms.toFixed(1)} ms${detail ? `: ${detail()}` : ''}`)
  }

  /** Counts a kept-aside document; true the first time it is met for this reason. */
  keepAside(doc: AsideDoc): boolean {
    const key = `${doc.collection}\0${doc.id}`
    if (this.aside.get(key)?.reason === doc.reason) return false
    this.aside.set(key, doc)
    return true
  }

  /** A document that was kept aside has been read: it no longer counts. */
  readable(collection: string, id: string): void {
    if (this.aside.size) this.aside.delete(`${collection}\0${id}`)
  }

  /** The kept-aside documents met so far. */
  keptAside(): AsideDoc[] {
    return [...this.aside.values()]
  }

  snapshot(): StatsSnapshot {
    const keptAside: Record<string, number> = {}
    for (const { collection } of this.aside.values()) keptAside[collection] = (keptAside[collection] ?? 0) + 1
    const operations: StatsSnapshot['operations'] = {}
    for (const [kind, s] of this.samples) {
      const sorted = [...s.recent].sort((a, b) => a - b)
      const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
      operations[kind] = { count: s.count, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1]! }
    }
    return { cacheHits: this.cacheHits, cacheMisses: this.cacheMisses, writesSkipped: this.writesSkipped, keptAside, operations }
  }
}
