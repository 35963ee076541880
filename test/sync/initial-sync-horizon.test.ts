import { afterEach, describe, expect, it } from 'vitest'
import { HttpError, memoryStorage } from '../../src/index.js'
import { Replica } from '../../src/replica/replica.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { SyncEngine } from '../../src/sync/engine.js'
import { httpTransport } from '../../src/sync/transport.js'
import { PROTOCOL_VERSION, type PullResponse, type PushResponse } from '../../src/protocol/messages.js'

const collections = [{ name: 'Note', key: ['id:str'], indexes: [] }]

describe('an initial sync interrupted between pages, resumed after the horizon passed it', () => {
  let server: TidepoolServer
  afterEach(async () => server?.close())

  it('starts again from nothing and drops a document deleted meanwhile, whose tombstone was forgotten', async () => {
    server = await createServer({ storage: ':memory:', port: 0 })
    let seq = 0
    const post = async <T = PushResponse>(path: string, body: unknown) => (await (await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as T
    const other = (ops: unknown[]) => post('/v1/push', { type: 'push', v: PROTOCOL_VERSION, clientId: 'other', mutations: [{ seq: ++seq, id: `o${seq}`, ops, preconditions: [], schemaVersion: 1 }] })
    // 6 commits of 1,000 documents: the first pull page (5,000) ends at revision 5
    for (let r = 0; r < 6; r++) await other(Array.from({ length: 1000 }, (_, i) => ({ type: 'create', collection: 'Note', id: `n${r}-${i}`, data: { id: `n${r}-${i}` } })))
    const replica = await Replica.open(memoryStorage(), { collections, schemaVersion: 1 })
    const base = httpTransport(server.url)
    let pulls = 0
    const engine = new SyncEngine(replica, { ...base, pull: async req => { if (++pulls === 2) throw new HttpError(0, 'offline', 'the app was closed'); return base.pull(req) } }, { pollInterval: 0, retry: false })
    await expect(engine.runRound()).rejects.toThrow()
    expect((await replica.head()).pulledRevision).toBe(5)
    expect((await replica.getDocs([{ collection: 'Note', id: 'n0-0' }]))[0]).toBeDefined()
    // while it is away: n0-0 is deleted, and (much later) history is compacted past the delete
    await other([{ type: 'delete', collection: 'Note', id: 'n0-0' }])
    await server.store.compact(0)
    await engine.runRound()
    expect((await replica.head()).pulledRevision).toBe(7)
    // the server no longer has it, and neither does the client
    const all = await post<PullResponse>('/v1/pull', { type: 'pull', v: PROTOCOL_VERSION, clientId: 'fresh', since: 0 })
    expect(all.more).toBeTruthy() // (paged)
    expect((await replica.getDocs([{ collection: 'Note', id: 'n0-0' }]))[0]).toBeUndefined()
    await engine.stop()
    await replica.close()
  })
})
