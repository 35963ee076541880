import { StorageError } from '../core/errors.js'
import { SqlServerStore } from './sql-store.js'
import type { ServerStore } from './store.js'

/** The embedded server store: one SQLite file (WAL, synchronous=FULL: an acknowledged push survives power loss). */
export function sqliteServerStore(path: string): ServerStore {
  return new SqlServerStore('sqlite', async () => {
    const { openSqliteDriver } = await import('./sqlite-driver.js').catch((e: unknown) => {
      throw new StorageError('unavailable', `the SQLite server store needs better-sqlite3 (npm install better-sqlite3): ${(e as Error).message}`, { cause: e })
    })
    return openSqliteDriver(path)
  })
}
