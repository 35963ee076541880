import type { ChildProcess } from 'node:child_process'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryStorage, model, openDatabase, S, type Database } from '../../src/index.js'
import { httpTransport, type Transport } from '../../src/sync/transport.js'
import { serveCli } from '../helpers/cli-server.js'
import { until } from '../helpers/until.js'
import { POSTGRES_URL, postgresAvailable } from './stores.js'

class Note extends model({ collection: 'Note', fields: { text: S.str, n: S.int.default(0) } }) {}

const schema = `tp_instances_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const db = `${POSTGRES_URL}?schema=${schema}`

/** Three `tidepool serve` processes on one PostgreSQL schema. */
const servers: Array<{ child: ChildProcess; url: string }> = []
let available = false

async function start(i: number, port = 0): Promise<void> {
  servers[i] = await serveCli(db, port)
}
async function kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const { child } = servers[i]!
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(r => child.once('exit', r))
  child.kill(signal)
  await exited
}

beforeAll(async () => {
  available = await postgresAvailable()
  if (!available) return
  // the first creates the schema, the others find it
  await start(0)
  await Promise.all([start(1), start(2)])
}, 60_000)

afterAll(async () => {
  for (const i of servers.keys()) await kill(i, 'SIGTERM')
  if (!available) return
  const c = new pg.Client({ connectionString: POSTGRES_URL })
  await c.connect()
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await c.end()
})

/** A transport that sends every request to the next instance in turn: nothing sticky. */
function roundRobin(urls: readonly string[]): Transport {
  const transports = urls.map(u => httpTransport(u))
  let next = 0
  const pick = () => transports[next++ % transports.length]!
  return { push: req => pick().push(req), pull: req => pick().pull(req), socketUrl: () => pick().socketUrl() }
}

const opened: Database[] = []
/** A client of instance `i` (or of all three in turn), with polling off: only pokes bring it news. */
async function client(i: number | 'any'): Promise<Database> {
  const url = i === 'any' ? servers[0]!.url : servers[i]!.url
  const transport = i === 'any' ? roundRobin(servers.map(s => s.url)) : httpTransport(url)
  const d = await openDatabase({ name: `c${opened.length}`, models: [Note], storage: memoryStorage(), sync: { url, transport, pollInterval: 0 } })
  opened.push(d)
  return d
}
async function closeAll(): Promise<void> {
  for (const d of opened.splice(0)) await d.close()
}
const texts = async (d: Database) => (await d.query(Note).orderBy('text').fetch()).map(n => `${n.text}:${n.n}`)

async function metric(i: number, name: string): Promise<number> {
  const text = await (await fetch(`${servers[i]!.url}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(`${name} `))
  return Number(line?.split(' ')[1])
}

describe('three server instances on one PostgreSQL', () => {
  it('a live query on a client of C fires for a write through A, without polling', async c => {
    if (!available) return c.skip()
    const writer = await client(0)
    const reader = await client(2)
    await reader.sync!.syncNow()
    const seen: string[][] = []
    const stop = reader.query(Note).where('text', '==', 'across').subscribe(snap => seen.push(snap.docs.map(d => d.text)))
    const heard = await metric(2, 'tidepool_commits_heard_total')
    await writer.run(tx => void tx.create(Note, { id: 'across-1', text: 'across' }))
    await writer.sync!.syncNow()
    await until('the reader of C sees the write through A', () => seen.at(-1)?.length === 1)
    expect(await metric(2, 'tidepool_commits_heard_total')).toBeGreaterThan(heard)
    stop()
    await closeAll()
  })

  it('random writes through clients spread over the instances (some switching on every request) converge everywhere', async c => {
    if (!available) return c.skip()
    const dbs = [await client(0), await client(1), await client(2), await client('any'), await client('any')]
    for (const d of dbs) await d.sync!.syncNow()
    // a fixed schedule: each client creates its notes and increments everyone's shared counters
    let seed = 7
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    for (const [i, d] of dbs.entries()) await d.run(tx => void tx.create(Note, { id: `shared-${i}`, text: `shared-${i}` }))
    await Promise.all(dbs.map(d => d.sync!.syncNow()))
    let increments = 0
    for (let step = 0; step < 60; step++) {
      const d = dbs[random(dbs.length)]!
      if (random(2) === 0) await d.run(tx => void tx.create(Note, { id: `r-${step}`, text: `r-${step}` }))
      else {
        const target = `shared-${random(dbs.length)}`
        increments++
        await d.run(async tx => (await tx.get(Note, target))!.getField('n').incrementBy(1))
      }
      if (random(4) === 0) void d.sync!.syncNow().catch(() => undefined)
    }
    for (const d of dbs) await d.sync!.syncNow()
    const expected = await texts(dbs[0]!)
    await until('every replica holds the same notes', async () => {
      const all = await Promise.all(dbs.map(texts))
      return all.every(t => JSON.stringify(t) === JSON.stringify(all[0]))
    }, 20_000)
    const final = await texts(dbs[0]!)
    const sum = final.filter(t => t.startsWith('shared-')).reduce((s, t) => s + Number(t.split(':')[1]), 0)
    expect(sum).toBe(increments)
    expect(final.length).toBeGreaterThanOrEqual(expected.length)
    await closeAll()
  }, 60_000)

  it('loses nothing and applies nothing twice when one instance is killed mid-push and restarted', async c => {
    if (!available) return c.skip()
    const port = Number(new URL(servers[1]!.url).port)
    const writer = await client(1)
    const reader = await client(2)
    await writer.run(tx => void tx.create(Note, { id: 'kill-counter', text: 'kill-counter' }))
    await writer.sync!.syncNow()
    await reader.sync!.syncNow()
    const N = 40
    // writes go on while the instance is killed; the client retries against it until it is back on the same port
    const writes = (async () => {
      for (let i = 0; i < N; i++) {
        await writer.run(async tx => {
          tx.create(Note, { id: `kill-${i}`, text: `kill-${i}` })
          ;(await tx.get(Note, 'kill-counter'))!.getField('n').incrementBy(1)
        })
        if (i === N / 2) {
          await kill(1)
          await start(1, port)
        }
      }
    })()
    await writes
    await until('the writer pushed everything', async () => (await writer.sync!.syncNow().then(() => writer.sync!.status.pending, () => 1)) === 0, 20_000)
    await until('the reader of another instance has every write', async () => (await reader.query(Note).fetch()).filter(n => n.text.startsWith('kill-') && n.text !== 'kill-counter').length === N, 20_000)
    const counter = await reader.run(tx => tx.get(Note, 'kill-counter'))
    expect(counter?.n).toBe(N)
    await closeAll()
  }, 60_000)

  it('misses nothing when the LISTEN connections are killed while writes go on', async c => {
    if (!available) return c.skip()
    const writer = await client(0)
    const reader = await client(2)
    await reader.sync!.syncNow()
    const admin = new pg.Client({ connectionString: POSTGRES_URL })
    await admin.connect()
    const N = 30
    try {
      for (let i = 0; i < N; i++) {
        await writer.run(tx => void tx.create(Note, { id: `listen-${i}`, text: `listen-${i}` }))
        await writer.sync!.syncNow()
        if (i % 10 === 5) {
          const { rowCount } = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN "tidepool_${schema}"`])
          expect(rowCount).toBeGreaterThan(0)
        }
      }
      // killed once more, and written to at once: what the instances missed meanwhile they read when they listen again
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN "tidepool_${schema}"`])
      for (let i = N; i < N + 5; i++) await writer.run(tx => void tx.create(Note, { id: `listen-${i}`, text: `listen-${i}` }))
      await writer.sync!.syncNow()
    } finally {
      await admin.end()
    }
    await until('the reader of C has every write', async () => (await reader.query(Note).fetch()).filter(n => n.text.startsWith('listen-')).length === N + 5, 20_000)
    await until('the instances listen again', async () => (await metric(2, 'tidepool_listen_connected')) === 1)
    await closeAll()
  }, 60_000)
})
