import { MissingIndexError } from '../core/errors.js'
import type { QuerySpec } from '../core/query.js'
import type { LiveOptions, LiveQueries } from '../replica/live.js'
import type { Plan, QueryHit } from '../replica/query.js'
import type { Replica } from '../replica/replica.js'
import type { ModelMeta } from './meta.js'
import type { Model } from './model.js'
import type { QuerySource, Snapshot } from './query.js'
import type { ModelClass } from './types.js'

export interface QueryHooks {
  /** Throws when queries are no longer allowed (the transaction finished, the database closed). */
  guard(): void
  /** The instance a result document becomes; undefined leaves it out (deleted in this transaction). */
  instance(meta: ModelMeta, hit: QueryHit): Model | undefined
  /** Live results, where queries may be subscribed to (outside transactions). */
  live?: LiveQueries
}

/**
 * Runs the queries of `db.query` and `tx.query` alike: the `strictIndexes`
 * check, the replica's planner and executor, and instances made by the
 * caller's rule (tracked in a transaction, read-only outside).
 */
export class QueryRunner implements QuerySource {
  readonly subscribe?: QuerySource['subscribe']

  constructor(
    private readonly replica: Replica,
    private readonly strictIndexes: boolean,
    private readonly hooks: QueryHooks,
  ) {
    if (hooks.live) this.subscribe = (meta, spec, cb, options) => this.watch(hooks.live!, meta, spec, cb, options)
  }

  async fetch(meta: ModelMeta, spec: QuerySpec): Promise<Model[]> {
    const out: Model[] = []
    for (const hit of await this.hits(spec)) {
      const m = this.hooks.instance(meta, hit)
      if (m) out.push(m)
    }
    return out
  }

  async count(_meta: ModelMeta, spec: QuerySpec): Promise<number> {
    return (await this.hits(spec)).length
  }

  explain(spec: QuerySpec): Plan {
    return this.replica.explain(spec)
  }

  private async hits(spec: QuerySpec): Promise<QueryHit[]> {
    this.hooks.guard()
    this.checkPlan(spec)
    return (await this.replica.query(spec)).hits
  }

  /** With `strictIndexes`, a query that would scan its collection throws `MissingIndexError` naming the index to add. */
  private checkPlan(spec: QuerySpec): void {
    if (!this.strictIndexes || this.replica.explain(spec).type !== 'scan') return
    const fields = [...spec.filters.filter(f => f.op === '==').map(f => f.path.join('.')), ...spec.filters.filter(f => f.op !== '==').map(f => f.path.join('.')), ...spec.orders.map(o => o.path.join('.'))]
    throw new MissingIndexError(spec.collection, [...new Set(fields)])
  }

  private watch(live: LiveQueries, meta: ModelMeta, spec: QuerySpec, cb: (s: Snapshot<ModelClass>) => void, options: LiveOptions): () => void {
    this.hooks.guard()
    this.checkPlan(spec)
    // one instance per result document, for as long as the document is unchanged
    const instances = new WeakMap<QueryHit, Model>()
    const instance = (h: QueryHit) => {
      let m = instances.get(h)
      if (!m) instances.set(h, (m = this.hooks.instance(meta, h)!))
      return m
    }
    return live.subscribe(
      spec,
      s => {
        let docs: Model[] | undefined
        cb({
          // made when read: a callback that looks only at the changes pays nothing for the rest of the result
          get docs() {
            return (docs ??= s.hits.map(instance))
          },
          changes: s.changes.map(c => ({ type: c.type, doc: instance(c.hit), oldIndex: c.oldIndex, newIndex: c.newIndex })),
          metadata: { fromCache: s.fromCache, hasPendingWrites: s.hasPendingWrites },
          size: s.hits.length,
          empty: s.hits.length === 0,
        })
      },
      options,
    )
  }
}
