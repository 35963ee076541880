import { InvalidOptionsError } from '../core/errors.js'
import { loadWithPeers } from '../core/peer.js'
import { SqlServerStore } from './sql-store.js'
import type { ServerStore } from './store.js'

/** How `postgresServerStore` uses its database: the schema its tables live in, the size of its pool. */
export interface PostgresStoreOptions {
  /** A schema to keep the tables in (created if missing); default `public`. */
  schema?: string
  /** Most connections in the pool (default 10). */
  max?: number
}

/** The production server store: PostgreSQL through `pg`. Several servers may share one database. */
export function postgresServerStore(connectionString: string, options: PostgresStoreOptions = {}): ServerStore {
  const schema = options.schema ?? 'public'
  // the name goes into SQL and connection options as it is
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new InvalidOptionsError('schema', `${schema} is not a valid PostgreSQL schema name (lowercase letters, digits, _)`)
  return new SqlServerStore('postgres', async () => {
    const { openPostgresDriver } = await loadWithPeers(() => import('./postgres-driver.js'), ['pg'], 'the PostgreSQL server store')
    return openPostgresDriver(connectionString, schema, options.max ?? 10)
  }, schema)
}
