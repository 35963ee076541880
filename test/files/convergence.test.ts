import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Model, S, openDatabase, type Database } from '../../src/index.js'
import { memoryFileStore, type FileStore } from '../../src/files/store.js'

class Item extends Model {
  static override COLLECTION = 'Item'
  static override FIELDS = { label: S.str.default(''), n: S.int.default(0) }
}

/** A client's view of the shared store that can fail a write: a crash between writing a part and writing an index. */
class Flaky implements FileStore {
  failNext: RegExp | undefined
  constructor(readonly inner: FileStore) {}
  get url() {
    return this.inner.url
  }
  list(p: string) {
    return this.inner.list(p)
  }
  read(p: string) {
    return this.inner.read(p)
  }
  async write(p: string, d: string) {
    if (this.failNext?.test(p)) {
      this.failNext = undefined
      throw new Error(`crashed before writing ${p}`)
    }
    return this.inner.write(p, d)
  }
  delete(p: string) {
    return this.inner.delete(p)
  }
}

const action = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), doc: fc.constantFrom('a', 'b', 'c'), label: fc.constantFrom('x', 'y', 'z') }),
  fc.record({ kind: fc.constant('set' as const), doc: fc.constantFrom('a', 'b', 'c'), label: fc.constantFrom('p', 'q') }),
  fc.record({ kind: fc.constant('increment' as const), doc: fc.constantFrom('a', 'b', 'c', 'counter'), by: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ kind: fc.constant('delete' as const), doc: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ kind: fc.constant('sync' as const) }),
  fc.record({ kind: fc.constant('crash' as const), before: fc.constantFrom(/client-index\.json$/, /master-index\.json$/, /part-/, /checkpoint-/) }),
)

describe('serverless convergence (property)', () => {
  it('replicas converge whatever the order of writes, syncs, checkpoints and crashes between file writes; no increment is lost or applied twice', async () => {
    let checkpointed = 0
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 3, max: 5 }), fc.array(fc.tuple(fc.nat(4), action), { minLength: 5, maxLength: 40 }), async (n, steps) => {
        const shared = memoryFileStore()
        const stores = Array.from({ length: n }, () => new Flaky(shared))
        const dbs: Database[] = []
        for (const s of stores) dbs.push(await openDatabase({ name: 'conv', models: [Item], files: { stores: [s], interval: 0, partBytes: 300, onWarning: () => undefined } }))
        // the counter exists everywhere from the start, so every increment of it must count
        await dbs[0]!.run(tx => void tx.create(Item, { id: 'counter' }))
        await dbs[0]!.files.sync()
        for (const db of dbs) await db.files.sync()
        let counted = 0
        try {
          for (const [who, a] of steps) {
            const db = dbs[who % n]!
            if (a.kind === 'sync') await db.files.sync().catch(() => undefined)
            else if (a.kind === 'crash') stores[who % n]!.failNext = a.before
            else {
              const committed = await db
                .run({ retries: 0 }, async tx => {
                  if (a.kind === 'create') {
                    tx.createOrOverwrite(Item, { id: a.doc, label: a.label })
                    return true
                  }
                  const doc = await tx.get(Item, a.doc)
                  if (!doc) return false
                  else if (a.kind === 'set') doc.label = a.label
                  else if (a.kind === 'increment') doc.getField('n').incrementBy(a.by)
                  else tx.delete(doc)
                  return true
                })
                .catch(() => false)
              if (committed && a.kind === 'increment' && a.doc === 'counter') counted += a.by
            }
          }
          for (const s of stores) s.failNext = undefined
          for (let round = 0; round < 2; round++) for (const db of dbs) await db.files.sync()
          // a device that joins now reads checkpoints where the others' parts were replaced
          const late = await openDatabase({ name: 'conv', models: [Item], files: { stores: [shared], interval: 0, onWarning: () => undefined } })
          dbs.push(late)
          await late.files.sync()
          if ((await shared.list('')).some(p => p.includes('checkpoint-'))) checkpointed++
          const states = await Promise.all(dbs.map(async db => JSON.stringify(await db.query(Item).fetch().then(items => items.map(i => [i.id, i.label, i.n])))))
          for (const s of states) expect(s).toBe(states[0])
          const counter = await dbs[0]!.run(tx => tx.get(Item, 'counter'))
          expect(counter?.n).toBe(counted)
          for (const db of dbs) expect(await db.pendingMutations()).toEqual([])
        } finally {
          for (const db of dbs) await db.close()
        }
      }),
      { numRuns: 100 },
    )
    // the schedules must reach checkpoints, or this says nothing of them
    expect(checkpointed).toBeGreaterThan(10)
  }, 120_000)
})
