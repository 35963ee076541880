import { deepEqual } from '../core/json.js'
import { compareKeys, effectiveOrders, hitKey, type Order, type QuerySpec } from '../core/query.js'
import { KeptAside } from '../core/doc-versions.js'
import type { QueryHit } from './query.js'
import type { DocChange } from './change-feed.js'
import type { Replica } from './replica.js'

export interface Change {
  type: 'added' | 'modified' | 'removed'
  hit: QueryHit
  /** Position before the change (-1: added). */
  oldIndex: number
  /** Position after the change (-1: removed). */
  newIndex: number
}

export interface LiveSnapshot {
  hits: QueryHit[]
  changes: Change[]
  fromCache: boolean
  hasPendingWrites: boolean
}

/** Options of a live query (`query.subscribe`) and of `db.watch`. */
export interface LiveOptions {
  /** Also deliver snapshots whose only change is metadata (pending writes confirmed...). */
  includeMetadataChanges?: boolean
}

interface Subscription {
  spec: QuerySpec
  orders: Order[]
  hits: QueryHit[]
  ids: Map<string, QueryHit>
  delivered: boolean
  hasPendingWrites: boolean
  fromCache: boolean
  /** A re-run is in flight; `again`: changes arrived meanwhile, run once more. */
  running: boolean
  again: boolean
  closed: boolean
  options: LiveOptions
  deliver: (s: LiveSnapshot) => void
}

/** A changed document as one result sees it: its hit there before (if any) and its order key after (undefined: it leaves or never enters). */
interface Folded {
  c: DocChange
  old: QueryHit | undefined
  key: string[] | undefined
}

/** A live query or a watched document, as the tools list them. */
export interface LiveSubscription {
  collection: string
  /** A live query: its filters, order and limit. */
  query?: QuerySpec
  /** A watched document (`db.watch`): its id. */
  id?: string
  /** Documents in its current result. */
  results: number
}

/**
 * Keeps live query results current. A commit's changed documents are matched
 * against the subscriptions of their collection and folded into the results
 * in memory; a query re-runs only when a limited result loses a document and
 * must be refilled, or after changes were missed (`reset`).
 */
export class LiveQueries {
  private readonly byCollection = new Map<string, Set<Subscription>>()
  private readonly watched = new Set<{ collection: string; id: string; found: boolean }>()
  private stop: (() => void) | undefined

  constructor(
    private readonly replica: Replica,
    /** Whether results may be behind the server (not connected, or not pulled up to its latest revision). */
    private readonly fromCache: () => boolean = () => true,
  ) {}

  /** Sync state changed: subscriptions that asked for metadata changes get a snapshot if theirs changed. */
  metadataChanged(): void {
    for (const subs of this.byCollection.values()) {
      for (const sub of subs) {
        const fromCache = this.fromCache()
        if (!sub.delivered || sub.fromCache === fromCache) continue
        sub.fromCache = fromCache
        if (sub.options.includeMetadataChanges) sub.deliver({ hits: sub.hits, changes: [], fromCache, hasPendingWrites: sub.hasPendingWrites })
      }
    }
  }

  subscribe(spec: QuerySpec, deliver: (s: LiveSnapshot) => void, options: LiveOptions = {}): () => void {
    const sub: Subscription = {
      spec,
      orders: effectiveOrders(spec),
      hits: [],
      ids: new Map(),
      delivered: false,
      hasPendingWrites: false,
      fromCache: true,
      running: false,
      again: false,
      closed: false,
      options,
      deliver,
    }
    let subs = this.byCollection.get(spec.collection)
    if (!subs) this.byCollection.set(spec.collection, (subs = new Set()))
    subs.add(sub)
    this.stop ??= this.replica.onChange(changes => this.onChanges(changes))
    void this.rerun(sub)
    return () => {
      sub.closed = true
      subs.delete(sub)
      if (subs.size === 0) this.byCollection.delete(spec.collection)
      if (this.byCollection.size === 0) {
        this.stop?.()
        this.stop = undefined
      }
    }
  }

  /** Watches one document (see `watchDoc`), listed by `describe()` while it is watched. */
  watch(collection: string, id: string, deliver: (doc: QueryHit | undefined, pending: boolean) => void, options?: LiveOptions): () => void {
    const entry = { collection, id, found: false }
    this.watched.add(entry)
    const stop = watchDoc(this.replica, collection, id, (doc, pending) => {
      entry.found = doc !== undefined
      deliver(doc, pending)
    }, options)
    return () => {
      this.watched.delete(entry)
      stop()
    }
  }

  /** The live queries and watched documents open now. */
  describe(): LiveSubscription[] {
    const queries = [...this.byCollection.values()].flatMap(subs => [...subs].map(s => ({ collection: s.spec.collection, query: s.spec, results: s.hits.length })))
    return [...queries, ...[...this.watched].map(w => ({ collection: w.collection, id: w.id, results: w.found ? 1 : 0 }))]
  }

  private onChanges(changes: DocChange[] | 'reset'): void {
    if (changes === 'reset') {
      for (const subs of this.byCollection.values()) for (const sub of subs) void this.rerun(sub)
      return
    }
    for (const [collection, subs] of this.byCollection) {
      const mine = changes.filter(c => c.collection === collection)
      if (mine.length) for (const sub of subs) this.apply(sub, mine)
    }
  }

  /** Folds changed documents into a result, or re-runs the query when that cannot be done in memory. */
  private apply(sub: Subscription, changes: DocChange[]): void {
    if (sub.running || !sub.delivered) {
      sub.again = true
      return
    }
    const { spec, orders } = sub
    // a commit's changes to the collection, each with where it stood and where it goes, of which this result usually holds or gains one:
    // that one's change is known without comparing whole results
    const mine: Folded[] = []
    for (const c of changes) {
      const old = sub.ids.get(c.id)
      const key = c.doc ? hitKey(c.doc, c.id, spec, orders) : undefined
      if (old || key) mine.push({ c, old, key })
    }
    if (mine.length === 0) return
    if (mine.length === 1 && this.applyOne(sub, mine[0]!)) return
    let hits = sub.hits
    for (const { c, old, key } of mine) {
      const full = spec.limit !== undefined && hits.length >= spec.limit
      if (old) hits = hits.filter(h => h.id !== c.id)
      if (!key) {
        // leaving a full window: the next document outside it moves in
        if (full) return void this.rerun(sub)
        continue
      }
      const at = insertionPoint(hits, key, orders)
      if (spec.limit !== undefined) {
        // sorting last in a full window: a document outside it may come first
        if (old && full && at >= hits.length) return void this.rerun(sub)
        if (at >= spec.limit) continue
      }
      const hit: QueryHit = { id: c.id, doc: c.doc!, key, pending: c.pending }
      hits = [...hits.slice(0, at), hit, ...hits.slice(at)]
      if (spec.limit !== undefined && hits.length > spec.limit) hits = hits.slice(0, spec.limit)
    }
    this.update(sub, hits)
  }

  /**
   * Folds one changed document into a result and delivers what changed,
   * in time proportional to the result's size only for copying it (no
   * whole-result comparison, no index rebuilt). False: this case needs
   * the general path (a limited window the document leaves or sorts last in).
   */
  private applyOne(sub: Subscription, { c, old, key }: Folded): boolean {
    const { spec, orders } = sub
    if (spec.limit !== undefined) return false
    const before = sub.hits
    const oldIndex = old ? before.indexOf(old) : -1
    const rest = old ? [...before.slice(0, oldIndex), ...before.slice(oldIndex + 1)] : before
    let hits = rest
    let hit: QueryHit | undefined
    let newIndex = -1
    if (key) {
      newIndex = insertionPoint(rest, key, orders)
      hit = { id: c.id, doc: c.doc!, key, pending: c.pending }
      hits = [...rest.slice(0, newIndex), hit, ...rest.slice(newIndex)]
    }
    const change: Change | undefined = !old
      ? { type: 'added', hit: hit!, oldIndex: -1, newIndex }
      : !hit
        ? { type: 'removed', hit: old, oldIndex, newIndex: -1 }
        : old.doc !== hit.doc && !deepEqual(old.doc, hit.doc)
          ? { type: 'modified', hit, oldIndex, newIndex }
          : undefined
    if (old) sub.ids.delete(c.id)
    if (hit) sub.ids.set(c.id, hit)
    this.settle(sub, hits, change ? [change] : [])
    return true
  }

  private async rerun(sub: Subscription): Promise<void> {
    if (sub.running) {
      sub.again = true
      return
    }
    sub.running = true
    try {
      do {
        sub.again = false
        const start = performance.now()
        const { hits } = await this.replica.query(sub.spec)
        this.replica.stats.record('refresh', performance.now() - start)
        if (sub.closed) return
        this.update(sub, hits)
      } while (sub.again && !sub.closed)
    } finally {
      sub.running = false
    }
  }

  private update(sub: Subscription, hits: QueryHit[]): void {
    const changes = diff(sub.hits, hits)
    sub.ids = new Map(hits.map(h => [h.id, h]))
    this.settle(sub, hits, changes)
  }

  /** Takes `hits` as the result (its `ids` already match) and delivers `changes`, or a change of metadata when asked for. */
  private settle(sub: Subscription, hits: QueryHit[], changes: Change[]): void {
    const hasPendingWrites = hits.some(h => h.pending)
    const fromCache = this.fromCache()
    const metadataChanged = hasPendingWrites !== sub.hasPendingWrites || fromCache !== sub.fromCache
    sub.hits = hits
    sub.hasPendingWrites = hasPendingWrites
    sub.fromCache = fromCache
    if (sub.delivered && changes.length === 0 && !(metadataChanged && sub.options.includeMetadataChanges)) return
    sub.delivered = true
    sub.deliver({ hits, changes, fromCache, hasPendingWrites })
  }
}

function insertionPoint(hits: QueryHit[], key: string[], orders: Order[]): number {
  let lo = 0
  let hi = hits.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (compareKeys(hits[mid]!.key, key, orders) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** What changed between two results: removals, additions, and documents whose data changed (with their old and new positions). */
export function diff(before: QueryHit[], after: QueryHit[]): Change[] {
  const oldIndex = new Map(before.map((h, i) => [h.id, i]))
  const newIndex = new Map(after.map((h, i) => [h.id, i]))
  const changes: Change[] = []
  before.forEach((h, i) => {
    if (!newIndex.has(h.id)) changes.push({ type: 'removed', hit: h, oldIndex: i, newIndex: -1 })
  })
  // order follows from data, so a document moves only when it (or another one) changed: report the changed ones
  after.forEach((h, j) => {
    const i = oldIndex.get(h.id)
    if (i === undefined) changes.push({ type: 'added', hit: h, oldIndex: -1, newIndex: j })
    else if (before[i]!.doc !== h.doc && !deepEqual(before[i]!.doc, h.doc)) changes.push({ type: 'modified', hit: h, oldIndex: i, newIndex: j })
  })
  return changes
}

/** Watches one document: delivers it (undefined: missing) at once and whenever it changes. */
export function watchDoc(
  replica: Replica,
  collection: string,
  id: string,
  deliver: (doc: QueryHit | undefined, pending: boolean) => void,
  options: LiveOptions = {},
): () => void {
  let current: QueryHit | undefined
  let pending = false
  let delivered = false
  let closed = false
  const show = (next: QueryHit | undefined, nextPending: boolean) => {
    if (closed) return
    const changed = !deepEqual(current?.doc, next?.doc)
    const metadata = nextPending !== pending
    current = next
    pending = nextPending
    if (delivered && !changed && !(metadata && options.includeMetadataChanges)) return
    delivered = true
    deliver(next, nextPending)
  }
  const stop = replica.onChange(changes => {
    if (changes === 'reset') return void load()
    const c = changes.findLast(x => x.collection === collection && x.id === id)
    if (c) show(c.doc ? { id, doc: c.doc, key: [], pending: c.pending } : undefined, c.pending)
  })
  const load = async () => {
    const [read] = await replica.getDocs([{ collection, id }])
    // a document this version cannot read is shown as missing
    const doc = read instanceof KeptAside ? undefined : read
    const record = await replica.pendingOf(collection, id)
    show(doc ? { id, doc, key: [], pending: record } : undefined, record)
  }
  void load()
  return () => {
    closed = true
    stop()
  }
}
