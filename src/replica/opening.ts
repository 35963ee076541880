import type { DocReader } from '../core/doc-versions.js'
import { InvalidOptionsError } from '../core/errors.js'
import type { JsonSchema } from '../core/schema.js'
import { breakingChanges, type BreakingChange } from '../core/schema-changes.js'
import { ENCODING_VERSION, prefixEnd } from '../core/encoding.js'
import { deepEqual } from '../core/json.js'
import { splitDocKey } from '../core/key.js'
import { ensureHead, writeHead } from './head.js'
import { containsPrefix, indexPrefix, type IndexDef } from './indexes.js'
import { collectionRange, STORES, type DocRecord } from './records.js'
import type { Store, Writer } from './store.js'
import { ViewWriter } from './view-writer.js'

/** How a collection's documents are keyed, indexed and read; key and schema are stored so a change is caught at open. */
export interface CollectionInfo {
  name: string
  /** Key component names (sorted) with their schema kinds, e.g. `raceID:int`. */
  key: string[]
  /** Indexes, each a list of dotted field paths. */
  indexes: ReadonlyArray<readonly string[]>
  /** The JSON Schema of a whole document. */
  schema?: JsonSchema
  /** The schema versions the model's migrations lead to. */
  migrations?: readonly number[]
  /** How the app reads stored documents (migrated, or kept aside); absent: as stored. */
  read?: DocReader
}

/** What the replica records of a collection's schema: the newest version that opened it, and its document schema. */
interface SchemaRecord {
  version: number
  schema: JsonSchema
}

/** Progress of long work at open (building an index). */
export interface Progress {
  phase: 'index'
  collection: string
  index: string
  done: number
  total: number
}

/** Indexes to fill after open: one collection's, in one pass. */
export interface IndexBuild {
  collection: string
  defs: IndexDef[]
}

/**
 * Checks the replica against the app's models in one write transaction: the
 * head (made where missing), the schema version, the stored key definitions
 * (a changed one is refused), each collection's schema (a change that would
 * break stored documents needs a migration), and which declared indexes must
 * be built or dropped.
 */
export async function prepare(
  storage: Store,
  collections: readonly CollectionInfo[],
  indexes: ReadonlyMap<string, IndexDef[]>,
  schemaVersion: number,
  newClientId: () => string,
): Promise<{ clientId: string; userId: string | undefined; signedOut: string | undefined; seen: number; build: IndexBuild[] }> {
  // where the medium indexes records itself, index entries live in the records (`ix`), not in the indexes store
  const native = storage.recordIndex
  return storage.write(async w => {
    const head = await ensureHead(w, newClientId)
    const [keptNative, encoding] = (await w.getMany(STORES.meta, ['recordIndex', 'encoding'])) as [boolean | undefined, number | undefined]
    if (keptNative !== native || (encoding ?? 1) !== ENCODING_VERSION) {
      // the entries were kept the other way, or encoded another way: every index is built again
      for (const c of collections) w.put(STORES.meta, `indexes:${c.name}`, [])
      w.deleteRange(STORES.indexes, { gte: '' })
      w.put(STORES.meta, 'recordIndex', native)
      w.put(STORES.meta, 'encoding', ENCODING_VERSION)
    }
    // an older app may open what a newer one wrote (a rollback): it reads what its schema can, and the head says who opened last
    if (head.schemaVersion !== schemaVersion) writeHead(w, { ...head, schemaVersion })
    const build: IndexBuild[] = []
    for (const c of collections) {
      const stored = (await w.get(STORES.meta, `key:${c.name}`)) as string[] | undefined
      if (!stored) w.put(STORES.meta, `key:${c.name}`, c.key)
      else if (!deepEqual(stored, c.key)) {
        throw new InvalidOptionsError(
          'models',
          `the key of ${c.name} is declared as {${c.key.join(', ')}} but the replica stores ${c.name} documents keyed by {${stored.join(', ')}}; ` +
            'a key definition cannot change under existing data (use a new collection name, or clear the replica)',
        )
      }
      const rebuild = await checkSchema(w, c, schemaVersion)
      const built = ((await w.get(STORES.meta, `indexes:${c.name}`)) as string[] | undefined) ?? []
      const declared = indexes.get(c.name)!
      // entries hold documents as the app reads them: another version reads them otherwise, so all are made again
      const dropped = rebuild ? built : built.filter(id => !declared.some(d => d.id === id))
      const added = rebuild ? declared : declared.filter(def => !built.includes(def.id))
      if (native) {
        // one pass rewrites every record's entries for the declared indexes
        if (dropped.length || added.length) build.push({ collection: c.name, defs: declared })
      } else {
        for (const old of dropped) dropIndex(w, c.name, old)
        for (const def of added) build.push({ collection: c.name, defs: [def] })
      }
      w.put(STORES.meta, `indexes:${c.name}`, rebuild ? [] : built.filter(id => declared.some(d => d.id === id)))
    }
    return { clientId: head.clientId, userId: head.userId, signedOut: head.signedOut, seen: head.changeSeq, build }
  })
}

/**
 * Compares a collection's schema with the one the replica recorded, and
 * records it (the newest version's schema is kept: an older app opening the
 * replica changes nothing). A change that would leave stored documents
 * invalid is refused unless the version went up and a migration leads
 * there. Returns whether the documents are read under another version than
 * the one their index entries were made for.
 */
async function checkSchema(w: Writer, c: CollectionInfo, version: number): Promise<boolean> {
  if (!c.schema) return false
  const [recorded, viewed] = (await w.getMany(STORES.meta, [`schema:${c.name}`, `viewed:${c.name}`])) as [SchemaRecord | undefined, number | undefined]
  const stored = async () => (await w.scan(STORES.docs, { ...collectionRange(c.name), limit: 1 })).length > 0
  if (recorded && recorded.version <= version && !deepEqual(recorded.schema, c.schema)) {
    const changes = breakingChanges(recorded.schema, c.schema)
    const migrated = c.migrations?.some(v => v > recorded.version && v <= version) === true
    if (changes.length && !migrated && (await stored())) throw new InvalidOptionsError('models', schemaMessage(c.name, changes, recorded.version, version))
  }
  if (!recorded || recorded.version <= version) w.put(STORES.meta, `schema:${c.name}`, { version, schema: c.schema } satisfies SchemaRecord)
  if (viewed === version) return false
  w.put(STORES.meta, `viewed:${c.name}`, version)
  // a replica from before versions were recorded was read as version 1
  return (viewed ?? 1) !== version && (await stored())
}

function schemaMessage(collection: string, changes: BreakingChange[], from: number, to: number): string {
  const what = changes.map(ch => `${collection}.${ch.field}: ${ch.change}`).join('; ')
  const next = Math.max(from + 1, to)
  return (
    `${what}. The replica holds ${collection} documents written under schema version ${from}, which would not satisfy the model. ` +
    `Make the change additive (optional, or with a default), or raise schemaVersion to ${next} and give ${collection} static MIGRATIONS = { ${next}: doc => ({ ...doc /* the new form */ }) }`
  )
}

const BUILD_CHUNK = 1000

/**
 * Fills new indexes from the collection's documents, a chunk per storage
 * transaction, reporting progress: entries in the indexes store, or, where
 * the medium indexes records itself, every record rewritten with the
 * entries of all the declared indexes.
 */
export async function buildIndex(storage: Store, views: (w: Writer) => ViewWriter, { collection, defs }: IndexBuild, onProgress: ((p: Progress) => void) | undefined): Promise<void> {
  const total = await storage.read(async r => (await r.scan(STORES.docs, collectionRange(collection))).length)
  const { gte: first, lt: end } = collectionRange(collection)
  const index = defs.map(d => d.id).join(' + ')
  let after = first
  let done = 0
  onProgress?.({ phase: 'index', collection, index, done, total })
  for (;;) {
    const n = await storage.write(async w => {
      const chunk = await w.scan(STORES.docs, { gt: after, lt: end, limit: BUILD_CHUNK })
      const vw = views(w)
      for (const [k, v] of chunk) {
        const id = splitDocKey(k).id
        if (vw.native) vw.reindex(k, v as DocRecord)
        else for (const entry of vw.entries(collection, defs, id, v as DocRecord)) w.put(STORES.indexes, entry, id)
      }
      if (chunk.length) after = chunk[chunk.length - 1]![0]
      else {
        const built = ((await w.get(STORES.meta, `indexes:${collection}`)) as string[] | undefined) ?? []
        w.put(STORES.meta, `indexes:${collection}`, [...new Set([...built, ...defs.map(d => d.id)])])
      }
      return chunk.length
    })
    if (n === 0) break
    done += n
    onProgress?.({ phase: 'index', collection, index, done, total })
  }
}

function dropIndex(w: Writer, collection: string, index: string): void {
  for (const prefix of [indexPrefix(collection, index), containsPrefix(collection, index)]) w.deleteRange(STORES.indexes, { gte: prefix, lt: prefixEnd(prefix) })
}
