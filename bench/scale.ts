import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import pg from 'pg'
import WebSocket from 'ws'
import { Model, S, memoryStorage, openDatabase, type Database } from '../dist/index.js'
import { PROTOCOL_VERSION, type PushRequest } from '../dist/protocol/messages.js'
import { createServer } from '../dist/server.js'
import type { FromClients, ToClients } from './active-clients.js'
import { serve } from './serve.js'
import { postgresUp } from './sync.js'
import { percentile, type Row } from './table.js'

const PG = process.env.TIDEPOOL_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test'

export class Doc extends Model {
  static override COLLECTION = 'Doc'
  static override FIELDS = { n: S.int, at: S.double }
}

async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG })
  await c.connect()
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await c.end()
}

/** A POST over a keep-alive agent: fetch costs the load generator as much CPU as the server spends, on a machine they share. */
function poster(url: string): (path: string, body: string) => Promise<number> {
  const { hostname, port } = new URL(url)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 })
  return (path, body) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: hostname, port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, res => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      })
      req.on('error', reject)
      req.end(body)
    })
}

/** `clients` clients, each pushing single-document mutations one after another, `total` in all: mutations per second. */
async function pushers(url: string, clients: number, total: number, tag: string): Promise<number> {
  const post = poster(url)
  const each = Math.ceil(total / clients)
  const one = async (c: number) => {
    const clientId = `${tag}-${c}`
    for (let seq = 1; seq <= each; seq++) {
      const id = `${clientId}-${seq}`
      const body: PushRequest = { type: 'push', v: PROTOCOL_VERSION, clientId, mutations: [{ seq, id, ops: [{ type: 'create', collection: 'Doc', id, data: { id, n: seq, at: 0 } }], preconditions: [], schemaVersion: 1 }] }
      const status = await post('/v1/push', JSON.stringify(body))
      if (status !== 200) throw new Error(`push answered ${status}`)
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: clients }, (_, c) => one(c)))
  return (clients * each) / ((performance.now() - start) / 1000)
}

/** (b) Group commit: 100 clients pushing at once, against one client pushing alone, on each store. */
export async function ingestBench(): Promise<Row[]> {
  const rows: Row[] = []
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-scale-'))
  const stores: Array<{ name: string; db: string; target: string; cleanup(): Promise<void> }> = [{ name: 'SQLite', db: join(dir, 'ingest.db'), target: '≥ 10,000/s', cleanup: async () => undefined }]
  if (await postgresUp(PG)) {
    const schema = `tp_bench_ingest_${process.pid}`
    stores.push({ name: 'PostgreSQL', db: `${PG}?schema=${schema}`, target: '≥ 5,000/s', cleanup: () => dropSchema(schema) })
  }
  for (const s of stores) {
    const server = await serve(s.db)
    try {
      await pushers(server.url, 100, 2000, 'warm')
      const alone = await pushers(server.url, 1, 2000, 'alone')
      const many = await pushers(server.url, 100, 20_000, 'many')
      rows.push({ workload: `(b) ingest, ${s.name}: single-document mutations from 100 concurrent clients (group commit)`, unit: 'mutations/s', tidepool: many, baseline: alone, baselineName: 'one client', higherIsBetter: true, target: s.target })
    } finally {
      await server.stop()
      await s.cleanup()
    }
  }
  rmSync(dir, { recursive: true, force: true })
  return rows
}

const SECRET = 'bench-secret'
export const token = (sub: string) => () =>
  new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET))

/**
 * (a) Three instances on one PostgreSQL, 100 clients on each (each its own
 * user, so each write pokes the two devices of its user): a write through A,
 * to the live callback of the same user's client on C.
 */
export async function instancesBench(): Promise<{ p50: number; p99: number } | undefined> {
  if (!(await postgresUp(PG))) return undefined
  const schema = `tp_bench_instances_${process.pid}`
  const db = `${PG}?schema=${schema}`
  const first = await serve(db, ['--secret', SECRET])
  const servers = [first, ...(await Promise.all([serve(db, ['--secret', SECRET]), serve(db, ['--secret', SECRET])]))]
  const dbs: Database[] = []
  try {
    for (const [i, s] of servers.entries()) {
      // client 0 of A and client 0 of C are one user's two devices
      for (let c = 0; c < 100; c++) dbs.push(await openDatabase({ name: `i${i}-${c}`, models: [Doc], storage: memoryStorage(), sync: { url: s.url, token: token(c === 0 && i !== 1 ? 'owner' : `u${i}-${c}`), pollInterval: 0 } }))
    }
    const a = dbs[0]!
    const c = dbs[200]!
    await a.run(tx => void tx.create(Doc, { id: 'hot', n: 0, at: 0 }))
    await a.sync!.syncNow()
    let seen: (n: number) => void = () => undefined
    c.watch(Doc, 'hot', d => d && seen(d.n))
    await Promise.all(dbs.map(d => d.sync!.syncNow()))
    const lat: number[] = []
    for (let k = 1; k <= 300; k++) {
      const arrived = new Promise<void>(r => (seen = n => n === k && r()))
      const t = performance.now()
      await a.run(tx => tx.updateWithoutRead(Doc, { id: 'hot', n: k }))
      await arrived
      lat.push(performance.now() - t)
    }
    lat.sort((x, y) => x - y)
    return { p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) }
  } finally {
    for (const d of dbs) await d.close()
    for (const s of servers) await s.stop()
    await dropSchema(schema)
  }
}

/**
 * (d) Many clients live at once, a few of them writing: one team (user) per
 * writer, its devices sharing the team's realm, so each write reaches
 * `clients / writers` replicas (one realm for all would measure the clients'
 * processes applying every write a thousand times). The clients run in
 * `parts` processes of whole teams (bench/active-clients.ts), so that both
 * cores serve them: in one process, the thousand clients' own work filled
 * one core and the tail measured that process's queue. Each write carries
 * its time, and every replica that receives it records how long it took.
 * Pulls per push: the server's pull count over its push count.
 */
export async function activeBench(clients: number, writers: number, seconds: number, parts = 4): Promise<{ p50: number; p99: number; pullsPerPush: number; writes: number }> {
  if (writers % parts !== 0) throw new Error(`${parts} processes cannot each take whole teams of ${writers}`)
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-active-'))
  const server = await serve(join(dir, 'active.db'), ['--secret', SECRET])
  const children = Array.from({ length: parts }, (_, part) =>
    fork(join(import.meta.dirname, 'active-clients.ts'), [server.url, String(part), String(parts), String(clients), String(writers)], { execArgv: ['--import', 'tsx'] }),
  )
  const all = <T extends FromClients['type']>(type: T, ask?: ToClients) =>
    Promise.all(
      children.map(
        child =>
          new Promise<Extract<FromClients, { type: T }>>((resolve, reject) => {
            const onMessage = (m: FromClients) => {
              if (m.type !== type) return
              child.off('message', onMessage)
              resolve(m as Extract<FromClients, { type: T }>)
            }
            child.on('message', onMessage)
            child.once('exit', code => reject(new Error(`a client process exited (${code})`)))
            if (ask) child.send(ask)
          }),
      ),
    )
  try {
    await all('open')
    const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${server.url}/metrics`)).text())![1])
    // every socket open, and the pull its opening asks for done: counted from here on
    while ((await metric('tidepool_sockets')) < clients) await new Promise(r => setTimeout(r, 100))
    await all('settled', { type: 'settle' })
    const [pulls0, pushes0] = [await metric('tidepool_pulls_total'), await metric('tidepool_pushes_total')]
    const written = await all('written', { type: 'write', until: Date.now() + seconds * 1000 })
    const pulls = (await metric('tidepool_pulls_total')) - pulls0
    const pushed = (await metric('tidepool_pushes_total')) - pushes0
    const lat = written.flatMap(w => w.latencies).sort((x, y) => x - y)
    return { p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), pullsPerPush: pulls / Math.max(1, pushed), writes: written.reduce((n, w) => n + w.writes, 0) }
  } finally {
    await Promise.all(children.map(child => (child.exitCode !== null ? undefined : new Promise(r => child.once('exit', r).send({ type: 'close' } satisfies ToClients)))))
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * (c) Idle sockets on one instance: the server's memory per socket once they
 * are open and again after `idleSeconds` (flat: nothing grows while they
 * idle), a health check's answer time meanwhile, and the time a poke takes
 * to reach all of them.
 */
export async function connectionsBench(count: number, idleSeconds: number): Promise<{ perSocketBytes: number; growthBytes: number; healthMs: number; fanOutMs: number; refused: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-connections-'))
  const server = await serve(join(dir, 'connections.db'))
  const sockets: WebSocket[] = []
  const metric = async (name: string) => Number(new RegExp(`^${name} ([\\d.e+]+)`, 'm').exec(await (await fetch(`${server.url}/metrics`)).text())![1])
  try {
    const settle = async () => {
      // the server's heap settles between readings: a reading is the smallest of three a little apart
      let least = Infinity
      for (let i = 0; i < 3; i++) {
        await new Promise(r => setTimeout(r, 1000))
        least = Math.min(least, await metric('process_resident_memory_bytes'))
      }
      return least
    }
    const before = await settle()
    let refused = 0
    const wsUrl = `${server.url.replace('http', 'ws')}/v1/socket`
    // opened in waves, each waiting for its hellos: what a fleet of clients reconnecting looks like, without a SYN flood
    for (let i = 0; i < count; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, count - i) }, () => {
          const ws = new WebSocket(wsUrl)
          sockets.push(ws)
          return new Promise<void>(resolve => {
            ws.once('message', () => resolve())
            ws.once('unexpected-response', () => (refused++, resolve()))
            ws.once('error', () => (refused++, resolve()))
          })
        }),
      )
    }
    const open = await settle()
    await new Promise(r => setTimeout(r, idleSeconds * 1000))
    const later = await settle()
    const t = performance.now()
    await fetch(`${server.url}/health`)
    const healthMs = performance.now() - t
    // one write: every socket is the same (anonymous) user's, so every one is poked
    const heard = sockets.map(ws => new Promise<void>(r => ws.once('message', () => r())))
    const started = performance.now()
    const body: PushRequest = { type: 'push', v: PROTOCOL_VERSION, clientId: 'fan-out', mutations: [{ seq: 1, id: 'fan-out-1', ops: [{ type: 'create', collection: 'Doc', id: 'fan', data: { id: 'fan', n: 1, at: 0 } }], preconditions: [], schemaVersion: 1 }] }
    await poster(server.url)('/v1/push', JSON.stringify(body))
    await Promise.all(heard)
    const fanOutMs = performance.now() - started
    return { perSocketBytes: (open - before) / (count - refused), growthBytes: later - open, healthMs, fanOutMs, refused }
  } finally {
    for (const ws of sockets) ws.terminate()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * (e) A client `docs` documents behind when the server compacted past it:
 * the time its resync takes to converge, against a fresh replica's initial
 * sync of the same documents.
 */
export async function resyncBench(docs: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-resync-'))
  const server = await createServer({ storage: join(dir, 'resync.db'), port: 0, models: [Doc] })
  const quiet = (name: string) => openDatabase({ name, models: [Doc], storage: memoryStorage(), sync: { url: server.url, socket: false, pollInterval: 0 } })
  try {
    const behind = await quiet('behind')
    const writer = await quiet('writer')
    await behind.run(tx => void tx.create(Doc, { id: 'first', n: 0, at: 0 }))
    await behind.sync!.syncNow()
    for (let i = 0; i < docs; i += 1000) {
      await writer.run(tx => {
        for (let j = i; j < Math.min(docs, i + 1000); j++) tx.create(Doc, { id: `d${j}`, n: j, at: 0 })
      })
    }
    await writer.sync!.syncNow()
    await server.store.compact(0)
    let t = performance.now()
    await behind.sync!.syncNow()
    const resync = (performance.now() - t) / 1000
    if ((await behind.query(Doc).count()) !== docs + 1) throw new Error('the resync did not converge')
    const fresh = await quiet('fresh')
    t = performance.now()
    await fresh.sync!.syncNow()
    const initial = (performance.now() - t) / 1000
    for (const d of [behind, writer, fresh]) await d.close()
    return { workload: `(e) resync after compaction: a client ${docs.toLocaleString('en')} documents behind`, unit: 'docs/s', tidepool: docs / resync, baseline: docs / initial, baselineName: 'a fresh replica’s initial sync', higherIsBetter: true, target: 'within 2×' }
  } finally {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
