import type Database from 'better-sqlite3'
import { ClosedError, InvalidParameterError } from '../core/errors.js'
import { assertKnownOptions } from '../core/options.js'
import { unref } from '../core/backoff.js'
import { Mutex, transaction, type SqlConnection } from '../core/mutex.js'
import { loadWithPeers } from '../core/peer.js'
import type { Durability, KeyRange, Storage, StorageReader, WriteBatch } from './storage.js'

// an optional peer: browser apps never install it, and Node apps that use SQLite are told to
const { default: Sqlite } = await loadWithPeers(() => import('better-sqlite3'), ['better-sqlite3'], 'tidepool/sqlite')

/** How `sqliteStorage` uses its file: durability, the wait for another process's lock, how often it looks for others' commits. */
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
  assertKnownOptions('sqliteStorage', options, ['pollInterval', 'durability', 'busyTimeout'])
  return new SqliteStorage(path, options)
}

interface Statements {
  table: string
  get: Database.Statement<[string], string>
  /** Multi-row upserts, deletes and lookups by row count, prepared on first use. */
  putRows: Map<number, Database.Statement<string[]>>
  deleteRows: Map<number, Database.Statement<string[]>>
  getRows: Map<number, Database.Statement<string[], { k: string; v: string }>>
  /** Range scans (and counts, range deletes) by their SQL: bounds and direction vary. */
  scans: Map<string, Database.Statement<Array<string | number>, { k: string; v: string }>>
}

/** Rows per multi-row statement: one statement per row costs about as much as the row itself. */
const BATCH = 50

/**
 * The ends of the read transactions that point reads share (see
 * `beginSnapshot`), of every connection in this process: a write on any of
 * them ends them all, as it begins and once it is committed, so that
 * whatever reads next, through any database on the file, sees it. Kept on
 * the global object: two copies of this module in one process (a
 * duplicated dependency) still end each other's.
 */
const registry = globalThis as typeof globalThis & { [key: symbol]: Set<() => void> | undefined }
const SNAPSHOTS = Symbol.for('tidepool.sqlite.snapshots')
const snapshots = (registry[SNAPSHOTS] ??= new Set<() => void>())

function endSnapshots(): void {
  for (const end of [...snapshots]) end()
}

/** How long point reads may share one snapshot at most. */
const SNAPSHOT_MS = 1
/** After another connection's commit is seen, how long point reads go without shared snapshots, each its own statement. */
const PLAIN_MS = 100

class SqliteStorage implements Storage {
  readonly kind = 'sqlite'
  private db: Database.Database | undefined
  private statements = new Map<string, Statements>()
  private connection: SqlConnection | undefined
  private dataVersion: Database.Statement<[], number> | undefined
  /** Writes begun on this connection: with data_version, what `version()` tells apart. */
  private writes = 0
  private checkpoint: Database.Statement | undefined
  private checkpointTimer: ReturnType<typeof setTimeout> | undefined
  private control: Record<'deferred' | 'immediate' | 'commit' | 'rollback', Database.Statement> | undefined
  /** Ends the read transaction that point reads share, if one is open; and when it began. */
  private snapshotEnd: (() => void) | undefined
  private snapshotAt = 0
  /** The file's data_version when a snapshot last began, and until when point reads share none (another connection writes). */
  private seenVersion: number | undefined
  private plainUntil = 0
  // one connection: reads and writes take turns, so a read never sees a write half-done
  private readonly mutex = new Mutex()

  constructor(
    private readonly path: string,
    private readonly options: SqliteStorageOptions,
  ) {}

  async open(stores: readonly string[]): Promise<void> {
    if (this.db) return
    const db = new Sqlite(this.path)
    // a connection's data_version counts from its own start
    this.seenVersion = undefined
    this.plainUntil = 0
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${this.options.durability === 'strict' ? 'FULL' : 'NORMAL'}`)
    db.pragma(`busy_timeout = ${this.options.busyTimeout ?? 5000}`)
    // a replica is read far more than written: keep hot pages in memory and map the file for the rest
    db.pragma('cache_size = -32768')
    db.pragma('mmap_size = 268435456')
    // SQLite folds the WAL back into the file inside whichever commit passes 1,000 pages: a few milliseconds on that one
    // commit. Here it is done in a quiet moment after writes instead (checkpointSoon), with SQLite's own kept as a net at 4,000 pages:
    // higher, and reads right after a burst of writes wade through a long WAL
    db.pragma('wal_autocheckpoint = 4000')
    this.checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
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
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck()
    // prepared once: a transaction's control statements cost as much as its rows otherwise
    const control = { deferred: db.prepare('BEGIN'), immediate: db.prepare('BEGIN IMMEDIATE'), commit: db.prepare('COMMIT'), rollback: db.prepare('ROLLBACK') }
    this.control = control
    let writing = false
    const ended = (statement: Database.Statement) => {
      try {
        statement.run()
      } finally {
        if (writing) endSnapshots()
        writing = false
      }
    }
    this.connection = {
      begin: kind => {
        if (kind === 'immediate') endSnapshots()
        else this.endSnapshot()
        control[kind].run()
        writing = kind === 'immediate'
      },
      commit: () => ended(control.commit),
      rollback: () => ended(control.rollback),
      get inTransaction() {
        return db.inTransaction
      },
    }
    this.db = db
  }

  /** After writes, a checkpoint once they pause, taking its turn like any transaction: never inside one's commit. */
  private checkpointSoon(): void {
    if (this.checkpointTimer) return
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined
      if (!this.db) return
      this.mutex
        .run(async () => {
          this.endSnapshot()
          this.checkpoint?.get()
        })
        // a busy file (another process writing) is checkpointed by the next one, or by SQLite's own
        .catch(() => undefined)
    }, CHECKPOINT_AFTER_MS)
    unref(this.checkpointTimer)
  }

  async close(): Promise<void> {
    clearTimeout(this.checkpointTimer)
    this.checkpointTimer = undefined
    await this.mutex.run(async () => {
      this.endSnapshot()
      this.db?.close()
      this.db = undefined
      this.connection = undefined
      this.control = undefined
      this.statements.clear()
    })
  }

  private conn(): Database.Database {
    if (!this.db) throw new ClosedError(`sqlite storage ${this.path}`)
    return this.db
  }

  read<T>(fn: (reader: StorageReader) => Promise<T>): Promise<T> {
    return this.transaction('deferred', async tables => ({ result: await fn(tables), batch: undefined }))
  }

  peek(store: string, keys: readonly string[]): Promise<unknown[]> {
    // with the connection idle a point read needs no lock: it runs at once, in the snapshot point reads one after another share
    if (keys.length === 1 && this.mutex.idle) {
      try {
        const db = this.conn()
        if (performance.now() - this.snapshotAt > SNAPSHOT_MS) this.endSnapshot()
        this.beginSnapshot(db)
        return Promise.resolve([new Tables(db, this.statements).getOne(store, keys[0]!)])
      } catch (e) {
        return Promise.reject(e)
      }
    }
    return this.read(r => r.getMany(store, keys))
  }

  /**
   * A statement outside a transaction takes and drops the WAL's read lock
   * itself, which costs as much as a lookup: point reads one after another
   * (an app's awaited reads) share one read transaction instead, for at
   * most SNAPSHOT_MS and never past the callback that began it (with the
   * promises it settles), ended at once when anything else needs the
   * connection or anything in the process writes. While another connection
   * commits to the file, reads go without, each its own statement: a
   * snapshot held most of the time would keep that writer's WAL from
   * starting over.
   */
  private beginSnapshot(db: Database.Database): void {
    if (this.snapshotEnd || db.inTransaction) return
    const now = performance.now()
    if (now < this.plainUntil) return
    const control = this.control!
    control.deferred.run()
    // asked inside the transaction: outside, the question would take and drop the read lock itself
    const version = this.dataVersion!.get()
    if (this.seenVersion !== undefined && version !== this.seenVersion) {
      this.seenVersion = version
      this.plainUntil = now + PLAIN_MS
      control.commit.run()
      return
    }
    this.seenVersion = version
    this.snapshotAt = now
    const end = () => {
      snapshots.delete(end)
      this.snapshotEnd = undefined
      if (!db.open || !db.inTransaction) return
      // a read transaction has nothing to keep: one that will not commit is dropped, and neither fails the write that ends it
      try {
        control.commit.run()
      } catch {
        try {
          if (db.inTransaction) control.rollback.run()
        } catch {
          // the connection's next use reports what is wrong with it
        }
      }
    }
    this.snapshotEnd = end
    snapshots.add(end)
    // before any timer, I/O or message callback: one that follows another thread's commit reads after it
    process.nextTick(() => this.snapshotEnd === end && end())
  }

  private endSnapshot(): void {
    this.snapshotEnd?.()
  }

  version(): string {
    this.conn()
    // data_version moves when another connection commits; this connection's own commits are counted here
    return `${this.writes}:${this.dataVersion!.get()}`
  }

  watch(onChange: () => void): () => void {
    // SQLite's data_version changes when another connection commits to the file;
    // the baseline is taken now, so that a commit before the first tick is not missed
    const version = () => (this.db ? this.dataVersion!.get() : undefined)
    let last = version()
    const timer = setInterval(() => {
      if (!this.db || !this.mutex.idle) return
      // a snapshot still open would show the file as it was when it began
      this.endSnapshot()
      const now = version()
      if (now !== last) onChange()
      last = now
    }, this.options.pollInterval ?? 50)
    unref(timer)
    return () => clearInterval(timer)
  }

  write<T>(fn: (reader: StorageReader) => Promise<{ result: T; batch: WriteBatch }>): Promise<T> {
    // IMMEDIATE takes the write lock up front, so two processes never both read and then fail to upgrade
    return this.transaction('immediate', fn).finally(() => this.checkpointSoon())
  }

  private transaction<T>(kind: 'deferred' | 'immediate', fn: (tables: Tables) => Promise<{ result: T; batch: WriteBatch | undefined }>): Promise<T> {
    return transaction(
      this.mutex,
      () => {
        this.conn()
        return this.connection!
      },
      kind,
      async () => {
        const tables = new Tables(this.conn(), this.statements)
        const { result, batch } = await fn(tables)
        if (batch) {
          tables.apply(batch)
          // counted before COMMIT, under the lock: no read can see the new state while version() still says the old one
          this.writes++
        }
        return result
      },
    )
  }
}

/** `select` limited to a key range of `column`, in its order: the statement and its parameters. */
function ranged(select: string, column: string, range: KeyRange): { sql: string; params: Array<string | number> } {
  const where: string[] = []
  const params: Array<string | number> = []
  for (const [op, bound] of [['>', range.gt], ['>=', range.gte], ['<', range.lt], ['<=', range.lte]] as const) {
    if (bound !== undefined) {
      where.push(`${column} ${op} ?`)
      params.push(bound)
    }
  }
  let sql = select
  if (where.length) sql += ` WHERE ${where.join(' AND ')}`
  sql += ` ORDER BY ${column} ${range.reverse ? 'DESC' : 'ASC'}`
  if (range.limit !== undefined) {
    sql += ' LIMIT ?'
    params.push(range.limit)
  }
  return { sql, params }
}

/** How long writes pause before the WAL is checkpointed. */
const CHECKPOINT_AFTER_MS = 100

/** Store names become table names: keep them to a safe alphabet. */
function tableName(store: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(store)) throw new InvalidParameterError('store', `bad store name ${store}`)
  return `tp_${store}`
}

/** The stores' tables inside one transaction: reads, and a batch written in multi-row statements at commit. */
class Tables implements StorageReader {
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

  async getMany(store: string, keys: readonly string[]): Promise<unknown[]> {
    if (keys.length < 4) return keys.map(k => this.getOne(store, k))
    const st = this.st(store)
    const found = new Map<string, string>()
    for (let i = 0; i < keys.length; i += BATCH) {
      const chunk = keys.slice(i, i + BATCH)
      const rows = this.statement(st.getRows, chunk.length, n => `SELECT k, v FROM ${st.table} WHERE k IN (${Array(n).fill('?').join(', ')})`).all(...chunk)
      for (const r of rows) found.set(r.k, r.v)
    }
    return keys.map(k => {
      const v = found.get(k)
      return v === undefined ? undefined : JSON.parse(v)
    })
  }

  async scan(store: string, range: KeyRange = {}): Promise<Array<[string, unknown]>> {
    const { table } = this.st(store)
    const { sql, params } = ranged(`SELECT k, v FROM ${table}`, 'k', range)
    return this.cached(store, sql)
      .all(...params)
      .map(r => [r.k, JSON.parse(r.v)])
  }

  async scanJoined(index: string, values: string, prefix: string, range: KeyRange = {}): Promise<Array<[string, string, unknown]>> {
    const [i, d] = [this.st(index).table, this.st(values).table]
    // entry values are JSON strings (the document's id): json_extract reads them, and the lookup uses the records' primary key
    const { sql, params } = ranged(`SELECT i.k AS k, i.v AS id, d.v AS v FROM ${i} i LEFT JOIN ${d} d ON d.k = ? || json_extract(i.v, '$')`, 'i.k', range)
    return (this.cached(index, sql) as unknown as Database.Statement<Array<string | number>, { k: string; id: string; v: string | null }>)
      .all(prefix, ...params)
      .map(r => [r.k, JSON.parse(r.id) as string, r.v === null ? undefined : JSON.parse(r.v)])
  }

  async count(store: string): Promise<number> {
    const { table } = this.st(store)
    return Number(this.cached(store, `SELECT COUNT(*) AS k, '' AS v FROM ${table}`).get()!.k)
  }

  /** Writes a batch: range deletes, then at most BATCH rows per statement. */
  apply(batch: WriteBatch): void {
    for (const [store, { ranges, entries }] of batch) {
      const st = this.st(store)
      for (const range of ranges) {
        const where = [range.gte !== undefined && 'k >= ?', range.lt !== undefined && 'k < ?'].filter(Boolean)
        this.cached(store, `DELETE FROM ${st.table} WHERE ${where.join(' AND ')}`).run(...[range.gte, range.lt].filter((b): b is string => b !== undefined))
      }
      const puts: string[] = []
      const deletes: string[] = []
      for (const [k, v] of entries) {
        if (v === undefined) deletes.push(k)
        else puts.push(k, JSON.stringify(v))
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
  }

  private cached(store: string, sql: string): Database.Statement<Array<string | number>, { k: string; v: string }> {
    const scans = this.st(store).scans
    let stmt = scans.get(sql)
    if (!stmt) scans.set(sql, (stmt = this.db.prepare<Array<string | number>, { k: string; v: string }>(sql)))
    return stmt
  }

  private statement<R>(cache: Map<number, Database.Statement<string[], R>>, rows: number, sql: (rows: number) => string): Database.Statement<string[], R> {
    let st = cache.get(rows)
    if (!st) cache.set(rows, (st = this.db.prepare<string[], R>(sql(rows))))
    return st
  }
}
