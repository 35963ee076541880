import fc from 'fast-check'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Op } from '../../src/core/mutation.js'
import { memoryStorage, model, openDatabase, S, type Database } from '../../src/index.js'
import { PROTOCOL_VERSION, type PullRequest, type PushRequest } from '../../src/protocol/messages.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { pull } from '../../src/server/pull.js'
import { push, type PushContext } from '../../src/server/push.js'
import type { ServerStore } from '../../src/server/store.js'
import { httpTransport } from '../../src/sync/transport.js'
import { cuttable } from '../helpers/cuttable.js'
import { postgresAvailable, storeFactories, type StoreFactory } from './stores.js'

class Item extends model({ collection: 'Item', fields: { n: S.int.default(0), label: S.str.optional() } }) {}

const ann: PushContext = { userId: 'ann', admin: false, minSchemaVersion: 1 }
const viewer = { userId: 'ann', everything: false }
const pullReq = (clientId: string, since: number): PullRequest => ({ type: 'pull', v: PROTOCOL_VERSION, clientId, since })
const pushReq = (clientId: string, seq: number, ops: Op[], pulled = 0, id = `${clientId}-${seq}`): PushRequest => ({
  type: 'push',
  v: PROTOCOL_VERSION,
  clientId,
  mutations: [{ seq, id, ops, preconditions: [], schemaVersion: 1 }],
  pulled,
})
const create = (id: string): Op => ({ type: 'create', collection: 'Item', id, data: { id, n: 0 } })

const contents = async (db: Database) =>
  (await db.query(Item).fetch())
    .map(i => `${i.id}:${i.n}:${i.label ?? ''}`)
    .sort()
    .join(' ')

let postgres = false
beforeAll(async () => {
  postgres = await postgresAvailable()
})

for (const factory of storeFactories) {
  describe(`compaction on ${factory.name}`, () => {
    const cleanups: Array<() => Promise<void>> = []
    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c()
    })
    const fresh = async (): Promise<{ store: ServerStore; made: ReturnType<StoreFactory['make']> }> => {
      const made = factory.make()
      await made.store.open()
      cleanups.push(async () => {
        await made.store.close()
        await made.cleanup()
      })
      return { store: made.store, made }
    }

    it('forgets tombstones and pulled outcomes behind the horizon; a pull from before it is told to resync, one after it is unaffected', async c => {
      if (factory.name === 'postgres' && !postgres) return c.skip()
      const { store } = await fresh()
      await push(store, pushReq('c1', 1, [create('a')]), ann)
      await push(store, pushReq('c1', 2, [create('b')]), ann)
      await push(store, pushReq('c1', 3, [{ type: 'delete', collection: 'Item', id: 'b' }]), ann)
      const early = 1
      // c1 has pulled nothing yet: its outcomes are kept, whatever their age
      const first = await store.compact(0)
      expect(first).toMatchObject({ horizon: 3, tombstones: 1, results: 0 })
      expect((await pull(store, pullReq('c1', 0), viewer)).results.map(r => r.seq)).toEqual([1, 2, 3])
      // once it says it pulled them, they may go
      await push(store, pushReq('c1', 4, [create('c')], 3), ann)
      expect((await store.compact(0)).results).toBe(3)
      // behind the horizon: resync, and nothing else
      const behind = await pull(store, pullReq('c2', early), viewer)
      expect(behind).toMatchObject({ resync: true, changes: [], results: [] })
      // from 0 (a fresh client or a resync): what lives, without the forgotten tombstone
      const all = await pull(store, pullReq('c2', 0), viewer)
      expect(all.changes.map(ch => ch.id).sort()).toEqual(['a', 'c'])
      // a paged pull that began at 0 goes on past revisions behind the horizon: it needs no history
      const page = await pull(store, pullReq('c3', 0), viewer, 1)
      expect(page.more).toBe(true)
      const next = await pull(store, { ...pullReq('c3', page.revision), base: 0 }, viewer, 1)
      expect(next.resync).toBeUndefined()
      expect([...page.changes, ...next.changes].map(ch => ch.id).sort()).toEqual(['a', 'c'])
      // at the horizon: as before
      const at = await pull(store, pullReq('c2', 4), viewer)
      expect(at.resync).toBeUndefined()
      // a forgotten outcome the client pulled is never asked for again: sent with another id, the client diverged
      const again = await push(store, pushReq('c1', 2, [create('z')], 4, 'another-id'), ann)
      expect(again.stopped?.reason).toBe('client-diverged')
    })

    it('a pull from 0 in pages (a first sync, a resync), with a document it brought deleted and its tombstone forgotten between pages, starts again and drops it', async c => {
      if (factory.name === 'postgres' && !postgres) return c.skip()
      const { store } = await fresh()
      for (const [seq, id] of ['a', 'b', 'c'].entries()) await push(store, pushReq('c1', seq + 1, [create(id)]), ann)
      // the server's side: a later page names the revision its first page was answered at
      const first = await pull(store, pullReq('c2', 0), viewer, 1)
      expect(first).toMatchObject({ more: true, head: 3 })
      await push(store, pushReq('c1', 4, [{ type: 'delete', collection: 'Item', id: 'a' }]), ann)
      expect((await store.compact(0)).tombstones).toBe(1)
      const later = { ...pullReq('c2', first.revision), base: 0 }
      expect(await pull(store, { ...later, started: first.head! }, viewer, 1)).toMatchObject({ resync: true, changes: [] })
      // a client that does not say where its pull began is answered as before
      expect((await pull(store, later, viewer, 1)).resync).toBeUndefined()

      // a replica's: pages of one document, and the delete and compaction land while its second page is on the way
      await push(store, pushReq('c1', 5, [create('d')]), ann)
      let seq = 5
      const deleteAndCompact = async (id: string) => {
        await push(store, pushReq('c1', ++seq, [{ type: 'delete', collection: 'Item', id }]), ann)
        await store.compact(0)
      }
      /** A transport straight to the store, `limit` documents a page, that runs `before` ahead of the pull it numbers. */
      const paged = (limit: number, before: (n: number) => Promise<void> = async () => undefined) => {
        const t = {
          pulls: 0,
          /** Each pull's `since`, and `@started` where it says where its paged pull began. */
          asked: [] as string[],
          push: (req: PushRequest) => push(store, req, ann),
          pull: async (req: PullRequest) => {
            await before(++t.pulls)
            t.asked.push(`${req.since}${req.started !== undefined ? `@${req.started}` : ''}`)
            return pull(store, req, viewer, limit)
          },
          socketUrl: async () => 'ws://127.0.0.1:1',
        }
        return t
      }
      const open = async (name: string, transport: ReturnType<typeof paged>) => {
        const db = await openDatabase({ name, models: [Item], storage: memoryStorage(), sync: { url: 'http://127.0.0.1:1', transport, socket: false, pollInterval: 0 } })
        cleanups.unshift(() => db.close())
        return db
      }
      const newcomerPulls = paged(1, async n => (n === 2 ? deleteAndCompact('b') : undefined))
      const newcomer = await open('paged', newcomerPulls)
      await newcomer.sync!.syncNow()
      // b on the first page (the server at 5); the second page, asked for ahead, answered resync; c and d again from 0, the page of
      // d asked for ahead and used; then the round's pull from where that ended
      expect(newcomerPulls.asked).toEqual(['0', '2@5', '0', '3@6', '6'])
      expect(await contents(newcomer)).toBe('c:0: d:0:')

      // a replica that held documents, resyncing in pages after the horizon passed it, and compacted past again meanwhile
      await push(store, pushReq('c1', ++seq, [create('e')]), ann)
      let cut = false
      const held = paged(1, async n => (cut && n === 3 ? deleteAndCompact('c') : undefined))
      const second = await open('held', held)
      await second.sync!.syncNow()
      expect(await contents(second)).toBe('c:0: d:0: e:0:')
      await push(store, pushReq('c1', ++seq, [create('f')]), ann)
      await store.compact(0)
      ;[cut, held.pulls, held.asked] = [true, 0, []]
      await second.sync!.syncNow()
      // told to resync; its first page brought c, and the second (c deleted and forgotten before it) told it to begin again
      expect(held.asked.slice(0, 4)).toEqual(['7', '0', '3@8', '0'])
      expect(await contents(second)).toBe('d:0: e:0: f:0:')
    })

    it('a client offline across the horizon converges with its outbox intact, and its live query hears only what changed', async c => {
      if (factory.name === 'postgres' && !postgres) return c.skip()
      const { store } = await fresh()
      const server: TidepoolServer = await createServer({ storage: store, port: 0, models: [Item] })
      cleanups.unshift(() => server.close())
      const transport = cuttable(httpTransport(server.url))
      const away = await openDatabase({ name: 'away', models: [Item], storage: memoryStorage(), sync: { url: server.url, transport, socket: false, pollInterval: 0 } })
      const other = await openDatabase({ name: 'other', models: [Item], storage: memoryStorage(), sync: { url: server.url, socket: false, pollInterval: 0 } })
      cleanups.unshift(async () => {
        await away.close()
        await other.close()
      })
      await other.run(tx => ['same', 'edited', 'deleted', 'counted'].forEach(id => tx.create(Item, { id })))
      await other.sync!.syncNow()
      await away.sync!.syncNow()
      const events: string[] = []
      const stop = away.query(Item).subscribe(snap => events.push(...snap.changes.map(ch => `${ch.type} ${ch.doc.id}`)))
      transport.online = false
      // while it is away: others change things, and the server forgets the history of it
      await other.run(async tx => {
        ;(await tx.get(Item, 'edited'))!.label = 'by other'
        tx.delete(Item.key('deleted'))
        tx.create(Item, { id: 'new' })
      })
      await other.sync!.syncNow()
      expect((await store.compact(0)).tombstones).toBe(1)
      // and it writes offline
      await away.run(async tx => {
        ;(await tx.get(Item, 'counted'))!.getField('n').incrementBy(5)
        tx.create(Item, { id: 'mine' })
      })
      events.length = 0
      transport.online = true
      await away.sync!.syncNow()
      await other.sync!.syncNow()
      expect(await contents(away)).toBe('counted:5: edited:0:by other mine:0: new:0: same:0:')
      expect(await contents(other)).toBe(await contents(away))
      expect(away.sync!.status.pending).toBe(0)
      // the documents that did not change were never removed and added again
      expect(events.filter(e => e.endsWith(' same'))).toEqual([])
      expect(events).toContain('removed deleted')
      stop()
    })

    it('random writes, compactions, disconnects and reconnects: every replica ends as the server has it (property)', async c => {
      if (factory.name === 'postgres' && !postgres) return c.skip()
      const action = fc.oneof(
        fc.record({ kind: fc.constant('write' as const), client: fc.nat(2), doc: fc.nat(2), op: fc.constantFrom('create', 'increment', 'delete', 'label') }),
        fc.record({ kind: fc.constant('toggle' as const), client: fc.nat(2) }),
        fc.record({ kind: fc.constant('sync' as const), client: fc.nat(2) }),
        fc.record({ kind: fc.constant('compact' as const) }),
      )
      await fc.assert(
        fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 30 }), async actions => {
          const { store } = await fresh()
          const server = await createServer({ storage: store, port: 0, models: [Item] })
          const transports = [0, 1, 2].map(() => cuttable(httpTransport(server.url)))
          const dbs: Database[] = []
          try {
            for (const [i, t] of transports.entries()) dbs.push(await openDatabase({ name: `p${i}`, models: [Item], storage: memoryStorage(), sync: { url: server.url, transport: t, socket: false, pollInterval: 0 } }))
            for (const a of actions) {
              if (a.kind === 'compact') await store.compact(0)
              else if (a.kind === 'toggle') transports[a.client]!.online = !transports[a.client]!.online
              else if (a.kind === 'sync') await dbs[a.client]!.sync!.syncNow().catch(() => undefined)
              else {
                const id = `d${a.doc}`
                // refused locally (missing, exists already): fine, nothing was written
                await dbs[a.client]!.run(async tx => {
                  const doc = await tx.get(Item, id)
                  if (a.op === 'create') tx.create(Item, { id })
                  else if (a.op === 'increment') doc!.getField('n').incrementBy(1)
                  else if (a.op === 'delete') tx.delete(doc!)
                  else doc!.label = `by ${a.client}`
                }).catch(() => undefined)
                // the round the write kicked, waited for: which client reaches the server first is the schedule's, not the machine's
                await dbs[a.client]!.sync!.syncNow().catch(() => undefined)
              }
            }
            for (const t of transports) t.online = true
            // twice around: the last to push is heard by the first
            for (let round = 0; round < 2; round++) for (const d of dbs) await d.sync!.syncNow()
            const truth = await openDatabase({ name: 'truth', models: [Item], storage: memoryStorage(), sync: { url: server.url, socket: false, pollInterval: 0 } })
            dbs.push(truth)
            await truth.sync!.syncNow()
            const expected = await contents(truth)
            for (const d of dbs) {
              expect(d.sync!.status.pending).toBe(0)
              expect(await contents(d)).toBe(expected)
            }
          } finally {
            for (const d of dbs) await d.close()
            await server.close()
          }
        }),
        {
          numRuns: 40,
          // the case the property exists for: a document deleted, and its tombstone forgotten, while a replica that holds it is away
          examples: [
            [
              [
                { kind: 'write', client: 0, doc: 0, op: 'create' },
                { kind: 'sync', client: 1 },
                { kind: 'toggle', client: 1 },
                { kind: 'write', client: 0, doc: 0, op: 'delete' },
                { kind: 'compact' },
                { kind: 'toggle', client: 1 },
              ],
            ],
            // a document this replica created and had acknowledged comes in the resync too (own writes are not left out of it)
            [
              [
                { kind: 'sync', client: 0 },
                { kind: 'write', client: 1, doc: 0, op: 'create' },
                { kind: 'write', client: 0, doc: 0, op: 'create' },
                { kind: 'compact' },
              ],
            ],
          ],
        },
      )
    }, 120_000)
  })
}
