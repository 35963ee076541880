import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Model, S, openDatabase, type Database, type Snapshot } from '../../src/index.js'
import { adapters, type Adapter } from '../helpers/adapters.js'

class Task extends Model {
  static override COLLECTION = 'Task'
  static override FIELDS = { title: S.str, done: S.bool.default(false), n: S.int.default(0) }
  static override INDEXES = [['done', 'title'], ['n']]
}
class Other extends Model {
  static override COLLECTION = 'Other'
  static override FIELDS = { x: S.int }
}

type Snap = Snapshot<typeof Task>
/** Records snapshots; `next()` waits for the next one. */
function recorder() {
  const snaps: Snap[] = []
  const waiters: Array<() => void> = []
  return {
    snaps,
    cb: (s: Snap) => {
      snaps.push(s)
      waiters.splice(0).forEach(w => w())
    },
    async next(count = snaps.length + 1, ms = 2000): Promise<Snap> {
      const deadline = Date.now() + ms
      while (snaps.length < count) {
        if (Date.now() > deadline) throw new Error(`no snapshot ${count} within ${ms} ms (have ${snaps.length})`)
        await new Promise<void>(r => {
          waiters.push(r)
          setTimeout(r, 20)
        })
      }
      return snaps[count - 1]!
    },
  }
}
const view = (s: Snap) => ({
  docs: s.docs.map(d => `${d.id}:${d.title}`),
  changes: s.changes.map(c => `${c.type} ${c.doc.id} ${c.oldIndex}->${c.newIndex}`),
})
const settle = () => new Promise(r => setTimeout(r, 60))

for (const adapter of adapters) {
  describe(`live queries on ${adapter.name}`, () => {
    let made: ReturnType<Adapter['make']>
    let db: Database
    beforeEach(async () => {
      made = adapter.make()
      db = await openDatabase({ name: 'live', models: [Task, Other], storage: made.storage })
      await db.run(tx => {
        tx.create(Task, { id: 'a', title: 'apples' })
        tx.create(Task, { id: 'b', title: 'bread', done: true })
      })
    })
    afterEach(async () => {
      await db.close()
      made.cleanup()
    })

    it('delivers the exact sequence of snapshots for scripted changes, and none for writes that change nothing', async () => {
      const r = recorder()
      const stop = db.query(Task).where('done', '==', false).orderBy('title').subscribe(r.cb)
      expect(view(await r.next(1))).toEqual({ docs: ['a:apples'], changes: ['added a -1->0'] })
      expect(r.snaps[0]!.metadata).toEqual({ fromCache: true, hasPendingWrites: true })

      await db.run(tx => void tx.create(Task, { id: 'c', title: 'cheese' }))
      expect(view(await r.next(2))).toEqual({ docs: ['a:apples', 'c:cheese'], changes: ['added c -1->1'] })

      await db.run(async tx => void ((await tx.get(Task, 'c'))!.title = 'aaa cheese'))
      expect(view(await r.next(3))).toEqual({ docs: ['c:aaa cheese', 'a:apples'], changes: ['modified c 1->0'] })

      await db.run(async tx => void ((await tx.get(Task, 'a'))!.done = true))
      expect(view(await r.next(4))).toEqual({ docs: ['c:aaa cheese'], changes: ['removed a 1->-1'] })

      // nothing changes: same value, a document outside the result, another collection
      await db.run(async tx => void ((await tx.get(Task, 'c'))!.title = 'aaa cheese'))
      await db.run(async tx => void ((await tx.get(Task, 'b'))!.n = 5))
      await db.run(tx => void tx.create(Other, { id: 'o', x: 1 }))
      await settle()
      expect(r.snaps).toHaveLength(4)

      await db.run(tx => tx.delete(Task.key('c')))
      expect(view(await r.next(5))).toEqual({ docs: [], changes: ['removed c 0->-1'] })
      expect(r.snaps[4]!.empty).toBe(true)

      stop()
      await db.run(tx => void tx.create(Task, { id: 'd', title: 'dates' }))
      await settle()
      expect(r.snaps).toHaveLength(5)
    })

    it('keeps a limited window full, refilling it when a document leaves', async () => {
      await db.run(tx => {
        for (let i = 1; i <= 5; i++) tx.create(Task, { id: `n${i}`, title: `n${i}`, n: i })
      })
      const r = recorder()
      db.query(Task).where('n', '>=', 1).orderBy('n').limit(2).subscribe(r.cb)
      expect(view(await r.next(1)).docs).toEqual(['n1:n1', 'n2:n2'])
      await db.run(tx => tx.delete(Task.key('n1')))
      expect(view(await r.next(2))).toEqual({ docs: ['n2:n2', 'n3:n3'], changes: ['removed n1 0->-1', 'added n3 -1->1'] })
      await db.run(async tx => void ((await tx.get(Task, 'n2'))!.n = 10))
      expect(view(await r.next(3)).docs).toEqual(['n3:n3', 'n4:n4'])
      await db.run(async tx => void ((await tx.get(Task, 'n5'))!.n = 2))
      expect(view(await r.next(4)).docs).toEqual(['n5:n5', 'n3:n3'])
      await db.run(async tx => void ((await tx.get(Task, 'n4'))!.n = 50))
      await settle()
      expect(r.snaps).toHaveLength(4)
    })

    it('sees changes made by another database on the same storage', async () => {
      const other = await openDatabase({ name: 'live', models: [Task, Other], storage: made.reopen() })
      try {
        const r = recorder()
        const stop = other.query(Task).where('done', '==', false).subscribe(r.cb)
        expect(view(await r.next(1)).docs).toEqual(['a:apples'])
        await db.run(tx => void tx.create(Task, { id: 'z', title: 'zucchini' }))
        expect(view(await r.next(2))).toEqual({ docs: ['a:apples', 'z:zucchini'], changes: ['added z -1->1'] })
        await db.run(async tx => void ((await tx.get(Task, 'a'))!.done = true))
        expect(view(await r.next(3)).docs).toEqual(['z:zucchini'])
        stop()
      } finally {
        if (adapter.name !== 'memory') await other.close()
      }
    })

    it('watches one document', async () => {
      const seen: Array<string | undefined> = []
      const stop = db.watch(Task, 'q', doc => seen.push(doc?.title))
      await settle()
      await db.run(tx => void tx.create(Task, { id: 'q', title: 'quince' }))
      await db.run(async tx => void ((await tx.get(Task, 'q'))!.n = 1))
      await db.run(async tx => void ((await tx.get(Task, 'q'))!.title = 'quinces'))
      await db.run(tx => tx.delete(Task.key('q')))
      stop()
      await db.run(tx => void tx.create(Task, { id: 'q', title: 'again' }))
      await settle()
      expect(seen).toEqual([undefined, 'quince', 'quince', 'quinces', undefined])
    })

    it('counts cache hits and misses, skipped writes and operation durations', async () => {
      await db.run(async tx => {
        await tx.get(Task, 'a')
        await tx.get(Task, 'missing')
      })
      await db.run(async tx => void ((await tx.get(Task, 'a'))!.title = 'apples'))
      await db.query(Task).where('done', '==', true).fetch()
      const stats = db.stats()
      expect(stats.cacheHits).toBeGreaterThanOrEqual(2)
      expect(stats.cacheMisses).toBeGreaterThanOrEqual(1)
      expect(stats.operations.commit?.count).toBe(1)
      expect(stats.operations.query?.count).toBe(1)
      expect(stats.operations.commit!.p50).toBeGreaterThan(0)
      expect(stats.operations.commit!.max).toBeGreaterThanOrEqual(stats.operations.commit!.p95)
    })
  })
}

describe('stats and debug', () => {
  it('counts writes skipped because nothing changed, and logs slow operations when asked', async () => {
    const lines: string[] = []
    const db = await openDatabase({ name: 's', models: [Task], debug: { slowMs: 0, log: l => lines.push(l) } })
    await db.run(tx => void tx.create(Task, { id: 'a', title: 'x' }))
    await db.run(tx => tx.updateWithoutRead(Task, { id: 'a', title: 'x' }))
    expect(db.stats().writesSkipped).toBe(1)
    await db.query(Task).where('n', '==', 0).fetch()
    expect(lines.some(l => /slow commit/.test(l))).toBe(true)
    expect(lines.some(l => /slow query .*Task by index n/.test(l))).toBe(true)
    await db.close()
  })
})
