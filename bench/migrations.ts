import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { model, openDatabase, S, type JsonObject } from '../dist/index.js'
import { sqliteStorage } from '../dist/sqlite.js'
import type { Row } from './table.js'

const N = 100_000
const RUNS = 9
const fields = { name: S.str, size: S.int, status: S.str.enum('open', 'done') }
class ItemV1 extends model({ collection: 'Item', fields }) {}
/** Version 2: a required colour that a migration gives older documents, set on the copy the migration gets. */
class ItemV2 extends model({ collection: 'Item', fields: { ...fields, colour: S.str } }) {
  static override MIGRATIONS = {
    2: (doc: JsonObject) => {
      doc.colour = doc.status === 'done' ? 'green' : 'red'
    },
  }
}
/** The same migration written as a spread into a new object (which costs about 0.7 µs a document of its own). */
class ItemV2Spread extends model({ collection: 'Item', fields: { ...fields, colour: S.str } }) {
  static override MIGRATIONS = { 2: (doc: JsonObject) => ({ ...doc, colour: doc.status === 'done' ? 'green' : 'red' }) }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/**
 * Opens a copy of the replica and commits one write (what an app does as it
 * starts); returns how long that took, and how long reading every document
 * took. The first write after an open creates SQLite's write-ahead log: a
 * bump pays it while opening (it records the new version), any other open
 * at its first commit, so both figures include it.
 */
async function openAndRead(file: string, version: 1 | 2, Item: typeof ItemV1 | typeof ItemV2 = version === 1 ? ItemV1 : ItemV2): Promise<{ open: number; read: number }> {
  const t0 = performance.now()
  const db = await openDatabase({ name: 'bench', models: [Item], storage: sqliteStorage(file), schemaVersion: version })
  await db.run(tx => void tx.create(Item, { id: 'started', name: 'start', size: 0, status: 'open', ...(version === 2 ? { colour: 'red' } : {}) } as never))
  const open = performance.now() - t0
  const t1 = performance.now()
  const docs = await db.query(Item).fetch()
  let sizes = 0
  for (const d of docs) sizes += d.size
  const read = performance.now() - t1
  if (docs.length !== N + 1 || sizes !== (N * (N - 1)) / 2) throw new Error('read the wrong documents')
  await db.close()
  return { open, read }
}

/**
 * A replica of 100,000 documents written under schema version 1, opened
 * (a) by version 1 again and (b) right after a bump to version 2 with one
 * migration, each on a fresh copy of the same file, alternating, in one run.
 * The model declares no index: with indexes, the first open under a new
 * version also makes their entries again, as when an index is added.
 */
export async function migrationBench(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-migrations-'))
  try {
    const source = join(dir, 'v1.db')
    const db = await openDatabase({ name: 'bench', models: [ItemV1], storage: sqliteStorage(source) })
    for (let i = 0; i < N; i += 1000) {
      await db.run(tx => {
        for (let j = i; j < i + 1000; j++) tx.create(ItemV1, { id: `i${j}`, name: `item ${j}`, size: j, status: j % 3 ? 'open' : 'done' })
      })
    }
    await db.close()
    const figures = { 1: [] as Array<{ open: number; read: number }>, 2: [] as Array<{ open: number; read: number }>, spread: [] as Array<{ open: number; read: number }> }
    for (let run = 0; run < RUNS; run++) {
      for (const variant of [1, 2, 'spread'] as const) {
        const copy = join(dir, `copy-${run}-${variant}.db`)
        copyFileSync(source, copy)
        figures[variant].push(await (variant === 'spread' ? openAndRead(copy, 2, ItemV2Spread) : openAndRead(copy, variant)))
      }
    }
    const at = (variant: 1 | 2 | 'spread', what: 'open' | 'read') => median(figures[variant].map(f => f[what]))
    return [
      { workload: 'open a 100k-doc replica right after a version bump with one migration, and commit', unit: 'ms', tidepool: at(2, 'open'), baseline: at(1, 'open'), baselineName: 'the same without a bump', higherIsBetter: false, target: '≥ 0.83× (within 1.2×)' },
      { workload: 'read all 100k docs through the migration (one query)', unit: 'ms', tidepool: at(2, 'read'), baseline: at(1, 'read'), baselineName: 'read unmigrated', higherIsBetter: false, target: '≥ 0.67× (within 1.5×)' },
      { workload: 'the same, the migration written as a spread', unit: 'ms', tidepool: at('spread', 'read'), baseline: at(1, 'read'), baselineName: 'read unmigrated', higherIsBetter: false },
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
