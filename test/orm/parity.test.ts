import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidFieldError, InvalidOptionsError, Model, S, ValidationError, model, openDatabase, type Database } from '../../src/index.js'
import type { Replica } from '../../src/replica/replica.js'
import { adapters, type Adapter } from '../helpers/adapters.js'

/** The documents of a collection as stored, beneath what the app reads. */
const stored = (db: Database, collection: string) => (db as unknown as { replica: Replica }).replica.allDocs(collection)
/** Commits ops as they are, as an app at another version (or a bug) may have stored them. */
const commitRaw = (db: Database, ...args: Parameters<Replica['commit']>) => (db as unknown as { replica: Replica }).replica.commit(...args)

// The seed library's own rules where Tidepool used to differ: what is validated, what a
// read-only transaction sees, nested defaults, explicit undefined, key defaults, sealed instances.
for (const adapter of adapters) {
  describe(`seed parity on ${adapter.name}`, () => {
    let made: ReturnType<Adapter['make']> | undefined
    const open: Database[] = []
    afterEach(async () => {
      for (const db of open.splice(0)) await db.close()
      made?.cleanup()
      made = undefined
    })
    async function db(models: Array<typeof Model>, reopen = false): Promise<Database> {
      made ??= adapter.make()
      const d = await openDatabase({ name: 'parity', models, storage: reopen ? made.reopen() : made.storage })
      open.push(d)
      return d
    }
    async function closeAll(): Promise<void> {
      for (const d of open.splice(0)) await d.close()
    }

    it('validates what a transaction writes, never what it only read', async () => {
      class Prefs extends model({ collection: 'Prefs', fields: { prefs: S.obj().prop('theme', S.str.max(5)).default({ theme: 'dark' }), visits: S.int.default(0) } }) {}
      const d = await db([Prefs])
      await d.run(tx => void tx.create(Prefs, { id: 'u' }))
      // a stored value the schema no longer accepts (written under another schema): only reading it is no write
      await d.run(tx => tx.updateWithoutRead(Prefs, { id: 'u', visits: 1 }))
      await commitRaw(d, [{ type: 'set', collection: 'Prefs', id: 'u', path: ['prefs', 'theme'], value: 'midnight' }], [])
      expect(await d.run({ readOnly: true }, async tx => (await tx.get(Prefs, 'u'))!.prefs.theme)).toBe('midnight')
      // changing another field writes that field only
      await d.run(async tx => {
        const p = (await tx.get(Prefs, 'u'))!
        expect(p.prefs.theme).toBe('midnight')
        p.visits = p.visits + 1
      })
      expect(await d.run(async tx => (await tx.get(Prefs, 'u'))!.visits)).toBe(2)
      // changing the object in place writes it, so it is checked
      await expect(
        d.run(async tx => {
          const p = (await tx.get(Prefs, 'u'))!
          p.prefs.theme = 'midnight blue'
        }),
      ).rejects.toThrow(ValidationError)
    })

    it('a read-only transaction never returns a state that did not exist: a write between its reads makes it retry', async () => {
      class SkierStats extends model({ collection: 'SkierStats', fields: { n: S.int } }) {}
      class LiftStats extends model({ collection: 'LiftStats', fields: { n: S.int } }) {}
      const d = await db([SkierStats, LiftStats])
      let attempts = 0
      const result = await d.run({ readOnly: true }, async tx => {
        attempts++
        const skiers = await tx.get(SkierStats, 'total')
        // the second transaction runs between the first one's two reads (once)
        if (attempts === 1)
          await d.run(tx2 => {
            tx2.create(SkierStats, { id: 'total', n: 1 })
            tx2.create(LiftStats, { id: 'total', n: 1 })
          })
        const lifts = await tx.get(LiftStats, 'total')
        return { skiers: skiers?.n, lifts: lifts?.n }
      })
      expect(result).toEqual({ skiers: 1, lifts: 1 })
      expect(attempts).toBe(2)
    })

    it('fills nested defaults on create and on read', async () => {
      class V1 extends model({ collection: 'Nested', fields: { arr: S.arr(S.obj().prop('int', S.int).prop('str', S.str.optional())) } }) {}
      class V2 extends model({ collection: 'Nested', fields: { arr: S.arr(S.obj().prop('int', S.int).prop('str', S.str.default('butterfly'))) } }) {}
      const d1 = await db([V1])
      await d1.run(tx => void tx.create(V1, { id: 'old', arr: [{ int: 1 }, { int: 2, str: 'moth' }] }))
      await closeAll()
      const d2 = await db([V2], true)
      // the type asks for str (reads always have it); a create may leave it to the default
      await d2.run(tx => void tx.create(V2, { id: 'new', arr: [{ int: 2 } as { int: number; str: string }] }))
      expect((await stored(d2, 'Nested')).find(x => x.id === 'new')!.data.arr).toEqual([{ int: 2, str: 'butterfly' }])
      const old = await d2.run({ readOnly: true }, async tx => (await tx.get(V2, 'old'))!.arr)
      expect(old).toEqual([
        { int: 1, str: 'butterfly' },
        { int: 2, str: 'moth' },
      ])
      // filled on read is not a change: the stored document is as it was
      expect((await stored(d2, 'Nested')).find(x => x.id === 'old')!.data.arr).toEqual([{ int: 1 }, { int: 2, str: 'moth' }])
    })

    it('an explicit undefined is no omission: required fails, optional stays absent', async () => {
      class Defaults extends model({ collection: 'Defaults', fields: { req: S.int.readOnly().default(5), defOpt: S.int.default(7).optional() } }) {}
      const d = await db([Defaults])
      await expect(d.run(tx => void tx.create(Defaults, { id: 'a', req: undefined as unknown as number }))).rejects.toThrow(/req: is required and cannot be set to undefined/)
      await d.run(tx => void tx.create(Defaults, { id: 'b', defOpt: undefined }))
      await d.run(tx => void tx.create(Defaults, { id: 'c' }))
      const docs = Object.fromEntries((await stored(d, 'Defaults')).map(x => [x.id, x.data]))
      expect(docs.a).toBeUndefined()
      expect(docs.b).toEqual({ id: 'b', req: 5 })
      expect(docs.c).toEqual({ id: 'c', req: 5, defOpt: 7 })
    })

    it('refuses a default on a key component', async () => {
      class KeyDefault extends Model {
        static override COLLECTION = 'KeyDefault'
        static override KEY = { k: S.double.default(1) }
      }
      await expect(db([KeyDefault])).rejects.toThrow(InvalidOptionsError)
      await expect(db([KeyDefault])).rejects.toThrow(/KeyDefault\.k: key components cannot have a default/)
    })

    it('refuses assignments to fields a model does not have, inside and outside transactions', async () => {
      class Item extends model({ collection: 'Item', fields: { size: S.int } }) {
        // methods and getters of the class stay reachable
        get double(): number {
          return this.size * 2
        }
      }
      const d = await db([Item])
      await expect(
        d.run(tx => {
          const it = tx.create(Item, { id: 'a', size: 1 })
          ;(it as unknown as { colour: string }).colour = 'red'
        }),
      ).rejects.toThrow(InvalidFieldError)
      await d.run(tx => void tx.create(Item, { id: 'a', size: 2 }))
      const [doc] = await d.query(Item).fetch()
      expect(doc!.double).toBe(4)
      expect(() => ((doc as unknown as { colour: string }).colour = 'red')).toThrow(/colour is not a field of Item \(its fields: size, realmId\)/)
      expect(await d.run(async tx => (await tx.get(Item, 'a'))!.toJSON())).toEqual({ id: 'a', size: 2 })
      // the classes themselves stay open to methods and mixins
      Object.assign(Item.prototype, { triple(this: Item) { return this.size * 3 } })
      expect(((await d.query(Item).fetch())[0] as unknown as { triple(): number }).triple()).toBe(6)
    })
  })
}

describe('read-only transactions (property)', () => {
  for (const adapter of adapters) {
    it(`see a state of a serial order of the committed writes, whatever runs between their reads (${adapter.name})`, async () => {
      class Cell extends model({ collection: 'Cell', fields: { n: S.int } }) {}
      const ids = ['a', 'b', 'c']
      const write = fc.record({ ids: fc.subarray(ids, { minLength: 1 }), remove: fc.boolean() })
      const reader = fc.record({ reads: fc.array(fc.constantFrom(...ids), { minLength: 2, maxLength: 4 }), gaps: fc.array(fc.array(write, { maxLength: 2 }), { maxLength: 6 }) })
      await fc.assert(
        fc.asyncProperty(fc.array(reader, { minLength: 1, maxLength: 4 }), async readers => {
          const made = adapter.make()
          const db = await openDatabase({ name: 'serial', models: [Cell], storage: made.storage })
          try {
            let n = 0
            // the state after each committed write, as the writes define it
            const state = new Map<string, number>()
            const history: Array<Map<string, number>> = [new Map()]
            const commit = async (w: { ids: string[]; remove: boolean }) => {
              const value = ++n
              await db.run(async tx => {
                for (const id of w.ids) {
                  const c = await tx.get(Cell, id)
                  if (w.remove) {
                    if (c) tx.delete(c)
                  } else if (c) c.n = value
                  else tx.create(Cell, { id, n: value })
                }
              })
              for (const id of w.ids) {
                if (w.remove) state.delete(id)
                else state.set(id, value)
              }
              history.push(new Map(state))
            }
            for (const r of readers) {
              const gaps = [...r.gaps]
              const seen = await db.run({ readOnly: true, retries: 20, initialBackoff: 0, maxBackoff: 0 }, async tx => {
                const out = new Map<string, number | undefined>()
                for (const [i, id] of r.reads.entries()) {
                  if (i > 0) for (const w of gaps.shift() ?? []) await commit(w)
                  if (out.has(id)) continue
                  out.set(id, (await tx.get(Cell, id))?.n)
                }
                return out
              })
              const consistent = history.some(h => [...seen].every(([id, v]) => h.get(id) === v))
              expect(consistent, `read ${JSON.stringify([...seen])} matches no state of ${JSON.stringify(history.map(h => [...h]))}`).toBe(true)
            }
          } finally {
            await db.close()
            made.cleanup()
          }
        }),
        { numRuns: 40 },
      )
    })
  }
})
