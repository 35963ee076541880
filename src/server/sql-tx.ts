import type { JsonObject } from '../core/json.js'
import { docKey } from '../core/key.js'
import { canRead, REALM_FIELD } from '../core/realms.js'
import type { MutationResult } from '../protocol/messages.js'
import { decodeFields, encodeFields } from './field-meta.js'
import type { SqlDialect, SqlRow, SqlRunner, SqlValue } from './sql-driver.js'
import type { ClientRow, FieldMeta, ServerDoc, StoreTx } from './store.js'
import { keepJson, namesString } from './stored-json.js'

/** Below the lowest limit on bound parameters either engine has had (SQLite's old 999). */
const MAX_PARAMS = 999

export const DOC_COLUMNS = 'collection, id, data, revision, fields, realm'

export function toDoc(d: SqlDialect, r: SqlRow): ServerDoc {
  return {
    collection: r.collection as string,
    id: d.loadId(r.id as string),
    data: rowData(r),
    revision: Number(r.revision),
    fields: decodeFields(r.fields as string),
    realm: r.realm as string,
  }
}

function rowData(r: SqlRow): JsonObject | null {
  const data = r.data === null ? null : (JSON.parse(r.data as string) as JsonObject)
  // written before realms: the column says where it lives
  return data && typeof data[REALM_FIELD] !== 'string' ? { ...data, [REALM_FIELD]: r.realm as string } : data
}

/**
 * A document row as a pull reads it: its JSON is parsed only if the pull
 * looks inside, and a document that names its realm keeps its stored text
 * for an answer that sends it whole (see stored-json.ts).
 */
class PulledDoc implements ServerDoc {
  readonly collection: string
  readonly id: string
  readonly revision: number
  readonly realm: string
  private parsed: JsonObject | null | undefined
  private meta: Record<string, FieldMeta> | undefined

  constructor(
    d: SqlDialect,
    private readonly row: SqlRow,
  ) {
    this.collection = row.collection as string
    this.id = d.loadId(row.id as string)
    this.revision = Number(row.revision)
    this.realm = row.realm as string
    if (typeof row.data === 'string' && namesString(row.data, REALM_FIELD)) keepJson(this, row.data)
  }

  get data(): JsonObject | null {
    if (this.parsed === undefined) this.parsed = rowData(this.row)
    return this.parsed
  }

  get fields(): Record<string, FieldMeta> {
    return (this.meta ??= decodeFields(this.row.fields as string))
  }
}

export function pulledDoc(d: SqlDialect, r: SqlRow): ServerDoc {
  return new PulledDoc(d, r)
}

/** One push transaction in SQL both engines accept. */
export class SqlServerTx implements StoreTx {
  constructor(
    private readonly sql: SqlRunner,
    private readonly dialect: SqlDialect,
  ) {}

  async nextRevision(): Promise<number> {
    // the write lock on the counter's row, held until commit, makes revision order commit order
    const [r] = await this.sql.query('UPDATE tp_revision SET value = value + 1 RETURNING value')
    return Number(r!.value)
  }

  async lockRevision(): Promise<number> {
    const [r] = await this.sql.query('UPDATE tp_revision SET value = value RETURNING value')
    return Number(r!.value)
  }

  async setRevision(revision: number): Promise<void> {
    await this.sql.query('UPDATE tp_revision SET value = ?', [revision])
  }

  async getClient(clientId: string): Promise<ClientRow | undefined> {
    return (await this.getClients([clientId])).get(clientId)
  }

  async getClients(clientIds: readonly string[]): Promise<Map<string, ClientRow>> {
    const out = new Map<string, ClientRow>()
    for (const chunk of chunks(clientIds, 1)) {
      const rows = await this.sql.query(`SELECT client_id, user_id, last_seq, last_mutation_id, pulled FROM tp_clients WHERE client_id IN (${marks(chunk.length)})${this.dialect.forUpdate}`, chunk)
      for (const r of rows) {
        const clientId = r.client_id as string
        out.set(clientId, { clientId, userId: r.user_id as string, lastSeq: Number(r.last_seq), lastMutationId: r.last_mutation_id as string, pulled: Number(r.pulled) })
      }
    }
    return out
  }

  async saveClient(row: ClientRow): Promise<void> {
    await this.saveClients([row])
  }

  async saveClients(rows: readonly ClientRow[]): Promise<void> {
    for (const chunk of chunks(rows, 5)) {
      await this.sql.query(
        `INSERT INTO tp_clients (client_id, user_id, last_seq, last_mutation_id, pulled) VALUES ${tuples(chunk.length, 5)}
         ON CONFLICT (client_id) DO UPDATE SET user_id = excluded.user_id, last_seq = excluded.last_seq, last_mutation_id = excluded.last_mutation_id, pulled = excluded.pulled`,
        chunk.flatMap(r => [r.clientId, r.userId, r.lastSeq, r.lastMutationId, r.pulled]),
      )
    }
  }

  async getResult(clientId: string, seq: number): Promise<MutationResult | undefined> {
    const [r] = await this.sql.query('SELECT result FROM tp_results WHERE client_id = ? AND seq = ?', [clientId, seq])
    return r && (JSON.parse(r.result as string) as MutationResult)
  }

  async saveResult(clientId: string, result: MutationResult): Promise<void> {
    await this.saveResults([{ clientId, result }])
  }

  async saveResults(rows: ReadonlyArray<{ clientId: string; result: MutationResult }>): Promise<void> {
    for (const chunk of chunks(rows, 4)) {
      await this.sql.query(
        `INSERT INTO tp_results (client_id, seq, revision, result) VALUES ${tuples(chunk.length, 4)}
         ON CONFLICT (client_id, seq) DO UPDATE SET revision = excluded.revision, result = excluded.result`,
        chunk.flatMap(({ clientId, result }) => [clientId, result.seq, result.revision, JSON.stringify(result)]),
      )
    }
  }

  async getDocs(keys: ReadonlyArray<{ collection: string; id: string }>): Promise<Array<ServerDoc | undefined>> {
    const found = new Map<string, ServerDoc>()
    for (const chunk of chunks(keys, 2)) {
      const params = chunk.flatMap(k => [k.collection, this.dialect.storeId(k.id)])
      const rows = await this.sql.query(`SELECT ${DOC_COLUMNS} FROM tp_docs WHERE (collection, id) IN (VALUES ${tuples(chunk.length, 2)})`, params)
      for (const r of rows) {
        const d = toDoc(this.dialect, r)
        found.set(docKey(d.collection, d.id), d)
      }
    }
    return keys.map(k => found.get(docKey(k.collection, k.id)))
  }

  async putDocs(docs: readonly ServerDoc[]): Promise<void> {
    for (const chunk of chunks(docs, 5)) {
      const params = chunk.flatMap((d): SqlValue[] => [d.collection, this.dialect.storeId(d.id), d.data === null ? null : JSON.stringify(d.data), d.revision, encodeFields(d.fields), d.realm])
      await this.sql.query(
        `INSERT INTO tp_docs (${DOC_COLUMNS}) VALUES ${tuples(chunk.length, 6)}
         ON CONFLICT (collection, id) DO UPDATE SET data = excluded.data, revision = excluded.revision, fields = excluded.fields, realm = excluded.realm`,
        params,
      )
    }
  }

  async memberships(userId: string, realms: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>()
    for (const chunk of chunks(realms, 1, 1)) {
      const rows = await this.sql.query(`SELECT realm, roles FROM tp_members WHERE user_id = ? AND realm IN (${marks(chunk.length)})`, [userId, ...chunk])
      for (const r of rows) out.set(r.realm as string, JSON.parse(r.roles as string) as string[])
    }
    return out
  }

  async saveMembership(userId: string, realm: string, roles: readonly string[], revision: number): Promise<void> {
    const reads = canRead(roles) ? 1 : 0
    // read_since moves only when reading begins: the realm is then fetched from the start
    await this.sql.query(
      `INSERT INTO tp_members (user_id, realm, roles, reads, read_since, changed) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, realm) DO UPDATE SET roles = excluded.roles, reads = excluded.reads, changed = excluded.changed,
         read_since = CASE WHEN tp_members.reads = 1 AND excluded.reads = 1 THEN tp_members.read_since ELSE excluded.read_since END`,
      [userId, realm, JSON.stringify(roles), reads, revision, revision],
    )
  }

  async saveExit(collection: string, id: string, realm: string, revision: number): Promise<void> {
    await this.sql.query(
      `INSERT INTO tp_exits (collection, id, realm, revision) VALUES (?, ?, ?, ?)
       ON CONFLICT (collection, id, realm) DO UPDATE SET revision = excluded.revision`,
      [collection, this.dialect.storeId(id), realm, revision],
    )
  }

  async realmTaken(realm: string): Promise<boolean> {
    const rows = await this.sql.query(
      `SELECT 1 AS x FROM tp_docs WHERE realm = ? UNION ALL SELECT 1 FROM tp_members WHERE realm = ? UNION ALL SELECT 1 FROM tp_users WHERE user_id = ? LIMIT 1`,
      [realm, realm, realm],
    )
    return rows.length > 0
  }
}

/** Rows of `width` parameters, as many per statement as the parameter limit allows beside `others` parameters of the statement's own. */
export function chunks<T>(rows: readonly T[], width: number, others = 0): T[][] {
  const size = Math.floor((MAX_PARAMS - others) / width)
  const out: T[][] = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}

/** `?, ?, ?`: `count` placeholders, for an IN list. */
export function marks(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ')
}

/** `(?, ?), (?, ?)`: `count` tuples of `width` placeholders. */
function tuples(count: number, width: number): string {
  const one = `(${marks(width)})`
  return Array.from({ length: count }, () => one).join(', ')
}
