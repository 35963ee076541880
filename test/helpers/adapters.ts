import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb'
import { memoryStorage } from '../../src/index.js'
import { indexedDbStorage } from '../../src/indexeddb.js'
import { sqliteStorage } from '../../src/sqlite.js'
import type { StorageFactory } from '../../src/testing/storage.js'

/** A way to make storages; `reopen` gives a new storage over the same data (a restart). */
export type Adapter = StorageFactory

export const adapters: Adapter[] = [
  {
    name: 'memory',
    make() {
      const storage = memoryStorage()
      return { storage, reopen: () => storage, cleanup: () => undefined }
    },
  },
  {
    name: 'sqlite',
    make() {
      const dir = mkdtempSync(join(tmpdir(), 'tidepool-'))
      const file = join(dir, 'replica.db')
      return { storage: sqliteStorage(file), reopen: () => sqliteStorage(file), cleanup: () => rmSync(dir, { recursive: true, force: true }) }
    },
  },
  {
    name: 'indexeddb',
    make() {
      const factory = new IDBFactory()
      const make = () => indexedDbStorage('replica', { indexedDB: factory, IDBKeyRange })
      return { storage: make(), reopen: make, cleanup: () => undefined }
    },
  },
]
