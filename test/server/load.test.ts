import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { memoryStorage, model, openDatabase, S } from '../../src/index.js'
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { pull } from '../../src/server/pull.js'
import { sqliteServerStore } from '../../src/server/sqlite-store.js'
import type { ServerStore } from '../../src/server/store.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { until } from '../helpers/until.js'

class Note extends model({ collection: 'Note', fields: { text: S.str } }) {}

let server: TidepoolServer | undefined
let dir: string | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
  if (dir) rmSync(dir, { recursive: true, force: true })
})
async function start(limits: Parameters<typeof createServer>[0] extends infer O ? (O extends { limits?: infer L } ? L : never) : never): Promise<TidepoolServer> {
  dir = mkdtempSync(join(tmpdir(), 'tidepool-load-'))
  server = await createServer({ storage: sqliteServerStore(join(dir, 's.db')), port: 0, limits })
  return server
}
const pushBody = JSON.stringify({ type: 'push', v: PROTOCOL_VERSION, clientId: 'c', mutations: [] })

describe('shedding load', () => {
  it('answers sync requests past the limit with 503 and Retry-After, keeps answering health checks, and the client backs off and keeps its writes', async () => {
    const s = await start({ requests: 0 })
    const res = await fetch(`${s.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: pushBody })
    expect(res.status).toBe(503)
    const retry = Number(res.headers.get('retry-after'))
    expect(retry).toBeGreaterThanOrEqual(1)
    expect(retry).toBeLessThanOrEqual(5)
    expect(await res.json()).toMatchObject({ type: 'error', error: 'unavailable', message: expect.stringMatching(/requests in flight, its limit: retry later/) })
    expect((await fetch(`${s.url}/health`)).status).toBe(200)
    const metrics = await (await fetch(`${s.url}/metrics`)).text()
    expect(metrics).toMatch(/^tidepool_shed_total [1-9]/m)
    const db = await openDatabase({ name: 'shed', models: [Note], storage: memoryStorage(), sync: { url: s.url, socket: false, pollInterval: 0 } })
    await db.run(tx => void tx.create(Note, { id: 'n', text: 'kept' }))
    // told when to come back: the engine waits at least that long (spread) before its next round
    await expect(db.sync!.syncNow()).rejects.toMatchObject({ status: 503, retryAfterMs: expect.any(Number) })
    expect(await db.pendingMutations()).toHaveLength(1)
    await db.close()
  })

  it('refuses a socket past the limit at the upgrade with 503, and takes it once there is room', async () => {
    const s = await start({ sockets: 1 })
    const wsUrl = `${s.url.replace('http', 'ws')}/v1/socket`
    const first = new WebSocket(wsUrl)
    await new Promise(r => first.once('message', r))
    const second = new WebSocket(wsUrl)
    const status = await new Promise<number>(r => second.once('unexpected-response', (_req, res) => r(res.statusCode ?? 0)))
    expect(status).toBe(503)
    first.close()
    await until('the first socket is gone', async () => /^tidepool_sockets 0/m.test(await (await fetch(`${s.url}/metrics`)).text()))
    const third = new WebSocket(wsUrl)
    await new Promise(r => third.once('message', r))
    third.close()
  })

  it('drains on close: pushes in flight are answered, and every acknowledged one is durable', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-load-'))
    const file = join(dir, 's.db')
    const inner = sqliteServerStore(file)
    // commits wait at a gate: the test closes the server with all twenty pushes inside it
    let open!: () => void
    const gate = new Promise<void>(r => (open = r))
    await inner.open()
    const store: ServerStore = Object.create(inner) as ServerStore
    store.transaction = async fn => (await gate, inner.transaction(fn))
    const s = await createServer({ storage: store, port: 0 })
    const pushes = Array.from({ length: 20 }, (_, i) =>
      fetch(`${s.url}/v1/push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'push', v: PROTOCOL_VERSION, clientId: `d${i}`, mutations: [{ seq: 1, id: `d${i}-1`, ops: [{ type: 'create', collection: 'Note', id: `n${i}`, data: { id: `n${i}`, text: 'x' } }], preconditions: [], schemaVersion: 1 }] }),
      }).then(r => r.status),
    )
    await until('all twenty pushes are in flight', async () => /^tidepool_requests_in_flight 20$/m.test(await (await fetch(`${s.url}/metrics`)).text()))
    const closed = s.close()
    open()
    expect(await Promise.all(pushes)).toEqual(Array(20).fill(200))
    await closed
    const reopened = sqliteServerStore(file)
    await reopened.open()
    const p = await pull(reopened, { type: 'pull', v: PROTOCOL_VERSION, clientId: 'check', since: 0 }, { userId: 'anonymous', everything: true })
    await reopened.close()
    expect(p.changes.map(c => c.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`).sort())
  })

  it('counts a request whose client went away before the answer as done: the limit is not used up for good', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-load-'))
    const inner = sqliteServerStore(join(dir, 's.db'))
    await inner.open()
    let open!: () => void
    const gate = new Promise<void>(r => (open = r))
    const store: ServerStore = Object.create(inner) as ServerStore
    store.pull = async (...args) => (await gate, inner.pull(...args))
    const s = (server = await createServer({ storage: store, port: 0, limits: { requests: 1 } }))
    const inFlight = async () => Number(/^tidepool_requests_in_flight (\d+)/m.exec(await (await fetch(`${s.url}/metrics`)).text())![1])
    const pullBody = (clientId: string) => JSON.stringify({ type: 'pull', v: PROTOCOL_VERSION, clientId, since: 0 })
    const abort = new AbortController()
    const gone = fetch(`${s.url}/v1/pull`, { method: 'POST', signal: abort.signal, headers: { 'content-type': 'application/json' }, body: pullBody('gone') }).catch(() => 'aborted')
    await until('the pull is in flight', async () => (await inFlight()) === 1)
    abort.abort()
    expect(await gone).toBe('aborted')
    await until('the pull is counted as done', async () => (await inFlight()) === 0)
    open()
    const later = await fetch(`${s.url}/v1/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: pullBody('later') })
    expect(later.status).toBe(200)
  })

  it('refuses limits it does not know, and limits that are not whole numbers, leaving nothing open', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-load-'))
    const store = sqliteServerStore(join(dir, 's.db'))
    await expect(createServer({ port: 0, storage: store, limits: { socket: 3 } as never })).rejects.toThrow(/limits.socket.*is not a limit/)
    await expect(store.revision()).rejects.toThrow(/not open/)
    await expect(createServer({ port: 0, storage: ':memory:', limits: { requests: -1 } })).rejects.toThrow(/limits.requests.*must be a whole number/)
  })
})
