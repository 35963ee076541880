/**
 * The benchmarks of two checkouts side by side, in one process:
 *
 *   npx tsx bench/compare.ts ../other-checkout [--runs 3]
 *
 * Loads each checkout's own benchmark modules (each over its own src/ and
 * node_modules/), runs them in turn, alternating the two `--runs` times so
 * that a busy moment of the machine falls on both, and prints each figure's
 * median before and after, with the ratio (above 1: this checkout is faster).
 * The other checkout needs its dependencies installed and dist/ built.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { measure, type BenchModules, type Figure } from './figures.js'

const here = resolve(import.meta.dirname, '..')
const other = process.argv[2] ? resolve(process.argv[2]) : ''
const runsAt = process.argv.indexOf('--runs')
const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 3
if (!other || !Number.isInteger(runs) || runs < 1) {
  console.error('usage: npx tsx bench/compare.ts <other checkout> [--runs n]')
  process.exit(2)
}

async function modules(dir: string): Promise<BenchModules> {
  const load = (name: string) => import(pathToFileURL(`${dir}/bench/${name}.ts`).href)
  const [sqlite, queries, sync, files, browser] = await Promise.all(['sqlite', 'queries', 'sync', 'files', 'browser'].map(load))
  return { ...sqlite, ...queries, ...sync, ...files, ...browser } as BenchModules
}

const checkouts = [
  { dir: other, modules: await modules(other), figures: [] as Figure[][] },
  { dir: here, modules: await modules(here), figures: [] as Figure[][] },
]
for (let i = 0; i < runs; i++) {
  for (const c of checkouts) {
    console.error(`run ${i + 1}/${runs}: ${c.dir}`)
    c.figures.push(await measure(c.modules))
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const byWorkload = (list: Figure[][]) => {
  const m = new Map<string, { values: number[]; f: Figure }>()
  for (const run of list) for (const f of run) m.set(f.workload, { values: [...(m.get(f.workload)?.values ?? []), f.value], f })
  return m
}
const [before, after] = checkouts.map(c => byWorkload(c.figures)) as [ReturnType<typeof byWorkload>, ReturnType<typeof byWorkload>]
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2))
console.log(`\nbefore: ${other}\nafter:  ${here}\nmedian of ${runs} alternating runs in one process\n`)
console.log('| workload | before | after | after vs before |')
console.log('|---|---|---|---|')
for (const [workload, a] of after) {
  const b = before.get(workload)
  if (!b) continue
  const [x, y] = [median(b.values), median(a.values)]
  console.log(`| ${workload} | ${fmt(x)} ${a.f.unit} | ${fmt(y)} ${a.f.unit} | ${(a.f.higherIsBetter ? y / x : x / y).toFixed(2)}× |`)
}
// pooled HTTP connections and timers of closed clients must not keep the run alive
process.exit(0)
