// Commits transactions to a synced SQLite replica until killed; prints "ok N" after each commit returns.
import { writeSync } from 'node:fs'
import { openDatabase } from '../../src/index.js'
import { sqliteStorage } from '../../src/sqlite.js'
import { Entry, Tally } from './crash-models.js'

const [file, url, startArg] = process.argv.slice(2)
const db = await openDatabase({ name: 'crashy', models: [Entry, Tally], storage: sqliteStorage(file!), sync: { url: url!, batchSize: 7 } })
for (let n = Number(startArg); ; n++) {
  await db.run(async tx => {
    tx.create(Entry, { n, payload: 'x'.repeat(100) })
    ;(await tx.get(Tally, 'tally', { createIfMissing: true, track: false })).getField('count').incrementBy(1)
  })
  writeSync(1, `ok ${n}\n`)
  if (n % 5 === 0) await new Promise(r => setTimeout(r, 2))
}
