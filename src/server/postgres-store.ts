import pg from 'pg'
import { InvalidOptionsError, StorageError } from '../core/errors.js'
import type { JsonObject } from '../core/json.js'
import type { MutationResult } from '../protocol/messages.js'
import { page, SERVER_SCHEMA_VERSION, type ClientRow, type FieldMeta, type PullData, type ServerDoc, type ServerStore, type ServerTx } from './store.js'

/**
 * Migrations by schema version. Documents are JSON text, not jsonb: jsonb
 * refuses "\u0000" in strings, and the server never queries inside documents.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE tp_revision (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL);
   INSERT INTO tp_revision VALUES (1, 0);
   CREATE TABLE tp_clients (client_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, last_seq BIGINT NOT NULL, last_mutation_id TEXT NOT NULL);
   CREATE TABLE tp_results (client_id TEXT NOT NULL, seq BIGINT NOT NULL, revision BIGINT NOT NULL, result TEXT NOT NULL, PRIMARY KEY (client_id, seq));
   CREATE INDEX tp_results_revision ON tp_results (client_id, revision);
   CREATE TABLE tp_docs (collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT, revision BIGINT NOT NULL, fields TEXT NOT NULL, PRIMARY KEY (collection, id));
   CREATE INDEX tp_docs_revision ON tp_docs (revision);`,
]

export interface PostgresStoreOptions {
  /** A schema to keep the tables in (created if missing); default `public`. */
  schema?: string
  /** Most connections in the pool (default 10). */
  max?: number
}

/** The production server store: PostgreSQL through `pg`. Several servers may share one database. */
export function postgresServerStore(connectionString: string, options: PostgresStoreOptions = {}): ServerStore {
  return new PostgresServerStore(connectionString, options)
}

/** PostgreSQL text cannot hold NUL, which compound keys contain: escape it (and the escape character). */
export function escapeId(id: string): string {
  return id.replaceAll('\\', '\\\\').replaceAll('\0', '\\0')
}
export function unescapeId(s: string): string {
  return s.replace(/\\(\\|0)/g, (_, c: string) => (c === '0' ? '\0' : '\\'))
}

interface DocRow {
  collection: string
  id: string
  data: string | null
  revision: string
  fields: string
}

function toDoc(r: DocRow): ServerDoc {
  return {
    collection: r.collection,
    id: unescapeId(r.id),
    data: r.data === null ? null : (JSON.parse(r.data) as JsonObject),
    revision: Number(r.revision),
    fields: JSON.parse(r.fields) as Record<string, FieldMeta>,
  }
}

class PostgresServerStore implements ServerStore {
  readonly kind = 'postgres'
  private readonly pool: pg.Pool
  private readonly schema: string

  constructor(connectionString: string, options: PostgresStoreOptions) {
    this.schema = options.schema ?? 'public'
    if (!/^[a-z_][a-z0-9_]*$/.test(this.schema)) throw new InvalidOptionsError('schema', `${this.schema} is not a valid PostgreSQL schema name (lowercase letters, digits, _)`)
    this.pool = new pg.Pool({ connectionString, max: options.max ?? 10 })
    // an idle client's error (the server restarted) must not crash the process
    this.pool.on('error', () => undefined)
    this.pool.on('connect', client => void client.query(`SET search_path TO ${this.schema}`))
  }

  async open(): Promise<void> {
    const client = await this.pool.connect()
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`)
      await client.query(`SET search_path TO ${this.schema}`)
      // one migrator at a time, even with several servers starting together
      await client.query('BEGIN')
      await client.query('SELECT pg_advisory_xact_lock(7234001)')
      await client.query('CREATE TABLE IF NOT EXISTS tp_schema (version INTEGER NOT NULL)')
      const r = await client.query<{ version: number }>('SELECT version FROM tp_schema')
      let version = r.rows[0]?.version ?? 0
      if (r.rows.length === 0) await client.query('INSERT INTO tp_schema VALUES (0)')
      if (version > SERVER_SCHEMA_VERSION) throw new StorageError('newer-format', `the database was written by a newer Tidepool server (schema ${version})`)
      for (; version < MIGRATIONS.length; version++) {
        await client.query(MIGRATIONS[version]!)
        await client.query('UPDATE tp_schema SET version = $1', [version + 1])
      }
      await client.query('COMMIT')
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw e
    } finally {
      client.release()
    }
  }

  async transaction<T>(fn: (tx: ServerTx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    try {
      await client.query('BEGIN')
      const result = await fn(new PostgresServerTx(client))
      await client.query('COMMIT')
      return result
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw e
    } finally {
      client.release()
    }
  }

  async pull(clientId: string, since: number, limit: number): Promise<PullData> {
    const client = await this.pool.connect()
    try {
      // one snapshot: the revision and the changes up to it agree
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      const current = Number((await client.query<{ value: string }>('SELECT value FROM tp_revision')).rows[0]!.value)
      const rows = (await client.query<DocRow>('SELECT * FROM tp_docs WHERE revision > $1 ORDER BY revision LIMIT $2', [since, limit + 1])).rows.map(toDoc)
      const { rows: firstRows, revision, more } = page(rows, limit, current)
      // a single commit bigger than a page comes whole
      const docs = more && firstRows.length === 0 ? (await client.query<DocRow>('SELECT * FROM tp_docs WHERE revision = $1', [revision])).rows.map(toDoc) : firstRows
      const results = (
        await client.query<{ result: string }>('SELECT result FROM tp_results WHERE client_id = $1 AND revision > $2 AND revision <= $3 ORDER BY seq', [clientId, since, revision])
      ).rows.map(r => JSON.parse(r.result) as MutationResult)
      await client.query('COMMIT')
      return { revision, docs, results, more }
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw e
    } finally {
      client.release()
    }
  }

  async revision(): Promise<number> {
    return Number((await this.pool.query<{ value: string }>('SELECT value FROM tp_revision')).rows[0]!.value)
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}

class PostgresServerTx implements ServerTx {
  constructor(private readonly client: pg.PoolClient) {}

  async nextRevision(): Promise<number> {
    // the row lock held until commit makes revision order equal commit order
    return Number((await this.client.query<{ value: string }>('UPDATE tp_revision SET value = value + 1 RETURNING value')).rows[0]!.value)
  }

  async getClient(clientId: string): Promise<ClientRow | undefined> {
    const r = (await this.client.query<{ user_id: string; last_seq: string; last_mutation_id: string }>('SELECT * FROM tp_clients WHERE client_id = $1 FOR UPDATE', [clientId])).rows[0]
    return r && { clientId, userId: r.user_id, lastSeq: Number(r.last_seq), lastMutationId: r.last_mutation_id }
  }

  async saveClient(row: ClientRow): Promise<void> {
    await this.client.query(
      `INSERT INTO tp_clients VALUES ($1, $2, $3, $4)
       ON CONFLICT (client_id) DO UPDATE SET user_id = EXCLUDED.user_id, last_seq = EXCLUDED.last_seq, last_mutation_id = EXCLUDED.last_mutation_id`,
      [row.clientId, row.userId, row.lastSeq, row.lastMutationId],
    )
  }

  async getResult(clientId: string, seq: number): Promise<MutationResult | undefined> {
    const r = (await this.client.query<{ result: string }>('SELECT result FROM tp_results WHERE client_id = $1 AND seq = $2', [clientId, seq])).rows[0]
    return r && (JSON.parse(r.result) as MutationResult)
  }

  async saveResult(clientId: string, result: MutationResult): Promise<void> {
    await this.client.query(
      'INSERT INTO tp_results VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, seq) DO UPDATE SET revision = EXCLUDED.revision, result = EXCLUDED.result',
      [clientId, result.seq, result.revision, JSON.stringify(result)],
    )
  }

  async getDocs(keys: ReadonlyArray<{ collection: string; id: string }>): Promise<Array<ServerDoc | undefined>> {
    if (keys.length === 0) return []
    const rows = (
      await this.client.query<DocRow>('SELECT d.* FROM tp_docs d JOIN unnest($1::text[], $2::text[]) AS k(c, i) ON d.collection = k.c AND d.id = k.i', [
        keys.map(k => k.collection),
        keys.map(k => escapeId(k.id)),
      ])
    ).rows.map(toDoc)
    const byKey = new Map(rows.map(d => [`${d.collection}\0${d.id}`, d]))
    return keys.map(k => byKey.get(`${k.collection}\0${k.id}`))
  }

  async putDocs(docs: readonly ServerDoc[]): Promise<void> {
    if (docs.length === 0) return
    await this.client.query(
      `INSERT INTO tp_docs SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
       ON CONFLICT (collection, id) DO UPDATE SET data = EXCLUDED.data, revision = EXCLUDED.revision, fields = EXCLUDED.fields`,
      [
        docs.map(d => d.collection),
        docs.map(d => escapeId(d.id)),
        docs.map(d => (d.data === null ? null : JSON.stringify(d.data))),
        docs.map(d => d.revision),
        docs.map(d => JSON.stringify(d.fields)),
      ],
    )
  }
}
