// Runs in Chromium (bundled by bench/browser.ts): Tidepool on IndexedDB versus raw IndexedDB and Dexie.
import { Dexie, type Table } from 'dexie'
import { Model, S, openDatabase, type Database } from 'tidepool'
import { indexedDbStorage } from 'tidepool/indexeddb'

class Doc extends Model {
  static override COLLECTION = 'Doc'
  static override FIELDS = { title: S.str, done: S.bool, n: S.int, tags: S.arr(S.str) }
  static override INDEXES = [['n']]
}

interface Plain {
  id: string
  title: string
  done: boolean
  n: number
  tags: string[]
}

const N = 20_000
const docs: Plain[] = Array.from({ length: N }, (_, i) => ({ id: `id${String(i).padStart(6, '0')}`, title: `todo ${i}`, done: i % 2 === 0, n: i, tags: ['a', 'b'] }))
const SINGLES = 200

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
}

function percentileOf(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!
}

/** Each contender measured the same way: the import of all documents, and the p50 of one-document write transactions. */
interface Result {
  importMs: number
  singleP50: number
}

/** Chromium compacts its storage in the background after heavy writes, slowing whatever runs next: each measurement starts quiet. */
function settle(): Promise<void> {
  return new Promise(r => setTimeout(r, 1500))
}

async function raw(): Promise<Result> {
  await req(indexedDB.deleteDatabase('raw'))
  const open = indexedDB.open('raw', 1)
  open.onupgradeneeded = () => open.result.createObjectStore('docs', { keyPath: 'id' }).createIndex('n', 'n')
  const db = await req(open)
  const tx = (fn: (s: IDBObjectStore) => void) =>
    new Promise<void>((resolve, reject) => {
      const t = db.transaction('docs', 'readwrite')
      fn(t.objectStore('docs'))
      t.oncomplete = () => resolve()
      t.onerror = () => reject(t.error)
    })
  // one-document transactions first, on the fresh database, then the import
  await settle()
  const singles: number[] = []
  let t: number
  for (let i = 0; i < SINGLES; i++) {
    t = performance.now()
    await tx(s => s.put({ ...docs[i]!, n: -i }))
    singles.push(performance.now() - t)
  }
  await settle()
  t = performance.now()
  await tx(s => docs.forEach(d => s.put(d)))
  const importMs = performance.now() - t
  db.close()
  return { importMs, singleP50: median(singles) }
}

async function dexie(): Promise<Result> {
  await Dexie.delete('dx')
  const db = new Dexie('dx') as Dexie & { docs: Table<Plain, string> }
  db.version(1).stores({ docs: 'id, n' })
  await settle()
  const singles: number[] = []
  let t: number
  for (let i = 0; i < SINGLES; i++) {
    t = performance.now()
    await db.docs.put({ ...docs[i]!, n: -i })
    singles.push(performance.now() - t)
  }
  await settle()
  t = performance.now()
  await db.docs.bulkPut(docs)
  const importMs = performance.now() - t
  db.close()
  return { importMs, singleP50: median(singles) }
}

async function tidepool(): Promise<Result & { rmwP50: number }> {
  await req(indexedDB.deleteDatabase('tp'))
  const db = await openDatabase({ name: 'tp', models: [Doc], storage: indexedDbStorage('tp') })
  await settle()
  const singles: number[] = []
  let t: number
  for (let i = 0; i < SINGLES; i++) {
    t = performance.now()
    await db.run(tx => void tx.createOrOverwrite(Doc, { ...docs[i]!, n: -i }))
    singles.push(performance.now() - t)
  }
  // read-modify-write: a read transaction, then the commit
  await settle()
  const rmw: number[] = []
  for (let i = 0; i < SINGLES; i++) {
    t = performance.now()
    await db.run(async tx => void ((await tx.get(Doc, docs[i]!.id))!.n = i))
    rmw.push(performance.now() - t)
  }
  await settle()
  t = performance.now()
  await db.run(tx => docs.slice(SINGLES).forEach(d => tx.create(Doc, d)))
  const importMs = ((performance.now() - t) * docs.length) / (docs.length - SINGLES)
  await db.close()
  return { importMs, singleP50: median(singles), rmwP50: median(rmw) }
}

let crossDb: Database | undefined
const arrivals = new Map<number, number>()

const bench = {
  async stores(): Promise<{ raw: Result; dexie: Result; tidepool: Result & { rmwP50: number } }> {
    const runs = { raw: [] as Result[], dexie: [] as Result[], tidepool: [] as Array<Result & { rmwP50: number }> }
    for (let k = 0; k < 3; k++) {
      runs.raw.push(await raw())
      runs.dexie.push(await dexie())
      runs.tidepool.push(await tidepool())
    }
    const mid = <R extends Result>(rs: R[]): R => ({ ...rs[0]!, importMs: median(rs.map(r => r.importMs)), singleP50: median(rs.map(r => r.singleP50)), ...('rmwP50' in rs[0]! ? { rmwP50: median(rs.map(r => (r as unknown as { rmwP50: number }).rmwP50)) } : {}) })
    return { raw: mid(runs.raw), dexie: mid(runs.dexie), tidepool: mid(runs.tidepool) }
  },
  /** Cross-tab latency: both tabs open the same replica; tab B watches a document that tab A writes. */
  async openShared(): Promise<void> {
    crossDb = await openDatabase({ name: 'cross', models: [Doc], storage: indexedDbStorage('cross') })
    await crossDb.run(tx => void tx.createOrOverwrite(Doc, { id: 'ping', title: 'ping', done: false, n: -1, tags: [] }))
  },
  listen(): void {
    crossDb!.watch(Doc, 'ping', d => {
      if (d && d.n >= 0 && !arrivals.has(d.n)) arrivals.set(d.n, performance.timeOrigin + performance.now())
    })
  },
  async send(n: number): Promise<number> {
    const sent = performance.timeOrigin + performance.now()
    await crossDb!.run(async tx => void ((await tx.get(Doc, 'ping'))!.n = n))
    return sent
  },
  arrivals(): Array<[number, number]> {
    return [...arrivals]
  },
  percentileOf,
}

export type BrowserBench = typeof bench
;(window as unknown as { bench: BrowserBench }).bench = bench
