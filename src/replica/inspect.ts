import type { Rejection } from '../core/changes.js'
import type { Mutation } from '../core/mutation.js'
import { readHead, type Head } from './head.js'
import { STORES, type DocRecord } from './records.js'
import type { Storage } from './storage.js'
import { Store } from './store.js'

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
}

/**
 * Reads a replica without opening it as a database: no models are needed,
 * and nothing is migrated, built or dropped (opening with other models
 * would change its indexes). One read transaction: the figures agree.
 */
export async function inspectReplica(adapter: Storage): Promise<ReplicaReport> {
  const store = new Store(adapter)
  await store.open(Object.values(STORES))
  try {
    return await store.read(async r => {
      const collections = new Map<string, ReplicaReport['collections'][number]>()
      for (const [key, value] of await r.scan(STORES.docs)) {
        const name = key.slice(0, key.indexOf('\0'))
        const c = collections.get(name) ?? { name, docs: 0, pending: 0, deleting: 0 }
        collections.set(name, c)
        const record = value as DocRecord
        if (record.view === null) c.deleting++
        else if (record.view !== undefined || record.base !== undefined) c.docs++
        if (record.view !== undefined && record.view !== null) c.pending++
      }
      return {
        head: await readHead(r),
        collections: [...collections.values()].sort((a, b) => a.name.localeCompare(b.name)),
        outbox: (await r.scan(STORES.outbox)).map(([, v]) => v as Mutation),
        rejections: (await r.scan(STORES.rejections)).map(([, v]) => v as Rejection).sort((a, b) => a.mutation.seq - b.mutation.seq || a.at - b.at),
      }
    })
  } finally {
    await store.close()
  }
}
