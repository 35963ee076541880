import { StorageError } from '../core/errors.js'
import type { MutationResult } from '../protocol/messages.js'
import type { SqlDriver, SqlRunner } from './sql-driver.js'
import { migrate } from './sql-schema.js'
import { DOC_COLUMNS, SqlServerTx, toDoc } from './sql-tx.js'
import { page, type PullData, type ServerStore, type ServerTx } from './store.js'

/**
 * A server store over any SQL driver. The driver is loaded at `open()`, so a
 * server on SQLite never loads pg, nor one on PostgreSQL better-sqlite3.
 */
export class SqlServerStore implements ServerStore {
  private driver: SqlDriver | undefined

  constructor(
    readonly kind: 'sqlite' | 'postgres',
    private readonly load: () => Promise<SqlDriver>,
  ) {}

  async open(): Promise<void> {
    // opened already (by its creator, and again by createServer): one driver, one pool
    if (this.driver) return
    const driver = await this.load()
    try {
      await migrate(driver)
    } catch (e) {
      await driver.close().catch(() => undefined)
      throw e
    }
    this.driver = driver
  }

  async transaction<T>(fn: (tx: ServerTx) => Promise<T>): Promise<T> {
    const driver = this.opened()
    return driver.write(sql => fn(new SqlServerTx(sql, driver.dialect)))
  }

  async pull(clientId: string, since: number, limit: number): Promise<PullData> {
    const driver = this.opened()
    // one snapshot: the revision and the changes up to it agree
    return driver.read(async sql => {
      const current = await revisionOf(sql)
      const rows = (await sql.query(`SELECT ${DOC_COLUMNS} FROM tp_docs WHERE revision > ? ORDER BY revision LIMIT ?`, [since, limit + 1])).map(r => toDoc(driver.dialect, r))
      const { rows: firstRows, revision, more } = page(rows, limit, current)
      // a single commit bigger than a page comes whole
      const docs = more && firstRows.length === 0 ? (await sql.query(`SELECT ${DOC_COLUMNS} FROM tp_docs WHERE revision = ?`, [revision])).map(r => toDoc(driver.dialect, r)) : firstRows
      const results = (await sql.query('SELECT result FROM tp_results WHERE client_id = ? AND revision > ? AND revision <= ? ORDER BY seq', [clientId, since, revision])).map(
        r => JSON.parse(r.result as string) as MutationResult,
      )
      return { revision, docs, results, more }
    })
  }

  async revision(): Promise<number> {
    return revisionOf(this.opened())
  }

  async close(): Promise<void> {
    const driver = this.driver
    this.driver = undefined
    await driver?.close()
  }

  private opened(): SqlDriver {
    if (!this.driver) throw new StorageError('unavailable', `the ${this.kind} server store is not open (call open() first)`)
    return this.driver
  }
}

async function revisionOf(sql: SqlRunner): Promise<number> {
  const [r] = await sql.query('SELECT value FROM tp_revision')
  return Number(r?.value ?? 0)
}
