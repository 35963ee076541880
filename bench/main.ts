import { cpus } from 'node:os'
import { browserBench } from './browser.js'
import { checkpointBench, filesBench, printCheckpointBench, printFilesBench } from './files.js'
import { migrationBench } from './migrations.js'
import { queryBench } from './queries.js'
import { realmBench } from './realms.js'
import { activeBench, connectionsBench, ingestBench, instancesBench, resyncBench } from './scale.js'
import { sqliteBench } from './sqlite.js'
import { printSyncTable, syncBench } from './sync.js'
import { printTable } from './table.js'

console.log(`Tidepool benchmarks — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`)
printTable('SQLite replica (Node) versus raw better-sqlite3, same run', await sqliteBench())
printTable('Queries and live queries (SQLite replica) versus raw SQLite and TinyBase, same run', await queryBench())
printTable('Schema migrations (SQLite replica): after a version bump versus without one, same run', await migrationBench())
printSyncTable(await syncBench())
printFilesBench(await filesBench())
printCheckpointBench(await checkpointBench())
const realms = await realmBench()
printTable('Realms: a user syncs only their realms, and pushes are checked (server on SQLite), same run', realms.rows)
console.log(
  `\nRealm fan-out, 1,000 sockets connected: a write to a realm of 10 members reaches a member's live callback in p50 ${realms.fanOut.p50.toFixed(1)} ms (target ≤ 10 ms); ` +
    `pokes to the 990 sockets of non-members: ${realms.fanOut.strayPokes} (target 0)`,
)
printTable('Group commit: pushes from 100 concurrent clients versus one client alone (server a process of its own), same run', await ingestBench())
const across = await instancesBench()
console.log(
  across
    ? `\nAcross instances (three tidepool serve on one PostgreSQL, 100 clients each): a write through A reaches a client of C's live callback in p50 ${across.p50.toFixed(1)} ms (target ≤ 15 ms), p99 ${across.p99.toFixed(1)} ms (target ≤ 50 ms)`
    : '\nAcross instances: skipped, no PostgreSQL answers',
)
const seconds = Number(process.env.TIDEPOOL_BENCH_ACTIVE_SECONDS ?? 120)
const active = await activeBench(1000, 20, seconds)
console.log(
  `\n1,000 live clients, 20 writing (${active.writes} writes in ${seconds} s): propagation p50 ${active.p50.toFixed(0)} ms (target ≤ 20 ms), p99 ${active.p99.toFixed(0)} ms (target ≤ 100 ms); ` +
    `pulls per push ${active.pullsPerPush.toFixed(2)} (target ≤ 1.2; the pusher's own pull for its acknowledgement is 1)`,
)
const idle = Number(process.env.TIDEPOOL_BENCH_IDLE_SECONDS ?? 300)
const held = await connectionsBench(10_000, idle)
console.log(
  `\n10,000 idle sockets on one instance (SQLite): ${(held.perSocketBytes / 1024).toFixed(1)} KiB of server memory each, ${(held.growthBytes / 1024 / 1024).toFixed(1)} MiB more after ${idle} s idle (target: flat), ` +
    `a health check answered in ${held.healthMs.toFixed(1)} ms meanwhile, a poke reached all of them in ${held.fanOutMs.toFixed(0)} ms (${held.refused} refused)`,
)
printTable('Resync after compaction versus an initial sync, same run', [await resyncBench(100_000)])
const browser = await browserBench()
printTable('In Chromium (IndexedDB): Tidepool versus raw IndexedDB and Dexie, same run', browser.rows)
console.log(`\nCross-tab latency, db.run in tab A to the live callback in tab B: p50 ${browser.crossTab.p50.toFixed(1)} ms, p95 ${browser.crossTab.p95.toFixed(1)} ms`)
// pooled HTTP connections and timers of closed clients must not keep the run alive
process.exit(0)
