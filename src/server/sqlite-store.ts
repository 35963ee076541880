import Database from 'better-sqlite3'
import { StorageError } from '../core/errors.js'
import type { JsonObject } from '../core/json.js'
import { Mutex } from '../core/mutex.js'
import type { MutationResult } from '../protocol/messages.js'
import { page, SERVER_SCHEMA_VERSION, type ClientRow, type FieldMeta, type PullData, type ServerDoc, type ServerStore, type ServerTx } from './store.js'

const MIGRATIONS: string[] = [
  `CREATE TABLE tp_revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
   INSERT INTO tp_revision VALUES (1, 0);
   CREATE TABLE tp_clients (client_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, last_seq INTEGER NOT NULL, last_mutation_id TEXT NOT NULL);
   CREATE TABLE tp_results (client_id TEXT NOT NULL, seq INTEGER NOT NULL, revision INTEGER NOT NULL, result TEXT NOT NULL, PRIMARY KEY (client_id, seq));
   CREATE INDEX tp_results_revision ON tp_results (client_id, revision);
   CREATE TABLE tp_docs (collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT, revision INTEGER NOT NULL, fields TEXT NOT NULL, PRIMARY KEY (collection, id)) WITHOUT ROWID;
   CREATE INDEX tp_docs_revision ON tp_docs (revision);`,
]

/** The embedded server store: one SQLite file (WAL, synchronous=FULL: an acknowledged push survives power loss). */
export function sqliteServerStore(path: string): ServerStore {
  return new SqliteServerStore(path)
}

interface DocRow {
  collection: string
  id: string
  data: string | null
  revision: number
  fields: string
}

class SqliteServerStore implements ServerStore {
  readonly kind = 'sqlite'
  private db!: Database.Database
  private readonly mutex = new Mutex()

  constructor(private readonly path: string) {}

  async open(): Promise<void> {
    this.db = new Database(this.path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.pragma('busy_timeout = 10000')
    const version = this.db.pragma('user_version', { simple: true }) as number
    if (version > SERVER_SCHEMA_VERSION) throw new StorageError('newer-format', `${this.path} was written by a newer Tidepool server (schema ${version})`)
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!)
        this.db.pragma(`user_version = ${v + 1}`)
      })()
    }
  }

  transaction<T>(fn: (tx: ServerTx) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      this.db.exec('BEGIN IMMEDIATE')
      try {
        const result = await fn(new SqliteServerTx(this.db))
        this.db.exec('COMMIT')
        return result
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK')
        throw e
      }
    })
  }

  pull(clientId: string, since: number, limit: number): Promise<PullData> {
    return this.mutex.run(async () => {
      const read = this.db.transaction(() => {
        const current = (this.db.prepare('SELECT value FROM tp_revision').pluck().get() as number) ?? 0
        const rows = this.db.prepare('SELECT * FROM tp_docs WHERE revision > ? ORDER BY revision LIMIT ?').all(since, limit + 1) as DocRow[]
        const { rows: firstRows, revision, more } = page(rows, limit, current)
        // a single commit bigger than a page comes whole
        const docs = more && firstRows.length === 0 ? (this.db.prepare('SELECT * FROM tp_docs WHERE revision = ?').all(revision) as DocRow[]) : firstRows
        const results = (this.db.prepare('SELECT result FROM tp_results WHERE client_id = ? AND revision > ? AND revision <= ? ORDER BY seq').pluck().all(clientId, since, revision) as string[]).map(
          r => JSON.parse(r) as MutationResult,
        )
        return { revision, docs: docs.map(toDoc), results, more }
      })
      return read()
    })
  }

  async revision(): Promise<number> {
    return this.db.prepare('SELECT value FROM tp_revision').pluck().get() as number
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => this.db?.close())
  }
}

function toDoc(r: DocRow): ServerDoc {
  return { collection: r.collection, id: r.id, data: r.data === null ? null : (JSON.parse(r.data) as JsonObject), revision: r.revision, fields: JSON.parse(r.fields) as Record<string, FieldMeta> }
}

class SqliteServerTx implements ServerTx {
  constructor(private readonly db: Database.Database) {}

  async nextRevision(): Promise<number> {
    return this.db.prepare('UPDATE tp_revision SET value = value + 1 RETURNING value').pluck().get() as number
  }

  async getClient(clientId: string): Promise<ClientRow | undefined> {
    const r = this.db.prepare('SELECT * FROM tp_clients WHERE client_id = ?').get(clientId) as
      | { client_id: string; user_id: string; last_seq: number; last_mutation_id: string }
      | undefined
    return r && { clientId: r.client_id, userId: r.user_id, lastSeq: r.last_seq, lastMutationId: r.last_mutation_id }
  }

  async saveClient(row: ClientRow): Promise<void> {
    this.db.prepare('INSERT OR REPLACE INTO tp_clients VALUES (?, ?, ?, ?)').run(row.clientId, row.userId, row.lastSeq, row.lastMutationId)
  }

  async getResult(clientId: string, seq: number): Promise<MutationResult | undefined> {
    const r = this.db.prepare('SELECT result FROM tp_results WHERE client_id = ? AND seq = ?').pluck().get(clientId, seq) as string | undefined
    return r === undefined ? undefined : (JSON.parse(r) as MutationResult)
  }

  async saveResult(clientId: string, result: MutationResult): Promise<void> {
    this.db.prepare('INSERT OR REPLACE INTO tp_results VALUES (?, ?, ?, ?)').run(clientId, result.seq, result.revision, JSON.stringify(result))
  }

  async getDocs(keys: ReadonlyArray<{ collection: string; id: string }>): Promise<Array<ServerDoc | undefined>> {
    const get = this.db.prepare('SELECT * FROM tp_docs WHERE collection = ? AND id = ?')
    return keys.map(k => {
      const r = get.get(k.collection, k.id) as DocRow | undefined
      return r && toDoc(r)
    })
  }

  async putDocs(docs: readonly ServerDoc[]): Promise<void> {
    const put = this.db.prepare('INSERT OR REPLACE INTO tp_docs VALUES (?, ?, ?, ?, ?)')
    for (const d of docs) put.run(d.collection, d.id, d.data === null ? null : JSON.stringify(d.data), d.revision, JSON.stringify(d.fields))
  }
}
