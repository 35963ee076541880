import { cpus } from 'node:os'
import { browserBench } from './browser.js'
import { filesBench, printFilesBench } from './files.js'
import { migrationBench } from './migrations.js'
import { queryBench } from './queries.js'
import { realmBench } from './realms.js'
import { sqliteBench } from './sqlite.js'
import { printSyncTable, syncBench } from './sync.js'
import { printTable } from './table.js'

console.log(`Tidepool benchmarks — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`)
printTable('SQLite replica (Node) versus raw better-sqlite3, same run', await sqliteBench())
printTable('Queries and live queries (SQLite replica) versus raw SQLite and TinyBase, same run', await queryBench())
printTable('Schema migrations (SQLite replica): after a version bump versus without one, same run', await migrationBench())
printSyncTable(await syncBench())
printFilesBench(await filesBench())
const realms = await realmBench()
printTable('Realms: a user syncs only their realms, and pushes are checked (server on SQLite), same run', realms.rows)
console.log(
  `\nRealm fan-out, 1,000 sockets connected: a write to a realm of 10 members reaches a member's live callback in p50 ${realms.fanOut.p50.toFixed(1)} ms (target ≤ 10 ms); ` +
    `pokes to the 990 sockets of non-members: ${realms.fanOut.strayPokes} (target 0)`,
)
const browser = await browserBench()
printTable('In Chromium (IndexedDB): Tidepool versus raw IndexedDB and Dexie, same run', browser.rows)
console.log(`\nCross-tab latency, db.run in tab A to the live callback in tab B: p50 ${browser.crossTab.p50.toFixed(1)} ms, p95 ${browser.crossTab.p95.toFixed(1)} ms`)
// pooled HTTP connections and timers of closed clients must not keep the run alive
process.exit(0)
