import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { InvalidParameterError, MissingIndexError, Model, S, TransactionFailedError, ValidationError, openDatabase, type Database, type Storage } from '../../src/index.js'
import { adapters, type Adapter } from '../helpers/adapters.js'

class Todo extends Model {
  static override COLLECTION = 'Todo'
  static override FIELDS = {
    title: S.str,
    done: S.bool.default(false),
    priority: S.int.optional(),
    tags: S.arr(S.str).default([]),
    meta: S.obj().prop('owner', S.str).prop('rank', S.double.optional()).optional(),
  }
  static override INDEXES = [['done', 'priority'], ['priority'], ['tags'], ['meta.owner']]
}

/** Counts the documents a storage hands out of its `docs` store. */
function counting(storage: Storage): { storage: Storage; docsRead: () => number } {
  let n = 0
  const wrapReader = <R extends object>(r: R): R =>
    new Proxy(r, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (prop === 'getMany') return async (store: string, keys: string[]) => ((n += store === 'docs' ? keys.length : 0), (v as (s: string, k: string[]) => Promise<unknown[]>).call(target, store, keys))
        if (prop === 'scanJoined' && v) return async (index: string, values: string, prefix: string, range: object) => {
          const out = await (v as (i: string, s: string, p: string, r: object) => Promise<unknown[]>).call(target, index, values, prefix, range)
          if (values === 'docs') n += out.length
          return out
        }
        if (prop === 'scan' || prop === 'scanIndex') return async (store: string, range: object) => {
          const out = await (v as (s: string, r: object) => Promise<unknown[]>).call(target, store, range)
          if (store === 'docs') n += out.length
          return out
        }
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
  const wrapped = new Proxy(storage, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (prop === 'read' || prop === 'write') return (fn: (r: object) => Promise<unknown>) => (v as (f: (r: object) => Promise<unknown>) => Promise<unknown>).call(target, r => fn(wrapReader(r)))
      if (prop === 'peek' && v) return async (store: string, keys: string[]) => ((n += store === 'docs' ? keys.length : 0), (v as (s: string, k: string[]) => Promise<unknown[]>).call(target, store, keys))
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
  return { storage: wrapped, docsRead: () => n }
}

for (const adapter of adapters) {
  describe(`queries on ${adapter.name}`, () => {
    let made: ReturnType<Adapter['make']>
    let db: Database
    let docsRead: () => number
    beforeEach(async () => {
      made = adapter.make()
      const c = counting(made.storage)
      docsRead = c.docsRead
      db = await openDatabase({ name: 'q', models: [Todo], storage: c.storage })
      await db.run(tx => {
        tx.create(Todo, { id: 'a', title: 'alpha', priority: 3, tags: ['x', 'y'], meta: { owner: 'ann', rank: 1.5 } })
        tx.create(Todo, { id: 'b', title: 'beta', priority: 1, done: true, tags: ['y'] })
        tx.create(Todo, { id: 'c', title: 'gamma', priority: 2, meta: { owner: 'bob' } })
        tx.create(Todo, { id: 'd', title: 'delta', done: true })
        tx.create(Todo, { id: 'e', title: 'epsilon', priority: 3, tags: ['z'] })
      })
    })
    afterEach(async () => {
      await db.close()
      made.cleanup()
    })
    const ids = async (q: { fetch(): Promise<Array<{ id: string }>> }) => (await q.fetch()).map(d => d.id)

    it('fills a limited index query past index entries that its other filters reject', async () => {
      await db.run(tx => {
        for (let i = 0; i < 600; i++) tx.create(Todo, { id: `bulk${String(i).padStart(3, '0')}`, title: `t${i}`, priority: 7 })
      })
      // the index on priority yields the order, so the read streams; the title filter is checked per document
      const q = db.query(Todo).where('priority', '==', 7).where('title', '==', 't599').limit(1)
      expect(q.explain()).toMatchObject({ type: 'index', index: 'priority', ordered: true })
      expect(await ids(q)).toEqual(['bulk599'])
      expect(await ids(db.query(Todo).where('priority', '==', 7).orderBy('priority', 'desc').where('title', 'in', ['t3', 't598']).limit(2))).toEqual(['bulk598', 'bulk003'])
    })

    it('supports every operator', async () => {
      const q = () => db.query(Todo)
      expect(await ids(q().where('priority', '==', 3))).toEqual(['a', 'e'])
      expect(await ids(q().where('priority', '!=', 3))).toEqual(['b', 'c']) // d has no priority
      expect(await ids(q().where('priority', '<', 3))).toEqual(['b', 'c'])
      expect(await ids(q().where('priority', '<=', 2))).toEqual(['b', 'c'])
      expect(await ids(q().where('priority', '>', 1))).toEqual(['c', 'a', 'e'])
      expect(await ids(q().where('priority', '>=', 2))).toEqual(['c', 'a', 'e'])
      expect(await ids(q().where('priority', 'in', [1, 3]))).toEqual(['a', 'b', 'e'])
      expect(await ids(q().where('tags', 'array-contains', 'y'))).toEqual(['a', 'b'])
      expect(await ids(q().where('meta.owner', '==', 'bob'))).toEqual(['c'])
      expect(await ids(q().where('done', '==', true))).toEqual(['b', 'd'])
    })

    it('combines filters, orders several fields in both directions, limits and counts', async () => {
      expect(await ids(db.query(Todo).where('done', '==', false).where('priority', '>=', 2))).toEqual(['c', 'a', 'e'])
      expect(await ids(db.query(Todo).orderBy('done').orderBy('title', 'desc'))).toEqual(['c', 'e', 'a', 'd', 'b'])
      expect(await ids(db.query(Todo).orderBy('priority', 'desc').limit(2))).toEqual(['e', 'a'])
      expect(await db.query(Todo).where('done', '==', false).count()).toBe(3)
      expect(await db.query(Todo).limit(2).count()).toBe(2)
    })

    it('pages with cursors by values and by document', async () => {
      const byPriority = db.query(Todo).orderBy('priority')
      expect(await ids(byPriority.startAt(2))).toEqual(['c', 'a', 'e'])
      expect(await ids(byPriority.startAfter(2))).toEqual(['a', 'e'])
      expect(await ids(byPriority.endAt(2))).toEqual(['b', 'c'])
      expect(await ids(byPriority.endBefore(2))).toEqual(['b'])
      expect(await ids(byPriority.startAfter(3, 'a'))).toEqual(['e'])
      const [, second] = await byPriority.limit(2).fetch()
      expect(await ids(byPriority.startAfter(second!).limit(2))).toEqual(['a', 'e'])
    })

    it('explains its plan; strictIndexes refuses scans', async () => {
      expect(db.query(Todo).where('done', '==', true).where('priority', '>', 1).explain()).toMatchObject({ type: 'index', index: 'done,priority' })
      expect(db.query(Todo).orderBy('priority').limit(1).explain()).toMatchObject({ type: 'index', index: 'priority', ordered: true })
      expect(db.query(Todo).where('tags', 'array-contains', 'x').explain()).toMatchObject({ type: 'index', index: 'tags', contains: true })
      expect(db.explain(db.query(Todo).where('title', '==', 'x'))).toMatchObject({ type: 'scan' })
      const strict = await openDatabase({ name: 'q', models: [Todo], storage: made.reopen(), strictIndexes: true })
      try {
        await expect(strict.query(Todo).where('title', '==', 'alpha').fetch()).rejects.toThrow(MissingIndexError)
        await expect(strict.query(Todo).where('title', '==', 'alpha').fetch()).rejects.toThrow(/INDEXES = \[\["title"\]\]/)
        expect(await ids(strict.query(Todo).where('priority', '==', 1))).toEqual(['b'])
      } finally {
        await strict.close()
      }
    })

    it('never reads documents outside the range of the index it uses', async () => {
      await db.run(tx => {
        for (let i = 0; i < 300; i++) tx.create(Todo, { id: `bulk${i}`, title: 't', priority: 100 + (i % 30) })
      })
      const before = docsRead()
      expect(await ids(db.query(Todo).where('priority', '==', 110))).toHaveLength(10)
      expect(docsRead() - before).toBe(10)
      const before2 = docsRead()
      expect(await ids(db.query(Todo).where('priority', '>=', 100).orderBy('priority').limit(5))).toHaveLength(5)
      expect(docsRead() - before2).toBeLessThanOrEqual(256)
      const before3 = docsRead()
      await db.query(Todo).where('title', '==', 'alpha').fetch()
      expect(docsRead() - before3).toBe(305) // a scan reads everything, and says so in explain()
    })

    it('rejects unknown paths, wrong value types and bad operators clearly', () => {
      expect(() => db.query(Todo).where('nope' as never, '==', 1 as never)).toThrow(/Todo has no field nope/)
      expect(() => db.query(Todo).where('meta.nope' as never, '==', 1 as never)).toThrow(/no such property/)
      expect(() => db.query(Todo).where('priority', '==', 'high' as never)).toThrow(ValidationError)
      expect(() => db.query(Todo).where('priority', 'like' as never, 1 as never)).toThrow(InvalidParameterError)
      expect(() => db.query(Todo).where('priority', 'in', 3 as never)).toThrow(/'in' takes an array/)
      expect(() => db.query(Todo).where('title', 'array-contains', 'x' as never)).toThrow(/needs an array field/)
      expect(() => db.query(Todo).limit(-1)).toThrow(InvalidParameterError)
      expect(() => db.query(Todo).orderBy('priority').startAt(1, 'a', 'extra')).toThrow(/1 to 2 values/)
    })

    it('in a transaction, returns tracked instances whose existence and read fields the commit checks', async () => {
      const other = await openDatabase({ name: 'q', models: [Todo], storage: made.reopen() })
      try {
        let runs = 0
        await db.run({ retries: 2, initialBackoff: 1, maxBackoff: 2 }, async tx => {
          runs++
          const open = await tx.query(Todo).where('done', '==', false).orderBy('title').fetch()
          if (runs === 1) await other.run(tx2 => tx2.delete(Todo.key('c')))
          for (const t of open) t.done = true
        })
        expect(runs).toBe(2)
        expect(await ids(db.query(Todo).where('done', '==', false))).toEqual([])
        await expect(
          db.run({ retries: 1, initialBackoff: 1, maxBackoff: 1 }, async tx => {
            const [first] = await tx.query(Todo).orderBy('title').limit(1).fetch()
            await other.run(async tx2 => void ((await tx2.get(Todo, first!.id))!.title = 'changed'))
            first!.priority = first!.title.length
          }),
        ).rejects.toThrow(TransactionFailedError)
      } finally {
        await other.close()
      }
    })

    it('documents from db.query are read-only', async () => {
      const [a] = await db.query(Todo).where('priority', '==', 3).fetch()
      expect(() => (a!.title = 'x')).toThrow(/read-only; change them in db.run/)
    })
  })
}

describe('indexes added later', () => {
  for (const adapter of adapters) {
    it(`are built on open with progress (${adapter.name})`, async () => {
      class Item extends Model {
        static override COLLECTION = 'Item'
        static override FIELDS = { n: S.int }
      }
      class IndexedItem extends Model {
        static override COLLECTION = 'Item'
        static override FIELDS = { n: S.int }
        static override INDEXES = [['n']]
      }
      const made = adapter.make()
      const first = await openDatabase({ name: 'i', models: [Item], storage: made.storage })
      for (let i = 0; i < 1500; i += 500) {
        await first.run(tx => {
          for (let j = i; j < i + 500; j++) tx.create(Item, { id: `i${j}`, n: j % 100 })
        })
      }
      await first.close()
      const progress: number[] = []
      const second = await openDatabase({ name: 'i', models: [IndexedItem], storage: made.reopen(), onProgress: p => progress.push(p.done) })
      expect(progress).toEqual([0, 1000, 1500])
      expect(second.query(IndexedItem).where('n', '==', 7).explain()).toMatchObject({ type: 'index' })
      expect(await second.query(IndexedItem).where('n', '==', 7).count()).toBe(15)
      await second.close()
      // dropping the index again removes its entries; re-adding rebuilds it
      const third = await openDatabase({ name: 'i', models: [Item], storage: made.reopen() })
      await third.close()
      const fourth = await openDatabase({ name: 'i', models: [IndexedItem], storage: made.reopen(), onProgress: p => progress.push(p.done) })
      expect(await fourth.query(IndexedItem).where('n', '>', 97).count()).toBe(30)
      await fourth.close()
      made.cleanup()
    })
  }
})
