import { StorageError } from '../core/errors.js'
import type { MutationResult } from '../protocol/messages.js'
import { PUBLIC_REALM, REALM_COLLECTION } from '../core/realms.js'
import type { SqlDialect, SqlDriver, SqlRow, SqlRunner } from './sql-driver.js'
import { commitChannel } from './commit-channel.js'
import { migrate } from './sql-schema.js'
import { chunks, DOC_COLUMNS, marks, pulledDoc, SqlServerTx, toDoc } from './sql-tx.js'
import { page, type CommitChannel, type Committed, type Compaction, type PullData, type ServerDoc, type ServerStore, type StoreTx, type Viewer } from './store.js'

/**
 * A server store over any SQL driver. The driver is loaded at `open()`, so a
 * server on SQLite never loads pg, nor one on PostgreSQL better-sqlite3.
 */
/** How often a commit records the time its revision was reached (the granularity of compaction horizons). */
const MARK_EVERY_MS = 60_000

export class SqlServerStore implements ServerStore {
  private driver: SqlDriver | undefined
  private marked = 0

  private channel: CommitChannel | undefined

  constructor(
    readonly kind: 'sqlite' | 'postgres',
    private readonly load: () => Promise<SqlDriver>,
    /** What the database is called on its commit channel (its PostgreSQL schema). */
    private readonly database = 'main',
  ) {}

  get commits(): CommitChannel | undefined {
    return this.channel
  }

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
    if (driver.notifications) this.channel = commitChannel(driver.notifications, this.database)
  }

  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const driver = this.opened()
    return driver.write(async sql => {
      const out = await fn(new SqlServerTx(sql, driver.dialect))
      // now and then, when the database reached its revision: compaction finds its horizon from these
      const now = Date.now()
      if (now - this.marked >= MARK_EVERY_MS) {
        await sql.query('INSERT INTO tp_marks (revision, at) SELECT value, ? FROM tp_revision WHERE true ON CONFLICT (revision) DO NOTHING', [now])
        this.marked = now
      }
      return out
    })
  }

  async compact(keepMs: number, onProgress?: (step: { phase: string; done: number; total: number }) => void): Promise<Compaction> {
    const driver = this.opened()
    return driver.write(async sql => {
      const [h] = await sql.query(`SELECT revision FROM tp_horizon${driver.dialect.forUpdate}`)
      const was = Number(h!.revision)
      // keeping nothing forgets up to now; otherwise up to the newest revision marked at least that long ago
      const [m] = keepMs === 0 ? await sql.query('SELECT value AS revision FROM tp_revision') : await sql.query('SELECT MAX(revision) AS revision FROM tp_marks WHERE at <= ?', [Date.now() - keepMs])
      const horizon = m?.revision == null ? was : Number(m.revision)
      if (horizon <= was) return { horizon: was, tombstones: 0, exits: 0, results: 0, memberships: 0 }
      const count = async (phase: string, table: string, where: string) => {
        const [c] = await sql.query(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, [horizon])
        const total = Number(c!.n)
        onProgress?.({ phase, done: 0, total })
        await sql.query(`DELETE FROM ${table} WHERE ${where}`, [horizon])
        onProgress?.({ phase, done: total, total })
        return total
      }
      const done: Compaction = {
        horizon,
        tombstones: await count('tombstones', 'tp_docs', 'data IS NULL AND revision <= ?'),
        exits: await count('realm exits', 'tp_exits', 'revision <= ?'),
        // only outcomes their client has pulled: one it may still ask for is kept, however old
        results: await count('mutation outcomes', 'tp_results', 'revision <= ? AND revision <= (SELECT c.pulled FROM tp_clients c WHERE c.client_id = tp_results.client_id)'),
        memberships: await count('ended memberships', 'tp_members', 'reads = 0 AND changed <= ?'),
      }
      await sql.query('DELETE FROM tp_marks WHERE revision < ?', [horizon])
      await sql.query('UPDATE tp_horizon SET revision = ?', [horizon])
      return done
    })
  }

  async pull(clientId: string, since: number, limit: number, viewer: Viewer, start = since, started?: number): Promise<PullData> {
    const driver = this.opened()
    const doc = (r: SqlRow) => pulledDoc(driver.dialect, r)
    // one snapshot: the revision, the memberships and the changes up to it agree
    return driver.read(async sql => {
      const current = await revisionOf(sql)
      const [bound] = await sql.query('SELECT user_id FROM tp_clients WHERE client_id = ?', [clientId])
      const owner = bound?.user_id as string | undefined
      const [h] = await sql.query('SELECT revision FROM tp_horizon')
      const horizon = Number(h!.revision)
      // what changed after the pull's start is partly forgotten: the client starts again from nothing (its outbox kept). A pull from 0
      // needs no history, until its first page is in: a document it brought may be deleted after `started`, and the tombstone is
      // forgotten unless an earlier page (through `since`) brought it
      if ((start > 0 && start < horizon) || (started !== undefined && Math.max(started, since) < horizon)) {
        return { revision: 0, docs: [], joined: [], left: [], lost: [], results: [], more: false, owner, head: current, resync: true }
      }
      // realms read since before `since` send their changes; realms joined after it come whole; realms lost are named
      const { userId, everything } = viewer
      const own = (await privateRealmOf(sql, driver.dialect, userId)) ? [userId, PUBLIC_REALM] : [PUBLIC_REALM]
      const held = new Set(own)
      const joinedRealms: string[] = []
      const lost: string[] = []
      if (!everything) {
        for (const m of await sql.query('SELECT realm, reads, read_since, changed FROM tp_members WHERE user_id = ?', [userId])) {
          const realm = m.realm as string
          if (own.includes(realm)) continue
          if (Number(m.reads) !== 1) {
            if (Number(m.changed) > since) lost.push(realm)
          } else if (Number(m.read_since) <= since) held.add(realm)
          else joinedRealms.push(realm)
        }
      }
      const heldList = everything ? undefined : [...held]
      const rows = await changedIn(sql, heldList, since, limit + 1, doc)
      const { rows: firstRows, revision, more } = page(rows, limit, current)
      // a single commit bigger than a page comes whole
      const docs = more && firstRows.length === 0 ? await changedIn(sql, heldList, revision - 1, Infinity, doc, revision) : firstRows
      const results = (await sql.query('SELECT result FROM tp_results WHERE client_id = ? AND revision > ? AND revision <= ? ORDER BY seq', [clientId, since, revision])).map(
        r => JSON.parse(r.result as string) as MutationResult,
      )
      // a later page still stands on a rejection an earlier one brought (the outcome's JSON is ours: its status comes unescaped)
      const [earlier] = start < since ? await sql.query(`SELECT MIN(revision) AS r FROM tp_results WHERE client_id = ? AND revision > ? AND revision <= ? AND result LIKE '%"status":"rejected"%'`, [clientId, start, since]) : []
      // a client's outcomes come in its order, which is the revisions' order
      const firstRejection = earlier?.r != null ? Number(earlier.r) : results.find(r => r.status === 'rejected')?.revision
      // what a first sync will bring, for its progress: counted once, on its first page
      const total = since === 0 && more ? await countIn(sql, heldList, current) : undefined
      if (everything) return { revision, docs, joined: [], left: [], lost: [], results, firstRejection, more, owner, head: current, total }
      const joined: ServerDoc[] = []
      for (const chunk of chunks(joinedRealms, 1, 1)) {
        const rows = await sql.query(`SELECT ${DOC_COLUMNS} FROM tp_docs WHERE realm IN (${marks(chunk.length)}) AND (data IS NOT NULL OR revision > ?)`, [...chunk, since])
        joined.push(...rows.map(doc))
      }
      // documents that left a realm the user reads, for a realm the user does not
      const readable = new Set([...held, ...joinedRealms])
      const left: PullData['left'] = []
      for (const chunk of chunks([...readable], 1, 2)) {
        const rows = await sql.query(
          `SELECT e.collection, e.id, e.revision, d.realm FROM tp_exits e JOIN tp_docs d ON d.collection = e.collection AND d.id = e.id
           WHERE e.realm IN (${marks(chunk.length)}) AND e.revision > ? AND e.revision <= ?`,
          [...chunk, since, revision],
        )
        for (const r of rows) if (!readable.has(r.realm as string)) left.push({ collection: r.collection as string, id: driver.dialect.loadId(r.id as string), revision: Number(r.revision) })
      }
      return { revision, docs, joined, left, lost, results, firstRejection, more, owner, head: current, total }
    })
  }

  async committedSince(after: number, limit: number): Promise<{ revision: number; committed?: Committed }> {
    const driver = this.opened()
    return driver.read(async sql => {
      const revision = await revisionOf(sql)
      if (revision <= after) return { revision }
      const range = [after, revision]
      const written = await sql.query(`SELECT ${DOC_COLUMNS} FROM tp_docs WHERE revision > ? AND revision <= ? ORDER BY revision LIMIT ${limit + 1}`, range)
      if (written.length > limit) return { revision }
      const moved = await sql.query('SELECT collection, id, realm FROM tp_exits WHERE revision > ? AND revision <= ?', range)
      const members = await sql.query('SELECT DISTINCT user_id FROM tp_members WHERE changed > ? AND changed <= ?', range)
      const clients = await sql.query('SELECT DISTINCT r.client_id, c.user_id FROM tp_results r JOIN tp_clients c ON c.client_id = r.client_id WHERE r.revision > ? AND r.revision <= ?', range)
      const committed: Committed = {
        first: after + 1,
        last: revision,
        written: written.map(r => toDoc(driver.dialect, r)),
        moved: moved.map(r => ({ collection: r.collection as string, id: driver.dialect.loadId(r.id as string), from: r.realm as string })),
        members: members.map(r => r.user_id as string),
        clients: clients.map(r => ({ clientId: r.client_id as string, userId: r.user_id as string })),
      }
      return { revision, committed }
    })
  }

  async readableRealms(userId: string): Promise<string[]> {
    const driver = this.opened()
    return driver.read(async sql => {
      const members = (await sql.query('SELECT realm FROM tp_members WHERE user_id = ? AND reads = 1', [userId])).map(r => r.realm as string)
      return (await privateRealmOf(sql, driver.dialect, userId)) ? [userId, ...members] : members
    })
  }

  async noteUser(userId: string): Promise<void> {
    await this.opened().write(sql => sql.query('INSERT INTO tp_users (user_id) VALUES (?) ON CONFLICT (user_id) DO NOTHING', [userId]))
  }

  async revision(): Promise<number> {
    return revisionOf(this.opened())
  }

  async close(): Promise<void> {
    const driver = this.driver
    this.driver = undefined
    this.channel = undefined
    await driver?.close()
  }

  private opened(): SqlDriver {
    if (!this.driver) throw new StorageError('unavailable', `the ${this.kind} server store is not open (call open() first)`)
    return this.driver
  }
}

/**
 * Documents changed after `since` (up to `until`) in `realms` (undefined:
 * all), in revision order, at most `limit`: one indexed range per realm, so
 * a user's pull reads their realms, never everyone's documents.
 */
async function changedIn(sql: SqlRunner, realms: readonly string[] | undefined, since: number, limit: number, doc: (r: SqlRow) => ServerDoc, until = Number.MAX_SAFE_INTEGER): Promise<ServerDoc[]> {
  const cap = Number.isFinite(limit) ? ` LIMIT ${limit}` : ''
  if (!realms) return (await sql.query(`SELECT ${DOC_COLUMNS} FROM tp_docs WHERE revision > ? AND revision <= ? ORDER BY revision${cap}`, [since, until])).map(doc)
  const out: ServerDoc[] = []
  // a range per realm, each stopping at the limit, merged: one range over an IN list is sorted whole first (every page of a large first sync read all the pages after it)
  const range = `SELECT ${DOC_COLUMNS} FROM tp_docs WHERE realm = ? AND revision > ? AND revision <= ? ORDER BY revision${cap}`
  const statements = chunks(realms, 3)
  for (const chunk of statements) {
    const text = chunk.length === 1 ? range : `${chunk.map((_, i) => `SELECT * FROM (${range}) AS r${i}`).join(' UNION ALL ')} ORDER BY revision${cap}`
    const rows = await sql.query(text, chunk.flatMap(realm => [realm, since, until]))
    out.push(...rows.map(doc))
  }
  // one statement's rows are in order already; several, merged
  if (statements.length <= 1) return out
  out.sort((a, b) => a.revision - b.revision)
  return Number.isFinite(limit) ? out.slice(0, limit) : out
}

/** How many documents of `realms` (all, when undefined) a pull from nothing up to `until` brings. */
async function countIn(sql: SqlRunner, realms: readonly string[] | undefined, until: number): Promise<number> {
  if (!realms) return Number((await sql.query('SELECT count(*) AS n FROM tp_docs WHERE revision <= ?', [until]))[0]!.n)
  let n = 0
  for (const chunk of chunks(realms, 1, 1)) n += Number((await sql.query(`SELECT count(*) AS n FROM tp_docs WHERE realm IN (${marks(chunk.length)}) AND revision <= ?`, [...chunk, until]))[0]!.n)
  return n
}

/** Whether the user's id is their private realm: no `Realm` document took it before they came. */
async function privateRealmOf(sql: SqlRunner, dialect: SqlDialect, userId: string): Promise<boolean> {
  return userId !== PUBLIC_REALM && (await sql.query('SELECT 1 AS x FROM tp_docs WHERE collection = ? AND id = ? AND data IS NOT NULL', [REALM_COLLECTION, dialect.storeId(userId)])).length === 0
}

async function revisionOf(sql: SqlRunner): Promise<number> {
  const [r] = await sql.query('SELECT value FROM tp_revision')
  return Number(r?.value ?? 0)
}
