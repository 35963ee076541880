import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { DocumentKeptAsideError, InvalidOptionsError, S, model, openDatabase, type AsideDoc, type Database, type JsonObject, type Migrations, type ModelClass } from '../../src/index.js'
import type { Replica } from '../../src/replica/replica.js'
import { adapters, type Adapter } from '../helpers/adapters.js'
import { until } from '../helpers/until.js'

/** The documents of a collection as stored, beneath what the app reads. */
const stored = async (db: Database, collection: string): Promise<Record<string, JsonObject>> =>
  Object.fromEntries((await (db as unknown as { replica: Replica }).replica.allDocs(collection)).map(d => [d.id, d.data]))

/** A query by one field, the model typed loosely: its fields differ from version to version. */
class _Loose extends model({ collection: 'Loose', fields: { x: S.map } }) {}
const where = (db: Database, cls: ModelClass, field: string, value: unknown) => db.query(cls as typeof _Loose).where(field as 'x', '==', value as never)

// Version 1 of the app's Item, and the replica it leaves behind
class ItemV1 extends model({
  collection: 'Item',
  fields: { name: S.str, size: S.int, status: S.str.enum('open', 'done', 'stale') },
  indexes: [['size']],
}) {}

for (const adapter of adapters) {
  describe(`changing models on ${adapter.name}`, () => {
    let made: ReturnType<Adapter['make']>
    const open: Database[] = []
    afterEach(async () => {
      for (const db of open.splice(0)) await db.close()
      made.cleanup()
    })
    async function openWith(models: ModelClass[], schemaVersion: number): Promise<Database> {
      const db = await openDatabase({ name: 'evolve', models, storage: made.reopen(), schemaVersion })
      open.push(db)
      return db
    }
    async function closeAll(): Promise<void> {
      for (const db of open.splice(0)) await db.close()
    }
    /** A replica that version 1 wrote: two items. */
    async function v1Replica(): Promise<void> {
      made = adapter.make()
      const db = await openDatabase({ name: 'evolve', models: [ItemV1], storage: made.storage })
      await db.run(tx => {
        tx.create(ItemV1, { id: 'a', name: 'Ada Lovelace', size: 1, status: 'open' })
        tx.create(ItemV1, { id: 'b', name: 'Alan Turing', size: 2, status: 'stale' })
      })
      await db.close()
    }
    const v2 = (fields: Parameters<typeof model>[0]['fields'], migrations?: Migrations, indexes: string[][] = [['size']]) => {
      const Base = model({ collection: 'Item', fields, indexes: indexes as never })
      return class extends Base {
        static override MIGRATIONS = migrations
      } as unknown as ModelClass
    }

    it('adding an optional field needs nothing: old documents read it as undefined', async () => {
      await v1Replica()
      const Item = v2({ ...ItemV1.FIELDS, colour: S.str.optional() })
      const db = await openWith([Item], 1)
      expect(await db.run(async tx => (await tx.get(Item, 'a'))!.toJSON())).toEqual({ id: 'a', name: 'Ada Lovelace', size: 1, status: 'open' })
      await db.run(async tx => {
        ;((await tx.get(Item, 'a')) as unknown as { colour: string }).colour = 'red'
      })
      expect((await stored(db, 'Item')).a).toMatchObject({ colour: 'red' })
      expect(await where(db, Item, 'size', 2).count()).toBe(1)
    })

    it('adding a field with a default needs nothing: old documents read, and are found by, the default', async () => {
      await v1Replica()
      const Item = v2({ ...ItemV1.FIELDS, colour: S.str.default('grey') }, undefined, [['size'], ['colour']])
      const db = await openWith([Item], 1)
      expect(await db.run(async tx => ((await tx.get(Item, 'a')) as unknown as { colour: string }).colour)).toBe('grey')
      expect(await where(db, Item, 'colour', 'grey').count()).toBe(2)
      // reading wrote nothing
      expect((await stored(db, 'Item')).a!.colour).toBeUndefined()
    })

    it('adding a required field without a default fails at open, naming the model, the field and the fix', async () => {
      await v1Replica()
      const Item = v2({ ...ItemV1.FIELDS, colour: S.str })
      await expect(openWith([Item], 1)).rejects.toThrow(InvalidOptionsError)
      await expect(openWith([Item], 1)).rejects.toThrow(/Item\.colour: it is a new required field without a default.*raise schemaVersion to 2 and give Item static MIGRATIONS/)
      // a higher version alone is not enough: a migration must lead there
      await expect(openWith([Item], 2)).rejects.toThrow(/MIGRATIONS = \{ 2:/)
      // with one, old documents read migrated, are written back on their next write, and queries see them migrated
      const Migrated = v2({ ...ItemV1.FIELDS, colour: S.str }, { 2: doc => ({ ...doc, colour: doc.status === 'done' ? 'green' : 'red' }) }, [['colour']])
      const db = await openWith([Migrated], 2)
      expect((await stored(db, 'Item')).a).not.toHaveProperty('colour') // opening rewrote nothing
      expect(await db.run(async tx => (await tx.get(Migrated, 'a'))!.toJSON())).toEqual({ id: 'a', name: 'Ada Lovelace', size: 1, status: 'open', colour: 'red' })
      expect(await where(db, Migrated, 'colour', 'red').count()).toBe(2)
      await db.run(async tx => {
        ;((await tx.get(Migrated, 'a')) as unknown as { size: number }).size++
      })
      expect((await stored(db, 'Item')).a).toEqual({ id: 'a', name: 'Ada Lovelace', size: 2, status: 'open', colour: 'red', _v: 2 })
      expect((await stored(db, 'Item')).b).toEqual({ id: 'b', name: 'Alan Turing', size: 2, status: 'stale' })
    })

    it('changing a type needs a migration; through one, reads, queries and writes see the new type', async () => {
      await v1Replica()
      const fields = { ...ItemV1.FIELDS, size: S.str }
      await expect(openWith([v2(fields)], 1)).rejects.toThrow(/Item\.size: its type changed from integer to string/)
      const Item = v2(fields, { 2: doc => ({ ...doc, size: String(doc.size) }) })
      const db = await openWith([Item], 2)
      expect(await db.run(async tx => ((await tx.get(Item, 'b')) as unknown as { size: string }).size)).toBe('2')
      // the index was made again for documents as version 2 reads them
      const q = where(db, Item, 'size', '1')
      expect(q.explain().type).toBe('index')
      expect((await q.fetch()).map(d => d._id)).toEqual(['a'])
      await db.run(tx => void tx.create(Item, { id: 'c', name: 'Grace Hopper', size: '3', status: 'open' } as never))
      expect((await stored(db, 'Item')).c).toMatchObject({ size: '3', _v: 2 })
    })

    it('narrowing an enum needs a migration for the values it dropped', async () => {
      await v1Replica()
      const fields = { ...ItemV1.FIELDS, status: S.str.enum('open', 'done') }
      await expect(openWith([v2(fields)], 1)).rejects.toThrow(/Item\.status: its enum lost \["stale"\]/)
      const Item = v2(fields, { 2: doc => ({ ...doc, status: doc.status === 'stale' ? 'open' : doc.status! }) })
      const db = await openWith([Item], 2)
      expect(await where(db, Item, 'status', 'open').count()).toBe(2)
    })

    it('renames a field and splits one into two through migrations, chained over versions', async () => {
      await v1Replica()
      const { name: _name, ...rest } = ItemV1.FIELDS
      const Item = v2(
        { ...rest, first: S.str, last: S.str },
        {
          2: doc => {
            doc.fullName = doc.name!
            delete doc.name
          },
          3: doc => {
            const [first = '', ...last] = String(doc.fullName).split(' ')
            const { fullName: _, ...kept } = doc
            return { ...kept, first, last: last.join(' ') }
          },
        },
      )
      const db = await openWith([Item], 3)
      expect(await db.run(async tx => (await tx.get(Item, 'b'))!.toJSON())).toEqual({ id: 'b', first: 'Alan', last: 'Turing', size: 2, status: 'stale' })
      expect(await where(db, Item, 'last', 'Lovelace').count()).toBe(1)
      await db.run(async tx => {
        ;((await tx.get(Item, 'b')) as unknown as { first: string }).first = 'A.'
      })
      // written back in the new form: the old field is gone, the version recorded
      expect((await stored(db, 'Item')).b).toEqual({ id: 'b', first: 'A.', last: 'Turing', size: 2, status: 'stale', _v: 3 })
    })

    it('keeps aside, untouched and reported, what a version cannot read, and never hands it out', async () => {
      await v1Replica()
      // a migration that leaves one document invalid (size must now be at least 2)
      const Item = v2({ ...ItemV1.FIELDS, size: S.int.min(2) }, { 2: doc => doc })
      const db = await openWith([Item], 2)
      const seen: AsideDoc[] = []
      db.on('invalid', d => seen.push(d))
      expect(await db.run(async tx => tx.get(Item, 'a'))).toBeUndefined()
      expect((await db.query(Item).fetch()).map(d => d._id)).toEqual(['b'])
      await expect(db.run(async tx => tx.get(Item, { id: 'a', name: 'x', size: 5, status: 'open' } as never, { createIfMissing: true }))).rejects.toThrow(DocumentKeptAsideError)
      expect(seen).toEqual([{ collection: 'Item', id: 'a', reason: 'size: must be >= 2', stored: expect.objectContaining({ size: 1 }) }])
      expect(db.stats().keptAside).toEqual({ Item: 1 })
      expect((await stored(db, 'Item')).a).toEqual({ id: 'a', name: 'Ada Lovelace', size: 1, status: 'open' })
    })

    it('rolls back: an older app opens what a newer one wrote, reads what it can, and keeps newer fields when it writes', async () => {
      await v1Replica()
      // version 2 adds a colour and drops the status stale
      const V2 = v2({ ...ItemV1.FIELDS, status: S.str.enum('open', 'done'), colour: S.str }, { 2: doc => ({ ...doc, colour: 'red', status: doc.status === 'stale' ? 'open' : doc.status! }) })
      let db = await openWith([V2], 2)
      await db.run(async tx => {
        const a = (await tx.get(V2, 'a')) as unknown as { size: number }
        a.size = 5
        tx.create(V2, { id: 'c', name: 'Grace Hopper', size: 3, status: 'done', colour: 'blue' } as never)
      })
      await closeAll()
      // version 1 again: no SchemaChangedError, and version 2's documents satisfy version 1's schema
      db = await openWith([ItemV1], 1)
      expect((await db.query(ItemV1).fetch()).map(d => d.toJSON())).toEqual([
        { id: 'a', name: 'Ada Lovelace', size: 5, status: 'open', colour: 'red' },
        { id: 'b', name: 'Alan Turing', size: 2, status: 'stale' },
        { id: 'c', name: 'Grace Hopper', size: 3, status: 'done', colour: 'blue' },
      ])
      await db.run(async tx => void ((await tx.get(ItemV1, 'c'))!.size = 4))
      // version 1 keeps the document's version (its colour is still there) and marks that an older app wrote it
      expect((await stored(db, 'Item')).c).toEqual({ id: 'c', name: 'Grace Hopper', size: 4, status: 'done', colour: 'blue', _v: 2, _w: 1 })
      // a value version 1 allows and version 2 does not
      await db.run(async tx => void ((await tx.get(ItemV1, 'a'))!.status = 'stale'))
      await closeAll()
      // and version 2 once more: what version 1 wrote is checked, and what version 2 cannot read is kept aside
      db = await openWith([V2], 2)
      expect((await db.query(V2).fetch()).map(d => d.toJSON())).toEqual([
        { id: 'b', name: 'Alan Turing', size: 2, status: 'open', colour: 'red' },
        { id: 'c', name: 'Grace Hopper', size: 4, status: 'done', colour: 'blue' },
      ])
      expect(db.stats().keptAside).toEqual({ Item: 1 })
      await db.run(async tx => {
        ;((await tx.get(V2, 'c')) as unknown as { size: number }).size++
      })
      expect((await stored(db, 'Item')).c).toEqual({ id: 'c', name: 'Grace Hopper', size: 5, status: 'done', colour: 'blue', _v: 2 })
    })

    it('rolls back and forward again with no change but the version', async () => {
      await v1Replica()
      const V2 = v2({ ...ItemV1.FIELDS, colour: S.str }, { 2: doc => ({ ...doc, colour: 'red' }) })
      let db = await openWith([V2], 2)
      await db.run(async tx => {
        const a = (await tx.get(V2, 'a')) as unknown as { size: number }
        a.size = 5
      })
      await closeAll()
      db = await openWith([ItemV1], 1)
      await db.run(async tx => void ((await tx.get(ItemV1, 'b'))!.size = 3))
      await closeAll()
      db = await openWith([V2], 2)
      expect((await db.query(V2).fetch()).map(d => d.toJSON())).toEqual([
        { id: 'a', name: 'Ada Lovelace', size: 5, status: 'open', colour: 'red' },
        { id: 'b', name: 'Alan Turing', size: 3, status: 'stale', colour: 'red' },
      ])
      // the index made over again for each version finds what the reads return
      expect((await where(db, V2, 'size', 3).fetch()).map(d => d._id)).toEqual(['b'])
    })

    it('writes to documents read otherwise than stored lose no concurrent change', async () => {
      await v1Replica()
      // a defaulted field, read as its default: the write is measured against what is stored
      const Defaulted = v2({ ...ItemV1.FIELDS, prio: S.int.default(0) })
      let db = await openWith([Defaulted], 1)
      let once = true
      await db.run(async tx => {
        const a = (await tx.get(Defaulted, 'a')) as unknown as { size: number }
        if (once) {
          once = false
          await db.run(tx2 => tx2.updateWithoutRead(Defaulted, { id: 'a', prio: 5 } as never))
        }
        a.size = 9
      })
      expect((await stored(db, 'Item')).a).toMatchObject({ size: 9, prio: 5 })
      await closeAll()
      // a migrated document written back: concurrent increments all count
      const Migrated = v2({ ...ItemV1.FIELDS, colour: S.str }, { 2: doc => ({ ...doc, colour: 'red' }) })
      db = await openWith([Migrated], 2)
      await Promise.all([1, 2, 3].map(() => db.run(async tx => (await tx.get(Migrated, 'b'))!.getField('size').incrementBy(10))))
      expect((await stored(db, 'Item')).b).toMatchObject({ size: 32, colour: 'red', _v: 2 })
      // a blind write cannot migrate: on an older document it fails instead of being lost on the next read
      await expect(db.run({ retries: 0 }, tx => tx.updateWithoutRead(Migrated, { id: 'a', name: 'x' } as never))).rejects.toThrow(/_v changed/)
    })

    it('keeps aside what a migration leaves that no store can hold, and stops counting what became readable', async () => {
      await v1Replica()
      const Ratio = v2({ ...ItemV1.FIELDS, size: S.double }, { 2: doc => ({ ...doc, size: doc.id === 'a' ? Number.NaN : (doc.size as number) / 2 }) }, [['size']])
      const db = await openWith([Ratio], 2)
      expect((await db.query(Ratio).fetch()).map(d => d._id)).toEqual(['b'])
      expect(db.stats().keptAside).toEqual({ Item: 1 })
      // written whole by this version, it is readable again
      await db.run(tx => void tx.createOrOverwrite(Ratio, { id: 'a', name: 'Ada', size: 0.5, status: 'open' } as never))
      expect((await db.query(Ratio).fetch()).map(d => d._id)).toEqual(['a', 'b'])
      expect(db.stats().keptAside).toEqual({})
    })

    it('refuses the schema changes that only look additive', async () => {
      // a closed object turned map, and a default removed
      const Obj = model({ collection: 'Obj', fields: { o: S.obj().prop('a', S.str).prop('b', S.str.optional()), n: S.int.default(1) } })
      made = adapter.make()
      let db: Database = await openDatabase({ name: 'evolve', models: [Obj], storage: made.storage })
      await db.run(tx => void tx.create(Obj, { id: 'x', o: { a: 'hello', b: 'x' } }))
      await db.close()
      const map = model({ collection: 'Obj', fields: { o: S.map.value(S.int), n: S.int.default(1) } })
      await expect(openWith([map], 1)).rejects.toThrow(/Obj\.o: it changed from an object of props to a map/)
      const noDefault = model({ collection: 'Obj', fields: { o: S.obj().prop('a', S.str).prop('b', S.str.optional()), n: S.int } })
      await expect(openWith([noDefault], 1)).rejects.toThrow(/Obj\.n: it lost its default/)
      const removed = model({ collection: 'Obj', fields: { o: S.obj().prop('a', S.str), n: S.int.default(1) } })
      await expect(openWith([removed], 1)).rejects.toThrow(/Obj\.o\.b: it was removed from an object that allows no other props/)
      // a new nested prop with a default is additive, and queries see it
      const nested = model({ collection: 'Obj', fields: { o: S.obj().prop('a', S.str).prop('b', S.str.optional()).prop('c', S.str.default('US')), n: S.int.default(1) }, indexes: [['o.c']] as never })
      db = await openWith([nested], 1)
      expect(await where(db, nested, 'o.c', 'US').count()).toBe(1)
      expect(await db.run(async tx => (await tx.get(nested, 'x'))!.toJSON())).toEqual({ id: 'x', o: { a: 'hello', b: 'x', c: 'US' }, n: 1 })
    })

    it.runIf(adapter.name === 'sqlite')('changes another process writes reach live queries as this version reads them', async () => {
      await v1Replica()
      const V2 = v2({ ...ItemV1.FIELDS, colour: S.str }, { 2: doc => ({ ...doc, colour: 'red' }) })
      const newer = await openWith([V2], 2)
      const seen: JsonObject[][] = []
      const stop = newer.query(V2).subscribe(s => seen.push(s.docs.map(d => d.toJSON())))
      await until('the first snapshot', () => seen.length > 0)
      // another process, still on version 1, writes
      const older = await openWith([ItemV1], 1)
      await older.run(tx => void tx.create(ItemV1, { id: 'z', name: 'Zuse', size: 7, status: 'open' }))
      await until("the other process's write", () => seen.at(-1)?.length === 3)
      expect(seen.at(-1)!.find(d => d.id === 'z')).toEqual({ id: 'z', name: 'Zuse', size: 7, status: 'open', colour: 'red' })
      stop()
    })

    it('changing the key fails at open', async () => {
      await v1Replica()
      const Keyed = model({ collection: 'Item', key: { n: S.int }, fields: ItemV1.FIELDS })
      await expect(openWith([Keyed], 2)).rejects.toThrow(/key of Item is declared as \{n:int\}/)
    })
  })
}

describe('migrations (property)', () => {
  // each step is data, so a chain can be applied to the expected documents by the test itself
  type Step = { type: 'add'; key: string; value: number } | { type: 'rename'; from: string; to: string } | { type: 'scale'; by: number } | { type: 'drop'; key: string }
  const key = fc.constantFrom('p', 'q', 'r')
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ type: fc.constant('add' as const), key, value: fc.integer({ min: -5, max: 5 }) }),
    fc.record({ type: fc.constant('rename' as const), from: key, to: key }),
    fc.record({ type: fc.constant('scale' as const), by: fc.integer({ min: -3, max: 3 }) }),
    fc.record({ type: fc.constant('drop' as const), key }),
  )
  const apply = (s: Step, doc: JsonObject): JsonObject => {
    const data = { ...(doc.data as Record<string, number>) }
    let n = doc.n as number
    if (s.type === 'add') data[s.key] = s.value
    else if (s.type === 'rename') {
      if (s.from in data && s.from !== s.to) {
        data[s.to] = data[s.from]!
        delete data[s.from]
      }
    } else if (s.type === 'scale') n = n * s.by + 0 // JSON has no -0
    else delete data[s.key]
    return { ...doc, n, data }
  }

  for (const adapter of adapters) {
    it(`reading through the replica equals applying the chain, and writing back is stable (${adapter.name})`, async () => {
      const fields = { n: S.int, data: S.map.value(S.int), touched: S.int.optional() }
      class V1 extends model({ collection: 'Doc', fields }) {}
      const docs = fc.array(fc.record({ n: fc.integer({ min: -100, max: 100 }), data: fc.dictionary(key, fc.integer({ min: -9, max: 9 })) }), { minLength: 1, maxLength: 5 })
      await fc.assert(
        fc.asyncProperty(docs, fc.array(step, { minLength: 1, maxLength: 4 }), async (initial, chain) => {
          const made = adapter.make()
          try {
            let db = await openDatabase({ name: 'chain', models: [V1], storage: made.storage })
            await db.run(tx => initial.forEach((d, i) => tx.create(V1, { id: `d${i}`, ...d })))
            await db.close()
            const migrations: Record<number, (doc: JsonObject) => JsonObject> = {}
            chain.forEach((s, i) => (migrations[i + 2] = doc => apply(s, doc)))
            const version = chain.length + 1
            class Vn extends model({ collection: 'Doc', fields }) {
              static override MIGRATIONS = migrations
            }
            const expected = initial.map((d, i) => chain.reduce((doc, s) => apply(s, doc), { id: `d${i}`, ...d } as JsonObject))
            db = await openDatabase({ name: 'chain', models: [Vn], storage: made.reopen(), schemaVersion: version })
            const read = async () => db.run(tx => Promise.all(initial.map(async (_, i) => (await tx.get(Vn, `d${i}`))!.toJSON())))
            expect(await read()).toEqual(expected)
            await db.run(async tx => {
              for (const [i] of initial.entries()) (await tx.get(Vn, `d${i}`))!.touched = 1
            })
            const touched: JsonObject[] = expected.map(d => ({ ...d, touched: 1 }))
            expect(await read()).toEqual(touched)
            const raw = await stored(db, 'Doc')
            for (const d of touched) expect(raw[d.id as string]).toEqual({ ...d, _v: version })
            await db.close()
            // stable: reopened, nothing migrates again
            db = await openDatabase({ name: 'chain', models: [Vn], storage: made.reopen(), schemaVersion: version })
            expect(await read()).toEqual(touched)
            await db.close()
          } finally {
            made.cleanup()
          }
        }),
        { numRuns: adapter.name === 'memory' ? 60 : 20 },
      )
    })
  }
})
