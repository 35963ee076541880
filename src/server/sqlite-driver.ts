import { closeSync, fdatasync, openSync, realpathSync } from 'node:fs'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { StorageError } from '../core/errors.js'
import { Mutex, transaction, type SqlConnection } from '../core/mutex.js'
import type { SqlDialect, SqlDriver, SqlRow, SqlRunner } from './sql-driver.js'

const dialect: SqlDialect = {
  integer: 'INTEGER',
  keyedTable: ' WITHOUT ROWID',
  // BEGIN IMMEDIATE already excludes every other writer
  forUpdate: '',
  storeId: id => id,
  loadId: stored => stored,
  // server files have recorded their version in the header from the start
  async schemaVersion(sql) {
    const [r] = await sql.query('PRAGMA user_version')
    return Number(r!.user_version)
  },
  async setSchemaVersion(sql, version) {
    await sql.exec(`PRAGMA user_version = ${version}`)
  },
}

const flush = promisify(fdatasync)

/**
 * One SQLite file (WAL) on one connection. A commit is durable before it is
 * answered (an acknowledged push survives power loss), as with
 * synchronous=FULL, but the WAL's flush runs on libuv's thread pool after
 * COMMIT rather than inside it: the event loop reads and answers requests
 * meanwhile, where FULL would block it for the length of an fsync.
 */
export function openSqliteDriver(path: string): SqlDriver {
  let db: Database.Database
  let wal: number | undefined
  let opening: Database.Database | undefined
  try {
    db = opening = new Database(path)
    const walMode = db.pragma('journal_mode = WAL', { simple: true }) === 'wal'
    // NORMAL syncs the WAL before each checkpoint and the file after it; what it leaves out, the flush after each COMMIT does
    db.pragma(`synchronous = ${walMode ? 'NORMAL' : 'FULL'}`)
    db.pragma('busy_timeout = 10000')
    // a group commit's multi-row statements change pages that already exist, and SQLite copies each such page to a statement
    // journal first, a temporary file by default: as many page writes again as the WAL's, for a rollback that is never on disk's side
    db.pragma('temp_store = MEMORY')
    // pushes land on pages all over the documents and outcomes: keep them in memory (64 MiB), not read back from the OS per insert
    db.pragma('cache_size = -65536')
    // each batch rewrites the same hot pages (a client's outcomes, the newest revisions): a checkpoint every 10,000 pages rather than
    // SQLite's 1,000 copies each page once for many commits, and blocks the event loop ten times less often
    db.pragma('wal_autocheckpoint = 10000')
    // the WAL exists once the connection has read the file; a database in memory has none. SQLite names it after the file a
    // symbolic link points to
    if (walMode) {
      db.pragma('user_version')
      wal = openSync(`${realpathSync(path)}-wal`, 'r+')
    }
  } catch (e) {
    opening?.close()
    throw new StorageError('unavailable', `cannot open ${path}: ${(e as Error).message}`, { cause: e })
  }
  // the server's statements are few (a chunked statement has one text per chunk size): keep them all prepared
  const statements = new Map<string, Database.Statement>()
  const runner: SqlRunner = {
    async query(sql, params = []) {
      let statement = statements.get(sql)
      if (!statement) statements.set(sql, (statement = db.prepare(sql)))
      if (statement.reader) return statement.all(...params) as SqlRow[]
      statement.run(...params)
      return []
    },
    async exec(sql) {
      db.exec(sql)
    },
  }
  // one connection: transactions take turns, and nothing reads in the middle of another's
  const mutex = new Mutex()
  const connection: SqlConnection = {
    begin: kind => db.exec(kind === 'immediate' ? 'BEGIN IMMEDIATE' : 'BEGIN'),
    commit: () => db.exec('COMMIT'),
    rollback: () => db.exec('ROLLBACK'),
    get inTransaction() {
      return db.inTransaction
    },
  }
  // a flush that failed leaves unknown what reached the disk, while the commit is already visible: everything after it fails, so
  // that nothing is answered or read that may not be there after a restart
  let broken: StorageError | undefined
  const usable = <T>(fn: () => Promise<T>) => async (): Promise<T> => {
    if (broken) throw broken
    return fn()
  }
  const flushed = (fd: number) => () =>
    flush(fd).catch((e: unknown) => {
      throw (broken ??= new StorageError('unavailable', `cannot flush ${path} to disk, restart the server: ${(e as Error).message}`, { cause: e }))
    })
  // only a write has anything of its own to flush
  const writing: SqlConnection = wal === undefined ? connection : Object.assign(Object.create(connection) as SqlConnection, { flushed: flushed(wal) })
  return {
    dialect,
    where: path,
    query: (sql, params) => mutex.run(usable(() => runner.query(sql, params))),
    exec: sql => mutex.run(usable(() => runner.exec(sql))),
    write: fn => transaction(mutex, () => writing, 'immediate', usable(() => fn(runner))),
    read: fn => transaction(mutex, () => connection, 'deferred', usable(() => fn(runner))),
    close: () =>
      mutex.run(async () => {
        db.close()
        if (wal !== undefined) closeSync(wal)
      }),
  }
}
