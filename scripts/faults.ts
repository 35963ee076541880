/**
 * The fault runs behind docs/reliability.md (`npm run faults`; not in CI):
 *
 * 1. The server (the built CLI, on SQLite and on PostgreSQL) SIGKILLed and
 *    restarted at random moments, again and again, while three clients
 *    commit and sync.
 * 2. Clients syncing through a proxy that delays requests, drops them,
 *    drops answers and truncates them.
 *
 * Every commit creates one document and increments one shared counter, so at
 * the end the server must hold exactly one document per commit (none lost)
 * and a counter equal to the number of commits (none applied twice).
 *
 *   npm run faults -- [--kills 100] [--exchanges 1000]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer as httpServer, request } from 'node:http'
import { createServer as netServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { Model, S, openDatabase, type Database, type Sync } from '../src/index.js'
import { sqliteStorage } from '../src/sqlite.js'

const { values } = parseArgs({ options: { kills: { type: 'string', default: '100' }, exchanges: { type: 'string', default: '1000' } } })
const KILLS = Number(values.kills)
const EXCHANGES = Number(values.exchanges)
const POSTGRES = process.env.TIDEPOOL_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test'
const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js')

class Tally extends Model {
  static override COLLECTION = 'Tally'
  static override FIELDS = { n: S.int.default(0) }
}
class Entry extends Model {
  static override COLLECTION = 'Entry'
  static override FIELDS = { by: S.str }
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))
async function freePort(): Promise<number> {
  return new Promise(resolve => {
    const s = netServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

function serve(db: string, port: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('listening on')) resolve(child)
    })
    child.on('exit', code => reject(new Error(`server exited (${code})`)))
  })
}
const kill = async (child: ChildProcess, signal: NodeJS.Signals) => {
  const exited = new Promise(r => child.once('exit', r))
  child.kill(signal)
  await exited
}

interface Client {
  db: Database<Sync>
  name: string
  committed: number
}

async function clients(dir: string, url: string, n: number): Promise<Client[]> {
  const out: Client[] = []
  for (let i = 0; i < n; i++) {
    const name = `c${i}`
    // quiet: the runs decide when each client syncs, whatever the backoff after failures
    const db = await openDatabase({ name, models: [Tally, Entry], storage: sqliteStorage(join(dir, `${name}.db`)), sync: { url, socket: false, pollInterval: 3_600_000 } })
    out.push({ db, name, committed: 0 })
  }
  return out
}

/** The shared counter, created once by the first client: concurrent creates would be concurrent overwrites. */
async function createCounter(all: Client[]): Promise<void> {
  await all[0]!.db.run(tx => void tx.create(Tally, { id: 'all' }))
  for (;;) {
    for (const c of all) await c.db.sync.syncNow()
    const seen = await Promise.all(all.map(c => c.db.run(tx => tx.get(Tally, 'all'))))
    if (seen.every(Boolean) && (await all[0]!.db.pendingMutations()).length === 0) return
    await sleep(50)
  }
}

/** One commit: a new document and an increment of the shared counter. */
async function commit(c: Client): Promise<void> {
  await c.db.run(async tx => {
    tx.create(Entry, { id: `${c.name}-${c.committed}`, by: c.name })
    const t = await tx.get(Tally, 'all', { track: false })
    t!.getField('n').incrementBy(1)
  })
  c.committed++
}

/** Commits and syncs until `stop()`, whatever the server answers. */
function keepWriting(all: Client[]): { stop(): Promise<void> } {
  let stopped = false
  const loops = all.map(async c => {
    while (!stopped) {
      await commit(c)
      if (c.committed % 4 === 0) await c.db.sync.syncNow()
      await sleep(Math.random() * 5)
    }
  })
  return {
    async stop() {
      stopped = true
      await Promise.all(loops)
    },
  }
}

/** Syncs every client until its outbox is empty, then counts what the server holds. */
async function settle(all: Client[], reader: Database<Sync>): Promise<{ commits: number; docs: number; counter: number; rejections: number }> {
  for (let round = 0; ; round++) {
    for (const c of all) await c.db.sync.syncNow()
    const pending = (await Promise.all(all.map(c => c.db.pendingMutations()))).reduce((n, p) => n + p.length, 0)
    if (pending === 0) break
    if (round > 200) throw new Error(`${pending} mutations still pending`)
    await sleep(50)
  }
  await reader.sync.syncNow()
  const docs = await reader.query(Entry).count()
  const counter = (await reader.run(tx => tx.get(Tally, 'all')))?.n ?? 0
  const rejections = (await Promise.all(all.map(c => c.db.rejections()))).reduce((n, r) => n + r.length, 0)
  return { commits: all.reduce((n, c) => n + c.committed, 0), docs, counter, rejections }
}

function report(run: string, r: { commits: number; docs: number; counter: number; rejections: number }): boolean {
  const lost = r.commits - r.docs
  const doubled = r.counter - r.commits
  console.log(`| ${run} | ${r.commits} | ${r.docs} | ${r.counter} | ${lost} | ${doubled} | ${r.rejections} |`)
  return lost === 0 && doubled === 0 && r.rejections === 0
}

async function killCycles(store: 'sqlite' | 'postgres'): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-faults-'))
  const schema = `tp_faults_${process.pid}`
  const where = store === 'sqlite' ? join(dir, 'server.db') : `${POSTGRES}?schema=${schema}`
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const all = await clients(dir, url, 3)
  let server: ChildProcess | undefined = await serve(where, port)
  await createCounter(all)
  await kill(server, 'SIGKILL')
  const writing = keepWriting(all)
  try {
    for (let k = 0; k < KILLS; k++) {
      server = await serve(where, port)
      // the kill lands anywhere: before, during or after pushes, their commits and their answers
      await sleep(30 + Math.random() * 300)
      await kill(server, 'SIGKILL')
      server = undefined
      await sleep(Math.random() * 50)
    }
    await writing.stop()
    server = await serve(where, port)
    const reader = await openDatabase({ name: 'reader', models: [Tally, Entry], sync: { url, socket: false, pollInterval: 3_600_000 } })
    const ok = report(`${KILLS} SIGKILLs, ${store}`, await settle(all, reader))
    await reader.close()
    return ok
  } finally {
    for (const c of all) await c.db.close()
    if (server) await kill(server, 'SIGTERM')
    rmSync(dir, { recursive: true, force: true })
    if (store === 'postgres') {
      const c = new pg.Client({ connectionString: POSTGRES })
      await c.connect()
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await c.end()
    }
  }
}

/** An HTTP proxy that, per exchange, passes it, delays it, drops the request, drops the answer or truncates it. */
function lossyProxy(target: number): Promise<{ port: number; exchanges: () => number; close(): Promise<void> }> {
  let exchanges = 0
  const proxy = httpServer((req, res) => {
    exchanges++
    const fate = Math.random()
    const forward = (delay: number) =>
      setTimeout(() => {
        const up = request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, upRes => {
          const chunks: Buffer[] = []
          upRes.on('data', (c: Buffer) => chunks.push(c))
          upRes.on('end', () => {
            const body = Buffer.concat(chunks)
            // the server did the work: the client never hears of it
            if (fate < 0.25) return res.destroy()
            res.writeHead(upRes.statusCode ?? 502, upRes.headers)
            // half the answer, then the connection is gone (as a proxy that dies mid-answer leaves it)
            if (fate < 0.35) return res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy())
            res.end(body)
          })
        })
        up.on('error', () => res.destroy())
        req.pipe(up)
      }, delay)
    if (fate < 0.1) return void req.on('data', () => undefined).on('end', () => res.destroy())
    forward(fate < 0.5 ? 0 : Math.random() * 40)
  })
  return new Promise(resolve =>
    proxy.listen(0, '127.0.0.1', () =>
      resolve({
        port: (proxy.address() as { port: number }).port,
        exchanges: () => exchanges,
        close: () => new Promise(r => proxy.close(() => r(undefined))),
      }),
    ),
  )
}

async function lossyRun(): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-lossy-'))
  const port = await freePort()
  const server = await serve(join(dir, 'server.db'), port)
  const proxy = await lossyProxy(port)
  const all = await clients(dir, `http://127.0.0.1:${proxy.port}`, 3)
  try {
    await createCounter(all)
    const writing = keepWriting(all)
    while (proxy.exchanges() < EXCHANGES) await sleep(100)
    await writing.stop()
    // the last word goes straight to the server: every client drains through the proxy first
    const reader = await openDatabase({ name: 'reader', models: [Tally, Entry], sync: { url: `http://127.0.0.1:${port}`, socket: false, pollInterval: 3_600_000 } })
    const ok = report(`${proxy.exchanges()} exchanges through a lossy proxy, sqlite`, await settle(all, reader))
    await reader.close()
    return ok
  } finally {
    for (const c of all) await c.db.close()
    await proxy.close()
    await kill(server, 'SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}

console.log('| run | commits | documents on the server | counter | lost | doubled | rejections |')
console.log('|---|---|---|---|---|---|---|')
const results = [await killCycles('sqlite'), await killCycles('postgres'), await lossyRun()]
process.exit(results.every(Boolean) ? 0 : 1)
