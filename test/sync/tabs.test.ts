import { IDBFactory, IDBKeyRange } from 'fake-indexeddb'
import { afterEach, describe, expect, it } from 'vitest'
import { ClosedError, Model, S, openDatabase, type Database } from '../../src/index.js'
import { indexedDbStorage } from '../../src/indexeddb.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { until } from '../helpers/until.js'

class Note extends Model {
  static override COLLECTION = 'Note'
  static override FIELDS = { text: S.str }
}

// Two "tabs" in one Node process: two databases on one (fake) IndexedDB, talking over Node's
// BroadcastChannel, electing their leader by the lease (Node has no Web Locks).
describe('tabs sharing one replica (Node)', () => {
  let server: TidepoolServer | undefined
  const open: Database[] = []
  afterEach(async () => {
    for (const db of open.splice(0)) await db.close()
    await server?.close()
  })

  it("a follower's syncNow resolves after a round of the leader's that saw its commit; a closed tab's wait is a ClosedError", async () => {
    server = await createServer({ storage: ':memory:', port: 0, models: [Note] })
    const factory = new IDBFactory()
    const tab = async () => {
      const db = await openDatabase({
        name: 'notes',
        models: [Note],
        storage: indexedDbStorage(`tabs-${server!.port}`, { indexedDB: factory, IDBKeyRange }),
        sync: { url: server!.url, socket: false, pollInterval: 3_600_000 },
      })
      open.push(db)
      return db
    }
    const [a, b] = [await tab(), await tab()]
    await until('one leader', () => [a, b].filter(db => db.sync.leader).length === 1)
    const [leader, follower] = a.sync.leader ? [a, b] : [b, a]
    for (let i = 0; i < 20; i++) {
      // the leader may be in the middle of a round for the previous commit: the ask must wait for the next
      await follower.run(tx => void tx.create(Note, { id: `n${i}`, text: 'from the follower' }))
      await follower.sync.syncNow()
      expect(await follower.pendingMutations()).toEqual([])
    }
    expect((await leader.run(tx => tx.get(Note, 'n19')))?.text).toBe('from the follower')

    // a verdict this tab waits for, when this tab closes, fails as what it is
    const waiting = leader.sync.waitFor('never-committed').catch((e: unknown) => e)
    await leader.close()
    open.splice(open.indexOf(leader), 1)
    expect(await waiting).toBeInstanceOf(ClosedError)
  })
})
