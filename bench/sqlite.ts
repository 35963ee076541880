import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Model, S, openDatabase } from '../src/index.js'
import { sqliteStorage } from '../src/sqlite.js'
import { percentile, type Row } from './table.js'

class Todo extends Model {
  static override COLLECTION = 'Todo'
  static override FIELDS = { title: S.str, done: S.bool, n: S.int, tags: S.arr(S.str) }
}

const N = 100_000
const CHUNK = 1_000
const docs = Array.from({ length: N }, (_, i) => ({ id: `id${i}`, title: `todo ${i}`, done: i % 2 === 0, n: i, tags: ['a', 'b'] }))

function rawDb(dir: string): Database.Database {
  const db = new Database(join(dir, 'raw.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE docs (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID')
  return db
}

/** (a) import, (b) read-modify-write latency, (c) point reads — Tidepool on SQLite versus raw better-sqlite3. */
export async function sqliteBench(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-'))
  try {
    // raw: the same JSON, the same 1,000 documents per transaction
    const raw = rawDb(dir)
    const insert = raw.prepare('INSERT INTO docs (k, v) VALUES (?, ?)')
    const insertChunk = raw.transaction((chunk: typeof docs) => {
      for (const d of chunk) insert.run(d.id, JSON.stringify(d))
    })
    let t = performance.now()
    for (let i = 0; i < N; i += CHUNK) insertChunk(docs.slice(i, i + CHUNK))
    const rawImport = N / ((performance.now() - t) / 1000)

    const db = await openDatabase({ name: 'bench', models: [Todo], storage: sqliteStorage(join(dir, 'tidepool.db')) })
    t = performance.now()
    for (let i = 0; i < N; i += CHUNK) {
      const chunk = docs.slice(i, i + CHUNK)
      await db.run(tx => {
        for (const d of chunk) tx.create(Todo, d)
      })
    }
    const tpImport = N / ((performance.now() - t) / 1000)

    // (b) one-document read-modify-write transactions
    const ROUNDS = 5_000
    const select = raw.prepare<[string], { v: string }>('SELECT v FROM docs WHERE k = ?')
    const update = raw.prepare('UPDATE docs SET v = ? WHERE k = ?')
    const rmw = raw.transaction((k: string) => {
      const d = JSON.parse(select.get(k)!.v)
      d.n += 1
      update.run(JSON.stringify(d), k)
    })
    const rawLat: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const k = `id${(i * 7919) % N}`
      const s = performance.now()
      rmw(k)
      rawLat.push(performance.now() - s)
    }
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
    rawLat.sort((a, b) => a - b)
    tpLat.sort((a, b) => a - b)

    // (c) point reads by key
    const READS = 50_000
    t = performance.now()
    for (let i = 0; i < READS; i++) JSON.parse(select.get(`id${(i * 31) % N}`)!.v)
    const rawReads = READS / ((performance.now() - t) / 1000)
    t = performance.now()
    await db.run({ readOnly: true }, async tx => {
      for (let i = 0; i < READS; i++) await tx.get(Todo, `id${(i * 31) % N}`, { track: false })
    })
    const tpReads = READS / ((performance.now() - t) / 1000)
    const TXREADS = 10_000
    t = performance.now()
    for (let i = 0; i < TXREADS; i++) await db.run({ readOnly: true }, tx => tx.get(Todo, `id${(i * 31) % N}`))
    const tpTxReads = TXREADS / ((performance.now() - t) / 1000)

    await db.close()
    raw.close()
    return [
      { workload: '(a) import 100k docs, 1,000 per transaction', unit: 'docs/s', tidepool: tpImport, baseline: rawImport, baselineName: 'raw better-sqlite3', higherIsBetter: true, target: '≥ 0.7×' },
      { workload: '(b) 1-doc read-modify-write tx, p50', unit: 'ms', tidepool: percentile(tpLat, 0.5), baseline: percentile(rawLat, 0.5), baselineName: 'raw SELECT+UPDATE tx', higherIsBetter: false, target: '< 0.2 ms' },
      { workload: '(b) 1-doc read-modify-write tx, p99', unit: 'ms', tidepool: percentile(tpLat, 0.99), baseline: percentile(rawLat, 0.99), baselineName: 'raw SELECT+UPDATE tx', higherIsBetter: false },
      { workload: '(c) point reads by key, in one transaction', unit: 'reads/s', tidepool: tpReads, baseline: rawReads, baselineName: 'raw SELECT by key', higherIsBetter: true, target: '≥ 0.7×' },
      { workload: '(c) point reads, one read-only transaction each', unit: 'reads/s', tidepool: tpTxReads, baseline: rawReads, baselineName: 'raw SELECT by key', higherIsBetter: true },
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
