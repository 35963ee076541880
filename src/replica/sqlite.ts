import Database from 'better-sqlite3'
import { ClosedError, InvalidParameterError } from '../core/errors.js'
import { Mutex } from '../core/mutex.js'
import { type Durability, type KeyRange, type Storage, type StorageReader, type StorageWriter } from './storage.js'

export interface SqliteStorageOptions {
  /** How often to look for commits by other connections to the file, in ms, while anything watches (default 50). */
  pollInterval?: number
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
  table: string
  get: Database.Statement<[string], string>
  /** Multi-row upserts, deletes and lookups by row count, prepared on first use. */
  putRows: Map<number, Database.Statement<string[]>>
  deleteRows: Map<number, Database.Statement<string[]>>
  getRows: Map<number, Database.Statement<string[], { k: string; v: string }>>
  /** Range scans by their SQL (bounds and direction vary). */
  scans: Map<string, Database.Statement<Array<string | number>, { k: string; v: string }>>
}

/** Rows per multi-row statement: one statement per row costs about as much as the row itself. */
const BATCH = 50

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
        table,
        get: db.prepare<[string], string>(`SELECT v FROM ${table} WHERE k = ?`).pluck(),
        putRows: new Map(),
        deleteRows: new Map(),
        getRows: new Map(),
        scans: new Map(),
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

  watch(onChange: () => void): () => void {
    // SQLite's data_version changes when another connection commits to the file;
    // the baseline is taken now, so that a commit before the first tick is not missed
    const version = () => this.db?.pragma('data_version', { simple: true }) as number | undefined
    let last = version()
    const timer = setInterval(() => {
      if (!this.db || !this.mutex.idle) return
      const now = version()
      if (now !== last) onChange()
      last = now
    }, this.options.pollInterval ?? 50)
    timer.unref?.()
    return () => clearInterval(timer)
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
      const tx = new SqliteTx(db, this.statements)
      const result = await fn(tx)
      tx.flush()
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

const DELETED = Symbol('deleted')

/**
 * Writes are buffered (as JSON) and flushed in multi-row statements before a
 * scan and at commit; gets read the buffer first, so a transaction always
 * sees its own writes.
 */
class SqliteTx implements StorageWriter {
  private readonly buffered = new Map<string, Map<string, string | typeof DELETED>>()

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
    const own = this.buffered.get(store)?.get(key)
    if (own !== undefined) return own === DELETED ? undefined : JSON.parse(own)
    const v = this.st(store).get.get(key)
    return v === undefined ? undefined : JSON.parse(v)
  }

  async get(store: string, key: string): Promise<unknown> {
    return this.getOne(store, key)
  }

  async getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    if (keys.length < 4) return keys.map(k => this.getOne(store, k))
    const st = this.st(store)
    const own = this.buffered.get(store)
    const found = new Map<string, string>()
    for (let i = 0; i < keys.length; i += BATCH) {
      const chunk = keys.slice(i, i + BATCH)
      const rows = this.statement(st.getRows, chunk.length, n => `SELECT k, v FROM ${st.table} WHERE k IN (${Array(n).fill('?').join(', ')})`).all(...chunk)
      for (const r of rows) found.set(r.k, r.v)
    }
    return keys.map(k => {
      const b = own?.get(k)
      if (b !== undefined) return b === DELETED ? undefined : JSON.parse(b)
      const v = found.get(k)
      return v === undefined ? undefined : JSON.parse(v)
    })
  }

  async scan(store: string, range: KeyRange = {}): Promise<Array<[string, unknown]>> {
    const { table } = this.st(store)
    this.flush()
    const where: string[] = []
    const params: Array<string | number> = []
    for (const [op, bound] of [['>', range.gt], ['>=', range.gte], ['<', range.lt], ['<=', range.lte]] as const) {
      if (bound !== undefined) {
        where.push(`k ${op} ?`)
        params.push(bound)
      }
    }
    let sql = `SELECT k, v FROM ${table}`
    if (where.length) sql += ` WHERE ${where.join(' AND ')}`
    sql += ` ORDER BY k ${range.reverse ? 'DESC' : 'ASC'}`
    if (range.limit !== undefined) {
      sql += ' LIMIT ?'
      params.push(range.limit)
    }
    let stmt = this.st(store).scans.get(sql)
    if (!stmt) this.st(store).scans.set(sql, (stmt = this.db.prepare<Array<string | number>, { k: string; v: string }>(sql)))
    return stmt.all(...params).map(r => [r.k, JSON.parse(r.v)])
  }

  async count(store: string): Promise<number> {
    const { table } = this.st(store)
    this.flush()
    const sql = `SELECT COUNT(*) AS k, '' AS v FROM ${table}`
    let stmt = this.st(store).scans.get(sql)
    if (!stmt) this.st(store).scans.set(sql, (stmt = this.db.prepare<Array<string | number>, { k: string; v: string }>(sql)))
    return Number(stmt.get()!.k)
  }

  put(store: string, key: string, value: unknown): void {
    this.buffer(store).set(key, JSON.stringify(value))
  }

  delete(store: string, key: string): void {
    this.buffer(store).set(key, DELETED)
  }

  deleteRange(store: string, range: { gte?: string; lt?: string }): void {
    const { table } = this.st(store)
    this.flush()
    const where = [range.gte !== undefined && 'k >= ?', range.lt !== undefined && 'k < ?'].filter(Boolean)
    if (!where.length) throw new InvalidParameterError('range', 'deleteRange needs a bound')
    this.db.prepare(`DELETE FROM ${table} WHERE ${where.join(' AND ')}`).run(...[range.gte, range.lt].filter(b => b !== undefined))
  }

  private buffer(store: string): Map<string, string | typeof DELETED> {
    this.st(store)
    let b = this.buffered.get(store)
    if (!b) this.buffered.set(store, (b = new Map()))
    return b
  }

  /** Writes the buffered rows, at most BATCH per statement. */
  flush(): void {
    for (const [store, rows] of this.buffered) {
      const st = this.st(store)
      const puts: string[] = []
      const deletes: string[] = []
      for (const [k, v] of rows) {
        if (v === DELETED) deletes.push(k)
        else puts.push(k, v)
      }
      for (let i = 0; i < deletes.length; i += BATCH) {
        const chunk = deletes.slice(i, i + BATCH)
        this.statement(st.deleteRows, chunk.length, n => `DELETE FROM ${st.table} WHERE k IN (${Array(n).fill('?').join(', ')})`).run(...chunk)
      }
      for (let i = 0; i < puts.length; i += 2 * BATCH) {
        const chunk = puts.slice(i, i + 2 * BATCH)
        this.statement(st.putRows, chunk.length / 2, n => `INSERT OR REPLACE INTO ${st.table} (k, v) VALUES ${Array(n).fill('(?, ?)').join(', ')}`).run(...chunk)
      }
    }
    this.buffered.clear()
  }

  private statement<R>(cache: Map<number, Database.Statement<string[], R>>, rows: number, sql: (rows: number) => string): Database.Statement<string[], R> {
    let st = cache.get(rows)
    if (!st) cache.set(rows, (st = this.db.prepare<string[], R>(sql(rows))))
    return st
  }
}
