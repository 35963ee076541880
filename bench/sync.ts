import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { Model, S, memoryStorage, openDatabase, type Database } from '../dist/index.js'
import { createServer, type TidepoolServer } from '../dist/server.js'
import { sqliteStorage } from '../dist/sqlite.js'
import { httpTransport, type Transport } from '../dist/sync/index.js'
import { PROTOCOL_VERSION } from '../dist/protocol/messages.js'
import { pouchInitialSync } from './pouch.js'
import { serve } from './serve.js'
import { percentile } from './table.js'

class Doc extends Model {
  static override COLLECTION = 'Doc'
  static override FIELDS = { title: S.str, n: S.int, done: S.bool }
  static override INDEXES = [['n']]
}

export interface SyncRow {
  workload: string
  value: string
  target?: string
}

/** Counts the bytes of the JSON bodies a transport receives. */
function counting(url: string): { transport: Transport; received: () => number } {
  const base = httpTransport(url)
  let bytes = 0
  const count = <T>(x: T) => ((bytes += Buffer.byteLength(JSON.stringify(x))), x)
  return {
    transport: { push: async r => count(await base.push(r)), pull: async r => count(await base.pull(r)), socketUrl: () => base.socketUrl() },
    received: () => bytes,
  }
}

async function load(server: TidepoolServer, n: number, perMutation: number, name: string): Promise<{ seconds: number; received: number; db: Database }> {
  const c = counting(server.url)
  const db = await openDatabase({ name, models: [Doc], storage: memoryStorage(), sync: { url: server.url, transport: c.transport, socket: false, pollInterval: 3_600_000 } })
  const start = performance.now()
  for (let i = 0; i < n; i += perMutation) {
    await db.run(tx => {
      for (let j = i; j < Math.min(n, i + perMutation); j++) tx.create(Doc, { id: `${name}-${j}`, title: `document ${j}`, n: j, done: j % 2 === 0 })
    })
  }
  await db.sync!.syncNow()
  const { phase, pending, lastError } = db.sync!.status
  if (phase !== 'in-sync' || pending) throw new Error(`load did not sync: ${phase}, ${pending} pending, ${lastError}`)
  return { seconds: (performance.now() - start) / 1000, received: c.received(), db }
}

async function propagation(server: TidepoolServer, clients: number): Promise<number[]> {
  const dbs: Database[] = []
  for (let i = 0; i < clients; i++) dbs.push(await openDatabase({ name: `p${i}`, models: [Doc], storage: memoryStorage(), sync: { url: server.url } }))
  const [a, b] = [dbs[0]!, dbs[1]!]
  await a.run(tx => void tx.create(Doc, { id: 'hot', title: 'hot', n: 0, done: false }))
  await a.sync!.syncNow()
  let resolveSeen: (n: number) => void = () => undefined
  b.watch(Doc, 'hot', doc => doc && resolveSeen(doc.n))
  await new Promise(r => setTimeout(r, 500))
  const lat: number[] = []
  for (let k = 1; k <= 200; k++) {
    const seen = new Promise<void>(r => (resolveSeen = n => n === k && r()))
    const t = performance.now()
    await a.run(tx => tx.updateWithoutRead(Doc, { id: 'hot', n: k }))
    await seen
    lat.push(performance.now() - t)
  }
  for (const db of dbs) await db.close()
  return lat.sort((x, y) => x - y)
}

async function ingest(server: TidepoolServer, mutations: number): Promise<number> {
  const { seconds, db } = await load(server, mutations, 1, `ingest-${server.store.kind}`)
  await db.close()
  return mutations / seconds
}

/** Pushes `n` documents to the server at `url` as one client, 1,000 per mutation: the data a fresh replica then syncs. */
async function seed(url: string, n: number): Promise<void> {
  let seq = 0
  for (let i = 0; i < n; i += 1000) {
    const ops = Array.from({ length: Math.min(1000, n - i) }, (_, k) => {
      const j = i + k
      const id = `big-${j}`
      return { type: 'create', collection: 'Doc', id, data: { id, title: `document ${j}`, n: j, done: j % 2 === 0, realmId: 'anonymous' } }
    })
    seq++
    const res = await fetch(`${url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'push', v: PROTOCOL_VERSION, clientId: 'seeder', mutations: [{ seq, id: `seed-${seq}`, ops, preconditions: [], schemaVersion: 1 }] }) })
    if (res.status !== 200) throw new Error(`seeding answered ${res.status}`)
  }
}

/** A fresh replica's first sync of `n` documents from a server process of its own (as a client meets one), and how soon the first documents can be queried. */
export async function largeInitialSync(dir: string, n: number): Promise<SyncRow[]> {
  const server = await serve(join(dir, 'large-server.db'))
  try {
    await seed(server.url, n)
    const replica = await openDatabase({ name: 'big-fresh', models: [Doc], storage: sqliteStorage(join(dir, 'large-fresh.db')), sync: { url: server.url, socket: false, pollInterval: 3_600_000 } })
    const t = performance.now()
    const synced = replica.sync!.syncNow()
    // the replica answers queries while the pages arrive: the first answer that holds a document
    let firstMs = Number.NaN
    let done = false
    // settled either way: a failed sync is thrown by the await below
    synced.then(
      () => (done = true),
      () => (done = true),
    )
    while (!done && Number.isNaN(firstMs)) {
      if ((await replica.query(Doc).limit(1).fetch()).length) firstMs = performance.now() - t
      else await new Promise(r => setTimeout(r, 5))
    }
    await synced
    const seconds = (performance.now() - t) / 1000
    const count = await replica.query(Doc).count()
    await replica.close()
    if (count < n) throw new Error(`initial sync got ${count} of ${n} documents`)
    return [
      { workload: `(b) initial sync of ${count} docs into a fresh SQLite replica, from a server process`, value: `${(count / seconds).toFixed(0)} docs/s`, target: '≥ 100,000 docs/s' },
      { workload: '(b) the first documents queryable after', value: `${firstMs.toFixed(0)} ms`, target: '≤ 1 s' },
    ]
  } finally {
    await server.stop()
  }
}

export async function postgresUp(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 })
  try {
    await c.connect()
    return true
  } catch {
    return false
  } finally {
    await c.end().catch(() => undefined)
  }
}

export async function syncBench(): Promise<SyncRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-sync-'))
  const rows: SyncRow[] = []
  const server = await createServer({ storage: join(dir, 'server.db'), port: 0, models: [Doc] })
  try {
    const lat = await propagation(server, 100)
    rows.push({ workload: '(a) propagation, A commits → B live callback, 100 clients connected, p50', value: `${percentile(lat, 0.5).toFixed(2)} ms`, target: '≤ 10 ms' })
    rows.push({ workload: '(a) propagation, p99', value: `${percentile(lat, 0.99).toFixed(2)} ms`, target: '≤ 30 ms' })

    const N = 100_000
    const loaded = await load(server, N, 1000, 'loader')
    rows.push({ workload: '(c) server ingest, SQLite: 100k docs pushed in 100 mutations', value: `${(N / loaded.seconds).toFixed(0)} docs/s` })
    // (d) the loader pushed 100k documents and pulled: what came back
    rows.push({ workload: '(d) bytes received by a client that pushed 100k docs (push + pull answers)', value: `${(loaded.received / 1024).toFixed(1)} KiB`, target: 'independent of the docs' })
    await loaded.db.close()

    const fresh = counting(server.url)
    const replica = await openDatabase({ name: 'fresh', models: [Doc], storage: sqliteStorage(join(dir, 'fresh.db')), sync: { url: server.url, transport: fresh.transport, socket: false, pollInterval: 3_600_000 } })
    const t = performance.now()
    await replica.sync!.syncNow()
    const seconds = (performance.now() - t) / 1000
    const count = await replica.query(Doc).count()
    await replica.close()
    if (count < N) throw new Error(`initial sync got ${count} of ${N} documents`)
    rows.push({ workload: `(b) initial sync of ${count} docs into a fresh SQLite replica`, value: `${(count / seconds).toFixed(0)} docs/s, ${(fresh.received() / 1024 / 1024).toFixed(1)} MiB on the wire`, target: '≥ 50,000 docs/s' })
    const pouch = await pouchInitialSync(N)
    rows.push({ workload: `(e) peer: PouchDB replicating ${N} docs from express-pouchdb into LevelDB`, value: `${pouch.toFixed(0)} docs/s (Tidepool ${(count / seconds / pouch).toFixed(1)}× as fast)` })

    rows.push({ workload: '(c) server ingest, SQLite: single-document mutations', value: `${(await ingest(server, 2000)).toFixed(0)} mutations/s` })
  } finally {
    await server.close()
  }
  rows.push(...(await largeInitialSync(dir, Number(process.env.TIDEPOOL_BENCH_INITIAL_SYNC ?? 1_000_000))))
  const pgUrl = process.env.TIDEPOOL_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test'
  if (await postgresUp(pgUrl)) {
    const schema = `tp_bench_${process.pid}`
    const pgServer = await createServer({ storage: `${pgUrl}?schema=${schema}`, port: 0, models: [Doc] })
    try {
      rows.push({ workload: '(c) server ingest, PostgreSQL: single-document mutations', value: `${(await ingest(pgServer, 2000)).toFixed(0)} mutations/s` })
    } finally {
      await pgServer.close()
      const c = new pg.Client({ connectionString: pgUrl })
      await c.connect()
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await c.end()
    }
  } else {
    rows.push({ workload: '(c) server ingest, PostgreSQL', value: 'skipped: no PostgreSQL answers' })
  }
  rmSync(dir, { recursive: true, force: true })
  return rows
}

export function printSyncTable(rows: SyncRow[]): void {
  const w = [Math.max(...rows.map(r => r.workload.length)), Math.max(...rows.map(r => r.value.length)), Math.max(6, ...rows.map(r => (r.target ?? '').length))]
  console.log('\nSync over loopback HTTP and WebSocket (server on SQLite unless named)\n')
  console.log(`| ${'workload'.padEnd(w[0]!)} | ${'tidepool'.padEnd(w[1]!)} | ${'target'.padEnd(w[2]!)} |`)
  console.log(`|${w.map(x => '-'.repeat(x + 2)).join('|')}|`)
  for (const r of rows) console.log(`| ${r.workload.padEnd(w[0]!)} | ${r.value.padEnd(w[1]!)} | ${(r.target ?? '').padEnd(w[2]!)} |`)
}
