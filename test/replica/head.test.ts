import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../src/index.js'
import { Replica } from '../../src/replica/replica.js'
import { STORES } from '../../src/replica/records.js'
import { Store } from '../../src/replica/store.js'

describe('the head record', () => {
  it('opens a replica written before it existed, keeping its client id, counters and pulled revision', async () => {
    const storage = memoryStorage()
    await storage.open(Object.values(STORES))
    await new Store(storage).write(async w => {
      for (const [k, v] of Object.entries({ clientId: 'old-client', seq: 7, changeSeq: 12, schemaVersion: 2, pulledRevision: 40 })) w.put(STORES.meta, k, v)
    })
    const replica = await Replica.open(storage, { collections: [{ name: 'Note', key: ['id:str'], indexes: [] }], schemaVersion: 2 })
    expect(replica.clientId).toBe('old-client')
    expect((await replica.head()).pulledRevision).toBe(40)
    const { mutation } = await replica.commit([{ type: 'create', collection: 'Note', id: 'n', data: { id: 'n' } }], [])
    expect(mutation).toMatchObject({ clientId: 'old-client', seq: 8 })
    expect(await storage.read(r => r.getMany(STORES.meta, ['clientId', 'seq', 'changeSeq']))).toEqual([undefined, undefined, undefined])
    expect((await storage.read(r => r.scan(STORES.changes))).map(([k]) => Number(k))).toEqual([13])
  })
})
