import type { Rejection } from '../core/changes.js'
import type { JsonObject } from '../core/json.js'
import type { Mutation } from '../core/mutation.js'
import { MEMBER_COLLECTION } from '../core/realms.js'
import { readHead, type Head } from './head.js'
import { STORES, type DocRecord } from './records.js'
import type { Storage } from './storage.js'
import { Store, type Reader } from './store.js'

/** What a replica holds, for tools: its identity and counters, its documents by collection, its outbox and its stored rejections. */
export interface ReplicaReport {
  head: Head
  collections: Array<{
    name: string
    /** Documents the app sees. */
    docs: number
    /** Of them, those with local mutations not yet confirmed. */
    pending: number
    /** Documents deleted locally, the delete not yet confirmed. */
    deleting: number
  }>
  outbox: Mutation[]
  rejections: Rejection[]
  /** The realms the replica's user is a member of, with the roles, as the replica last heard them. */
  memberships: Array<{ realmId: string; roles: string[] }>
  /** With `documents`: the first documents of each collection asked for, in key order (`data` null: deleted locally). */
  documents?: Record<string, Array<{ id: string; data: JsonObject | null; pending: boolean }>>
}

/** Which documents a report lists besides the counts. */
export interface ReportOptions {
  /** The documents to list: of one collection, or of every one (no `collection`), at most `limit` (default 100) of each. */
  documents?: { collection?: string; limit?: number }
}

/** The report, read in one transaction so its figures agree. */
export async function reportOf(r: Reader, options: ReportOptions = {}): Promise<ReplicaReport> {
  const head = await readHead(r)
  const collections = new Map<string, ReplicaReport['collections'][number]>()
  const memberships: ReplicaReport['memberships'] = []
  const wanted = options.documents
  const documents: NonNullable<ReplicaReport['documents']> = {}
  if (wanted?.collection !== undefined) documents[wanted.collection] = []
  for (const [key, value] of await r.scan(STORES.docs)) {
    const name = key.slice(0, key.indexOf('\0'))
    const c = collections.get(name) ?? { name, docs: 0, pending: 0, deleting: 0 }
    collections.set(name, c)
    const record = value as DocRecord
    if (record.view === null) c.deleting++
    else if (record.view !== undefined || record.base !== undefined) c.docs++
    if (record.view !== undefined && record.view !== null) c.pending++
    // what the app sees: the local view while pending (null: deleted locally), else the confirmed version
    const data = record.view !== undefined ? record.view : record.base
    if (name === MEMBER_COLLECTION && data && data.userId === head.userId) memberships.push({ realmId: String(data.realmId), roles: (data.roles as string[] | undefined) ?? [] })
    if (wanted && (wanted.collection === undefined || wanted.collection === name)) {
      const listed = (documents[name] ??= [])
      if (data !== undefined && listed.length < (wanted.limit ?? 100)) listed.push({ id: key.slice(name.length + 1), data, pending: record.view !== undefined })
    }
  }
  return {
    head,
    collections: [...collections.values()].sort((a, b) => a.name.localeCompare(b.name)),
    outbox: (await r.scan(STORES.outbox)).map(([, v]) => v as Mutation),
    rejections: await readRejections(r),
    memberships,
    ...(wanted ? { documents } : {}),
  }
}

/** Rejections not yet acknowledged, oldest first. */
export async function readRejections(r: Reader): Promise<Rejection[]> {
  return (await r.scan(STORES.rejections)).map(([, v]) => v as Rejection).sort((a, b) => a.mutation.seq - b.mutation.seq || a.at - b.at)
}

/**
 * Reads a replica without opening it as a database: no models are needed,
 * and nothing is migrated, built or dropped (opening with other models
 * would change its indexes).
 */
export async function inspectReplica(adapter: Storage, options?: ReportOptions): Promise<ReplicaReport> {
  const store = new Store(adapter)
  await store.open(Object.values(STORES))
  try {
    return await store.read(r => reportOf(r, options))
  } finally {
    await store.close()
  }
}
