import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  ClosedError,
  ConditionFailedError,
  DeletedTwiceError,
  InvalidFieldError,
  InvalidOptionsError,
  InvalidParameterError,
  Model,
  ModelAlreadyExistsError,
  ModelTrackedTwiceError,
  Realm,
  S,
  model,
  TransactionFailedError,
  UniqueKeyList,
  ValidationError,
  WriteAttemptedInReadOnlyTxError,
  openDatabase,
  type Database,
  type Transaction,
} from '../../src/index.js'
import { adapters, type Adapter } from '../helpers/adapters.js'
import { ComplexFieldsExample, Counter, HookExample, LastUsedFeature, ModelWithFields, Order, RaceResult, allModels } from '../helpers/models.js'

const uuid = (): string => crypto.randomUUID()
const fast = { retries: 2, initialBackoff: 1, maxBackoff: 2 }

for (const adapter of adapters) {
  describe(`transactions on ${adapter.name}`, () => {
    let made: ReturnType<Adapter['make']>
    let db: Database
    const others: Database[] = []
    beforeEach(async () => {
      made = adapter.make()
      db = await openDatabase({ name: 'test', models: allModels, storage: made.storage })
    })
    afterEach(async () => {
      for (const o of others.splice(0)) await o.close()
      await db.close()
      made.cleanup()
    })
    /** A second database on the same replica (another process or tab). */
    async function second(): Promise<Database> {
      const o = await openDatabase({ name: 'test', models: allModels, storage: made.reopen() })
      others.push(o)
      return o
    }

    describe('the minimal example', () => {
      it('creates, reads and modifies a document', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Order, { id, product: 'coffee', quantity: 1 })
        })
        await db.run(async tx => {
          const order = await tx.get(Order, id)
          expect(order?.id).toBe(id)
          expect(order?.product).toBe('coffee')
          expect(order?.quantity).toBe(1)
          order!.quantity = 2
        })
        expect(await db.run(async tx => (await tx.get(Order, id))?.quantity)).toBe(2)
      })

      it('generates a UUID for the default key when none is given', async () => {
        const order = await db.run(tx => tx.create(Order, { product: 'tea', quantity: 3 }))
        expect(order.id).toMatch(/^[0-9a-f-]{36}$/)
        expect(await db.run(async tx => (await tx.get(Order, order.id))?.product)).toBe('tea')
      })

      it('returns undefined for a missing document', async () => {
        expect(await db.run(tx => tx.get(Order, uuid()))).toBeUndefined()
      })
    })

    describe('keys', () => {
      it('compound keys are encoded as the seed says and readable as fields', async () => {
        await db.run(async tx => {
          const r = await tx.get(RaceResult, { raceID: 99, runnerName: 'Bo' }, { createIfMissing: true })
          expect(r.raceID).toBe(99)
          expect(r.runnerName).toBe('Bo')
          expect(r._id).toBe('99\0Bo')
          expect(r.isNew).toBe(true)
        })
        const key = RaceResult.key({ runnerName: 'Mel', raceID: 123 })
        expect(key.Cls).toBe(RaceResult)
        expect(key.encodedKey).toBe('123\0Mel')
        expect(Order.key('abc').encodedKey).toBe('abc')
      })

      it('validates keys and rejects NUL in string components', async () => {
        expect(() => RaceResult.key({ raceID: 'x' as unknown as number, runnerName: 'a' })).toThrow(ValidationError)
        expect(() => RaceResult.key({ raceID: 1 } as never)).toThrow(InvalidParameterError)
        expect(() => Order.key('a\0b')).toThrow(/NUL/)
        await expect(db.run(tx => tx.get(RaceResult, { raceID: 1.5, runnerName: 'x' }))).rejects.toThrow(ValidationError)
      })

      it('key components are immutable', async () => {
        await db.run(tx => {
          const o = tx.create(Order, { product: 'x', quantity: 1 })
          expect(() => ((o as unknown as { id: string }).id = 'other')).toThrow('id is immutable so value cannot be changed')
        })
      })
    })

    describe('fields and schema', () => {
      it('optional fields, defaults and read-only fields behave as in the seed', async () => {
        await db.run(tx => {
          const doc = tx.create(ComplexFieldsExample, { aNonNegInt: 0, immutableInt: 3 })
          expect(doc.aNonNegInt).toBe(0)
          expect(doc.anOptBool).toBe(undefined)
          expect(doc.immutableInt).toBe(3)
          const doc2 = tx.create(ComplexFieldsExample, { aNonNegInt: 1, anOptBool: true })
          expect(doc2.anOptBool).toBe(true)
          expect(doc2.immutableInt).toBe(5)
          expect(() => ((doc2 as { immutableInt: number }).immutableInt = 3)).toThrow('immutableInt is immutable so value cannot be changed')
          expect(() => doc2.getField('immutableInt').incrementBy(1)).toThrow(InvalidFieldError)
        })
      })

      it('validates on create and on set', async () => {
        await db.run(tx => {
          const data = { someInt: '1' as unknown as number, someBool: true, someObj: { arr: [] } }
          expect(() => tx.create(ModelWithFields, data)).toThrow(ValidationError)
          data.someInt = 1
          const x = tx.create(ModelWithFields, data)
          expect(() => ((x as { someBool: unknown }).someBool = 1)).toThrow(ValidationError)
          expect(() => ((x as { someObj: unknown }).someObj = {})).toThrow(/someObj.arr: is required/)
          expect(() => ((x as { someObj: unknown }).someObj = { arr: [5] })).toThrow(/someObj.arr.0/)
          x.someObj = { arr: ['ok'] }
          expect(() => tx.create(ModelWithFields, { someInt: -1, someBool: true, someObj: { arr: [] } })).toThrow(/someInt: must be >= 0/)
          expect(() => tx.create(Order, { product: 'x' } as never)).toThrow(/quantity: is required/)
          expect(() => tx.create(Order, { product: 'x', quantity: 1, colour: 'red' } as never)).toThrow(InvalidParameterError)
          expect(() => tx.create(Order, { product: 'x', quantity: Number.NaN })).toThrow(/not a finite number/)
        })
      })

      it('catches changes inside objects at commit, and on validate()', async () => {
        const id = uuid()
        await expect(
          db.run(tx => {
            const x = tx.create(ModelWithFields, { id, someInt: 1, someBool: true, someObj: { arr: [] } })
            ;(x.someObj.arr as unknown[]).push(5)
            expect(() => x.getField('someObj').validate()).toThrow(ValidationError)
          }),
        ).rejects.toThrow(ValidationError)
        expect(await db.run(tx => tx.get(ModelWithFields, id))).toBeUndefined()
        await db.run(tx => {
          tx.create(ModelWithFields, { id, someInt: 1, someBool: true, someObj: { arr: [] } })
        })
        await expect(
          db.run(async tx => {
            const x = await tx.get(ModelWithFields, id)
            ;(x!.someObj.arr as unknown[]).push(7)
          }),
        ).rejects.toThrow(ValidationError)
        await db.run(async tx => {
          const x = await tx.get(ModelWithFields, id)
          x!.someObj.arr.push('fine')
        })
        expect(await db.run(async tx => (await tx.get(ModelWithFields, id))?.someObj)).toEqual({ arr: ['fine'] })
      })

      it('an instance kept after its transaction cannot change the replica', async () => {
        const kept = await db.run(tx => tx.create(Counter, { id: 'kept', tags: { a: 1 } }))
        kept.tags!.a = 99
        expect(() => (kept.count = 5)).toThrow(/finished/)
        expect(await db.run(async tx => (await tx.get(Counter, 'kept'))?.tags)).toEqual({ a: 1 })
      })

      it('runs instance methods of both model styles', async () => {
        await db.run(tx => {
          const r = tx.create(RaceResult, { raceID: 1, runnerName: 'Al', seconds: 500 })
          expect(r.fast()).toBe(true)
        })
      })

      it('applies defaults of required fields missing from stored data, and keeps fields a model does not know', async () => {
        class CounterV0 extends Model {
          static override COLLECTION = 'Counter'
          static override FIELDS = { legacy: S.str }
        }
        const old = await openDatabase({ name: 'test', models: [CounterV0], storage: made.reopen() })
        await old.run(tx => {
          tx.create(CounterV0, { id: 'c1', legacy: 'from v0' })
        })
        await old.close()
        if (adapter.name === 'memory') await made.storage.open(['docs', 'outbox', 'meta', 'rejections'])
        await db.run(async tx => {
          const c = await tx.get(Counter, 'c1')
          expect(c!.count).toBe(0)
          expect(c!.list).toEqual([])
          expect(c!.note).toBeUndefined()
          c!.note = 'v1 was here'
        })
        await db.run(tx => {
          tx.createOrOverwrite(Counter, { id: 'c1', count: 4 })
        })
        const again = await openDatabase({ name: 'test', models: [CounterV0], storage: made.reopen() })
        others.push(again)
        expect(await again.run(async tx => (await tx.get(CounterV0, 'c1'))?.legacy)).toBe('from v0')
      })
    })

    describe('transactions', () => {
      it('retries retryable errors with backoff, then throws TransactionFailedError with the original', async () => {
        let attempts = 0
        const started = Date.now()
        const err = await db
          .run({ retries: 3, initialBackoff: 20, maxBackoff: 40 }, () => {
            attempts++
            throw Object.assign(new Error('try again'), { retryable: true })
          })
          .catch(e => e)
        expect(attempts).toBe(4)
        expect(err).toBeInstanceOf(TransactionFailedError)
        expect(err.original.message).toBe('try again')
        // backoffs of ~20, ~40, ~40 ms (±10%)
        expect(Date.now() - started).toBeGreaterThanOrEqual(85)
      })

      it('does not retry other errors, and commits nothing when fn throws', async () => {
        let attempts = 0
        const id = uuid()
        await expect(
          db.run(tx => {
            attempts++
            tx.create(Order, { id, product: 'x', quantity: 1 })
            throw new Error('nope')
          }),
        ).rejects.toThrow('nope')
        expect(attempts).toBe(1)
        expect(await db.run(tx => tx.get(Order, id))).toBeUndefined()
        expect(await db.pendingMutations()).toHaveLength(0)
      })

      it('read-only transactions refuse writes', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Order, { id, product: 'x', quantity: 1 })
        })
        await expect(db.run({ readOnly: true }, tx => tx.create(Order, { product: 'y', quantity: 1 }))).rejects.toThrow(WriteAttemptedInReadOnlyTxError)
        await expect(
          db.run(async tx => {
            tx.makeReadOnly()
            const o = await tx.get(Order, id)
            o!.quantity = 5
          }),
        ).rejects.toThrow(WriteAttemptedInReadOnlyTxError)
        await expect(db.run({ readOnly: true }, tx => tx.delete(Order.key(id)))).rejects.toThrow(WriteAttemptedInReadOnlyTxError)
        expect(await db.run({ readOnly: true }, async tx => (await tx.get(Order, id))?.quantity)).toBe(1)
      })

      it('runs finalize() before each write and not for unchanged reads', async () => {
        HookExample.finalized = 0
        await db.run(tx => {
          tx.create(HookExample, { id: 'h' })
        })
        expect(HookExample.finalized).toBe(1)
        await db.run(async tx => {
          const h = await tx.get(HookExample, 'h')
          expect(h!.latestUpdateEpoch).toBeGreaterThan(0)
        })
        expect(HookExample.finalized).toBe(1)
        await db.run(async tx => {
          const h = await tx.get(HookExample, 'h')
          h!.field1 = 2
        })
        expect(HookExample.finalized).toBe(2)
      })

      it('rejects bad options and parameters clearly', async () => {
        await expect(db.run({ retries: -1 }, () => 1)).rejects.toThrow(InvalidOptionsError)
        await expect(db.run({ retires: 1 } as never, () => 1)).rejects.toThrow(/Invalid option retires/)
        await expect(db.run({ readOnly: 'yes' } as never, () => 1)).rejects.toThrow(InvalidOptionsError)
        await expect(db.run({ initialBackoff: 100, maxBackoff: 10 }, () => 1)).rejects.toThrow(InvalidOptionsError)
        await expect(db.run(tx => tx.get('Order' as never, 'x'))).rejects.toThrow(InvalidParameterError)
        await expect(db.run(tx => tx.get(Order, 'x', { createIfMisssing: true } as never))).rejects.toThrow(InvalidParameterError)
        class Stranger extends Model {}
        await expect(db.run(tx => tx.get(Stranger, 'x'))).rejects.toThrow(/not one of the models/)
        await expect(db.run(tx => tx.get([Order.key('a')], { createIfMissing: true }))).rejects.toThrow(/Model.data/)
      })
    })

    describe('create, get, delete', () => {
      it('create of an existing document fails with ModelAlreadyExistsError, without retries', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Order, { id, product: 'x', quantity: 1 })
        })
        let attempts = 0
        await expect(
          db.run(tx => {
            attempts++
            tx.create(Order, { id, product: 'y', quantity: 2 })
          }),
        ).rejects.toThrow(ModelAlreadyExistsError)
        expect(attempts).toBe(1)
      })

      it('batch get returns documents in input order, creating missing ones when asked', async () => {
        const [a, b] = [uuid(), uuid()]
        await db.run(tx => {
          tx.create(Order, { id: a, product: 'a', quantity: 1 })
        })
        await db.run(async tx => {
          const [o1, o2, r] = await tx.get([Order.key(b), Order.key(a), RaceResult.key({ raceID: 7, runnerName: 'Z' })])
          expect(o1).toBeUndefined()
          expect(o2?.product).toBe('a')
          expect(r).toBeUndefined()
        })
        await db.run(async tx => {
          const [o1, o2, r] = await tx.get(
            [Order.data({ id: a, product: 'ignored', quantity: 9 }), Order.data({ id: b, product: 'b', quantity: 2 }), RaceResult.data({ raceID: 7, runnerName: 'Z' })],
            { createIfMissing: true },
          )
          expect([o1!.isNew, o2!.isNew, r!.isNew]).toEqual([false, true, true])
          expect(o1!.product).toBe('a')
          expect(o2!.product).toBe('b')
        })
        expect(await db.run(async tx => (await tx.get(Order, b))?.quantity)).toBe(2)
      })

      it('createIfMissing takes a bare key value when every field has a default (the seed\'s SkierStats)', async () => {
        const liftRideTaken = () =>
          db.run(async tx => {
            const stats = await tx.get(Counter, 'resort', { createIfMissing: true })
            stats.count += 1
          })
        await liftRideTaken()
        await liftRideTaken()
        expect(await db.run(async tx => (await tx.get(Counter, 'resort'))?.count)).toBe(2)
      })

      it('concurrent gets of one document with the model cache share one instance', async () => {
        await db.run(tx => {
          tx.create(Counter, { id: 'shared' })
        })
        await db.run({ cacheModels: true }, async tx => {
          const [a, b] = await Promise.all([tx.get(Counter, 'shared'), tx.get(Counter, 'shared')])
          expect(a).toBe(b)
          a!.count += 1
          b!.count += 1
        })
        expect(await db.run(async tx => (await tx.get(Counter, 'shared'))?.count)).toBe(2)
      })

      it('creates a document the transaction read as missing, conditional on it still missing', async () => {
        const other = await second()
        let runs = 0
        const result = await db.run(fast, async tx => {
          runs++
          const existing = await tx.get(Order, 'maybe')
          if (runs === 1) await other.run(tx2 => void tx2.create(Order, { id: 'maybe', product: 'theirs', quantity: 1 }))
          if (existing) return existing.product
          tx.create(Order, { id: 'maybe', product: 'mine', quantity: 1 })
          return 'mine'
        })
        expect(runs).toBe(2)
        expect(result).toBe('theirs')
      })

      it('rejects duplicate keys in a batch, and UniqueKeyList removes them', async () => {
        await expect(db.run(tx => tx.get([Order.key('1'), Order.key('1')]))).rejects.toThrow(ModelTrackedTwiceError)
        const keys = new UniqueKeyList(Order.key('1'))
        keys.push(Order.key('1'), ...[Order.key('1'), Order.key('2')])
        expect(keys).toHaveLength(2)
        expect(await db.run(tx => tx.get(keys))).toEqual([undefined, undefined])
      })

      it('deletes by model and by key; a blind delete of a missing document does nothing', async () => {
        const [a, b] = [uuid(), uuid()]
        await db.run(tx => {
          tx.create(Order, { id: a, product: 'a', quantity: 1 })
          tx.create(Order, { id: b, product: 'b', quantity: 1 })
        })
        await db.run(async tx => {
          const oa = await tx.get(Order, a)
          tx.delete(oa!, Order.key(b), Order.key(uuid()))
        })
        expect(await db.run(tx => tx.get([Order.key(a), Order.key(b)]))).toEqual([undefined, undefined])
        await expect(
          db.run(async tx => {
            const o = Order.key(a)
            tx.delete(o)
            tx.delete(o)
          }),
        ).rejects.toThrow(DeletedTwiceError)
      })

      it('a delete of a document read as existing fails if it was deleted meanwhile, then re-runs', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Order, { id, product: 'a', quantity: 1 })
        })
        const other = await second()
        let runs = 0
        const sawMissing = await db.run(fast, async tx => {
          runs++
          const o = await tx.get(Order, id)
          if (runs === 1) await other.run(tx2 => tx2.delete(Order.key(id)))
          if (!o) return true
          tx.delete(o)
          return false
        })
        expect(runs).toBe(2)
        expect(sawMissing).toBe(true)
      })

      it('reading a document twice throws, unless the model cache is on', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Counter, { id })
        })
        await expect(
          db.run(async tx => {
            await tx.get(Counter, id)
            await tx.get(Counter, id)
          }),
        ).rejects.toThrow(ModelTrackedTwiceError)
        const op = async (tx: Transaction) => {
          const c = await tx.get(Counter, id)
          c!.count += 1
        }
        await db.run({ cacheModels: true }, async tx => {
          await op(tx)
          await op(tx)
        })
        await db.run(async tx => {
          tx.enableModelCache()
          const c = await tx.get(Counter, id)
          c!.count = 123
          expect((await tx.get(Counter, id))!.count).toBe(123)
        })
        expect(await db.run(async tx => (await tx.get(Counter, id))?.count)).toBe(123)
        await expect(
          db.run({ cacheModels: true }, async tx => {
            tx.delete(Counter.key(id))
            await tx.get(Counter, id)
          }),
        ).rejects.toThrow(ModelTrackedTwiceError)
      })

      it('hands back a model made by createIfMissing, with its changes, singly and in a batch', async () => {
        const id = uuid()
        await db.run({ cacheModels: true }, async tx => {
          const made = await tx.get(Counter, { id }, { createIfMissing: true })
          expect(made.isNew).toBe(true)
          made.count = 7
          expect(await tx.get(Counter, id)).toBe(made)
          const [again] = await tx.get([Counter.key(id)])
          expect(again).toBe(made)
          expect(again!.count).toBe(7)
        })
        expect(await db.run(async tx => (await tx.get(Counter, id))?.count)).toBe(7)
      })

      it('creates, after a cached miss, what createIfMissing asks for', async () => {
        const id = uuid()
        await db.run(async tx => {
          tx.enableModelCache()
          expect(await tx.get(Counter, id)).toBeUndefined()
          const made = await tx.get(Counter, { id, count: 3 }, { createIfMissing: true })
          expect(made).toMatchObject({ isNew: true, count: 3 })
        })
        expect(await db.run(async tx => (await tx.get(Counter, id))?.count)).toBe(3)
      })
    })

    describe('blind writes', () => {
      it('updateWithoutRead sets fields of an existing document and fails on a missing one', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Order, { id, product: 'coffee', quantity: 1 })
        })
        await db.run(tx => tx.updateWithoutRead(Order, { id, quantity: 2 }))
        expect(await db.run(async tx => (await tx.get(Order, id))?.quantity)).toBe(2)
        const err = await db.run(tx => tx.updateWithoutRead(Order, { id: uuid(), quantity: 2 })).catch(e => e)
        expect(err).toBeInstanceOf(ConditionFailedError)
        expect(err.reason).toBe('not-found')
        await expect(db.run(tx => tx.updateWithoutRead(ComplexFieldsExample, { id, immutableInt: 1 } as never))).rejects.toThrow(
          'immutableInt is immutable so value cannot be changed',
        )
        await expect(db.run(tx => tx.updateWithoutRead(Order, { id, quantity: -1 }))).rejects.toThrow(ValidationError)
      })

      it('createOrOverwrite writes whatever exists, with optional expected values', async () => {
        const key = { user: 'Bob', feature: 'refer a friend' }
        await db.run(tx => {
          const ret = tx.createOrOverwrite(LastUsedFeature, { ...key, epoch: 234, note: 'n' })
          expect(ret).not.toBe(undefined)
        })
        await db.run(tx => {
          tx.createOrOverwrite(LastUsedFeature, { ...key, epoch: 123 }, { epoch: 234 })
        })
        const doc = await db.run(tx => tx.get(LastUsedFeature, key))
        expect(doc!.epoch).toBe(123)
        expect(doc!.note).toBeUndefined()
        await expect(db.run(fast, tx => tx.createOrOverwrite(LastUsedFeature, { ...key, epoch: 1 }, { epoch: 999 }))).rejects.toThrow(TransactionFailedError)
        await db.run(tx => tx.createOrOverwrite(LastUsedFeature, { user: 'new', feature: 'f', epoch: 1 }, { epoch: 999 }))
      })
    })

    describe('concurrency and preconditions', () => {
      it('concurrent read-modify-write transactions never lose an update', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Counter, { id })
        })
        const other = await second()
        const bump = (d: Database) =>
          d.run({ retries: 30, initialBackoff: 1, maxBackoff: 20 }, async tx => {
            const c = await tx.get(Counter, id)
            await new Promise(r => setTimeout(r, Math.random() * 3))
            c!.count = c!.count + 1
          })
        await Promise.all(Array.from({ length: 10 }, (_, i) => bump(i % 2 ? db : other)))
        expect(await db.run(async tx => (await tx.get(Counter, id))?.count)).toBe(10)
      })

      it('incrementBy on an unread field never conflicts', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Counter, { id })
        })
        const attempts = { n: 0 }
        await Promise.all(
          Array.from({ length: 10 }, () =>
            db.run({ retries: 0 }, async tx => {
              attempts.n++
              const c = await tx.get(Counter, id)
              await new Promise(r => setTimeout(r, 2))
              c!.getField('count').incrementBy(2)
            }),
          ),
        )
        expect(attempts.n).toBe(10)
        expect(await db.run(async tx => (await tx.get(Counter, id))?.count)).toBe(20)
        const [m] = (await db.pendingMutations()).slice(-1)
        expect(m!.ops).toEqual([{ type: 'increment', collection: 'Counter', id, path: ['count'], by: 2 }])
        expect(m!.preconditions).toEqual([{ type: 'exists', collection: 'Counter', id }])
      })

      it('incrementBy on a field that was read is conditional on it; on undefined it throws', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Counter, { id })
        })
        await db.run(async tx => {
          const c = await tx.get(Counter, id)
          if (c!.count < 100) c!.getField('count').incrementBy(1)
          expect(() => c!.getField('note').incrementBy(1)).toThrow(/undefined/)
        })
        const [m] = (await db.pendingMutations()).slice(-1)
        expect(m!.preconditions).toContainEqual({ type: 'equals', collection: 'Counter', id, path: ['count'], value: 0 })
      })

      it('derives preconditions from what was read, and they travel in the outbox', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Order, { id, product: 'p', quantity: 1 })
        })
        await db.run(async tx => {
          const o = await tx.get(Order, id)
          if (o!.product === 'p') o!.quantity = 5
          await tx.get(Order, 'missing')
        })
        const [m] = (await db.pendingMutations()).slice(-1)
        expect(m!.ops).toEqual([{ type: 'set', collection: 'Order', id, path: ['quantity'], value: 5 }])
        expect(m!.preconditions).toEqual([
          { type: 'exists', collection: 'Order', id },
          { type: 'equals', collection: 'Order', id, path: ['product'], value: 'p' },
          { type: 'missing', collection: 'Order', id: 'missing' },
        ])
        expect(m!).toMatchObject({ clientId: db.clientId, schemaVersion: 1 })
        expect(m!.id).toMatch(/^[0-9a-f-]{36}$/)
      })

      it('a default read is conditional on "equal or absent"', async () => {
        await db.run(tx => {
          tx.create(Counter, { id: 'd' })
        })
        await db.run(async tx => {
          const c = await tx.get(Counter, 'd')
          c!.note = `count was ${c!.count}`
        })
        const [m] = (await db.pendingMutations()).slice(-1)
        expect(m!.preconditions).toContainEqual({ type: 'equals', collection: 'Counter', id: 'd', path: ['count'], value: 0 })
      })

      it('track: false opts a read out of the preconditions', async () => {
        const id = uuid()
        await db.run(tx => {
          tx.create(Counter, { id, note: 'a' })
        })
        const other = await second()
        let runs = 0
        await db.run(async tx => {
          runs++
          const c = await tx.get(Counter, id, { track: false })
          if (runs === 1) await other.run(async tx2 => void ((await tx2.get(Counter, id))!.note = 'changed'))
          c!.count = c!.note!.length
        })
        expect(runs).toBe(1)
      })

      it('writes nested changes as paths, and nothing at all when nothing changed', async () => {
        await db.run(tx => {
          tx.create(Counter, { id: 'n', tags: { a: 1, b: 2 } })
        })
        const before = (await db.pendingMutations()).length
        await db.run(async tx => {
          const c = await tx.get(Counter, 'n')
          c!.count = 0
          c!.tags = { b: 2, a: 1 }
        })
        expect(await db.pendingMutations()).toHaveLength(before)
        await db.run(async tx => {
          const c = await tx.get(Counter, 'n')
          c!.tags!.a = 5
          delete c!.tags!.b
        })
        const [m] = (await db.pendingMutations()).slice(-1)
        expect(m!.ops).toEqual([
          { type: 'set', collection: 'Counter', id: 'n', path: ['tags', 'a'], value: 5 },
          { type: 'unset', collection: 'Counter', id: 'n', path: ['tags', 'b'] },
        ])
        expect(await db.run(async tx => (await tx.get(Counter, 'n'))?.tags)).toEqual({ a: 5 })
      })
    })

    describe('the replica', () => {
      it('keeps data and outbox across close and reopen, in commit order with sequence numbers', async () => {
        for (let i = 0; i < 3; i++) {
          await db.run(tx => {
            tx.create(Order, { id: `o${i}`, product: 'p', quantity: i })
          })
        }
        const clientId = db.clientId
        await db.close()
        db = await openDatabase({ name: 'test', models: allModels, storage: made.reopen() })
        expect(db.clientId).toBe(clientId)
        expect(await db.run(async tx => (await tx.get(Order, 'o2'))?.quantity)).toBe(2)
        const outbox = await db.pendingMutations()
        expect(outbox.map(m => m.seq)).toEqual([1, 2, 3])
        await db.run(tx => {
          tx.create(Order, { id: 'o3', product: 'p', quantity: 3 })
        })
        expect((await db.pendingMutations()).map(m => m.seq)).toEqual([1, 2, 3, 4])
      })

      it('refuses to open when a key definition no longer matches the stored data', async () => {
        await db.run(tx => {
          tx.create(Order, { id: 'x', product: 'p', quantity: 1 })
        })
        await db.close()
        class Order2 extends Model {
          static override COLLECTION = 'Order'
          static override KEY = { sku: S.int }
          static override FIELDS = { product: S.str }
        }
        await expect(openDatabase({ name: 'test', models: [Order2], storage: made.reopen() })).rejects.toThrow(
          /key of Order is declared as \{sku:int\} but the replica stores Order documents keyed by \{id:str\}/,
        )
        db = await openDatabase({ name: 'test', models: allModels, storage: made.reopen() })
      })

      it('refuses two models with one collection name, and use after close', async () => {
        class A extends Model {
          static override COLLECTION = 'Same'
        }
        class B extends Model {
          static override COLLECTION = 'Same'
        }
        await expect(openDatabase({ name: 'x', models: [A, B] })).rejects.toThrow(/both use the collection Same/)
        await expect(openDatabase({ name: 'x', models: [A], sync: {} } as never)).rejects.toThrow(InvalidOptionsError)
        const d = await openDatabase({ name: 'x', models: [A] })
        await d.close()
        await expect(d.run(() => 1)).rejects.toThrow(ClosedError)
      })
    })
  })
}

describe('realmId, the reserved field of every document', () => {
  it('is refused as a declared field, filled for a Realm from its id, and left to the server where the user is unknown', async () => {
    class Bad extends model({ collection: 'Bad', fields: { realmId: S.str } }) {}
    await expect(openDatabase({ name: 'bad', models: [Bad] })).rejects.toThrow(/realmId is reserved/)
    class Note extends model({ collection: 'Note', fields: { text: S.str } }) {}
    const db = await openDatabase({ name: 'realm-fields', models: [Note] })
    expect(db.userId).toBeUndefined()
    const [note, realm] = await db.run(tx => [tx.create(Note, { text: 'no user yet' }).toJSON(), tx.create(Realm, { id: 'team' }).toJSON()])
    expect(note.realmId).toBeUndefined()
    expect(realm).toEqual({ id: 'team', realmId: 'team' })
    await expect(db.run(tx => void tx.create(Note, { text: 'x', realmId: '' }))).rejects.toThrow(ValidationError)
    await db.close()
  })
})
