import assert from 'node:assert/strict'
import type { FileStore } from '../files/store.js'
import type { TestApi } from './api.js'

/** How to make the file stores under test: each call an empty store of its own. */
export interface FileStoreFactory {
  name: string
  /** Called by each test: a new, empty store. */
  make(): FileStore | Promise<FileStore>
}

/** Registers every behaviour serverless sync needs of a file store (see the `FileStore` interface). */
export function describeFileStore(factory: FileStoreFactory, t: TestApi): void {
  const { describe, it } = t
  describe(`file store conformance: ${factory.name}`, () => {
    it('writes, reads, lists recursively and deletes', async () => {
      const s = await factory.make()
      assert.equal(await s.read('a/missing.json'), undefined)
      assert.deepEqual(await s.list(''), [])
      await s.write('db/client-1/part-1.json', '{"x":1}')
      await s.write('db/client-1/client-index.json', 'ü ✓')
      await s.write('db/master-index.json', '{}')
      await s.write('other/file.json', '[]')
      assert.equal(await s.read('db/client-1/client-index.json'), 'ü ✓')
      assert.deepEqual(await s.list('db/'), ['db/client-1/client-index.json', 'db/client-1/part-1.json', 'db/master-index.json'])
      await s.write('db/master-index.json', '{"v":2}')
      assert.equal(await s.read('db/master-index.json'), '{"v":2}')
      await s.delete('db/client-1/part-1.json')
      await s.delete('db/never-there.json')
      assert.deepEqual(await s.list('db/client-1/'), ['db/client-1/client-index.json'])
    })

    it('writes conditionally where it can: only over the version read, and a new file only where none exists', async () => {
      const s = await factory.make()
      if (!s.readVersioned || !s.writeIfUnchanged) return
      assert.equal(await s.readVersioned('m.json'), undefined)
      await s.write('m.json', '1')
      const first = await s.readVersioned('m.json')
      assert.equal(first?.text, '1')
      // where the medium gives no versions (a WebDAV server without ETags) the store cannot refuse a stale write, and says so by giving none
      if (first?.version === undefined) return
      assert.equal(await s.writeIfUnchanged('m.json', '2', first.version), true)
      assert.equal(await s.writeIfUnchanged('m.json', 'stale', first.version), false)
      assert.equal(await s.read('m.json'), '2')
      assert.equal(await s.writeIfUnchanged('new.json', 'a', undefined), true)
      assert.equal(await s.writeIfUnchanged('new.json', 'b', undefined), false)
      assert.equal(await s.read('new.json'), 'a')
    })
  })
}
