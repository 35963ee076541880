import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Model, S, TidepoolError, memoryStorage, openDatabase, type Json } from '../../src/index.js'
import { createServer, type TidepoolServer } from '../../src/server.js'
import { postgresAvailable, storeFactories, type StoreFactory } from '../server/stores.js'

class Doc extends Model {
  static override COLLECTION = 'Doc'
  static override FIELDS = { data: S.map.optional(), list: S.arr().optional(), n: S.double.optional() }
}

/** Values of every kind a program may hand a transaction, the hostile ones included. */
const char = fc.oneof({ weight: 20, arbitrary: fc.string({ minLength: 1, maxLength: 1 }) }, fc.integer({ min: 0xd800, max: 0xdfff }).map(c => String.fromCharCode(c)), fc.constantFrom('\u0000', '😀', '"'))
const text = fc.oneof({ weight: 10, arbitrary: fc.string({ unit: char, maxLength: 12 }) }, fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.integer({ min: 1, max: 3 }).map(n => 'é'.repeat(n * 700_000)))
const number = fc.oneof(fc.double(), fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, -0))
const { value, object } = fc.letrec<{ value: unknown; object: Record<string, unknown> }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small' },
    number,
    text,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    tie('object'),
    fc.integer({ min: 30, max: 60 }).map(n => {
      let v: unknown = 1
      for (let i = 0; i < n; i++) v = { d: v }
      return v
    }),
  ),
  // keys set as data (as JSON.parse sets them), "__proto__" included
  object: fc.array(fc.tuple(text, tie('value')), { maxLength: 3 }).map(kv => {
    const o: Record<string, unknown> = {}
    for (const [k, v] of kv) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
    return o
  }),
}))
const write = fc.record({ data: object, list: fc.array(value, { maxLength: 3 }), inc: number })

for (const factory of storeFactories) {
  describe(`whatever the library commits reaches a server on ${factory.name}`, () => {
    let available = true
    let made: ReturnType<StoreFactory['make']>
    let server: TidepoolServer
    beforeAll(async () => {
      if (factory.name === 'postgres') available = await postgresAvailable()
      if (!available) return
      made = factory.make()
      server = await createServer({ storage: made.store, port: 0, models: [Doc] })
    })
    afterAll(async () => {
      if (!available) return
      await server.close()
      await made.cleanup()
    })

    it('accepted or stored as a per-mutation rejection, and the outbox drains', { timeout: 120_000 }, async c => {
      if (!available) return c.skip()
      const db = await openDatabase({ name: `p-${factory.name}`, models: [Doc], storage: memoryStorage(), sync: { url: server.url, socket: false, pollInterval: 3_600_000 } })
      const committed: string[] = []
      let refused = 0
      await fc.assert(
        fc.asyncProperty(write, async w => {
          const id = crypto.randomUUID()
          try {
            await db.run(async tx => {
              tx.create(Doc, { id, data: w.data as Record<string, Json>, list: w.list as Json[], n: 0 })
            })
            await db.run(async tx => (await tx.get(Doc, id))!.getField('n').incrementBy(w.inc))
            committed.push(id)
          } catch (e) {
            // refused at commit, with a Tidepool error that says why: nothing of it was committed
            expect(e).toBeInstanceOf(TidepoolError)
            refused++
          }
        }),
        { numRuns: 80 },
      )
      await db.sync.syncNow()
      expect(db.sync.status.phase).toBe('in-sync')
      expect(await db.pendingMutations()).toEqual([])
      const onServer = new Set((await db.query(Doc).fetch()).map(d => d.id))
      const rejected = new Set((await db.rejections()).map(r => r.mutation.ops[0]!.id))
      for (const id of committed) expect(onServer.has(id) || rejected.has(id), id).toBe(true)
      // both kinds came up: the property is not about one of them only
      expect(committed.length).toBeGreaterThan(10)
      expect(refused).toBeGreaterThan(10)
      await db.close()
    })
  })
}
