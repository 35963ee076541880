import pg from 'pg'
import { StorageError } from '../core/errors.js'
import { backoff, unref } from '../core/backoff.js'
import type { Notifications, SqlDialect, SqlDriver, SqlRow, SqlRunner, SqlValue } from './sql-driver.js'

/** PostgreSQL text cannot hold NUL, which compound keys contain: escape it (and the escape character). */
export function escapeId(id: string): string {
  return id.replaceAll('\\', '\\\\').replaceAll('\0', '\\0')
}
export function unescapeId(s: string): string {
  return s.replace(/\\(\\|0)/g, (_, c: string) => (c === '0' ? '\0' : '\\'))
}

const dialect: SqlDialect = {
  integer: 'BIGINT',
  keyedTable: '',
  forUpdate: ' FOR UPDATE',
  storeId: escapeId,
  loadId: unescapeId,
  // one migrator at a time, even with several servers starting together
  migrationLock: 'SELECT pg_advisory_xact_lock(7234001)',
  async schemaVersion(sql) {
    await sql.exec('CREATE TABLE IF NOT EXISTS tp_schema (version INTEGER NOT NULL)')
    const [r] = await sql.query('SELECT version FROM tp_schema')
    if (!r) await sql.exec('INSERT INTO tp_schema VALUES (0)')
    return Number(r?.version ?? 0)
  },
  async setSchemaVersion(sql, version) {
    await sql.query('UPDATE tp_schema SET version = ?', [version])
  },
}

/** `?` placeholders become pg's `$1, $2…` (the server's SQL holds no `?` of its own). */
const numbered = (sql: string) => {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

function runner(client: pg.Pool | pg.PoolClient): SqlRunner {
  return {
    async query(sql, params: readonly SqlValue[] = []) {
      return (await client.query<SqlRow>(numbered(sql), [...params])).rows
    },
    async exec(sql) {
      await client.query(sql)
    },
  }
}

/** A pool on `schema` (created if missing): every pooled connection has it as its search path from its first query. */
export async function openPostgresDriver(connectionString: string, schema: string, max: number): Promise<SqlDriver> {
  const config = withSearchPath(connectionString, schema)
  const pool = new pg.Pool({ ...config, max })
  // an idle client's error (the server restarted) must not crash the process
  pool.on('error', () => undefined)
  const transaction = async <T>(begin: string, fn: (sql: SqlRunner) => Promise<T>): Promise<T> => {
    const client = await pool.connect()
    let broken: Error | undefined
    try {
      await client.query(begin)
      const result = await fn(runner(client))
      await client.query('COMMIT')
      return result
    } catch (e) {
      // a connection that cannot even roll back is dropped, not handed to the next transaction
      await client.query('ROLLBACK').catch((r: Error) => (broken = r))
      throw e
    } finally {
      client.release(broken)
    }
  }
  try {
    // under the migration lock: servers starting together would race to create it
    await transaction('BEGIN', async sql => {
      await sql.query(dialect.migrationLock!)
      await sql.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    })
  } catch (e) {
    await pool.end().catch(() => undefined)
    throw new StorageError('unavailable', `cannot open the PostgreSQL database: ${(e as Error).message}`, { cause: e })
  }
  const notifications = listener(config, `tidepool_${schema}`.slice(0, 63), pool)
  return {
    dialect,
    where: 'the database',
    ...runner(pool),
    write: fn => transaction('BEGIN', fn),
    read: fn => transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn),
    notifications,
    close: async () => {
      await notifications.close()
      await pool.end()
    },
  }
}

/**
 * LISTEN on a connection of its own (a pooled one would be handed to
 * others), made again with backoff whenever it drops: a restarted
 * PostgreSQL, or `pg_terminate_backend`. NOTIFY goes through the pool.
 */
function listener(config: pg.ClientConfig, channel: string, pool: pg.Pool): Notifications & { close(): Promise<void> } {
  let client: pg.Client | undefined
  let state: Notifications['state'] = 'closed'
  let closed = false
  let attempt = 0
  let retry: ReturnType<typeof setTimeout> | undefined
  let heard: ((payload: string | undefined) => void) | undefined
  const connect = async (): Promise<void> => {
    const c = new pg.Client(config)
    c.on('notification', n => {
      if (n.channel === channel) heard?.(n.payload ?? '')
    })
    c.on('error', () => undefined)
    c.on('end', () => {
      if (client !== c) return
      client = undefined
      if (!closed) reconnect()
    })
    try {
      await c.connect()
      await c.query(`LISTEN "${channel}"`)
    } catch (e) {
      await c.end().catch(() => undefined)
      throw e
    }
    if (closed) return void (await c.end().catch(() => undefined))
    client = c
    state = 'listening'
    attempt = 0
    heard?.(undefined)
  }
  const reconnect = () => {
    state = 'reconnecting'
    retry = unref(setTimeout(() => connect().catch(() => !closed && reconnect()), backoff(attempt++, { initial: 100, max: 5000, jitter: 0.5 })))
  }
  return {
    get state() {
      return state
    },
    async listen(fn) {
      heard = fn
      await connect()
    },
    async notify(payload) {
      await pool.query('SELECT pg_notify($1, $2)', [channel, payload])
    },
    async close() {
      closed = true
      state = 'closed'
      clearTimeout(retry)
      const c = client
      client = undefined
      await c?.end().catch(() => undefined)
    },
  }
}

/** pg lets a connection string's own `options` win over the config's: add the search path to those when it has some. */
function withSearchPath(connectionString: string, schema: string): pg.PoolConfig {
  const options = `-c search_path=${schema}`
  const url = URL.canParse(connectionString) ? new URL(connectionString) : undefined
  const own = url?.searchParams.get('options')
  if (!url || !own) return { connectionString, options }
  url.searchParams.set('options', `${own} ${options}`)
  return { connectionString: url.toString() }
}
