import type { FilesBench } from './files.js'
import type { SyncRow } from './sync.js'
import type { Row } from './table.js'

/** One measured figure of Tidepool's, as `bench/compare.ts` compares them across checkouts. */
export interface Figure {
  workload: string
  value: number
  unit: string
  higherIsBetter: boolean
}

/** What a checkout's benchmark modules export (the same in every checkout since the benchmarks began). */
export interface BenchModules {
  sqliteBench(): Promise<Row[]>
  queryBench(): Promise<Row[]>
  syncBench(): Promise<SyncRow[]>
  filesBench(): Promise<FilesBench>
  browserBench(): Promise<{ rows: Row[]; crossTab: { p50: number; p95: number } }>
}

/** Runs every benchmark of one checkout and returns Tidepool's figures. */
export async function measure(m: BenchModules): Promise<Figure[]> {
  const figures: Figure[] = []
  const keep = (section: string, rows: Row[]) => {
    for (const r of rows) figures.push({ workload: `${section}: ${r.workload}`, value: r.tidepool, unit: r.unit, higherIsBetter: r.higherIsBetter })
  }
  keep('sqlite', await m.sqliteBench())
  keep('queries', await m.queryBench())
  for (const r of await m.syncBench()) {
    // the figure is the value's leading number: latencies and sizes are better low, rates high
    const match = /^([\d.]+) ([^\s,]+)/.exec(r.value)
    if (match && !r.workload.startsWith('(e)')) figures.push({ workload: `sync: ${r.workload}`, value: Number(match[1]), unit: match[2]!, higherIsBetter: !/^(ms|KiB|B)$/.test(match[2]!) })
  }
  const files = await m.filesBench()
  figures.push({ workload: 'files: merge 100,000 mutations from 10 folders', value: files.mutationsPerSecond, unit: 'mutations/s', higherIsBetter: true })
  figures.push({ workload: 'files: bytes read by a sync when nothing changed', value: files.bytesWhenNothingChanged, unit: 'B', higherIsBetter: false })
  const browser = await m.browserBench()
  keep('browser', browser.rows)
  figures.push({ workload: 'browser: cross-tab latency, p50', value: browser.crossTab.p50, unit: 'ms', higherIsBetter: false })
  return figures
}
