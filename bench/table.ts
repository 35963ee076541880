/** Prints benchmark rows side by side, with Tidepool's ratio to the baseline. */
export interface Row {
  workload: string
  unit: string
  tidepool: number
  baseline: number
  baselineName: string
  /** true when more is better (throughput), false for latencies */
  higherIsBetter: boolean
  target?: string
}

export function printTable(title: string, rows: Row[]): void {
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(4))
  const lines = rows.map(r => {
    const ratio = r.higherIsBetter ? r.tidepool / r.baseline : r.baseline / r.tidepool
    return [r.workload, `${fmt(r.tidepool)} ${r.unit}`, `${fmt(r.baseline)} ${r.unit} (${r.baselineName})`, `${ratio.toFixed(2)}×`, r.target ?? '']
  })
  const header = ['workload', 'tidepool', 'baseline', 'ratio (speed vs baseline)', 'target']
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map(l => l[i]!.length)))
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  console.log(`\n${title}\n`)
  console.log(row(header))
  console.log(`|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`)
  for (const l of lines) console.log(row(l))
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}
