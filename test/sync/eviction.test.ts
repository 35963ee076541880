import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../src/index.js'
import type { DocumentChange } from '../../src/core/changes.js'
import { Replica } from '../../src/replica/replica.js'
import { applyPull } from '../../src/sync/apply-pull.js'

const collections = [{ name: 'Todo', key: ['id:str'], indexes: [['realmId']] }]
const doc = (id: string, realmId: string, revision: number): DocumentChange => ({ collection: 'Todo', id, revision, doc: { id, realmId, title: id } })

async function replicaWith(...docs: DocumentChange[]): Promise<Replica> {
  const replica = await Replica.open(memoryStorage(), { collections, schemaVersion: 1 })
  await applyPull(replica, { revision: 10, changes: docs, results: [] }, 0)
  return replica
}
const held = async (replica: Replica) => (await replica.allDocs('Todo')).map(d => `${d.id}@${d.data.realmId}`).sort()

describe('eviction in a pull', () => {
  it('drops every document of a lost realm and each document named, and keeps the others', async () => {
    const replica = await replicaWith(doc('a1', 'A', 1), doc('a2', 'A', 2), doc('b1', 'B', 3), doc('b2', 'B', 4))
    await applyPull(replica, { revision: 11, changes: [], results: [], evict: { realms: ['A'], docs: [{ collection: 'Todo', id: 'b2' }] } }, 10)
    expect(await held(replica)).toEqual(['b1@B'])
    await replica.close()
  })

  it('keeps a document of a lost realm that the same answer brings in a realm still read (it moved first)', async () => {
    const replica = await replicaWith(doc('d', 'A', 1))
    await applyPull(replica, { revision: 11, changes: [doc('d', 'B', 11)], results: [], evict: { realms: ['A'], docs: [] } }, 10)
    expect(await held(replica)).toEqual(['d@B'])
    await replica.close()
  })

  it("keeps a document this replica moved out of the lost realm when the same answer acknowledges the move (the server sends no copy of the pusher's own write)", async () => {
    const replica = await replicaWith(doc('d', 'A', 1), doc('a', 'A', 2))
    const move = (await replica.commit([{ type: 'set', collection: 'Todo', id: 'd', path: ['realmId'], value: 'B' }], [])).mutation!
    await applyPull(replica, { revision: 12, changes: [], results: [{ seq: move.seq, id: move.id, status: 'applied', revision: 11 }], evict: { realms: ['A'], docs: [] } }, 10, { sentUpTo: move.seq })
    expect(await held(replica)).toEqual(['d@B'])
    expect(await replica.outbox()).toEqual([])
    await replica.close()
  })

  it('turns a pending write the server has not seen into a stored permission-denied rejection, and leaves one it may have seen to the server', async () => {
    const replica = await replicaWith(doc('seen', 'A', 1), doc('unsent', 'A', 2), doc('mine', 'B', 3))
    const set = (id: string) => replica.commit([{ type: 'set', collection: 'Todo', id, path: ['title'], value: 'changed' }], [])
    const sent = (await set('seen')).mutation!
    const unsent = (await set('unsent')).mutation!
    await set('mine')
    await applyPull(replica, { revision: 11, changes: [], results: [], evict: { realms: ['A'], docs: [] } }, 10, { sentUpTo: sent.seq })
    expect(await held(replica)).toEqual(['mine@B'])
    expect((await replica.rejections()).map(r => [r.id, r.reason])).toEqual([[unsent.id, 'permission-denied']])
    // the unsent one left an empty mutation in its place, so the server's count goes on; the sent one waits for its answer
    const outbox = await replica.outbox()
    expect(outbox.map(m => [m.seq, m.ops.length])).toEqual([
      [sent.seq, 1],
      [unsent.seq, 0],
      [unsent.seq + 1, 1],
    ])
    // its answer, as the server gives it for a document the user cannot read, is stored as what it is to this user
    await applyPull(replica, { revision: 12, changes: [], results: [{ seq: sent.seq, id: sent.id, status: 'rejected', revision: 12, reason: 'not-found', message: 'missing' }], evict: { realms: [], docs: [{ collection: 'Todo', id: 'seen' }] } }, 11)
    expect((await replica.rejections()).find(r => r.id === sent.id)?.reason).toBe('permission-denied')
    await replica.close()
  })
})
