import { StorageError } from '../core/errors.js'
import type { SqlDialect, SqlDriver } from './sql-driver.js'
import { SERVER_SCHEMA_VERSION } from './store.js'

/**
 * Migrations by schema version, for both engines. Documents are JSON text,
 * not jsonb: jsonb refuses "\u0000" in strings, and the server never queries
 * inside documents.
 */
const MIGRATIONS: Array<(d: SqlDialect) => string> = [
  d => `CREATE TABLE tp_revision (id INTEGER PRIMARY KEY CHECK (id = 1), value ${d.integer} NOT NULL);
   INSERT INTO tp_revision VALUES (1, 0);
   CREATE TABLE tp_clients (client_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, last_seq ${d.integer} NOT NULL, last_mutation_id TEXT NOT NULL);
   CREATE TABLE tp_results (client_id TEXT NOT NULL, seq ${d.integer} NOT NULL, revision ${d.integer} NOT NULL, result TEXT NOT NULL, PRIMARY KEY (client_id, seq));
   CREATE INDEX tp_results_revision ON tp_results (client_id, revision);
   CREATE TABLE tp_docs (collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT, revision ${d.integer} NOT NULL, fields TEXT NOT NULL, PRIMARY KEY (collection, id))${d.keyedTable};
   CREATE INDEX tp_docs_revision ON tp_docs (revision);`,
  // realms: documents written before them were everyone's, so they move to the realm everyone reads
  d => `ALTER TABLE tp_docs ADD COLUMN realm TEXT NOT NULL DEFAULT 'public';
   CREATE INDEX tp_docs_realm ON tp_docs (realm, revision);
   CREATE INDEX tp_clients_user ON tp_clients (user_id);
   CREATE TABLE tp_members (user_id TEXT NOT NULL, realm TEXT NOT NULL, roles TEXT NOT NULL, reads INTEGER NOT NULL, read_since ${d.integer} NOT NULL, changed ${d.integer} NOT NULL, PRIMARY KEY (user_id, realm))${d.keyedTable};
   CREATE INDEX tp_members_realm ON tp_members (realm);
   CREATE TABLE tp_exits (collection TEXT NOT NULL, id TEXT NOT NULL, realm TEXT NOT NULL, revision ${d.integer} NOT NULL, PRIMARY KEY (collection, id, realm))${d.keyedTable};
   CREATE INDEX tp_exits_realm ON tp_exits (realm, revision);`,
  // every user who signed in, pushing or not: a private realm's id is taken from the first request on
  d => `CREATE TABLE tp_users (user_id TEXT PRIMARY KEY)${d.keyedTable};
   INSERT INTO tp_users (user_id) SELECT DISTINCT user_id FROM tp_clients;`,
  // what a range of revisions wrote, read by servers that heard of another's commits
  () => `CREATE INDEX tp_results_at ON tp_results (revision);
   CREATE INDEX tp_members_changed ON tp_members (changed);
   CREATE INDEX tp_exits_at ON tp_exits (revision);`,
  // compaction: the revision below which history is forgotten, and when revisions were reached (to find it from a duration)
  d => `CREATE TABLE tp_horizon (id INTEGER PRIMARY KEY CHECK (id = 1), revision ${d.integer} NOT NULL);
   INSERT INTO tp_horizon VALUES (1, 0);
   CREATE TABLE tp_marks (revision ${d.integer} PRIMARY KEY, at ${d.integer} NOT NULL);
   CREATE INDEX tp_docs_tombstones ON tp_docs (revision) WHERE data IS NULL;
   ALTER TABLE tp_clients ADD COLUMN pulled ${d.integer} NOT NULL DEFAULT 0;`,
]

/** Brings the schema up to this server's version, all in one transaction, or refuses a database a newer server wrote. */
export async function migrate(driver: SqlDriver): Promise<void> {
  const { dialect } = driver
  await driver.write(async sql => {
    if (dialect.migrationLock) await sql.query(dialect.migrationLock)
    let version = await dialect.schemaVersion(sql)
    if (version > SERVER_SCHEMA_VERSION) throw new StorageError('newer-format', `${driver.where} was written by a newer Tidepool server (schema ${version})`)
    for (; version < MIGRATIONS.length; version++) {
      await sql.exec(MIGRATIONS[version]!(dialect))
      await dialect.setSchemaVersion(sql, version + 1)
    }
  })
}
