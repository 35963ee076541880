import { IDBFactory, IDBKeyRange } from 'fake-indexeddb'
import { describe, expect, it } from 'vitest'
import { indexedDbStorage } from '../../src/indexeddb.js'
import { Replica } from '../../src/replica/replica.js'
import { STORES, type DocRecord } from '../../src/replica/records.js'
import { Store } from '../../src/replica/store.js'

const collections = [{ name: 'Note', key: ['id:str'], indexes: [['n']] }]

describe('index entries kept in the records (IndexedDB)', () => {
  it('a replica written before them is reindexed at open, and its queries find every document', async () => {
    const factory = new IDBFactory()
    const storage = () => indexedDbStorage('old', { indexedDB: factory, IDBKeyRange })
    const first = await Replica.open(storage(), { collections, schemaVersion: 1 })
    for (let i = 0; i < 5; i++) await first.commit([{ type: 'create', collection: 'Note', id: `n${i}`, data: { id: `n${i}`, n: i } }], [])
    await first.close()
    // as an older Tidepool left it: records without entries, no marker
    const raw = new Store(storage())
    await raw.open(Object.values(STORES))
    await raw.write(async w => {
      for (const [k, v] of await w.scan(STORES.docs)) {
        const { ix: _ix, ...rest } = v as DocRecord
        w.put(STORES.docs, k, rest)
      }
      w.delete(STORES.meta, 'recordIndex')
    })
    await raw.close()
    const progress: number[] = []
    const again = await Replica.open(storage(), { collections, schemaVersion: 1, onProgress: p => progress.push(p.done) })
    expect(progress.at(-1)).toBe(5)
    const spec = { collection: 'Note', filters: [{ path: ['n'], op: '>=' as const, value: 2 }], orders: [{ path: ['n'], dir: 'asc' as const }] }
    const { hits, plan } = await again.query(spec)
    expect(plan.type).toBe('index')
    expect(hits.map(h => h.id)).toEqual(['n2', 'n3', 'n4'])
    await again.close()
  })
})
