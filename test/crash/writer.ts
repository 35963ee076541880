// Commits transactions to a SQLite replica until killed; prints "ok N" after each commit returns.
// Each transaction n creates `size` Batch documents (n, 0..size-1) and counts itself in Total;
// with size 0 it is a one-document read-modify-write of Total alone.
import { writeSync } from 'node:fs'
import { Model, S, openDatabase } from '../../src/index.js'
import { sqliteStorage } from '../../src/sqlite.js'

export class Batch extends Model {
  static override COLLECTION = 'Batch'
  static override KEY = { n: S.int, i: S.int }
  static override FIELDS = { payload: S.str }
}
export class Total extends Model {
  static override COLLECTION = 'Total'
  static override FIELDS = { batches: S.int.default(0), last: S.int.default(-1) }
}

const [file, startArg, sizeArg] = process.argv.slice(2)
const size = Number(sizeArg)
const db = await openDatabase({ name: 'crash', models: [Batch, Total], storage: sqliteStorage(file!) })
for (let n = Number(startArg); ; n++) {
  await db.run(async tx => {
    const total = await tx.get(Total, 'total', { createIfMissing: true })
    total.batches = total.batches + 1
    total.last = n
    for (let i = 0; i < size; i++) tx.create(Batch, { n, i, payload: 'x'.repeat(200) })
  })
  writeSync(1, `ok ${n}\n`)
}
