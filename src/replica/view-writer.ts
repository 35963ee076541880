import type { Doc } from '../core/apply.js'
import { deepEqual } from '../core/json.js'
import { docKey, splitDocKey } from '../core/key.js'
import type { DocChange } from './change-feed.js'
import { indexEntries, type IndexDef } from './indexes.js'
import { localView, seqKey, STORES, type DocRecord } from './records.js'
import type { Writer } from './store.js'

/** Changelog entries kept for other processes and tabs to catch up from. */
const CHANGELOG_KEEP = 1000
/** The changelog is pruned this many entries at a time: one request, not one per commit. */
const PRUNE_EVERY = 100

/**
 * Writes document records inside a storage transaction, the way every
 * write of the replica must: with their index entries, and collecting the
 * changes that listeners are told about and the changelog records.
 */
export class ViewWriter {
  readonly changes: DocChange[] = []

  constructor(
    private readonly w: Writer,
    private readonly indexes: (collection: string) => readonly IndexDef[],
    /** The medium indexes records by their `ix` keys (`recordIndex`): entries go in the records. */
    readonly native: boolean,
    /** A document as the app reads it (undefined: kept aside): what index entries and listeners see. */
    private readonly read: (collection: string, id: string, doc: Doc) => Doc,
  ) {}

  /** Puts `record` (or removes the document when it is undefined) in place of `old`. */
  write(key: string, old: DocRecord | undefined, record: DocRecord | undefined): void {
    const before = localView(old)
    const after = localView(record)
    const { collection, id } = splitDocKey(key)
    if (record) this.w.put(STORES.docs, key, this.native ? this.withEntries(collection, id, record) : record)
    else this.w.delete(STORES.docs, key)
    const changed = !deepEqual(before, after)
    const pending = record?.view !== undefined
    if (!changed && (old?.view !== undefined) === pending) return
    // what was shown first: reading the new state decides last whether the document is kept aside
    const was = !this.native && changed ? this.read(collection, id, before) : undefined
    const shown = this.read(collection, id, after)
    if (!this.native && changed) this.updateIndexes(collection, id, was, shown)
    this.changes.push({ collection, id, doc: shown, pending })
  }

  /** The index entries of a document for some of its collection's indexes. */
  entries(collection: string, defs: readonly IndexDef[], id: string, record: DocRecord): string[] {
    const doc = this.read(collection, id, localView(record))
    return [...new Set(defs.flatMap(def => indexEntries(collection, def, id, doc)))]
  }

  /** Writes a record again with the entries of the declared indexes (building or dropping an index, natively). */
  reindex(key: string, record: DocRecord): void {
    const { collection, id } = splitDocKey(key)
    this.w.put(STORES.docs, key, this.withEntries(collection, id, record))
  }

  private withEntries(collection: string, id: string, record: DocRecord): DocRecord {
    const { ix: _old, ...rest } = record
    const ix = this.entries(collection, this.indexes(collection), id, record)
    return ix.length ? { ...rest, ix } : rest
  }

  private updateIndexes(collection: string, id: string, before: Doc, after: Doc): void {
    for (const def of this.indexes(collection)) {
      const old = indexEntries(collection, def, id, before)
      const next = indexEntries(collection, def, id, after)
      for (const k of old) if (!next.includes(k)) this.w.delete(STORES.indexes, k)
      for (const k of next) if (!old.includes(k)) this.w.put(STORES.indexes, k, id)
    }
  }

  /** Appends the changes, if any, as changelog entry `last + 1`; returns the entry's number (0: nothing changed). */
  log(last: number): number {
    if (!this.changes.length) return 0
    const changeSeq = last + 1
    this.w.put(
      STORES.changes,
      seqKey(changeSeq),
      this.changes.map(c => docKey(c.collection, c.id)),
    )
    if (changeSeq % PRUNE_EVERY === 0 && changeSeq > CHANGELOG_KEEP) this.w.deleteRange(STORES.changes, { lt: seqKey(changeSeq - CHANGELOG_KEEP) })
    return changeSeq
  }
}
