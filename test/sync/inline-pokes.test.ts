import { afterEach, describe, expect, it } from 'vitest'
import WS from 'ws'
import { memoryStorage } from '../../src/index.js'
import { Replica } from '../../src/replica/replica.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { SyncEngine } from '../../src/sync/engine.js'
import type { SocketLike } from '../../src/sync/pokes.js'
import { httpTransport } from '../../src/sync/transport.js'
import { PROTOCOL_VERSION, type PushResponse } from '../../src/protocol/messages.js'
import { until } from '../helpers/until.js'

const collections = [{ name: 'Note', key: ['id:str'], indexes: [] }]

describe('inline pokes and the outbox (service-worker mode: the page engine only pulls)', () => {
  let server: TidepoolServer
  const stops: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const s of stops.splice(0)) await s()
    await server?.close()
  })

  it('are not applied while the outbox holds a mutation the server may have seen: its outcome is pulled, never jumped over', async () => {
    server = await createServer({ storage: ':memory:', port: 0 })
    const post = async <T = PushResponse>(path: string, body: unknown) => (await (await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as T
    // the doc exists with n = 1
    await post('/v1/push', { type: 'push', v: PROTOCOL_VERSION, clientId: 'other', mutations: [{ seq: 1, id: 'o1', ops: [{ type: 'create', collection: 'Note', id: 'a', data: { id: 'a', n: 1 } }], preconditions: [], schemaVersion: 1 }] })

    const replica = await Replica.open(memoryStorage(), { collections, schemaVersion: 1 })
    const transport = httpTransport(server.url)
    // the page: pulls and listens; pushes are the worker's
    const page = new SyncEngine(replica, transport, { pollInterval: 0, retry: false, socket: url => new WS(url) as unknown as SocketLike, pushVia: () => undefined })
    stops.push(async () => {
      await page.stop()
      await replica.close()
    })
    page.start()
    await until('page synced', async () => (await replica.head()).pulledRevision === 1 && page.status.phase === 'in-sync')
    await page.idle()

    // the user writes to the public realm, where only admins write: rejected, nothing written
    await replica.commit([{ type: 'create', collection: 'Note', id: 'p', data: { id: 'p', realmId: 'public' } }], [])
    await page.idle()
    const [m] = await replica.outbox()
    // the worker pushes it (and is stopped by the browser before it pulls)
    const res = await post('/v1/push', { type: 'push', v: PROTOCOL_VERSION, clientId: m!.clientId, pulled: 1, mutations: [{ seq: m!.seq, id: m!.id, ops: m!.ops, preconditions: [], schemaVersion: 1 }] })
    expect(res.results[0]!.status).toBe('rejected')
    const resultRevision = res.results[0]!.revision
    // someone else writes something this user reads
    await post('/v1/push', { type: 'push', v: PROTOCOL_VERSION, clientId: 'other', mutations: [{ seq: 2, id: 'o2', ops: [{ type: 'create', collection: 'Note', id: 'b', data: { id: 'b' } }], preconditions: [], schemaVersion: 1 }] })
    await until('the page pulled past the write', async () => (await replica.head()).pulledRevision === resultRevision + 1)
    await page.idle()

    // the worker's next round: push (re-acknowledged) and pull from where the page left the replica
    const worker = new SyncEngine(replica, transport, { pollInterval: 0, retry: false })
    stops.push(() => worker.stop())
    await worker.runRound()
    // the page pulled instead of applying the poke: the rejection came with it
    expect(await replica.outbox()).toEqual([])
    expect((await replica.rejections()).map(r => r.id)).toEqual([m!.id])
  })
})
