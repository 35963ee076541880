import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// @ts-expect-error untyped CommonJS packages, used only by this peer benchmark
import express from 'express'
// @ts-expect-error untyped CommonJS packages, used only by this peer benchmark
import expressPouch from 'express-pouchdb'
// @ts-expect-error untyped CommonJS packages, used only by this peer benchmark
import PouchDB from 'pouchdb'
// @ts-expect-error untyped CommonJS packages, used only by this peer benchmark
import MemAdapter from 'pouchdb-adapter-memory'

interface PouchLike {
  bulkDocs(docs: object[]): Promise<unknown>
  info(): Promise<{ doc_count: number }>
  replicate: { from(url: string, options: object): Promise<unknown> }
}

/**
 * The peer column of the initial sync: PouchDB
 * replicating `n` documents from express-pouchdb (memory) into a fresh
 * LevelDB replica. Returns documents per second.
 */
export async function pouchInitialSync(n: number): Promise<number> {
  PouchDB.plugin(MemAdapter)
  const ServerPouch = PouchDB.defaults({ adapter: 'memory' })
  const app = express()
  app.use('/', expressPouch(ServerPouch, { mode: 'minimumForPouchDB', inMemoryConfig: true }))
  const server = app.listen(0, '127.0.0.1')
  await new Promise(r => server.once('listening', r))
  const port = (server.address() as AddressInfo).port
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-pouch-'))
  try {
    const remote = new ServerPouch('bench') as PouchLike
    const docs = Array.from({ length: n }, (_, i) => ({ _id: `id${String(i).padStart(7, '0')}`, title: `document ${i}`, n: i, done: i % 2 === 0 }))
    for (let i = 0; i < n; i += 1000) await remote.bulkDocs(docs.slice(i, i + 1000))
    const client = new PouchDB(join(dir, 'client')) as PouchLike
    const t = performance.now()
    await client.replicate.from(`http://127.0.0.1:${port}/bench`, { batch_size: 1000, batches_limit: 4 })
    const seconds = (performance.now() - t) / 1000
    const { doc_count } = await client.info()
    if (doc_count !== n) throw new Error(`PouchDB replicated ${doc_count} of ${n}`)
    return n / seconds
  } finally {
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
