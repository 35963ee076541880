import { afterEach, describe, expect, it } from 'vitest'
import { Model, memoryStorage, openDatabase } from '../../src/index.js'
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { httpTransport, type Transport } from '../../src/sync/transport.js'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = {}
}

describe('the progress of a first sync', () => {
  let server: TidepoolServer
  afterEach(async () => server?.close())

  it('reports documents received of the total the server names, page by page, in onProgress and in the status', async () => {
    server = await createServer({ storage: ':memory:', port: 0, models: [Note] })
    let seq = 0
    // 12 commits of 1,000 documents: pages of 5,000 end at whole commits
    for (let r = 0; r < 12; r++) {
      const ops = Array.from({ length: 1000 }, (_, i) => ({ type: 'create', collection: 'Note', id: `n${r}-${i}`, data: { id: `n${r}-${i}` } }))
      const res = await fetch(`${server.url}/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'push', v: PROTOCOL_VERSION, clientId: 'writer', mutations: [{ seq: ++seq, id: `m${seq}`, ops, preconditions: [], schemaVersion: 1 }] }) })
      expect(res.status).toBe(200)
    }
    const events: unknown[] = []
    const db = await openDatabase({ name: 'fresh', models: [Note], storage: memoryStorage(), sync: { url: server.url, pollInterval: 0 }, onProgress: p => events.push(p) })
    await db.sync.syncNow()
    expect(events).toEqual([
      { phase: 'sync', done: 5000, total: 12000 },
      { phase: 'sync', done: 10000, total: 12000 },
      { phase: 'sync', done: 12000, total: 12000 },
    ])
    expect(await db.query(Note).count()).toBe(12000)
    // done: the status no longer carries it, and a later sync (not a first one) names no total
    expect(db.sync.status.progress).toBeUndefined()
    await db.sync.syncNow()
    expect(events).toHaveLength(3)
    await db.close()
  })

  it('names no total for a first sync that fits one page', async () => {
    server = await createServer({ storage: ':memory:', port: 0, models: [Note] })
    const pulled = await (await fetch(`${server.url}/v1/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'pull', v: PROTOCOL_VERSION, clientId: 'c', since: 0 }) })).json()
    expect(pulled).not.toHaveProperty('total')
  })

  it('sends a client that wrote 12,000 documents before its first sync its acknowledgements, not its documents, over pages, and the documents land in its private realm', async () => {
    server = await createServer({ storage: ':memory:', port: 0, models: [Note] })
    const inner = httpTransport(server.url)
    let received = 0
    const count = <T>(x: T) => ((received += JSON.stringify(x).length), x)
    const transport: Transport = { push: async r => count(await inner.push(r)), pull: async r => count(await inner.pull(r)), socketUrl: () => inner.socketUrl() }
    const db = await openDatabase({ name: 'writer', models: [Note], storage: memoryStorage(), sync: { url: server.url, transport, socket: false, pollInterval: 0 } })
    // written before the replica knows its user: the server gives them the user's realm
    for (let r = 0; r < 12; r++) await db.run(tx => Array.from({ length: 1000 }, (_, i) => tx.create(Note, { id: `n${r}-${i}` })))
    await db.sync.syncNow()
    expect(db.sync.status.phase).toBe('in-sync')
    const notes = await db.query(Note).fetch()
    expect(notes).toHaveLength(12000)
    expect(new Set(notes.map(n => n.realmId))).toEqual(new Set(['anonymous']))
    // 12 acknowledgements and the answers' envelopes, where the documents would be some 500 KB
    expect(received).toBeLessThan(20_000)
    await db.close()
  })
})
