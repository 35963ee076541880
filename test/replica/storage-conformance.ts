import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ClosedError, type KeyRange, type Storage } from '../../src/index.js'
import type { Adapter } from '../helpers/adapters.js'

const STORES = ['a', 'b']

/** Every behaviour a storage adapter promises (see src/replica/storage.ts). */
export function describeStorage(adapter: Adapter): void {
  describe(`storage conformance: ${adapter.name}`, () => {
    let made: ReturnType<Adapter['make']>
    let storage: Storage
    beforeEach(async () => {
      made = adapter.make()
      storage = made.storage
      await storage.open(STORES)
    })
    afterEach(async () => {
      await storage.close()
      made.cleanup()
    })

    it('puts, gets and deletes values per store', async () => {
      await storage.write(async w => {
        w.put('a', 'k1', { x: 1 })
        w.put('b', 'k1', { y: [1, 'two', null, true] })
      })
      expect(await storage.read(r => r.get('a', 'k1'))).toEqual({ x: 1 })
      expect(await storage.read(r => r.get('b', 'k1'))).toEqual({ y: [1, 'two', null, true] })
      expect(await storage.read(r => r.getMany('a', ['missing', 'k1']))).toEqual([undefined, { x: 1 }])
      await storage.write(async w => w.delete('a', 'k1'))
      expect(await storage.read(r => r.get('a', 'k1'))).toBeUndefined()
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
      expect([[1], [2]]).toContainEqual(one)
      expect([
        [1, 1, undefined],
        [2, 2, undefined],
      ]).toContainEqual(both)
      expect(await storage.getMany('a', ['y', 'x'])).toEqual([2, 2])
    })

    it('keeps keys holding NUL and non-ASCII exactly', async () => {
      const keys = ['a\0b', 'a\0b\0c', 'ü\0€', 'x']
      await storage.write(async w => keys.forEach((k, i) => w.put('a', k, i)))
      expect(await storage.read(r => r.getMany('a', keys))).toEqual([0, 1, 2, 3])
      expect((await storage.read(r => r.scan('a'))).map(([k]) => k)).toEqual([...keys].sort())
    })

    it('scans in key order within bounds, reversed and limited', async () => {
      await storage.write(async w => {
        for (const k of ['d', 'a', 'c', 'e', 'b']) w.put('a', k, k.toUpperCase())
      })
      const keys = async (range: KeyRange) =>
        (await storage.read(r => r.scan('a', range))).map(([k]) => k).join('')
      expect(await keys({})).toBe('abcde')
      expect(await keys({ gt: 'a', lt: 'e' })).toBe('bcd')
      expect(await keys({ gte: 'b', lte: 'd' })).toBe('bcd')
      expect(await keys({ gte: 'b', reverse: true })).toBe('edcb')
      expect(await keys({ lt: 'd', reverse: true, limit: 2 })).toBe('cb')
      expect(await keys({ gt: 'c', lt: 'c' })).toBe('')
      expect(await keys({ gte: 'z' })).toBe('')
      expect(await storage.read(r => r.scan('a', { gte: 'e' }))).toEqual([['e', 'E']])
    })

    it('counts entries, including a transaction’s own writes', async () => {
      expect(await storage.read(r => r.count('a'))).toBe(0)
      await storage.write(async w => {
        for (const k of ['a', 'b', 'c']) w.put('a', k, k)
        expect(await w.count('a')).toBe(3)
      })
      await storage.write(async w => {
        w.delete('a', 'b')
        w.put('a', 'c', 'again')
        w.put('a', 'd', 'd')
        expect(await w.count('a')).toBe(3)
      })
      expect(await storage.read(r => r.count('a'))).toBe(3)
      expect(await storage.read(r => r.count('b'))).toBe(0)
    })

    it('deletes a range of keys, including ones written earlier in the same transaction', async () => {
      await storage.write(async w => {
        for (const k of ['a', 'b', 'c', 'd', 'e']) w.put('a', k, k)
      })
      const keys = async () => (await storage.read(r => r.scan('a'))).map(([k]) => k).join('')
      await storage.write(async w => {
        w.put('a', 'bb', 'new')
        w.deleteRange('a', { gte: 'b', lt: 'd' })
        expect((await w.scan('a')).map(([k]) => k).join('')).toBe('ade')
      })
      expect(await keys()).toBe('ade')
      await storage.write(async w => w.deleteRange('a', { lt: 'b' }))
      expect(await keys()).toBe('de')
      await storage.write(async w => w.deleteRange('a', { gte: 'e' }))
      expect(await keys()).toBe('d')
      await storage.write(async w => w.deleteRange('a', { gte: 'z', lt: 'a' }))
      expect(await keys()).toBe('d')
    })

    it('sees its own writes inside a write transaction, and others see them only after commit', async () => {
      let outside: unknown = 'not read'
      let release!: () => void
      const gate = new Promise<void>(r => (release = r))
      const writing = storage.write(async w => {
        w.put('a', 'k', 1)
        expect(await w.get('a', 'k')).toBe(1)
        expect((await w.scan('a')).map(([k]) => k)).toEqual(['k'])
        w.delete('a', 'k')
        expect(await w.get('a', 'k')).toBeUndefined()
        w.put('a', 'k', 2)
        release()
        await w.get('a', 'k')
      })
      await gate
      const reading = storage.read(async r => (outside = await r.get('a', 'k')))
      await writing
      await reading
      expect([undefined, 2]).toContain(outside)
      expect(await storage.read(r => r.get('a', 'k'))).toBe(2)
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
      expect([
        [1, 1],
        [2, 2],
      ]).toContainEqual(seen)
    })

    it('commits nothing when the transaction function throws', async () => {
      await storage.write(async w => w.put('a', 'keep', 1))
      await expect(
        storage.write(async w => {
          w.put('a', 'keep', 2)
          w.put('b', 'new', 3)
          await w.get('a', 'keep')
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      expect(await storage.read(r => r.get('a', 'keep'))).toBe(1)
      expect(await storage.read(r => r.get('b', 'new'))).toBeUndefined()
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
      expect(await storage.read(r => r.get('a', 'n'))).toBe(20)
    })

    it('keeps data across close and reopen', async () => {
      await storage.write(async w => w.put('a', 'k', { deep: { v: [1, 2] } }))
      await storage.close()
      storage = made.reopen()
      await storage.open(STORES)
      expect(await storage.read(r => r.get('a', 'k'))).toEqual({ deep: { v: [1, 2] } })
    })

    it('throws ClosedError when used after close', async () => {
      await storage.close()
      await expect(storage.read(r => r.get('a', 'k'))).rejects.toBeInstanceOf(ClosedError)
      await expect(storage.write(async w => w.put('a', 'k', 1))).rejects.toBeInstanceOf(ClosedError)
      await storage.open(STORES)
    })
  })
}
