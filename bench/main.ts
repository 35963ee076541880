import { cpus } from 'node:os'
import { queryBench } from './queries.js'
import { sqliteBench } from './sqlite.js'
import { printSyncTable, syncBench } from './sync.js'
import { printTable } from './table.js'

console.log(`Tidepool benchmarks — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`)
printTable('SQLite replica (Node) versus raw better-sqlite3, same run', await sqliteBench())
printTable('Queries and live queries (SQLite replica) versus raw SQLite and TinyBase, same run', await queryBench())
printSyncTable(await syncBench())
// pooled HTTP connections and timers of closed clients must not keep the run alive
process.exit(0)
