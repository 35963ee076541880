import assert from 'node:assert/strict'
import { ClosedError } from '../core/errors.js'
import type { KeyRange, Storage } from '../replica/storage.js'
import { Store } from '../replica/store.js'
import type { TestApi } from './api.js'

/** How to make the storages under test; `reopen` gives a new storage over the same data (a restart, or another process). */
export interface StorageFactory {
  name: string
  /** Called before each test: a storage over empty data. */
  make(): {
    storage: Storage
    /** A new storage over the same data as `storage`. */
    reopen(): Storage
    /** Called after each test, once the storage is closed: remove the data (files, databases). */
    cleanup(): void | Promise<void>
  }
}

const STORES = ['a', 'b']

/**
 * Registers every behaviour a storage adapter promises (see the `Storage`
 * interface), exercised the way the replica uses it: through the one
 * overlay that gives every adapter reads of its own writes.
 */
export function describeStorage(factory: StorageFactory, t: TestApi): void {
  const { describe, it, beforeEach, afterEach } = t
  describe(`storage conformance: ${factory.name}`, () => {
    let made: ReturnType<StorageFactory['make']>
    let storage: Store
    beforeEach(async () => {
      made = factory.make()
      storage = new Store(made.storage)
      await storage.open(STORES)
    })
    afterEach(async () => {
      await storage.close()
      await made.cleanup()
    })
    const keys = async (range: KeyRange = {}, store = 'a') => (await storage.read(r => r.scan(store, range))).map(([k]) => k).join('')

    it('puts, gets and deletes values per store', async () => {
      await storage.write(async w => {
        w.put('a', 'k1', { x: 1 })
        w.put('b', 'k1', { y: [1, 'two', null, true] })
      })
      assert.deepEqual(await storage.read(r => r.get('a', 'k1')), { x: 1 })
      assert.deepEqual(await storage.read(r => r.get('b', 'k1')), { y: [1, 'two', null, true] })
      assert.deepEqual(await storage.read(r => r.getMany('a', ['missing', 'k1'])), [undefined, { x: 1 }])
      await storage.write(async w => w.delete('a', 'k1'))
      assert.equal(await storage.read(r => r.get('a', 'k1')), undefined)
    })

    it('reads a few keys at once outside a transaction, never seeing a write half-done', async () => {
      await storage.write(async w => {
        w.put('a', 'x', 1)
        w.put('a', 'y', 1)
      })
      let release!: () => void
      const gate = new Promise<void>(r => (release = r))
      const writing = storage.write(async w => {
        w.put('a', 'x', 2)
        release()
        await w.get('a', 'x')
        w.put('a', 'y', 2)
      })
      await gate
      const [one, both] = await Promise.all([storage.getMany('a', ['x']), storage.getMany('a', ['x', 'y', 'missing'])])
      await writing
      assert.ok(['[1]', '[2]'].includes(JSON.stringify(one)), `saw ${JSON.stringify(one)}`)
      assert.ok(
        [
          [1, 1, undefined],
          [2, 2, undefined],
        ].some(x => JSON.stringify(x) === JSON.stringify(both)),
        `saw ${JSON.stringify(both)}`,
      )
      assert.deepEqual(await storage.getMany('a', ['y', 'x']), [2, 2])
    })

    it('keeps keys holding NUL and non-ASCII exactly', async () => {
      const list = ['a\0b', 'a\0b\0c', 'ü\0€', 'x']
      await storage.write(async w => list.forEach((k, i) => w.put('a', k, i)))
      assert.deepEqual(await storage.read(r => r.getMany('a', list)), [0, 1, 2, 3])
      assert.deepEqual(
        (await storage.read(r => r.scan('a'))).map(([k]) => k),
        [...list].sort(),
      )
    })

    it('scans in key order within bounds, reversed and limited', async () => {
      await storage.write(async w => {
        for (const k of ['d', 'a', 'c', 'e', 'b']) w.put('a', k, k.toUpperCase())
      })
      assert.equal(await keys({}), 'abcde')
      assert.equal(await keys({ gt: 'a', lt: 'e' }), 'bcd')
      assert.equal(await keys({ gte: 'b', lte: 'd' }), 'bcd')
      assert.equal(await keys({ gte: 'b', reverse: true }), 'edcb')
      assert.equal(await keys({ lt: 'd', reverse: true, limit: 2 }), 'cb')
      assert.equal(await keys({ limit: 2 }), 'ab')
      assert.equal(await keys({ gt: 'c', lt: 'c' }), '')
      assert.equal(await keys({ gte: 'z' }), '')
      assert.deepEqual(await storage.read(r => r.scan('a', { gte: 'e' })), [['e', 'E']])
    })

    it('merges a transaction’s own writes into its scans, limited ones included', async () => {
      await storage.write(async w => {
        for (const k of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) w.put('a', k, k)
      })
      await storage.write(async w => {
        for (const k of ['a', 'b', 'c']) w.delete('a', k)
        w.deleteRange('a', { gte: 'd', lt: 'f' })
        w.put('a', 'dd', 'new')
        w.put('a', 'g', 'G')
        const seen = async (range: KeyRange) => (await w.scan('a', range)).map(([k]) => k).join(',')
        assert.equal(await seen({ limit: 2 }), 'dd,f')
        assert.equal(await seen({ reverse: true, limit: 2 }), 'g,f')
        assert.equal(await seen({ gt: 'dd', limit: 5 }), 'f,g')
        assert.deepEqual(await w.getMany('a', ['a', 'd', 'dd', 'g']), [undefined, undefined, 'new', 'G'])
      })
      assert.equal(await keys({}), 'ddfg')
    })

    it('counts entries, including a transaction’s own writes', async () => {
      assert.equal(await storage.read(r => r.count('a')), 0)
      await storage.write(async w => {
        for (const k of ['a', 'b', 'c']) w.put('a', k, k)
        assert.equal(await w.count('a'), 3)
      })
      await storage.write(async w => {
        w.delete('a', 'b')
        w.put('a', 'c', 'again')
        w.put('a', 'd', 'd')
        assert.equal(await w.count('a'), 3)
        w.deleteRange('a', { gte: 'c' })
        w.put('a', 'e', 'e')
        assert.equal(await w.count('a'), 2)
      })
      assert.equal(await storage.read(r => r.count('a')), 2)
      assert.equal(await storage.read(r => r.count('b')), 0)
    })

    it('deletes a range of keys, including ones written earlier in the same transaction', async () => {
      await storage.write(async w => {
        for (const k of ['a', 'b', 'c', 'd', 'e']) w.put('a', k, k)
      })
      await storage.write(async w => {
        w.put('a', 'bb', 'new')
        w.deleteRange('a', { gte: 'b', lt: 'd' })
        assert.equal((await w.scan('a')).map(([k]) => k).join(''), 'ade')
      })
      assert.equal(await keys(), 'ade')
      await storage.write(async w => w.deleteRange('a', { lt: 'b' }))
      assert.equal(await keys(), 'de')
      await storage.write(async w => w.deleteRange('a', { gte: 'e' }))
      assert.equal(await keys(), 'd')
      await storage.write(async w => w.deleteRange('a', { gte: 'z', lt: 'a' }))
      assert.equal(await keys(), 'd')
      await storage.write(async w => {
        w.deleteRange('a', { gte: 'a' })
        w.put('a', 'x', 'after the range')
      })
      assert.equal(await keys(), 'x')
    })

    it('sees its own writes inside a write transaction, and others see them only after commit', async () => {
      let outside: unknown = 'not read'
      let release!: () => void
      const gate = new Promise<void>(r => (release = r))
      const writing = storage.write(async w => {
        w.put('a', 'k', 1)
        assert.equal(await w.get('a', 'k'), 1)
        assert.deepEqual(
          (await w.scan('a')).map(([k]) => k),
          ['k'],
        )
        w.delete('a', 'k')
        assert.equal(await w.get('a', 'k'), undefined)
        w.put('a', 'k', 2)
        release()
        await w.get('a', 'k')
      })
      await gate
      const reading = storage.read(async r => (outside = await r.get('a', 'k')))
      await writing
      await reading
      assert.ok(outside === undefined || outside === 2, `saw ${String(outside)}`)
      assert.equal(await storage.read(r => r.get('a', 'k')), 2)
    })

    it('a read transaction sees one state across its awaits', async () => {
      await storage.write(async w => {
        w.put('a', 'x', 1)
        w.put('a', 'y', 1)
      })
      const reading = storage.read(async r => {
        const x = await r.get('a', 'x')
        await r.get('b', 'nothing')
        await r.get('b', 'nothing')
        return [x, await r.get('a', 'y')]
      })
      const writing = storage.write(async w => {
        w.put('a', 'x', 2)
        w.put('a', 'y', 2)
      })
      const seen = await reading
      await writing
      assert.ok(['[1,1]', '[2,2]'].includes(JSON.stringify(seen)), `saw ${JSON.stringify(seen)}`)
    })

    it('commits nothing when the transaction function throws', async () => {
      await storage.write(async w => w.put('a', 'keep', 1))
      await assert.rejects(
        storage.write(async w => {
          w.put('a', 'keep', 2)
          w.put('b', 'new', 3)
          w.deleteRange('a', { gte: '' })
          await w.get('a', 'keep')
          throw new Error('boom')
        }),
        /boom/,
      )
      assert.equal(await storage.read(r => r.get('a', 'keep')), 1)
      assert.equal(await storage.read(r => r.get('b', 'new')), undefined)
    })

    it('serializes concurrent write transactions (no lost update)', async () => {
      await storage.write(async w => w.put('a', 'n', 0))
      await Promise.all(
        Array.from({ length: 20 }, () =>
          storage.write(async w => {
            const n = (await w.get('a', 'n')) as number
            w.put('a', 'n', n + 1)
          }),
        ),
      )
      assert.equal(await storage.read(r => r.get('a', 'n')), 20)
    })

    it('keeps data across close and reopen', async () => {
      await storage.write(async w => w.put('a', 'k', { deep: { v: [1, 2] } }))
      await storage.close()
      storage = new Store(made.reopen())
      await storage.open(STORES)
      assert.deepEqual(await storage.read(r => r.get('a', 'k')), { deep: { v: [1, 2] } })
    })

    it('throws ClosedError when used after close', async () => {
      await storage.close()
      await assert.rejects(
        storage.read(r => r.get('a', 'k')),
        (e: unknown) => e instanceof ClosedError,
      )
      await assert.rejects(
        storage.write(async w => w.put('a', 'k', 1)),
        (e: unknown) => e instanceof ClosedError,
      )
      await storage.open(STORES)
    })

    it('tells by its version whether anything was committed, where it has one', async () => {
      const before = storage.version()
      if (before === undefined) return
      await storage.read(r => r.getMany('a', ['v']))
      assert.equal(storage.version(), before, 'a read changes nothing')
      await storage.write(async w => w.put('a', 'v', 1))
      assert.notEqual(storage.version(), before, 'a write moves it')
    })

    it('joins index entries to the values they name, in one read, where the medium can', async () => {
      const joined = storage.read(r => Promise.resolve(r.scanJoined !== undefined))
      if (!(await joined)) return
      await storage.write(async w => {
        w.put('a', 'ix/1', 'x')
        w.put('a', 'ix/2', 'gone')
        w.put('a', 'ix/3', 'y "quoted" \u00e9')
        w.put('a', 'other', 'x')
        w.put('b', 'p\0x', { n: 1 })
        w.put('b', 'p\0y "quoted" \u00e9', { n: 3 })
        w.put('b', 'q\0gone', { n: 9 })
      })
      const scanned = (range: KeyRange) => storage.read(r => r.scanJoined!('a', 'b', 'p\0', range))
      assert.deepEqual(await scanned({ gte: 'ix/', lt: 'ix0' }), [
        ['ix/1', 'x', { n: 1 }],
        ['ix/2', 'gone', undefined],
        ['ix/3', 'y "quoted" \u00e9', { n: 3 }],
      ])
      assert.deepEqual(
        (await scanned({ gt: 'ix/1', lte: 'ix/3', reverse: true, limit: 1 })).map(([k]) => k),
        ['ix/3'],
      )
    })

    it('scans records by the index keys they list, where the medium indexes records', async () => {
      if (!storage.recordIndex) return
      await storage.write(async w => {
        w.put('a', 'r1', { ix: ['i/b', 'j/x'], n: 1 })
        w.put('a', 'r2', { ix: ['i/a'], n: 2 })
        w.put('a', 'r3', { ix: ['i/c'], n: 3 })
        w.put('a', 'r4', { n: 4 })
      })
      const scanned = (range: KeyRange) => storage.read(r => r.scanIndex!('a', range))
      assert.deepEqual(
        (await scanned({ gte: 'i/', lt: 'i0' })).map(([ix, k]) => `${ix}>${k}`),
        ['i/a>r2', 'i/b>r1', 'i/c>r3'],
      )
      assert.deepEqual(
        (await scanned({ gte: 'i/', lt: 'i0', reverse: true, limit: 2 })).map(([, k]) => k),
        ['r3', 'r1'],
      )
      assert.deepEqual((await scanned({ gte: 'j/', lt: 'j0' }))[0]?.[2], { ix: ['i/b', 'j/x'], n: 1 })
      await storage.write(async w => {
        w.put('a', 'r2', { ix: ['i/d'], n: 2 })
        w.delete('a', 'r3')
        w.put('a', 'r5', { ix: ['i/a'], n: 5 })
        assert.deepEqual(
          (await w.scanIndex!('a', { gte: 'i/', lt: 'i0', limit: 2 })).map(([, k]) => k),
          ['r5', 'r1'],
        )
      })
      assert.deepEqual(
        (await scanned({ gte: 'i/', lt: 'i0' })).map(([ix, k]) => `${ix}>${k}`),
        ['i/a>r5', 'i/b>r1', 'i/d>r2'],
      )
      // entries sharing one index key, most of them deleted in the transaction that scans
      await storage.write(async w => {
        for (const k of ['s1', 's2', 's3', 's4', 's5']) w.put('b', k, { ix: ['same'] })
      })
      await storage.write(async w => {
        w.deleteRange('b', { gte: 's1', lt: 's4' })
        assert.deepEqual(
          (await w.scanIndex!('b', { gte: 'same', lte: 'same', limit: 2 })).map(([, k]) => k),
          ['s4', 's5'],
        )
      })
    })

    it('commits nothing of a batch that names a store it does not have', async () => {
      await assert.rejects(
        storage.write(async w => {
          w.put('a', 'first', 1)
          w.put('no_such_store', 'x', 1)
        }),
      )
      assert.equal(await storage.read(r => r.get('a', 'first')), undefined)
    })

    it('tells a watcher when another connection to the same data commits', async () => {
      const other = new Store(made.reopen())
      if (!made.storage.watch) return
      await other.open(STORES)
      let told = 0
      const stop = storage.watch(() => told++)!
      try {
        await other.write(async w => w.put('a', 'from-elsewhere', 1))
        const deadline = Date.now() + 10_000
        while (told === 0 && Date.now() < deadline) await new Promise(r => setTimeout(r, 10))
        assert.ok(told > 0, 'the watcher was never told')
        assert.equal(await storage.read(r => r.get('a', 'from-elsewhere')), 1)
      } finally {
        stop()
        if (other.adapter !== made.storage) await other.close()
      }
    })
  })
}
