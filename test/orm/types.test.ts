import { describe, expect, expectTypeOf, it } from 'vitest'
import { Member, S, model, openDatabase, type DatabaseOptions, type Instance, type Sync } from '../../src/index.js'
import { Counter, Order, RaceResult } from '../helpers/models.js'

// These checks run under `tsc` (npm test typechecks test/): each @ts-expect-error
// fails the build if the line below it stops being a type error.
describe('typed instances', () => {
  it('types class-style and model()-style instances, keys and create data', async () => {
    const db = await openDatabase({ name: 'types', models: [Order, RaceResult, Counter] })
    await db.run(async tx => {
      const order = await tx.get(Order, 'id')
      expectTypeOf(order).toEqualTypeOf<Instance<typeof Order> | undefined>()
      if (order) {
        expectTypeOf(order.quantity).toEqualTypeOf<number>()
        expectTypeOf(order.id).toEqualTypeOf<string>()
        const typeErrorsOnly = () => {
          // @ts-expect-error quantity is a number
          order.quantity = 'two'
          // @ts-expect-error Order has no field price
          void order.price
          // @ts-expect-error key components are read-only
          order.id = 'x'
        }
        void typeErrorsOnly
      }
      const r = await tx.get(RaceResult, { raceID: 1, runnerName: 'a' }, { createIfMissing: true })
      expectTypeOf(r.seconds).toEqualTypeOf<number | undefined>()
      expectTypeOf(r.fast()).toEqualTypeOf<boolean>()
      const typeErrorsOnly = () => {
        // @ts-expect-error raceID is an int
        void tx.get(RaceResult, { raceID: 'one', runnerName: 'a' })
        // @ts-expect-error product is required to create an Order
        tx.create(Order, { quantity: 1 })
      }
      void typeErrorsOnly
      const c = tx.create(Counter, {})
      expectTypeOf(c.count).toEqualTypeOf<number>()
      expectTypeOf(c.note).toEqualTypeOf<string | undefined>()
      const [a, b] = await tx.get([Order.key('1'), RaceResult.key({ raceID: 1, runnerName: 'x' })])
      expectTypeOf(a).toEqualTypeOf<Instance<typeof Order> | undefined>()
      expectTypeOf(b).toEqualTypeOf<Instance<typeof RaceResult> | undefined>()
    })
    await db.close()
  })

  it('types `this` inside methods of model() classes', async () => {
    class Item extends model({ collection: 'Item', fields: { n: S.int, label: S.str.readOnly() } }) {
      doubled(): number {
        expectTypeOf(this.n).toEqualTypeOf<number>()
        return this.n * 2
      }
      typeErrorsOnly(): void {
        // @ts-expect-error Item has no field missing
        void this.missing
        // @ts-expect-error read-only fields are readonly
        this.label = 'x'
      }
    }
    const db = await openDatabase({ name: 'types', models: [Item] })
    expect(await db.run(tx => tx.create(Item, { n: 21, label: 'a' }).doubled())).toBe(42)
    await db.close()
  })
})

describe('typed queries', () => {
  it('checks field paths and operand types at compile time', async () => {
    class Doc extends model({
      collection: 'TypedQueryDoc',
      fields: { n: S.int, tags: S.arr(S.str), meta: S.obj().prop('owner', S.str).optional(), counts: S.map.value(S.int) },
    }) {}
    const db = await openDatabase({ name: 'types', models: [Doc] })
    const q = db.query(Doc)
    q.where('n', '>', 1).where('meta.owner', '==', 'ann').where('tags', 'array-contains', 'x').where('n', 'in', [1, 2]).where('counts.any', '>=', 3)
    q.orderBy('meta.owner', 'desc')
    const typeErrorsOnly = () => {
      // @ts-expect-error no such field
      q.where('missing', '==', 1)
      // @ts-expect-error n is a number
      q.where('n', '==', 'one')
      // @ts-expect-error 'in' takes an array
      q.where('n', 'in', 1)
      // @ts-expect-error array-contains takes an element
      q.where('tags', 'array-contains', ['x'])
      // @ts-expect-error no such nested property
      q.orderBy('meta.nope')
    }
    void typeErrorsOnly
    const docs = await q.fetch()
    expectTypeOf(docs).toEqualTypeOf<Array<Instance<typeof Doc>>>()
    await db.close()
  })
})

describe('typed database', () => {
  it('types db.sync as there when the options had sync, absent when they had none', async () => {
    const plain = await openDatabase({ name: 'plain', models: [Order] })
    expectTypeOf(plain.sync).toEqualTypeOf<undefined>()
    expect(plain.sync).toBeUndefined()
    await plain.close()
    // typed, not opened: there is no server at that address
    type Opened<O extends DatabaseOptions> = Awaited<ReturnType<typeof openDatabase<O>>>
    expectTypeOf<Opened<{ name: string; models: [typeof Order]; sync: { url: string } }>['sync']>().toEqualTypeOf<Sync>()
    expectTypeOf<Opened<DatabaseOptions>['sync']>().toEqualTypeOf<Sync | undefined>()
  })
})

describe('the realm of every document', () => {
  it('types realmId on every instance, in create and update data, in queries and in indexes', async () => {
    class Note extends model({ collection: 'Note', fields: { text: S.str }, indexes: [['realmId']] }) {}
    const db = await openDatabase({ name: 'realm-types', models: [Note, Order, Member] })
    await db.run(async tx => {
      const note = tx.create(Note, { text: 'a', realmId: 'team' })
      expectTypeOf(note.realmId).toEqualTypeOf<string>()
      note.realmId = 'other'
      const order = await tx.get(Order, 'o')
      if (order) expectTypeOf(order.realmId).toEqualTypeOf<string>()
      const moves = () => tx.updateWithoutRead(Order, { id: 'o2', realmId: 'team' })
      void moves
      const member = tx.create(Member, { realmId: 'team', userId: 'bob', roles: ['read'] })
      const typeErrorsOnly = () => {
        // @ts-expect-error realmId is a string
        note.realmId = 1
        // @ts-expect-error a Member's realm is its key: it never changes
        member.realmId = 'elsewhere'
        // @ts-expect-error roles are read, write or admin
        member.roles = ['owner']
      }
      void typeErrorsOnly
    })
    const q = db.query(Note).where('realmId', '==', 'other')
    expect(db.explain(q)).toMatchObject({ type: 'index' })
    expect((await q.fetch()).map(n => n.text)).toEqual(['a'])
    await db.close()
  })
})
