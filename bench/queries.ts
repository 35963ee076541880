import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createQueries, createStore } from 'tinybase'
import { Model, S, openDatabase } from '../dist/index.js'
import { sqliteStorage } from '../dist/sqlite.js'
import { percentile, type Row } from './table.js'

class Item extends Model {
  static override COLLECTION = 'Item'
  static override FIELDS = { title: S.str, n: S.int }
  static override INDEXES = [['n']]
}

class LoopRow extends Model {
  static override COLLECTION = 'Row'
  static override FIELDS = { g: S.int, v: S.int, title: S.str }
  static override INDEXES = [['g']]
}

const N = 100_000
const QUERIES = 500

/** (a) a range query returning 100 of 100,000 documents: Tidepool's index versus a raw SQLite expression index. */
async function rangeQuery(dir: string): Promise<Row[]> {
  const docs = Array.from({ length: N }, (_, i) => ({ id: `id${i}`, title: `item ${i}`, n: i }))
  const raw = new Database(join(dir, 'raw-range.db'))
  raw.pragma('journal_mode = WAL')
  raw.exec("CREATE TABLE docs (k TEXT PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX docs_n ON docs (json_extract(v, '$.n'))")
  const insert = raw.prepare('INSERT INTO docs VALUES (?, ?)')
  raw.transaction(() => docs.forEach(d => insert.run(d.id, JSON.stringify(d))))()
  const select = raw.prepare<[number, number], { v: string }>("SELECT v FROM docs WHERE json_extract(v, '$.n') >= ? AND json_extract(v, '$.n') < ? ORDER BY json_extract(v, '$.n')")

  const db = await openDatabase({ name: 'range', models: [Item], storage: sqliteStorage(join(dir, 'tidepool-range.db')) })
  for (let i = 0; i < N; i += 5000) {
    const chunk = docs.slice(i, i + 5000)
    await db.run(tx => chunk.forEach(d => tx.create(Item, d)))
  }
  const starts = Array.from({ length: QUERIES }, (_, i) => (i * 7919) % (N - 100))
  const rawLat: number[] = []
  const tpLat: number[] = []
  for (let round = 0; round < 2; round++) {
    for (const s of starts) {
      let t = performance.now()
      const rows = select.all(s, s + 100).map(r => JSON.parse(r.v))
      rawLat.push(performance.now() - t)
      t = performance.now()
      const hits = await db.query(Item).where('n', '>=', s).where('n', '<', s + 100).fetch()
      tpLat.push(performance.now() - t)
      if (rows.length !== 100 || hits.length !== 100) throw new Error('range query returned the wrong count')
    }
  }
  await db.close()
  raw.close()
  rawLat.sort((a, b) => a - b)
  tpLat.sort((a, b) => a - b)
  return [
    { workload: '(a) range query, 100 of 100k docs, p50', unit: 'ms', tidepool: percentile(tpLat, 0.5), baseline: percentile(rawLat, 0.5), baselineName: 'raw SQLite expression index', higherIsBetter: false, target: '≥ 0.5×' },
    { workload: '(a) range query, 100 of 100k docs, p95', unit: 'ms', tidepool: percentile(tpLat, 0.95), baseline: percentile(rawLat, 0.95), baselineName: 'raw SQLite expression index', higherIsBetter: false },
  ]
}

const ROWS = 100_000
const GROUPS = 100
const ROUNDS = 300

/** (b) the reactive loop: 100 live queries over 100k rows, 5 affected by each write (TinyBase beside it). */
async function reactiveTidepool(dir: string): Promise<number[]> {
  const db = await openDatabase({ name: 'loop', models: [LoopRow], storage: sqliteStorage(join(dir, 'tidepool-loop.db')) })
  // in transactions of 1,000: one mutation of 100k documents is past the size a mutation may have
  for (let from = 0; from < ROWS; from += 1000) {
    await db.run(tx => {
      for (let i = from; i < from + 1000; i++) tx.create(LoopRow, { id: `r${i}`, g: i % GROUPS, v: i, title: `todo ${i}` })
    })
  }
  let pending = 0
  let done: () => void = () => undefined
  const ready: Array<Promise<void>> = []
  for (let g = 0; g < GROUPS; g++) {
    let first = true
    ready.push(
      new Promise(resolve =>
        db.query(LoopRow).where('g', '==', g).subscribe(() => {
          if (first) return ((first = false), resolve())
          if (--pending === 0) done()
        }),
      ),
    )
  }
  await Promise.all(ready)
  const lat: number[] = []
  for (let k = 0; k < ROUNDS; k++) {
    const settled = new Promise<void>(r => (done = r))
    pending = 5
    const t = performance.now()
    await db.run(tx => {
      for (let j = 0; j < 5; j++) {
        const g = (k * 5 + j) % GROUPS
        tx.updateWithoutRead(LoopRow, { id: `r${g + GROUPS * (k % 50)}`, v: -(k + 1) * 1000 - j })
      }
    })
    await settled
    lat.push(performance.now() - t)
  }
  await db.close()
  return lat.sort((a, b) => a - b)
}

async function reactiveTinyBase(): Promise<number[]> {
  const store = createStore()
  store.transaction(() => {
    for (let i = 0; i < ROWS; i++) store.setRow('t', `r${i}`, { g: i % GROUPS, v: i, title: `todo ${i}` })
  })
  const queries = createQueries(store)
  let pending = 0
  let done: () => void = () => undefined
  for (let g = 0; g < GROUPS; g++) {
    queries.setQueryDefinition(`q${g}`, 't', ({ select, where }) => {
      select('v')
      select('title')
      where('g', g)
    })
    queries.addResultTableListener(`q${g}`, () => {
      if (--pending === 0) done()
    })
  }
  const lat: number[] = []
  for (let k = 0; k < ROUNDS; k++) {
    const settled = new Promise<void>(r => (done = r))
    pending = 5
    const t = performance.now()
    store.transaction(() => {
      for (let j = 0; j < 5; j++) {
        const g = (k * 5 + j) % GROUPS
        store.setCell('t', `r${g + GROUPS * (k % 50)}`, 'v', -(k + 1) * 1000 - j)
      }
    })
    await settled
    lat.push(performance.now() - t)
  }
  return lat.sort((a, b) => a - b)
}

export async function queryBench(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-q-'))
  try {
    const range = await rangeQuery(dir)
    const tp = await reactiveTidepool(dir)
    const tb = await reactiveTinyBase()
    return [
      ...range,
      { workload: '(b) reactive loop, commit → last callback, p50', unit: 'ms', tidepool: percentile(tp, 0.5), baseline: percentile(tb, 0.5), baselineName: 'TinyBase, in memory', higherIsBetter: false, target: '≤ 1 ms' },
      { workload: '(b) reactive loop, commit → last callback, p95', unit: 'ms', tidepool: percentile(tp, 0.95), baseline: percentile(tb, 0.95), baselineName: 'TinyBase, in memory', higherIsBetter: false, target: '≤ 3 ms' },
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
