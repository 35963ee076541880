import { applyOp, describe, holds, type Doc } from '../core/apply.js'
import { ConditionFailedError, InvalidOptionsError } from '../core/errors.js'
import { deepEqual } from '../core/json.js'
import { docKey, splitDocKey } from '../core/key.js'
import type { Mutation, Op, Precondition } from '../core/mutation.js'
import { localView, outboxKey, STORES, type DocRecord } from './records.js'
import type { Storage, StorageReader } from './storage.js'

/** How a collection's documents are keyed; stored so a changed key definition is caught at open. */
export interface CollectionInfo {
  name: string
  /** Key component names (sorted) with their schema kinds, e.g. `raceID:int`. */
  key: string[]
}

export interface ReplicaOptions {
  collections: CollectionInfo[]
  schemaVersion: number
}

/** What a commit did: the outbox entry it appended and the documents it changed (none: nothing was written). */
export interface CommitResult {
  mutation?: Mutation
  changed: Array<{ collection: string; id: string }>
}

/**
 * The local replica: documents, the outbox and meta over one `Storage`.
 * A commit checks preconditions, applies ops to the local views and appends
 * the mutation to the outbox in one storage transaction, so a crash leaves
 * all of it or none.
 */
export class Replica {
  private constructor(
    readonly storage: Storage,
    readonly clientId: string,
    readonly schemaVersion: number,
  ) {}

  static async open(storage: Storage, options: ReplicaOptions): Promise<Replica> {
    await storage.open(Object.values(STORES))
    try {
      const clientId = await storage.write(async w => {
        let id = (await w.get(STORES.meta, 'clientId')) as string | undefined
        if (!id) {
          id = randomId()
          w.put(STORES.meta, 'clientId', id)
          w.put(STORES.meta, 'seq', 0)
        }
        for (const c of options.collections) {
          const stored = (await w.get(STORES.meta, `key:${c.name}`)) as string[] | undefined
          if (!stored) w.put(STORES.meta, `key:${c.name}`, c.key)
          else if (!deepEqual(stored, c.key)) {
            throw new InvalidOptionsError(
              'models',
              `the key of ${c.name} is declared as {${c.key.join(', ')}} but the replica stores ${c.name} documents keyed by {${stored.join(', ')}}; ` +
                'a key definition cannot change under existing data (use a new collection name, or clear the replica)',
            )
          }
        }
        return id
      })
      return new Replica(storage, clientId, options.schemaVersion)
    } catch (e) {
      await storage.close()
      throw e
    }
  }

  /** Local views of the documents, in input order (undefined: missing). */
  async getDocs(keys: ReadonlyArray<{ collection: string; id: string }>): Promise<Doc[]> {
    const records = await this.storage.getMany(STORES.docs, keys.map(k => docKey(k.collection, k.id)))
    return records.map(r => localView(r as DocRecord | undefined))
  }

  /**
   * Commits ops under preconditions against the current local views. Throws
   * `ConditionFailedError` (nothing written) when a precondition fails, and
   * the errors of `applyOp` when an op cannot apply. Writes nothing when no
   * document would change.
   */
  commit(ops: Op[], preconditions: Precondition[]): Promise<CommitResult> {
    return this.storage.write(async w => {
      const keys = new Set<string>()
      for (const x of preconditions) keys.add(docKey(x.collection, x.id))
      for (const x of ops) keys.add(docKey(x.collection, x.id))
      const keyList = [...keys]
      const records = (await w.getMany(STORES.docs, keyList)) as Array<DocRecord | undefined>
      const before = new Map<string, DocRecord | undefined>()
      const views = new Map<string, Doc>()
      keyList.forEach((k, i) => {
        before.set(k, records[i])
        views.set(k, localView(records[i]))
      })
      for (const pc of preconditions) {
        if (!holds(views.get(docKey(pc.collection, pc.id)), pc)) {
          throw new ConditionFailedError(pc.collection, pc.id, 'condition-failed', describe(pc))
        }
      }
      for (const op of ops) {
        const k = docKey(op.collection, op.id)
        views.set(k, applyOp(views.get(k), op))
      }
      const changed: string[] = []
      for (const k of keyList) if (!deepEqual(views.get(k), localView(before.get(k)))) changed.push(k)
      if (changed.length === 0) return { changed: [] }

      const seq = ((await w.get(STORES.meta, 'seq')) as number) + 1
      const mutation: Mutation = { id: randomId(), clientId: this.clientId, seq, ops, preconditions, schemaVersion: this.schemaVersion, time: Date.now() }
      for (const k of changed) {
        const old = before.get(k)
        const view = views.get(k)
        if (!old?.base && !view) w.delete(STORES.docs, k)
        else w.put(STORES.docs, k, { base: old?.base, rev: old?.rev ?? 0, view: view ?? null, seq } satisfies DocRecord)
      }
      w.put(STORES.outbox, outboxKey(seq), mutation)
      w.put(STORES.meta, 'seq', seq)
      return { mutation, changed: changed.map(splitDocKey) }
    })
  }

  /** Pending mutations in commit order. */
  outbox(): Promise<Mutation[]> {
    return this.storage.read(async r => (await r.scan(STORES.outbox)).map(([, v]) => v as Mutation))
  }

  /** Every document's local view, for tests and tools. */
  async allDocs(collection?: string): Promise<Array<{ collection: string; id: string; data: NonNullable<Doc> }>> {
    return this.storage.read(async (r: StorageReader) => {
      const range = collection === undefined ? {} : { gte: `${collection}\0`, lt: `${collection}\u0001` }
      const out: Array<{ collection: string; id: string; data: NonNullable<Doc> }> = []
      for (const [k, v] of await r.scan(STORES.docs, range)) {
        const data = localView(v as DocRecord)
        if (data) out.push({ ...splitDocKey(k), data })
      }
      return out
    })
  }

  close(): Promise<void> {
    return this.storage.close()
  }
}

export function randomId(): string {
  return globalThis.crypto.randomUUID()
}
