import { afterEach, describe, expect, it } from 'vitest'
import { HttpError, memoryStorage } from '../../src/index.js'
import type { Mutation } from '../../src/core/mutation.js'
import { Replica } from '../../src/replica/replica.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { SyncEngine } from '../../src/sync/engine.js'
import { httpTransport, type Transport } from '../../src/sync/transport.js'

const collections = [{ name: 'Note', key: ['id:str'], indexes: [] }]
const create = (id: string, data: object = {}) => [{ type: 'create' as const, collection: 'Note', id, data: { id, ...data } }]

/** Appends a mutation to the outbox as an older library might have committed it, without today's checks. */
async function appendUnchecked(replica: Replica, id: string, data: object): Promise<void> {
  await replica.transact(null, async scope => {
    const head = await scope.head()
    const m: Mutation = { id: `unchecked-${id}`, clientId: head.clientId, seq: head.seq + 1, ops: create(id, data), preconditions: [], schemaVersion: 1, time: Date.now() }
    scope.putOutbox(m)
    scope.setHead({ ...head, seq: m.seq })
  })
}

describe('an outbox that cannot jam', () => {
  let server: TidepoolServer
  const stops: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop()
    await server?.close()
  })
  const setup = async (transport?: (base: Transport) => Transport) => {
    server = await createServer({ storage: ':memory:', port: 0 })
    const replica = await Replica.open(memoryStorage(), { collections, schemaVersion: 1 })
    const base = httpTransport(server.url)
    const engine = new SyncEngine(replica, transport ? transport(base) : base, { pollInterval: 0, retry: false })
    const rejected: string[] = []
    engine.onRejected(r => rejected.push(`${r.reason}: ${r.message}`))
    stops.push(async () => {
      await engine.stop()
      await replica.close()
    })
    return { replica, engine, rejected }
  }
  const serverIds = async () => {
    const res = await fetch(`${server.url}/v1/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'pull', v: 1, clientId: 'reader', since: 0 }) })
    return ((await res.json()) as { changes: Array<{ id: string }> }).changes.map(c => c.id).sort()
  }

  it('turns a mutation larger than a server reads into a stored rejection, and pushes the ones behind it', async () => {
    const { replica, engine, rejected } = await setup()
    await replica.commit(create('before'), [])
    await appendUnchecked(replica, 'huge', { text: 'é'.repeat(5 * 1024 * 1024) })
    await replica.commit(create('after'), [])
    await engine.runRound()
    expect(rejected).toEqual([expect.stringMatching(/^invalid: .*bytes in UTF-8, more than a server reads/)])
    expect((await replica.rejections()).map(r => r.mutation.ops[0]!.id)).toEqual(['huge'])
    expect(await replica.outbox()).toEqual([])
    expect(await serverIds()).toEqual(['after', 'before'])
    expect((await replica.getDocs([{ collection: 'Note', id: 'huge' }]))[0]).toBeUndefined()
  })

  it('pushes a batch the server refuses whole a mutation at a time, and the one refused alone becomes a stored rejection', async () => {
    let refusals = 0
    const { replica, engine, rejected } = await setup(base => ({
      ...base,
      // a server that refuses, whole, any push holding the document "poison" (as one with stricter limits might)
      push: async req => {
        if (req.mutations.some(m => m.ops.some(op => op.id === 'poison'))) {
          refusals++
          throw new HttpError(400, 'invalid-message', 'push.mutations.0: refused')
        }
        return base.push(req)
      },
    }))
    for (const id of ['a', 'poison', 'b', 'c']) await replica.commit(create(id), [])
    await engine.runRound()
    expect(refusals).toBe(2) // the batch, then the poison alone
    expect(rejected).toEqual(['invalid: the server refused it: push.mutations.0: refused'])
    expect(await replica.outbox()).toEqual([])
    expect(await serverIds()).toEqual(['a', 'b', 'c'])
    // more writes go on as ever
    await replica.commit(create('d'), [])
    await engine.runRound()
    expect(await serverIds()).toEqual(['a', 'b', 'c', 'd'])
  })

  it('leaves a mutation queued when the server is only unreachable, unauthorized or failing', async () => {
    for (const e of [new HttpError(0, 'offline', 'down'), new HttpError(401, 'unauthenticated', 'no'), new HttpError(503, 'internal', 'busy')]) {
      const { replica, engine, rejected } = await setup(base => ({ ...base, push: async () => Promise.reject(e) }))
      await replica.commit(create('kept'), [])
      await expect(engine.runRound()).rejects.toBe(e)
      expect(rejected).toEqual([])
      expect(await replica.outbox()).toHaveLength(1)
      for (const stop of stops.splice(0)) await stop()
      await server.close()
    }
  })
})
