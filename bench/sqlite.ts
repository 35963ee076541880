import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Model, S, openDatabase, type Database as Database_ } from '../dist/index.js'
import { sqliteStorage } from '../dist/sqlite.js'
import { percentile, type Row } from './table.js'

class Todo extends Model {
  static override COLLECTION = 'Todo'
  static override FIELDS = { title: S.str, done: S.bool, n: S.int, tags: S.arr(S.str) }
}

const N = 100_000
const CHUNK = 1_000
const ROUNDS = 5_000
const READS = 50_000
const docs = Array.from({ length: N }, (_, i) => ({ id: `id${i}`, title: `todo ${i}`, done: i % 2 === 0, n: i, tags: ['a', 'b'] }))

/**
 * Raw better-sqlite3 as a hand-written app would use it (WAL,
 * synchronous=NORMAL). `reference` is the plain layout (a rowid table with a
 * TEXT primary key); `withoutRowid` the faster layout Tidepool itself uses.
 */
function rawDb(dir: string, layout: 'reference' | 'withoutRowid'): Database.Database {
  const db = new Database(join(dir, `raw-${layout}.db`))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`CREATE TABLE docs (k TEXT PRIMARY KEY, v TEXT NOT NULL)${layout === 'withoutRowid' ? ' WITHOUT ROWID' : ''}`)
  return db
}

interface RawFigures {
  importRate: number
  rmw: number[]
  readRate: number
}

/** Imports the documents into a fresh raw table; returns docs/s and the open database. */
function rawImport(dir: string, layout: 'reference' | 'withoutRowid'): { rate: number; raw: Database.Database } {
  rmSync(join(dir, `raw-${layout}.db`), { force: true })
  rmSync(join(dir, `raw-${layout}.db-wal`), { force: true })
  const raw = rawDb(dir, layout)
  const insert = raw.prepare('INSERT INTO docs (k, v) VALUES (?, ?)')
  const insertChunk = raw.transaction((chunk: typeof docs) => {
    for (const d of chunk) insert.run(d.id, JSON.stringify(d))
  })
  const t = performance.now()
  for (let i = 0; i < N; i += CHUNK) insertChunk(docs.slice(i, i + CHUNK))
  return { rate: N / ((performance.now() - t) / 1000), raw }
}

async function tidepoolImport(dir: string, run: number): Promise<{ rate: number; db: Database_ }> {
  const db = await openDatabase({ name: 'bench', models: [Todo], storage: sqliteStorage(join(dir, `tidepool-${run}.db`)) })
  const t = performance.now()
  for (let i = 0; i < N; i += CHUNK) {
    const chunk = docs.slice(i, i + CHUNK)
    await db.run(tx => {
      for (const d of chunk) tx.create(Todo, d)
    })
  }
  return { rate: N / ((performance.now() - t) / 1000), db }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** The raw side of (b) and (c) on one table layout, over an imported table. */
function rawWorkloads(raw: Database.Database, importRate: number): RawFigures {
  const select = raw.prepare<[string], { v: string }>('SELECT v FROM docs WHERE k = ?')
  const update = raw.prepare('UPDATE docs SET v = ? WHERE k = ?')
  const rmwTx = raw.transaction((k: string) => {
    const d = JSON.parse(select.get(k)!.v)
    d.n += 1
    update.run(JSON.stringify(d), k)
  })
  const rmw: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const s = performance.now()
    rmwTx(`id${(i * 7919) % N}`)
    rmw.push(performance.now() - s)
  }
  rmw.sort((a, b) => a - b)

  const t = performance.now()
  for (let i = 0; i < READS; i++) JSON.parse(select.get(`id${(i * 31) % N}`)!.v)
  const readRate = READS / ((performance.now() - t) / 1000)
  raw.close()
  return { importRate, rmw, readRate }
}

/** (a) import, (b) read-modify-write latency, (c) point reads — Tidepool on SQLite versus raw better-sqlite3. */
export async function sqliteBench(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-'))
  try {
    // (a) three imports of each, alternating, on fresh files: the median of each
    const rates = { ref: [] as number[], fast: [] as number[], tidepool: [] as number[] }
    let db!: Database_
    let refRaw!: Database.Database
    let fastRaw!: Database.Database
    for (let run = 0; run < 3; run++) {
      const r = rawImport(dir, 'reference')
      const f = rawImport(dir, 'withoutRowid')
      const tp = await tidepoolImport(dir, run)
      rates.ref.push(r.rate)
      rates.fast.push(f.rate)
      rates.tidepool.push(tp.rate)
      if (run < 2) {
        r.raw.close()
        f.raw.close()
        await tp.db.close()
      } else {
        ;[refRaw, fastRaw, db] = [r.raw, f.raw, tp.db]
      }
    }
    const ref = rawWorkloads(refRaw, median(rates.ref))
    const fast = rawWorkloads(fastRaw, median(rates.fast))
    const tpImport = median(rates.tidepool)

    // (b) one-document read-modify-write transactions
    const tpLat: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const k = `id${(i * 7919) % N}`
      const s = performance.now()
      await db.run(async tx => {
        const todo = await tx.get(Todo, k)
        todo!.n += 1
      })
      tpLat.push(performance.now() - s)
    }
    tpLat.sort((a, b) => a - b)

    // (c) point reads by key
    let t = performance.now()
    await db.run({ readOnly: true }, async tx => {
      for (let i = 0; i < READS; i++) await tx.get(Todo, `id${(i * 31) % N}`, { track: false })
    })
    const tpReads = READS / ((performance.now() - t) / 1000)
    const TXREADS = 10_000
    t = performance.now()
    for (let i = 0; i < TXREADS; i++) await db.run({ readOnly: true }, tx => tx.get(Todo, `id${(i * 31) % N}`))
    const tpTxReads = TXREADS / ((performance.now() - t) / 1000)
    // as an app reads: 100 documents a read-only transaction, each read tracked (the transaction checks they saw one state)
    t = performance.now()
    for (let r = 0; r < READS / 100; r++) {
      await db.run({ readOnly: true }, async tx => {
        for (let i = 0; i < 100; i++) await tx.get(Todo, `id${((r * 100 + i) * 31) % N}`)
      })
    }
    const tpHundredReads = READS / ((performance.now() - t) / 1000)

    await db.close()
    const refName = 'raw, rowid table'
    const fastName = 'raw, WITHOUT ROWID'
    return [
      { workload: '(a) import 100k docs, 1,000 per transaction', unit: 'docs/s', tidepool: tpImport, baseline: ref.importRate, baselineName: refName, higherIsBetter: true, target: '≥ 0.7×' },
      { workload: '(a) import, against the faster raw layout', unit: 'docs/s', tidepool: tpImport, baseline: fast.importRate, baselineName: fastName, higherIsBetter: true },
      { workload: '(b) 1-doc read-modify-write tx, p50', unit: 'ms', tidepool: percentile(tpLat, 0.5), baseline: percentile(ref.rmw, 0.5), baselineName: refName, higherIsBetter: false, target: '< 0.2 ms' },
      { workload: '(b) 1-doc read-modify-write tx, p99', unit: 'ms', tidepool: percentile(tpLat, 0.99), baseline: percentile(ref.rmw, 0.99), baselineName: refName, higherIsBetter: false },
      { workload: '(c) point reads by key, in one transaction', unit: 'reads/s', tidepool: tpReads, baseline: ref.readRate, baselineName: refName, higherIsBetter: true, target: '≥ 0.7×' },
      { workload: '(c) point reads, 100 per read-only transaction', unit: 'reads/s', tidepool: tpHundredReads, baseline: ref.readRate, baselineName: refName, higherIsBetter: true, target: '≥ 0.8×' },
      { workload: '(c) point reads, one read-only transaction each', unit: 'reads/s', tidepool: tpTxReads, baseline: ref.readRate, baselineName: refName, higherIsBetter: true },
      { workload: '(c) point reads, against the faster raw layout', unit: 'reads/s', tidepool: tpReads, baseline: fast.readRate, baselineName: fastName, higherIsBetter: true },
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
