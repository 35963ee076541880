import { loadWithPeers } from '../core/peer.js'
import { SqlServerStore } from './sql-store.js'
import type { ServerStore } from './store.js'

/** The embedded server store: one SQLite file (WAL, synchronous=FULL: an acknowledged push survives power loss). */
export function sqliteServerStore(path: string): ServerStore {
  return new SqlServerStore('sqlite', async () => {
    const { openSqliteDriver } = await loadWithPeers(() => import('./sqlite-driver.js'), ['better-sqlite3'], 'the SQLite server store')
    return openSqliteDriver(path)
  })
}
