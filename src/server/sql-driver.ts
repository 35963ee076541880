/** A bound parameter: the server stores only text and integers (documents are JSON text). */
export type SqlValue = string | number | null
export type SqlRow = Record<string, unknown>

/** A connection, or a transaction on one. SQL is written with `?` placeholders; a driver converts them if its engine wants others. */
export interface SqlRunner {
  /** On a driver, outside `write`, a statement that writes is not known to be durable when it resolves: writes go through `write`. */
  query(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]>
  /** Runs several statements without parameters (a migration). */
  exec(sql: string): Promise<void>
}

/**
 * What the shared server SQL (sql-store.ts) needs of a database. `write` and
 * `read` commit when `fn` resolves and roll back when it throws.
 */
export interface SqlDriver extends SqlRunner {
  readonly dialect: SqlDialect
  /** What the database is called in messages: the file, or "the database". */
  readonly where: string
  /** A write transaction, exclusive of other writers from the first statement on; resolves once its commit is durable. */
  write<T>(fn: (sql: SqlRunner) => Promise<T>): Promise<T>
  /** A read-only transaction on one snapshot. */
  read<T>(fn: (sql: SqlRunner) => Promise<T>): Promise<T>
  /** How the processes sharing this database hear of each other's commits; absent where one process owns it. */
  readonly notifications?: Notifications
  close(): Promise<void>
}

/** A channel the processes sharing one database hear each other on (PostgreSQL's LISTEN/NOTIFY). */
export interface Notifications {
  /**
   * Hears every payload sent on the channel (its own too) until the driver
   * closes; `undefined` each time the listening connection is made again,
   * since payloads sent while it was gone are lost.
   */
  listen(heard: (payload: string | undefined) => void): Promise<void>
  notify(payload: string): Promise<void>
  readonly state: 'listening' | 'reconnecting' | 'closed'
}

/** Where the engines' SQL differs. Integers may come back as numbers or as strings (pg's BIGINT): readers apply `Number`. */
export interface SqlDialect {
  /** The column type of revisions and sequence numbers. */
  readonly integer: 'INTEGER' | 'BIGINT'
  /** Ends a table keyed only by its primary key (SQLite's `WITHOUT ROWID`, or nothing). */
  readonly keyedTable: string
  /** Ends a read of a row the transaction will write (`FOR UPDATE`, or nothing where a write transaction already excludes other writers). */
  readonly forUpdate: string
  /** A document id as stored, and back. */
  storeId(id: string): string
  loadId(stored: string): string
  /** Runs first in the migration transaction, so servers opening one database together migrate it once. */
  readonly migrationLock?: string
  /** The schema version the database records (0: none yet), and recording a new one; inside the migration transaction. */
  schemaVersion(sql: SqlRunner): Promise<number>
  setSchemaVersion(sql: SqlRunner, version: number): Promise<void>
}
