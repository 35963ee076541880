// The test page: runs in Chromium, bundled from the built package, and gives the tests `window.tp`.
import { model, openDatabase, S, type Database, type JsonObject, type SyncStatus } from 'tidepool'
import { indexedDbStorage, type IndexedDbStorage } from 'tidepool/indexeddb'
import { models, Todo, TodoList } from '../../examples/todo/models.js'

/** Version 2 of the example's Todo: a required priority, which older todos get from a migration. */
class TodoV2 extends model({
  collection: 'Todo',
  fields: { ...Todo.FIELDS, priority: S.int.min(0) },
  indexes: [['list', 'createdAt']],
}) {
  static override MIGRATIONS = { 2: (doc: JsonObject) => ({ ...doc, priority: doc.done ? 0 : 1 }) }
}

/** Version 1 of an Item, and how each kind of change makes its version 2 (with the field that queries look at, and a value to find). */
const ITEM = { name: S.str, size: S.int, status: S.str.enum('open', 'done', 'stale') }
class ItemV1 extends model({ collection: 'Item', fields: ITEM }) {}
const { name: _name, ...withoutName } = ITEM
const CHANGES = {
  'add optional': { fields: { ...ITEM, colour: S.str.optional() }, query: ['size', 1] },
  'add with default': { fields: { ...ITEM, colour: S.str.default('grey') }, query: ['colour', 'grey'] },
  'add required': { fields: { ...ITEM, colour: S.str }, migrations: { 2: (d: JsonObject) => ({ ...d, colour: 'red' }) }, query: ['colour', 'red'] },
  'change type': { fields: { ...ITEM, size: S.str }, migrations: { 2: (d: JsonObject) => ({ ...d, size: String(d.size) }) }, query: ['size', '1'] },
  'narrow enum': { fields: { ...ITEM, status: S.str.enum('open', 'done') }, migrations: { 2: (d: JsonObject) => ({ ...d, status: d.status === 'stale' ? 'open' : d.status! }) }, query: ['status', 'open'] },
  rename: { fields: { ...withoutName, title: S.str }, migrations: { 2: ({ name, ...d }: JsonObject) => ({ ...d, title: name! }) }, query: ['title', 'Ada Lovelace'] },
  split: {
    fields: { ...withoutName, first: S.str, last: S.str },
    migrations: { 2: ({ name, ...d }: JsonObject) => ({ ...d, first: String(name).split(' ')[0]!, last: String(name).split(' ')[1]! }) },
    query: ['last', 'Lovelace'],
  },
  'change key': { key: { n: S.int }, fields: ITEM, query: ['size', 1] },
} as const
export type ChangeKind = keyof typeof CHANGES

export interface OpenOptions {
  name?: string
  /** Open as version 2 of the app (schema version 2, with TodoV2). */
  v2?: boolean
  sync?: boolean
  /** Force the lease instead of Web Locks. */
  noLocks?: boolean
  schemaVersion?: number
  /** As in a private mode without IndexedDB. */
  noIndexedDB?: boolean
  /** A service worker (test/browser/sw.ts) pushes. */
  serviceWorker?: boolean
  /** The sync token (a JWT made by the test), for a server with auth. */
  token?: string
}

let db: Database | undefined
let storage: IndexedDbStorage | undefined
let seen: Array<{ titles: string[]; at: number }> = []
const rejected: string[] = []
const warnings: string[] = []

function open(): Database {
  if (!db) throw new Error('call tp.open() first')
  return db
}

const tp = {
  async open(o: OpenOptions = {}): Promise<string> {
    if (o.noLocks) Object.defineProperty(navigator, 'locks', { value: undefined })
    if (o.noIndexedDB) Object.defineProperty(window, 'indexedDB', { value: undefined })
    storage = indexedDbStorage(o.name ?? 'todo', { onFallback: r => warnings.push(r) })
    if (o.serviceWorker) {
      const script = `/sw.js?db=${o.name ?? 'todo'}`
      const registration = await navigator.serviceWorker.register(script, { type: 'module' })
      await navigator.serviceWorker.ready
      // an earlier test's worker (another replica) may still be the active one of this scope: wait until ours is
      while (!registration.active?.scriptURL.endsWith(script)) await new Promise(r => setTimeout(r, 20))
    }
    db = await openDatabase({
      name: 'todo',
      models: o.v2 ? [TodoList, TodoV2] : models,
      storage,
      ...(o.schemaVersion || o.v2 ? { schemaVersion: o.schemaVersion ?? 2 } : {}),
      ...(o.sync === false ? {} : { sync: { url: location.origin, pollInterval: 60_000, serviceWorker: o.serviceWorker === true, ...(o.token ? { token: () => o.token! } : {}) } }),
    })
    db.on('rejected', r => rejected.push(`${r.reason}: ${r.mutation.ops[0]?.id}`))
    return db.clientId
  },
  async close(): Promise<void> {
    await db?.close()
    db = undefined
  },
  /** Subscribes to the todos of a list; every snapshot is recorded with its time. */
  watch(list: string): void {
    seen = []
    open()
      .query(Todo)
      .where('list', '==', list)
      .orderBy('createdAt')
      .subscribe(s => seen.push({ titles: s.docs.map(d => d.title), at: Date.now() }))
  },
  seen(): Array<{ titles: string[]; at: number }> {
    return seen
  },
  async add(list: string, title: string, createdAt = Date.now()): Promise<number> {
    await open().run(async tx => {
      const l = await tx.get(TodoList, { id: list, name: list, createdAt, open: 0 }, { createIfMissing: true })
      l.getField('open').incrementBy(1)
      tx.create(Todo, { id: `${list}/${title}`, list, title, done: false, createdAt })
    })
    return Date.now()
  },
  /** Commits one todo after another until the page dies (for crash tests); each commit also counts it in its list. */
  writeForever(list: string): void {
    void (async () => {
      for (let i = 0; ; i++) await tp.add(list, `t${String(i).padStart(6, '0')}`, i)
    })()
  },
  /** Imports `size` todos per transaction, one batch after another, until the page dies (for crash tests); each batch also counts its todos in the list. */
  importForever(list: string, size: number): void {
    void (async () => {
      for (let b = 0; ; b++) {
        await open().run(async tx => {
          const l = await tx.get(TodoList, { id: list, name: list, createdAt: 0, open: 0 }, { createIfMissing: true })
          l.getField('open').incrementBy(size)
          for (let i = 0; i < size; i++) tx.create(Todo, { id: `${list}/${b}-${i}`, list, title: `b${b}-${i}`, done: false, createdAt: b * size + i })
        })
      }
    })()
  },
  /** Version 2: the todos of a list with their priorities. */
  async priorities(list: string): Promise<Array<[string, number]>> {
    return (await open().query(TodoV2).where('list', '==', list).orderBy('createdAt').fetch()).map(t => [t.title, t.priority])
  },
  async addV2(list: string, title: string, priority: number): Promise<void> {
    await open().run(tx => void tx.create(TodoV2, { id: `${list}/${title}`, list, title, done: false, createdAt: Date.now(), priority }))
  },
  async titles(list: string): Promise<string[]> {
    return (await open().query(Todo).where('list', '==', list).orderBy('createdAt').fetch()).map(t => t.title)
  },
  async open_count(list: string): Promise<number | undefined> {
    return open().run(async tx => (await tx.get(TodoList, list))?.open)
  },
  status(): SyncStatus & { leader: boolean } {
    const s = open().sync!
    return { ...s.status, leader: s.leader }
  },
  async syncNow(): Promise<void> {
    await open().sync!.syncNow()
  },
  async signOut(pending: 'push' | 'discard'): Promise<number> {
    return (await open().signOut({ pending })).discarded.length
  },
  userId(): string | undefined {
    return open().userId
  },
  async pending(): Promise<number> {
    return (await open().pendingMutations()).length
  },
  rejected(): string[] {
    return rejected
  },
  async storedRejections(): Promise<string[]> {
    return (await open().rejections()).map(r => `${r.reason}: ${r.mutation.ops[0]?.id}`)
  },
  storage(): { kind: string; fallback: string | undefined; warnings: string[] } {
    return { kind: storage!.kind, fallback: storage!.fallbackReason, warnings }
  },
  /** What another tab with a newer Tidepool does when it adds an object store: a version change. */
  async upgradeElsewhere(name: string): Promise<number> {
    const current = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open(name)
      r.onsuccess = () => resolve(r.result)
      r.onerror = () => reject(r.error)
    })
    const version = current.version + 1
    current.close()
    return new Promise((resolve, reject) => {
      const r = indexedDB.open(name, version)
      r.onupgradeneeded = () => r.result.createObjectStore(`newer-${version}`)
      r.onsuccess = () => {
        r.result.close()
        resolve(version)
      }
      r.onerror = () => reject(r.error)
      r.onblocked = () => reject(new Error('blocked'))
    })
  },
  /** Pretends the tab went to the background (or came back), as the browser tells it. */
  setHidden(hidden: boolean): void {
    Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true })
    document.dispatchEvent(new Event('visibilitychange'))
  },
  async addConfirmed(list: string, title: string): Promise<string> {
    try {
      await open().run({ confirm: 'server' }, tx => void tx.create(Todo, { id: `${list}/${title}`, list, title, done: false, createdAt: Date.now() }))
      return 'confirmed'
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`
    }
  },
  async addBig(list: string, n: number, bytes: number): Promise<string> {
    try {
      await open().run(tx => {
        // random, so that the browser cannot compress it away
        const random = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes)))).slice(0, bytes)
        for (let i = 0; i < n; i++) tx.create(Todo, { id: `${list}/${i}`, list, title: random(), done: false, createdAt: i })
      })
      return 'ok'
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`
    }
  },
  /**
   * One kind of model change on a real IndexedDB: version 1 writes an item,
   * version 2 opens without a bump (what that does), then with one, reads,
   * queries, writes, and reads again after reopening.
   */
  async evolve(kind: ChangeKind): Promise<{ unbumped: string; bumped: string; read?: JsonObject; found?: number; written?: JsonObject }> {
    const name = `evolve-${kind}`
    const v1 = await openDatabase({ name, models: [ItemV1], storage: indexedDbStorage(name) })
    await v1.run(tx => void tx.create(ItemV1, { id: 'a', name: 'Ada Lovelace', size: 1, status: 'stale' }))
    await v1.close()
    const change = CHANGES[kind] as { key?: Record<string, typeof S.int>; fields: Record<string, typeof S.str>; migrations?: Record<number, (d: JsonObject) => JsonObject>; query: readonly [string, string | number] }
    class Item extends model({ collection: 'Item', ...(change.key ? { key: change.key } : {}), fields: change.fields, indexes: [[change.query[0]]] }) {
      static override MIGRATIONS = change.migrations
    }
    const attempt = async (schemaVersion: number) => {
      try {
        const db = await openDatabase({ name, models: [Item], storage: indexedDbStorage(name), schemaVersion })
        return { db, outcome: 'opened' }
      } catch (e) {
        return { outcome: `${(e as Error).name}: ${(e as Error).message}` }
      }
    }
    const unbumped = await attempt(1)
    await unbumped.db?.close()
    const bumped = await attempt(2)
    if (!bumped.db) return { unbumped: unbumped.outcome, bumped: bumped.outcome }
    const db = bumped.db
    const read = await db.run(async tx => (await tx.get(Item, 'a'))?.toJSON())
    const found = await db.query(Item).where(change.query[0] as 'realmId', '==', change.query[1] as string).count()
    await db.run(async tx => {
      const item = (await tx.get(Item, 'a')) as unknown as { status: string }
      item.status = 'done'
    })
    await db.close()
    const again = await openDatabase({ name, models: [Item], storage: indexedDbStorage(name), schemaVersion: 2 })
    const written = await again.run(async tx => (await tx.get(Item, 'a'))?.toJSON())
    await again.close()
    return { unbumped: unbumped.outcome, bumped: bumped.outcome, read, found, written }
  },
  /** Runs `fn` and returns its error's name and message (or 'ok'). */
  async attempt(what: 'add'): Promise<string> {
    try {
      if (what === 'add') await tp.add('x', 'y')
      return 'ok'
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`
    }
  },
}

export type TestPage = typeof tp
;(window as unknown as { tp: TestPage }).tp = tp
