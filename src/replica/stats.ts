/** Kinds of async operation whose durations are measured. */
export type OperationKind = 'commit' | 'query' | 'refresh' | 'push' | 'pull' | 'fileSync'

export interface DurationStats {
  count: number
  p50: number
  p95: number
  max: number
}

export interface StatsSnapshot {
  /** Documents a read found in the local replica. */
  cacheHits: number
  /** Documents a read did not find in the local replica. */
  cacheMisses: number
  /** Document writes skipped because the document did not change (whole commits included). */
  writesSkipped: number
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

  snapshot(): StatsSnapshot {
    const operations: StatsSnapshot['operations'] = {}
    for (const [kind, s] of this.samples) {
      const sorted = [...s.recent].sort((a, b) => a - b)
      const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
      operations[kind] = { count: s.count, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1]! }
    }
    return { cacheHits: this.cacheHits, cacheMisses: this.cacheMisses, writesSkipped: this.writesSkipped, operations }
  }
}
