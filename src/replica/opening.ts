import { InvalidOptionsError, SchemaChangedError } from '../core/errors.js'
import { ENCODING_VERSION, prefixEnd } from '../core/encoding.js'
import { deepEqual } from '../core/json.js'
import { splitDocKey } from '../core/key.js'
import { ensureHead, writeHead } from './head.js'
import { containsPrefix, indexEntries, indexPrefix, type IndexDef } from './indexes.js'
import { collectionRange, localView, STORES, type DocRecord } from './records.js'
import type { Store, Writer } from './store.js'
import { ViewWriter } from './view-writer.js'

/** How a collection's documents are keyed and indexed; the key is stored so a changed definition is caught at open. */
export interface CollectionInfo {
  name: string
  /** Key component names (sorted) with their schema kinds, e.g. `raceID:int`. */
  key: string[]
  /** Indexes, each a list of dotted field paths. */
  indexes: ReadonlyArray<readonly string[]>
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
 * head (made where missing), the schema version (a newer one elsewhere is
 * `SchemaChangedError`), the stored key definitions (a changed one is
 * refused), and which declared indexes must be built or dropped.
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
    if (head.schemaVersion > schemaVersion) throw new SchemaChangedError(schemaVersion, head.schemaVersion)
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
      const built = ((await w.get(STORES.meta, `indexes:${c.name}`)) as string[] | undefined) ?? []
      const declared = indexes.get(c.name)!
      const dropped = built.filter(id => !declared.some(d => d.id === id))
      const added = declared.filter(def => !built.includes(def.id))
      if (native) {
        // one pass rewrites every record's entries for the declared indexes
        if (dropped.length || added.length) build.push({ collection: c.name, defs: declared })
      } else {
        for (const old of dropped) dropIndex(w, c.name, old)
        for (const def of added) build.push({ collection: c.name, defs: [def] })
      }
      w.put(STORES.meta, `indexes:${c.name}`, built.filter(id => declared.some(d => d.id === id)))
    }
    return { clientId: head.clientId, userId: head.userId, signedOut: head.signedOut, seen: head.changeSeq, build }
  })
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
        else for (const entry of defs.flatMap(def => indexEntries(collection, def, id, localView(v as DocRecord)))) w.put(STORES.indexes, entry, id)
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
