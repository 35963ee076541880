import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { postgresServerStore } from '../../src/server/postgres-store.js'
import { sqliteServerStore } from '../../src/server/sqlite-store.js'
import type { ServerStore } from '../../src/server/store.js'

export const POSTGRES_URL = process.env.TIDEPOOL_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Whether PostgreSQL answers here; CI must have it, so its absence is said loudly. */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } catch {
    console.warn(`\n!!! PostgreSQL does not answer at ${POSTGRES_URL}: the PostgreSQL server tests are SKIPPED !!!\n`)
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

export interface StoreFactory {
  name: 'sqlite' | 'postgres'
  /** A fresh, empty store (its own file or PostgreSQL schema), and how to reach it again (a restart). */
  make(): { store: ServerStore; again(): ServerStore; cleanup(): Promise<void>; url: string }
}

export const storeFactories: StoreFactory[] = [
  {
    name: 'sqlite',
    make() {
      const dir = mkdtempSync(join(tmpdir(), 'tidepool-server-'))
      const file = join(dir, 'server.db')
      return { store: sqliteServerStore(file), again: () => sqliteServerStore(file), cleanup: async () => rmSync(dir, { recursive: true, force: true }), url: file }
    },
  },
  {
    name: 'postgres',
    make() {
      const schema = `tp_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
      return {
        store: postgresServerStore(POSTGRES_URL, { schema }),
        again: () => postgresServerStore(POSTGRES_URL, { schema }),
        url: `${POSTGRES_URL}?schema=${schema}`,
        cleanup: async () => {
          const c = new pg.Client({ connectionString: POSTGRES_URL })
          await c.connect()
          await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
          await c.end()
        },
      }
    },
  },
]
