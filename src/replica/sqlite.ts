import Database from 'better-sqlite3'
import { ClosedError, InvalidParameterError } from '../core/errors.js'
import { Mutex, type Durability, type KeyRange, type Storage, type StorageReader, type StorageWriter } from './storage.js'

export interface SqliteStorageOptions {
  /** `relaxed` (default): WAL with synchronous=NORMAL, survives a process crash. `strict`: synchronous=FULL, survives an OS crash too. */
  durability?: Durability
  /** How long to wait for another process's write lock, in ms (default 5000). */
  busyTimeout?: number
}

/**
 * Storage in a SQLite file (better-sqlite3, WAL). One table per store, keyed
 * by TEXT; several processes may open the same file, and SQLite's write lock
 * (BEGIN IMMEDIATE) serializes their commits.
 */
export function sqliteStorage(path: string, options: SqliteStorageOptions = {}): Storage {
  if (typeof path !== 'string' || path === '') throw new InvalidParameterError('path', 'sqliteStorage needs a file path')
  return new SqliteStorage(path, options)
}

interface Statements {
  get: Database.Statement<[string], string>
  put: Database.Statement<[string, string]>
  del: Database.Statement<[string]>
}

class SqliteStorage implements Storage {
  readonly kind = 'sqlite'
  private db: Database.Database | undefined
  private statements = new Map<string, Statements>()
  private control: Record<'begin' | 'beginImmediate' | 'commit' | 'rollback', Database.Statement> | undefined
  // one connection: reads and writes take turns, so a read never sees a write half-done
  private readonly mutex = new Mutex()

  constructor(
    private readonly path: string,
    private readonly options: SqliteStorageOptions,
  ) {}

  async open(stores: readonly string[]): Promise<void> {
    if (this.db) return
    const db = new Database(this.path)
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${this.options.durability === 'strict' ? 'FULL' : 'NORMAL'}`)
    db.pragma(`busy_timeout = ${this.options.busyTimeout ?? 5000}`)
    // a replica is read far more than written: keep hot pages in memory and map the file for the rest
    db.pragma('cache_size = -32768')
    db.pragma('mmap_size = 268435456')
    for (const store of stores) {
      const table = tableName(store)
      db.exec(`CREATE TABLE IF NOT EXISTS ${table} (k TEXT PRIMARY KEY NOT NULL, v TEXT NOT NULL) WITHOUT ROWID`)
      this.statements.set(store, {
        get: db.prepare<[string], string>(`SELECT v FROM ${table} WHERE k = ?`).pluck(),
        put: db.prepare(`INSERT OR REPLACE INTO ${table} (k, v) VALUES (?, ?)`),
        del: db.prepare(`DELETE FROM ${table} WHERE k = ?`),
      })
    }
    this.control = {
      begin: db.prepare('BEGIN'),
      beginImmediate: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
    }
    this.db = db
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      this.db?.close()
      this.db = undefined
      this.control = undefined
      this.statements.clear()
    })
  }

  private conn(): Database.Database {
    if (!this.db) throw new ClosedError(`sqlite storage ${this.path}`)
    return this.db
  }

  read<T>(fn: (reader: StorageReader) => Promise<T>): Promise<T> {
    return this.mutex.run(() => this.transaction('begin', fn))
  }

  getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    // one statement is its own snapshot: with the connection idle, it needs neither lock nor transaction
    if (keys.length === 1 && this.mutex.idle) {
      try {
        return Promise.resolve([new SqliteTx(this.conn(), this.statements).getOne(store, keys[0]!)])
      } catch (e) {
        return Promise.reject(e)
      }
    }
    return this.read(r => r.getMany(store, keys))
  }

  write<T>(fn: (writer: StorageWriter) => Promise<T>): Promise<T> {
    // IMMEDIATE takes the write lock up front, so two processes never both read and then fail to upgrade
    return this.mutex.run(() => this.transaction('beginImmediate', fn))
  }

  private async transaction<T>(begin: 'begin' | 'beginImmediate', fn: (tx: SqliteTx) => Promise<T>): Promise<T> {
    const db = this.conn()
    const control = this.control!
    control[begin].run()
    try {
      const result = await fn(new SqliteTx(db, this.statements))
      control.commit.run()
      return result
    } catch (e) {
      if (db.inTransaction) control.rollback.run()
      throw e
    }
  }
}

/** Store names become table names: keep them to a safe alphabet. */
function tableName(store: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(store)) throw new InvalidParameterError('store', `bad store name ${store}`)
  return `tp_${store}`
}

class SqliteTx implements StorageWriter {
  constructor(
    private readonly db: Database.Database,
    private readonly statements: Map<string, Statements>,
  ) {}

  private st(store: string): Statements {
    const s = this.statements.get(store)
    if (!s) throw new InvalidParameterError('store', `unknown store ${store}`)
    return s
  }

  getOne(store: string, key: string): unknown {
    const v = this.st(store).get.get(key)
    return v === undefined ? undefined : JSON.parse(v)
  }

  async get(store: string, key: string): Promise<unknown> {
    return this.getOne(store, key)
  }

  async getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    return keys.map(k => this.getOne(store, k))
  }

  async scan(store: string, range: KeyRange = {}): Promise<Array<[string, unknown]>> {
    const where: string[] = []
    const params: Array<string | number> = []
    for (const [op, bound] of [['>', range.gt], ['>=', range.gte], ['<', range.lt], ['<=', range.lte]] as const) {
      if (bound !== undefined) {
        where.push(`k ${op} ?`)
        params.push(bound)
      }
    }
    let sql = `SELECT k, v FROM ${tableName(store)}`
    if (where.length) sql += ` WHERE ${where.join(' AND ')}`
    sql += ` ORDER BY k ${range.reverse ? 'DESC' : 'ASC'}`
    if (range.limit !== undefined) {
      sql += ' LIMIT ?'
      params.push(range.limit)
    }
    this.st(store)
    const rows = this.db.prepare<Array<string | number>, { k: string; v: string }>(sql).all(...params)
    return rows.map(r => [r.k, JSON.parse(r.v)])
  }

  put(store: string, key: string, value: unknown): void {
    this.st(store).put.run(key, JSON.stringify(value))
  }

  delete(store: string, key: string): void {
    this.st(store).del.run(key)
  }
}
